//! Downloading MNIST from a mirror, against a local HTTP server on 127.0.0.1.

use std::path::Path;

use mnist_autoencoder::data::download::{DownloadError, download_missing};
use mnist_autoencoder::data::{DatasetKind, LabeledImages, MnistPart};

use crate::common::{MNIST_FILES, serve};

fn real_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    MNIST_FILES
        .iter()
        .map(|stem| {
            let name = format!("{stem}.gz");
            let bytes = std::fs::read(dir.join(&name)).unwrap();
            (name, bytes)
        })
        .collect()
}

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn missing_files_are_fetched_verified_and_readable(source: &Path) {
    let url = serve(real_files(source), 8);
    let target = tempfile::tempdir().unwrap();
    let data = target.path().join("mnist");
    let fetched = download_missing(&data, &url, DatasetKind::Mnist).unwrap();
    assert_eq!(fetched.len(), 4);
    assert_eq!(
        LabeledImages::load(&data, MnistPart::Test).unwrap().len(),
        10_000
    );
    let mut names = leftovers(&data);
    names.sort();
    assert_eq!(
        names,
        [
            "t10k-images-idx3-ubyte.gz",
            "t10k-labels-idx1-ubyte.gz",
            "train-images-idx3-ubyte.gz",
            "train-labels-idx1-ubyte.gz"
        ]
    );
    // Present files are not fetched again.
    assert!(
        download_missing(&data, "http://127.0.0.1:1/", DatasetKind::Mnist)
            .unwrap()
            .is_empty()
    );
}

fn a_corrupted_file_is_refused_and_nothing_is_left(source: &Path) {
    let mut files = real_files(source);
    // Damage the first file served (train images): one flipped byte in the middle.
    let body = &mut files[0].1;
    let middle = body.len() / 2;
    body[middle] ^= 0xff;
    let url = serve(files, 4);
    let target = tempfile::tempdir().unwrap();
    let error = download_missing(target.path(), &url, DatasetKind::Mnist).unwrap_err();
    assert!(matches!(error, DownloadError::Checksum { .. }), "{error}");
    let message = error.to_string();
    assert!(
        message.contains("train-images-idx3-ubyte.gz is not the original MNIST file"),
        "{message}"
    );
    assert!(message.contains("nothing was saved"), "{message}");
    assert_eq!(leftovers(target.path()), Vec::<String>::new());
}

fn a_wrong_file_from_the_mirror_is_refused_without_real_data_too() {
    let files = MNIST_FILES
        .iter()
        .map(|stem| (format!("{stem}.gz"), b"<html>moved</html>".to_vec()))
        .collect();
    let url = serve(files, 4);
    let target = tempfile::tempdir().unwrap();
    let error = download_missing(target.path(), &url, DatasetKind::Mnist).unwrap_err();
    assert!(matches!(error, DownloadError::Checksum { .. }), "{error}");
    assert_eq!(leftovers(target.path()), Vec::<String>::new());
}

fn a_404_says_where_to_put_the_files() {
    let url = serve(Vec::new(), 4);
    let target = tempfile::tempdir().unwrap();
    let message = download_missing(target.path(), &url, DatasetKind::Mnist)
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("cannot download http://127.0.0.1:"),
        "{message}"
    );
    assert!(message.contains("404"), "{message}");
    assert!(message.contains("put the four MNIST files"), "{message}");
    assert!(
        message.contains(&target.path().display().to_string()),
        "{message}"
    );
}

fn an_unreachable_mirror_ends_in_a_clear_message() {
    let target = tempfile::tempdir().unwrap();
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    let message = download_missing(
        target.path(),
        "http://127.0.0.1:1/mnist",
        DatasetKind::Mnist,
    )
    .unwrap_err()
    .to_string();
    assert!(
        message.starts_with("cannot download http://127.0.0.1:1/mnist/train-images-idx3-ubyte.gz"),
        "{message}"
    );
    assert!(
        message.contains("without network access, put the four MNIST files"),
        "{message}"
    );
    assert_eq!(message.lines().count(), 1);
}

fn fashion_mnist_files_are_fetched_and_checked_as_idx(fashion: &Path) {
    let url = serve(real_files(fashion), 8);
    let target = tempfile::tempdir().unwrap();
    let data = target.path().join("fashion");
    let fetched = download_missing(&data, &url, DatasetKind::FashionMnist).unwrap();
    assert_eq!(fetched.len(), 4);
    assert_eq!(
        LabeledImages::load(&data, MnistPart::Train).unwrap().len(),
        60_000
    );

    // A mirror serving the wrong file under a name: refused, nothing kept.
    let mut files = real_files(fashion);
    let labels = files[3].1.clone();
    files[2].1 = labels;
    let url = serve(files, 8);
    let other = target.path().join("other");
    let error = download_missing(&other, &url, DatasetKind::FashionMnist).unwrap_err();
    let message = error.to_string();
    assert!(matches!(error, DownloadError::NotIdx { .. }), "{message}");
    assert!(
        message.contains("t10k-images-idx3-ubyte.gz") && message.contains("Fashion-MNIST"),
        "{message}"
    );
    assert!(
        !leftovers(&other)
            .iter()
            .any(|n| n.starts_with("t10k-images")),
        "{:?}",
        leftovers(&other)
    );
}

crate::trials![
    mnist missing_files_are_fetched_verified_and_readable,
    mnist a_corrupted_file_is_refused_and_nothing_is_left,
    plain a_wrong_file_from_the_mirror_is_refused_without_real_data_too,
    plain a_404_says_where_to_put_the_files,
    plain an_unreachable_mirror_ends_in_a_clear_message,
    fashion fashion_mnist_files_are_fetched_and_checked_as_idx,
];
