//! The latent map: every test image's code, projected on its first two principal components
//! (a VAE with a two-dimensional code: the code's mean itself, the plane it was trained on).

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use burn::data::dataset::Dataset;

use crate::artifacts::{ArtifactError, write_atomic};
use crate::assess::{EVAL_BATCH, images};
use crate::data::{DatasetKind, MnistDataset};
use crate::fused::FusedOps;
use crate::model::{Autoencoder, ModelKind};
use crate::render::chart::{MapPoint, save_latent_chart};

/// Codes of every image of `dataset`, row after row (`len * hidden` values).
pub(crate) fn encode_all<B: FusedOps>(
    model: &Autoencoder<B>,
    dataset: &MnistDataset,
    device: &B::Device,
) -> Vec<f32> {
    let mut codes = Vec::with_capacity(dataset.len() * model.code_size());
    for start in (0..dataset.len()).step_by(EVAL_BATCH) {
        let end = (start + EVAL_BATCH).min(dataset.len());
        let batch = images::<B>(dataset, start..end, device);
        codes.extend(
            model
                .encode(batch)
                .into_data()
                .to_vec::<f32>()
                .expect("f32 tensors"),
        );
    }
    codes
}

/// The first two principal components of `rows` (each `dim` values).
#[derive(Debug, Clone)]
pub struct Pca {
    pub mean: Vec<f64>,
    pub components: [Vec<f64>; 2],
    /// Share of the total variance along each component.
    pub explained: [f64; 2],
}

impl Pca {
    pub fn fit(rows: &[f32], dim: usize) -> Self {
        let n = rows.len() / dim;
        let mut mean = vec![0f64; dim];
        for row in rows.chunks(dim) {
            for (m, &v) in mean.iter_mut().zip(row) {
                *m += f64::from(v);
            }
        }
        mean.iter_mut().for_each(|m| *m /= n.max(1) as f64);
        let mut cov = vec![0f64; dim * dim];
        let mut centred = vec![0f64; dim];
        for row in rows.chunks(dim) {
            for ((c, &v), m) in centred.iter_mut().zip(row).zip(&mean) {
                *c = f64::from(v) - m;
            }
            for i in 0..dim {
                let ci = centred[i];
                let line = &mut cov[i * dim..(i + 1) * dim];
                for (slot, &cj) in line[i..].iter_mut().zip(&centred[i..]) {
                    *slot += ci * cj;
                }
            }
        }
        for i in 0..dim {
            for j in i..dim {
                let v = cov[i * dim + j] / (n.max(2) - 1) as f64;
                cov[i * dim + j] = v;
                cov[j * dim + i] = v;
            }
        }
        let total: f64 = (0..dim).map(|i| cov[i * dim + i]).sum();
        let (first, first_value) = top_eigenvector(&cov, dim);
        // Deflate, then the next one.
        for i in 0..dim {
            for j in 0..dim {
                cov[i * dim + j] -= first_value * first[i] * first[j];
            }
        }
        let (second, second_value) = top_eigenvector(&cov, dim);
        let share = |v: f64| if total > 0.0 { v / total } else { 0.0 };
        Self {
            mean,
            components: [first, second],
            explained: [share(first_value), share(second_value)],
        }
    }

    pub(crate) fn project(&self, row: &[f32]) -> [f32; 2] {
        self.components.each_ref().map(|component| {
            row.iter()
                .zip(&self.mean)
                .zip(component)
                .map(|((&v, m), c)| (f64::from(v) - m) * c)
                .sum::<f64>() as f32
        })
    }
}

