//! Nothing lost, round two: faults injected where the first round's tests did not reach. A run
//! remembers the weights it started from; no command writes over a run's own files; a run
//! folder moved or removed while training is reported; non-finite weights are refused where
//! they enter; a run without validation prints no made-up cost; a signal at any moment, from the
//! data download to the last file, ends in one line and a state that resumes; the final files
//! are resumable after a full disk; every command a message suggests works when pasted; a
//! killed command's temporary files go at the next start.

use std::fs;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use safetensors::{Dtype, tensor::TensorView};

use crate::common::{
    SMALL, assert_one_line_error, command_in, cost_bits, files, gzip, idx_images, idx_labels,
    paste, rows, run_in, signal, snapshot, stderr, stdout, suggested, synthetic_pixels,
    synthetic_run, train, train_command, train_ok, wait_until, weight_bits,
};

/// `SMALL` with `epochs` epochs.
fn small(epochs: usize) -> Vec<String> {
    let epochs = format!("training.epochs={epochs}");
    let flags = SMALL.map(|flag| {
        if flag.starts_with("training.epochs=") {
            &epochs
        } else {
            flag
        }
    });
    with(&flags, &[])
}

/// `flags` and `extra`, owned.
fn with(flags: &[impl AsRef<str>], extra: &[&str]) -> Vec<String> {
    let flags = flags.iter().map(|f| f.as_ref().to_owned());
    flags.chain(extra.iter().map(|f| f.to_string())).collect()
}

fn refs(flags: &[String]) -> Vec<&str> {
    flags.iter().map(String::as_str).collect()
}

/// A safetensors file of 64 hidden units in PyTorch's layout; `poison` may change the values
/// of each tensor (by name) before they are written.
fn weights_file(path: &Path, poison: impl Fn(&str, &mut Vec<f32>)) {
    let specs = [
        ("encoder.weight", vec![64, 784]),
        ("encoder.bias", vec![64]),
        ("decoder.weight", vec![784, 64]),
        ("decoder.bias", vec![784]),
    ];
    let bytes: Vec<(&str, Vec<usize>, Vec<u8>)> = specs
        .into_iter()
        .map(|(name, shape)| {
            let count: usize = shape.iter().product();
            let mut values: Vec<f32> = (0..count).map(|i| (i % 89) as f32 / 89.0 - 0.5).collect();
            poison(name, &mut values);
            let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            (name, shape, bytes)
        })
        .collect();
    let views: Vec<(&str, TensorView)> = bytes
        .iter()
        .map(|(name, shape, bytes)| {
            let view = TensorView::new(Dtype::F32, shape.clone(), bytes).unwrap();
            (*name, view)
        })
        .collect();
    fs::write(path, safetensors::serialize(views, None).unwrap()).unwrap();
}

/// Case 1: `--init-from` weights and imported weights are part of the run. Killed before its
/// first checkpoint, a run started from a file resumes from that file, bit for bit as if never
/// stopped; a folder made by `import` trains from the imported weights.
fn a_run_resumed_before_its_first_checkpoint_starts_from_the_weights_it_started_from() {
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_run(tmp.path());
    let start = tmp.path().join("start.safetensors");
    weights_file(&start, |_, _| {});
    let init = format!("model.init_from={}", start.display());
    let flags = with(&small(3), &[&init]);
    let flags = refs(&flags);
    let whole = tmp.path().join("whole");
    train_ok(tmp.path(), &data, &whole, &flags);
    let drawn = tmp.path().join("drawn");
    train_ok(tmp.path(), &data, &drawn, &refs(&small(3)));
    assert_ne!(
        cost_bits(&whole)[0],
        cost_bits(&drawn)[0],
        "the file is used"
    );

    // Killed in its first epoch, before any checkpoint.
    let broken = tmp.path().join("broken");
    let mut child = train_command(tmp.path(), &data, &broken, &flags)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until(&mut child, "the first batches", || {
        broken.join("train/epoch-1/Loss.log").is_file()
    });
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(rows(&broken).is_empty(), "killed after its first epoch");
    // The file may change or go: the run keeps its own copy.
    weights_file(&start, |_, values| {
        values.iter_mut().for_each(|v| *v = 0.25)
    });
    let resumed = run_in(tmp.path(), &["train", "--resume", broken.to_str().unwrap()]);
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    assert_eq!(cost_bits(&broken), cost_bits(&whole));
    assert!(
        weight_bits(&broken) == weight_bits(&whole),
        "weights differ"
    );

    // `import` then `train --resume`: the imported weights are where training starts.
    weights_file(&start, |_, _| {});
    let imported = tmp.path().join("imported");
    let mut import = command_in(
        tmp.path(),
        &[
            "import",
            "--from",
            start.to_str().unwrap(),
            "--output",
            imported.to_str().unwrap(),
        ],
    );
    let data_flag = format!("data.dir={}", data.display());
    for flag in [&data_flag[..], "output.dashboard=plain"]
        .iter()
        .chain(&refs(&small(3)))
    {
        import.args(["--set", flag]);
    }
    let output = import.output().unwrap();
    assert!(output.status.success(), "import: {}", stderr(&output));
    let before = weight_bits(&imported);
    let resumed = run_in(
        tmp.path(),
        &["train", "--resume", imported.to_str().unwrap()],
    );
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    assert_ne!(weight_bits(&imported), before, "trained");
    assert_eq!(cost_bits(&imported), cost_bits(&whole));
    assert!(
        weight_bits(&imported) == weight_bits(&whole),
        "weights differ"
    );
}

