//! Convolutions of stride 1 on slices: each image's patches laid out as the columns of a
//! matrix (im2col), multiplied by the weights in the dense products' kernels, the backward as
//! two more products and the patch gradients folded back onto the image (col2im).
//!
//! Work is split by images, in fixed groups of [`GROUP`] images whatever the number of
//! threads: the weight and bias gradients are summed group by group, then over the groups in
//! order, so a result does not depend on the threads or on timing.

use std::cell::RefCell;
use std::mem::MaybeUninit;
use std::ops::Range;
use std::sync::Mutex;

use super::super::terms::Activation;
use super::direct::{self, Shape, Taps};
use super::kernels;
use super::products::{self, Dense, Library, Operand};
use super::team;
use crate::simd::{self, Simd, multiversion};

/// Images per group of the backward pass.
const GROUP: usize = 8;

/// Each product is one single-threaded call (the threads share the images): in `gemm`'s
/// AVX-512 kernels where the kernels may use AVX-512 (measured 12 % faster per epoch of
/// `config/keras-denoising.toml` than its FMA kernels, and `matrixmultiply` slower than both,
/// on a Xeon with AVX-512), else in the FMA kernels every x86-64 with AVX2 has.
fn conv_product() -> Dense {
    let library = match simd::simd() {
        Simd::Avx512 => Library::GemmAvx512,
        _ => Library::Gemm,
    };
    Dense {
        library,
        split: false,
    }
}

/// The sizes of a convolution of stride 1: `images` of `channels x height x width`, `filters`
/// of `channels x kernel x kernel`, `padding` zeros on each side. When `upsampled`, the input
/// is stored at half the height and width, and the convolution reads its 2x upsampling (made
/// image by image in working memory: the upsampled batch is never stored).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    pub images: usize,
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub filters: usize,
    pub kernel: usize,
    pub padding: usize,
    pub upsampled: bool,
}

impl Geometry {
    /// The output's height and width.
    pub fn output(&self) -> [usize; 2] {
        let side = |input: usize| (input + 2 * self.padding + 1).saturating_sub(self.kernel);
        [side(self.height), side(self.width)]
    }

    /// Values in one output channel of one image.
    fn positions(&self) -> usize {
        let [h, w] = self.output();
        h * w
    }

    /// Values in one patch: a filter's size.
    fn patch(&self) -> usize {
        self.channels * self.kernel * self.kernel
    }

    /// Values in one image the convolution reads.
    fn image(&self) -> usize {
        self.channels * self.height * self.width
    }

    /// Values in one image as stored: a quarter of [`Geometry::image`]'s when upsampled.
    fn stored(&self) -> usize {
        if self.upsampled {
            self.image() / 4
        } else {
            self.image()
        }
    }

    /// Image `image` as the convolution reads it: `x`'s, or its upsampling made in `room`.
    fn input<'a>(&self, x: &'a [f32], image: usize, room: &'a mut [f32]) -> &'a [f32] {
        let stored = &x[image * self.stored()..(image + 1) * self.stored()];
        if !self.upsampled {
            return stored;
        }
        upsample_planes(stored, self.width / 2, room, |v| v);
        room
    }

    /// Working memory for [`Geometry::input`].
    fn input_room(&self) -> usize {
        if self.upsampled { self.image() } else { 0 }
    }

    /// With one filter, the convolution is computed directly ([`direct`]): as products it
    /// would be a vector times the patch matrix and an outer product as large (with one input
    /// channel instead, the products keep their shape and are faster than the direct sums:
    /// 1.84 against 2.09 ms forward, 2.50 against 2.95 backward, on the denoising model's first
    /// layer, 128 images, on a Xeon with AVX-512).
    fn direct(&self) -> Option<Shape> {
        (self.filters == 1).then_some(Shape {
            channels: self.channels,
            filters: self.filters,
            height: self.height,
            width: self.width,
            kernel: self.kernel,
            padding: self.padding,
        })
    }

    /// Working memory of one image's forward pass, besides [`Geometry::input_room`].
    fn forward_scratch(&self) -> usize {
        self.direct()
            .map_or(self.patch() * self.positions(), |s| s.forward_scratch())
    }

