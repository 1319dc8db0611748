//! The Learner's data loader. Burn's `DataLoaderBuilder::shuffle` draws every epoch's order from
//! one generator that runs on across epochs, so a run resumed at epoch k would see other orders
//! than an uninterrupted one. Here each epoch's order is a function of (seed, epoch) alone, and a
//! batch is gathered straight from the raw bytes into one buffer (no per-image allocation).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use burn::data::dataloader::{DataLoader, DataLoaderIterator, Progress};
use burn::data::dataset::Dataset;
use burn::prelude::*;

use super::idx::IMAGE_PIXELS;
use super::mnist::{MnistBatch, MnistDataset};

/// Batches of an [`MnistDataset`], shuffled per epoch or in order.
pub(crate) struct EpochLoader<B: Backend> {
    dataset: MnistDataset,
    batch_size: usize,
    noise: Noise,
    /// The width of each batch's latent noise (a VAE's code); 0 for none.
    latent: usize,
    /// `Some(seed)`: each epoch in the order [`epoch_order`] gives, unless `file_order`, and
    /// the noise of each batch drawn from it; `None`: in file order, the same noise every epoch.
    shuffle_seed: Option<u64>,
    /// Serve the images in file order every epoch, even with a seed.
    file_order: bool,
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
            noise: Noise::none(),
            latent: 0,
            shuffle_seed,
            file_order: false,
            next_epoch: Arc::new(AtomicUsize::new(first_epoch)),
            device: device.clone(),
        }
    }

    /// Serves the images in file order every epoch (`data.shuffle = false`); the noise still
    /// changes with the seed and the epoch.
    pub(crate) fn in_file_order(mut self) -> Self {
        self.file_order = true;
        self
    }

    /// Corrupts the inputs of every batch with `noise` (the targets stay clean).
    pub(crate) fn with_noise(mut self, noise: Noise) -> Self {
        self.noise = noise;
        self
    }

    /// Adds N(0, 1) draws, `[batch, latent]`, to every batch: the noise a variational
    /// autoencoder samples its codes with, drawn like the images' from the seed, the epoch and
    /// the batch.
    pub(crate) fn with_latent_noise(mut self, latent: usize) -> Self {
        self.latent = latent;
        self
    }

    fn order(&self, epoch: usize) -> Vec<usize> {
        match self.shuffle_seed {
            Some(seed) if !self.file_order => epoch_order(self.dataset.len(), seed, epoch),
            _ => (0..self.dataset.len()).collect(),
        }
    }

    /// The images at `indices`; `stream` seeds their noise.
    fn batch(&self, indices: &[usize], stream: u64) -> MnistBatch<B> {
        let mut pixels = Vec::with_capacity(indices.len() * IMAGE_PIXELS);
        self.dataset.push_scaled_all(indices, &mut pixels);
        let shape = [indices.len(), IMAGE_PIXELS];
        let noisy = self.noise.apply(&pixels, stream);
        let images = Tensor::from_data(TensorData::new(pixels, shape), &self.device);
        let inputs = match noisy {
            Some(noisy) => Tensor::from_data(TensorData::new(noisy, shape), &self.device),
            None => images.clone(),
        };
        let latent_noise = (self.latent > 0).then(|| {
            let shape = [indices.len(), self.latent];
            let draws = normal_draws(shape[0] * shape[1], mix(stream, LATENT_STREAM));
            Tensor::from_data(TensorData::new(draws, shape), &self.device)
        });
        MnistBatch {
            images,
            inputs,
            latent_noise,
        }
    }
}

impl<B: Backend> DataLoader<B, MnistBatch<B>> for EpochLoader<B> {
    fn iter<'a>(&'a self) -> Box<dyn DataLoaderIterator<MnistBatch<B>> + 'a> {
        let epoch = self.next_epoch.fetch_add(1, Ordering::SeqCst);
        // Validation (unshuffled) sees the same noise every epoch.
        let epoch_seed = self.shuffle_seed.map_or(0, |seed| mix(seed, epoch as u64));
        Box::new(EpochIter {
            loader: self,
            order: self.order(epoch),
            position: 0,
            epoch_seed,
        })
    }

    fn num_items(&self) -> usize {
        self.dataset.len()
    }

    fn to_device(&self, device: &B::Device) -> Arc<dyn DataLoader<B, MnistBatch<B>>> {
        Arc::new(Self {
            dataset: self.dataset.clone(),
            batch_size: self.batch_size,
            noise: self.noise,
            latent: self.latent,
            shuffle_seed: self.shuffle_seed,
            file_order: self.file_order,
            next_epoch: self.next_epoch.clone(),
            device: device.clone(),
        })
    }

    fn slice(&self, start: usize, end: usize) -> Arc<dyn DataLoader<B, MnistBatch<B>>> {
        Arc::new(Self {
            dataset: self.dataset.subset(start..end),
            batch_size: self.batch_size,
            noise: self.noise,
            latent: self.latent,
            shuffle_seed: self.shuffle_seed,
            file_order: self.file_order,
            next_epoch: Arc::new(AtomicUsize::new(self.next_epoch.load(Ordering::SeqCst))),
            device: self.device.clone(),
        })
    }
}