/// Case 2: no command but `train` on its own run writes over a run's files, whatever names
/// them: the file itself, a link to it, a linked folder, or a folder inside the run.
fn no_command_writes_over_a_runs_own_files() {
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_run(tmp.path());
    let run = tmp.path().join("run");
    train_ok(tmp.path(), &data, &run, &refs(&small(1)));
    let other = tmp.path().join("other");
    train_ok(tmp.path(), &data, &other, &refs(&small(1)));
    std::os::unix::fs::symlink(run.join("model.mpk"), tmp.path().join("link.png")).unwrap();
    std::os::unix::fs::symlink(&run, tmp.path().join("alias")).unwrap();
    let before = (snapshot(&run), snapshot(&other));
    let model = run.to_str().unwrap();
    let cases: [(&str, &str, &str, &str); 10] = [
        ("evaluate", "--output", "run/model.mpk", "the model.mpk"),
        (
            "reconstruct",
            "--output",
            "run/config.toml",
            "the config.toml",
        ),
        ("curves", "--output", "run/metrics.csv", "the metrics.csv"),
        (
            "latent",
            "--csv",
            "run/checkpoint/model-1.mpk",
            "inside the checkpoint",
        ),
        ("latent", "--output", "run/.lock", "the .lock"),
        (
            "interpolate",
            "--output",
            "run/train/epoch-1/Loss.log",
            "inside the train",
        ),
        (
            "export",
            "--output",
            "run/experiment.log",
            "the experiment.log",
        ),
        ("evaluate", "--output", "link.png", "the model.mpk"),
        (
            "reconstruct",
            "--output",
            "alias/metrics.csv",
            "the metrics.csv",
        ),
        (
            "evaluate",
            "--output",
            "other/config.toml",
            "the config.toml",
        ),
    ];
    for (command, flag, target, role) in cases {
        let output = run_in(tmp.path(), &[command, "--model", model, flag, target]);
        let err = assert_one_line_error(&output, &[flag, target, role, "only `train` writes"]);
        assert!(err.contains("of the run in"), "{err}");
    }
    // A new run or an import inside a run's own folders.
    let inside = run.join("checkpoint");
    let output = train(tmp.path(), &data, &inside, &refs(&small(1)));
    assert_one_line_error(&output, &["output.dir", "the checkpoint folder"]);
    let weights = tmp.path().join("w.safetensors");
    weights_file(&weights, |_, _| {});
    let into = run.join("valid").join("x");
    let output = run_in(
        tmp.path(),
        &[
            "import",
            "--from",
            weights.to_str().unwrap(),
            "--output",
            into.to_str().unwrap(),
        ],
    );
    assert_one_line_error(&output, &["--output", "inside the valid folder"]);
    assert!(
        before == (snapshot(&run), snapshot(&other)),
        "a run's files changed"
    );

    // New files beside a run's own are fine, and so are its pictures.
    for output in ["run/worst-2.png", "elsewhere.png", "run/worst.png"] {
        let done = run_in(
            tmp.path(),
            &["evaluate", "--model", model, "--output", output],
        );
        assert!(done.status.success(), "{output}: {}", stderr(&done));
    }
}