    /// Working memory of one image's backward pass, besides its weight and output gradients
    /// and, when upsampled, the upsampled image and its gradient.
    fn backward_scratch(&self) -> usize {
        self.direct()
            .map_or(self.patch() * self.positions(), |s| s.backward_scratch())
    }

    /// For each row of the patch matrix, `(channel, dy, dx)`; for each output row `oy` and
    /// offset `d`, the input row (`None` in the padding) and the output columns that read
    /// inside the image, as `(first, end)`.
    fn rows(&self) -> impl Iterator<Item = (usize, usize, usize)> + '_ {
        let k = self.kernel;
        (0..self.channels)
            .flat_map(move |c| (0..k).flat_map(move |dy| (0..k).map(move |dx| (c, dy, dx))))
    }

    /// When the output is the image's size: the ranges of a channel's plane and of a patch
    /// row (offset `(dy, dx)`) that hold the same values, shifted.
    fn shifted(&self, dy: usize, dx: usize) -> Option<(Range<usize>, Range<usize>)> {
        if self.output() != [self.height, self.width] {
            return None;
        }
        let positions = self.positions() as isize;
        let shift = (dy * self.width + dx) as isize - (self.padding * (self.width + 1)) as isize;
        let start = (-shift).clamp(0, positions);
        let stop = (positions - shift).clamp(start, positions);
        let (start, stop) = (start as usize, stop as usize);
        let from = (start as isize + shift) as usize;
        Some((from..from + stop - start, start..stop))
    }

    fn input_row(&self, oy: usize, dy: usize) -> Option<usize> {
        (oy + dy)
            .checked_sub(self.padding)
            .filter(|&y| y < self.height)
    }

    fn inside(&self, dx: usize) -> (usize, usize) {
        let [_, out_w] = self.output();
        let first = self.padding.saturating_sub(dx).min(out_w);
        let end = (self.width + self.padding)
            .saturating_sub(dx)
            .clamp(first, out_w);
        (first, end)
    }
}

/// Zeros the columns of `rows` (lines of `width` values) outside `first..end`: column by
/// column, as they are few (the padding's), where a fill per line would be a call per line.
fn zero_columns(rows: &mut [f32], width: usize, (first, end): (usize, usize)) {
    for column in (0..first).chain(end..width) {
        for line in rows.chunks_exact_mut(width) {
            line[column] = 0.0;
        }
    }
}

/// The patch matrix of one image: `col[(c, dy, dx), (oy, ox)] = image[c, oy + dy - padding, ox
/// + dx - padding]`, zero in the padding.
fn im2col(g: &Geometry, image: &[f32], col: &mut [f32]) {
    let [out_h, out_w] = g.output();
    let positions = g.positions();
    let plane = g.height * g.width;
    for (r, (c, dy, dx)) in g.rows().enumerate() {
        let (first, end) = g.inside(dx);
        let row = &mut col[r * positions..(r + 1) * positions];
        if let Some((from, to)) = g.shifted(dy, dx) {
            // The output is the image's size: the row is the channel's plane shifted by
            // (dy, dx) from the centre, in one copy; then the values that wrapped round from
            // the next or last line are the padding's zeros.
            let plane = &image[c * plane..(c + 1) * plane];
            row[..to.start].fill(0.0);
            row[to.clone()].copy_from_slice(&plane[from]);
            row[to.end..].fill(0.0);
            zero_columns(row, out_w, (first, end));
            continue;
        }
        for oy in 0..out_h {
            let out = &mut row[oy * out_w..(oy + 1) * out_w];
            let Some(y) = g.input_row(oy, dy) else {
                out.fill(0.0);
                continue;
            };
            let line = &image[(c * g.height + y) * g.width..][..g.width];
            out[..first].fill(0.0);
            out[first..end].copy_from_slice(&line[first + dx - g.padding..end + dx - g.padding]);
            out[end..].fill(0.0);
        }
    }
}

