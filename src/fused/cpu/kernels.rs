//! The elementwise passes of the fused operations, on slices.
//!
//! Each kernel is written once as plain Rust and compiled three times, for AVX-512, for AVX2
//! with FMA, and for the baseline, by [`multiversion!`]: the widest the processor has is picked
//! at run time (see [`crate::simd`]). The loops are shaped so that the compiler vectorises
//! them, `exp` included.

use std::mem::MaybeUninit;

use super::super::terms::Activation;
use crate::simd::multiversion;

/// Flushes subnormal floats to zero on this thread (x86's FTZ and DAZ), or computes with them
/// as IEEE says; returns whether it flushed before. (Elsewhere than x86-64, subnormals stay.)
pub fn flush_subnormals(flush: bool) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        const FTZ_DAZ: u32 = 0x8040;
        let mut csr: u32 = 0;
        // SAFETY: reads and writes this thread's SSE control register; FTZ (bit 15) and DAZ
        // (bit 6) change only how subnormal results and inputs are treated.
        unsafe {
            std::arch::asm!("stmxcsr [{}]", in(reg) &mut csr, options(nostack));
            let was = csr & FTZ_DAZ == FTZ_DAZ;
            if was != flush {
                let csr = if flush { csr | FTZ_DAZ } else { csr & !FTZ_DAZ };
                std::arch::asm!("ldmxcsr [{}]", in(reg) &csr, options(nostack));
            }
            was
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = flush;
        false
    }
}

/// `e^x` for f32, within 2 units in the last place over the range where it is normal, and
/// written so that it vectorises: Cody-Waite reduction to `x = n ln2 + r`, `|r| <= ln2 / 2`,
/// Cephes' degree-6 polynomial for `e^r`, and `2^n` built in the exponent bits.
///
/// Inputs are clamped to `[-87.3, 88]`: below, the result is the smallest normal float instead
/// of a subnormal or zero; above, `e^88` instead of a larger or infinite one. Both ends are
/// far outside what a sigmoid can tell apart from 0 or 1.
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split so that n * LN2_HI is exact for the n that occur.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let x = x.clamp(-87.336_55, 88.0);
    let n = x.mul_add(LOG2E, 0.5).floor();
    let r = n.mul_add(-LN2_LO, n.mul_add(-LN2_HI, x));
    let mut p = 1.987_569_1e-4_f32;
    p = p.mul_add(r, 1.398_199_9e-3);
    p = p.mul_add(r, 8.333_452e-3);
    p = p.mul_add(r, 4.166_579_6e-2);
    p = p.mul_add(r, 1.666_666_5e-1);
    p = p.mul_add(r, 0.5);
    let e_r = p.mul_add(r * r, r) + 1.0;
    // 2^n from n's bits: adding 1.5 * 2^23 puts the integer n in the low bits of the mantissa.
    // (`n as i32` would saturate and map NaN to 0 lane by lane, which does not vectorise.)
    let n_bits = (n + 12_582_912.0).to_bits().wrapping_sub(0x4B40_0000);
    let scale = f32::from_bits(n_bits.wrapping_add(127) << 23);
    e_r * scale
}

/// The logistic sigmoid `1 / (1 + e^-z)`.
#[inline(always)]
pub(crate) fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + exp(-z))
}

/// `g · activation'`, the gradient before the activation from the one after it, `g`, and the
/// activation's output `y`: `y (1 - y)` for the sigmoid, `y > 0` for the ReLU, 1 for none.
#[inline(always)]
pub(crate) fn slope(activation: Activation, g: f32, y: f32) -> f32 {
    match activation {
        Activation::Linear => g,
        Activation::Sigmoid => g * (y * (1.0 - y)),
        Activation::Relu => {
            if y > 0.0 {
                g
            } else {
                0.0
            }
        }
    }
}

