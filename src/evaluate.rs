//! Using a trained model: the test-set error and the reconstruction figure.

use std::path::Path;

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::Dataset;
use burn::prelude::*;

use crate::IMAGE_PIXELS;
use crate::artifacts::ArtifactError;
use crate::data::Noise;
use crate::data::{MnistBatch, MnistBatcher, MnistDataset};
use crate::figure::{save_grid, save_reconstruction};
use crate::model::{Autoencoder, mse};

/// Images per forward pass when evaluating.
const EVAL_BATCH: usize = 1000;

/// Mean squared error over every pixel of every image in `dataset`.
pub fn mean_squared_error<B: Backend>(
    model: &Autoencoder<B>,
    dataset: &MnistDataset,
    device: &B::Device,
) -> f64 {
    let mut weighted_sum = 0.0;
    for start in (0..dataset.len()).step_by(EVAL_BATCH) {
        let end = (start + EVAL_BATCH).min(dataset.len());
        let batch = batch_of::<B>(dataset, start..end, device);
        let loss = mse(model.forward(batch.images.clone()), batch.images);
        weighted_sum += loss.into_scalar().elem::<f64>() * (end - start) as f64;
    }
    weighted_sum / dataset.len().max(1) as f64
}

/// Writes the tutorial's figure for the first `count` images of `dataset` to `path`. With
/// `noise` (a denoising autoencoder), three rows: originals, their corrupted copies, and the
/// model's reconstructions of those.
pub fn write_reconstruction_figure<B: Backend>(
    model: &Autoencoder<B>,
    dataset: &MnistDataset,
    count: usize,
    noise: Noise,
    path: &Path,
    device: &B::Device,
) -> Result<(), ArtifactError> {
    let count = count.min(dataset.len());
    let batch = batch_of::<B>(dataset, 0..count, device);
    let clean = rows(batch.images.clone());
    match noise.apply(&clean.concat(), FIGURE_NOISE_STREAM) {
        None => {
            let output = model.forward(batch.images);
            save_reconstruction(path, &clean, &rows(output))
        }
        Some(noisy) => {
            let inputs = Tensor::from_data(TensorData::new(noisy, [count, IMAGE_PIXELS]), device);
            let output = model.forward(inputs.clone());
            save_grid(path, &[clean, rows(inputs), rows(output)])
        }
    }
}

/// Seeds the noise of the figure's inputs, the same in every run.
const FIGURE_NOISE_STREAM: u64 = 2026;

fn batch_of<B: Backend>(
    dataset: &MnistDataset,
    range: std::ops::Range<usize>,
    device: &B::Device,
) -> MnistBatch<B> {
    let items = range.filter_map(|i| dataset.get(i)).collect();
    MnistBatcher.batch(items, device)
}

fn rows<B: Backend>(images: Tensor<B, 2>) -> Vec<Vec<f32>> {
    let values = images
        .into_data()
        .to_vec::<f32>()
        .expect("model tensors hold f32");
    values.chunks(IMAGE_PIXELS).map(<[f32]>::to_vec).collect()
}
