//! Nothing lost: a run killed at any point resumes to the very weights and costs of a run that
//! was never stopped; Ctrl-C and SIGTERM stop cleanly with a checkpoint; a diverging loss stops
//! with a message; damaged checkpoints and models are errors, not panics.

use std::fs;
use std::path::Path;
use std::process::Stdio;

use mnist_autoencoder::data::epoch_order;
use mnist_autoencoder::metrics::EpochRow;

use crate::common::{
    assert_one_line_error, paste, rows, run_in, stderr, stdout, suggested, train, train_command,
    train_ok, wait_until, weight_bits,
};

/// Four epochs of 80 steps (0.1 to 1 s each, by processor), the tutorial's settings otherwise.
const RUN: [&str; 4] = [
    "data.download=false",
    "data.train_limit=8000",
    "data.validation_size=1000",
    "training.epochs=4",
];

fn costs(rows: &[EpochRow]) -> Vec<(usize, u64, Option<u64>)> {
    rows.iter()
        .map(|r| {
            (
                r.epoch,
                r.train_cost.to_bits(),
                r.valid_cost.map(f64::to_bits),
            )
        })
        .collect()
}

fn a_run_killed_at_any_point_resumes_to_the_same_weights_and_costs(mnist: &Path) {
    let tmp = tempfile::tempdir().unwrap();
    let whole = tmp.path().join("whole");
    let broken = tmp.path().join("broken");
    train_ok(tmp.path(), mnist, &whole, &RUN);

    let quiet = |mut command: std::process::Command| {
        command.stdout(Stdio::null()).stderr(Stdio::null());
        command.spawn().unwrap()
    };
    let resume_args = ["train", "--resume", broken.to_str().unwrap()];
    let resume = || {
        let mut command = crate::common::command_in(tmp.path(), &resume_args);
        command.arg("--set").arg("output.dashboard=plain");
        command
    };

    // 1. Killed in the first epoch, before any checkpoint exists.
    let mut child = quiet(train_command(tmp.path(), mnist, &broken, &RUN));
    wait_until(&mut child, "the first batch", || {
        broken.join("train/epoch-1").exists()
    });
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(rows(&broken).is_empty(), "epoch 1 finished before the kill");

    // 2. Resumed (from the start), killed in epoch 3, at its first batch: not after a time,
    //    which on a fast processor could outlast the two epochs left.
    let mut child = quiet(resume());
    wait_until(&mut child, "epoch 3's first batch", || {
        rows(&broken).len() >= 2 && broken.join("train/epoch-3").exists()
    });
    child.kill().unwrap();
    child.wait().unwrap();

    // 3. Resumed, killed the moment epoch 3's row is written, while its checkpoint is saved.
    let mut child = quiet(resume());
    wait_until(&mut child, "three epochs", || rows(&broken).len() >= 3);
    child.kill().unwrap();
    child.wait().unwrap();

    // 4. Resumed to the end, after the last epoch that has its row and its three files.
    let before = rows(&broken);
    let last_complete = (1..=before.len())
        .rev()
        .find(|&epoch| {
            ["model", "optim", "scheduler"].iter().all(|part| {
                broken
                    .join(format!("checkpoint/{part}-{epoch}.mpk"))
                    .is_file()
            })
        })
        .unwrap_or(0);
    assert!(
        last_complete >= 2,
        "epochs 1-2 finished before the third kill"
    );
    let output = resume().output().unwrap();
    assert!(
        output.status.success(),
        "resume failed: {}",
        stderr(&output)
    );
    let printed = stdout(&output);
    let resuming = format!(
        "Resuming '{}' after epoch {last_complete}\n",
        broken.display()
    );
    assert!(printed.contains(&resuming), "{printed}");
    assert!(printed.contains("Epoch: 0004"), "{printed}");
    // The epochs before it were kept, not trained again: their rows are unchanged, times too.
    assert_eq!(rows(&broken)[..last_complete], before[..last_complete]);

    assert_eq!(costs(&rows(&broken)), costs(&rows(&whole)));
    assert_eq!(rows(&broken).len(), 4);
    assert!(
        weight_bits(&broken) == weight_bits(&whole),
        "the resumed run's weights differ from the uninterrupted run's"
    );
}

