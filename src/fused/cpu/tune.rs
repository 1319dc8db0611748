//! Choosing the step's kernels by timing them here: each candidate of each product, on the
//! run's shapes and its own images, on the threads that will run them, in alternating rounds,
//! in up to three plannings; the fastest of each product wins (as an autotuner or FFTW's
//! planner chooses).

use std::time::{Duration, Instant};

use super::kernels;
use super::{forward, input_gradient, weight_gradient};
use crate::fused::plan::{Kernel, Plan, Product};
use crate::fused::terms::Activation::Sigmoid;
use crate::simd::{self, Simd};

/// What each kernel took for one product: the median seconds of a call (for reports and the
/// floor of `examples/gemm_floor.rs`), and its undisturbed seconds (what the choice goes by).
#[derive(Debug, Clone)]
pub struct Timing {
    pub product: Product,
    pub seconds: Vec<(Kernel, f64)>,
    /// For each kernel, the least seconds of a call on each batch timed, averaged over the
    /// batches: a burst of load from elsewhere slows some calls, never speeds one up, so the
    /// least of the repeats is the kernel's own speed, while kernels whose time depends on the
    /// images (those skipping zeros) are judged over all of them.
    pub undisturbed: Vec<(Kernel, f64)>,
}

impl Timing {
    /// The fastest kernel by its undisturbed seconds; the reference plan's unless another is
    /// faster by more than [`MARGIN`], so that noise does not swap kernels that are equally fast.
    pub fn fastest(&self) -> (Kernel, f64) {
        let reference = Plan::REFERENCE.kernel(self.product);
        let time = |kernel| {
            self.undisturbed
                .iter()
                .find(|(k, _)| *k == kernel)
                .map(|(_, s)| *s)
        };
        let best = self
            .undisturbed
            .iter()
            .copied()
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .expect("at least one candidate");
        match time(reference) {
            Some(seconds) if seconds <= best.1 * (1.0 + MARGIN) => (reference, seconds),
            _ => best,
        }
    }
}

/// How much faster than the reference kernel another must be to be chosen.
pub(crate) const MARGIN: f64 = 0.03;

/// Rounds of calls timed per product and kernel (after one untimed call each).
const ROUNDS: usize = 31;

/// The kernels this processor can time honestly: all of them, except that with the
/// instruction sets capped below AVX-512 (see [`simd::cap_simd`]) on a processor that has
/// it, those that would still use AVX-512 (`matrixmultiply`, `gemm-avx512`) are left out;
/// and `skip-zeros-avx2` only where the kernels use AVX-512 (elsewhere it is `skip-zeros`).
pub fn candidates() -> Vec<Kernel> {
    let capped = simd::simd() != Simd::Avx512 && simd::detected() == Simd::Avx512;
    Kernel::ALL
        .into_iter()
        .filter(|k| *k != Kernel::SkipZerosAvx2 || simd::simd() == Simd::Avx512)
        .filter(|k| {
            !(capped
                && matches!(
                    k,
                    Kernel::GemmAvx512
                        | Kernel::GemmAvx512OneThread
                        | Kernel::Matrixmultiply
                        | Kernel::MatrixmultiplyOneThread
                ))
        })
        .collect()
}

/// Times every candidate of every product of a step of `batch` images (`images`: at least that
/// many, 784 values each, in [0, 1]) through a model of `hidden` units, on the current
/// thread pool.
pub fn measure(batch: usize, hidden: usize, images: &[f32]) -> Vec<Timing> {
    const PIXELS: usize = crate::data::IMAGE_PIXELS;
    let batches: Vec<&[f32]> = images.chunks_exact(batch * PIXELS).take(8).collect();
    assert!(!batches.is_empty(), "a batch of images to time with");
    // Values of the size training sees; their exact values do not change the time.
    let values = |len: usize, scale: f32| -> Vec<f32> {
        (0..len)
            .map(|i| ((i * 7919) % 1000) as f32 / 1000.0 * scale - scale / 2.0)
            .collect()
    };
    let (w1, w2) = (values(PIXELS * hidden, 0.2), values(hidden * PIXELS, 0.2));
    let (b1, b2) = (values(hidden, 0.1), values(PIXELS, 0.1));
    let code: Vec<f32> = values(batch * hidden, 1.0)
        .iter()
        .map(|v| v + 0.5)
        .collect();
    let (dz2, dz1) = (values(batch * PIXELS, 0.01), values(batch * hidden, 0.01));
    let candidates = candidates();
    // As the plan will compute: subnormals flushed (the values timed have none anyway).
    let flushed = kernels::flush_subnormals(true);
    let timings = Product::ALL
        .into_iter()
        .map(|product| {
            let kernels: Vec<Kernel> = candidates
                .iter()
                .copied()
                .filter(|k| k.computes(product))
                .collect();
            let call = |kernel: Kernel, round: usize| {
                let x = batches[round % batches.len()];
                let out = match product {
                    Product::ImagesWeights => {
                        forward(kernel, x, [batch, PIXELS], &w1, &b1, Sigmoid)
                    }
                    Product::CodeWeights => {
                        forward(kernel, &code, [batch, hidden], &w2, &b2, Sigmoid)
                    }
                    Product::CodeGradient => {
                        weight_gradient(kernel, &code, [batch, hidden], &dz2, PIXELS)
                    }
                    Product::GradientWeights => input_gradient(kernel, &dz2, batch, &w2, hidden),
                    Product::ImagesGradient => {
                        weight_gradient(kernel, x, [batch, PIXELS], &dz1, hidden)
                    }
                };
                std::hint::black_box(out);
            };
            let (seconds, undisturbed) = times(&kernels, batches.len(), call);
            Timing {
                product,
                seconds,
                undisturbed,
            }
        })
        .collect();
    kernels::flush_subnormals(flushed);
    timings
}

