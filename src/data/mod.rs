//! MNIST on disk: the IDX reader, the standard files and their download, and the Burn
//! `Dataset` + `Batcher` that feed the Learner.

pub mod download;
mod files;
mod huge_pages;
pub mod idx;
mod kind;
mod loader;
mod mnist;

pub use files::MnistPart;
pub use idx::IMAGE_PIXELS;
pub(crate) use idx::IMAGE_SIDE;
pub use kind::DatasetKind;
pub(crate) use loader::EpochLoader;
pub use loader::{Noise, NoiseKind, epoch_order};
pub use mnist::{
    DataError, LabeledImages, MnistBatch, MnistBatcher, MnistDataset, MnistItem, split_train_valid,
};

use std::path::Path;

/// MNIST as the tutorial splits it.
pub(crate) struct MnistSplits {
    pub train: MnistDataset,
    pub valid: MnistDataset,
    pub test: MnistDataset,
}

/// Where a dataset is read from: its folder, which dataset, and the mirror to download
/// missing files from (none: no download).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Source<'a> {
    pub dir: &'a Path,
    pub dataset: DatasetKind,
    pub download_from: Option<&'a str>,
}

impl Source<'_> {
    /// Reads one part, first downloading its missing files when allowed.
    pub(crate) fn read_part(&self, part: MnistPart) -> Result<LabeledImages, DataError> {
        if let Some(url) = self.download_from {
            let fetched = download::download_missing(self.dir, url, self.dataset)?;
            if !fetched.is_empty() {
                eprintln!(
                    "Downloaded {} into '{}'",
                    fetched.join(", "),
                    self.dir.display()
                );
            }
        }
        LabeledImages::load_dataset(self.dir, part, Some(self.dataset))
    }

    /// Reads the training and test images and splits them as the tutorial does (see
    /// [`tutorial_splits`]).
    pub(crate) fn read_splits(
        &self,
        validation_size: usize,
        train_limit: usize,
    ) -> Result<MnistSplits, DataError> {
        let train = self.read_part(MnistPart::Train)?;
        let test = self.read_part(MnistPart::Test)?;
        tutorial_splits(self.dir, &train, test, validation_size, train_limit)
    }
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
