//! `evaluate`'s figures: the PSNR of an error, and the worst reconstructions.

use std::path::Path;

use crate::artifacts::ArtifactError;
use crate::assess::{images, rows};
use crate::data::MnistDataset;
use crate::fused::FusedOps;
use crate::model::Autoencoder;
use crate::render::grid::save_grid;

/// Peak signal-to-noise ratio in dB of a mean squared error, for pixels in [0, 1] (capped at
/// 120 dB for an error of 0; NaN for NaN).
pub fn psnr(mse: f64) -> f64 {
    if mse.is_nan() {
        return f64::NAN;
    }
    10.0 * (1.0 / mse.max(1e-12)).log10()
}

/// The `count` test images reconstructed worst, worst first: (index, label, mse).
pub fn worst(errors: &[f32], dataset: &MnistDataset, count: usize) -> Vec<(usize, u8, f32)> {
    let mut order: Vec<usize> = (0..errors.len()).collect();
    order.sort_by(|&a, &b| errors[b].total_cmp(&errors[a]).then(a.cmp(&b)));
    order
        .into_iter()
        .take(count)
        .map(|i| {
            (
                i,
                dataset.label(i).expect("index within the dataset"),
                errors[i],
            )
        })
        .collect()
}

/// Writes the images `indices` of `dataset` over their reconstructions to `path`.
pub(crate) fn save_reconstructions_of<B: FusedOps>(
    model: &Autoencoder<B>,
    dataset: &MnistDataset,
    indices: &[usize],
    path: &Path,
    device: &B::Device,
) -> Result<(), ArtifactError> {
    let batch = images::<B>(dataset, indices.iter().copied(), device);
    let output = model.forward(batch.clone());
    save_grid(path, &[rows(batch), rows(output)])
}

#[cfg(test)]
mod tests {
    use super::psnr;

    #[test]
    fn psnr_makes_up_no_figure() {
        assert!(psnr(f64::NAN).is_nan());
        assert_eq!(psnr(0.01), 20.0);
        assert_eq!(psnr(0.0), 120.0);
    }
}