/// Adds the patch gradients `col` (as [`im2col`] lays them out) onto the image's, `image`.
/// `col` is left as scratch.
fn col2im(g: &Geometry, col: &mut [f32], image: &mut [f32]) {
    let [out_h, out_w] = g.output();
    let positions = g.positions();
    let plane = g.height * g.width;
    for (r, (c, dy, dx)) in g.rows().enumerate() {
        let (first, end) = g.inside(dx);
        let row = &mut col[r * positions..(r + 1) * positions];
        if let Some((to, from)) = g.shifted(dy, dx) {
            // As in `im2col`: one pass over the shifted plane, once the values that would
            // wrap round onto the next or last line are left out (zeroed).
            zero_columns(row, out_w, (first, end));
            let plane = &mut image[c * plane..(c + 1) * plane];
            kernels::add_into(&mut plane[to], &row[from]);
            continue;
        }
        for oy in 0..out_h {
            let Some(y) = g.input_row(oy, dy) else {
                continue;
            };
            let line = &mut image[(c * g.height + y) * g.width..][..g.width];
            let from = &row[oy * out_w + first..oy * out_w + end];
            kernels::add_into(
                &mut line[first + dx - g.padding..end + dx - g.padding],
                from,
            );
        }
    }
}

thread_local! {
    /// Each thread's working memory for the patch matrices: kept between calls, so that a
    /// step does not map and fault in fresh pages for them every time.
    static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// `work(scratch)` on `len` values of this thread's working memory (whatever they hold).
fn with_scratch<R>(len: usize, work: impl FnOnce(&mut [f32]) -> R) -> R {
    SCRATCH.with(|scratch| {
        // Taken out for the call: a nested call gets memory of its own.
        let mut values = scratch.take();
        if values.len() < len {
            values.resize(len, 0.0);
        }
        let result = work(&mut values[..len]);
        scratch.replace(values);
        result
    })
}

/// `out = a · b` through the convolutions' product.
fn product(m: usize, k: usize, n: usize, a: Operand, b: Operand, out: &mut [f32]) {
    product_into(m, k, n, a, b, uninit(out));
}

/// `out = a · b`, every value of `out` written.
fn product_into(
    m: usize,
    k: usize,
    n: usize,
    a: Operand,
    b: Operand,
    out: &mut [MaybeUninit<f32>],
) {
    products::dense_with(conv_product(), m, k, n, a, b, out, &|_, _| {});
}

multiversion! {
    /// `values = activation(values + bias)`.
    fn offset_activation(values: &mut [f32], bias: f32, activation: Activation) {
        match activation {
            Activation::Linear => values.iter_mut().for_each(|v| *v += bias),
            Activation::Sigmoid => values
                .iter_mut()
                .for_each(|v| *v = super::kernels::sigmoid(*v + bias)),
            Activation::Relu => values.iter_mut().for_each(|v| *v = (*v + bias).max(0.0)),
        }
    }
}

multiversion! {
    /// `dz = dy · activation'` from the output `y` (as the dense layers' backward), and the
    /// sum of `dz`.
    fn slope_sum(dy: &[f32], y: &[f32], dz: &mut [f32], activation: Activation) -> f32 {
        #[inline(always)]
        fn each(dy: &[f32], y: &[f32], dz: &mut [f32], activation: Activation) -> f32 {
            let mut sum = 0.0;
            for ((g, y), dz) in dy.iter().zip(y).zip(dz.iter_mut()) {
                *dz = kernels::slope(activation, *g, *y);
                sum += *dz;
            }
            sum
        }
        // One loop per activation, so that none tests it per value.
        match activation {
            Activation::Linear => each(dy, y, dz, Activation::Linear),
            Activation::Sigmoid => each(dy, y, dz, Activation::Sigmoid),
            Activation::Relu => each(dy, y, dz, Activation::Relu),
        }
    }
}

/// What one image's forward pass reads.
struct Forward<'a> {
    g: &'a Geometry,
    weight: &'a [f32],
    bias: &'a [f32],
    activation: Activation,
    /// A layer of one filter's direct sums, and their taps.
    direct: Option<(Shape, Taps)>,
}

impl<'a> Forward<'a> {
    fn new(g: &'a Geometry, weight: &'a [f32], bias: &'a [f32], activation: Activation) -> Self {
        Self {
            g,
            weight,
            bias,
            activation,
            direct: g.direct().map(|s| (s, s.forward_taps(weight))),
        }
    }

