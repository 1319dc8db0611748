use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::Dataset;
use burn::prelude::*;
use sha2::{Digest, Sha256};
use thiserror::Error;

use super::files::{self, DataFile, MnistPart};
use super::idx::{self, IMAGE_PIXELS, IdxError};
use super::kind::DatasetKind;
use crate::simd::{self, Simd, multiversion};

/// Appends each byte's pixel value, `byte / 255` as an f32 division rounds it, to `out`.
fn extend_scaled(raw: &[u8], out: &mut Vec<f32>) {
    extend_scaled_on(simd::cap(), raw, out);
}

/// [`extend_scaled`] on the path `simd` (or the widest below it this processor has). With FMA
/// (AVX2 and AVX-512), no division: the product `q` by 1/255 corrected once by its residual,
/// `q + (byte - 255 q) / 255`, in about half the time of divisions (which wait on the divider)
/// and to the same value for every byte (the test below checks all 256 on each path); without
/// FMA, where a fused multiply-add is a library call, the division.
fn extend_scaled_on(simd: Simd, raw: &[u8], out: &mut Vec<f32>) {
    if simd.min(simd::detected()) >= Simd::Avx2 {
        corrected_on(simd, raw, out);
    } else {
        divided_on(simd, raw, out);
    }
}

multiversion! {
    @on fn corrected_on(raw: &[u8], out: &mut Vec<f32>) {
        const INVERSE: f32 = 1.0 / 255.0;
        out.extend(raw.iter().map(|&byte| {
            let x = f32::from(byte);
            let q = x * INVERSE;
            (-q).mul_add(255.0, x).mul_add(INVERSE, q)
        }));
    }
}

multiversion! {
    @on fn divided_on(raw: &[u8], out: &mut Vec<f32>) {
        out.extend(raw.iter().map(|&byte| f32::from(byte) / 255.0));
    }
}

#[derive(Debug, Error)]
pub enum DataError {
    #[error(transparent)]
    Idx(#[from] IdxError),
    #[error(
        "'{}' holds {image_count} images but '{}' holds {label_count} labels; use files of the same MNIST part",
        images.display(),
        labels.display()
    )]
    CountMismatch {
        images: PathBuf,
        labels: PathBuf,
        image_count: usize,
        label_count: usize,
    },
    #[error(
        "data directory '{}' does not exist; set data.dir to the folder with the MNIST files, or set data.download = true",
        dir.display()
    )]
    NoDirectory { dir: PathBuf },
    #[error(
        "no {stem}[.gz] in '{}'; put the four MNIST files there, set data.dir to where they are, or set data.download = true",
        dir.display()
    )]
    MissingFile { dir: PathBuf, stem: &'static str },
    #[error(
        "data.dir '{}' is a file, not a folder; set data.dir to the folder that holds the four MNIST files",
        dir.display()
    )]
    NotAFolder { dir: PathBuf },
    #[error(
        "'{}' is damaged ({reason}){checksum}; delete it and run again with data.download = true to fetch it again, or put a good copy there",
        file.display()
    )]
    Damaged {
        file: PathBuf,
        reason: String,
        /// What its SHA-256 says, where the published one is known.
        checksum: String,
    },
    #[error(transparent)]
    Download(#[from] super::download::DownloadError),
    #[error(
        "data.validation_size = {validation_size}: must be below the {images} training images in '{}'",
        dir.display()
    )]
    ValidationTooLarge {
        dir: PathBuf,
        validation_size: usize,
        images: usize,
    },
}

/// Finds `<stem>.gz` or `<stem>` in `dir`.
pub(crate) fn find_file(dir: &Path, stem: &'static str) -> Result<PathBuf, DataError> {
    if dir.exists() && !dir.is_dir() {
        return Err(DataError::NotAFolder {
            dir: dir.to_owned(),
        });
    }
    if !dir.is_dir() {
        return Err(DataError::NoDirectory {
            dir: dir.to_owned(),
        });
    }
    files::present(dir, stem).ok_or_else(|| DataError::MissingFile {
        dir: dir.to_owned(),
        stem,
    })
}

/// `error` reading `path` as [`DataError::Damaged`] when it means the file is cut short or
/// corrupt, as it is otherwise.
fn damaged(path: &Path, error: IdxError, dataset: Option<DatasetKind>) -> DataError {
    let reason = match &error {
        IdxError::Io { source, .. } => source.to_string(),
        IdxError::TruncatedHeader { got, expected, .. } => {
            format!("its header ends after {got} of {expected} bytes")
        }
        IdxError::TruncatedBody { expected, got, .. } => {
            format!("it holds {got} of the {expected} data bytes its header promises")
        }
        _ => return error.into(),
    };
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let published = DataFile::named(name).map(|file| file.mnist_sha256);
    let checksum = match (dataset, published, std::fs::read(path)) {
        (Some(DatasetKind::Mnist), Some(expected), Ok(bytes)) => {
            let got = format!("{:x}", Sha256::digest(&bytes));
            format!("; its SHA-256 is {got}, not the published {expected}")
        }
        _ => String::new(),
    };
    DataError::Damaged {
        file: path.to_owned(),
        reason,
        checksum,
    }
}

