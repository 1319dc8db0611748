//! Times each convolution of `config/keras-denoising.toml` (batch 128) through the fused
//! ndarray kernels, forward and backward: where a conv epoch goes. The decoder's last two read
//! their input's 2x upsampling, as the model runs them.
//!
//!     cargo run --release --example conv_layers

use std::time::Instant;

use mnist_autoencoder::fused::Activation;
use mnist_autoencoder::fused::cpu::conv::{self, Geometry};

fn main() {
    // (side, channels, filters, upsampled)
    let layers = [
        (28, 1, 32, false),
        (14, 32, 32, false),
        (7, 32, 32, false),
        (14, 32, 32, true),
        (28, 32, 1, true),
    ];
    let rounds = 20;
    let mut total = 0.0;
    for (side, channels, filters, upsampled) in layers {
        let g = Geometry {
            images: 128,
            channels,
            height: side,
            width: side,
            filters,
            kernel: 3,
            padding: 1,
            upsampled,
        };
        let stored = if upsampled { side / 2 } else { side };
        let x: Vec<f32> = (0..128 * channels * stored * stored)
            .map(|i| ((i * 7919) % 1000) as f32 / 1000.0)
            .collect();
        let weight: Vec<f32> = (0..filters * channels * 9)
            .map(|i| ((i * 104729) % 200) as f32 / 1000.0 - 0.1)
            .collect();
        let bias = vec![0.01; filters];
        let y = conv::forward(&g, &x, &weight, &bias, Activation::Relu);
        let dy: Vec<f32> = y.iter().map(|v| v * 0.5 - 0.1).collect();
        let start = Instant::now();
        for _ in 0..rounds {
            std::hint::black_box(conv::forward(&g, &x, &weight, &bias, Activation::Relu));
        }
        let forward = start.elapsed().as_secs_f64() / rounds as f64;
        let start = Instant::now();
        for _ in 0..rounds {
            let values = (&x[..], &weight[..], &y[..], &dy[..]);
            std::hint::black_box(conv::backward(&g, values, Activation::Relu, channels > 1));
        }
        let backward = start.elapsed().as_secs_f64() / rounds as f64;
        total += forward + backward;
        println!(
            "{side:>2}x{side:<2} {channels:>2} -> {filters:>2}: forward {:6.2} ms, backward {:6.2} ms",
            forward * 1e3,
            backward * 1e3
        );
    }
    println!("all five: {:.2} ms per step of 128 images", total * 1e3);
}