/// Starts a run, waits for its first finished epoch, sends `signal` and returns its output.
fn stop_with(signal: i32, dir: &Path, cwd: &Path, mnist: &Path) -> std::process::Output {
    let mut child = train_command(cwd, mnist, dir, &RUN)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until(&mut child, "one epoch", || !rows(dir).is_empty());
    // SAFETY: sends a signal to our own child process, which has not been waited for.
    assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
    child.wait_with_output().unwrap()
}

fn ctrl_c_and_sigterm_stop_after_a_step_with_a_checkpoint_and_the_resume_command(mnist: &Path) {
    let tmp = tempfile::tempdir().unwrap();
    for (signal, name, code) in [
        (libc::SIGINT, "SIGINT", 130),
        (libc::SIGTERM, "SIGTERM", 143),
    ] {
        let dir = tmp.path().join(name);
        let output = stop_with(signal, &dir, tmp.path(), mnist);
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(code), "{name}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        let resume = format!("train --resume {}", dir.display());
        assert!(err.contains(name) && err.contains(&resume), "{err}");
        let done = rows(&dir).len();
        assert!((1..4).contains(&done), "{done} epochs done");
        assert!(err.contains(&format!("epochs 1-{done} of 4")), "{err}");
        // Final artifacts are for finished runs only; the checkpoint of the last epoch is whole.
        assert!(!dir.join("model.mpk").exists());
        for part in ["model", "optim", "scheduler"] {
            assert!(dir.join(format!("checkpoint/{part}-{done}.mpk")).is_file());
            assert!(
                !dir.join(format!("checkpoint/{part}-{}.mpk", done + 1))
                    .exists()
            );
        }
    }
    // The stopped run resumes and finishes.
    let dir = tmp.path().join("SIGINT");
    let output = run_in(tmp.path(), &["train", "--resume", dir.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(rows(&dir).len(), 4);
    assert!(dir.join("model.mpk").is_file());
}

fn a_diverging_loss_stops_naming_epoch_and_step_and_keeps_no_bad_checkpoint(mnist: &Path) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    // Burn's RMSProp with no epsilon divides 0 by 0 for pixels that are always blank.
    let settings = [
        &RUN[..],
        &[
            "training.optimizer=burn-rmsprop",
            "training.rmsprop.epsilon=0",
        ],
    ]
    .concat();
    let output = train(tmp.path(), mnist, &dir, &settings);
    let err = assert_one_line_error(
        &output,
        &[
            "diverged",
            "NaN in epoch 1 at step",
            "training.rmsprop.epsilon = 0 divides by zero",
            "start over with a small one: ",
        ],
    );
    // The step named is the first batch whose loss the epoch's batch log records as NaN (the
    // Learner may take one more step before it sees the stop).
    let step: usize = err
        .split("at step ")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no step number in: {err}"));
    let log = fs::read_to_string(dir.join("train/epoch-1/Loss.log")).unwrap();
    let first_nan = log.lines().position(|l| l.starts_with("NaN"));
    assert_eq!(first_nan.map(|i| i + 1), Some(step), "{err}\n{log}");
    assert!(rows(&dir).is_empty());
    assert!(!dir.join("model.mpk").exists());
    assert!(!dir.join("checkpoint/model-1.mpk").exists());
    // The advice, followed: a new run from the same config with a small epsilon.
    let fresh = paste(tmp.path(), suggested(&err, "start over with a small one: "));
    assert!(fresh.status.success(), "{}", stderr(&fresh));
    assert_eq!(rows(&tmp.path().join("run-2")).len(), 4);
}

/// A loss that turns NaN in a later epoch stops there: the last good epoch's checkpoint and row
/// stay, the bad epoch leaves nothing, and resuming at a sane rate continues from the good one.
fn a_loss_diverging_in_a_later_epoch_keeps_the_last_good_checkpoint(mnist: &Path) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    train_ok(
        tmp.path(),
        mnist,
        &dir,
        &[&RUN[..3], &["training.epochs=2"]].concat(),
    );
    let good = rows(&dir);
    let batch_log =
        |epoch: usize| fs::read_to_string(dir.join(format!("train/epoch-{epoch}/Loss.log")));
    let first_epoch_log = batch_log(1).unwrap();
    let resume = |extra: &[&str]| {
        let mut args = vec!["train", "--resume", dir.to_str().unwrap()];
        for flag in ["training.epochs=4", "output.dashboard=plain"]
            .iter()
            .chain(extra)
        {
            args.extend(["--set", flag]);
        }
        run_in(tmp.path(), &args)
    };
    // A rate beyond float32's range: the update of a weight whose gradient is zero is 0 * inf,
    // NaN, and the next loss is NaN.
    let output = resume(&["training.learning_rate=1e39"]);
    let err = assert_one_line_error(
        &output,
        &[
            "diverged",
            "NaN in epoch 3 at step",
            "--resume",
            "(now 1e39)",
        ],
    );
    let advice = suggested(&err, "epochs 1-2 of 4 are checkpointed: ");
    assert!(
        advice.ends_with("--set training.learning_rate=0.01"),
        "{err}"
    );
    assert_eq!(rows(&dir), good, "metrics.csv changed");
    for part in ["model", "optim", "scheduler"] {
        assert!(
            dir.join(format!("checkpoint/{part}-2.mpk")).is_file(),
            "{part}-2"
        );
        assert!(
            !dir.join(format!("checkpoint/{part}-3.mpk")).exists(),
            "{part}-3"
        );
    }

    // The resumed run's config.toml keeps the rate it was given: the fix is another --set, as
    // the message says.
    let output = paste(tmp.path(), advice);
    assert!(output.status.success(), "{}", stderr(&output));
    let printed = stdout(&output);
    let resuming = format!("Resuming '{}' after epoch 2\n", dir.display());
    assert!(printed.contains(&resuming), "{printed}");
    assert_eq!(rows(&dir).len(), 4);
    assert_eq!(rows(&dir)[..2], good[..]);
    // Burn's per-batch logs of the resumed epochs are filed under their own epochs.
    assert_eq!(batch_log(1).unwrap(), first_epoch_log);
    for epoch in [3, 4] {
        assert_eq!(
            batch_log(epoch).unwrap().lines().count(),
            80,
            "epoch {epoch}"
        );
    }
}

