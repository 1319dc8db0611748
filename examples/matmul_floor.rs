//! How long the backend's matrix products alone take for one epoch of the tutorial's model.
//!
//! One training step of 784-256-784 at batch 100 makes five products: two forward, the
//! decoder's input gradient and both weight gradients, each 100 x 784 x 256 multiply-adds,
//! with the operand layouts Burn's `Linear` and its backward use. This times 550 such steps
//! (one epoch of 55,000 images), the way the trainer runs them, and prints seconds per epoch
//! and the rate. No epoch of the trainer can be faster than this figure.
//!
//!     cargo run --release --example matmul_floor

use burn::prelude::*;
use burn::tensor::Distribution;
use mnist_autoencoder::backend::{self, Backend as B};

const STEPS: usize = 550;
const ROUNDS: usize = 5;

fn main() {
    backend::run_on_compute_thread(|| {
        let device = Default::default();
        let uniform = Distribution::Uniform(0.0, 1.0);
        let x = Tensor::<B, 2>::random([100, 784], uniform, &device);
        let w1 = Tensor::<B, 2>::random([784, 256], uniform, &device);
        let w2 = Tensor::<B, 2>::random([256, 784], uniform, &device);
        let g2 = Tensor::<B, 2>::random([100, 784], uniform, &device);
        let g1 = Tensor::<B, 2>::random([100, 256], uniform, &device);
        let step = || {
            let h = x.clone().matmul(w1.clone());
            let out = h.clone().matmul(w2.clone());
            // Linear's backward: the input gradient through the transposed weight, the weight
            // gradient from the transposed input.
            let dh = g2.clone().matmul(w2.clone().transpose());
            let dw2 = h.transpose().matmul(g2.clone());
            let dw1 = x.clone().transpose().matmul(g1.clone());
            // Read one element of each so that no product can be skipped or deferred.
            [out, dh, dw2, dw1]
                .map(|t| t.slice([0..1, 0..1]).into_scalar())
                .iter()
                .sum::<f32>()
        };
        step();
        let mut seconds = Vec::new();
        for _ in 0..ROUNDS {
            let started = std::time::Instant::now();
            let mut check = 0.0;
            for _ in 0..STEPS {
                check += step();
            }
            seconds.push(started.elapsed().as_secs_f64());
            assert!(check.is_finite());
        }
        seconds.sort_by(f64::total_cmp);
        let median = seconds[ROUNDS / 2];
        let flops = 5.0 * 2.0 * 100.0 * 784.0 * 256.0 * STEPS as f64;
        println!(
            "{} matrix products, {STEPS} steps of 5 (one epoch): median {median:.2} s of {ROUNDS} \
             (min {:.2}, max {:.2}), {:.0} GFLOP/s",
            backend::BACKEND_NAME,
            seconds[0],
            seconds[ROUNDS - 1],
            flops / median / 1e9,
        );
    });
}
