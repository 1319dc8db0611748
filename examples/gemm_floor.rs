//! Where an epoch's time goes on the ndarray backend, part by part, on real MNIST batches.
//!
//! One training step of the tutorial's 784-256-784 model at batch 100 makes five matrix
//! products: `x·W1` and `h·W2` forward, `hᵀ·dz2`, `dz2·W2ᵀ` and `xᵀ·dz1` backward. This times
//! 550 steps of them (one epoch of 55,000 images), the way the trainer runs them:
//!
//! - `raw GEMM floor`: the five products through the GEMM the fused path uses (the `gemm`
//!   crate on the compute pool), on raw slices: the limit of this design on this machine;
//! - `fused products`: the same with the products of the images skipping their zero pixels,
//!   as the fused path runs them;
//! - `fused step`: the whole step outside Burn's Learner (forward, loss, backward, RMSProp);
//! - `Burn matmul`: the five products through Burn's own `matmul` (the floor of the composed
//!   path), and the candidates the GEMM was chosen from, per product.
//!
//!     cargo run --release --example gemm_floor -- --data ../shared/data/mnist [--candidates]

use std::mem::MaybeUninit;
use std::path::PathBuf;
use std::time::Instant;

use burn::optim::{GradientsParams, Optimizer};
use burn::prelude::*;
use burn::tensor::Distribution;
use mnist_autoencoder::IMAGE_PIXELS;
use mnist_autoencoder::backend::{self, Backend as B, TrainingBackend as AB};
use mnist_autoencoder::config::Init;
use mnist_autoencoder::data::{LabeledImages, MnistPart};
use mnist_autoencoder::model::fused::FusedOps;
use mnist_autoencoder::model::fused::cpu::products::{self, Blocked, Operand};
use mnist_autoencoder::model::{Autoencoder, AutoencoderConfig};
use mnist_autoencoder::optim::Tf1RmsPropConfig;

const STEPS: usize = 550;
const BATCH: usize = 100;
const HIDDEN: usize = 256;
const ROUNDS: usize = 5;

/// Seconds per epoch: the median of `ROUNDS` epochs of `step(i)`.
fn epoch(mut step: impl FnMut(usize)) -> f64 {
    step(0);
    let mut seconds: Vec<f64> = (0..ROUNDS)
        .map(|_| {
            let started = Instant::now();
            (0..STEPS).for_each(&mut step);
            started.elapsed().as_secs_f64()
        })
        .collect();
    seconds.sort_by(f64::total_cmp);
    seconds[ROUNDS / 2]
}

