//! Convolutions of stride 1 computed directly on padded planes, without a patch matrix: for
//! the layers with one filter, where im2col's products degenerate into a vector times the
//! patch matrix and an outer product as large, streaming it through memory for one
//! multiply-add per value (the denoising model's last layer, 32 channels to 1, took 15.2 of the
//! 45 ms of its five convolutions per step of 128 images that way; 4.8 to 5.8 ms here).
//!
//! Every plane is kept `padded width` wide, so that each tap of the kernel is one shift of the
//! whole plane: an output computed over the padded width has a few extra columns on the
//! right, which are dropped. Each value is summed over the taps in one fixed order, lane by
//! lane, so the results are the same with or without AVX-512 and whatever the threads.

use std::mem::MaybeUninit;

use crate::simd::multiversion;

/// One tap of a kernel: `(offset, weight)`.
pub type Tap = (usize, f32);

/// Each filter's (or channel's) taps over a padded plane.
pub type Taps = Vec<Vec<Tap>>;

/// The sizes of one image's convolution, as [`super::conv`]'s geometry gives them.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub channels: usize,
    pub filters: usize,
    pub height: usize,
    pub width: usize,
    pub kernel: usize,
    pub padding: usize,
}

impl Shape {
    /// The padded width: every plane's row length here.
    fn row(&self) -> usize {
        self.width + 2 * self.padding
    }

    fn padded_height(&self) -> usize {
        self.height + 2 * self.padding
    }

    /// The output's height and width.
    fn output(&self) -> [usize; 2] {
        let k = self.kernel;
        [self.padded_height() + 1 - k, self.row() + 1 - k]
    }

    /// One padded input plane.
    fn plane(&self) -> usize {
        self.padded_height() * self.row()
    }

    /// Zeros after the last plane: a shifted read of the extra columns runs past it by up to
    /// `kernel - 1` values.
    fn slack(&self) -> usize {
        self.kernel - 1
    }

    /// The padded image: every channel's plane, then the slack.
    pub fn padded_len(&self) -> usize {
        self.channels * self.plane() + self.slack()
    }

    /// One filter's output gradient, with `kernel - 1` zero rows above and below and zero
    /// columns on the left: the output's positions read by a shift of the padded input's.
    fn grad_plane(&self) -> usize {
        (self.padded_height() + self.kernel - 1) * self.row()
    }

    fn grad_len(&self) -> usize {
        self.filters * self.grad_plane() + self.slack()
    }

    /// Working memory of [`forward`].
    pub fn forward_scratch(&self) -> usize {
        self.padded_len() + self.output()[0] * self.row()
    }

    /// Working memory of [`backward`].
    pub fn backward_scratch(&self) -> usize {
        self.padded_len() + self.grad_len() + self.plane()
    }

    /// Where tap `(dy, dx)` of channel `c` reads, from an output position, in the padded
    /// image.
    fn tap(&self, c: usize, dy: usize, dx: usize) -> usize {
        c * self.plane() + dy * self.row() + dx
    }

    /// Each filter's taps over the padded image: `(offset, weight)`, channel by channel, row
    /// by row, as Burn lays out a weight `[filters, channels, kernel, kernel]`.
    pub fn forward_taps(&self, weight: &[f32]) -> Taps {
        let k = self.kernel;
        let mut weights = weight.iter();
        (0..self.filters)
            .map(|_| {
                (0..self.channels)
                    .flat_map(|c| (0..k).flat_map(move |dy| (0..k).map(move |dx| (c, dy, dx))))
                    .map(|(c, dy, dx)| (self.tap(c, dy, dx), *weights.next().expect("weights")))
                    .collect()
            })
            .collect()
    }

    /// Each channel's taps over the output gradients (laid out as [`backward`] pads them): the
    /// kernel turned round, summed over the filters.
    pub fn backward_taps(&self, weight: &[f32]) -> Taps {
        let k = self.kernel;
        let channel = |c: usize| {
            let mut taps = Vec::with_capacity(self.filters * k * k);
            for f in 0..self.filters {
                for dy in 0..k {
                    for dx in 0..k {
                        let offset =
                            f * self.grad_plane() + (k - 1 - dy) * self.row() + (k - 1 - dx);
                        taps.push((offset, weight[((f * self.channels + c) * k + dy) * k + dx]));
                    }
                }
            }
            taps
        };
        (0..self.channels).map(channel).collect()
    }
}

/// `padded` = `image` with `padding` zeros around each plane, then the slack.
fn pad(s: &Shape, image: &[f32], padded: &mut [f32]) {
    padded.fill(0.0);
    let (row, p) = (s.row(), s.padding);
    for (c, plane) in image.chunks_exact(s.height * s.width).enumerate() {
        for (y, line) in plane.chunks_exact(s.width).enumerate() {
            let at = c * s.plane() + (y + p) * row + p;
            padded[at..at + s.width].copy_from_slice(line);
        }
    }
}

/// Output values summed in registers at a time.
const LANES: usize = 64;