/// Case 3: the run folder moved or removed while training is reported in one line; nothing
/// claims "Saved", no folder appears again at the old path, and the advice works.
fn a_run_folder_moved_or_removed_while_training_is_reported() {
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_run(tmp.path());
    let flags = small(6);
    let whole = tmp.path().join("whole");
    train_ok(tmp.path(), &data, &whole, &refs(&flags));

    // Moved: the line names where it went and the resume continues there.
    let run = tmp.path().join("run");
    let moved = tmp.path().join("moved");
    let mut child = train_command(tmp.path(), &data, &run, &refs(&flags))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until(&mut child, "an epoch", || rows(&run).len() >= 2);
    fs::rename(&run, &moved).unwrap();
    let output = child.wait_with_output().unwrap();
    let moved_real = moved.canonicalize().unwrap();
    let err = assert_one_line_error(
        &output,
        &[
            &format!("was moved to '{}'", moved_real.display()),
            "are checkpointed",
        ],
    );
    assert!(!stdout(&output).contains("Saved"), "{}", stdout(&output));
    assert!(!run.exists(), "the old path was made again");
    let resumed = paste(tmp.path(), suggested(&err, "continue with: "));
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    assert_eq!(cost_bits(&moved), cost_bits(&whole));
    assert!(weight_bits(&moved) == weight_bits(&whole), "weights differ");

    // Removed: the line says so; the same command starts it again.
    let gone = tmp.path().join("gone");
    let mut child = train_command(tmp.path(), &data, &gone, &refs(&flags))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until(&mut child, "an epoch", || !rows(&gone).is_empty());
    // The run may add a file while the folder is removed: try until it is gone.
    while gone.exists() {
        let _ = fs::remove_dir_all(&gone);
    }
    let output = child.wait_with_output().unwrap();
    assert_one_line_error(
        &output,
        &["was removed or moved while training", "same command"],
    );
    assert!(!stdout(&output).contains("Saved"), "{}", stdout(&output));
    assert!(!gone.exists(), "the removed folder was made again");
    let again = train(tmp.path(), &data, &gone, &refs(&flags));
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(cost_bits(&gone), cost_bits(&whole));
}

/// Case 4: weights that are not finite are refused where they enter, with the tensor and the
/// count: a file to import or start from, and a model file of a run.
fn non_finite_weights_are_refused_where_they_enter() {
    let tmp = tempfile::tempdir().unwrap();
    let poisoned = tmp.path().join("nan.safetensors");
    weights_file(&poisoned, |name, values| {
        if name == "encoder.weight" {
            values[3] = f32::NAN;
            values[700] = f32::INFINITY;
        }
    });
    let out = tmp.path().join("imported");
    let output = run_in(
        tmp.path(),
        &[
            "import",
            "--from",
            poisoned.to_str().unwrap(),
            "--output",
            out.to_str().unwrap(),
        ],
    );
    let needles = [
        "nan.safetensors",
        "'encoder.weight'",
        "2 non-finite values",
        "of 50176",
    ];
    assert_one_line_error(&output, &needles);
    assert!(!out.exists(), "a folder was left");
    let data = synthetic_run(tmp.path());
    let init = format!("model.init_from={}", poisoned.display());
    let run = tmp.path().join("run");
    let output = train(tmp.path(), &data, &run, &refs(&with(&small(1), &[&init])));
    assert_one_line_error(&output, &needles);

    // A run's model.mpk whose bytes were changed to hold a NaN, sealed again.
    let good = tmp.path().join("good.safetensors");
    weights_file(&good, |_, _| {});
    let output = run_in(
        tmp.path(),
        &[
            "import",
            "--from",
            good.to_str().unwrap(),
            "--output",
            out.to_str().unwrap(),
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let model = out.join("model.mpk");
    let sealed = fs::read(&model).unwrap();
    let mut payload = sealed[..sealed.len() - 40].to_vec();
    // The value `weights_file` puts fifth in every tensor.
    let value = (5.0f32 / 89.0 - 0.5).to_le_bytes();
    let at = payload.windows(4).position(|w| w == value).unwrap();
    payload[at..at + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    let digest = <sha2::Sha256 as sha2::Digest>::digest(&payload);
    payload.extend_from_slice(b"MNAE-SHA");
    payload.extend_from_slice(&digest);
    fs::write(&model, payload).unwrap();
    for command in ["evaluate", "latent", "export"] {
        let output = run_in(
            tmp.path(),
            &[
                command,
                "--model",
                out.to_str().unwrap(),
                "--data-dir",
                data.to_str().unwrap(),
            ],
        );
        assert_one_line_error(
            &output,
            &["model.mpk", "1 non-finite values", "cannot be used"],
        );
    }
}

/// Case 5: with `data.validation_size = 0` the lines, `metrics.csv` and the curve show no
/// validation cost at all, not NaN; the run resumes.
fn a_run_without_validation_shows_no_made_up_cost() {
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_run(tmp.path());
    let run = tmp.path().join("run");
    let flags = with(&small(2), &["data.validation_size=0"]);
    let out = train_ok(tmp.path(), &data, &run, &refs(&flags));
    assert!(!out.contains("NaN") && !out.contains("valid ="), "{out}");
    assert!(out.contains("Epoch: 0002 Avg.cost = "), "{out}");
    let csv = fs::read_to_string(run.join("metrics.csv")).unwrap();
    assert!(!csv.contains("NaN"), "{csv}");
    assert!(rows(&run).iter().all(|r| r.valid_cost.is_none()), "{csv}");
    let curves = run_in(tmp.path(), &["curves", "--model", run.to_str().unwrap()]);
    assert!(curves.status.success(), "{}", stderr(&curves));
    let more = run_in(
        tmp.path(),
        &[
            "train",
            "--resume",
            run.to_str().unwrap(),
            "--set",
            "training.epochs=3",
        ],
    );
    assert!(more.status.success(), "{}", stderr(&more));
    assert_eq!(rows(&run).len(), 3);
}

/// A server on 127.0.0.1 that serves `files` by name, except that the first `stalls` requests
/// get the start of a body and then nothing more, for up to 30 seconds: a download that
/// hangs. Each connection has its own thread; it stops after `max` connections or a minute.
fn serve_stalling(files: Vec<(String, Vec<u8>)>, stalls: usize, max: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}/data/", listener.local_addr().unwrap());
    let files = std::sync::Arc::new(files);
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut served = 0;
        while served < max && Instant::now() < deadline {
            let Ok((mut stream, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            };
            served += 1;
            let stall = served <= stalls;
            let files = files.clone();
            std::thread::spawn(move || {
                stream.set_nonblocking(false).unwrap();
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let request = String::from_utf8_lossy(&request);
                let name = request
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or("")
                    .rsplit('/')
                    .next();
                let Some((_, body)) = files.iter().find(|(n, _)| Some(n.as_str()) == name) else {
                    let _ =
                        stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
                    return;
                };
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes());
                if stall {
                    let _ = stream.write_all(&body[..body.len().min(1000)]);
                    let _ = stream.flush();
                    std::thread::sleep(Duration::from_secs(30));
                } else {
                    let _ = stream.write_all(body);
                }
            });
        }
    });
    url
}

