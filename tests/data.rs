//! The IDX reader on bytes built here, the MNIST folder checks, the split, and the Burn
//! `Dataset` + `Batcher`.

use std::io::Cursor;
use std::path::Path;

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::Dataset;
use mnist_autoencoder::backend::Backend;
use mnist_autoencoder::data::idx::{IdxError, read_images, read_labels};
use mnist_autoencoder::data::{
    DataError, LabeledImages, MnistBatch, MnistBatcher, MnistPart, split_train_valid,
};

use crate::common::{
    gzip, idx_images, idx_labels, panic_message, synthetic_mnist, synthetic_pixels,
};

fn reads_raw_and_gzip_images_alike() {
    let pixels = synthetic_pixels(3);
    let raw = idx_images(2051, 3, 28, 28, &pixels);
    let plain = read_images(Cursor::new(raw.clone()), "raw").unwrap();
    let packed = read_images(Cursor::new(gzip(&raw)), "packed").unwrap();
    assert_eq!(plain.len(), 3);
    assert!(!plain.is_empty());
    let none = read_images(Cursor::new(idx_images(2051, 0, 28, 28, &[])), "none").unwrap();
    assert!(none.is_empty());
    assert_eq!(none.len(), 0);
    assert_eq!(plain.pixels, pixels);
    assert_eq!(packed, plain);
}

fn reads_labels() {
    let labels = read_labels(Cursor::new(idx_labels(2049, 4, &[5, 0, 4, 9])), "l").unwrap();
    assert_eq!(labels, [5, 0, 4, 9]);
}

fn image_error(bytes: Vec<u8>) -> String {
    let error = read_images(Cursor::new(bytes), "bad-images.idx").unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("'bad-images.idx'"),
        "file not named: {message}"
    );
    message
}

fn a_label_file_read_as_images_is_named_as_such() {
    let message = image_error(idx_labels(2049, 2, &[1, 2]));
    assert!(
        message.contains("magic number is 2049, expected 2051"),
        "{message}"
    );
    assert!(message.contains("this is a label file"), "{message}");
}

fn an_image_file_read_as_labels_is_named_as_such() {
    let pixels = synthetic_pixels(1);
    let bytes = idx_images(2051, 1, 28, 28, &pixels);
    let message = read_labels(Cursor::new(bytes), "l")
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("magic number is 2051, expected 2049"),
        "{message}"
    );
    assert!(message.contains("this is an image file"), "{message}");
}

/// A reader that is interrupted before every read, as a read can be by a signal.
struct Interrupted<R> {
    inner: R,
    interrupt: bool,
}

impl<R: std::io::Read> std::io::Read for Interrupted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.interrupt = !self.interrupt;
        if self.interrupt {
            return Err(std::io::ErrorKind::Interrupted.into());
        }
        self.inner.read(buf)
    }
}

fn an_interrupted_read_is_retried() {
    let pixels = synthetic_pixels(2);
    let interrupted = |bytes: Vec<u8>| Interrupted {
        inner: Cursor::new(bytes),
        interrupt: false,
    };
    let images = read_images(interrupted(idx_images(2051, 2, 28, 28, &pixels)), "i").unwrap();
    assert_eq!(images.pixels, pixels);
    let labels = read_labels(interrupted(idx_labels(2049, 2, &[3, 7])), "l").unwrap();
    assert_eq!(labels, [3, 7]);
}

fn a_file_of_another_kind_is_rejected_by_its_magic() {
    let message = image_error(b"<html>not found</html> and then some".to_vec());
    assert!(message.contains("is not an IDX images file"), "{message}");
    assert!(message.contains("expected 2051"), "{message}");
}

fn a_truncated_header_reports_the_bytes_found() {
    let mut bytes = idx_images(2051, 1, 28, 28, &[]);
    bytes.truncate(10);
    let message = image_error(bytes);
    assert!(
        message.contains("header ends after 10 of 16 bytes"),
        "{message}"
    );
}

fn a_truncated_body_reports_promised_and_found_sizes() {
    let message = image_error(idx_images(2051, 2, 28, 28, &[0; 1000]));
    assert!(
        message.contains("promises 2 items (1568 data bytes) but only 1000 bytes follow"),
        "{message}"
    );
}

