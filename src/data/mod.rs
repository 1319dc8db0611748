//! MNIST on disk: the IDX reader, the standard files and their download, and the Burn
//! `Dataset` + `Batcher` that feed the Learner.

pub mod download;
mod files;
pub mod idx;
mod kind;
mod loader;
mod mnist;

pub use files::MnistPart;
pub use kind::DatasetKind;
pub use loader::{EpochLoader, Noise, NoiseKind, epoch_order};
pub use mnist::*;

use std::path::Path;

/// MNIST as the tutorial splits it.
pub(crate) struct MnistSplits {
    pub train: MnistDataset,
    pub valid: MnistDataset,
    pub test: MnistDataset,
}

/// Reads one part of a dataset from `dir`, first downloading its missing files from
/// `download_from` when given.
pub(crate) fn read_part(
    dir: &Path,
    dataset: DatasetKind,
    download_from: Option<&str>,
    part: MnistPart,
) -> Result<LabeledImages, DataError> {
    if let Some(url) = download_from {
        let fetched = download::download_missing(dir, url, dataset)?;
        if !fetched.is_empty() {
            eprintln!("Downloaded {} into '{}'", fetched.join(", "), dir.display());
        }
    }
    LabeledImages::load_dataset(dir, part, Some(dataset))
}

/// The tutorial's split of `train` and `test`: the first `validation_size` training images
/// validate, at most `train_limit` of the rest train (0: all).
pub(crate) fn tutorial_splits(
    dir: &Path,
    train: &LabeledImages,
    test: LabeledImages,
    validation_size: usize,
    train_limit: usize,
) -> Result<MnistSplits, DataError> {
    if validation_size >= train.len() {
        return Err(DataError::ValidationTooLarge {
            dir: dir.to_owned(),
            validation_size,
            images: train.len(),
        });
    }
    let (train, valid) = split_train_valid(train, validation_size, train_limit);
    Ok(MnistSplits {
        train,
        valid,
        test: test.dataset(),
    })
}
