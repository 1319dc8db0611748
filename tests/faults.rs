//! Faults a real machine has, each told as it is: a full disk, two trainers on one folder, a
//! damaged MNIST file, an oversized picture; every rename made durable; and a run killed at
//! random moments resuming to the same result.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::{
    BIN, SMALL, assert_one_line_error, checkpointed, command_in, cost_bits, files, png_header,
    rows, run_in, stderr, synthetic_mnist, synthetic_run, train, train_command, train_ok,
    wait_until, weight_bits,
};

fn a_full_disk_stops_training_naming_the_file_and_resumes_to_the_same_result(disk: &Path) {
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_run(tmp.path());
    let whole = tmp.path().join("whole");
    train_ok(tmp.path(), &data, &whole, &SMALL);

    // Room for the first epoch's checkpoint and half of the second's, besides the logs: the
    // second epoch's checkpoint cannot be written.
    let size = |part: &str| {
        fs::metadata(whole.join(format!("checkpoint/{part}-4.mpk")))
            .unwrap()
            .len()
    };
    let epoch = size("model") + size("optim") + size("scheduler");
    let room = (epoch + epoch / 2 + (256 << 10)).div_ceil(4096) * 4096;
    let remount = |bytes: u64| {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,size={bytes}"), "tmpfs"])
            .arg(disk)
            .status()
            .unwrap();
        assert!(status.success(), "remount");
    };
    remount(room);
    let run = disk.join("run");
    let output = train(tmp.path(), &data, &run, &SMALL);
    let err = assert_one_line_error(
        &output,
        &[
            "training stopped: cannot write",
            "No space left on device",
            "the disk is full; free space on it",
            &format!("train --resume {}", run.display()),
        ],
    );
    // The count is what the disk holds whole: rows with all three checkpoint files.
    let kept = checkpointed(&run);
    let complete = kept
        .iter()
        .filter(|&&e| e <= rows(&run).len())
        .max()
        .copied()
        .unwrap_or(0);
    let claim = match complete {
        0 => "no epoch is checkpointed".to_owned(),
        n => format!("epochs 1-{n} of 4 are checkpointed"),
    };
    assert!(err.contains(&claim), "{err}");
    assert!(complete < 4, "the disk did not fill: {err}");
    // Nothing half written: no temporary file, no checkpoint file of an epoch not kept whole.
    let leftovers: Vec<_> = files(&run)
        .into_iter()
        .filter(|f| {
            let name = f.file_name().unwrap().to_string_lossy();
            name.ends_with(".tmp")
                || (f.parent().unwrap().ends_with("checkpoint")
                    && !(1..=complete).any(|e| name.ends_with(&format!("-{e}.mpk"))))
        })
        .collect();
    assert!(leftovers.is_empty(), "left behind: {leftovers:?}");

    // Space freed, the run continues to the very result of the uninterrupted one.
    remount(64 << 20);
    let resumed = run_in(tmp.path(), &["train", "--resume", run.to_str().unwrap()]);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    assert_eq!(cost_bits(&run), cost_bits(&whole));
    assert!(weight_bits(&run) == weight_bits(&whole), "weights differ");
}

fn a_second_trainer_on_the_same_folder_is_refused_with_the_first_ones_process_id() {
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_run(tmp.path());
    let run = tmp.path().join("run");
    let long = [&SMALL[..4], &["training.epochs=40"]].concat();
    let mut first = train_command(tmp.path(), &data, &run, &long)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until(&mut first, "the lock", || {
        fs::read_to_string(run.join(".lock")).is_ok_and(|pid| !pid.trim().is_empty())
    });
    let pid = first.id().to_string();
    let folder = run.display().to_string();
    let second = train(tmp.path(), &data, &run, &long);
    assert_one_line_error(&second, &[&folder, "is in use", &format!("process {pid}")]);
    let resume = run_in(tmp.path(), &["train", "--resume", &folder]);
    assert_one_line_error(&resume, &[&folder, "is in use", &format!("process {pid}")]);

    // A killed run leaves no lock behind: the OS releases it with the process.
    first.kill().unwrap();
    first.wait().unwrap();
    let resume = run_in(
        tmp.path(),
        &["train", "--resume", &folder, "--set", "training.epochs=1"],
    );
    assert!(
        !stderr(&resume).contains("is in use"),
        "{}",
        stderr(&resume)
    );
}

