//! Looking at what a trained autoencoder learned: walks between two codes, a variational
//! model's latent plane decoded on a grid, and reconstructions of the user's own pictures.

use std::path::{Path, PathBuf};

use burn::data::dataset::Dataset;
use burn::prelude::*;
use image::imageops::{self, FilterType};
use image::{GrayImage, Luma};
use thiserror::Error;

use crate::artifacts::ArtifactError;
use crate::assess::{images, rows};
use crate::data::MnistDataset;
use crate::data::{IMAGE_PIXELS, IMAGE_SIDE};
use crate::fused::FusedOps;
use crate::model::Autoencoder;
use crate::render::grid::save_grid;

/// MNIST's digits are scaled to fit a 20x20 box, then centred by mass in 28x28.
const DIGIT_BOX: u32 = 20;
/// The widest and tallest picture `reconstruct --image` reads: a phone photo fits.
pub(crate) const MAX_IMAGE_SIDE: u32 = 8192;
/// The most memory decoding one picture may take.
const MAX_IMAGE_BYTES: u64 = 512 << 20;

#[derive(Debug, Error)]
pub enum ExploreError {
    #[error("cannot read image '{}': {reason}; pass a PNG or JPEG file", path.display())]
    BadImage { path: PathBuf, reason: String },
    #[error("image '{}' looks blank (no stroke stands out from its background); pass a picture of one digit", path.display())]
    BlankImage { path: PathBuf },
    #[error(
        "image '{}' is {width}x{height} pixels; pictures up to {MAX_IMAGE_SIDE}x{MAX_IMAGE_SIDE} are read: scale it down first",
        path.display()
    )]
    TooLarge {
        path: PathBuf,
        width: u32,
        height: u32,
    },
    #[error(transparent)]
    Artifact(#[from] ArtifactError),
    #[error(
        "`generate` decodes a variational model's latent plane; the run in '{}' is a {kind} model (model.kind = \"{kind}\"): train one with model.kind = \"vae\" (config/keras-vae.toml), or use `interpolate` to decode between test images",
        dir.display()
    )]
    NotVariational { dir: PathBuf, kind: String },
    #[error("{flag} {index}: the test set has {len} images; pick 0 to {}", len - 1)]
    NoSuchImage {
        flag: &'static str,
        index: usize,
        len: usize,
    },
}

/// A strip walking from test image `from` to `to`: on top, decoded points of the straight line
/// between their codes (ends: the two originals); below, the same steps blended in pixels.
pub fn interpolation<B: FusedOps>(
    model: &Autoencoder<B>,
    dataset: &MnistDataset,
    [from, to]: [usize; 2],
    steps: usize,
    path: &Path,
    device: &B::Device,
) -> Result<(), ExploreError> {
    for (flag, index) in [("--from", from), ("--to", to)] {
        if index >= dataset.len() {
            return Err(ExploreError::NoSuchImage {
                flag,
                index,
                len: dataset.len(),
            });
        }
    }
    let ends = images::<B>(dataset, [from, to], device);
    let codes = model.encode(ends.clone());
    let [code_a, code_b] = [0, 1].map(|i| codes.clone().narrow(0, i, 1));
    let weights: Vec<f32> = (0..steps)
        .map(|i| i as f32 / (steps - 1).max(1) as f32)
        .collect();
    let walk = Tensor::cat(
        weights
            .iter()
            .map(|&t| code_a.clone().mul_scalar(1.0 - t) + code_b.clone().mul_scalar(t))
            .collect(),
        0,
    );
    let decoded = rows(model.decode(walk));
    let [a, b] = [from, to].map(|i| rows(images::<B>(dataset, [i], device)).remove(0));
    let blended: Vec<Vec<f32>> = weights
        .iter()
        .map(|&t| {
            a.iter()
                .zip(&b)
                .map(|(x, y)| x * (1.0 - t) + y * t)
                .collect()
        })
        .collect();
    let top = [vec![a.clone()], decoded, vec![b.clone()]].concat();
    let bottom = [vec![a], blended, vec![b]].concat();
    save_grid(path, &[top, bottom])?;
    Ok(())
}

