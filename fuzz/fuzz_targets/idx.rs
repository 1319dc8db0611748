//! Fuzzes the IDX reader with arbitrary bytes, raw and gzip-compressed: it must return an error
//! or exactly what the file holds (`fuzz/check.rs`), and never panic, hang or allocate for a
//! count it has not seen the bytes of. Run: `cargo +nightly fuzz run idx` (docs/development.md).
#![no_main]

use libfuzzer_sys::fuzz_target;

/// The reader's source file itself, with the two constants it takes from the crate root.
#[path = "../../src/data/idx.rs"]
#[allow(dead_code)]
mod idx;

#[path = "../check.rs"]
mod check;

const IMAGE_SIDE: usize = 28;
const IMAGE_PIXELS: usize = IMAGE_SIDE * IMAGE_SIDE;

fuzz_target!(|data: &[u8]| {
    let images = idx::read_images(data, "fuzz").ok();
    check::images(data, images.as_ref().map(|i| &i.pixels[..]));
    let labels = idx::read_labels(data, "fuzz").ok();
    check::labels(data, labels.as_deref());
});