    /// Working memory of [`Forward::image`].
    fn scratch(&self) -> usize {
        self.g.input_room() + self.g.forward_scratch()
    }

    /// Image `image` of `x` through the layer into `out`, every value written, in `scratch`
    /// ([`Forward::scratch`] long).
    fn image<'o>(
        &self,
        (x, image): (&[f32], usize),
        out: &'o mut [MaybeUninit<f32>],
        scratch: &mut [f32],
    ) -> &'o mut [f32] {
        let g = self.g;
        let (positions, patch) = (g.positions(), g.patch());
        let (room, scratch) = scratch.split_at_mut(g.input_room());
        let image = g.input(x, image, room);
        if let Some((shape, taps)) = &self.direct {
            direct::forward(shape, image, taps, out, scratch);
        } else {
            im2col(g, image, scratch);
            let w = Operand::rows(self.weight, patch);
            let col = Operand::rows(scratch, positions);
            product_into(g.filters, patch, positions, w, col, out);
        }
        // SAFETY: both ways write every value of the image's output.
        let out = unsafe { team::init(out) };
        for (values, b) in out.chunks_mut(positions).zip(self.bias) {
            offset_activation(values, *b, self.activation);
        }
        out
    }
}

/// `activation(conv(x, weight) + bias)`, `[images, filters, out_h, out_w]`: x `[images,
/// channels, height, width]`, weight `[filters, channels, kernel, kernel]`.
pub fn forward(
    g: &Geometry,
    x: &[f32],
    weight: &[f32],
    bias: &[f32],
    activation: Activation,
) -> Vec<f32> {
    let per_image = g.filters * g.positions();
    let per_part = g.images.div_ceil(team::threads()).max(1);
    let layer = Forward::new(g, weight, bias, activation);
    team::written(g.images * per_image, |out| {
        team::chunks_mut(out, per_part * per_image, |part, out| {
            with_scratch(layer.scratch(), |scratch| {
                for (i, out) in out.chunks_mut(per_image).enumerate() {
                    layer.image((x, part * per_part + i), out, scratch);
                }
            });
        });
    })
}

/// [`forward`] then a 2x2 max pooling (the squares past the edge cut to what is inside),
/// image by image, so that the convolution's output is never stored: the pooled values, and for each the offset in its output plane of its square's
/// largest value (an f32, exact below 2^24), where [`backward_pooled`] sends its gradient.
pub fn forward_pooled(
    g: &Geometry,
    x: &[f32],
    weight: &[f32],
    bias: &[f32],
    activation: Activation,
) -> (Vec<f32>, Vec<f32>) {
    let (positions, [h, w]) = (g.positions(), g.output());
    let [pooled_h, pooled_w] = pooled([h, w]);
    let plane = pooled_h * pooled_w;
    let per_image = g.filters * plane;
    let per_part = g.images.div_ceil(team::threads()).max(1);
    let layer = Forward::new(g, weight, bias, activation);
    let mut offsets = Vec::with_capacity(g.images * per_image);
    let base = Disjoint(offsets.spare_capacity_mut().as_mut_ptr());
    let values = team::written(g.images * per_image, |out| {
        team::chunks_mut(out, per_part * per_image, |part, out| {
            with_scratch(g.filters * positions + layer.scratch(), |scratch| {
                let (full, scratch) = scratch.split_at_mut(g.filters * positions);
                for (i, out) in out.chunks_mut(per_image).enumerate() {
                    let image = part * per_part + i;
                    let y = layer.image((x, image), uninit(full), scratch);
                    // SAFETY: each image's offsets are written by its part alone, and
                    // `offsets` lives (and is not otherwise touched) until every part is done.
                    let offsets = unsafe {
                        std::slice::from_raw_parts_mut(base.at(image * per_image), per_image)
                    };
                    let planes = out.chunks_mut(plane).zip(offsets.chunks_mut(plane));
                    for (y, (out, offsets)) in y.chunks(positions).zip(planes) {
                        // Every output value is some square's.
                        pool_plane(y, [h, w], out, offsets);
                    }
                }
            });
        });
    });
    // SAFETY: every image's offsets were written above.
    unsafe { offsets.set_len(g.images * per_image) };
    (values, offsets)
}