/// Fashion-MNIST-shaped files (60,000 and 10,000 synthetic images), which a download checks by
/// their IDX structure, not a checksum.
fn fashion_files() -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    for (stem, count) in [("train", 60_000usize), ("t10k", 10_000)] {
        let images = idx_images(2051, count as u32, 28, 28, &synthetic_pixels(count));
        let labels: Vec<u8> = (0..count).map(|i| (i % 10) as u8).collect();
        let labels = idx_labels(2049, count as u32, &labels);
        files.push((format!("{stem}-images-idx3-ubyte.gz"), gzip(&images)));
        files.push((format!("{stem}-labels-idx1-ubyte.gz"), gzip(&labels)));
    }
    files
}

/// Case 6, before training: a signal while the data downloads ends the command in one line,
/// with no partial download, no lock and no folder it made; the same command then works.
fn a_signal_while_the_data_downloads_ends_in_one_line_and_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let url = serve_stalling(fashion_files(), 2, 20);
    let data = tmp.path().join("fashion");
    let url_flag = format!("data.url={url}");
    let flags = [
        "data.dataset=fashion-mnist",
        &url_flag,
        "data.train_limit=2000",
        "data.validation_size=200",
        "training.epochs=1",
        "model.hidden_size=32",
    ];
    let part = || {
        files(&data)
            .iter()
            .any(|f| f.to_string_lossy().ends_with(".part"))
    };
    for (sig, name, code) in [
        (libc::SIGINT, "SIGINT", 130),
        (libc::SIGTERM, "SIGTERM", 143),
    ] {
        let run = tmp.path().join(name);
        let mut child = train_command(tmp.path(), &data, &run, &flags)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        wait_until(&mut child, "a download", part);
        signal(&child, sig);
        let output = child.wait_with_output().unwrap();
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(code), "{err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(err.contains(&format!("Stopped by {name}")), "{err}");
        assert!(
            err.contains("start it again with the same command"),
            "{err}"
        );
        assert!(!part(), "a partial download was left: {:?}", files(&data));
        assert!(!run.exists(), "the run folder it made was left");
    }
    // Only the first two requests stall: the same command now downloads and trains.
    let run = tmp.path().join("SIGINT");
    let again = train(tmp.path(), &data, &run, &flags);
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(rows(&run).len(), 1);
}

