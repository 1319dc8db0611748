//! Reader for the IDX files MNIST ships in (`train-images-idx3-ubyte[.gz]` and friends).
//!
//! Format: a big-endian `u32` magic (2051 for images, 2049 for labels), a `u32` item count, for
//! images `u32` rows and `u32` columns, then one unsigned byte per pixel or label. Files may be
//! gzip-compressed; compression is detected from the stream's first bytes, not from the name.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;
use thiserror::Error;

/// Side of an MNIST image in pixels.
pub(crate) const IMAGE_SIDE: usize = 28;
/// Pixels in an MNIST image, the model's input and output width.
pub const IMAGE_PIXELS: usize = IMAGE_SIDE * IMAGE_SIDE;

/// Magic number of an IDX file of unsigned-byte images (3 dimensions).
pub(crate) const IMAGES_MAGIC: u32 = 2051;
/// Magic number of an IDX file of unsigned-byte labels (1 dimension).
pub(crate) const LABELS_MAGIC: u32 = 2049;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// What can be wrong with an IDX file. Every variant names the file it is about.
#[derive(Debug, Error)]
pub enum IdxError {
    #[error("cannot read '{}': {source}", file.display())]
    Io {
        file: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("'{}' is truncated: its header ends after {got} of {expected} bytes", file.display())]
    TruncatedHeader {
        file: PathBuf,
        got: usize,
        expected: usize,
    },
    #[error(
        "'{}' is not an IDX {kind} file: magic number is {found}, expected {expected}{hint}", file.display())]
    WrongMagic {
        file: PathBuf,
        kind: &'static str,
        found: u32,
        expected: u32,
        hint: &'static str,
    },
    #[error(
        "'{}' holds {rows}x{cols} images; this model needs {side}x{side}", file.display(),
        side = IMAGE_SIDE)]
    WrongDimensions { file: PathBuf, rows: u32, cols: u32 },
    #[error(
        "'{}' is truncated: its header promises {count} items ({expected} data bytes) but only {got} bytes follow", file.display())]
    TruncatedBody {
        file: PathBuf,
        count: u32,
        expected: u64,
        got: u64,
    },
    #[error(
        "'{}' has data after its last item: the header promises {count} items ({expected} data bytes)", file.display())]
    TrailingData {
        file: PathBuf,
        count: u32,
        expected: u64,
    },
    #[error("'{}' holds a label of {label} at item {index}; labels must be 0 to 9", file.display())]
    BadLabel {
        file: PathBuf,
        index: usize,
        label: u8,
    },
}

/// Images of one IDX file: `count * IMAGE_PIXELS` bytes, row-major, one image after another.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxImages {
    pub pixels: Vec<u8>,
}

impl IdxImages {
    pub fn len(&self) -> usize {
        self.pixels.len() / IMAGE_PIXELS
    }

    pub fn is_empty(&self) -> bool {
        self.pixels.is_empty()
    }
}

/// Reads an IDX image file from disk (gzip or raw).
pub(crate) fn read_images_file(path: &Path) -> Result<IdxImages, IdxError> {
    read_images(open(path)?, path)
}

/// Reads an IDX label file from disk (gzip or raw).
pub(crate) fn read_labels_file(path: &Path) -> Result<Vec<u8>, IdxError> {
    read_labels(open(path)?, path)
}

fn open(path: &Path) -> Result<File, IdxError> {
    File::open(path).map_err(|source| IdxError::Io {
        file: path.to_owned(),
        source,
    })
}

/// Reads IDX images of `IMAGE_SIDE x IMAGE_SIDE` pixels; `name` is used in error messages.
pub fn read_images(reader: impl Read, name: impl AsRef<Path>) -> Result<IdxImages, IdxError> {
    let name = name.as_ref();
    let mut reader = decompressed(reader, name)?;
    check_magic(&mut reader, name, "images", IMAGES_MAGIC)?;
    let [count, rows, cols] = read_header::<3>(&mut reader, name, 4)?;
    if rows as usize != IMAGE_SIDE || cols as usize != IMAGE_SIDE {
        return Err(IdxError::WrongDimensions {
            file: name.to_owned(),
            rows,
            cols,
        });
    }
    let pixels = read_body(&mut reader, name, count, IMAGE_PIXELS as u64)?;
    Ok(IdxImages { pixels })
}