struct EpochIter<'a, B: Backend> {
    loader: &'a EpochLoader<B>,
    order: Vec<usize>,
    position: usize,
    epoch_seed: u64,
}

impl<B: Backend> Iterator for EpochIter<'_, B> {
    type Item = MnistBatch<B>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.position >= self.order.len() {
            return None;
        }
        let end = (self.position + self.loader.batch_size).min(self.order.len());
        let stream = mix(self.epoch_seed, self.position as u64);
        let batch = self.loader.batch(&self.order[self.position..end], stream);
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
    let mut rng = SplitMix64(seed ^ (epoch as u64).wrapping_mul(0xD1B5_4A32_D192_ED03));
    let mut order: Vec<usize> = (0..len).collect();
    for i in (1..len).rev() {
        // A draw in 0..=i by multiply-shift; the bias is below 2^-40 for these sizes.
        let j = ((u128::from(rng.next()) * (i as u128 + 1)) >> 64) as usize;
        order.swap(i, j);
    }
    order
}

/// The stream of a batch's latent noise, beside its images' noise.
const LATENT_STREAM: u64 = 1;

/// `len` draws from N(0, 1), from `stream`.
fn normal_draws(len: usize, stream: u64) -> Vec<f32> {
    let mut rng = SplitMix64(stream);
    let mut draws = Vec::with_capacity(len + 1);
    while draws.len() < len {
        let (a, b) = rng.normal_pair();
        draws.extend([a, b]);
    }
    draws.truncate(len);
    draws
}

/// A seed for stream `b` of seed `a`.
fn mix(a: u64, b: u64) -> u64 {
    SplitMix64(a ^ b.wrapping_mul(0xA076_1D64_78BD_642F)).next()
}

/// Steele, Lea and Flood's SplitMix64: tiny, fast and good enough for shuffling and noise.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Two independent N(0, 1) draws (Box-Muller).
    fn normal_pair(&mut self) -> (f32, f32) {
        let radius = (-2.0 * (1.0 - self.unit()).ln()).sqrt();
        let angle = std::f32::consts::TAU * self.unit();
        (radius * angle.cos(), radius * angle.sin())
    }
}

/// How a denoising autoencoder corrupts its inputs (`training.noise`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NoiseKind {
    /// Clean inputs: the tutorial's plain autoencoder.
    None,
    /// Add N(0, level^2) to each pixel, clipped to [0, 1].
    Gaussian,
    /// Zero each pixel with probability `level`.
    Masking,
}

/// The corruption of a denoising autoencoder's inputs (`training.noise`, `noise_level`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Noise {
    pub kind: NoiseKind,
    pub level: f32,
}

impl Noise {
    pub fn none() -> Self {
        Self {
            kind: NoiseKind::None,
            level: 0.0,
        }
    }