/// A damaged checkpoint is skipped with a warning that names it: the run resumes from the one
/// before and ends as an uninterrupted run. A damaged model file is a one-line error.
fn damaged_checkpoints_are_skipped_and_damaged_models_are_one_line_errors(mnist: &Path) {
    let tmp = tempfile::tempdir().unwrap();
    let done = tmp.path().join("done");
    train_ok(
        tmp.path(),
        mnist,
        &done,
        &[&RUN[..3], &["training.epochs=2"]].concat(),
    );
    let three = tmp.path().join("three");
    train_ok(
        tmp.path(),
        mnist,
        &three,
        &[&RUN[..3], &["training.epochs=3"]].concat(),
    );
    let more = |dir: &Path| {
        run_in(
            tmp.path(),
            &[
                "train",
                "--resume",
                dir.to_str().unwrap(),
                "--set",
                "training.epochs=3",
            ],
        )
    };

    type Damage = fn(&mut Vec<u8>);
    let damages: [(&str, Damage, &str); 3] = [
        ("truncated", |b| b.truncate(b.len() / 2), "truncated"),
        (
            "one bit flipped",
            |b| {
                let middle = b.len() / 3;
                b[middle] ^= 1;
            },
            "checksum does not match",
        ),
        ("emptied", Vec::clear, "too short"),
    ];
    for (part, (what, damage, message)) in ["model", "optim", "scheduler"].into_iter().zip(damages)
    {
        let dir = tmp
            .path()
            .join(format!("{part}-{}", what.replace(' ', "-")));
        copy_dir(&done, &dir);
        let file = dir.join(format!("checkpoint/{part}-2.mpk"));
        let mut bytes = fs::read(&file).unwrap();
        damage(&mut bytes);
        fs::write(&file, bytes).unwrap();
        let output = more(&dir);
        let err = stderr(&output);
        assert!(output.status.success(), "{part} {what}: {err}");
        let warning = format!("warning: cannot read '{}': ", file.display());
        assert!(err.contains(&warning) && err.contains(message), "{err}");
        assert!(err.contains("continuing from the epoch before it"), "{err}");
        assert!(stdout(&output).contains("Resuming"), "{}", stdout(&output));
        assert_eq!(costs(&rows(&dir)), costs(&rows(&three)), "{part} {what}");
        assert!(weight_bits(&dir) == weight_bits(&three), "{part} {what}");
    }

    for (what, damage, message) in damages {
        let dir = tmp
            .path()
            .join(format!("model-file-{}", what.replace(' ', "-")));
        copy_dir(&done, &dir);
        let file = dir.join("model.mpk");
        let mut bytes = fs::read(&file).unwrap();
        damage(&mut bytes);
        fs::write(&file, bytes).unwrap();
        for command in ["evaluate", "reconstruct"] {
            let output = run_in(tmp.path(), &[command, "--model", dir.to_str().unwrap()]);
            assert_one_line_error(&output, &[&file.display().to_string(), message]);
        }
    }

    // The undamaged run continues; a finished run says how to train further.
    let output = more(&done);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(rows(&done).len(), 3);
    let output = run_in(tmp.path(), &["train", "--resume", done.to_str().unwrap()]);
    assert_one_line_error(
        &output,
        &["already finished its 3 epochs", "training.epochs="],
    );
}

