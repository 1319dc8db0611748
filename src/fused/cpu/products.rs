//! The matrix products of the fused operations, on row-major slices.
//!
//! Dense products go to the `gemm` crate, which reads each operand with its own strides (a
//! transposed operand costs no copy) and splits the work over the current rayon pool, the
//! threads of the elementwise passes too (chosen by measurement: `examples/gemm_floor.rs`).
//! Products with the images, four fifths of whose pixels are exactly zero, skip the zeros
//! instead: a pass over the nonzero pixels of each image.

use std::borrow::Cow;
use std::mem::MaybeUninit;

use super::super::plan::Kernel;
use super::super::terms::Activation;
use super::kernels::{activate, sigmoid};
use crate::simd::multiversion;

/// A matrix operand: element `(r, c)` at `data[r * row + c * col]`.
#[derive(Clone, Copy)]
pub struct Operand<'a> {
    pub data: &'a [f32],
    pub row: usize,
    pub col: usize,
}

impl<'a> Operand<'a> {
    /// A row-major matrix of `cols` columns.
    pub fn rows(data: &'a [f32], cols: usize) -> Self {
        Self {
            data,
            row: cols,
            col: 1,
        }
    }

    /// The transpose of a row-major matrix of `cols` columns.
    pub fn transposed(data: &'a [f32], cols: usize) -> Self {
        Self {
            data,
            row: 1,
            col: cols,
        }
    }

    /// Whether element `(rows - 1, cols - 1)` lies inside `data`.
    fn covers(&self, rows: usize, cols: usize) -> bool {
        (rows - 1) * self.row + (cols - 1) * self.col < self.data.len()
    }
}

/// A library of dense products.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Library {
    /// The `gemm` crate's FMA kernels (gemm 0.18.2, built without AVX-512): the same arithmetic
    /// on every x86-64 with AVX2 and FMA.
    Gemm,
    /// The `gemm` crate with its AVX-512 kernels (gemm 0.19 with `x86-v4`), where the processor
    /// has AVX-512; its FMA kernels elsewhere.
    GemmAvx512,
    /// The `matrixmultiply` crate (its AVX-512 kernels where the processor has them).
    Matrixmultiply,
}

/// How a dense product runs: which library, and whether the output's columns are split over
/// the threads of the current pool (else one call on the calling thread).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dense {
    pub library: Library,
    pub split: bool,
}

impl Dense {
    /// What every dense product ran before kernels were chosen by measurement.
    pub const REFERENCE: Dense = Dense {
        library: Library::Gemm,
        split: true,
    };
}

/// `out[m, n] = a[m, k] · b[k, n]`, row-major; every value of `out` is written. Through the
/// reference kernel ([`Dense::REFERENCE`]).
pub fn dense(m: usize, k: usize, n: usize, a: Operand, b: Operand, out: &mut [MaybeUninit<f32>]) {
    dense_with(Dense::REFERENCE, m, k, n, a, b, out, &|_, _| {});
}

/// [`dense`] through `kernel`, then `finish(row, start)` on each row's part of each block of
/// columns (starting at column `start`) while the block is still in cache, by the thread that
/// computed it.
///
/// Split, the columns of `out` are cut into one block per thread of the current pool (for
/// products large enough to be worth it), each block one single-threaded call: measured faster
/// than letting `gemm` split the work itself, for the transposed operands of the backward pass
/// most of all. The blocks are the same for the same shapes and pool, so the result does not
/// depend on timing.
#[allow(clippy::too_many_arguments)]
pub(crate) fn dense_with(
    kernel: Dense,
    m: usize,
    k: usize,
    n: usize,
    a: Operand,
    b: Operand,
    out: &mut [MaybeUninit<f32>],
    finish: &(dyn Fn(&mut [f32], usize) + Sync),
) {
    assert_eq!(out.len(), m * n, "output size");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        out.fill(MaybeUninit::new(0.0));
        for row in out.chunks_mut(n) {
            // SAFETY: just written.
            finish(
                unsafe { &mut *(row as *mut [MaybeUninit<f32>] as *mut [f32]) },
                0,
            );
        }
        return;
    }
    assert!(a.covers(m, k) && b.covers(k, n), "operand sizes");
    let parts = if kernel.split {
        (m * n * k / (1 << 18)).clamp(1, super::team::threads())
    } else {
        1
    };
    // Whole vectors of columns per block, and at least one column.
    let width = n.div_ceil(parts).div_ceil(16).max(1) * 16;
    let out = Shared(out.as_mut_ptr().cast::<f32>());
    let block = |block: usize| {
        let start = block * width;
        let columns = width.min(n - start);
        // SAFETY: the asserts keep every element the strides reach inside its slice; each
        // block writes only its own columns of `out` (`m x n` row-major, never read), which
        // does not overlap the inputs (it is borrowed mutably).
        unsafe { product(kernel.library, m, k, columns, a, b, start, out.at(start), n) };
        for row in 0..m {
            // SAFETY: the product has written this block of columns of every row; no other
            // block touches them.
            let values =
                unsafe { std::slice::from_raw_parts_mut(out.at(row * n + start), columns) };
            finish(values, start);
        }
    };
    let blocks = n.div_ceil(width);
    if blocks == 1 {
        block(0);
    } else {
        super::team::split(blocks, block);
    }
}