/// Case 6, after the last epoch: a signal the moment the last epoch is done ends in one line;
/// the final files are then written by `train --resume`, the same as an uninterrupted run's.
/// A second Ctrl-C is a stop like the first.
fn a_signal_at_any_moment_after_training_leaves_a_run_that_finishes() {
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_run(tmp.path());
    let flags = small(2);
    let whole = tmp.path().join("whole");
    train_ok(tmp.path(), &data, &whole, &refs(&flags));
    let mut finished_by_resume = 0;
    for attempt in 0..4 {
        let run = tmp.path().join(format!("run-{attempt}"));
        let mut child = train_command(tmp.path(), &data, &run, &refs(&flags))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        wait_until(&mut child, "the last epoch", || rows(&run).len() == 2);
        signal(&child, libc::SIGTERM);
        let output = child.wait_with_output().unwrap();
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(143), "{err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        if err.contains("after every file of the run was written") {
            assert!(run.join("reconstruction.png").is_file());
        } else {
            assert!(err.contains("all 2 epochs are checkpointed"), "{err}");
            let done = paste(tmp.path(), suggested(&err, "write the final files with: "));
            assert!(done.status.success(), "{}", stderr(&done));
            assert!(stdout(&done).contains("Test MSE = "), "{}", stdout(&done));
            finished_by_resume += 1;
        }
        for file in ["model.mpk", "loss.png", "reconstruction.png"] {
            assert!(run.join(file).is_file(), "{file}");
        }
        assert!(weight_bits(&run) == weight_bits(&whole), "weights differ");
        assert_eq!(cost_bits(&run), cost_bits(&whole));
    }
    assert!(
        finished_by_resume > 0,
        "no signal landed before the last file"
    );

    // Two Ctrl-C in a row: one stop, one line.
    let run = tmp.path().join("twice");
    let mut child = train_command(tmp.path(), &data, &run, &refs(&small(4)))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until(&mut child, "an epoch", || !rows(&run).is_empty());
    signal(&child, libc::SIGINT);
    std::thread::sleep(Duration::from_millis(3));
    signal(&child, libc::SIGINT);
    let output = child.wait_with_output().unwrap();
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(130), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    let resumed = paste(tmp.path(), suggested(&err, "continue with: "));
    assert!(resumed.status.success(), "{}", stderr(&resumed));
}

/// Case 7: a disk that fills while the final files are written stops with the way on that
/// works: free space, then `train --resume`, which writes them as an uninterrupted run would.
fn a_full_disk_while_writing_the_final_files_is_finished_once_there_is_room(disk: &Path) {
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_run(tmp.path());
    let flags = small(2);
    let whole = tmp.path().join("whole");
    train_ok(tmp.path(), &data, &whole, &refs(&flags));
    // Room for everything a run holds before its final files, and half of model.mpk.
    let model = fs::metadata(whole.join("model.mpk")).unwrap().len();
    let used: u64 = files(&whole)
        .iter()
        .filter(|f| {
            !["model.mpk", "loss.png", "reconstruction.png"]
                .iter()
                .any(|n| f.ends_with(n))
        })
        .map(|f| fs::metadata(f).unwrap().len().div_ceil(4096) * 4096)
        .sum();
    let remount = |bytes: u64| {
        let status = std::process::Command::new("mount")
            .args(["-o", &format!("remount,size={bytes}"), "tmpfs"])
            .arg(disk)
            .status()
            .unwrap();
        assert!(status.success(), "remount");
    };
    remount((used + model / 2).div_ceil(4096) * 4096 + 8192);
    let run = disk.join("run");
    let output = train(tmp.path(), &data, &run, &refs(&flags));
    let err = assert_one_line_error(
        &output,
        &[
            "No space left on device",
            "all 2 epochs are checkpointed",
            "the disk is full; free space on it, then write the final files with: ",
        ],
    );
    assert_eq!(rows(&run).len(), 2, "{err}");
    remount(64 << 20);
    let done = paste(tmp.path(), suggested(&err, "write the final files with: "));
    assert!(done.status.success(), "{}", stderr(&done));
    assert!(weight_bits(&run) == weight_bits(&whole), "weights differ");
    assert_eq!(cost_bits(&run), cost_bits(&whole));
}