/// Values (an input gradient, pooling offsets) which parts of a job write disjoint ranges of.
#[derive(Clone, Copy)]
struct Disjoint(*mut MaybeUninit<f32>);

impl Disjoint {
    fn at(self, offset: usize) -> *mut MaybeUninit<f32> {
        self.0.wrapping_add(offset)
    }
}

// SAFETY: the groups sharing it write disjoint elements.
unsafe impl Send for Disjoint {}
// SAFETY: as above.
unsafe impl Sync for Disjoint {}

/// What one image's backward pass reads, and where it writes its input gradient.
struct Backward<'a> {
    g: &'a Geometry,
    x: &'a [f32],
    weight: &'a [f32],
    gradient: Gradient<'a>,
    activation: Activation,
    /// The input gradient, `None` when not asked for.
    dx: Option<Disjoint>,
    /// A layer of one filter's direct sums, and their taps for the input gradient.
    direct: Option<(Shape, Taps)>,
}

/// The gradient a backward pass starts from.
#[derive(Clone, Copy)]
enum Gradient<'a> {
    /// `dy`, of the output `y` of [`forward`].
    Output { y: &'a [f32], dy: &'a [f32] },
    /// `dy`, of the pooled output `pooled` of [`forward_pooled`], with its `offsets`.
    Pooled {
        pooled: &'a [f32],
        offsets: &'a [f32],
        dy: &'a [f32],
    },
}

impl Backward<'_> {
    /// Image `image`'s gradient before the activation, `dz`, whose sums are added to `db`.
    fn slopes(&self, image: usize, dz: &mut [f32], db: &mut [f32]) {
        let g = self.g;
        let positions = g.positions();
        match self.gradient {
            Gradient::Output { y, dy } => {
                let at = image * g.filters * positions..(image + 1) * g.filters * positions;
                let planes = dy[at.clone()]
                    .chunks(positions)
                    .zip(y[at].chunks(positions));
                for (f, ((dy, y), dz)) in planes.zip(dz.chunks_mut(positions)).enumerate() {
                    db[f] += slope_sum(dy, y, dz, self.activation);
                }
            }
            Gradient::Pooled {
                pooled: values,
                offsets,
                dy,
            } => {
                let [h, w] = pooled(g.output());
                let at = image * g.filters * h * w..(image + 1) * g.filters * h * w;
                let planes = (values[at.clone()].chunks(h * w))
                    .zip(offsets[at.clone()].chunks(h * w))
                    .zip(dy[at].chunks(h * w));
                for (f, (((values, offsets), dy), dz)) in
                    planes.zip(dz.chunks_mut(positions)).enumerate()
                {
                    // Each square's gradient to its largest value, none to the others.
                    dz.fill(0.0);
                    for ((y, offset), dy) in values.iter().zip(offsets).zip(dy) {
                        let dz_value = kernels::slope(self.activation, *dy, *y);
                        dz[*offset as usize] = dz_value;
                        db[f] += dz_value;
                    }
                }
            }
        }
    }

    /// Adds image `image`'s weight and bias gradients to `dw` and `db` and writes its input
    /// gradient, in `scratch` (room for a weight gradient, the output's, and
    /// [`Geometry::backward_scratch`]).
    fn image(&self, image: usize, (dw, db): (&mut [f32], &mut [f32]), scratch: &mut [f32]) {
        let g = self.g;
        let (positions, patch) = (g.positions(), g.patch());
        let per_image = g.filters * positions;
        let (dw_image, rest) = scratch.split_at_mut(g.filters * patch);
        let (dz, rest) = rest.split_at_mut(per_image);
        let (room, rest) = rest.split_at_mut(g.input_room());
        let (dx_room, work) = rest.split_at_mut(g.input_room());
        self.slopes(image, dz, db);
        // SAFETY: each image's part of dx is written by the group of that image alone, and
        // `dx` lives (and is not otherwise touched) until every group is done.
        let dx = self.dx.map(|dx| unsafe {
            std::slice::from_raw_parts_mut(dx.0.wrapping_add(image * g.stored()), g.stored())
        });
        // The gradient of the image the convolution reads: x's, or, when upsampled, its
        // upsampling's, summed back over each 2x2 square below.
        let (dx, dx_read) = if g.upsampled {
            let dx_read = dx.is_some().then(|| uninit(dx_room));
            (dx, dx_read)
        } else {
            (None, dx)
        };
        let x = g.input(self.x, image, room);
        if let Some((shape, taps)) = &self.direct {
            direct::backward(shape, (x, taps, dz), dw_image, dx_read, work);
        } else {
            im2col(g, x, work);
            let dz = Operand::rows(dz, positions);
            let col_t = Operand::transposed(work, positions);
            product(g.filters, positions, patch, dz, col_t, dw_image);
            if let Some(dx) = dx_read {
                let weight_t = Operand::transposed(self.weight, patch);
                product(patch, g.filters, positions, weight_t, dz, work);
                // Zeroed image by image, while in cache.
                dx.fill(MaybeUninit::new(0.0));
                // SAFETY: just written.
                col2im(g, work, unsafe { team::init(dx) });
            }
        }
        if let Some(dx) = dx {
            sum_squares(dx_room, g.width / 2, dx, MaybeUninit::new);
        }
        kernels::add_into(dw, dw_image);
    }
}