/// One single-threaded call of a `gemm` crate's `gemm` (`gemm_fma` or `gemm`, the same
/// signature): `out = a · b` from `b_start`, `out` not read (`read_dst` false).
macro_rules! gemm_call {
    ($gemm:ident, $m:expr, $columns:expr, $k:expr, $a:expr, $b_start:expr, $b:expr, $out:expr, $n:expr) => {
        $gemm::gemm(
            $m,
            $columns,
            $k,
            $out,
            1,
            $n as isize,
            false,
            $a.data.as_ptr(),
            $a.col as isize,
            $a.row as isize,
            $b_start,
            $b.col as isize,
            $b.row as isize,
            0.0,
            1.0,
            false,
            false,
            false,
            $gemm::Parallelism::None,
        )
    };
}

/// `out[.., ..columns] = a · b[.., start..start + columns]`, `out` `m` rows `n` apart, in one
/// single-threaded call of `library`.
///
/// # Safety
/// `a` must hold `m x k` elements and `b` `k x (start + columns)` at their strides; `out` must
/// be valid for writes of `m` rows of `columns` values, `n` apart, overlapping neither.
#[allow(clippy::too_many_arguments)]
unsafe fn product(
    library: Library,
    m: usize,
    k: usize,
    columns: usize,
    a: Operand,
    b: Operand,
    start: usize,
    out: *mut f32,
    n: usize,
) {
    // SAFETY: as the caller promises.
    unsafe {
        let b_start = b.data.as_ptr().add(start * b.col);
        match library {
            Library::Gemm => gemm_call!(gemm_fma, m, columns, k, a, b_start, b, out, n),
            Library::GemmAvx512 => gemm_call!(gemm, m, columns, k, a, b_start, b, out, n),
            // With beta 0, `out` is written and never read.
            Library::Matrixmultiply => matrixmultiply::sgemm(
                m,
                k,
                columns,
                1.0,
                a.data.as_ptr(),
                a.row as isize,
                a.col as isize,
                b_start,
                b.row as isize,
                b.col as isize,
                0.0,
                out,
                n as isize,
                1,
            ),
        }
    }
}

/// The output pointer, shared by the blocks that write disjoint parts of it.
#[derive(Clone, Copy)]
struct Shared(*mut f32);

// SAFETY: the blocks of `dense` write disjoint elements through it.
unsafe impl Send for Shared {}
// SAFETY: as above.
unsafe impl Sync for Shared {}

impl Shared {
    fn at(self, offset: usize) -> *mut f32 {
        // SAFETY: `offset` is a column index inside the output.
        unsafe { self.0.add(offset) }
    }
}

/// The share of nonzero values up to which products skip the zeros.
const SPARSE_UP_TO: f64 = 0.4;

multiversion! {
    /// Whether products with `x` should skip its zeros: at most [`SPARSE_UP_TO`] of its values
    /// nonzero (NaN counting as nonzero). Counted a run of values at a time, each run's count
    /// a sum the compiler vectorises, and given up as soon as the share is passed, so that a
    /// matrix with few zeros is decided on its first values: a step of the tutorial's model
    /// asks this twice of its images and twice of its code, on the caller's thread alone (a
    /// plain filtered count took 30 µs for a batch of 100 images, 9.5 µs for its code, on an
    /// AMD EPYC, Zen 3; asked six times a step, 140 µs, against 40 µs with this count; now
    /// four times, about 21 µs).
    pub(crate) fn mostly_zeros(x: &[f32]) -> bool {
        const RUN: usize = 4096;
        // For a whole number of nonzeros, `nonzero <= limit` exactly when it is at most the
        // share of the length.
        let limit = (SPARSE_UP_TO * x.len() as f64) as usize;
        let mut nonzero = 0;
        for run in x.chunks(RUN) {
            nonzero += run.iter().map(|&v| u32::from(v != 0.0)).sum::<u32>() as usize;
            if nonzero > limit {
                return false;
            }
        }
        true
    }
}

/// Columns accumulated at once with AVX-512 (eight of its registers per row of a group), and
/// the width of a part of the weights one thread's products skipping zeros take.
pub(crate) const BLOCK: usize = 128;
/// Rows of the output computed together: each line of the other operand is loaded once for
/// all of them. Two rows of [`BLOCK`] values are sixteen AVX-512 registers.
pub(crate) const GROUP: usize = 2;