/// `activation(z)`, as the kernels compute it.
#[inline(always)]
pub(crate) fn activate(activation: Activation, z: f32) -> f32 {
    match activation {
        Activation::Linear => z,
        Activation::Sigmoid => sigmoid(z),
        Activation::Relu => z.max(0.0),
    }
}

multiversion! {
    /// `row = activation(row + bias)` for each row of `rows` (`bias.len()` values each).
    pub(crate) fn bias_activation(rows: &mut [f32], bias: &[f32], activation: Activation) {
        #[inline(always)]
        fn each(rows: &mut [f32], bias: &[f32], f: impl Fn(f32) -> f32) {
            for row in rows.chunks_exact_mut(bias.len()) {
                for (value, b) in row.iter_mut().zip(bias) {
                    *value = f(*value + b);
                }
            }
        }
        match activation {
            Activation::Linear => each(rows, bias, |z| z),
            Activation::Sigmoid => each(rows, bias, sigmoid),
            Activation::Relu => each(rows, bias, |z| z.max(0.0)),
        }
    }
}

multiversion! {
    /// `dz = dy * activation'` in place of `dy`, value by value, from the output `y` (see
    /// [`slope`]).
    pub(crate) fn activation_backward(dz: &mut [f32], y: &[f32], activation: Activation) {
        #[inline(always)]
        fn each(dz: &mut [f32], y: &[f32], activation: Activation) {
            for (dz, y) in dz.iter_mut().zip(y) {
                *dz = slope(activation, *dz, *y);
            }
        }
        // One loop per activation, so that none tests it per value.
        match activation {
            Activation::Linear => {}
            Activation::Sigmoid => each(dz, y, Activation::Sigmoid),
            Activation::Relu => each(dz, y, Activation::Relu),
        }
    }
}

multiversion! {
    /// `sums`: the sums over the rows of a `[rows, width]` matrix of its columns `start..start
    /// + sums.len()`, row after row.
    pub(crate) fn column_sums(values: &[f32], width: usize, start: usize, sums: &mut [f32]) {
        sums.fill(0.0);
        let len = sums.len();
        for row in values.chunks_exact(width.max(1)) {
            for (sum, value) in sums.iter_mut().zip(&row[start..start + len]) {
                *sum += *value;
            }
        }
    }
}

multiversion! {
    /// `to[i] += from[i]`, over the shorter of the two.
    pub(crate) fn add_into(to: &mut [f32], from: &[f32]) {
        for (to, from) in to.iter_mut().zip(from) {
            *to += from;
        }
    }
}

multiversion! {
    /// For two rows of a plane `w` wide (`rows`, `2w` values, at offset `base` of the plane):
    /// each 2x2 square's largest value into `values` and its offset in the plane into
    /// `offsets`, for the `values.len()` squares from the left. The first of equal values
    /// wins, in the order top left, top right, bottom left, bottom right; a NaN never
    /// replaces a value (so one at the top left wins).
    pub(crate) fn max_squares(
        rows: &[f32],
        w: usize,
        base: i32,
        values: &mut [MaybeUninit<f32>],
        offsets: &mut [MaybeUninit<f32>],
    ) {
        let n = values.len().min(offsets.len()).min(w / 2);
        let (top, bottom) = (&rows[..2 * n], &rows[w..w + 2 * n]);
        let (values, offsets) = (&mut values[..n], &mut offsets[..n]);
        let below = w as i32;
        for x in 0..n {
            let left = base + 2 * x as i32;
            let (mut best, mut at) = (top[2 * x], left);
            for (candidate, place) in [
                (top[2 * x + 1], left + 1),
                (bottom[2 * x], left + below),
                (bottom[2 * x + 1], left + below + 1),
            ] {
                let larger = candidate > best;
                best = if larger { candidate } else { best };
                at = if larger { place } else { at };
            }
            values[x].write(best);
            offsets[x].write(at as f32);
        }
    }
}