fn a_damaged_mnist_file_is_named_with_its_checksum_and_the_way_out(mnist: &Path) {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("mnist");
    fs::create_dir(&data).unwrap();
    for entry in fs::read_dir(mnist).unwrap().flatten() {
        fs::copy(entry.path(), data.join(entry.file_name())).unwrap();
    }
    let images = data.join("train-images-idx3-ubyte.gz");
    let bytes = fs::read(&images).unwrap();
    fs::write(&images, &bytes[..bytes.len() / 2]).unwrap();
    let output = train(
        tmp.path(),
        &data,
        &tmp.path().join("run"),
        &["data.download=false"],
    );
    assert_one_line_error(
        &output,
        &[
            &format!("'{}' is damaged", images.display()),
            "its SHA-256 is",
            "not the published 440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            "delete it and run again with data.download = true",
        ],
    );

    // A data.dir that is a file.
    let output = train(
        tmp.path(),
        &images,
        &tmp.path().join("run"),
        &["data.download=false"],
    );
    assert_one_line_error(&output, &["is a file, not a folder", "data.dir"]);
}

fn an_oversized_picture_is_refused_from_its_header_in_little_memory() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    synthetic_mnist(&data, 300, 20);
    let run = tmp.path().join("run");
    train_ok(
        tmp.path(),
        &data,
        &run,
        &[
            "data.validation_size=100",
            "training.epochs=1",
            "model.hidden_size=8",
        ],
    );
    let picture = tmp.path().join("huge.png");
    fs::write(&picture, png_header(20_000, 20_000)).unwrap();
    let (output, peak_kb) = run_with_peak_memory(
        tmp.path(),
        &[
            "reconstruct",
            "--model",
            run.to_str().unwrap(),
            "--image",
            picture.to_str().unwrap(),
        ],
    );
    assert_one_line_error(
        &output,
        &["huge.png", "20000x20000 pixels", "scale it down"],
    );
    // The whole image would be 400 MB of gray values alone.
    assert!(peak_kb < 200 << 10, "the refusal took {peak_kb} KB");
}

/// Runs the binary under GNU time; its output (time's lines taken off stderr) and its peak
/// resident memory in KB. Measured by a process of its own: a child forked from this test
/// process would count this process's memory too, whatever the binary uses.
fn run_with_peak_memory(cwd: &Path, args: &[&str]) -> (std::process::Output, u64) {
    const TIME: &str = "/usr/bin/time";
    assert!(
        Path::new(TIME).is_file(),
        "{TIME} is missing: install GNU time (Debian: apt-get install time)"
    );
    let mut command = Command::new(TIME);
    crate::common::test_environment(&mut command);
    let mut output = command
        .args(["-f", "PEAK_RSS_KB=%M", BIN])
        .args(args)
        .current_dir(cwd)
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let (rest, peak) = stderr
        .trim_end()
        .rsplit_once('\n')
        .unwrap_or(("", stderr.trim_end()));
    let peak_kb = peak
        .strip_prefix("PEAK_RSS_KB=")
        .and_then(|kb| kb.parse().ok())
        .unwrap_or_else(|| panic!("no peak memory from {TIME}: {stderr}"));
    // GNU time adds a line of its own when the command fails.
    let rest: Vec<&str> = rest
        .lines()
        .filter(|line| !line.starts_with("Command exited with non-zero status"))
        .collect();
    output.stderr = format!("{}\n", rest.join("\n")).into_bytes();
    (output, peak_kb)
}