/// Column blocks of [`block_width`] values of a row-major matrix, the lines a sparse product
/// reads. Laid out again, each block its rows one after another (the last block padded with
/// zeros), so that the lines lie together instead of a row apart, where they would crowd into
/// a few cache sets; except where the blocks are [`BLOCK`] wide and the columns whole blocks:
/// there the matrix is read in place, its lines 512 bytes of a row, which spares a copy of
/// the weights a step (on an AMD EPYC, Zen 4, `x.W1` 0.092-0.093 s an epoch against
/// 0.095-0.096 and `xT.dz1` 0.080-0.081 against 0.085-0.088; with AVX2's blocks of 64, read in
/// place, `xT.dz1` took 0.087-0.096 against 0.076-0.077 copied).
pub(crate) struct Blocked<'a> {
    values: Cow<'a, [f32]>,
    rows: usize,
    cols: usize,
    /// Columns a block.
    width: usize,
    /// Values from one line of a block to the next, and from one block to the next.
    row_stride: usize,
    block_stride: usize,
    /// Every value is finite: skipping a zero's product with one is then exact (IEEE's
    /// `0 · NaN` and `0 · ∞` are NaN, which a skipped product would lose).
    finite: bool,
}

impl<'a> Blocked<'a> {
    /// The columns `columns` of `matrix` (`cols` columns a row), blocked for `kernel`.
    pub fn columns(
        matrix: &'a [f32],
        cols: usize,
        columns: std::ops::Range<usize>,
        kernel: Kernel,
    ) -> Self {
        let rows = matrix.len() / cols.max(1);
        let (width, block) = (columns.len(), block_width(kernel));
        if block == BLOCK && width % block == 0 {
            let lines = matrix.chunks_exact(cols).map(|line| &line[columns.clone()]);
            return Self {
                finite: lines.fold(true, |finite, line| finite & all_finite(line)),
                values: Cow::Borrowed(&matrix[columns.start.min(matrix.len())..]),
                rows,
                cols: width,
                width: block,
                row_stride: cols,
                block_stride: block,
            };
        }
        let mut values = Vec::with_capacity(width.div_ceil(block) * rows * block);
        for start in columns.clone().step_by(block) {
            let lines = matrix.chunks_exact(cols);
            let part = start..(start + block).min(columns.end);
            match block {
                AVX2_COLUMNS => copy_block::<AVX2_COLUMNS>(lines, part, &mut values),
                _ => copy_block::<BLOCK>(lines, part, &mut values),
            }
        }
        Self {
            finite: all_finite(&values),
            values: Cow::Owned(values),
            rows,
            cols: width,
            width: block,
            row_stride: block,
            block_stride: rows * block,
        }
    }

    /// Element `(row, col)`.
    fn at(&self, row: usize, col: usize) -> f32 {
        let width = self.width;
        self.values[row * self.row_stride + (col / width) * self.block_stride + col % width]
    }

    /// Row `row` of column block `block`.
    #[inline(always)]
    fn line(&self, block: usize, row: usize) -> &[f32] {
        let at = row * self.row_stride + block * self.block_stride;
        &self.values[at..at + self.width]
    }

    /// The column blocks.
    fn blocks(&self) -> usize {
        self.cols.div_ceil(self.width)
    }
}

/// Whether every one of `values` is finite. A value is infinite or NaN where its exponent's
/// bits are all ones, which adding one to them carries into the sign bit: a test of integers,
/// which vectorises (a sum of `0 · v` did not, and took most of the copy's time: floating-point
/// sums keep their order).
fn all_finite(values: &[f32]) -> bool {
    const EXPONENT: u32 = 0x7f80_0000;
    let carried = (values.iter()).fold(0, |any, v| any | ((v.to_bits() & EXPONENT) + 0x0080_0000));
    carried & 0x8000_0000 == 0
}

/// Appends the columns `part` of each of `lines` to `values`, `W` values a line (zeros after
/// the matrix's last column): a whole block's line copied eight values at a time, copies of a
/// size the compiler makes without a call (a whole line of 64 was a call to `memmove`).
fn copy_block<'a, const W: usize>(
    lines: impl Iterator<Item = &'a [f32]>,
    part: std::ops::Range<usize>,
    values: &mut Vec<f32>,
) {
    for line in lines {
        let line = &line[part.clone()];
        match <&[f32; W]>::try_from(line) {
            Ok(whole) => {
                for eight in whole.as_chunks::<8>().0 {
                    values.extend_from_slice(eight);
                }
            }
            Err(_) => {
                values.extend_from_slice(line);
                values.resize(values.len() + W - line.len(), 0.0);
            }
        }
    }
}

/// One term of a group's sum: a line of the other operand and its factor for each row of
/// the group (zero where that row has none).
type Term = (usize, [f32; GROUP]);