/// Reads IDX labels (each 0 to 9); `name` is used in error messages.
pub fn read_labels(reader: impl Read, name: impl AsRef<Path>) -> Result<Vec<u8>, IdxError> {
    let name = name.as_ref();
    let mut reader = decompressed(reader, name)?;
    check_magic(&mut reader, name, "labels", LABELS_MAGIC)?;
    let [count] = read_header::<1>(&mut reader, name, 4)?;
    let labels = read_body(&mut reader, name, count, 1)?;
    if let Some((index, &label)) = labels.iter().enumerate().find(|(_, l)| **l > 9) {
        return Err(IdxError::BadLabel {
            file: name.to_owned(),
            index,
            label,
        });
    }
    Ok(labels)
}

/// Wraps the reader in a gzip decoder when the stream starts with the gzip magic bytes.
fn decompressed<'a>(reader: impl Read + 'a, name: &Path) -> Result<Box<dyn Read + 'a>, IdxError> {
    let mut reader = BufReader::new(reader);
    let mut start = [0u8; 2];
    let got = read_up_to(&mut reader, &mut start, name)?;
    let head = io::Cursor::new(start[..got].to_vec()).chain(reader);
    if got == 2 && start == GZIP_MAGIC {
        Ok(Box::new(GzDecoder::new(head)))
    } else {
        Ok(Box::new(head))
    }
}

/// Reads `N` big-endian `u32`s; `before` header bytes were read already (for the message).
fn read_header<const N: usize>(
    reader: &mut impl Read,
    name: &Path,
    before: usize,
) -> Result<[u32; N], IdxError> {
    let mut bytes = vec![0u8; 4 * N];
    let got = read_up_to(reader, &mut bytes, name)?;
    if got < bytes.len() {
        return Err(IdxError::TruncatedHeader {
            file: name.to_owned(),
            got: before + got,
            expected: before + bytes.len(),
        });
    }
    Ok(std::array::from_fn(|i| {
        u32::from_be_bytes(bytes[4 * i..4 * i + 4].try_into().expect("4-byte slice"))
    }))
}

/// Reads the magic number first, so a file of the wrong kind is named as such even when it is
/// too short to be the kind expected.
fn check_magic(
    reader: &mut impl Read,
    name: &Path,
    kind: &'static str,
    expected: u32,
) -> Result<(), IdxError> {
    let [found] = read_header::<1>(reader, name, 0)?;
    if found == expected {
        return Ok(());
    }
    let hint = match found {
        IMAGES_MAGIC => " (this is an image file; a label file was expected)",
        LABELS_MAGIC => " (this is a label file; an image file was expected)",
        _ => "",
    };
    Err(IdxError::WrongMagic {
        file: name.to_owned(),
        kind,
        found,
        expected,
        hint,
    })
}

/// Reads exactly `count * item_size` bytes and checks nothing follows.
///
/// Memory grows with the bytes actually present, never with the header's claim, so a header
/// promising billions of items costs nothing before the data runs out.
fn read_body(
    reader: &mut impl Read,
    name: &Path,
    count: u32,
    item_size: u64,
) -> Result<Vec<u8>, IdxError> {
    let expected = u64::from(count) * item_size;
    let mut data = Vec::new();
    let got = reader
        .take(expected + 1)
        .read_to_end(&mut data)
        .map_err(|source| io_error(name, source))? as u64;
    if got < expected {
        return Err(IdxError::TruncatedBody {
            file: name.to_owned(),
            count,
            expected,
            got,
        });
    }
    if got > expected {
        return Err(IdxError::TrailingData {
            file: name.to_owned(),
            count,
            expected,
        });
    }
    Ok(data)
}

/// Fills as much of `buf` as the stream holds; returns how many bytes were read.
fn read_up_to(reader: &mut impl Read, buf: &mut [u8], name: &Path) -> Result<usize, IdxError> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(source) => return Err(io_error(name, source)),
        }
    }
    Ok(filled)
}

fn io_error(name: &Path, source: io::Error) -> IdxError {
    IdxError::Io {
        file: name.to_owned(),
        source,
    }
}