fn a_header_claiming_four_billion_images_fails_on_length_without_allocating_for_them() {
    // Allocating for the claim (3.4 TB) would abort the test process.
    let message = image_error(idx_images(2051, u32::MAX, 28, 28, &[0; 784]));
    assert!(message.contains("promises 4294967295 items"), "{message}");
    assert!(message.contains("only 784 bytes follow"), "{message}");
}

fn trailing_data_is_rejected() {
    let message = image_error(idx_images(2051, 1, 28, 28, &[0; 785]));
    assert!(message.contains("data after its last item"), "{message}");
    assert!(message.contains("1 items (784 data bytes)"), "{message}");
}

fn images_of_another_size_are_rejected_with_their_dimensions() {
    for (rows, cols) in [(32, 32), (27, 28), (28, 27)] {
        let pixels = vec![0; rows as usize * cols as usize];
        let message = image_error(idx_images(2051, 1, rows, cols, &pixels));
        assert!(
            message.contains(&format!(
                "holds {rows}x{cols} images; this model needs 28x28"
            )),
            "{message}"
        );
    }
}

fn a_corrupt_gzip_stream_names_the_file() {
    let mut bytes = gzip(&idx_images(2051, 2, 28, 28, &synthetic_pixels(2)));
    let middle = bytes.len() / 2;
    bytes.truncate(middle);
    let message = image_error(bytes);
    assert!(
        message.starts_with("cannot read 'bad-images.idx'"),
        "{message}"
    );
}

fn labels_above_nine_are_rejected_with_their_position() {
    let error =
        read_labels(Cursor::new(idx_labels(2049, 3, &[1, 12, 3])), "labels.idx").unwrap_err();
    assert!(matches!(
        error,
        IdxError::BadLabel {
            index: 1,
            label: 12,
            ..
        }
    ));
    assert!(
        error
            .to_string()
            .contains("'labels.idx' holds a label of 12 at item 1")
    );
}

fn image_and_label_counts_must_agree() {
    let dir = tempfile::tempdir().unwrap();
    synthetic_mnist(dir.path(), 20, 10);
    std::fs::write(
        dir.path().join("train-labels-idx1-ubyte.gz"),
        gzip(&idx_labels(2049, 19, &[0; 19])),
    )
    .unwrap();
    let error = LabeledImages::load(dir.path(), MnistPart::Train).unwrap_err();
    let message = error.to_string();
    assert!(matches!(
        error,
        DataError::CountMismatch {
            image_count: 20,
            label_count: 19,
            ..
        }
    ));
    assert!(
        message.contains("train-images-idx3-ubyte.gz' holds 20 images"),
        "{message}"
    );
    assert!(
        message.contains("train-labels-idx1-ubyte.gz' holds 19 labels"),
        "{message}"
    );
}

fn uncompressed_files_are_found_too() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("t10k-images-idx3-ubyte"),
        idx_images(2051, 2, 28, 28, &synthetic_pixels(2)),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("t10k-labels-idx1-ubyte"),
        idx_labels(2049, 2, &[7, 2]),
    )
    .unwrap();
    let test = LabeledImages::load(dir.path(), MnistPart::Test).unwrap();
    assert_eq!(test.len(), 2);
}

fn a_missing_folder_or_file_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere");
    let message = LabeledImages::load(&missing, MnistPart::Train)
        .unwrap_err()
        .to_string();
    assert!(message.contains("nowhere' does not exist"), "{message}");
    assert!(message.contains("data.dir"), "{message}");
    let message = LabeledImages::load(dir.path(), MnistPart::Test)
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("no t10k-images-idx3-ubyte[.gz]"),
        "{message}"
    );
    assert!(message.contains("data.download = true"), "{message}");
}

fn the_split_holds_out_the_first_images_and_limits_the_rest() {
    let images = LabeledImages::new(synthetic_pixels(10), (0..10).collect());
    let (train, valid) = split_train_valid(&images, 3, 0);
    assert_eq!((train.len(), valid.len()), (7, 3));
    assert_eq!(valid.get(0).unwrap().label, 0);
    assert_eq!(train.get(0).unwrap().label, 3);
    assert!(train.get(7).is_none());
    let (train, _) = split_train_valid(&images, 3, 4);
    assert_eq!(train.len(), 4);
    assert_eq!(train.get(3).unwrap().label, 6);
}

