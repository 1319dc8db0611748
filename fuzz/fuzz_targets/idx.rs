//! Fuzzes the IDX reader with arbitrary bytes, raw and gzip-compressed: it must return an error
//! or a result that agrees with its header, never panic, hang or allocate for a count it has
//! not seen the bytes of. Run: `cargo +nightly fuzz run idx` (see README, "Reliability").
#![no_main]

use libfuzzer_sys::fuzz_target;

/// The reader's source file itself, with the two constants it takes from the crate root.
#[path = "../../src/data/idx.rs"]
#[allow(dead_code)]
mod idx;

const IMAGE_SIDE: usize = 28;
const IMAGE_PIXELS: usize = IMAGE_SIDE * IMAGE_SIDE;

fuzz_target!(|data: &[u8]| {
    if let Ok(images) = idx::read_images(data, "fuzz") {
        assert_eq!(images.pixels.len() % IMAGE_PIXELS, 0);
        let count = u32::from_be_bytes(header(&payload(data), 4));
        assert_eq!(images.len(), count as usize);
    }
    if let Ok(labels) = idx::read_labels(data, "fuzz") {
        assert!(labels.iter().all(|&l| l <= 9));
        let count = u32::from_be_bytes(header(&payload(data), 4));
        assert_eq!(labels.len(), count as usize);
    }
});

/// The decompressed bytes when `data` is gzip, else `data`.
fn payload(data: &[u8]) -> Vec<u8> {
    use std::io::Read;
    if data.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        let _ = flate2::read::GzDecoder::new(data).read_to_end(&mut out);
        out
    } else {
        data.to_vec()
    }
}

fn header(bytes: &[u8], at: usize) -> [u8; 4] {
    bytes[at..at + 4].try_into().unwrap()
}
