//! Digits drawn with a round pen on light paper, at any size: stand-ins for a user's photos
//! of their own handwriting (dark ink, light background, not 28x28, not centred).

use std::f32::consts::TAU;

use image::{Rgb, RgbImage};

/// The pen's path for `digit` in a unit box (x right, y down): polylines.
fn strokes(digit: u8) -> Vec<Vec<(f32, f32)>> {
    let ring = |cx: f32, cy: f32, rx: f32, ry: f32| -> Vec<(f32, f32)> {
        (0..=40)
            .map(|i| {
                let a = i as f32 / 40.0 * TAU;
                (cx + rx * a.cos(), cy + ry * a.sin())
            })
            .collect()
    };
    match digit {
        0 => vec![ring(0.5, 0.5, 0.24, 0.38)],
        1 => vec![vec![(0.36, 0.26), (0.56, 0.1), (0.5, 0.9)]],
        2 => vec![vec![
            (0.25, 0.3),
            (0.4, 0.12),
            (0.6, 0.12),
            (0.72, 0.28),
            (0.65, 0.45),
            (0.25, 0.88),
            (0.78, 0.88),
        ]],
        3 => vec![vec![
            (0.28, 0.18),
            (0.5, 0.1),
            (0.7, 0.2),
            (0.68, 0.38),
            (0.48, 0.48),
            (0.7, 0.58),
            (0.72, 0.78),
            (0.5, 0.9),
            (0.26, 0.82),
        ]],
        4 => vec![vec![(0.6, 0.9), (0.6, 0.1), (0.22, 0.62), (0.8, 0.62)]],
        5 => vec![vec![
            (0.72, 0.12),
            (0.32, 0.12),
            (0.28, 0.45),
            (0.55, 0.42),
            (0.72, 0.58),
            (0.7, 0.8),
            (0.5, 0.9),
            (0.27, 0.82),
        ]],
        6 => vec![vec![
            (0.68, 0.12),
            (0.42, 0.3),
            (0.3, 0.6),
            (0.35, 0.85),
            (0.55, 0.9),
            (0.7, 0.75),
            (0.65, 0.55),
            (0.45, 0.5),
            (0.32, 0.62),
        ]],
        7 => vec![vec![(0.25, 0.12), (0.75, 0.12), (0.45, 0.9)]],
        8 => vec![ring(0.5, 0.29, 0.17, 0.18), ring(0.5, 0.69, 0.21, 0.21)],
        _ => vec![ring(0.5, 0.32, 0.19, 0.2), vec![(0.69, 0.32), (0.62, 0.9)]],
    }
}

/// `digit` drawn `width x height` px, ink `ink` on paper `paper`, pen `pen` px wide.
pub fn draw_digit(digit: u8, width: u32, height: u32, ink: [u8; 3], paper: [u8; 3]) -> RgbImage {
    let mut image = RgbImage::from_pixel(width, height, Rgb(paper));
    let side = width.min(height) as f32 * 0.8;
    let (left, top) = ((width as f32 - side) / 2.0, (height as f32 - side) / 2.0);
    let radius = (side / 28.0).max(1.0);
    for line in strokes(digit) {
        for pair in line.windows(2) {
            let [(x0, y0), (x1, y1)] = [pair[0], pair[1]];
            let length = ((x1 - x0).powi(2) + (y1 - y0).powi(2)).sqrt() * side;
            let dots = (length / (radius / 2.0)).ceil().max(1.0) as usize;
            for i in 0..=dots {
                let t = i as f32 / dots as f32;
                let (cx, cy) = (
                    left + (x0 + (x1 - x0) * t) * side,
                    top + (y0 + (y1 - y0) * t) * side,
                );
                let r = radius.ceil() as i64;
                for dy in -r..=r {
                    for dx in -r..=r {
                        let (px, py) = (cx as i64 + dx, cy as i64 + dy);
                        let inside = (dx * dx + dy * dy) as f32 <= radius * radius;
                        if inside
                            && (0..width as i64).contains(&px)
                            && (0..height as i64).contains(&py)
                        {
                            image.put_pixel(px as u32, py as u32, Rgb(ink));
                        }
                    }
                }
            }
        }
    }
    image
}
