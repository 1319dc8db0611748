//! The Learner's data loader. Burn's `DataLoaderBuilder::shuffle` draws every epoch's order from
//! one generator that runs on across epochs, so a run resumed at epoch k would see other orders
//! than an uninterrupted one. Here each epoch's order is a function of (seed, epoch) alone, and a
//! batch is gathered straight from the raw bytes into one buffer (no per-image allocation).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use burn::data::dataloader::{DataLoader, DataLoaderIterator, Progress};
use burn::data::dataset::Dataset;
use burn::prelude::*;

use super::{MnistBatch, MnistDataset};
use crate::IMAGE_PIXELS;

/// Batches of an [`MnistDataset`], shuffled per epoch or in order.
pub struct EpochLoader<B: Backend> {
    dataset: MnistDataset,
    batch_size: usize,
    /// `Some(seed)`: each epoch in the order [`epoch_order`] gives; `None`: in file order.
    shuffle_seed: Option<u64>,
    /// The epoch the next `iter()` serves (1 for the first), shared by device copies.
    next_epoch: Arc<AtomicUsize>,
    device: B::Device,
}

impl<B: Backend> EpochLoader<B> {
    /// A loader whose first `iter()` serves epoch `first_epoch` (1-based, as Burn counts).
    pub fn new(
        dataset: MnistDataset,
        batch_size: usize,
        shuffle_seed: Option<u64>,
        first_epoch: usize,
        device: &B::Device,
    ) -> Self {
        assert!(batch_size > 0, "batch size 0");
        Self {
            dataset,
            batch_size,
            shuffle_seed,
            next_epoch: Arc::new(AtomicUsize::new(first_epoch)),
            device: device.clone(),
        }
    }

    fn order(&self, epoch: usize) -> Vec<usize> {
        match self.shuffle_seed {
            Some(seed) => epoch_order(self.dataset.len(), seed, epoch),
            None => (0..self.dataset.len()).collect(),
        }
    }

    fn batch(&self, indices: &[usize]) -> MnistBatch<B> {
        let mut pixels = Vec::with_capacity(indices.len() * IMAGE_PIXELS);
        for &index in indices {
            let raw = self
                .dataset
                .raw_pixels(index)
                .expect("the order holds indices of this dataset");
            pixels.extend(raw.iter().map(|&byte| f32::from(byte) / 255.0));
        }
        let data = TensorData::new(pixels, [indices.len(), IMAGE_PIXELS]);
        MnistBatch {
            images: Tensor::from_data(data, &self.device),
        }
    }
}

impl<B: Backend> DataLoader<B, MnistBatch<B>> for EpochLoader<B> {
    fn iter<'a>(&'a self) -> Box<dyn DataLoaderIterator<MnistBatch<B>> + 'a> {
        let epoch = self.next_epoch.fetch_add(1, Ordering::SeqCst);
        Box::new(EpochIter {
            loader: self,
            order: self.order(epoch),
            position: 0,
        })
    }

    fn num_items(&self) -> usize {
        self.dataset.len()
    }

    fn to_device(&self, device: &B::Device) -> Arc<dyn DataLoader<B, MnistBatch<B>>> {
        Arc::new(Self {
            dataset: self.dataset.clone(),
            batch_size: self.batch_size,
            shuffle_seed: self.shuffle_seed,
            next_epoch: self.next_epoch.clone(),
            device: device.clone(),
        })
    }

    fn slice(&self, start: usize, end: usize) -> Arc<dyn DataLoader<B, MnistBatch<B>>> {
        Arc::new(Self {
            dataset: self.dataset.subset(start..end),
            batch_size: self.batch_size,
            shuffle_seed: self.shuffle_seed,
            next_epoch: Arc::new(AtomicUsize::new(self.next_epoch.load(Ordering::SeqCst))),
            device: self.device.clone(),
        })
    }
}

struct EpochIter<'a, B: Backend> {
    loader: &'a EpochLoader<B>,
    order: Vec<usize>,
    position: usize,
}

impl<B: Backend> Iterator for EpochIter<'_, B> {
    type Item = MnistBatch<B>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.position >= self.order.len() {
            return None;
        }
        let end = (self.position + self.loader.batch_size).min(self.order.len());
        let batch = self.loader.batch(&self.order[self.position..end]);
        self.position = end;
        Some(batch)
    }
}

impl<B: Backend> DataLoaderIterator<MnistBatch<B>> for EpochIter<'_, B> {
    fn progress(&self) -> Progress {
        Progress::new(self.position, self.order.len())
    }
}

/// The order of `len` items in `epoch` of a run seeded with `seed`: a Fisher-Yates shuffle
/// driven by SplitMix64 from (seed, epoch). The same arguments give the same order in any
/// process, whatever ran before.
pub fn epoch_order(len: usize, seed: u64, epoch: usize) -> Vec<usize> {
    let mut state = seed ^ (epoch as u64).wrapping_mul(0xD1B5_4A32_D192_ED03);
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let mut order: Vec<usize> = (0..len).collect();
    for i in (1..len).rev() {
        // A draw in 0..=i by multiply-shift; the bias is below 2^-40 for these sizes.
        let j = ((u128::from(next()) * (i as u128 + 1)) >> 64) as usize;
        order.swap(i, j);
    }
    order
}
