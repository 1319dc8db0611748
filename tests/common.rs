//! Helpers shared by the test modules.
// Some serve only the modules that run on ndarray alone (faults, resume).
#![cfg_attr(feature = "wgpu", allow(dead_code))]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use flate2::Compression;
use flate2::write::GzEncoder;
use libtest_mimic::{Completion, Trial};
use mnist_autoencoder::backend::Backend as Cpu;
use mnist_autoencoder::metrics::{EpochRow, parse_metrics_csv};
use mnist_autoencoder::run_dir::RunDir;

pub const BIN: &str = env!("CARGO_BIN_EXE_mnist-autoencoder");

/// The real datasets the tests can use.
#[derive(Debug, Clone, Copy)]
pub enum RealData {
    Mnist,
    FashionMnist,
}

impl RealData {
    /// Where to look, in order: the variable's folder, the checkout's `data/` (where the quick
    /// start's `train` downloads to), `../shared/data/` beside the checkout.
    fn candidates(self) -> Vec<PathBuf> {
        let (variable, folder) = match self {
            RealData::Mnist => ("MNIST_DIR", "mnist"),
            RealData::FashionMnist => ("FASHION_MNIST_DIR", "fashion-mnist"),
        };
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut dirs: Vec<PathBuf> = std::env::var_os(variable)
            .map(PathBuf::from)
            .into_iter()
            .collect();
        if let (RealData::FashionMnist, Some(mnist)) = (self, std::env::var_os("MNIST_DIR")) {
            // Beside MNIST, as in ../shared/data.
            dirs.push(Path::new(&mnist).with_file_name(folder));
        }
        dirs.push(root.join("data").join(folder));
        dirs.push(root.join("../shared/data").join(folder));
        dirs
    }

    /// The first folder holding the four original `.gz` files, or why there is none.
    pub fn find(self) -> Result<PathBuf, String> {
        let candidates = self.candidates();
        candidates
            .iter()
            .find(|dir| {
                MNIST_FILES
                    .iter()
                    .all(|name| dir.join(format!("{name}.gz")).is_file())
            })
            .cloned()
            .ok_or_else(|| {
                let looked: Vec<String> = candidates
                    .iter()
                    .map(|d| format!("'{}'", d.display()))
                    .collect();
                format!(
                    "no real {self:?} (the four .gz files) in {}",
                    looked.join(", ")
                )
            })
    }
}

/// The standard file stems, as every MNIST-format dataset names them.
pub const MNIST_FILES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

/// A test that needs nothing but this machine.
pub fn plain(name: &str, test: fn()) -> Trial {
    Trial::test(test_name(name), move || {
        test();
        Ok(())
    })
}

/// A test on the real MNIST; reported as ignored without it, unless `MNIST_REQUIRED=1` (as in
/// `.ci/run`), where a missing dataset is a failure.
pub fn mnist(name: &str, test: fn(&Path)) -> Trial {
    with_data(name, RealData::Mnist, test)
}

/// A test on the real Fashion-MNIST; like [`mnist`].
pub fn fashion(name: &str, test: fn(&Path)) -> Trial {
    with_data(name, RealData::FashionMnist, test)
}

fn with_data(name: &str, data: RealData, test: fn(&Path)) -> Trial {
    Trial::ignorable_test(test_name(name), move || match data.find() {
        Ok(dir) => {
            test(&dir);
            Ok(Completion::Completed)
        }
        Err(why) if std::env::var("MNIST_REQUIRED").as_deref() == Ok("1") => {
            Err(format!("MNIST_REQUIRED=1 but {why}; set MNIST_DIR").into())
        }
        Err(why) => Ok(Completion::ignored_with(why)),
    })
}