fn items_are_scaled_to_the_unit_interval_and_batched_row_by_row() {
    let pixels = synthetic_pixels(2);
    let images = LabeledImages::new(pixels.clone(), vec![4, 2]);
    let dataset = images.dataset();
    let item = dataset.get(1).unwrap();
    assert_eq!(item.label, 2);
    for (scaled, raw) in item.pixels.iter().zip(&pixels[784..]) {
        assert_eq!(*scaled, f32::from(*raw) / 255.0);
    }
    let batch: MnistBatch<Backend> =
        MnistBatcher.batch(vec![dataset.get(0).unwrap(), item], &Default::default());
    assert_eq!(batch.images.dims(), [2, 784]);
    let values = batch.images.into_data().to_vec::<f32>().unwrap();
    assert_eq!(values[784 + 30], f32::from(pixels[784 + 30]) / 255.0);
    assert!(values.iter().all(|v| (0.0..=1.0).contains(v)));
}

fn real_mnist_has_the_published_counts_and_first_labels(dir: &Path) {
    let train = LabeledImages::load(dir, MnistPart::Train).unwrap();
    let test = LabeledImages::load(dir, MnistPart::Test).unwrap();
    assert_eq!((train.len(), test.len()), (60_000, 10_000));
    let dataset = train.dataset();
    let first: Vec<u8> = (0..5).map(|i| dataset.get(i).unwrap().label).collect();
    assert_eq!(first, [5, 0, 4, 1, 9]);
    let mut counts = [0usize; 10];
    let test_set = test.dataset();
    for i in 0..test_set.len() {
        counts[test_set.get(i).unwrap().label as usize] += 1;
    }
    assert_eq!(
        counts,
        [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    );
}

/// Gaussian noise adds N(0, level^2) to each pixel: mean, spread and independence of neighbours
/// measured on 78,400 pixels of mid-gray (0.5), where clipping to [0, 1] is 5 standard deviations
/// away at these levels.
fn gaussian_noise_has_the_configured_mean_and_spread() {
    use mnist_autoencoder::data::Noise;
    use mnist_autoencoder::data::NoiseKind;
    let clean = vec![0.5f32; 100 * 784];
    for level in [0.1f32, 0.05] {
        let noise = Noise {
            kind: NoiseKind::Gaussian,
            level,
        };
        let noisy = noise.apply(&clean, 11).unwrap();
        let d: Vec<f64> = noisy.iter().map(|&v| f64::from(v) - 0.5).collect();
        let n = d.len() as f64;
        let mean = d.iter().sum::<f64>() / n;
        let std = (d.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n).sqrt();
        let lag1 = d.windows(2).map(|w| w[0] * w[1]).sum::<f64>() / (n - 1.0) / std.powi(2);
        let level = f64::from(level);
        // Three standard errors: the mean's is level / sqrt(n), the std's level / sqrt(2n).
        assert!(
            mean.abs() < 3.0 * level / n.sqrt(),
            "level {level}: mean {mean}"
        );
        assert!(
            (std - level).abs() < 3.0 * level / (2.0 * n).sqrt(),
            "level {level}: std {std}"
        );
        assert!(
            lag1.abs() < 3.0 / n.sqrt(),
            "level {level}: neighbours correlate {lag1}"
        );
    }
}

/// The outcome of a read as the name of its `IdxError` variant, or `Ok`.
fn outcome<T>(result: Result<T, IdxError>) -> String {
    match result {
        Ok(_) => "Ok".to_owned(),
        Err(e) => format!("{e:?}")
            .split(|c: char| !c.is_alphanumeric())
            .next()
            .unwrap_or_default()
            .to_owned(),
    }
}

/// The fuzz target's check, on files a reader that skipped its own checks would accept.
#[path = "../fuzz/check.rs"]
mod fuzz_check;

/// Whether `check` panics.
fn fails(check: impl FnOnce() + std::panic::UnwindSafe) -> bool {
    panic_message(check).is_some()
}

fn the_fuzz_check_fails_a_reader_that_breaks_a_promise() {
    let pixels = synthetic_pixels(2);
    let good = idx_images(2051, 2, 28, 28, &pixels);
    // What the reader returns for a good file passes, raw and gzip-compressed.
    fuzz_check::images(&good, Some(&pixels));
    fuzz_check::images(&gzip(&good), Some(&pixels));
    let labels = [3, 9];
    fuzz_check::labels(&idx_labels(2049, 2, &labels), Some(&labels));

    // A reader that accepted any of these would be caught.
    let wrong_magic = idx_images(2049, 2, 28, 28, &pixels);
    assert!(fails(|| fuzz_check::images(&wrong_magic, Some(&pixels))));
    let narrow = idx_images(2051, 2, 27, 28, &pixels[..2 * 27 * 28]);
    assert!(fails(|| fuzz_check::images(
        &narrow,
        Some(&pixels[..2 * 27 * 28])
    )));
    let shifted = &pixels[1..];
    assert!(fails(|| fuzz_check::images(&good, Some(shifted))));
    let trailing = [&good[..], &[0]].concat();
    assert!(fails(|| fuzz_check::images(&trailing, Some(&pixels))));
    let short = [&good[..], &[0; 784]].concat();
    assert!(fails(|| fuzz_check::images(&short, Some(&pixels))));
    assert!(fails(|| fuzz_check::images(&good[..10], Some(&[]))));
    let bad_label = idx_labels(2049, 2, &[3, 12]);
    assert!(fails(|| fuzz_check::labels(&bad_label, Some(&[3, 12]))));
    let label_magic = idx_labels(2051, 2, &labels);
    assert!(fails(|| fuzz_check::labels(&label_magic, Some(&labels))));
}

/// One input per distinct outcome the fuzzer reached (`fuzz/`, see the README's reliability
/// section), named `images-<outcome>.labels-<outcome>.<gz|raw>`: both readers must still end
/// that way, and never panic.
fn fuzz_corpus_cases_keep_their_outcomes() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-regressions");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let parts: Vec<&str> = name.split('.').collect();
        let [images, labels, kind] = parts[..] else {
            panic!("{name}: not images-X.labels-Y.gz|raw")
        };
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(kind == "gz", bytes.starts_with(&[0x1f, 0x8b]), "{name}");
        assert_eq!(
            format!("images-{}", outcome(read_images(&bytes[..], &name))),
            images,
            "{name}"
        );
        assert_eq!(
            format!("labels-{}", outcome(read_labels(&bytes[..], &name))),
            labels,
            "{name}"
        );
        // What the readers accept is exactly what the file holds.
        let images = read_images(&bytes[..], &name).ok();
        fuzz_check::images(&bytes, images.as_ref().map(|i| &i.pixels[..]));
        let labels = read_labels(&bytes[..], &name).ok();
        fuzz_check::labels(&bytes, labels.as_deref());
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} cases");
}