/// Seconds a call of each kernel.
type Seconds = Vec<(Kernel, f64)>;

/// The seconds of `call(kernel, round)` for each of `kernels`, after one untimed call each,
/// over [`ROUNDS`] rounds, each round in another order so that no kernel always follows the
/// same one: their median, and their undisturbed time (see [`Timing::undisturbed`]), the
/// round's input being the `round % inputs`th.
fn times(kernels: &[Kernel], inputs: usize, call: impl Fn(Kernel, usize)) -> (Seconds, Seconds) {
    let mut times = vec![Vec::with_capacity(ROUNDS); kernels.len()];
    for (i, kernel) in kernels.iter().enumerate() {
        call(*kernel, i);
    }
    for round in 0..ROUNDS {
        for i in 0..kernels.len() {
            let i = (i + round) % kernels.len();
            let started = Instant::now();
            call(kernels[i], round);
            times[i].push(started.elapsed().as_secs_f64());
        }
    }
    let undisturbed = |times: &[f64]| {
        let least = (0..inputs.min(ROUNDS)).map(|input| {
            (times.iter().skip(input).step_by(inputs).copied()).fold(f64::INFINITY, f64::min)
        });
        least.sum::<f64>() / inputs.min(ROUNDS) as f64
    };
    kernels
        .iter()
        .zip(times)
        .map(|(kernel, mut times)| {
            let least = (*kernel, undisturbed(&times));
            times.sort_by(f64::total_cmp);
            ((*kernel, times[times.len() / 2]), least)
        })
        .unzip()
}

/// Plannings a plan is made from (see [`measure_several`]).
const PLANNINGS: usize = 3;

/// A planning that takes longer than this is not repeated (see [`measure_several`]).
const REPEAT_UNDER: Duration = Duration::from_secs(1);

/// [`measure`] [`PLANNINGS`] times, each kernel judged by the median of its plannings (see
/// [`median_of`]): the plan is made once per machine and shape and kept, so a disturbance that
/// slowed one kernel through one planning must not choose it. Each planning times every
/// product in turn, so the plannings of a product lie apart in time. Where one planning takes
/// over [`REPEAT_UNDER`] (the largest shapes, whose one-thread candidates take seconds), its
/// plan is made from it alone, so that a first run does not wait three times as long.
pub fn measure_several(batch: usize, hidden: usize, images: &[f32]) -> Vec<Timing> {
    plannings_merged(REPEAT_UNDER, || measure(batch, hidden, images))
}

/// `planning()` once, then [`PLANNINGS`] times in all if the first took less than
/// `repeat_under`, merged by [`median_of`].
fn plannings_merged(
    repeat_under: Duration,
    mut planning: impl FnMut() -> Vec<Timing>,
) -> Vec<Timing> {
    let started = Instant::now();
    let mut plannings = vec![planning()];
    if started.elapsed() < repeat_under {
        plannings.extend((1..PLANNINGS).map(|_| planning()));
    }
    median_of(&plannings)
}

/// The timings of several plannings of the same products as one: each kernel's median seconds
/// and undisturbed seconds, each the median over the plannings.
pub fn median_of(plannings: &[Vec<Timing>]) -> Vec<Timing> {
    let first = plannings.first().expect("at least one planning");
    let median = |product: Product, kernel: Kernel, pick: fn(&Timing) -> &Seconds| {
        let mut all: Vec<f64> = (plannings.iter().flatten())
            .filter(|t| t.product == product)
            .flat_map(|t| pick(t).iter().filter(|(k, _)| *k == kernel))
            .map(|(_, s)| *s)
            .collect();
        all.sort_by(f64::total_cmp);
        all[all.len() / 2]
    };
    (first.iter())
        .map(|timing| {
            let of = |pick: fn(&Timing) -> &Seconds| -> Seconds {
                (pick(timing).iter())
                    .map(|(kernel, _)| (*kernel, median(timing.product, *kernel, pick)))
                    .collect()
            };
            Timing {
                product: timing.product,
                seconds: of(|t| &t.seconds),
                undisturbed: of(|t| &t.undisturbed),
            }
        })
        .collect()
}