/// [`sparse_rows`] for weights that are not all finite: every product, zeros included, so that
/// NaN and infinity propagate as IEEE says.
fn every_product(
    x: &[f32],
    k: usize,
    w: &Blocked<'_>,
    bias: &[f32],
    out: &mut [&mut [MaybeUninit<f32>]],
    activation: Activation,
) {
    for (x, out) in x.chunks_exact(k).zip(out.iter_mut()) {
        for (j, o) in out[..bias.len()].iter_mut().enumerate() {
            let sum = x
                .iter()
                .enumerate()
                .map(|(i, v)| v * w.at(i, j))
                .sum::<f32>();
            o.write(activate(activation, sum + bias[j]));
        }
    }
}

multiversion! {
    /// `out[r][..] = activation(bias + Σ_i x[r, i] · w[i, ..])` over the pixels `i` some row
    /// of the group of `r` has nonzero, for each row `r` of `x` (`k` values a row); `w`
    /// blocked, `k` rows of `bias.len()` columns: the first layer's forward pass, for the
    /// columns of `w`, `bias` and each of `out`.
    pub(crate) fn sparse_rows(
        x: &[f32],
        k: usize,
        w: &Blocked<'_>,
        bias: &[f32],
        out: &mut [&mut [MaybeUninit<f32>]],
        activation: Activation,
    ) {
        let n = bias.len();
        assert!(w.rows == k && w.cols == n, "weight shape");
        if !w.finite {
            return every_product(x, k, w, bias, out, activation);
        }
        #[cfg(target_arch = "x86_64")]
        if avx2_blocks(w) {
            return rows_avx2(x, k, w, bias, out, activation);
        }
        let zeros = vec![0f32; k];
        // Each group's terms, group after group.
        let mut terms: Vec<Term> = Vec::with_capacity(x.len() / 4);
        let mut ends = Vec::with_capacity(x.len() / k.max(1) / GROUP + 1);
        for rows in x.chunks(GROUP * k) {
            let lines: [&[f32]; GROUP] =
                std::array::from_fn(|g| rows.get(g * k..(g + 1) * k).unwrap_or(&zeros));
            for start in (0..k).step_by(16) {
                let width = 16.min(k - start);
                // The lanes where some row of the group is nonzero, compared as vectors.
                let mut mask = 0u32;
                for line in lines {
                    for (lane, v) in line[start..start + width].iter().enumerate() {
                        mask |= u32::from(*v != 0.0) << lane;
                    }
                }
                while mask != 0 {
                    let i = start + mask.trailing_zeros() as usize;
                    terms.push((i, lines.map(|line| line[i])));
                    mask &= mask - 1;
                }
            }
            ends.push(terms.len());
        }
        // Block after block, so that one block of the weights (at most 400 KB for 784 rows)
        // stays in the L2 cache while every group adds its terms.
        for block in 0..w.blocks() {
            let mut begin = 0;
            for (outs, &end) in out.chunks_mut(GROUP).zip(&ends) {
                let (terms, b) = (&terms[begin..end], bias);
                match activation {
                    Activation::Linear => accumulate_block(terms, w, block, outs, |v, j| v + b[j]),
                    Activation::Sigmoid => {
                        accumulate_block(terms, w, block, outs, |v, j| sigmoid(v + b[j]))
                    }
                    Activation::Relu => {
                        accumulate_block(terms, w, block, outs, |v, j| (v + b[j]).max(0.0))
                    }
                }
                begin = end;
            }
        }
    }
}

multiversion! {
    /// `out[i, ..] = Σ_r x[r, i] · g[r, ..]` over the rows `r` where a column of the group of
    /// `i` is nonzero, for the columns `i` of `x` (`k` values a row) in `columns`: rows
    /// `columns` of the weight gradient `xᵀ · g`, `g` `[rows, n]` blocked.
    pub(crate) fn sparse_columns(
        x: &[f32],
        k: usize,
        g: &Blocked<'_>,
        columns: std::ops::Range<usize>,
        out: &mut [MaybeUninit<f32>],
    ) {
        let n = g.cols;
        assert_eq!(g.rows, x.len() / k.max(1), "gradient rows");
        if !g.finite {
            // Every product, zeros included, so that NaN and infinity propagate as IEEE says.
            for (i, out) in columns.clone().zip(out.chunks_mut(n)) {
                for (j, o) in out.iter_mut().enumerate() {
                    let sum = (0..g.rows).map(|r| x[r * k + i] * g.at(r, j)).sum::<f32>();
                    o.write(sum);
                }
            }
            return;
        }
        #[cfg(target_arch = "x86_64")]
        if avx2_blocks(g) {
            return columns_avx2(x, k, g, columns, out);
        }
        // Each row's nonzero columns in `columns`, a bit each.
        let words = columns.len().div_ceil(64);
        let mut masks = vec![0u64; g.rows * words];
        for (row, masks) in x.chunks_exact(k).zip(masks.chunks_exact_mut(words)) {
            for (word, values) in masks.iter_mut().zip(row[columns.clone()].chunks(64)) {
                for (bit, v) in values.iter().enumerate() {
                    *word |= u64::from(*v != 0.0) << bit;
                }
            }
        }
        let mut terms: Vec<Term> = Vec::with_capacity(g.rows);
        for (group, out) in out.chunks_mut(GROUP * n).enumerate() {
            let (first, offset) = (group * GROUP, columns.start + group * GROUP);
            let size = GROUP.min(columns.len() - first);
            terms.clear();
            for (r, masks) in masks.chunks_exact(words).enumerate() {
                // GROUP divides 64: a group's bits never straddle two words.
                if (masks[first / 64] >> (first % 64)) & ((1 << size) - 1) != 0 {
                    let row = &x[r * k + offset..r * k + offset + size];
                    terms.push((r, std::array::from_fn(|c| row.get(c).copied().unwrap_or(0.0))));
                }
            }
            let mut outs: Vec<&mut [MaybeUninit<f32>]> = out.chunks_exact_mut(n).collect();
            for block in 0..g.blocks() {
                accumulate_block(&terms, g, block, &mut outs, |v, _| v);
            }
        }
    }
}