/// Images with their labels, shared cheaply between dataset views.
#[derive(Debug, Clone)]
pub struct LabeledImages {
    pixels: Arc<[u8]>,
    labels: Arc<[u8]>,
}

impl LabeledImages {
    /// Builds a set from raw bytes; `pixels` holds `labels.len() * IMAGE_PIXELS` bytes.
    pub fn new(pixels: Vec<u8>, labels: Vec<u8>) -> Self {
        assert_eq!(
            pixels.len(),
            labels.len() * IMAGE_PIXELS,
            "one label per image"
        );
        Self {
            pixels: pixels.into(),
            labels: labels.into(),
        }
    }

    /// Reads one part of MNIST from `dir`, checking that images and labels agree in number.
    pub fn load(dir: &Path, part: MnistPart) -> Result<Self, DataError> {
        Self::load_dataset(dir, part, None)
    }

    /// [`LabeledImages::load`] of `dataset`'s files: a file cut short or corrupt is said to be
    /// damaged, with the way out, and for MNIST checked against its published SHA-256.
    pub(crate) fn load_dataset(
        dir: &Path,
        part: MnistPart,
        dataset: Option<DatasetKind>,
    ) -> Result<Self, DataError> {
        let [images, labels] = part.files();
        let image_path = find_file(dir, images.stem)?;
        let label_path = find_file(dir, labels.stem)?;
        let images =
            idx::read_images_file(&image_path).map_err(|e| damaged(&image_path, e, dataset))?;
        let labels =
            idx::read_labels_file(&label_path).map_err(|e| damaged(&label_path, e, dataset))?;
        if images.len() != labels.len() {
            return Err(DataError::CountMismatch {
                images: image_path.clone(),
                labels: label_path.clone(),
                image_count: images.len(),
                label_count: labels.len(),
            });
        }
        Ok(Self::new(images.pixels, labels))
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// A dataset over all of these images.
    pub fn dataset(&self) -> MnistDataset {
        self.view(0..self.len())
    }

    /// A dataset over the images in `range` (no copy).
    pub fn view(&self, range: Range<usize>) -> MnistDataset {
        assert!(
            range.end <= self.len(),
            "view {range:?} past {} images",
            self.len()
        );
        MnistDataset {
            images: self.clone(),
            range,
        }
    }
}

/// The tutorial's split of the 60,000 training images: the first `validation_size` validate,
/// the rest train (at most `train_limit` of them when it is not 0).
pub fn split_train_valid(
    train: &LabeledImages,
    validation_size: usize,
    train_limit: usize,
) -> (MnistDataset, MnistDataset) {
    let valid_end = validation_size.min(train.len());
    let train_end = match train_limit {
        0 => train.len(),
        limit => (valid_end + limit).min(train.len()),
    };
    (train.view(valid_end..train_end), train.view(0..valid_end))
}

/// One MNIST image, pixels scaled to [0, 1], with its digit.
#[derive(Debug, Clone)]
pub struct MnistItem {
    pub pixels: Box<[f32; IMAGE_PIXELS]>,
    pub label: u8,
}

/// The Burn `Dataset` adapter: a range of images in a [`LabeledImages`].
#[derive(Debug, Clone)]
pub struct MnistDataset {
    images: LabeledImages,
    range: Range<usize>,
}

impl MnistDataset {
    /// The raw bytes of image `index` (0..=255 per pixel).
    pub fn raw_pixels(&self, index: usize) -> Option<&[u8]> {
        let i = self.absolute(index)?;
        Some(&self.images.pixels[i * IMAGE_PIXELS..(i + 1) * IMAGE_PIXELS])
    }

    /// The label of image `index`.
    pub fn label(&self, index: usize) -> Option<u8> {
        Some(self.images.labels[self.absolute(index)?])
    }

    /// The images `range` of this dataset (no copy); `range` is clamped to its length.
    pub(crate) fn subset(&self, range: Range<usize>) -> MnistDataset {
        let end = range.end.min(self.range.len());
        let start = range.start.min(end);
        MnistDataset {
            images: self.images.clone(),
            range: self.range.start + start..self.range.start + end,
        }
    }