    /// A corrupted copy of `pixels`, drawn from `stream`; `None` when there is no noise.
    pub fn apply(&self, pixels: &[f32], stream: u64) -> Option<Vec<f32>> {
        let mut rng = SplitMix64(stream);
        match self.kind {
            NoiseKind::None => None,
            NoiseKind::Masking => Some(
                pixels
                    .iter()
                    .map(|&p| if rng.unit() < self.level { 0.0 } else { p })
                    .collect(),
            ),
            NoiseKind::Gaussian => {
                let mut out = pixels.to_vec();
                // Box-Muller: two normal draws per pair of uniforms.
                for pair in out.chunks_mut(2) {
                    let radius = (-2.0 * (1.0 - rng.unit()).ln()).sqrt() * self.level;
                    let angle = std::f32::consts::TAU * rng.unit();
                    let draws = [radius * angle.cos(), radius * angle.sin()];
                    for (p, d) in pair.iter_mut().zip(draws) {
                        *p = (*p + d).clamp(0.0, 1.0);
                    }
                }
                Some(out)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PINNED_ORDER: [usize; 10] = [5, 9, 6, 4, 1, 3, 0, 8, 2, 7];
    const PINNED_NOISE: [f32; 4] = [0.072844625, 0.39434463, -0.33657217, -0.5019608];

    #[test]
    fn an_epoch_order_is_a_permutation_fixed_by_seed_and_epoch() {
        let order = epoch_order(1000, 42, 3);
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..1000).collect::<Vec<_>>());
        assert_eq!(order, epoch_order(1000, 42, 3));
        assert_ne!(order, epoch_order(1000, 42, 4));
        assert_ne!(order, epoch_order(1000, 43, 3));
        assert_ne!(order, sorted, "shuffled");
    }

    #[test]
    fn noise_is_fixed_by_its_stream_and_keeps_pixels_in_range() {
        let pixels = vec![0.5f32; 784];
        for kind in [NoiseKind::Gaussian, NoiseKind::Masking] {
            let noise = Noise { kind, level: 0.3 };
            let a = noise.apply(&pixels, 7).unwrap();
            assert_eq!(Some(&a), noise.apply(&pixels, 7).as_ref());
            assert_ne!(Some(&a), noise.apply(&pixels, 8).as_ref());
            assert!(a.iter().all(|p| (0.0..=1.0).contains(p)));
        }
        assert_eq!(Noise::none().apply(&pixels, 7), None);
    }

    #[test]
    fn masking_zeroes_the_configured_share_of_pixels() {
        let pixels = vec![0.5f32; 784 * 100];
        for level in [0.1, 0.3, 0.7] {
            let noise = Noise {
                kind: NoiseKind::Masking,
                level,
            };
            let masked = noise.apply(&pixels, 3).unwrap();
            let zeroed = masked.iter().filter(|&&p| p == 0.0).count() as f32;
            let share = zeroed / pixels.len() as f32;
            assert!(
                (share - level).abs() < 0.01,
                "level {level}: {share} zeroed"
            );
            assert!(masked.iter().all(|&p| p == 0.0 || p == 0.5));
        }
    }

    /// The noise added to each batch of one epoch of a loader over four equal gray images.
    fn noise_per_batch(loader: &EpochLoader<crate::backend::Backend>) -> Vec<Vec<f32>> {
        loader
            .iter()
            .map(|batch| {
                let noisy = batch.inputs.into_data().to_vec::<f32>().unwrap();
                let clean = batch.images.into_data().to_vec::<f32>().unwrap();
                noisy.iter().zip(&clean).map(|(n, c)| n - c).collect()
            })
            .collect()
    }

    #[test]
    fn the_draws_are_pinned_so_that_a_seed_repeats_its_runs() {
        // Changing any of these changes every seeded run: its order and its noise.
        assert_eq!(epoch_order(10, 42, 1), PINNED_ORDER);
        let images = crate::data::LabeledImages::new(vec![128; 2 * IMAGE_PIXELS], vec![0; 2]);
        let noise = Noise {
            kind: NoiseKind::Gaussian,
            level: 0.3,
        };
        let loader = EpochLoader::new(images.dataset(), 2, Some(7), 3, &Default::default())
            .with_noise(noise);
        let first: Vec<f32> = noise_per_batch(&loader)[0][..4].to_vec();
        assert_eq!(first, PINNED_NOISE);
    }

    #[test]
    fn each_batch_and_each_epoch_gets_noise_of_its_own() {
        let images = crate::data::LabeledImages::new(vec![128; 4 * IMAGE_PIXELS], vec![0; 4]);
        let device = Default::default();
        let noise = Noise {
            kind: NoiseKind::Gaussian,
            level: 0.3,
        };
        let loader = EpochLoader::new(images.dataset(), 2, Some(1), 1, &device).with_noise(noise);
        assert_eq!(loader.num_items(), 4);
        let first = noise_per_batch(&loader);
        assert_eq!(first.len(), 2);
        assert_ne!(first[0], first[1], "two batches, one noise");
        assert_ne!(first, noise_per_batch(&loader), "two epochs, one noise");
        // A resumed run's loader starting at epoch 1 draws the same noise again.
        let again = EpochLoader::new(images.dataset(), 2, Some(1), 1, &device).with_noise(noise);
        assert_eq!(first, noise_per_batch(&again));
    }
}