/// [`sparse_rows`] where `w` has [`AVX2_COLUMNS`] a block (`avx2_blocks`): each row's
/// nonzeros summed on their own, a block of the weights at a time.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn rows_avx2(
    x: &[f32],
    k: usize,
    w: &Blocked<'_>,
    bias: &[f32],
    out: &mut [&mut [MaybeUninit<f32>]],
    activation: Activation,
) {
    let nonzeros = Nonzeros::of_rows(x, k, 0..k);
    // Block after block, so that one block of the weights (200 KB for 784 rows) stays
    // in the L2 cache while every row adds its terms. (Tiles of 128 rows of a block,
    // which the L1 cache holds, made an epoch slower: 1.50 s against 1.23, medians of
    // four alternating runs on an AMD EPYC, Zen 3, with AVX2 only.)
    for block in 0..w.blocks() {
        for (row, out) in out.iter_mut().enumerate() {
            let (lines, factors) = nonzeros.line(row);
            // SAFETY: the processor has AVX2 and FMA (`avx2_blocks`).
            let sums = unsafe { line_sums_avx2(lines, factors, w, block) };
            let (sums, b) = (&sums, bias);
            match activation {
                Activation::Linear => finish_line(sums, block, out, |v, j| v + b[j]),
                Activation::Sigmoid => finish_line(sums, block, out, |v, j| sigmoid(v + b[j])),
                Activation::Relu => finish_line(sums, block, out, |v, j| (v + b[j]).max(0.0)),
            }
        }
    }
}

/// [`sparse_columns`] where `g` has [`AVX2_COLUMNS`] a block (`avx2_blocks`): each column's
/// nonzeros summed on their own, a block of the gradient at a time.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn columns_avx2(
    x: &[f32],
    k: usize,
    g: &Blocked<'_>,
    columns: std::ops::Range<usize>,
    out: &mut [MaybeUninit<f32>],
) {
    let nonzeros = Nonzeros::of_columns(x, k, columns.clone());
    // Block after block, so that one block of the gradient (25 KB for 100 rows) stays
    // in the L1 cache while every column of `x` adds its terms.
    for block in 0..g.blocks() {
        for (i, out) in out.chunks_mut(g.cols).enumerate() {
            let (lines, factors) = nonzeros.line(i);
            // SAFETY: the processor has AVX2 and FMA (`avx2_blocks`).
            let sums = unsafe { line_sums_avx2(lines, factors, g, block) };
            finish_line(&sums, block, out, |v, _| v);
        }
    }
}

/// The width of the blocks of a [`Blocked`] matrix for `kernel`, the columns a group sums at
/// once: [`AVX2_COLUMNS`] where the sums are taken with AVX2 (the kernels use AVX2 but not
/// AVX-512, or `kernel` is [`Kernel::SkipZerosAvx2`] on a processor with AVX2), else [`BLOCK`].
/// Each column's sum is the same fused multiply-adds in the same order whatever the width, so
/// the same bits.
fn block_width(kernel: Kernel) -> usize {
    use crate::simd::{Simd, simd};
    let widest = simd();
    let avx2 = widest == Simd::Avx2 || (kernel == Kernel::SkipZerosAvx2 && widest >= Simd::Avx2);
    if cfg!(target_arch = "x86_64") && avx2 {
        AVX2_COLUMNS
    } else {
        BLOCK
    }
}