    /// Appends the pixels of image `index`, scaled to [0, 1], to `out`: the one place bytes
    /// become model inputs.
    ///
    /// # Panics
    /// When `index` is past the end (callers iterate over `0..len()` or an order of it).
    pub fn push_scaled(&self, index: usize, out: &mut Vec<f32>) {
        let raw = self.raw_pixels(index).expect("index within the dataset");
        extend_scaled(raw, out);
    }

    /// [`push_scaled`](Self::push_scaled) for each of `indices` in turn. The images of a
    /// shuffled batch lie far apart in memory: one byte of each of their cache lines is read
    /// first, loads that do not wait for one another, so that the conversion then finds them
    /// in cache instead of waiting for them one image at a time.
    pub fn push_scaled_all(&self, indices: &[usize], out: &mut Vec<f32>) {
        let mut touched = 0u8;
        for &index in indices {
            let raw = self.raw_pixels(index).expect("index within the dataset");
            touched ^= raw.iter().step_by(64).fold(0, |sum, &byte| sum ^ byte);
        }
        std::hint::black_box(touched);
        for &index in indices {
            self.push_scaled(index, out);
        }
    }

    /// Moves the images of this dataset onto huge pages where the system can (see
    /// `huge_pages`): a shuffled batch then gathers them without a page walk each. Returns the
    /// bytes moved.
    pub(crate) fn onto_huge_pages(&self) -> usize {
        let bytes = self.range.start * IMAGE_PIXELS..self.range.end * IMAGE_PIXELS;
        super::huge_pages::collapse(&self.images.pixels[bytes])
    }

    fn absolute(&self, index: usize) -> Option<usize> {
        (index < self.range.len()).then(|| self.range.start + index)
    }
}

impl Dataset<MnistItem> for MnistDataset {
    fn get(&self, index: usize) -> Option<MnistItem> {
        let label = self.label(index)?;
        let mut scaled = Vec::with_capacity(IMAGE_PIXELS);
        self.push_scaled(index, &mut scaled);
        let pixels = scaled.into_boxed_slice().try_into().expect("784 pixels");
        Some(MnistItem { pixels, label })
    }

    fn len(&self) -> usize {
        self.range.len()
    }
}

/// A batch of images, `[batch, IMAGE_PIXELS]`, values in [0, 1].
#[derive(Debug, Clone)]
pub struct MnistBatch<B: Backend> {
    /// The clean images: the targets.
    pub images: Tensor<B, 2>,
    /// What the model sees: `images` itself, or a corrupted copy for a denoising autoencoder.
    pub inputs: Tensor<B, 2>,
    /// For a variational autoencoder in training: N(0, 1) draws, `[batch, latent]`, for the
    /// sample of each image's code.
    pub latent_noise: Option<Tensor<B, 2>>,
}

/// Stacks items into one `[batch, IMAGE_PIXELS]` tensor.
#[derive(Debug, Clone, Default)]
pub struct MnistBatcher;

impl<B: Backend> Batcher<B, MnistItem, MnistBatch<B>> for MnistBatcher {
    fn batch(&self, items: Vec<MnistItem>, device: &B::Device) -> MnistBatch<B> {
        let mut pixels = Vec::with_capacity(items.len() * IMAGE_PIXELS);
        for item in &items {
            pixels.extend_from_slice(&item.pixels[..]);
        }
        let data = TensorData::new(pixels, [items.len(), IMAGE_PIXELS]);
        let images = Tensor::from_data(data, device);
        MnistBatch {
            inputs: images.clone(),
            images,
            latent_noise: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::simd::{self, Simd};

    /// Every byte, at every position of a vector and in the tail after the last whole one,
    /// becomes exactly what one scalar division gives, on each path this processor can run
    /// (and through the dispatch, whichever it picks).
    #[test]
    fn pixels_are_bytes_divided_by_255() {
        let raw: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).chain(0..13).collect();
        let paths = [Simd::Avx512, Simd::Avx2, Simd::Baseline]
            .into_iter()
            .filter(|&path| path <= simd::detected())
            .map(Some)
            .chain([None]);
        for path in paths {
            let mut out = vec![-1.0];
            match path {
                Some(path) => super::extend_scaled_on(path, &raw, &mut out),
                None => super::extend_scaled(&raw, &mut out),
            }
            let name = path.map_or("dispatched".to_owned(), |path| format!("{path:?}"));
            assert_eq!(
                out.len(),
                1 + raw.len(),
                "{name}: appended after what was there"
            );
            assert_eq!(out[0], -1.0, "{name}");
            for (&byte, &value) in raw.iter().zip(&out[1..]) {
                let expected = std::hint::black_box(f32::from(byte)) / 255.0;
                assert_eq!(value.to_bits(), expected.to_bits(), "{name}: byte {byte}");
            }
        }
    }
}