/// Power iteration on a symmetric positive semi-definite `dim x dim` matrix.
fn top_eigenvector(matrix: &[f64], dim: usize) -> (Vec<f64>, f64) {
    // A fixed, uneven start: deterministic, and not orthogonal to the answer in practice.
    let mut v: Vec<f64> = (0..dim).map(|i| 1.0 + (i % 7) as f64 * 0.1).collect();
    let mut value = 0.0;
    for _ in 0..500 {
        let next: Vec<f64> = (0..dim)
            .map(|i| {
                matrix[i * dim..(i + 1) * dim]
                    .iter()
                    .zip(&v)
                    .map(|(a, b)| a * b)
                    .sum()
            })
            .collect();
        let norm = next.iter().map(|x| x * x).sum::<f64>().sqrt();
        if norm == 0.0 {
            return (v, 0.0);
        }
        let converged = next
            .iter()
            .zip(&v)
            .map(|(a, b)| (a / norm - b).abs())
            .fold(0.0, f64::max)
            < 1e-12;
        v = next.into_iter().map(|x| x / norm).collect();
        value = norm;
        if converged {
            break;
        }
    }
    (v, value)
}

/// What [`latent_map`] wrote.
#[derive(Debug)]
pub struct LatentReport {
    pub images: usize,
    /// The share of the codes' variance along each axis of the map: the principal components;
    /// `None` for a VAE's plane, drawn as it is.
    pub explained: Option<[f64; 2]>,
}

/// The map's points (each code's two coordinates and its label), the axes' titles and the
/// share of the variance each holds (none for a VAE's plane).
type Map = (Vec<MapPoint>, [String; 2], Option<[f64; 2]>);

/// The codes as points: a VAE's two-dimensional means as they are, any other code by its first
/// two principal components.
fn map_points(model_kind: ModelKind, codes: &[f32], dim: usize, dataset: &MnistDataset) -> Map {
    let label = |i: usize| dataset.label(i).expect("index within the dataset");
    if model_kind == ModelKind::Vae && dim == 2 {
        let points = codes
            .chunks(2)
            .enumerate()
            .map(|(i, z)| MapPoint {
                x: z[0],
                y: z[1],
                label: label(i),
            })
            .collect();
        let axes = [
            "latent dimension 1".to_owned(),
            "latent dimension 2".to_owned(),
        ];
        return (points, axes, None);
    }
    let pca = Pca::fit(codes, dim);
    let points = codes
        .chunks(dim)
        .enumerate()
        .map(|(i, code)| {
            let [x, y] = pca.project(code);
            MapPoint {
                x,
                y,
                label: label(i),
            }
        })
        .collect();
    let [a, b] = pca.explained.map(|share| share * 100.0);
    let axes = [
        format!("principal component 1 ({a:.1}% of variance)"),
        format!("principal component 2 ({b:.1}% of variance)"),
    ];
    (points, axes, Some(pca.explained))
}

/// Encodes `dataset`, draws the codes' map (see [`map_points`]) to `png` and writes every code
/// with its label and the point it is drawn at to `csv`.
pub(crate) fn latent_map<B: FusedOps>(
    model: &Autoencoder<B>,
    dataset: &MnistDataset,
    kind: DatasetKind,
    png: &Path,
    csv: &Path,
    device: &B::Device,
) -> Result<LatentReport, ArtifactError> {
    let dim = model.code_size();
    let codes = encode_all(model, dataset, device);
    let (points, axes, explained) = map_points(model.kind(), &codes, dim, dataset);
    let columns = if explained.is_some() {
        "pc1,pc2"
    } else {
        "z1,z2"
    };
    let mut text = format!("index,label,{columns}");
    for j in 0..dim {
        let _ = write!(text, ",code_{j}");
    }
    text.push('\n');
    for (i, (code, point)) in codes.chunks(dim).zip(&points).enumerate() {
        let _ = write!(text, "{i},{},{},{}", point.label, point.x, point.y);
        for v in code {
            let _ = write!(text, ",{v}");
        }
        text.push('\n');
    }
    write_atomic(csv, |f| f.write_all(text.as_bytes()))?;
    let what = match explained {
        Some(_) => "first two principal components",
        None => "the means of the variational codes",
    };
    save_latent_chart(
        png,
        &points,
        &kind.class_names(),
        [&axes[0], &axes[1]],
        &format!("{} test images: {dim}-value codes, {what}", dataset.len()),
    )?;
    Ok(LatentReport {
        images: dataset.len(),
        explained,
    })
}