/// Case 8: a damaged `metrics.csv` stops a resume with advice that keeps the run's checkpoints
/// and works: a new run from the same config.
fn a_damaged_metrics_file_is_answered_with_advice_that_keeps_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_run(tmp.path());
    let run = tmp.path().join("run");
    train_ok(tmp.path(), &data, &run, &refs(&small(1)));
    fs::write(run.join("metrics.csv"), "epoch,cost\nnonsense\n").unwrap();
    let before = snapshot(&run);
    let output = run_in(
        tmp.path(),
        &[
            "train",
            "--resume",
            run.to_str().unwrap(),
            "--set",
            "training.epochs=2",
        ],
    );
    let err = assert_one_line_error(&output, &["metrics.csv", "put a good copy back"]);
    let again = paste(tmp.path(), suggested(&err, "in a new folder: "));
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(tmp.path().join("run-2/model.mpk").is_file());
    assert!(snapshot(&run) == before, "the damaged run changed");
}

/// Case 9: the commands messages suggest work when pasted into a shell, folders with spaces
/// and quotes included: a new folder for `import` and `train`, and the resume of a stopped run.
fn suggested_commands_work_when_pasted() {
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_run(tmp.path());
    let weights = tmp.path().join("w.safetensors");
    weights_file(&weights, |_, _| {});
    let out = tmp.path().join("my runs/it's");
    fs::create_dir_all(out.parent().unwrap()).unwrap();
    let import = format!(
        "mnist-autoencoder import --from {} --output ",
        weights.display()
    );
    let first = paste(tmp.path(), &format!("{import}\"{}\"", out.display()));
    assert!(first.status.success(), "{}", stderr(&first));
    let output = run_in(
        tmp.path(),
        &[
            "import",
            "--from",
            weights.to_str().unwrap(),
            "--output",
            out.to_str().unwrap(),
        ],
    );
    let err = assert_one_line_error(&output, &["already holds a run", "e.g. --output '"]);
    let second = paste(
        tmp.path(),
        &format!("{import}{}", suggested(&err, "e.g. --output ")),
    );
    assert!(second.status.success(), "{}", stderr(&second));
    assert!(tmp.path().join("my runs/it's-2/model.mpk").is_file());

    // A run in a folder whose name needs quoting: refused as a new run, then stopped and
    // resumed with the commands the messages give.
    let run = tmp.path().join("my runs/run 1");
    train_ok(tmp.path(), &data, &run, &refs(&small(1)));
    let output = train(tmp.path(), &data, &run, &refs(&small(1)));
    let err = assert_one_line_error(&output, &["already holds a run", "e.g. --set "]);
    let train_line = format!(
        "mnist-autoencoder train --set 'data.dir={}' --set output.dashboard=plain --set data.download=false --set data.validation_size=200 --set training.batch_size=50 --set model.hidden_size=64 --set training.epochs=1 {}",
        data.display(),
        suggested(&err, "e.g. ")
    );
    let fresh = paste(tmp.path(), &train_line);
    assert!(fresh.status.success(), "{}", stderr(&fresh));
    assert!(tmp.path().join("my runs/run 1-2/model.mpk").is_file());

    let stopped = tmp.path().join("my runs/stopped 'one'");
    let mut child = train_command(tmp.path(), &data, &stopped, &refs(&small(4)))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until(&mut child, "an epoch", || !rows(&stopped).is_empty());
    signal(&child, libc::SIGINT);
    let output = child.wait_with_output().unwrap();
    let err = stderr(&output);
    let resumed = paste(tmp.path(), suggested(&err, "continue with: "));
    assert!(resumed.status.success(), "{err}: {}", stderr(&resumed));
    assert_eq!(rows(&stopped).len(), 4);
}