multiversion! {
    /// `out[q] = Σ weight · src[q + offset]` over `taps`, in their order.
    fn correlate(out: &mut [f32], src: &[f32], taps: &[Tap]) {
        let n = out.len();
        let mut q = 0;
        while q + LANES <= n {
            let mut sum = [0f32; LANES];
            for &(offset, weight) in taps {
                let src = &src[q + offset..q + offset + LANES];
                for (sum, x) in sum.iter_mut().zip(src) {
                    *sum += weight * x;
                }
            }
            out[q..q + LANES].copy_from_slice(&sum);
            q += LANES;
        }
        for (q, out) in out.iter_mut().enumerate().skip(q) {
            let mut sum = 0f32;
            for &(offset, weight) in taps {
                sum += weight * src[q + offset];
            }
            *out = sum;
        }
    }
}

multiversion! {
    /// `out[t] = Σ_q a[q] · src[q + offsets[t]]`: each sum in [`LANES`] partial sums (lane
    /// `l` takes the positions `l mod LANES`, in order), then added up pairwise.
    fn dots(a: &[f32], src: &[f32], offsets: &[usize], out: &mut [f32]) {
        let n = a.len();
        for (out, &offset) in out.iter_mut().zip(offsets) {
            let src = &src[offset..offset + n];
            let mut sum = [0f32; LANES];
            let mut chunks = a.chunks_exact(LANES).zip(src.chunks_exact(LANES));
            for (a, x) in chunks.by_ref() {
                for ((sum, a), x) in sum.iter_mut().zip(a).zip(x) {
                    *sum += a * x;
                }
            }
            let done = n - n % LANES;
            for ((sum, a), x) in sum.iter_mut().zip(&a[done..]).zip(&src[done..]) {
                *sum += a * x;
            }
            // Halves added pairwise: the same order at every vector width.
            let mut width = LANES;
            while width > 1 {
                width /= 2;
                let (low, high) = sum.split_at_mut(width);
                low.iter_mut().zip(&high[..width]).for_each(|(l, h)| *l += h);
            }
            *out = sum[0];
        }
    }
}

/// One image's convolution before the bias and activation: every value of `out` written, each
/// filter's `[out_h, out_w]`; `taps` are [`Shape::forward_taps`]'s, `scratch` is
/// [`Shape::forward_scratch`] long.
pub fn forward(
    s: &Shape,
    image: &[f32],
    taps: &[Vec<Tap>],
    out: &mut [MaybeUninit<f32>],
    scratch: &mut [f32],
) {
    let [out_h, out_w] = s.output();
    let (padded, wide) = scratch.split_at_mut(s.padded_len());
    pad(s, image, padded);
    for (taps, out) in taps.iter().zip(out.chunks_exact_mut(out_h * out_w)) {
        correlate(wide, padded, taps);
        for (out, wide) in out.chunks_exact_mut(out_w).zip(wide.chunks_exact(s.row())) {
            for (out, value) in out.iter_mut().zip(wide) {
                out.write(*value);
            }
        }
    }
}

/// One image's weight gradient (written to `dw`, `[filters, channels, kernel, kernel]`) and,
/// when `dx` is given, its input gradient (every value written there), from the gradient `dz` of the
/// values before the activation; `taps` are [`Shape::backward_taps`]'s. `scratch` is
/// [`Shape::backward_scratch`] long.
pub fn backward(
    s: &Shape,
    (image, taps, dz): (&[f32], &[Vec<Tap>], &[f32]),
    dw: &mut [f32],
    dx: Option<&mut [MaybeUninit<f32>]>,
    scratch: &mut [f32],
) {
    let (k, row, [out_h, out_w]) = (s.kernel, s.row(), s.output());
    let (padded, rest) = scratch.split_at_mut(s.padded_len());
    let (grads, wide) = rest.split_at_mut(s.grad_len());
    pad(s, image, padded);
    grads.fill(0.0);
    for (f, dz) in dz.chunks_exact(out_h * out_w).enumerate() {
        for (y, line) in dz.chunks_exact(out_w).enumerate() {
            let at = f * s.grad_plane() + (y + k - 1) * row + k - 1;
            grads[at..at + out_w].copy_from_slice(line);
        }
    }
    // dw[f, c, dy, dx] = Σ dz[f, y, x] · padded[c, y + dy, x + dx]; the extra columns of the
    // shifted gradient are its zero columns.
    let offsets: Vec<usize> = (0..k)
        .flat_map(|dy| (0..k).map(move |dx| dy * row + dx))
        .collect();
    for (f, dw) in dw.chunks_exact_mut(s.channels * k * k).enumerate() {
        let start = f * s.grad_plane() + (k - 1) * row + k - 1;
        let dz = &grads[start..start + out_h * row];
        for (c, dw) in dw.chunks_exact_mut(k * k).enumerate() {
            dots(dz, &padded[c * s.plane()..], &offsets, dw);
        }
    }
    let Some(dx) = dx else {
        return;
    };
    // dx[c, y, x] = Σ w[f, c, dy, dx] · dz[f, y + p - dy, x + p - dx]: over the padded plane,
    // whose inner part is the image's.
    for (taps, dx) in taps.iter().zip(dx.chunks_exact_mut(s.height * s.width)) {
        correlate(wide, grads, taps);
        for (y, dx) in dx.chunks_exact_mut(s.width).enumerate() {
            let at = (y + s.padding) * row + s.padding;
            for (dx, value) in dx.iter_mut().zip(&wide[at..at + s.width]) {
                dx.write(*value);
            }
        }
    }
}