crate::trials![
    plain reads_raw_and_gzip_images_alike,
    plain reads_labels,
    plain a_label_file_read_as_images_is_named_as_such,
    plain an_image_file_read_as_labels_is_named_as_such,
    plain an_interrupted_read_is_retried,
    plain a_file_of_another_kind_is_rejected_by_its_magic,
    plain a_truncated_header_reports_the_bytes_found,
    plain a_truncated_body_reports_promised_and_found_sizes,
    plain a_header_claiming_four_billion_images_fails_on_length_without_allocating_for_them,
    plain trailing_data_is_rejected,
    plain images_of_another_size_are_rejected_with_their_dimensions,
    plain a_corrupt_gzip_stream_names_the_file,
    plain labels_above_nine_are_rejected_with_their_position,
    plain image_and_label_counts_must_agree,
    plain uncompressed_files_are_found_too,
    plain a_missing_folder_or_file_says_what_to_do,
    plain the_split_holds_out_the_first_images_and_limits_the_rest,
    plain items_are_scaled_to_the_unit_interval_and_batched_row_by_row,
    mnist real_mnist_has_the_published_counts_and_first_labels,
    plain gaussian_noise_has_the_configured_mean_and_spread,
    plain the_fuzz_check_fails_a_reader_that_breaks_a_promise,
    plain fuzz_corpus_cases_keep_their_outcomes,
];