/// The gradients of [`forward`]: (input, only when `input_grad`; weight; bias).
pub fn backward(
    g: &Geometry,
    (x, weight, y, dy): (&[f32], &[f32], &[f32], &[f32]),
    activation: Activation,
    input_grad: bool,
) -> (Option<Vec<f32>>, Vec<f32>, Vec<f32>) {
    let gradient = Gradient::Output { y, dy };
    backward_from(g, (x, weight, gradient), activation, input_grad)
}

/// The gradients of [`forward_pooled`] (as [`backward`]'s), from its pooled output, its offsets
/// and `dy`, the pooled output's gradient.
pub fn backward_pooled(
    g: &Geometry,
    (x, weight): (&[f32], &[f32]),
    (pooled, offsets, dy): (&[f32], &[f32], &[f32]),
    activation: Activation,
    input_grad: bool,
) -> (Option<Vec<f32>>, Vec<f32>, Vec<f32>) {
    let gradient = Gradient::Pooled {
        pooled,
        offsets,
        dy,
    };
    backward_from(g, (x, weight, gradient), activation, input_grad)
}

fn backward_from(
    g: &Geometry,
    (x, weight, gradient): (&[f32], &[f32], Gradient),
    activation: Activation,
    input_grad: bool,
) -> (Option<Vec<f32>>, Vec<f32>, Vec<f32>) {
    let (positions, patch) = (g.positions(), g.patch());
    let groups = g.images.div_ceil(GROUP);
    // Each group's weight gradient and bias gradient, summed in order afterwards.
    let sums: Vec<Mutex<Vec<f32>>> = (0..groups).map(|_| Mutex::new(Vec::new())).collect();
    // Every image's part is written by its group (below).
    let mut dx = Vec::with_capacity(if input_grad { g.images * g.stored() } else { 0 });
    let pass = Backward {
        g,
        x,
        weight,
        gradient,
        activation,
        dx: input_grad.then_some(Disjoint(dx.spare_capacity_mut().as_mut_ptr())),
        direct: g.direct().map(|s| (s, s.backward_taps(weight))),
    };
    let scratch =
        g.filters * patch + g.filters * positions + 2 * g.input_room() + g.backward_scratch();
    team::split(groups, |group| {
        let mut sum = vec![0f32; g.filters * patch + g.filters];
        let (dw, db) = sum.split_at_mut(g.filters * patch);
        with_scratch(scratch, |scratch| {
            for image in group * GROUP..((group + 1) * GROUP).min(g.images) {
                pass.image(image, (&mut *dw, &mut *db), scratch);
            }
        });
        *sums[group]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = sum;
    });
    let mut total = vec![0f32; g.filters * patch + g.filters];
    for sum in sums {
        let sum = sum
            .into_inner()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        total.iter_mut().zip(&sum).for_each(|(t, s)| *t += s);
    }
    let bias = total.split_off(g.filters * patch);
    if input_grad {
        // SAFETY: every group wrote every value of its images' part, and the groups cover the
        // images.
        unsafe { dx.set_len(g.images * g.stored()) };
    }
    (input_grad.then_some(dx), total, bias)
}

