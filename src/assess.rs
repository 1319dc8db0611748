//! Assessing a trained model, for `train` when it ends and for the commands that read a run:
//! its error on every image, the tutorial's figure of digits over their reconstructions, and
//! the title of a run's curve.

use std::path::Path;

use burn::data::dataset::Dataset;
use burn::prelude::*;

use crate::artifacts::ArtifactError;
use crate::config::Config;
use crate::data::{IMAGE_PIXELS, MnistDataset, Noise};
use crate::fused::FusedOps;
use crate::model::Autoencoder;
use crate::render::grid::{save_grid, save_reconstruction};

/// Images per forward pass when evaluating.
pub(crate) const EVAL_BATCH: usize = 1000;

/// The images `indices` of `dataset` (pixels in [0, 1]) as one `[n, 784]` tensor.
pub fn images<B: Backend>(
    dataset: &MnistDataset,
    indices: impl IntoIterator<Item = usize>,
    device: &B::Device,
) -> Tensor<B, 2> {
    let mut pixels = Vec::new();
    for index in indices {
        dataset.push_scaled(index, &mut pixels);
    }
    let count = pixels.len() / IMAGE_PIXELS;
    Tensor::from_data(TensorData::new(pixels, [count, IMAGE_PIXELS]), device)
}

/// The rows of a `[n, width]` tensor.
pub fn rows<B: Backend>(tensor: Tensor<B, 2>) -> Vec<Vec<f32>> {
    let [_, width] = tensor.dims();
    let values = tensor
        .into_data()
        .to_vec::<f32>()
        .expect("model tensors hold f32");
    values.chunks(width).map(<[f32]>::to_vec).collect()
}

/// Squared error of each image of `dataset`, the mean over its pixels.
pub(crate) fn per_image_mse<B: FusedOps>(
    model: &Autoencoder<B>,
    dataset: &MnistDataset,
    device: &B::Device,
) -> Vec<f32> {
    let mut errors = Vec::with_capacity(dataset.len());
    for start in (0..dataset.len()).step_by(EVAL_BATCH) {
        let end = (start + EVAL_BATCH).min(dataset.len());
        let batch = images::<B>(dataset, start..end, device);
        let diff = model.forward(batch.clone()) - batch;
        let per_image = (diff.clone() * diff).mean_dim(1);
        errors.extend(
            per_image
                .into_data()
                .to_vec::<f32>()
                .expect("model tensors hold f32"),
        );
    }
    errors
}

/// The model's own training objective on `dataset` (its loss, penalty and KL term included;
/// a VAE decodes its means), averaged over the images.
pub(crate) fn mean_objective<B: FusedOps>(
    model: &Autoencoder<B>,
    dataset: &MnistDataset,
    device: &B::Device,
) -> f64 {
    let mut total = 0.0;
    for start in (0..dataset.len()).step_by(EVAL_BATCH) {
        let end = (start + EVAL_BATCH).min(dataset.len());
        let batch = images::<B>(dataset, start..end, device);
        let loss: f32 = model.loss(batch).into_scalar().elem();
        total += f64::from(loss) * (end - start) as f64;
    }
    total / dataset.len().max(1) as f64
}

/// Mean squared error over every pixel of every image: the mean of [`per_image_mse`] (every
/// image has the same number of pixels).
pub(crate) fn mean_of(errors: &[f32]) -> f64 {
    errors.iter().map(|&e| f64::from(e)).sum::<f64>() / errors.len().max(1) as f64
}

/// Mean squared error over every pixel of every image in `dataset`.
pub(crate) fn mean_squared_error<B: FusedOps>(
    model: &Autoencoder<B>,
    dataset: &MnistDataset,
    device: &B::Device,
) -> f64 {
    mean_of(&per_image_mse(model, dataset, device))
}

/// Writes the tutorial's figure for the first `count` images of `dataset` to `path`. With
/// `noise` (a denoising autoencoder), three rows: originals, their corrupted copies, and the
/// model's reconstructions of those.
pub(crate) fn write_reconstruction_figure<B: FusedOps>(
    model: &Autoencoder<B>,
    dataset: &MnistDataset,
    count: usize,
    noise: Noise,
    path: &Path,
    device: &B::Device,
) -> Result<(), ArtifactError> {
    let batch = images::<B>(dataset, 0..count.min(dataset.len()), device);
    let [count, _] = batch.dims();
    let clean = rows(batch.clone());
    match noise.apply(&clean.concat(), FIGURE_NOISE_STREAM) {
        None => save_reconstruction(path, &clean, &rows(model.forward(batch))),
        Some(noisy) => {
            let inputs = Tensor::from_data(TensorData::new(noisy, [count, IMAGE_PIXELS]), device);
            let output = model.forward(inputs.clone());
            save_grid(path, &[clean, rows(inputs), rows(output)])
        }
    }
}

/// Seeds the noise of the figure's inputs, the same in every run.
const FIGURE_NOISE_STREAM: u64 = 2026;

/// The title of a run's `loss.png`.
pub(crate) fn curve_title(config: &Config) -> String {
    let t = &config.training;
    format!(
        "{} {}-{}-{}: {}, lr {}, batch {}",
        config.data.dataset,
        IMAGE_PIXELS,
        config.model.hidden_size,
        IMAGE_PIXELS,
        t.optimizer,
        crate::config::short_number(t.learning_rate),
        t.batch_size
    )
}