multiversion! {
    /// `Σ (output - target)²` in f64, and `grad = scale * (output - target)`.
    pub(crate) fn squared_error(
        output: &[f32],
        target: &[f32],
        grad: &mut [MaybeUninit<f32>],
        scale: f32,
    ) -> f64 {
        assert!(output.len() == grad.len() && target.len() == grad.len());
        // Sixteen f32 partial sums (one vector) per block of 256 values, added into an f64
        // total block after block: a fixed order, and no long f32 sums.
        let mut total = 0f64;
        let blocks = output.chunks(256).zip(target.chunks(256)).zip(grad.chunks_mut(256));
        for ((o, t), g) in blocks {
            let mut lanes = [0f32; 16];
            let whole = o.len() / 16 * 16;
            for ((o, t), g) in o[..whole].chunks_exact(16).zip(t[..whole].chunks_exact(16)).zip(g[..whole].chunks_exact_mut(16)) {
                for lane in 0..16 {
                    let diff = o[lane] - t[lane];
                    g[lane].write(diff * scale);
                    lanes[lane] += diff * diff;
                }
            }
            for ((o, t), g) in o[whole..].iter().zip(&t[whole..]).zip(&mut g[whole..]) {
                let diff = o - t;
                g.write(diff * scale);
                lanes[0] += diff * diff;
            }
            total += lanes.iter().map(|&s| f64::from(s)).sum::<f64>();
        }
        total
    }
}

/// `ln(1 + u)` for `u` in [0, 1], within a few units in the last place of the result (which
/// loses the bits of a `u` below 2^-24, as `1 + u` does), and written so that it vectorises:
/// Cephes' `logf` on `1 + u`, halved above sqrt(2).
#[inline(always)]
pub(crate) fn ln_1p_unit(u: f32) -> f32 {
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let m = 1.0 + u;
    let high = m > std::f32::consts::SQRT_2;
    let (x, e) = if high {
        (m * 0.5 - 1.0, 1.0)
    } else {
        (m - 1.0, 0.0)
    };
    let z = x * x;
    let mut p = 7.037_683_6e-2_f32;
    p = p.mul_add(x, -1.151_461_e-1);
    p = p.mul_add(x, 1.167_699_9e-1);
    p = p.mul_add(x, -1.242_014_1e-1);
    p = p.mul_add(x, 1.424_932_3e-1);
    p = p.mul_add(x, -1.666_805_8e-1);
    p = p.mul_add(x, 2.000_071_4e-1);
    p = p.mul_add(x, -2.499_999_4e-1);
    p = p.mul_add(x, 3.333_333e-1);
    let y = (p * x * z).mul_add(1.0, e * LN2_LO) - 0.5 * z;
    x + y + e * LN2_HI
}

multiversion! {
    /// `Σ max(z, 0) - z t + ln(1 + e^-|z|)` in f64 (the binary cross-entropy of `sigmoid(z)`
    /// against `t`), and `grad = scale * (sigmoid(z) - t)`.
    pub(crate) fn logistic_loss(
        logits: &[f32],
        target: &[f32],
        grad: &mut [MaybeUninit<f32>],
        scale: f32,
    ) -> f64 {
        assert!(logits.len() == grad.len() && target.len() == grad.len());
        // As `squared_error`: f32 lanes per block of 256 values, an f64 total.
        let mut total = 0f64;
        let blocks = logits.chunks(256).zip(target.chunks(256)).zip(grad.chunks_mut(256));
        for ((z, t), g) in blocks {
            let mut lanes = [0f32; 16];
            for (i, ((z, t), g)) in z.iter().zip(t).zip(g.iter_mut()).enumerate() {
                let e = exp(-z.abs());
                // sigmoid(z) from e^-|z|, which never overflows.
                let p = if *z >= 0.0 { 1.0 / (1.0 + e) } else { e / (1.0 + e) };
                g.write((p - t) * scale);
                lanes[i % 16] += z.max(0.0) - z * t + ln_1p_unit(e);
            }
            total += lanes.iter().map(|&s| f64::from(s)).sum::<f64>();
        }
        total
    }
}