/// A test given a fresh tmpfs of 64 MB to fill (mounted as root, as CI runs, and unmounted
/// after); ignored, saying why, where mounting is not permitted, unless `MOUNT_REQUIRED=1`
/// (as `.ci/run` sets).
pub fn tmpfs(name: &str, test: fn(&Path)) -> Trial {
    Trial::ignorable_test(test_name(name), move || {
        let dir = tempfile::tempdir().unwrap();
        let mounted = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64m", "tmpfs"])
            .arg(dir.path())
            .output();
        let why = match mounted {
            Ok(output) if output.status.success() => {
                let outcome = std::panic::catch_unwind(|| test(dir.path()));
                let _ = Command::new("umount").arg(dir.path()).status();
                if let Err(panic) = outcome {
                    std::panic::resume_unwind(panic);
                }
                return Ok(Completion::Completed);
            }
            Ok(output) => String::from_utf8_lossy(&output.stderr).trim().to_owned(),
            Err(e) => e.to_string(),
        };
        let why = format!("cannot mount a tmpfs (it needs root): {why}");
        if std::env::var("MOUNT_REQUIRED").as_deref() == Ok("1") {
            Err(format!("MOUNT_REQUIRED=1 but {why}").into())
        } else {
            Ok(Completion::ignored_with(why))
        }
    })
}

/// A test that traces the binary's system calls with strace; ignored, saying why, without it,
/// unless `STRACE_REQUIRED=1` (as `.ci/run` sets).
pub fn strace(name: &str, test: fn()) -> Trial {
    Trial::ignorable_test(test_name(name), move || {
        match Command::new("strace").arg("-V").output() {
            Ok(output) if output.status.success() => {
                test();
                Ok(Completion::Completed)
            }
            _ if std::env::var("STRACE_REQUIRED").as_deref() == Ok("1") => {
                Err("STRACE_REQUIRED=1 but strace does not run; install it".into())
            }
            _ => Ok(Completion::ignored_with("strace is not installed")),
        }
    })
}

/// `tests::config::name` as `config::name`, the names the built-in harness gave.
fn test_name(path: &str) -> String {
    path.strip_prefix("tests::").unwrap_or(path).to_owned()
}