/// `outs[g][j] = finish(Σ f[g] · source[line, j], j)` over `terms` (`(line, f)`), summed in
/// the order given, for the columns `j` of block `block`; every value of those columns of each
/// of `outs` (at most [`GROUP`]) is written.
#[inline(always)]
fn accumulate_block(
    terms: &[Term],
    source: &Blocked<'_>,
    block: usize,
    outs: &mut [&mut [MaybeUninit<f32>]],
    finish: impl Fn(f32, usize) -> f32,
) {
    let start = block * source.width;
    let width = source.width.min(source.cols - start);
    let sums = block_sums(terms, source, block);
    for (out, sums) in outs.iter_mut().zip(&sums) {
        for (j, (o, s)) in out[start..start + width].iter_mut().zip(sums).enumerate() {
            o.write(finish(*s, start + j));
        }
    }
}

/// The sums of [`accumulate_block`], for every column of the block (those past the matrix's
/// are the padding's zeros).
#[inline(always)]
fn block_sums(terms: &[Term], source: &Blocked<'_>, block: usize) -> [[f32; BLOCK]; GROUP] {
    // Fixed sizes, so that the sums stay in registers across the terms: two rows of a block
    // are sixteen of AVX-512's 32 registers.
    let mut sums = [[0f32; BLOCK]; GROUP];
    for &(line, factors) in terms {
        let line: &[f32; BLOCK] = (source.line(block, line).try_into()).expect("a whole block");
        for (sums, f) in sums.iter_mut().zip(factors) {
            for (s, w) in sums.iter_mut().zip(line) {
                *s = w.mul_add(f, *s);
            }
        }
    }
    sums
}

/// The width of a block with AVX2: one line's sums are eight of its sixteen registers, and a
/// block of 784 rows is 200 KB.
const AVX2_COLUMNS: usize = 64;

/// Whether `source`'s sums are taken with [`line_sums_avx2`]: blocked at its width, on a
/// processor with AVX2 and FMA. By the matrix's width, not the instruction set of the moment,
/// which a test may change meanwhile: a matrix has AVX2's width only where the processor has
/// AVX2.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn avx2_blocks(source: &Blocked<'_>) -> bool {
    source.width == AVX2_COLUMNS && crate::simd::detected() >= crate::simd::Simd::Avx2
}

/// The nonzero values of each line (row or column) of a matrix, line after line: where each
/// lies in its line, and the value.
#[cfg(target_arch = "x86_64")]
struct Nonzeros {
    positions: Vec<u32>,
    values: Vec<f32>,
    /// Where each line's nonzeros end.
    ends: Vec<usize>,
}

#[cfg(target_arch = "x86_64")]
impl Nonzeros {
    /// Of each row of `x` (`k` values a row), within its columns `within`, numbered from
    /// `within.start`. NaN counts as nonzero.
    fn of_rows(x: &[f32], k: usize, within: std::ops::Range<usize>) -> Self {
        let rows = x.len() / k.max(1);
        let mut found = Self {
            positions: Vec::with_capacity(rows * within.len()),
            values: Vec::with_capacity(rows * within.len()),
            ends: Vec::with_capacity(rows),
        };
        for row in x.chunks_exact(k) {
            found.push_line(&row[within.clone()]);
        }
        found
    }

    /// Of each column `within` of `x` (`k` values a row), numbered from `within.start`: the
    /// rows where it is nonzero, in order.
    fn of_columns(x: &[f32], k: usize, within: std::ops::Range<usize>) -> Self {
        let by_rows = Self::of_rows(x, k, within.clone());
        // Each column's count, then where its rows go next, from its start.
        let mut next = vec![0usize; within.len()];
        for &p in &by_rows.positions {
            next[p as usize] += 1;
        }
        let (mut ends, mut total) = (Vec::with_capacity(next.len()), 0);
        for next in &mut next {
            let count = *next;
            *next = total;
            total += count;
            ends.push(total);
        }
        let (mut positions, mut values) = (vec![0u32; total], vec![0f32; total]);
        for row in 0..by_rows.ends.len() {
            let (columns, found) = by_rows.line(row);
            for (&c, &v) in columns.iter().zip(found) {
                let at = &mut next[c as usize];
                (positions[*at], values[*at]) = (row as u32, v);
                *at += 1;
            }
        }
        Self {
            positions,
            values,
            ends,
        }
    }

    /// Appends a line.
    fn push_line(&mut self, line: &[f32]) {
        if crate::simd::detected() >= crate::simd::Simd::Avx2 {
            // SAFETY: the processor has AVX2.
            unsafe { self.push_line_avx2(line) };
            self.ends.push(self.positions.len());
            return;
        }
        for (p, &v) in line.iter().enumerate() {
            if v != 0.0 || v.is_nan() {
                self.positions.push(p as u32);
                self.values.push(v);
            }
        }
        self.ends.push(self.positions.len());
    }

