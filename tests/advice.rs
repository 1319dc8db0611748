//! Every error message that says what to do, followed: the command that failed, its one line,
//! and the command changed as the line says, which must then succeed. (The resume commands that
//! stops print are followed where each stop is tested: `resume`, `faults`, `nothing_lost`.)

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use image::{GrayImage, Luma};

use crate::common::{
    SMALL, assert_one_line_error, command_in, gzip, idx_images, idx_labels, paste, png_header,
    rows, run_in, serve, signal, stderr, suggested, synthetic_pixels, synthetic_run, train_ok,
    wait_until,
};

/// A command and what it is run with.
struct Case<'a> {
    /// The failing command's arguments.
    bad: Vec<String>,
    /// What its one line must say: the advice among it.
    says: &'a [&'a str],
    /// The command as the advice changes it.
    fixed: Vec<String>,
}

fn args(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

/// Runs each case from `cwd`: the bad command fails in one line saying `says`, the fixed one
/// succeeds.
fn follow(cwd: &Path, cases: Vec<Case<'_>>) {
    for case in cases {
        let bad: Vec<&str> = case.bad.iter().map(String::as_str).collect();
        assert_one_line_error(&run_in(cwd, &bad), case.says);
        let fixed: Vec<&str> = case.fixed.iter().map(String::as_str).collect();
        let output = run_in(cwd, &fixed);
        assert!(
            output.status.success(),
            "{:?}, as {:?} advised: {}",
            case.fixed,
            case.says,
            stderr(&output)
        );
    }
}

/// `train` of one small epoch on `data` into `out`, with `extra` flags (`--set` each unless it
/// starts with `--`).
fn train_args(data: &Path, out: &Path, extra: &[&str]) -> Vec<String> {
    let mut words = args(&["train", "--set", "output.dashboard=plain"]);
    let flags = [
        format!("data.dir={}", data.display()),
        format!("output.dir={}", out.display()),
    ];
    let small = SMALL.iter().map(|s| s.to_string());
    for flag in flags
        .into_iter()
        .chain(small)
        .chain(["training.epochs=1".into()])
    {
        words.extend(["--set".to_owned(), flag]);
    }
    let mut extra = extra.iter().peekable();
    while let Some(word) = extra.next() {
        if word.starts_with("--") {
            words.push(word.to_string());
            words.extend(extra.next().map(|w| w.to_string()));
        } else {
            words.extend(["--set".to_owned(), word.to_string()]);
        }
    }
    words
}

/// A fresh output folder under `tmp`.
fn fresh(tmp: &Path, name: &str) -> PathBuf {
    tmp.join("runs").join(name)
}

/// The config keys and flags: each message's example or range, used.
fn config_messages_say_what_works() {
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_run(tmp.path());
    let config = tmp.path().join("good.toml");
    fs::write(&config, "[training]\nepochs = 1\n").unwrap();
    let t = |name: &str, extra: &[&str]| train_args(&data, &fresh(tmp.path(), name), extra);
    let cases = vec![
        Case {
            bad: t("a", &["--config", "missing.toml"]),
            says: &["missing.toml", "check the --config path"],
            fixed: t("a", &["--config", config.to_str().unwrap()]),
        },
        Case {
            bad: t("b", &["training.epoch=1"]),
            says: &[
                "unknown key 'training.epoch'",
                "did you mean 'training.epochs'?",
            ],
            fixed: t("b", &["training.epochs=1"]),
        },
        Case {
            bad: t("c", &["training.epochs"]),
            says: &["expected KEY=VALUE, e.g. --set training.epochs=5"],
            fixed: t("c", &["training.epochs=5"]),
        },
        Case {
            bad: t("d", &["training=1"]),
            says: &["is a section; set the keys inside it, e.g. training.batch_size"],
            fixed: t("d", &["training.batch_size=50"]),
        },
        Case {
            bad: t("e", &["training.epochs=0"]),
            says: &["training.epochs = 0", "must be at least 1"],
            fixed: t("e", &["training.epochs=1"]),
        },
        Case {
            bad: t("f", &["model.hidden_size=0"]),
            says: &["model.hidden_size = 0", "must be 1 to 12544"],
            fixed: t("f", &["model.hidden_size=12"]),
        },
        Case {
            bad: t("g", &["training.learning_rate=-1"]),
            says: &["must be a positive number, e.g. 0.01"],
            fixed: t("g", &["training.learning_rate=0.01"]),
        },
        Case {
            bad: t("h", &["training.seed=18446744073709551615"]),
            says: &["out of range", "to 9223372036854775807"],
            fixed: t("h", &["training.seed=9223372036854775807"]),
        },
        Case {
            bad: t("i", &["output.dashboard=tui"]),
            says: &[
                "needs a terminal",
                "set output.dashboard to \"plain\" or \"auto\"",
            ],
            fixed: t("i", &["output.dashboard=auto"]),
        },
        Case {
            bad: t("j", &["backend.device=discrete:0"]),
            says: &[
                "backend.device = \"discrete:0\"",
                "GPUs need the wgpu backend",
            ],
            fixed: t("j", &["backend.device=cpu"]),
        },
        Case {
            bad: t("k", &["data.validation_size=4200"]),
            says: &["must be below the 4200 training images"],
            fixed: t("k", &["data.validation_size=4199"]),
        },
        Case {
            bad: t("m", &["backend.kernels=fastest"]),
            says: &[
                "backend.kernels",
                "\"auto\", \"reference\" or a plan such as \"x.W1=",
            ],
            fixed: t(
                "m",
                &[
                    "backend.kernels=x.W1=skip-zeros h.W2=gemm hT.dz2=gemm dz2.W2T=gemm xT.dz1=skip-zeros",
                ],
            ),
        },
        Case {
            bad: t("l", &["training.noise=masking", "training.noise_level=1"]),
            says: &["share of pixels zeroed: above 0, below 1"],
            fixed: t("l", &["training.noise=masking", "training.noise_level=0.5"]),
        },
    ];
    follow(tmp.path(), cases);
}

/// `train --resume`: what a resume may change, which folder it takes, a finished run, and a
/// run asked for fewer epochs than it has.
fn resume_messages_say_what_works() {
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_run(tmp.path());
    let done = fresh(tmp.path(), "done");
    train_ok(tmp.path(), &data, &done, &SMALL);
    let done = done.to_str().unwrap();
    let resume = |extra: &[&str]| {
        let mut words = args(&["train", "--resume"]);
        for word in extra {
            words.push(word.to_string());
        }
        words
    };
    // Stopped after its first epoch of four.
    let stopped = fresh(tmp.path(), "stopped");
    let mut child = command_in(
        tmp.path(),
        &refs(&train_args(&data, &stopped, &["training.epochs=4"])),
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    wait_until(&mut child, "two epochs", || rows(&stopped).len() >= 2);
    signal(&child, libc::SIGINT);
    child.wait().unwrap();
    let trained = format!("training.epochs={}", rows(&stopped).len());
    let example = format!("e.g. --set {trained}");
    let fewer = ["has trained", "to finish it", &example];
    let stopped = stopped.to_str().unwrap();
    let cases = vec![
        Case {
            bad: resume(&[done, "--set", "model.hidden_size=3"]),
            says: &["a resumed run keeps its settings", "only training.epochs,"],
            fixed: resume(&[done, "--set", "training.epochs=5"]),
        },
        Case {
            bad: resume(&["nowhere", "--set", "training.epochs=6"]),
            says: &[
                "cannot read its config.toml",
                "pass the output.dir of an earlier `train`",
            ],
            fixed: resume(&[done, "--set", "training.epochs=6"]),
        },
        Case {
            bad: resume(&[done]),
            says: &[
                "already finished its 6 epochs",
                "e.g. --set training.epochs=16",
            ],
            fixed: resume(&[done, "--set", "training.epochs=16"]),
        },
        Case {
            bad: resume(&[stopped, "--set", "training.epochs=1"]),
            says: &fewer,
            fixed: resume(&[stopped, "--set", &trained]),
        },
    ];
    follow(tmp.path(), cases);
}

fn refs(words: &[String]) -> Vec<&str> {
    words.iter().map(String::as_str).collect()
}

/// The data folder: missing, a file, short of a file, damaged, mismatched, or unreachable for
/// a download.
fn data_messages_say_what_works() {
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_run(tmp.path());
    let t = |data: &Path, name: &str, extra: &[&str]| {
        train_args(
            data,
            &fresh(tmp.path(), name),
            &[&["data.download=false"], extra].concat(),
        )
    };
    let three = tmp.path().join("three");
    fs::create_dir(&three).unwrap();
    for name in ["train-images", "train-labels", "t10k-images"] {
        let file = fs::read_dir(&data)
            .unwrap()
            .flatten()
            .find(|e| e.file_name().to_string_lossy().starts_with(name))
            .unwrap();
        fs::copy(file.path(), three.join(file.file_name())).unwrap();
    }
    let damaged = tmp.path().join("damaged");
    fs::create_dir(&damaged).unwrap();
    for entry in fs::read_dir(&data).unwrap().flatten() {
        fs::copy(entry.path(), damaged.join(entry.file_name())).unwrap();
    }
    let images = damaged.join("train-images-idx3-ubyte.gz");
    let whole = fs::read(&images).unwrap();
    fs::write(&images, &whole[..whole.len() / 2]).unwrap();
    let mismatched = tmp.path().join("mismatched");
    fs::create_dir(&mismatched).unwrap();
    for entry in fs::read_dir(&data).unwrap().flatten() {
        fs::copy(entry.path(), mismatched.join(entry.file_name())).unwrap();
    }
    let labels = idx_labels(2049, 4199, &[1; 4199]);
    fs::write(mismatched.join("train-labels-idx1-ubyte.gz"), gzip(&labels)).unwrap();
    let file = data.join("train-images-idx3-ubyte.gz");
    let cases = vec![
        Case {
            bad: t(&tmp.path().join("absent"), "a", &[]),
            says: &[
                "does not exist",
                "set data.dir to the folder with the MNIST files",
            ],
            fixed: t(&data, "a", &[]),
        },
        Case {
            bad: t(&file, "b", &[]),
            says: &["is a file, not a folder", "set data.dir to the folder"],
            fixed: t(&data, "b", &[]),
        },
        Case {
            bad: t(&three, "c", &[]),
            says: &[
                "no t10k-labels-idx1-ubyte[.gz]",
                "put the four MNIST files there",
            ],
            fixed: t(&data, "c", &[]),
        },
        Case {
            bad: t(&mismatched, "d", &[]),
            says: &[
                "4200 images",
                "4199 labels",
                "use files of the same MNIST part",
            ],
            fixed: t(&data, "d", &[]),
        },
    ];
    follow(tmp.path(), cases);
    // "or put a good copy there".
    assert_one_line_error(
        &run_in(tmp.path(), &refs(&t(&damaged, "e", &[]))),
        &["is damaged", "put a good copy there"],
    );
    fs::write(&images, &whole).unwrap();
    let output = run_in(tmp.path(), &refs(&t(&damaged, "e", &[])));
    assert!(output.status.success(), "{}", stderr(&output));

    // Offline: "put the four MNIST files into '…' yourself, or set data.url to a mirror you can
    // reach"; both, followed.
    let empty = tmp.path().join("empty");
    let offline = ["data.download=true", "data.url=http://127.0.0.1:1/"];
    let bad = train_args(&empty, &fresh(tmp.path(), "f"), &offline);
    assert_one_line_error(
        &run_in(tmp.path(), &refs(&bad)),
        &[
            "cannot download",
            "yourself, or set data.url to a mirror you can reach",
        ],
    );
    for entry in fs::read_dir(&data).unwrap().flatten() {
        fs::copy(entry.path(), empty.join(entry.file_name())).unwrap();
    }
    let output = run_in(tmp.path(), &refs(&bad));
    assert!(output.status.success(), "{}", stderr(&output));

    let fashion = |count: usize, stem: &str| {
        let images = idx_images(2051, count as u32, 28, 28, &synthetic_pixels(count));
        let labels: Vec<u8> = (0..count).map(|i| (i % 10) as u8).collect();
        [
            (format!("{stem}-images-idx3-ubyte.gz"), gzip(&images)),
            (
                format!("{stem}-labels-idx1-ubyte.gz"),
                gzip(&idx_labels(2049, count as u32, &labels)),
            ),
        ]
    };
    let files: Vec<(String, Vec<u8>)> =
        [fashion(60_000, "train"), fashion(10_000, "t10k")].concat();
    let mirror = serve(files, 4);
    let wrong: Vec<(String, Vec<u8>)> = fashion(100, "train").into_iter().collect();
    let not_a_mirror = serve(wrong, 1);
    let download = |url: &str, name: &str| {
        let url = format!("data.url={url}");
        let dir = tmp.path().join(format!("fashion-{name}"));
        let flags = [
            "data.dataset=fashion-mnist",
            "data.download=true",
            &url,
            "data.train_limit=2000",
        ];
        train_args(&dir, &fresh(tmp.path(), name), &flags)
    };
    let bad = download(&not_a_mirror, "g");
    assert_one_line_error(
        &run_in(tmp.path(), &refs(&bad)),
        &[
            "is not a Fashion-MNIST file",
            "set data.url to a mirror of the original files",
        ],
    );
    let output = run_in(tmp.path(), &refs(&download(&mirror, "g")));
    assert!(output.status.success(), "{}", stderr(&output));
}

/// What the other commands are given: a run folder, a picture, an index, an output path.
fn inspect_messages_say_what_works() {
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_run(tmp.path());
    let run = fresh(tmp.path(), "run");
    train_ok(tmp.path(), &data, &run, &SMALL);
    let run = run.to_str().unwrap();
    let damaged = fresh(tmp.path(), "damaged");
    train_ok(tmp.path(), &data, &damaged, &SMALL);
    fs::write(damaged.join("model.mpk"), b"nothing").unwrap();
    fs::write(damaged.join("metrics.csv"), b"nothing").unwrap();
    let damaged = damaged.to_str().unwrap();
    let picture = |name: &str, image: GrayImage| {
        let path = tmp.path().join(name);
        image.save(&path).unwrap();
        path.to_str().unwrap().to_owned()
    };
    // A bright stroke on a dark 40x40 square: a digit one.
    let digit = picture(
        "one.png",
        GrayImage::from_fn(40, 40, |x, y| {
            Luma([if (18..22).contains(&x) && (6..34).contains(&y) {
                255
            } else {
                0
            }])
        }),
    );
    let blank = picture("blank.png", GrayImage::new(40, 40));
    let huge = tmp.path().join("huge.png");
    fs::write(&huge, png_header(9000, 10)).unwrap();
    let huge = huge.to_str().unwrap();
    let fake = tmp.path().join("fake.jpg");
    fs::write(&fake, b"\xFF\xD8\xFF not a JPEG").unwrap();
    let fake = fake.to_str().unwrap();
    let own = |image: &str| args(&["reconstruct", "--model", run, "--image", image]);
    let cases = vec![
        Case {
            bad: args(&["evaluate", "--model", "nowhere"]),
            says: &["cannot read", "pass --model a folder written by `train`"],
            fixed: args(&["evaluate", "--model", run]),
        },
        Case {
            bad: args(&["evaluate", "--model", damaged]),
            says: &["cannot load", "pass --model a folder written by `train`"],
            fixed: args(&["evaluate", "--model", run]),
        },
        Case {
            bad: args(&["curves", "--model", damaged]),
            says: &["metrics.csv' is damaged", "put a good copy back"],
            fixed: args(&["curves", "--model", run]),
        },
        Case {
            bad: args(&[
                "evaluate",
                "--model",
                run,
                "--output",
                "no/such/folder/w.png",
            ]),
            says: &["cannot write", "the other commands: --output"],
            fixed: args(&["evaluate", "--model", run, "--output", "w.png"]),
        },
        Case {
            bad: args(&[
                "evaluate",
                "--model",
                run,
                "--output",
                &format!("{run}/config.toml"),
            ]),
            says: &["only `train` writes a run's own files: name another path"],
            fixed: args(&[
                "evaluate",
                "--model",
                run,
                "--output",
                &format!("{run}/w.png"),
            ]),
        },
        Case {
            bad: own(fake),
            says: &["fake.jpg", "pass a PNG or JPEG file"],
            fixed: own(&digit),
        },
        Case {
            bad: own(&blank),
            says: &["looks blank", "pass a picture of one digit"],
            fixed: own(&digit),
        },
        Case {
            bad: own(huge),
            says: &["9000x10 pixels", "scale it down first"],
            fixed: own(&digit),
        },
        Case {
            bad: args(&["interpolate", "--model", run, "--to", "50"]),
            says: &["--to 50", "pick 0 to 49"],
            fixed: args(&["interpolate", "--model", run, "--to", "49"]),
        },
    ];
    follow(tmp.path(), cases);

    // A folder another training holds: "train into another folder".
    let busy = fresh(tmp.path(), "busy");
    let mut child = command_in(
        tmp.path(),
        &refs(&train_args(&data, &busy, &["training.epochs=40"])),
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    wait_until(&mut child, "its config", || {
        busy.join("config.toml").is_file()
    });
    let resume = args(&["train", "--resume", busy.to_str().unwrap()]);
    assert_one_line_error(
        &run_in(tmp.path(), &refs(&resume)),
        &["is in use", "or train into another folder"],
    );
    let other = run_in(
        tmp.path(),
        &refs(&train_args(&data, &fresh(tmp.path(), "other"), &[])),
    );
    assert!(other.status.success(), "{}", stderr(&other));
    child.kill().unwrap();
    child.wait().unwrap();
}

/// Files of weights: wrong, and the file or setting the message asks for.
fn weights_messages_say_what_works() {
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_run(tmp.path());
    let run = fresh(tmp.path(), "run");
    train_ok(tmp.path(), &data, &run, &SMALL);
    let exported = tmp.path().join("w.safetensors");
    let output = run_in(
        tmp.path(),
        &[
            "export",
            "--model",
            run.to_str().unwrap(),
            "--output",
            exported.to_str().unwrap(),
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let exported = exported.to_str().unwrap();
    let junk = tmp.path().join("junk.safetensors");
    fs::write(&junk, b"junk").unwrap();
    let import = |from: &str, out: &str| {
        let out = fresh(tmp.path(), out);
        args(&["import", "--from", from, "--output", out.to_str().unwrap()])
    };
    let init = |extra: &str| {
        train_args(
            &data,
            &fresh(tmp.path(), "init"),
            &["--init-from", exported, extra],
        )
    };
    let cases = vec![
        Case {
            bad: import("missing.safetensors", "a"),
            says: &["cannot read", "pass a safetensors file"],
            fixed: import(exported, "a"),
        },
        Case {
            bad: import(junk.to_str().unwrap(), "b"),
            says: &[
                "not a whole safetensors file",
                "pass one written by `export`",
            ],
            fixed: import(exported, "b"),
        },
        Case {
            bad: init("model.hidden_size=32"),
            says: &["model.hidden_size = 32 needs [32, 784]", "[64, 784]"],
            fixed: init("model.hidden_size=64"),
        },
    ];
    follow(tmp.path(), cases);
}

/// A stop's command is pasted as given, for a folder whose name needs quoting.
fn a_stop_says_how_to_continue_in_words_a_shell_takes() {
    let tmp = tempfile::tempdir().unwrap();
    let data = synthetic_run(tmp.path());
    let run = tmp.path().join("with space");
    let mut child = command_in(
        tmp.path(),
        &refs(&train_args(&data, &run, &["training.epochs=4"])),
    )
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    wait_until(&mut child, "an epoch", || !rows(&run).is_empty());
    signal(&child, libc::SIGTERM);
    let output = child.wait_with_output().unwrap();
    let err = stderr(&output);
    assert!(err.contains("--resume '"), "{err}");
    let resumed = paste(tmp.path(), suggested(&err, "continue with: "));
    assert!(resumed.status.success(), "{}", stderr(&resumed));
    assert_eq!(rows(&run).len(), 4);
}

crate::trials![
    plain config_messages_say_what_works,
    plain resume_messages_say_what_works,
    plain data_messages_say_what_works,
    plain inspect_messages_say_what_works,
    plain weights_messages_say_what_works,
    plain a_stop_says_how_to_continue_in_words_a_shell_takes,
];