/// Lists a module's tests as `kind name` pairs (`plain`, `mnist`, `fashion`, `tmpfs` or
/// `strace`, see above), as
/// the function `trials()` that `tests.rs` collects. A test left out of the list is dead code,
/// which `cargo clippy` reports.
#[macro_export]
macro_rules! trials {
    ($($(#[$attr:meta])* $kind:ident $name:ident),* $(,)?) => {
        // `vec![]` would not take the `#[cfg]` of an entry.
        #[allow(clippy::vec_init_then_push)]
        pub fn trials() -> Vec<libtest_mimic::Trial> {
            let mut trials = Vec::new();
            $(
                $(#[$attr])*
                trials.push($crate::common::$kind(concat!(module_path!(), "::", stringify!($name)), $name));
            )*
            trials
        }
    };
}

/// An IDX image file: the header as given, then `body` bytes.
pub fn idx_images(magic: u32, count: u32, rows: u32, cols: u32, body: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for word in [magic, count, rows, cols] {
        bytes.extend_from_slice(&word.to_be_bytes());
    }
    bytes.extend_from_slice(body);
    bytes
}

/// An IDX label file: the header as given, then the labels.
pub fn idx_labels(magic: u32, count: u32, labels: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for word in [magic, count] {
        bytes.extend_from_slice(&word.to_be_bytes());
    }
    bytes.extend_from_slice(labels);
    bytes
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// `count` images of a pattern that varies with the index, each 28x28.
pub fn synthetic_pixels(count: usize) -> Vec<u8> {
    (0..count * 784)
        .map(|i| {
            let (image, pixel) = (i / 784, i % 784);
            let (y, x) = (pixel / 28, pixel % 28);
            if (x + image) % 7 < 3 && (4..24).contains(&y) {
                255
            } else {
                (x * 3) as u8
            }
        })
        .collect()
}

/// A folder with the four MNIST files, synthetic: `train` and `test` images, gzip-compressed.
pub fn synthetic_mnist(dir: &Path, train: usize, test: usize) {
    std::fs::create_dir_all(dir).unwrap();
    for (stem, count) in [("train", train), ("t10k", test)] {
        let images = idx_images(2051, count as u32, 28, 28, &synthetic_pixels(count));
        let labels: Vec<u8> = (0..count).map(|i| (i % 10) as u8).collect();
        let labels = idx_labels(2049, count as u32, &labels);
        std::fs::write(
            dir.join(format!("{stem}-images-idx3-ubyte.gz")),
            gzip(&images),
        )
        .unwrap();
        std::fs::write(
            dir.join(format!("{stem}-labels-idx1-ubyte.gz")),
            gzip(&labels),
        )
        .unwrap();
    }
}

/// Runs the binary with `args` from `cwd`.
pub fn run_in(cwd: &Path, args: &[&str]) -> Output {
    command_in(cwd, args).output().expect("the binary runs")
}

/// The binary with `args`, to run from `cwd`.
pub fn command_in(cwd: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command.args(args).current_dir(cwd);
    test_environment(&mut command);
    command
}

/// What every process the tests start runs with.
pub fn test_environment(command: &mut Command) {
    // Mesa's Vulkan drivers print "XDG_RUNTIME_DIR is invalid or not set" on stderr when it is
    // unset (as in CI); the checks on our one-line errors must not count that driver notice.
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        command.env("XDG_RUNTIME_DIR", std::env::temp_dir());
    }
    // The kernel plans `auto` measures, kept for this run of the tests rather than the user's
    // cache folder: every run of one shape in the suite computes alike.
    command.env("XDG_CACHE_HOME", test_cache());
}

/// The cache folder of this run of the tests.
fn test_cache() -> PathBuf {
    std::env::temp_dir().join(format!("mnist-autoencoder-tests-{}", std::process::id()))
}

/// Removes [`test_cache`], once the tests are done.
pub fn remove_test_cache() {
    let _ = std::fs::remove_dir_all(test_cache());
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts the run failed the way bad input must: exit code 1, one line on stderr that holds
/// every one of `needles`, and no panic.
pub fn assert_one_line_error(output: &Output, needles: &[&str]) -> String {
    let err = stderr(output);
    assert_eq!(output.status.code(), Some(1), "exit code; stderr: {err}");
    assert!(!err.contains("panicked"), "panicked: {err}");
    assert_eq!(
        err.trim_end().lines().count(),
        1,
        "one line expected: {err}"
    );
    for needle in needles {
        assert!(err.contains(needle), "'{needle}' not in: {err}");
    }
    err
}

/// A tiny HTTP/1.1 server on 127.0.0.1 that serves `files` by name and 404s anything else.
/// It stops by itself after `max_requests` requests or 60 seconds. Returns its base URL.
pub fn serve(files: Vec<(String, Vec<u8>)>, max_requests: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}/mnist/", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut served = 0;
        while served < max_requests && Instant::now() < deadline {
            let Ok((mut stream, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            };
            served += 1;
            stream.set_nonblocking(false).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let request = String::from_utf8_lossy(&request);
            let path = request.split_whitespace().nth(1).unwrap_or("");
            let name = path.rsplit('/').next().unwrap_or("");
            let body = files.iter().find(|(n, _)| n == name).map(|(_, b)| b);
            let _ = match body {
                Some(body) => {
                    let head = format!(
                        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    stream
                        .write_all(head.as_bytes())
                        .and_then(|_| stream.write_all(body))
                }
                None => stream.write_all(
                    b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                ),
            };
        }
    });
    url
}

/// Runs `train` on `data` into `out` with plain output and `--set` for each of `extra`.
pub fn train(cwd: &Path, data: &Path, out: &Path, extra: &[&str]) -> Output {
    train_command(cwd, data, out, extra)
        .output()
        .expect("the binary runs")
}

/// The command [`train`] runs.
pub fn train_command(cwd: &Path, data: &Path, out: &Path, extra: &[&str]) -> Command {
    let data_flag = format!("data.dir={}", data.display());
    let out_flag = format!("output.dir={}", out.display());
    let mut args = vec![
        "train",
        "--set",
        &data_flag,
        "--set",
        &out_flag,
        "--set",
        "output.dashboard=plain",
    ];
    for flag in extra {
        args.extend(["--set", flag]);
    }
    command_in(cwd, &args)
}

/// [`train`] without downloading, expected to succeed; returns its stdout.
pub fn train_ok(cwd: &Path, data: &Path, out: &Path, extra: &[&str]) -> String {
    let output = train(cwd, data, out, &[&["data.download=false"], extra].concat());
    assert!(output.status.success(), "train failed: {}", stderr(&output));
    stdout(&output)
}

/// Every weight and bias of the model saved in `dir`, as bits.
pub fn weight_bits(dir: &Path) -> Vec<u32> {
    let model = RunDir::new(dir)
        .load::<Cpu>(&Default::default())
        .unwrap()
        .model;
    let mut bits = Vec::new();
    for linear in model.tutorial_layers().unwrap() {
        let bias = linear.bias.as_ref().unwrap().val();
        for tensor in [linear.weight.val().flatten::<1>(0, 1), bias] {
            let data = tensor.into_data();
            bits.extend(data.as_slice::<f32>().unwrap().iter().map(|v| v.to_bits()));
        }
    }
    bits
}

/// Asserts `y` is the sigmoid of `x` within a few units in the last place of the true value,
/// plus what the backend's `exp` may lose: Vulkan allows a shader's exp an error of 3 + 2|x| ulp
/// (lavapipe loses 27 at x = -74). Below x = -87.3 the value is subnormal and may be flushed.
pub fn assert_sigmoid_close(x: f32, y: f32) {
    let truth = (1.0 / (1.0 + (-f64::from(x)).exp())) as f32;
    let ulps = if cfg!(feature = "wgpu") {
        4.0 + 2.0 * x.abs()
    } else {
        4.0
    };
    let tolerance = ulps * f32::EPSILON * truth + f32::MIN_POSITIVE;
    assert!(
        (y - truth).abs() <= tolerance,
        "sigmoid({x}) = {y}, not {truth}"
    );
}

/// The rows of the run's `metrics.csv`; none when it is not there yet.
pub fn rows(dir: &Path) -> Vec<EpochRow> {
    std::fs::read_to_string(dir.join("metrics.csv"))
        .map(|text| parse_metrics_csv(&text).expect("metrics.csv parses"))
        .unwrap_or_default()
}

/// The train and validation cost of each epoch of the run in `dir`, as bits.
pub fn cost_bits(dir: &Path) -> Vec<(u64, Option<u64>)> {
    rows(dir)
        .iter()
        .map(|r| (r.train_cost.to_bits(), r.valid_cost.map(f64::to_bits)))
        .collect()
}

/// Waits (up to two minutes) until `ready` holds, failing if `child` ends first.
pub fn wait_until(child: &mut std::process::Child, what: &str, ready: impl Fn() -> bool) {
    let start = Instant::now();
    while !ready() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the run ended ({status}) before {what}");
        }
        assert!(start.elapsed() < Duration::from_secs(120), "no {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The message of the panic `check` raises (the panic hook silenced meanwhile), or `None` when
/// it returns.
pub fn panic_message(check: impl FnOnce() + std::panic::UnwindSafe) -> Option<String> {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let outcome = std::panic::catch_unwind(check);
    std::panic::set_hook(previous);
    let payload = outcome.err()?;
    let message = (payload.downcast_ref::<&str>().map(|m| m.to_string()))
        .or_else(|| payload.downcast_ref::<String>().cloned());
    Some(message.unwrap_or_default())
}

/// Every file under `dir`, recursively.
pub fn files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files(&path));
        } else {
            found.push(path);
        }
    }
    found
}