    /// [`Self::push_line`]'s nonzeros, eight values at a time without a branch: the lanes
    /// that are nonzero moved to the front by a permutation from [`COMPRESS`], all eight
    /// stored, and the ends moved on by their count.
    ///
    /// # Safety
    /// The processor must have AVX2.
    #[target_feature(enable = "avx2")]
    fn push_line_avx2(&mut self, line: &[f32]) {
        use std::arch::x86_64::*;
        self.positions.reserve(line.len());
        self.values.reserve(line.len());
        let (positions, values) = (
            self.positions
                .spare_capacity_mut()
                .as_mut_ptr()
                .cast::<u32>(),
            self.values.spare_capacity_mut().as_mut_ptr().cast::<f32>(),
        );
        let mut count = 0;
        let chunks = line.chunks_exact(8);
        let rest = chunks.remainder();
        for (c, chunk) in chunks.enumerate() {
            // SAFETY: `chunk` holds eight values; the eight stored go at `count <= 8 c`, so
            // below `8 c + 8 <= line.len()`, the capacity reserved.
            unsafe {
                let v = _mm256_loadu_ps(chunk.as_ptr());
                let nonzero = _mm256_cmp_ps::<_CMP_NEQ_UQ>(v, _mm256_setzero_ps());
                let mask = _mm256_movemask_ps(nonzero) as usize;
                let order = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(COMPRESS[mask] as i64));
                let at = _mm256_add_epi32(order, _mm256_set1_epi32(8 * c as i32));
                _mm256_storeu_si256(positions.add(count).cast(), at);
                _mm256_storeu_ps(values.add(count), _mm256_permutevar8x32_ps(v, order));
                count += mask.count_ones() as usize;
            }
        }
        for (p, &v) in rest.iter().enumerate() {
            if v != 0.0 || v.is_nan() {
                // SAFETY: `count` is below the values seen, so below `line.len()`.
                unsafe {
                    positions
                        .add(count)
                        .write((line.len() - rest.len() + p) as u32);
                    values.add(count).write(v);
                }
                count += 1;
            }
        }
        // SAFETY: the first `count` places past the lengths were written above.
        unsafe {
            self.positions.set_len(self.positions.len() + count);
            self.values.set_len(self.values.len() + count);
        }
    }

    /// Line `line`: its nonzeros' positions and values.
    fn line(&self, line: usize) -> (&[u32], &[f32]) {
        let start = if line == 0 { 0 } else { self.ends[line - 1] };
        let end = self.ends[line];
        (&self.positions[start..end], &self.values[start..end])
    }
}

/// For each mask of eight lanes, the lanes set, in order, a byte each (then zeros): the
/// permutation that moves them to the front.
#[cfg(target_arch = "x86_64")]
const COMPRESS: [u64; 256] = {
    let mut table = [0u64; 256];
    let mut mask = 0;
    while mask < 256 {
        let (mut lane, mut filled) = (0, 0);
        while lane < 8 {
            if mask & (1 << lane) != 0 {
                table[mask] |= (lane as u64) << (8 * filled);
                filled += 1;
            }
            lane += 1;
        }
        mask += 1;
    }
    table
};

/// `out[j] = finish(sums[j - start], j)` for the columns `j` of block `block` (blocked with
/// [`AVX2_COLUMNS`], `out.len()` columns in all).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn finish_line(
    sums: &[f32; AVX2_COLUMNS],
    block: usize,
    out: &mut [MaybeUninit<f32>],
    finish: impl Fn(f32, usize) -> f32,
) {
    let start = block * AVX2_COLUMNS;
    let width = AVX2_COLUMNS.min(out.len() - start);
    for (j, (o, s)) in out[start..start + width].iter_mut().zip(sums).enumerate() {
        o.write(finish(*s, start + j));
    }
}