/// Case 10: the temporary files a killed command left are removed by the next one that writes
/// there: `train` (new or resumed) in its folder, each other command beside its output.
fn a_killed_commands_temporary_files_go_at_the_next_start() {
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_run(tmp.path());
    let run = tmp.path().join("run");
    train_ok(tmp.path(), &data, &run, &refs(&small(1)));
    let leftovers = [
        ".latent.png.a1B2c3.tmp",
        ".codes.csv.d4E5f6.tmp",
        ".model.safetensors.g7H8i9.tmp",
        ".worst.png.j1K2l3.tmp",
    ];
    for name in leftovers {
        fs::write(run.join(name), b"half").unwrap();
    }
    let keep = run.join(".unrelated.tmp");
    fs::write(&keep, b"not ours").unwrap();
    let model = run.to_str().unwrap();
    for command in ["latent", "export", "evaluate"] {
        let output = run_in(tmp.path(), &[command, "--model", model]);
        assert!(output.status.success(), "{command}: {}", stderr(&output));
    }
    for name in leftovers {
        assert!(!run.join(name).exists(), "{name} was left");
    }
    // `train --resume` clears its folder and its checkpoints.
    fs::write(run.join(".config.toml.m4N5o6.tmp"), b"half").unwrap();
    fs::write(run.join("checkpoint/.model-2.mpk.p7Q8r9.tmp"), b"half").unwrap();
    let more = run_in(
        tmp.path(),
        &["train", "--resume", model, "--set", "training.epochs=2"],
    );
    assert!(more.status.success(), "{}", stderr(&more));
    let left: Vec<PathBuf> = files(&run)
        .into_iter()
        .filter(|f| f.to_string_lossy().ends_with(".tmp") && *f != keep)
        .collect();
    assert!(left.is_empty(), "left: {left:?}");
}

/// Case 11: the rough edges, each one true line: a file that only claims to be a JPEG, a seed
/// past TOML's integers, a huge learning rate written as a person would, a safetensors file
/// with a tensor too many, and a model asked for while its run is still training.
fn rough_edges_end_in_one_true_line() {
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_run(tmp.path());
    let run = tmp.path().join("run");
    train_ok(tmp.path(), &data, &run, &refs(&small(1)));
    let fake = tmp.path().join("digit.jpg");
    fs::write(&fake, b"\xFF\xD8\xFF\xE0 not really a JPEG").unwrap();
    let output = run_in(
        tmp.path(),
        &[
            "reconstruct",
            "--model",
            run.to_str().unwrap(),
            "--image",
            fake.to_str().unwrap(),
        ],
    );
    assert_one_line_error(&output, &["digit.jpg", "PNG or JPEG"]);

    let output = train(
        tmp.path(),
        &data,
        &tmp.path().join("seed"),
        &["training.seed=18446744073709551615"],
    );
    assert_one_line_error(
        &output,
        &["training.seed", "out of range", "9223372036854775807"],
    );

    let output = train(
        tmp.path(),
        &data,
        &tmp.path().join("rate"),
        &["training.learning_rate=-1e308"],
    );
    let err = assert_one_line_error(&output, &["training.learning_rate = -1e308"]);
    assert!(err.len() < 200, "{err}");
    let huge = train(
        tmp.path(),
        &data,
        &tmp.path().join("huge"),
        &refs(&with(&small(1), &["training.learning_rate=1e308"])),
    );
    let text = stdout(&huge) + &stderr(&huge);
    assert!(text.contains("lr 1e308"), "{text}");
    assert!(!text.contains("00000000000"), "{text}");

    let extra = tmp.path().join("extra.safetensors");
    let bias = vec![0u8; 64 * 4];
    let views = vec![(
        "encoder.scale",
        TensorView::new(Dtype::F32, vec![64], &bias).unwrap(),
    )];
    let good = tmp.path().join("good.safetensors");
    weights_file(&good, |_, _| {});
    let mut bytes = fs::read(&good).unwrap();
    let parsed = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut all: Vec<(String, TensorView)> = parsed
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            let view = TensorView::new(view.dtype(), view.shape().to_vec(), view.data()).unwrap();
            (name, view)
        })
        .collect();
    all.extend(views.into_iter().map(|(n, v)| (n.to_owned(), v)));
    bytes = safetensors::serialize(all, None).unwrap();
    fs::write(&extra, bytes).unwrap();
    let output = run_in(
        tmp.path(),
        &["import", "--from", extra.to_str().unwrap(), "--output", "x"],
    );
    assert_one_line_error(
        &output,
        &["extra.safetensors", "'encoder.scale'", "exactly"],
    );

    // Asked for a model while its run trains: said so, with the trainer's process id.
    let busy = tmp.path().join("busy");
    let mut child = train_command(tmp.path(), &data, &busy, &refs(&small(12)))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until(&mut child, "the lock", || {
        fs::read_to_string(busy.join(".lock")).is_ok_and(|pid| !pid.trim().is_empty())
    });
    wait_until(&mut child, "its config", || {
        busy.join("config.toml").is_file()
    });
    let pid = format!("process {}", child.id());
    for command in ["evaluate", "export"] {
        let output = run_in(tmp.path(), &[command, "--model", busy.to_str().unwrap()]);
        assert_one_line_error(
            &output,
            &["still training", &pid, "model.mpk", "wait until"],
        );
    }
    // Waited for, as the message says: the model is there.
    assert!(child.wait().unwrap().success());
    for command in ["evaluate", "export"] {
        let output = run_in(tmp.path(), &[command, "--model", busy.to_str().unwrap()]);
        assert!(output.status.success(), "{command}: {}", stderr(&output));
    }
}

