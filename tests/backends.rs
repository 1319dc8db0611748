//! The backends agree: the same model, initialised once on ndarray and carried to wgpu through a
//! full-precision record, trained on the same batches with the same optimiser, gives the same
//! losses and weights within float32 rounding. Built only with both features:
//! `cargo test --release --features wgpu`.

use burn::backend::ndarray::NdArrayDevice;
use burn::backend::wgpu::WgpuDevice;
use burn::backend::{Autodiff, NdArray, Wgpu};
use burn::module::Module;
use burn::optim::{GradientsParams, Optimizer};
use burn::prelude::*;
use burn::record::{FullPrecisionSettings, NamedMpkBytesRecorder, Recorder};
use mnist_autoencoder::fused::{FusedAutodiff, FusedOps};
use mnist_autoencoder::model::Init;
use mnist_autoencoder::model::{Autoencoder, AutoencoderConfig};
use mnist_autoencoder::optim::Tf1RmsPropConfig;

use crate::common::synthetic_pixels;

type Cpu = Autodiff<NdArray<f32>>;
type Gpu = Autodiff<Wgpu>;

const BATCH: usize = 20;
const STEPS: usize = 6;
/// Large enough that the weights move far beyond float32 rounding: TF1's mean square starts at
/// 1, so each step is about `LEARNING_RATE * g`.
const LEARNING_RATE: f64 = 1.0;

/// Losses of each step and the final weights (encoder then decoder, weights then biases).
fn train<B: FusedAutodiff>(mut model: Autoencoder<B>, device: &B::Device) -> (Vec<f32>, Vec<f32>) {
    let pixels: Vec<f32> = synthetic_pixels(BATCH * STEPS)
        .iter()
        .map(|&p| f32::from(p) / 255.0)
        .collect();
    let mut optim = Tf1RmsPropConfig::new().init();
    let mut losses = Vec::new();
    for step in 0..STEPS {
        let chunk = pixels[step * BATCH * 784..(step + 1) * BATCH * 784].to_vec();
        let images = Tensor::<B, 2>::from_data(TensorData::new(chunk, [BATCH, 784]), device);
        let loss = model.loss(images);
        losses.push(loss.clone().into_scalar().elem::<f32>());
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(LEARNING_RATE, model, grads);
    }
    (losses, weights(&model))
}