/// The epochs whose three checkpoint files are all in `dir`.
pub fn checkpointed(dir: &Path) -> Vec<usize> {
    (1..100)
        .filter(|e| {
            ["model", "optim", "scheduler"]
                .iter()
                .all(|p| dir.join(format!("checkpoint/{p}-{e}.mpk")).is_file())
        })
        .collect()
}

/// 4,000 synthetic training images in `tmp/data`: seconds a run, no real data needed.
pub fn synthetic_run(tmp: &Path) -> PathBuf {
    let data = tmp.join("data");
    synthetic_mnist(&data, 4200, 50);
    data
}

/// A small run on [`synthetic_run`]'s data: four epochs of 80 steps of a 64-unit model.
pub const SMALL: [&str; 5] = [
    "data.download=false",
    "data.validation_size=200",
    "training.epochs=4",
    "training.batch_size=50",
    "model.hidden_size=64",
];

/// Every file under `dir` with its bytes, to show that nothing in it changed.
pub fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut all: Vec<_> = files(dir)
        .into_iter()
        .map(|f| {
            let bytes = std::fs::read(&f).unwrap_or_default();
            (f, bytes)
        })
        .collect();
    all.sort();
    all
}

/// Sends `signal` to `child`.
pub fn signal(child: &std::process::Child, signal: i32) {
    // SAFETY: sends a signal to our own child process, which has not been waited for.
    assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
}