fn zeros(len: usize) -> Vec<MaybeUninit<f32>> {
    vec![MaybeUninit::new(0.0); len]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut data = std::env::var_os("MNIST_DIR").map(PathBuf::from);
    let mut candidates = false;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--data" => data = args.next().map(PathBuf::from),
            "--candidates" => candidates = true,
            other => {
                eprintln!("error: unknown argument '{other}'; use --data DIR [--candidates]");
                std::process::exit(1);
            }
        }
    }
    let data = data.unwrap_or_else(|| PathBuf::from("data/mnist"));
    let train = match LabeledImages::load(&data, MnistPart::Train) {
        Ok(train) => train.dataset(),
        Err(e) => {
            eprintln!("error: {e}; pass --data the MNIST folder");
            std::process::exit(1);
        }
    };
    // The 550 batches of one epoch, in file order after the 5,000 held out.
    let mut images = Vec::with_capacity(STEPS * BATCH * IMAGE_PIXELS);
    for i in 0..STEPS * BATCH {
        train.push_scaled(5000 + i, &mut images);
    }
    let batch = |i: usize| &images[i * BATCH * IMAGE_PIXELS..(i + 1) * BATCH * IMAGE_PIXELS];

    backend::run_on_compute_thread(|| {
        let threads = rayon::current_num_threads();
        let noise = |len: usize| -> Vec<f32> { (0..len).map(|i| (i % 97) as f32 / 97.0).collect() };
        let (w1, w2) = (noise(IMAGE_PIXELS * HIDDEN), noise(HIDDEN * IMAGE_PIXELS));
        let (h, dz2, dz1) = (
            noise(BATCH * HIDDEN),
            noise(BATCH * IMAGE_PIXELS),
            noise(BATCH * HIDDEN),
        );
        let mut out_h = zeros(BATCH * HIDDEN);
        let mut out_x = zeros(BATCH * IMAGE_PIXELS);
        let mut out_w = zeros(IMAGE_PIXELS * HIDDEN);
        let (p, hd) = (IMAGE_PIXELS, HIDDEN);

        // The five products, dense, on raw slices.
        let dense = [
            (
                "x·W1",
                epoch(|i| {
                    products::dense(
                        BATCH,
                        p,
                        hd,
                        Operand::rows(batch(i), p),
                        Operand::rows(&w1, hd),
                        &mut out_h,
                    )
                }),
            ),
            (
                "h·W2",
                epoch(|_| {
                    products::dense(
                        BATCH,
                        hd,
                        p,
                        Operand::rows(&h, hd),
                        Operand::rows(&w2, p),
                        &mut out_x,
                    )
                }),
            ),
            (
                "hᵀ·dz2",
                epoch(|_| {
                    products::dense(
                        hd,
                        BATCH,
                        p,
                        Operand::transposed(&h, hd),
                        Operand::rows(&dz2, p),
                        &mut out_w,
                    )
                }),
            ),
            (
                "dz2·W2ᵀ",
                epoch(|_| {
                    products::dense(
                        BATCH,
                        p,
                        hd,
                        Operand::rows(&dz2, p),
                        Operand::transposed(&w2, p),
                        &mut out_h,
                    )
                }),
            ),
            (
                "xᵀ·dz1",
                epoch(|i| {
                    products::dense(
                        p,
                        BATCH,
                        hd,
                        Operand::transposed(batch(i), p),
                        Operand::rows(&dz1, hd),
                        &mut out_w,
                    )
                }),
            ),
        ];
        // The two products with the images as the fused path runs them, skipping zeros.
        let device = Default::default();
        let xs: Vec<_> = (0..STEPS)
            .map(|i| {
                Tensor::<B, 2>::from_data(TensorData::new(batch(i).to_vec(), [BATCH, p]), &device)
                    .into_primitive()
                    .tensor()
            })
            .collect();
        let weight = Tensor::<B, 2>::from_data(TensorData::new(w1.clone(), [p, hd]), &device)
            .into_primitive()
            .tensor();
        let zero_bias = Tensor::<B, 1>::zeros([hd], &device)
            .into_primitive()
            .tensor();
        let sparse_forward = epoch(|i| {
            drop(B::linear_sigmoid(
                xs[i].clone(),
                weight.clone(),
                zero_bias.clone(),
            ))
        });
        let sparse_backward = epoch(|i| {
            let dz1 = Blocked::columns(&dz1, hd, 0..hd);
            let (top, bottom) = out_w.split_at_mut(p / 2 * hd);
            rayon::join(
                || products::sparse_columns(batch(i), p, &dz1, 0..p / 2, top),
                || products::sparse_columns(batch(i), p, &dz1, p / 2..p, bottom),
            );
        });
        let floor: f64 = dense.iter().map(|(_, s)| s).sum();
        let fused_products =
            dense[1].1 + dense[2].1 + dense[3].1 + sparse_forward + sparse_backward;

        // The whole step outside the Learner: forward, loss, backward, TF1's RMSProp.
        AB::seed(&device, 42);
        let mut model: Autoencoder<AB> =
            AutoencoderConfig::from_settings(HIDDEN, Init::Normal).init(&device);
        let mut optim = Tf1RmsPropConfig::new().init();
        let mut phases = [0f64; 4];
        let step = epoch(|i| {
            let t0 = Instant::now();
            let x =
                Tensor::<AB, 2>::from_data(TensorData::new(batch(i).to_vec(), [BATCH, p]), &device);
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
        });
        let per_epoch = phases.map(|s| s / (STEPS * ROUNDS + 1) as f64 * STEPS as f64);
        println!(
            "step phases, s/epoch: batch {:.3}, forward and loss {:.3}, backward {:.3}, RMSProp {:.3}",
            per_epoch[0], per_epoch[1], per_epoch[2], per_epoch[3]
        );

        let row = |name: &str, seconds: f64| {
            println!(
                "| {name} | {seconds:.3} | {:.0} |",
                5.0 * 2.0 * (BATCH * p * hd * STEPS) as f64 / seconds / 1e9
            );
        };
        println!("One epoch (550 steps of {BATCH}) on {threads} threads, median of {ROUNDS}:\n");
        println!("| part | s/epoch | GFLOP/s (as 5 dense products) |");
        println!("|---|---:|---:|");
        row("raw GEMM floor: the 5 products, dense (gemm crate)", floor);
        row(
            "fused products: the image products skipping zeros",
            fused_products,
        );
        row(
            "fused step outside the Learner (forward, loss, backward, RMSProp)",
            step,
        );
        println!("\nraw GEMM floor {floor:.3} s");
        println!("fused step {step:.3} s");
        println!(
            "\nPer product, s/epoch: {}",
            dense
                .iter()
                .map(|(n, s)| format!("{n} {s:.3}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        println!("Skipping zeros: x·W1 {sparse_forward:.3}, xᵀ·dz1 {sparse_backward:.3}");

        if candidates {
            candidate_table(&images);
        }
    });
}

/// The five products through other routes: Burn's `matmul`, and `matrixmultiply` on one
/// thread or split in two halves over the pool.
fn candidate_table(images: &[f32]) {
    let device = Default::default();
    let uniform = Distribution::Uniform(0.0, 1.0);
    let x = Tensor::<B, 2>::from_data(
        TensorData::new(
            images[..BATCH * IMAGE_PIXELS].to_vec(),
            [BATCH, IMAGE_PIXELS],
        ),
        &device,
    );
    let w1 = Tensor::<B, 2>::random([IMAGE_PIXELS, HIDDEN], uniform, &device);
    let w2 = Tensor::<B, 2>::random([HIDDEN, IMAGE_PIXELS], uniform, &device);
    let g2 = Tensor::<B, 2>::random([BATCH, IMAGE_PIXELS], uniform, &device);
    let g1 = Tensor::<B, 2>::random([BATCH, HIDDEN], uniform, &device);
    let h = Tensor::<B, 2>::random([BATCH, HIDDEN], uniform, &device);
    let burn = [
        epoch(|_| drop(x.clone().matmul(w1.clone()).into_data())),
        epoch(|_| drop(h.clone().matmul(w2.clone()).into_data())),
        epoch(|_| drop(h.clone().transpose().matmul(g2.clone()).into_data())),
        epoch(|_| drop(g2.clone().matmul(w2.clone().transpose()).into_data())),
        epoch(|_| drop(x.clone().transpose().matmul(g1.clone()).into_data())),
    ];

    // (m, k, n, a transposed, b transposed) of each product.
    let shapes = [
        (BATCH, IMAGE_PIXELS, HIDDEN, false, false),
        (BATCH, HIDDEN, IMAGE_PIXELS, false, false),
        (HIDDEN, BATCH, IMAGE_PIXELS, true, false),
        (BATCH, IMAGE_PIXELS, HIDDEN, false, true),
        (IMAGE_PIXELS, BATCH, HIDDEN, true, false),
    ];
    let strides = |rows: usize, cols: usize, t: bool| {
        if t {
            (1, rows as isize)
        } else {
            (cols as isize, 1)
        }
    };
    let mm = |m: usize,
              k: usize,
              n: usize,
              ta: bool,
              tb: bool,
              a: &[f32],
              b: &[f32],
              c: &mut [f32],
              split: bool| {
        let (rsa, csa) = strides(m, k, ta);
        let (rsb, csb) = strides(k, n, tb);
        let half = if split { (n / 2).div_ceil(16) * 16 } else { n };
        let run = |c: &mut [f32], from: usize, width: usize| {
            // SAFETY: every element the strides reach lies inside `a`, `b` and `c`.
            unsafe {
                matrixmultiply::sgemm(
                    m,
                    k,
                    width,
                    1.0,
                    a.as_ptr(),
                    rsa,
                    csa,
                    b.as_ptr().offset(from as isize * csb),
                    rsb,
                    csb,
                    0.0,
                    c.as_mut_ptr().add(from),
                    n as isize,
                    1,
                );
            }
        };
        if split {
            let pointer = c.as_mut_ptr() as usize;
            let len = c.len();
            rayon::join(
                // SAFETY: the two halves write disjoint columns of `c`.
                || {
                    run(
                        unsafe { std::slice::from_raw_parts_mut(pointer as *mut f32, len) },
                        0,
                        half,
                    )
                },
                || {
                    run(
                        unsafe { std::slice::from_raw_parts_mut(pointer as *mut f32, len) },
                        half,
                        n - half,
                    )
                },
            );
        } else {
            run(c, 0, n);
        }
    };
    let operand = |len: usize| -> Vec<f32> { (0..len).map(|i| (i % 89) as f32 / 89.0).collect() };
    println!("\nCandidates per product, s/epoch:\n");
    println!(
        "| product | Burn matmul | matrixmultiply, 1 thread | matrixmultiply, 2 halves | gemm, 2 halves | gemm on the pool |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    let names = ["x·W1", "h·W2", "hᵀ·dz2", "dz2·W2ᵀ", "xᵀ·dz1"];
    for (i, &(m, k, n, ta, tb)) in shapes.iter().enumerate() {
        let (a, b) = (operand(m * k), operand(k * n));
        let mut c = vec![0f32; m * n];
        let one = epoch(|_| mm(m, k, n, ta, tb, &a, &b, &mut c, false));
        let two = epoch(|_| mm(m, k, n, ta, tb, &a, &b, &mut c, true));
        let mut out = zeros(m * n);
        let (rsa, csa) = strides(m, k, ta);
        let (rsb, csb) = strides(k, n, tb);
        let halves = epoch(|_| {
            let half = (n / 2).div_ceil(16) * 16;
            let (left, right) = out.split_at_mut(0);
            let _ = (left, right);
            let pointer = out.as_mut_ptr() as usize;
            let run = |from: usize, width: usize| {
                // SAFETY: each half writes its own columns of `out`; strides stay in bounds.
                unsafe {
                    gemm::gemm(
                        m,
                        width,
                        k,
                        (pointer as *mut f32).add(from),
                        1,
                        n as isize,
                        false,
                        a.as_ptr(),
                        csa,
                        rsa,
                        b.as_ptr().offset(from as isize * csb),
                        csb,
                        rsb,
                        0.0f32,
                        1.0f32,
                        false,
                        false,
                        false,
                        gemm::Parallelism::None,
                    );
                }
            };
            rayon::join(|| run(0, half), || run(half, n - half));
        });
        let chosen = epoch(|_| {
            products::dense(
                m,
                k,
                n,
                Operand {
                    data: &a,
                    row: rsa as usize,
                    col: csa as usize,
                },
                Operand {
                    data: &b,
                    row: rsb as usize,
                    col: csb as usize,
                },
                &mut out,
            )
        });
        println!(
            "| {} | {:.3} | {one:.3} | {two:.3} | {halves:.3} | {chosen:.3} |",
            names[i], burn[i]
        );
    }
}