fn weights<B: FusedOps>(model: &Autoencoder<B>) -> Vec<f32> {
    let mut all = Vec::new();
    for linear in model.tutorial_layers().unwrap() {
        all.extend(linear.weight.val().into_data().to_vec::<f32>().unwrap());
        all.extend(
            linear
                .bias
                .as_ref()
                .unwrap()
                .val()
                .into_data()
                .to_vec::<f32>()
                .unwrap(),
        );
    }
    all
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn ndarray_and_wgpu_train_alike_from_the_same_weights() {
    let cpu = NdArrayDevice::Cpu;
    let gpu = WgpuDevice::DefaultDevice;
    Cpu::seed(&cpu, 11);
    let config = AutoencoderConfig::from_settings(64, Init::Xavier);
    let on_cpu: Autoencoder<Cpu> = config.init(&cpu);
    // Burn initialises parameters lazily, and an uninitialised clone draws its own numbers:
    // reading the weights first fixes them before the record is taken from a clone.
    let initial = weights(&on_cpu);

    // Carry the initial weights over: the backends draw different numbers from the same seed.
    let recorder = NamedMpkBytesRecorder::<FullPrecisionSettings>::default();
    let bytes = Recorder::<Cpu>::record(&recorder, on_cpu.clone().into_record(), ()).unwrap();
    let record = Recorder::<Gpu>::load(&recorder, bytes, &gpu).unwrap();
    let on_gpu: Autoencoder<Gpu> = config.init(&gpu).load_record(record);
    assert_eq!(
        initial,
        weights(&on_gpu),
        "the record must carry the weights exactly"
    );

    let (cpu_losses, cpu_weights) = train(on_cpu, &cpu);
    let (gpu_losses, gpu_weights) = train(on_gpu, &gpu);
    let loss_diff = max_abs_diff(&cpu_losses, &gpu_losses);
    let weight_diff = max_abs_diff(&cpu_weights, &gpu_weights);
    eprintln!(
        "losses cpu {cpu_losses:?}\nlosses gpu {gpu_losses:?}\nmax |dloss| {loss_diff:e}, max |dw| {weight_diff:e}"
    );

    // Tolerances: float32 sums of 784 (or 64) terms taken in another order differ by about
    // sqrt(784) * 6e-8 = 2e-6 relative, so gradients and thus updates differ by ~1e-6 of their
    // size; storing `w - step` rounds to one ulp (7.5e-9 for weights near 0.08) per step. Six
    // steps should leave the weights within ~1e-7 and the losses (~0.17, ulp 1.5e-8) likewise.
    // The bounds are 100x that, and 100x below how far training moves the weights (checked
    // below), so a wrong or missing update on either backend fails them.
    assert!(
        loss_diff < 1e-5,
        "losses differ by {loss_diff:e}: {cpu_losses:?} vs {gpu_losses:?}"
    );
    assert!(weight_diff < 1e-5, "weights differ by {weight_diff:e}");
    let moved = max_abs_diff(&initial, &cpu_weights);
    assert!(moved > 1e-3, "training moved the weights by only {moved:e}");
    assert!(
        cpu_losses[STEPS - 1] < cpu_losses[0],
        "loss did not fall: {cpu_losses:?}"
    );
}

/// Each other kind of model (Keras's deep sparse one, a convolutional one, a VAE) gives the same
/// loss and, after one optimiser step, the same weights on both backends from the same weights.
fn every_kind_computes_alike_on_both_backends() {
    use mnist_autoencoder::model::ModelKind;
    let cpu = NdArrayDevice::Cpu;
    let gpu = WgpuDevice::DefaultDevice;
    let keras = crate::common::keras_model;
    let kinds = [
        keras(ModelKind::Dense)
            .with_hidden_layers(vec![32, 16])
            .with_hidden_size(8)
            .with_code_l1(1e-4),
        keras(ModelKind::Conv).with_conv_channels(vec![4, 2, 2]),
        keras(ModelKind::Vae)
            .with_hidden_layers(vec![16])
            .with_hidden_size(2),
    ];
    let pixels: Vec<f32> = synthetic_pixels(BATCH)
        .iter()
        .map(|&p| f32::from(p) / 255.0)
        .collect();
    for config in kinds {
        let what = config.describe();
        Cpu::seed(&cpu, 3);
        let on_cpu: Autoencoder<Cpu> = config.init(&cpu);
        let initial = on_cpu.named_parameters();
        let recorder = NamedMpkBytesRecorder::<FullPrecisionSettings>::default();
        let bytes = Recorder::<Cpu>::record(&recorder, on_cpu.clone().into_record(), ()).unwrap();
        let record = Recorder::<Gpu>::load(&recorder, bytes, &gpu).unwrap();
        let on_gpu: Autoencoder<Gpu> = config.init(&gpu).load_record(record);
        assert_eq!(initial, on_gpu.named_parameters(), "{what}: the record");

        fn step<B: FusedAutodiff>(
            model: Autoencoder<B>,
            pixels: &[f32],
            device: &B::Device,
        ) -> (f32, Vec<f32>) {
            let images =
                Tensor::<B, 2>::from_data(TensorData::new(pixels.to_vec(), [BATCH, 784]), device);
            let loss = model.loss(images);
            let value = loss.clone().into_scalar().elem::<f32>();
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            let model = Tf1RmsPropConfig::new()
                .init()
                .step(LEARNING_RATE, model, grads);
            let flat = model.named_parameters().into_iter().flat_map(|(_, v)| v);
            (value, flat.collect())
        }
        let (cpu_loss, cpu_weights) = step(on_cpu, &pixels, &cpu);
        let (gpu_loss, gpu_weights) = step(on_gpu, &pixels, &gpu);
        let before: Vec<f32> = initial.into_iter().flat_map(|(_, v)| v).collect();
        let moved = max_abs_diff(&before, &cpu_weights);
        let apart = max_abs_diff(&cpu_weights, &gpu_weights);
        eprintln!("{what}: loss {cpu_loss} | {gpu_loss}; moved {moved:e}, apart {apart:e}");
        assert!(
            (cpu_loss - gpu_loss).abs() <= 1e-5 * cpu_loss.abs(),
            "{what}: loss {cpu_loss} on ndarray, {gpu_loss} on wgpu"
        );
        assert!(
            moved > 1e-4,
            "{what}: the step moved the weights by {moved:e}"
        );
        assert!(apart < 1e-3 * moved, "{what}: weights {apart:e} apart");
    }
}

crate::trials![
    plain ndarray_and_wgpu_train_alike_from_the_same_weights,
    plain every_kind_computes_alike_on_both_backends,
];