/// The digits a variational model decodes from a `steps` x `steps` grid of its latent plane,
/// `-span` to `span` on each of the first two dimensions (any others 0): the first dimension
/// grows left to right, the second bottom to top, as on the `latent` map.
pub fn latent_grid<B: FusedOps>(
    model: &Autoencoder<B>,
    steps: usize,
    span: f32,
    path: &Path,
    device: &B::Device,
) -> Result<(), ExploreError> {
    let dims = model.code_size();
    let at = |i: usize| -span + 2.0 * span * i as f32 / (steps - 1).max(1) as f32;
    let mut codes = Vec::with_capacity(steps * steps * dims);
    for row in 0..steps {
        for column in 0..steps {
            let mut code = vec![0.0; dims];
            code[0] = at(column);
            if dims > 1 {
                code[1] = at(steps - 1 - row);
            }
            codes.extend(code);
        }
    }
    let codes = Tensor::<B, 2>::from_data(TensorData::new(codes, [steps * steps, dims]), device);
    let decoded = rows(model.decode(codes));
    let grid: Vec<Vec<Vec<f32>>> = decoded.chunks(steps).map(<[_]>::to_vec).collect();
    save_grid(path, &grid)?;
    Ok(())
}

/// Reads a picture of one digit (PNG or JPEG, any size, colour or gray) and prepares it as
/// MNIST prepared its digits: gray, a dark background (inverted when the picture's border is
/// light), contrast stretched, the stroke scaled into a 20x20 box and centred by its mass in
/// 28x28. Returns 784 values in [0, 1].
pub fn load_own_image(path: &Path) -> Result<Vec<f32>, ExploreError> {
    let gray = decode_gray(path)?;
    let blank = || ExploreError::BlankImage {
        path: path.to_owned(),
    };
    let stroke = stretch_ink(&gray).ok_or_else(blank)?;
    let digit = crop_to_box(&stroke).ok_or_else(blank)?;
    let canvas = centre_by_mass(&digit);
    Ok(canvas.pixels().map(|p| f32::from(p[0]) / 255.0).collect())
}

/// The picture at `path` in gray, judged by its header before anything is decoded (a small file
/// can promise a huge image) and decoded within limits of size and memory.
fn decode_gray(path: &Path) -> Result<GrayImage, ExploreError> {
    let bad = |reason: String| ExploreError::BadImage {
        path: path.to_owned(),
        reason,
    };
    let open = || {
        image::ImageReader::open(path)
            .map_err(|e| bad(e.to_string()))?
            .with_guessed_format()
            .map_err(|e| bad(e.to_string()))
    };
    let (width, height) = open()?.into_dimensions().map_err(|e| bad(e.to_string()))?;
    if width > MAX_IMAGE_SIDE || height > MAX_IMAGE_SIDE {
        return Err(ExploreError::TooLarge {
            path: path.to_owned(),
            width,
            height,
        });
    }
    let mut reader = open()?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    limits.max_alloc = Some(MAX_IMAGE_BYTES);
    reader.limits(limits);
    let gray = reader.decode().map_err(|e| bad(e.to_string()))?.to_luma8();
    if gray.width() == 0 || gray.height() == 0 {
        return Err(bad("it has no pixels".to_owned()));
    }
    Ok(gray)
}