/// A slice of a parameter and of its gradient: the parameter updated in place when the
/// optimiser holds the only copy; else read from the old values (Burn's Learner keeps the
/// model it optimises until the step returns) and written over the gradient, value by value
/// as it is read, when nothing else holds the gradient (no new array: the gradient's is in
/// cache, just read); else written to new values.
pub(crate) enum ParamSlice<'a> {
    InPlace {
        param: &'a mut [f32],
        grad: &'a [f32],
    },
    OverGrad {
        old: &'a [f32],
        grad: &'a mut [f32],
    },
    Copied {
        old: &'a [f32],
        grad: &'a [f32],
        new: &'a mut [MaybeUninit<f32>],
    },
}

/// One slice of a parameter, its gradient and its RMSProp state. `mean_grad` is empty unless
/// centred, `momentum` empty without momentum.
pub(crate) struct RmsPropSlices<'a> {
    pub param: ParamSlice<'a>,
    pub square: &'a mut [f32],
    pub mean_grad: &'a mut [f32],
    pub momentum: &'a mut [f32],
}

/// What the update needs besides the slices, as f32 the way Burn's scalar ops convert them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RmsPropScalars {
    pub tf1: bool,
    pub centered: bool,
    pub lr: f32,
    pub alpha: f32,
    /// `1 - alpha`.
    pub keep: f32,
    /// The momentum; 0 for none.
    pub beta: f32,
    pub epsilon: f32,
}

impl RmsPropScalars {
    pub(crate) fn of(hyper: &crate::fused::RmsPropHyper) -> Self {
        Self {
            tf1: hyper.rule == crate::fused::RmsPropRule::Tf1,
            centered: hyper.centered,
            lr: hyper.learning_rate as f32,
            alpha: hyper.alpha,
            keep: 1.0 - hyper.alpha,
            beta: hyper.momentum,
            epsilon: hyper.epsilon,
        }
    }
}

multiversion! {
    /// One RMSProp step over the slices: the operations of
    /// [`composed::rmsprop`](super::super::composed::rmsprop) in the same order. A state with
    /// no history holds the rule's starting values: a mean square of one (TF1) or zero (Burn),
    /// zero mean gradient and momentum, which the update then turns into exactly the first
    /// step's values (`1 * alpha`, `0 + x`).
    pub(crate) fn rmsprop(s: RmsPropScalars, slices: RmsPropSlices<'_>) {
        let RmsPropSlices { param, square, mean_grad, momentum } = slices;
        let state = (square, mean_grad, momentum);
        match param {
            ParamSlice::InPlace { param, grad } => rmsprop_rule(s, InPlace(param, grad), state),
            ParamSlice::OverGrad { old, grad } => rmsprop_rule(s, OverGrad(old, grad), state),
            ParamSlice::Copied { old, grad, new } => {
                rmsprop_rule(s, Copied(old, grad, new), state)
            }
        }
    }
}

/// Reads a parameter's values and its gradient's, and writes the parameter's new values; the
/// gradient's `i`th value is read before the parameter's `i`th is written.
trait Param {
    fn len(&self) -> usize;
    fn grad(&self, i: usize) -> f32;
    fn get(&self, i: usize) -> f32;
    fn set(&mut self, i: usize, value: f32);
}

struct InPlace<'a>(&'a mut [f32], &'a [f32]);

impl Param for InPlace<'_> {
    #[inline(always)]
    fn len(&self) -> usize {
        self.0.len()
    }
    #[inline(always)]
    fn grad(&self, i: usize) -> f32 {
        self.1[i]
    }
    #[inline(always)]
    fn get(&self, i: usize) -> f32 {
        self.0[i]
    }
    #[inline(always)]
    fn set(&mut self, i: usize, value: f32) {
        self.0[i] = value;
    }
}

struct OverGrad<'a>(&'a [f32], &'a mut [f32]);