fn resume_refuses_what_would_not_continue_the_same_run() {
    let tmp = tempfile::tempdir().unwrap();
    let nowhere = tmp.path().join("nowhere");
    let output = run_in(
        tmp.path(),
        &["train", "--resume", nowhere.to_str().unwrap()],
    );
    assert_one_line_error(&output, &["--resume", "config.toml", "output.dir"]);

    fs::create_dir(&nowhere).unwrap();
    fs::write(nowhere.join("config.toml"), "").unwrap();
    let dir = nowhere.to_str().unwrap();
    let output = run_in(
        tmp.path(),
        &["train", "--resume", dir, "--set", "model.hidden_size=3"],
    );
    assert_one_line_error(&output, &["model.hidden_size=3", "training.epochs"]);
    let output = run_in(
        tmp.path(),
        &["train", "--resume", dir, "--config", "x.toml"],
    );
    assert_one_line_error(&output, &["--config", "--resume"]);

    // A metrics.csv that cannot be read is named, not taken for a run with no epochs.
    let config = mnist_autoencoder::config::Config::default().to_toml();
    fs::write(nowhere.join("config.toml"), config).unwrap();
    fs::create_dir(nowhere.join("metrics.csv")).unwrap();
    let output = run_in(tmp.path(), &["train", "--resume", dir]);
    assert_one_line_error(&output, &["cannot read", "metrics.csv"]);
}

fn each_epoch_order_depends_on_seed_and_epoch_only() {
    let first = epoch_order(1000, 42, 3);
    let mut sorted = first.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..1000).collect::<Vec<_>>(), "a permutation");
    assert_eq!(first, epoch_order(1000, 42, 3), "the same in any call");
    assert_ne!(
        first,
        epoch_order(1000, 42, 4),
        "another epoch, another order"
    );
    assert_ne!(
        first,
        epoch_order(1000, 43, 3),
        "another seed, another order"
    );
    assert_ne!(first, (0..1000).collect::<Vec<_>>(), "shuffled");
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).unwrap();
        }
    }
}

crate::trials![
    mnist a_run_killed_at_any_point_resumes_to_the_same_weights_and_costs,
    mnist ctrl_c_and_sigterm_stop_after_a_step_with_a_checkpoint_and_the_resume_command,
    mnist a_diverging_loss_stops_naming_epoch_and_step_and_keeps_no_bad_checkpoint,
    mnist a_loss_diverging_in_a_later_epoch_keeps_the_last_good_checkpoint,
    mnist damaged_checkpoints_are_skipped_and_damaged_models_are_one_line_errors,
    plain resume_refuses_what_would_not_continue_the_same_run,
    plain each_epoch_order_depends_on_seed_and_epoch_only,
];