/// Under strace: after every rename into a folder, that folder is opened and fsync'ed, so the
/// new name survives a power cut.
fn every_rename_is_followed_by_a_sync_of_its_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    synthetic_mnist(&data, 300, 20);
    let run = tmp.path().join("run");
    let trace = tmp.path().join("trace");
    let command = train_command(
        tmp.path(),
        &data,
        &run,
        &[
            "data.validation_size=100",
            "training.epochs=2",
            "model.hidden_size=8",
        ],
    );
    let args: Vec<String> = command
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let output = Command::new("strace")
        .args([
            "-f",
            "-qq",
            "-e",
            "trace=openat,rename,renameat,renameat2,fsync",
            "-o",
        ])
        .arg(&trace)
        .arg(BIN)
        .args(&args)
        .current_dir(tmp.path())
        .envs(command.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));

    // (pid, fd) -> folder opened; folders with a rename not yet followed by their fsync. A
    // call another thread interrupts is split into "<unfinished ...>" and "<... resumed>"
    // lines: the first part is kept per process until the second.
    let mut opened = std::collections::HashMap::new();
    let mut unfinished: std::collections::HashMap<String, String> = Default::default();
    let mut unsynced: Vec<String> = Vec::new();
    let mut renames = 0;
    for line in fs::read_to_string(&trace).unwrap().lines() {
        let pid = line
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned();
        if line.contains("<unfinished ...>") {
            unfinished.insert(pid, line.to_owned());
            continue;
        }
        let call = match (line.contains(" resumed>"), unfinished.remove(&pid)) {
            (true, Some(start)) => start.replace("<unfinished ...>", "") + line,
            _ => line.to_owned(),
        };
        let result = call.rsplit(" = ").next().unwrap_or_default();
        let result = result.split_whitespace().next().unwrap_or_default();
        let quoted: Vec<&str> = call.split('"').skip(1).step_by(2).collect();
        if call.contains("openat(") {
            if let (Some(path), Ok(fd)) = (quoted.first(), result.parse::<i32>()) {
                opened.insert((pid, fd), path.to_string());
            }
        } else if call.contains("rename") && result == "0" {
            let destination = quoted.last().expect("a renamed path");
            if destination.starts_with(run.to_str().unwrap()) {
                renames += 1;
                let folder = Path::new(destination)
                    .parent()
                    .unwrap()
                    .display()
                    .to_string();
                unsynced.push(folder);
            }
        } else if call.contains("fsync(") && result == "0" {
            let after = call.split("fsync(").nth(1).unwrap();
            let fd: String = after.chars().take_while(char::is_ascii_digit).collect();
            if let Some(folder) = fd.parse::<i32>().ok().and_then(|fd| opened.get(&(pid, fd))) {
                unsynced.retain(|f| f != folder);
            }
        }
    }
    assert!(renames >= 10, "only {renames} renames traced");
    assert!(
        unsynced.is_empty(),
        "renames into {unsynced:?} were not followed by a sync"
    );
}

/// A few SIGKILLs at random moments (a seeded draw), each run resumed: the result is the
/// uninterrupted run's. `bench/soak.py` does the same at length on real MNIST.
fn a_run_killed_at_random_moments_ends_as_if_never_stopped() {
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_run(tmp.path());
    let whole = tmp.path().join("whole");
    let flags = [&SMALL[..4], &["training.epochs=20"]].concat();
    train_ok(tmp.path(), &data, &whole, &flags);
    let broken = tmp.path().join("broken");
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut draw = |below: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % below
    };
    let mut kills = 0;
    for attempt in 0..12 {
        let mut command = if attempt == 0 {
            train_command(tmp.path(), &data, &broken, &flags)
        } else {
            let mut c = command_in(tmp.path(), &["train", "--resume", broken.to_str().unwrap()]);
            c.args(["--set", "output.dashboard=plain"]);
            c
        };
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(150 + draw(300)));
        if child.try_wait().unwrap().is_some() {
            break;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        kills += 1;
        if kills == 4 {
            break;
        }
    }
    let output = command_in(tmp.path(), &["train", "--resume", broken.to_str().unwrap()])
        .output()
        .unwrap();
    let finished = broken.join("model.mpk").is_file();
    assert!(
        output.status.success() || (finished && stderr(&output).contains("already finished")),
        "{}",
        stderr(&output)
    );
    assert!(
        kills >= 2,
        "only {kills} kills landed before the run finished"
    );
    assert_eq!(cost_bits(&broken), cost_bits(&whole));
    assert!(
        weight_bits(&broken) == weight_bits(&whole),
        "weights differ"
    );
}

crate::trials![
    tmpfs a_full_disk_stops_training_naming_the_file_and_resumes_to_the_same_result,
    plain a_second_trainer_on_the_same_folder_is_refused_with_the_first_ones_process_id,
    mnist a_damaged_mnist_file_is_named_with_its_checksum_and_the_way_out,
    plain an_oversized_picture_is_refused_from_its_header_in_little_memory,
    strace every_rename_is_followed_by_a_sync_of_its_folder,
    plain a_run_killed_at_random_moments_ends_as_if_never_stopped,
];
