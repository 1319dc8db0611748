//! Where an epoch's time goes on the ndarray backend, product by product, on real MNIST batches.
//!
//! One training step of a 784-`hidden`-784 model at batch `batch` makes five matrix products:
//! `x·W1` and `h·W2` forward, `hᵀ·dz2`, `dz2·W2ᵀ` and `xᵀ·dz1` backward. This times every
//! candidate kernel of each (as the planner of `backend.kernels = "auto"` does, with more
//! rounds) and prints, per epoch of 55,000 images, the medians of its calls (the planner
//! chooses by its undisturbed calls instead, `tune::Timing::undisturbed`, so its plan may
//! differ where two kernels are close):
//!
//! - each product through each kernel;
//! - `best-candidate floor`: the products of an epoch through the fastest kernel of each, the
//!   limit of this design on this machine: the five of each training step, and the two forward
//!   products of each batch of the 5,000 validation images, which every timed epoch (ours,
//!   TensorFlow's, PyTorch's) also runs; the training steps' share is printed beside it;
//! - `reference floor`: the same through the reference plan's kernels (every earlier version's);
//! - `fused step`: the whole step outside Burn's Learner (forward, loss, backward, RMSProp)
//!   with the fastest plan, and its phases.
//!
//! ```text
//! cargo run --release --example gemm_floor -- --data ../shared/data/mnist [--batch 100] [--hidden 256] [--simd avx2]
//! ```
//!
//! `--simd avx2` keeps this crate's kernels to AVX2 and leaves out `matrixmultiply` (which would
//! use AVX-512 where the processor has it): the plan a processor without AVX-512 would get, as
//! near as this one can time it.

use std::path::PathBuf;
use std::time::Instant;

use burn::optim::{GradientsParams, Optimizer};
use burn::prelude::*;
use mnist_autoencoder::backend::{self, Backend as B, TrainingBackend as AB};
use mnist_autoencoder::data::IMAGE_PIXELS;
use mnist_autoencoder::data::{LabeledImages, MnistPart};
use mnist_autoencoder::fused::FusedOps;
use mnist_autoencoder::fused::cpu::tune;
use mnist_autoencoder::fused::plan::{Kernel, Plan, Product};
use mnist_autoencoder::model::Init;
use mnist_autoencoder::model::{Autoencoder, AutoencoderConfig};
use mnist_autoencoder::optim::Tf1RmsPropConfig;
use mnist_autoencoder::simd::{self, Simd};

const TRAIN_IMAGES: usize = 55_000;
/// The images an epoch validates on (`data.validation_size`'s default): one forward pass each.
const VALIDATION_IMAGES: usize = 5_000;
const ROUNDS: usize = 5;

struct Args {
    data: PathBuf,
    batch: usize,
    hidden: usize,
    simd: Option<Simd>,
}

fn args() -> Args {
    let mut args = std::env::args().skip(1);
    let mut parsed = Args {
        data: std::env::var_os("MNIST_DIR").map_or_else(|| "data/mnist".into(), PathBuf::from),
        batch: 100,
        hidden: 256,
        simd: None,
    };
    let usage = "use --data DIR [--batch N] [--hidden N] [--simd avx512|avx2|baseline]";
    while let Some(arg) = args.next() {
        let value = args.next();
        let number = || {
            value
                .as_deref()
                .and_then(|v| v.parse().ok())
                .filter(|n| *n > 0)
        };
        match (arg.as_str(), value.as_deref()) {
            ("--data", Some(dir)) => parsed.data = dir.into(),
            ("--batch", _) if number().is_some() => parsed.batch = number().unwrap(),
            ("--hidden", _) if number().is_some() => parsed.hidden = number().unwrap(),
            ("--simd", Some("avx512")) => parsed.simd = Some(Simd::Avx512),
            ("--simd", Some("avx2")) => parsed.simd = Some(Simd::Avx2),
            ("--simd", Some("baseline")) => parsed.simd = Some(Simd::Baseline),
            _ => {
                eprintln!("error: bad argument '{arg}'; {usage}");
                std::process::exit(1);
            }
        }
    }
    parsed
}

fn main() {
    backend::before_threads();
    let args = args();
    if let Some(widest) = args.simd {
        simd::cap_simd(widest);
    }
    let (batch, hidden) = (args.batch, args.hidden);
    let images = images(&args);
    backend::run_on_compute_thread(|| {
        println!(
            "{} threads, kernels up to {:?} (the processor has {:?}), batch {batch}, hidden {hidden}",
            mnist_autoencoder::fused::cpu::team::threads(),
            simd::simd(),
            simd::detected()
        );
        let fastest = candidate_table(batch, hidden, &images);
        time_step(fastest, batch, hidden, &images);
    });
}

/// 16 batches of training images in file order after the 5,000 held out.
fn images(args: &Args) -> Vec<f32> {
    let train = match LabeledImages::load(&args.data, MnistPart::Train) {
        Ok(train) => train.dataset(),
        Err(e) => {
            eprintln!("error: {e}; pass --data the MNIST folder");
            std::process::exit(1);
        }
    };
    let mut images = Vec::with_capacity(16 * args.batch * IMAGE_PIXELS);
    for i in 0..16 * args.batch {
        train.push_scaled(5000 + i, &mut images);
    }
    images
}