impl Param for OverGrad<'_> {
    #[inline(always)]
    fn len(&self) -> usize {
        self.1.len()
    }
    #[inline(always)]
    fn grad(&self, i: usize) -> f32 {
        self.1[i]
    }
    #[inline(always)]
    fn get(&self, i: usize) -> f32 {
        self.0[i]
    }
    #[inline(always)]
    fn set(&mut self, i: usize, value: f32) {
        self.1[i] = value;
    }
}

struct Copied<'a>(&'a [f32], &'a [f32], &'a mut [MaybeUninit<f32>]);

impl Param for Copied<'_> {
    #[inline(always)]
    fn len(&self) -> usize {
        self.2.len()
    }
    #[inline(always)]
    fn grad(&self, i: usize) -> f32 {
        self.1[i]
    }
    #[inline(always)]
    fn get(&self, i: usize) -> f32 {
        self.0[i]
    }
    #[inline(always)]
    fn set(&mut self, i: usize, value: f32) {
        self.2[i].write(value);
    }
}

type State<'a> = (&'a mut [f32], &'a mut [f32], &'a mut [f32]);

/// One loop per combination of rule and settings, so that none tests them per value.
#[inline(always)]
fn rmsprop_rule(s: RmsPropScalars, param: impl Param, state: State<'_>) {
    match (s.tf1, s.centered, s.beta > 0.0) {
        (true, false, false) => rmsprop_loop::<true, false, false>(s, param, state),
        (true, true, false) => rmsprop_loop::<true, true, false>(s, param, state),
        (true, false, true) => rmsprop_loop::<true, false, true>(s, param, state),
        (true, true, true) => rmsprop_loop::<true, true, true>(s, param, state),
        (false, false, false) => rmsprop_loop::<false, false, false>(s, param, state),
        (false, true, false) => rmsprop_loop::<false, true, false>(s, param, state),
        (false, false, true) => rmsprop_loop::<false, false, true>(s, param, state),
        (false, true, true) => rmsprop_loop::<false, true, true>(s, param, state),
    }
}

#[inline(always)]
fn rmsprop_loop<const TF1: bool, const CENTERED: bool, const MOMENTUM: bool>(
    s: RmsPropScalars,
    mut param: impl Param,
    (square, mean_grad, momentum): State<'_>,
) {
    let n = param.len();
    let square = &mut square[..n];
    let mean_grad = &mut mean_grad[..if CENTERED { n } else { 0 }];
    let momentum = &mut momentum[..if MOMENTUM { n } else { 0 }];
    for i in 0..n {
        let g = param.grad(i);
        let sq = square[i] * s.alpha + g * g * s.keep;
        square[i] = sq;
        let variance = if CENTERED {
            let mean = mean_grad[i] * s.alpha + g * s.keep;
            mean_grad[i] = mean;
            sq - mean * mean
        } else {
            sq
        };
        let mut step = if TF1 {
            (g * s.lr) / (variance + s.epsilon).sqrt()
        } else {
            g / (variance.sqrt() + s.epsilon)
        };
        if MOMENTUM {
            step += momentum[i] * s.beta;
            momentum[i] = step;
        }
        let old = param.get(i);
        param.set(i, old - if TF1 { step } else { step * s.lr });
    }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::flush_subnormals;
    use std::hint::black_box;

    #[test]
    fn subnormals_are_flushed_only_when_asked() {
        let tiny = f32::MIN_POSITIVE / 4.0;
        assert!(tiny > 0.0 && !tiny.is_normal());
        let was = flush_subnormals(false);
        assert_eq!(black_box(tiny) * black_box(1.0), tiny, "kept as IEEE says");
        assert!(!flush_subnormals(true));
        assert_eq!(
            black_box(tiny) * black_box(1.0),
            0.0,
            "an input taken as zero"
        );
        let normal = black_box(f32::MIN_POSITIVE) * black_box(0.25);
        assert_eq!(normal, 0.0, "a result flushed");
        assert!(flush_subnormals(was));
    }
}
