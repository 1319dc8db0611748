//! Helpers shared by the test modules.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use flate2::Compression;
use flate2::write::GzEncoder;

pub const BIN: &str = env!("CARGO_BIN_EXE_mnist-autoencoder");

/// The real MNIST files: `$MNIST_DIR`, else `../shared/data/mnist` beside the checkout.
/// `None` (the test then says it skipped) unless `MNIST_REQUIRED=1`, as `.ci/run` sets.
pub fn real_mnist() -> Option<PathBuf> {
    let dir = std::env::var_os("MNIST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/mnist"));
    if dir.join("train-images-idx3-ubyte.gz").is_file() {
        return Some(dir);
    }
    assert!(
        std::env::var("MNIST_REQUIRED").as_deref() != Ok("1"),
        "MNIST_REQUIRED=1 but no MNIST in '{}'; set MNIST_DIR",
        dir.display()
    );
    eprintln!(
        "skipped: no real MNIST in '{}' (set MNIST_DIR to the folder with the four .gz files)",
        dir.display()
    );
    None
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
    // Mesa's Vulkan drivers print "XDG_RUNTIME_DIR is invalid or not set" on stderr when it is
    // unset (as in CI); the checks on our one-line errors must not count that driver notice.
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        command.env("XDG_RUNTIME_DIR", std::env::temp_dir());
    }
    command
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