/// Planes of lines of `w` values upsampled 2x into `out` (as many planes as it holds), each
/// value (through `value`) repeated over a 2x2 square.
fn upsample_planes<T: Copy>(x: &[f32], w: usize, out: &mut [T], value: impl Fn(f32) -> T) {
    for (line, pair) in x.chunks(w).zip(out.chunks_mut(4 * w)) {
        let (top, bottom) = pair.split_at_mut(2 * w);
        for (v, two) in line.iter().zip(top.chunks_exact_mut(2)) {
            two.fill(value(*v));
        }
        bottom.copy_from_slice(top);
    }
}

/// The 2x2 squares of `dy` (planes of lines of `2w` values) summed into `dx`'s values (lines
/// of `w`, as many as it holds), through `value`.
fn sum_squares<T>(dy: &[f32], w: usize, dx: &mut [T], value: impl Fn(f32) -> T) {
    for (line, pair) in dx.chunks_mut(w).zip(dy.chunks(4 * w)) {
        let (top, bottom) = pair.split_at(2 * w);
        for ((sum, top), bottom) in line
            .iter_mut()
            .zip(top.chunks_exact(2))
            .zip(bottom.chunks_exact(2))
        {
            *sum = value((top[0] + top[1]) + (bottom[0] + bottom[1]));
        }
    }
}

/// Values that will be written over, as such.
fn uninit(values: &mut [f32]) -> &mut [MaybeUninit<f32>] {
    // SAFETY: MaybeUninit<f32> has f32's layout, and any f32 is a valid one.
    unsafe { &mut *(values as *mut [f32] as *mut [MaybeUninit<f32>]) }
}

/// The pooled sides of `[h, w]`: each halved, rounding up.
fn pooled([h, w]: [usize; 2]) -> [usize; 2] {
    [h.div_ceil(2), w.div_ceil(2)]
}

/// Each 2x2 square of a plane `[h, w]`: its largest value into `values` and that value's
/// offset in the plane into `offsets` (as [`square_max`] picks it), every value of both written.
fn pool_plane(
    plane: &[f32],
    [h, w]: [usize; 2],
    values: &mut [MaybeUninit<f32>],
    offsets: &mut [MaybeUninit<f32>],
) {
    let [out_h, out_w] = pooled([h, w]);
    // The squares inside the plane, row pair by row pair, vectorised; then any past its edge.
    let (full_h, full_w) = (h / 2, w / 2);
    for oy in 0..full_h {
        let at = oy * out_w..oy * out_w + full_w;
        let rows = &plane[2 * oy * w..(2 * oy + 2) * w];
        let base = (2 * oy * w) as i32;
        kernels::max_squares(rows, w, base, &mut values[at.clone()], &mut offsets[at]);
    }
    // The squares past the edge: the last column of the full row pairs, then the last row.
    let edge_column = (full_w < out_w).then_some(full_w);
    let edge = (0..full_h)
        .filter_map(|oy| edge_column.map(|ox| (oy, ox)))
        .chain((full_h..out_h).flat_map(|oy| (0..out_w).map(move |ox| (oy, ox))));
    for (oy, ox) in edge {
        let (at, best) = square_max(plane, [h, w], [oy, ox]);
        values[oy * out_w + ox].write(best);
        offsets[oy * out_w + ox].write(at as f32);
    }
}

/// The offset in the input plane of the largest value of output square `[oy, ox]` (the first
/// of equal ones, row by row; a NaN is never larger) and the value. A square past the edge
/// repeats the last row or column inside, which never wins.
#[inline(always)]
fn square_max(plane: &[f32], [h, w]: [usize; 2], [oy, ox]: [usize; 2]) -> (usize, f32) {
    let (y0, y1) = (2 * oy, (2 * oy + 1).min(h - 1));
    let (x0, x1) = (2 * ox, (2 * ox + 1).min(w - 1));
    let (mut at, mut best) = (y0 * w + x0, plane[y0 * w + x0]);
    for offset in [y0 * w + x1, y1 * w + x0, y1 * w + x1] {
        if plane[offset] > best {
            (at, best) = (offset, plane[offset]);
        }
    }
    (at, best)
}