/// Times every candidate of every product (the median of several plannings, each a median of
/// its rounds), prints them per epoch with the floors, and returns the fastest plan.
fn candidate_table(batch: usize, hidden: usize, images: &[f32]) -> Plan {
    let steps = (TRAIN_IMAGES / batch) as f64;
    let plannings: Vec<Vec<tune::Timing>> = (0..ROUNDS)
        .map(|_| tune::measure(batch, hidden, images))
        .collect();
    let timings = tune::median_of(&plannings);
    let epoch = |product: Product, kernel: Kernel| {
        let timing = timings.iter().find(|t| t.product == product)?;
        let (_, seconds) = timing.seconds.iter().find(|(k, _)| *k == kernel)?;
        Some(seconds * steps)
    };
    let candidates = tune::candidates();
    let names: Vec<&str> = candidates.iter().map(|k| k.name()).collect();
    println!("\nPer product and kernel, s/epoch ({steps} steps):\n");
    println!("| product | {} | fastest |", names.join(" | "));
    println!("|---|{}---|", "---:|".repeat(candidates.len()));
    let best = Product::ALL.map(|product| {
        let cells: Vec<(Kernel, Option<f64>)> = candidates
            .iter()
            .map(|k| (*k, epoch(product, *k)))
            .collect();
        let fastest = (cells.iter())
            .filter_map(|(k, s)| s.map(|s| (*k, s)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .expect("a kernel");
        let shown: Vec<String> = (cells.iter())
            .map(|(_, s)| s.map_or("-".to_owned(), |s| format!("{s:.3}")))
            .collect();
        let row = (product.name(), shown.join(" | "), fastest.0.name());
        println!("| {} | {} | {} |", row.0, row.1, row.2);
        fastest
    });
    let reference = with_validation(
        batch,
        Product::ALL.map(|p| epoch(p, Plan::REFERENCE.kernel(p)).unwrap_or(f64::NAN)),
    );
    let fastest =
        Plan::new(best.map(|(k, _)| k), true).expect("kernels that compute their products");
    println!("\nfastest plan: {fastest}");
    let training: f64 = best.iter().map(|(_, s)| s).sum();
    let floor = with_validation(batch, best.map(|(_, s)| s));
    println!(
        "best-candidate floor {floor:.3} s ({training:.3} the {steps} training steps, {:.3} validation's {} forward passes)",
        floor - training,
        VALIDATION_IMAGES.div_ceil(batch)
    );
    println!("reference floor {reference:.3} s");
    fastest
}

/// The seconds of an epoch's products from those of its training steps (one per product, in
/// `Product::ALL`'s order): the forward products again for each batch of validation images,
/// the same calls as training's, fewer of them.
fn with_validation(batch: usize, training: [f64; 5]) -> f64 {
    let share = VALIDATION_IMAGES.div_ceil(batch) as f64 / (TRAIN_IMAGES / batch) as f64;
    (Product::ALL.iter().zip(training))
        .map(|(product, seconds)| match product {
            Product::ImagesWeights | Product::CodeWeights => seconds * (1.0 + share),
            _ => seconds,
        })
        .sum()
}

/// Times an epoch of whole steps outside the Learner through `plan`, with its phases.
fn time_step(plan: Plan, batch: usize, hidden: usize, images: &[f32]) {
    B::use_plan(plan);
    let device = Default::default();
    AB::seed(&device, 42);
    let mut model: Autoencoder<AB> =
        AutoencoderConfig::from_settings(hidden, Init::Normal).init(&device);
    let mut optim = Tf1RmsPropConfig::new().init();
    let mut phases = [0f64; 4];
    let mut step = |i: usize, phases: &mut [f64; 4]| {
        let x = &images[(i % 16) * batch * IMAGE_PIXELS..(i % 16 + 1) * batch * IMAGE_PIXELS];
        let t0 = Instant::now();
        let x = TensorData::new(x.to_vec(), [batch, IMAGE_PIXELS]);
        let x = Tensor::<AB, 2>::from_data(x, &device);
        let t1 = Instant::now();
        let loss = model.loss(x);
        let t2 = Instant::now();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let t3 = Instant::now();
        model = optim.step(0.01, model.clone(), grads);
        let t4 = Instant::now();
        for (phase, (a, b)) in phases
            .iter_mut()
            .zip([(t0, t1), (t1, t2), (t2, t3), (t3, t4)])
        {
            *phase += (b - a).as_secs_f64();
        }
    };
    step(0, &mut [0.0; 4]);
    let started = Instant::now();
    (0..TRAIN_IMAGES / batch).for_each(|i| step(i, &mut phases));
    let epoch = started.elapsed().as_secs_f64();
    println!(
        "fused step {epoch:.3} s/epoch outside the Learner: batch {:.3}, forward and loss {:.3}, backward {:.3}, RMSProp {:.3}",
        phases[0], phases[1], phases[2], phases[3]
    );
}
