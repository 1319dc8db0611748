//! What the IDX reader promises about a file it accepts, checked against the file's own bytes:
//! the fuzz target runs it on every input, and the tests run it on the corpus and on readers
//! that break a promise. Plain data in, a panic on a broken promise.

use std::io::Read;

/// The bytes after gzip decompression when `data` is gzip, else `data`.
fn payload(data: &[u8]) -> Vec<u8> {
    if !data.starts_with(&[0x1f, 0x8b]) {
        return data.to_vec();
    }
    let mut out = Vec::new();
    let _ = flate2::read::GzDecoder::new(data).read_to_end(&mut out);
    out
}

/// The `i`th big-endian header word; panics when the header is short.
fn word(bytes: &[u8], i: usize) -> u32 {
    let end = 4 * i + 4;
    assert!(
        bytes.len() >= end,
        "accepted a file whose header ends after {} bytes",
        bytes.len()
    );
    u32::from_be_bytes(bytes[4 * i..end].try_into().expect("4 bytes"))
}

/// `pixels`: what the image reader returned for `data`, if it accepted it.
pub fn images(data: &[u8], pixels: Option<&[u8]>) {
    let Some(pixels) = pixels else { return };
    let bytes = payload(data);
    let magic = word(&bytes, 0);
    assert_eq!(magic, 2051, "accepted an image file with magic {magic}");
    let (count, rows, cols) = (word(&bytes, 1), word(&bytes, 2), word(&bytes, 3));
    assert_eq!((rows, cols), (28, 28), "accepted {rows}x{cols} images");
    assert_eq!(
        pixels.len(),
        count as usize * 784,
        "pixels for other than {count} images"
    );
    assert!(
        pixels == &bytes[16..],
        "the pixels are not the bytes after the header"
    );
}

/// `labels`: what the label reader returned for `data`, if it accepted it.
pub fn labels(data: &[u8], labels: Option<&[u8]>) {
    let Some(labels) = labels else { return };
    let bytes = payload(data);
    let magic = word(&bytes, 0);
    assert_eq!(magic, 2049, "accepted a label file with magic {magic}");
    let count = word(&bytes, 1);
    assert_eq!(labels.len(), count as usize, "not {count} labels");
    assert!(
        labels == &bytes[8..],
        "the labels are not the bytes after the header"
    );
    assert!(labels.iter().all(|&l| l <= 9), "accepted a label above 9");
}