/// The ink of a picture as MNIST has it: light on dark (inverted when the border, its
/// background, is light), stretched from the background to the darkest stroke; `None` when no
/// stroke stands out.
fn stretch_ink(gray: &GrayImage) -> Option<GrayImage> {
    let (width, height) = gray.dimensions();
    let mut border: Vec<f32> = gray
        .enumerate_pixels()
        .filter(|(x, y, _)| *x == 0 || *y == 0 || *x == width - 1 || *y == height - 1)
        .map(|(_, _, p)| f32::from(p[0]) / 255.0)
        .collect();
    border.sort_by(f32::total_cmp);
    let background = border[border.len() / 2];
    let invert = background > 0.5;
    let ink = |p: u8| {
        let v = f32::from(p) / 255.0;
        if invert { 1.0 - v } else { v }
    };
    let floor = if invert { 1.0 - background } else { background };
    let peak = gray.pixels().map(|p| ink(p[0])).fold(0.0, f32::max);
    if peak - floor < 0.2 {
        return None;
    }
    Some(GrayImage::from_fn(width, height, |x, y| {
        let v = ((ink(gray.get_pixel(x, y)[0]) - floor) / (peak - floor)).clamp(0.0, 1.0);
        Luma([(v * 255.0).round() as u8])
    }))
}

/// The stroke's bounding box (pixels clearly above the background), scaled to fit MNIST's
/// 20x20 box; `None` when nothing is clearly above it.
fn crop_to_box(stroke: &GrayImage) -> Option<GrayImage> {
    let (width, height) = stroke.dimensions();
    let (mut x0, mut y0, mut x1, mut y1) = (width, height, 0, 0);
    for (x, y, p) in stroke.enumerate_pixels() {
        if p[0] > 50 {
            (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
        }
    }
    if x0 > x1 {
        return None;
    }
    let cropped = imageops::crop_imm(stroke, x0, y0, x1 - x0 + 1, y1 - y0 + 1).to_image();
    let (w, h) = cropped.dimensions();
    let scale = DIGIT_BOX as f32 / w.max(h) as f32;
    let fit = |side: u32| ((side as f32 * scale).round() as u32).clamp(1, DIGIT_BOX);
    Some(imageops::resize(
        &cropped,
        fit(w),
        fit(h),
        FilterType::Triangle,
    ))
}

/// `digit` on a 28x28 canvas with its centre of mass in the middle (as near as it fits).
fn centre_by_mass(digit: &GrayImage) -> GrayImage {
    let (w, h) = digit.dimensions();
    let (mut mass, mut mx, mut my) = (0f32, 0f32, 0f32);
    for (x, y, p) in digit.enumerate_pixels() {
        let v = f32::from(p[0]);
        mass += v;
        mx += v * x as f32;
        my += v * y as f32;
    }
    let side = IMAGE_SIDE as i64;
    let offset = |centre: f32, extent: u32| {
        let ideal = (side as f32 / 2.0 - centre).round() as i64;
        ideal.clamp(0, side - i64::from(extent))
    };
    let (cx, cy) = if mass > 0.0 {
        (mx / mass, my / mass)
    } else {
        (w as f32 / 2.0, h as f32 / 2.0)
    };
    let mut canvas = GrayImage::new(IMAGE_SIDE as u32, IMAGE_SIDE as u32);
    imageops::replace(&mut canvas, digit, offset(cx, w), offset(cy, h));
    canvas
}

/// Reads each of `paths` with [`load_own_image`], reconstructs them and writes the prepared
/// inputs over their reconstructions to `output`.
pub(crate) fn reconstruct_own_images<B: FusedOps>(
    model: &Autoencoder<B>,
    paths: &[PathBuf],
    output: &Path,
    device: &B::Device,
) -> Result<(), ExploreError> {
    let inputs = paths
        .iter()
        .map(|p| load_own_image(p))
        .collect::<Result<Vec<_>, _>>()?;
    let flat: Vec<f32> = inputs.concat();
    let batch =
        Tensor::<B, 2>::from_data(TensorData::new(flat, [inputs.len(), IMAGE_PIXELS]), device);
    let output_rows = rows(model.forward(batch));
    save_grid(output, &[inputs, output_rows])?;
    Ok(())
}