/// The plan of the fastest kernels of `timings` (see [`Timing::fastest`]), flushing subnormals
/// (see [`Plan::flush_subnormals`]).
pub fn choose(timings: &[Timing]) -> Plan {
    let kernels = Product::ALL.map(|product| {
        timings
            .iter()
            .find(|t| t.product == product)
            .map_or(Plan::REFERENCE.kernel(product), |t| t.fastest().0)
    });
    Plan::new(kernels, true).expect("each product timed only with kernels that compute it")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spin(micros: u64) {
        let started = Instant::now();
        while started.elapsed() < Duration::from_micros(micros) {
            std::hint::spin_loop();
        }
    }

    const DISTURBED: Kernel = Kernel::Matrixmultiply;
    const STEADY: Kernel = Kernel::GemmAvx512;

    /// One planning of one product: `DISTURBED` taking `fast` seconds a call, `STEADY` 150 µs.
    fn planning(fast: f64) -> Vec<Timing> {
        let seconds = vec![(DISTURBED, fast), (STEADY, 150e-6)];
        vec![Timing {
            product: Product::CodeGradient,
            seconds: seconds.clone(),
            undisturbed: seconds,
        }]
    }

    /// A kernel slowed through one planning of three is judged by the other two: the median,
    /// not the first planning nor the mean, which would choose the other kernel here.
    #[test]
    fn several_plannings_choose_by_each_kernels_median() {
        let plannings = [planning(300e-6), planning(100e-6), planning(110e-6)];
        assert_eq!(
            plannings[0][0].fastest().0,
            STEADY,
            "the disturbed planning alone"
        );
        let merged = median_of(&plannings);
        assert_eq!(merged.len(), 1);
        assert_eq!(merged[0].product, Product::CodeGradient);
        assert_eq!(
            merged[0].undisturbed,
            vec![(DISTURBED, 110e-6), (STEADY, 150e-6)]
        );
        assert_eq!(merged[0].seconds, merged[0].undisturbed);
        assert_eq!(merged[0].fastest().0, DISTURBED);
        assert_eq!(choose(&merged).kernel(Product::CodeGradient), DISTURBED);
    }

    /// The planner repeats a quick planning and merges the three, so that the first (here
    /// disturbed) does not choose alone; a slow first planning is kept alone.
    #[test]
    fn a_quick_planning_is_repeated_and_a_slow_one_is_not() {
        // The plannings made under `limit`, with the first disturbed, and how many were made.
        let planned = |limit: Duration| {
            let fast = [300e-6, 100e-6, 110e-6];
            let mut calls = 0;
            let merged = plannings_merged(limit, || {
                calls += 1;
                planning(fast[calls - 1])
            });
            (calls, merged)
        };
        let (calls, merged) = planned(Duration::from_secs(3600));
        assert_eq!(calls, PLANNINGS);
        assert_eq!(choose(&merged).kernel(Product::CodeGradient), DISTURBED);
        let (calls, alone) = planned(Duration::ZERO);
        assert_eq!(calls, 1);
        assert_eq!(choose(&alone).kernel(Product::CodeGradient), STEADY);
    }

    /// A kernel slowed in most rounds, as by load from elsewhere, is judged by its calls that
    /// were not, on every input; the median, which the floor reports, sees the slow ones.
    #[test]
    fn the_choice_goes_by_the_undisturbed_calls_and_the_median_is_kept() {
        const INPUTS: usize = 4;
        let (bursty, steady) = (Kernel::Gemm, Kernel::Matrixmultiply);
        let call = |kernel: Kernel, round: usize| match kernel {
            // Undisturbed in rounds 0-3, 12-15 and 24-27: three calls on each input, 12 of 31.
            k if k == bursty && (round / INPUTS).is_multiple_of(3) => spin(50),
            k if k == bursty => spin(600),
            _ => spin(200),
        };
        let (median, undisturbed) = times(&[bursty, steady], INPUTS, call);
        assert!(median[0].1 >= 600e-6 && median[1].1 < 600e-6, "{median:?}");
        assert!(undisturbed[0].1 < 200e-6, "{undisturbed:?}");
        assert!(undisturbed[1].1 >= 200e-6, "{undisturbed:?}");
        let timing = Timing {
            product: Product::CodeWeights,
            seconds: median,
            undisturbed,
        };
        assert_eq!(timing.fastest().0, bursty);
    }
}
