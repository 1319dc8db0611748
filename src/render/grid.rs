//! The tutorial's figure: test digits on the top row, their reconstructions below.

use std::io::{self, BufWriter, Write};
use std::path::Path;

use image::{DynamicImage, GrayImage, ImageFormat, Luma};

use crate::artifacts::{ArtifactError, write_atomic};
use crate::data::IMAGE_SIDE;

/// Each MNIST pixel becomes a `SCALE x SCALE` block, so digits are 112 px tall.
pub const SCALE: u32 = 4;
/// Background between and around the digits.
pub const GAP: u32 = 8;
const BACKGROUND: u8 = 96;

/// Width and height of a figure of `columns` digits per row and `rows` rows.
pub fn grid_size(columns: u32, rows: u32) -> (u32, u32) {
    let cell = IMAGE_SIDE as u32 * SCALE;
    (
        columns * cell + (columns + 1) * GAP,
        rows * cell + (rows + 1) * GAP,
    )
}

/// Lays out `rows` of equally many images (each `IMAGE_PIXELS` values in [0, 1]) as a grid.
pub fn render_grid(rows: &[Vec<Vec<f32>>]) -> GrayImage {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0) as u32;
    let (width, height) = grid_size(columns, rows.len() as u32);
    let mut canvas = GrayImage::from_pixel(width, height, Luma([BACKGROUND]));
    let cell = IMAGE_SIDE as u32 * SCALE;
    for (r, row) in rows.iter().enumerate() {
        for (c, digit) in row.iter().enumerate() {
            let left = GAP + c as u32 * (cell + GAP);
            let top = GAP + r as u32 * (cell + GAP);
            for y in 0..cell {
                for x in 0..cell {
                    let pixel = digit[(y / SCALE) as usize * IMAGE_SIDE + (x / SCALE) as usize];
                    let value = (pixel.clamp(0.0, 1.0) * 255.0).round() as u8;
                    canvas.put_pixel(left + x, top + y, Luma([value]));
                }
            }
        }
    }
    canvas
}

/// Writes `originals` over `reconstructions` to `path` as a PNG, atomically.
pub(crate) fn save_reconstruction(
    path: &Path,
    originals: &[Vec<f32>],
    reconstructions: &[Vec<f32>],
) -> Result<(), ArtifactError> {
    save_grid(path, &[originals.to_vec(), reconstructions.to_vec()])
}

/// Writes [`render_grid`] of `rows` to `path`.
pub(crate) fn save_grid(path: &Path, rows: &[Vec<Vec<f32>>]) -> Result<(), ArtifactError> {
    save_png(path, &render_grid(rows).into())
}

/// Writes `image` to `path` as a PNG, atomically.
pub(crate) fn save_png(path: &Path, image: &DynamicImage) -> Result<(), ArtifactError> {
    write_atomic(path, |file| {
        let mut writer = BufWriter::new(file);
        image
            .write_to(&mut writer, ImageFormat::Png)
            .map_err(io::Error::other)?;
        writer.flush()
    })
}