/// Ctrl-C in Burn's dashboard (a terminal in raw mode, where it would be a key press) stops
/// the run as in plain mode: one line, exit code 130, a run that resumes. The terminal is
/// `script`'s, with Ctrl-C typed into it.
fn ctrl_c_in_the_dashboard_stops_like_anywhere_else() {
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_run(tmp.path());
    let run = tmp.path().join("run");
    let mut line = vec![crate::common::BIN.to_owned(), "train".to_owned()];
    let flags = with(&small(200), &[&format!("data.dir={}", data.display())]);
    let out = format!("output.dir={}", run.display());
    for flag in flags.iter().chain([&out]) {
        line.extend(["--set".to_owned(), flag.clone()]);
    }
    let line = line
        .iter()
        .map(|w| format!("'{w}'"))
        .collect::<Vec<_>>()
        .join(" ");
    let mut script = std::process::Command::new("script");
    crate::common::test_environment(&mut script);
    let mut child = script
        .args(["-qec", &line, "/dev/null"])
        .current_dir(tmp.path())
        .env("TERM", "xterm")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script (util-linux) runs");
    wait_until(&mut child, "an epoch", || !rows(&run).is_empty());
    child.stdin.as_mut().unwrap().write_all(b"\x03").unwrap();
    let output = child.wait_with_output().unwrap();
    let screen = stdout(&output);
    assert_eq!(output.status.code(), Some(130), "{screen}");
    let stop = screen
        .lines()
        .find(|l| l.contains("Stopped by SIGINT (Ctrl-C)"))
        .unwrap_or_else(|| panic!("no stop line in: {screen}"));
    assert!(stop.contains("of 200 are checkpointed"), "{stop}");
    let resumed = paste(
        tmp.path(),
        &format!(
            "{} --set training.epochs=3",
            suggested(stop, "continue with: ").trim_end_matches('\r')
        ),
    );
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    assert_eq!(rows(&run).len(), 3);
}

/// What a run keeps, and for how long: the checkpoints of its last three epochs, every epoch's
/// row and batch logs, the weights it started from when not the seed's, and its final files.
fn a_run_keeps_its_last_three_checkpoints_and_every_epochs_record() {
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_run(tmp.path());
    let start = tmp.path().join("start.safetensors");
    weights_file(&start, |_, _| {});
    let run = tmp.path().join("run");
    let init = format!("model.init_from={}", start.display());
    train_ok(tmp.path(), &data, &run, &refs(&with(&small(5), &[&init])));
    assert_eq!(crate::common::checkpointed(&run), [3, 4, 5]);
    assert_eq!(rows(&run).len(), 5);
    for epoch in 1..=5 {
        for split in ["train", "valid"] {
            let log = run.join(format!("{split}/epoch-{epoch}/Loss.log"));
            assert!(log.is_file(), "{}", log.display());
        }
    }
    let kept = [
        "config.toml",
        "init.mpk",
        "model.mpk",
        "loss.png",
        "reconstruction.png",
    ];
    for file in kept {
        assert!(run.join(file).is_file(), "{file}");
    }
    assert!(!run.join(".lock").exists(), "the lock outlived the run");
}

crate::trials![
    plain a_run_resumed_before_its_first_checkpoint_starts_from_the_weights_it_started_from,
    plain no_command_writes_over_a_runs_own_files,
    plain a_run_folder_moved_or_removed_while_training_is_reported,
    plain non_finite_weights_are_refused_where_they_enter,
    plain a_run_without_validation_shows_no_made_up_cost,
    plain a_signal_while_the_data_downloads_ends_in_one_line_and_leaves_nothing,
    plain a_signal_at_any_moment_after_training_leaves_a_run_that_finishes,
    tmpfs a_full_disk_while_writing_the_final_files_is_finished_once_there_is_room,
    plain a_damaged_metrics_file_is_answered_with_advice_that_keeps_the_run,
    plain suggested_commands_work_when_pasted,
    plain a_killed_commands_temporary_files_go_at_the_next_start,
    plain rough_edges_end_in_one_true_line,
    plain ctrl_c_in_the_dashboard_stops_like_anywhere_else,
    plain a_run_keeps_its_last_three_checkpoints_and_every_epochs_record,
];