/// Runs a command an error message suggests, as a user would paste it into a shell (`sh -c`,
/// from `cwd`), with `mnist-autoencoder` standing for this build's binary.
pub fn paste(cwd: &Path, suggested: &str) -> Output {
    let line = suggested.replacen("mnist-autoencoder", &shell_quote(BIN), 1);
    let mut command = Command::new("sh");
    command.arg("-c").arg(line).current_dir(cwd);
    test_environment(&mut command);
    command.output().expect("sh runs")
}

fn shell_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', "'\\''"))
}

/// The command an error line suggests after `marker` (e.g. "continue with: "), to its end.
pub fn suggested<'a>(line: &'a str, marker: &str) -> &'a str {
    line.split(marker)
        .nth(1)
        .unwrap_or_else(|| panic!("no '{marker}' in: {line}"))
        .trim_end()
}

/// A PNG whose header promises `width x height` gray pixels, with no pixel data after it.
pub fn png_header(width: u32, height: u32) -> Vec<u8> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut chunk = |kind: &[u8], body: &[u8]| {
        png.extend_from_slice(&(body.len() as u32).to_be_bytes());
        let mut crc = flate2::Crc::new();
        crc.update(kind);
        crc.update(body);
        png.extend_from_slice(kind);
        png.extend_from_slice(body);
        png.extend_from_slice(&crc.sum().to_be_bytes());
    };
    let mut header = Vec::new();
    header.extend_from_slice(&width.to_be_bytes());
    header.extend_from_slice(&height.to_be_bytes());
    header.extend_from_slice(&[8, 0, 0, 0, 0]);
    chunk(b"IHDR", &header);
    // The start of the first row, compressed: a decoder needs the rest to go on.
    let mut row = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    row.write_all(&[0; 64]).unwrap();
    chunk(b"IDAT", &row.finish().unwrap());
    chunk(b"IEND", &[]);
    png
}

/// A model of `kind` with Keras's tutorial's settings: ReLU, binary cross-entropy, Glorot's
/// weights and zero biases.
pub fn keras_model(
    kind: mnist_autoencoder::model::ModelKind,
) -> mnist_autoencoder::model::AutoencoderConfig {
    use mnist_autoencoder::fused::Activation;
    use mnist_autoencoder::model::{AutoencoderConfig, Init, Loss};
    AutoencoderConfig::new()
        .with_kind(kind)
        .with_activation(Activation::Relu)
        .with_loss(Loss::Bce)
        .with_init(Init::Keras)
}