/// `Σ_t factors[t] · source[lines[t], j]`, summed in the order given, for the columns `j` of
/// block `block` of `source` (blocked with [`AVX2_COLUMNS`]), with AVX2: for each term, its
/// line's 64 values times its factor added to eight registers. The same sums, bit for bit, as
/// [`block_sums`] (whose terms a row shares with another, with a factor 0 where it has none:
/// `s + 0 · w` is `s`). One line at a time: on an AMD EPYC (Zen 3) with AVX2 only, two rows of
/// a group summed at once were half again the work, since the group's terms are the pixels
/// either image has, and 128 columns at a time spilled the sums to memory (issue 22).
///
/// # Safety
/// The processor must have AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn line_sums_avx2(
    lines: &[u32],
    factors: &[f32],
    source: &Blocked<'_>,
    block: usize,
) -> [f32; AVX2_COLUMNS] {
    use std::arch::x86_64::{__m256, _mm256_fmadd_ps, _mm256_loadu_ps, _mm256_set1_ps};
    use std::arch::x86_64::{_mm256_setzero_ps, _mm256_storeu_ps};
    const VECTORS: usize = AVX2_COLUMNS / 8;
    let mut acc: [__m256; VECTORS] = [_mm256_setzero_ps(); VECTORS];
    for (&line, &f) in lines.iter().zip(factors) {
        let line: &[f32; AVX2_COLUMNS] =
            (source.line(block, line as usize).try_into()).expect("a whole block");
        let f = _mm256_set1_ps(f);
        for (v, a) in acc.iter_mut().enumerate() {
            // SAFETY: `line` holds AVX2_COLUMNS values, eight a vector.
            let w = unsafe { _mm256_loadu_ps(line.as_ptr().add(8 * v)) };
            *a = _mm256_fmadd_ps(w, f, *a);
        }
    }
    let mut sums = [0f32; AVX2_COLUMNS];
    for (v, a) in acc.into_iter().enumerate() {
        // SAFETY: `sums` holds AVX2_COLUMNS values, eight a vector.
        unsafe { _mm256_storeu_ps(sums.as_mut_ptr().add(8 * v), a) };
    }
    sums
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;

    /// `skip-zeros-avx2` sums AVX2's blocks of 64 columns wherever the processor has AVX2;
    /// `skip-zeros` the blocks of the widest instruction set the kernels use.
    #[test]
    fn each_zero_skipping_kernel_sums_blocks_of_its_width() {
        use crate::simd::{Simd, simd};
        let matrix = vec![0.5f32; 784 * 256];
        let width = |kernel| Blocked::columns(&matrix, 256, 0..256, kernel).width;
        let widest = simd();
        let (avx2, widest_blocks) = match widest {
            Simd::Avx512 => (AVX2_COLUMNS, BLOCK),
            Simd::Avx2 => (AVX2_COLUMNS, AVX2_COLUMNS),
            Simd::Baseline => (BLOCK, BLOCK),
        };
        assert_eq!(
            width(Kernel::SkipZerosAvx2),
            avx2,
            "skip-zeros-avx2 with {widest:?}"
        );
        assert_eq!(
            width(Kernel::SkipZeros),
            widest_blocks,
            "skip-zeros with {widest:?}"
        );
    }

    /// A matrix is mostly zeros up to and including the share's nonzeros, NaN counting as
    /// one, wherever they lie: in the first run of values (where a dense matrix is decided)
    /// or spread over several.
    #[test]
    fn mostly_zeros_counts_nonzeros_up_to_the_share() {
        let len = 10_000;
        let limit = (SPARSE_UP_TO * len as f64) as usize;
        for stride in [1, 2] {
            let with = |count: usize, value: f32| {
                let mut x = vec![0f32; len];
                (0..count).for_each(|i| x[i * stride] = value);
                x
            };
            // The share's count of nonzeros, one more, one more of NaN, and of -0.0 (a zero).
            let cases = [
                (0, 1.0, true),
                (1, 1.0, false),
                (1, f32::NAN, false),
                (1, -0.0, true),
            ];
            for (more, value, mostly) in cases {
                let x = with(limit + more, value);
                assert_eq!(
                    mostly_zeros(&x),
                    mostly,
                    "{more} + {limit} of {value}, stride {stride}"
                );
            }
        }
        assert!(mostly_zeros(&[]), "nothing at all");
    }

    /// The nonzeros of rows whose length is not a multiple of eight (so the AVX2 gather's
    /// remainder runs), NaN included and -0.0 left out, by rows and by columns, as a plain
    /// filter finds them.
    #[test]
    fn nonzeros_are_found_by_rows_and_columns_whatever_the_length() {
        let k = 13;
        let x: Vec<f32> = (0..3 * k)
            .map(|i| match i % 5 {
                0 => 0.0,
                1 => -0.0,
                2 if i == 7 => f32::NAN,
                _ => i as f32,
            })
            .collect();
        let within = 2..k;
        let rows = Nonzeros::of_rows(&x, k, within.clone());
        let columns = Nonzeros::of_columns(&x, k, within.clone());
        let nonzero = |v: f32| v != 0.0 || v.is_nan();
        for (r, row) in x.chunks_exact(k).enumerate() {
            let want: Vec<u32> = (within.clone())
                .filter(|&c| nonzero(row[c]))
                .map(|c| (c - within.start) as u32)
                .collect();
            let (positions, values) = rows.line(r);
            assert_eq!(positions, want.as_slice(), "row {r}");
            for (p, v) in positions.iter().zip(values) {
                assert_eq!(v.to_bits(), row[*p as usize + within.start].to_bits());
            }
        }
        for c in within.clone() {
            let want: Vec<u32> = (0..3)
                .filter(|&r| nonzero(x[r * k + c]))
                .map(|r| r as u32)
                .collect();
            assert_eq!(
                columns.line(c - within.start).0,
                want.as_slice(),
                "column {c}"
            );
        }
    }
}
