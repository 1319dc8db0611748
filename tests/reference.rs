//! Training checked against an independent reference: the model's forward pass, its gradient,
//! the loss and both RMSProp updates written out plainly in f64 here, against the library's
//! train step and optimisers (what Burn's Learner calls every step), from the same weights and
//! batches. A wrong sigmoid slope, loss scale, bias gradient, epsilon placement or setting
//! fails here with the step where it shows.

use burn::module::Param;
use burn::nn::Linear;
use burn::optim::Optimizer;
use burn::prelude::*;
use burn::train::TrainStep;
use mnist_autoencoder::data::MnistBatch;
use mnist_autoencoder::fused::FusedOps;
use mnist_autoencoder::model::Autoencoder;
use mnist_autoencoder::optim::{OptimizerKind, RmsPropSettings};

use crate::common::synthetic_pixels;

type AB = mnist_autoencoder::backend::TrainingBackend;

const PIXELS: usize = 784;

/// Both layers' weights, row-major as Burn stores them: `w1` is `[784, hidden]`, `w2`
/// `[hidden, 784]`.
#[derive(Debug, Clone)]
struct Weights {
    hidden: usize,
    w1: Vec<f64>,
    b1: Vec<f64>,
    w2: Vec<f64>,
    b2: Vec<f64>,
}

impl Weights {
    /// Deterministic weights of both signs, large enough that some units saturate.
    fn draw(hidden: usize) -> Self {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = |scale: f64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            ((state >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0) * scale
        };
        Self {
            hidden,
            w1: (0..PIXELS * hidden).map(|_| next(0.3)).collect(),
            b1: (0..hidden).map(|_| next(1.0)).collect(),
            w2: (0..hidden * PIXELS).map(|_| next(1.0)).collect(),
            b2: (0..PIXELS).map(|_| next(1.0)).collect(),
        }
    }

    fn zeros_like(&self) -> Self {
        let zero = |v: &Vec<f64>| vec![0.0; v.len()];
        Self {
            hidden: self.hidden,
            w1: zero(&self.w1),
            b1: zero(&self.b1),
            w2: zero(&self.w2),
            b2: zero(&self.b2),
        }
    }

    fn parts(&self) -> [&Vec<f64>; 4] {
        [&self.w1, &self.b1, &self.w2, &self.b2]
    }

    fn parts_mut(&mut self) -> [&mut Vec<f64>; 4] {
        [&mut self.w1, &mut self.b1, &mut self.w2, &mut self.b2]
    }

    fn model(&self) -> Autoencoder<AB> {
        let device = Default::default();
        let f32s = |v: &Vec<f64>| v.iter().map(|&x| x as f32).collect::<Vec<_>>();
        let matrix = |v: &Vec<f64>, shape: [usize; 2]| {
            Param::from_tensor(Tensor::from_data(TensorData::new(f32s(v), shape), &device))
        };
        let vector = |v: &Vec<f64>| {
            Param::from_tensor(Tensor::from_data(
                TensorData::new(f32s(v), [v.len()]),
                &device,
            ))
        };
        Autoencoder::tutorial(
            Linear {
                weight: matrix(&self.w1, [PIXELS, self.hidden]),
                bias: Some(vector(&self.b1)),
            },
            Linear {
                weight: matrix(&self.w2, [self.hidden, PIXELS]),
                bias: Some(vector(&self.b2)),
            },
        )
    }

    fn of<B: FusedOps>(model: &Autoencoder<B>) -> Self {
        let values = |t: Tensor<B, 1>| {
            let data = t.into_data().to_vec::<f32>().unwrap();
            data.into_iter().map(f64::from).collect::<Vec<_>>()
        };
        let bias = |l: &Linear<B>| values(l.bias.as_ref().unwrap().val());
        let [encoder, decoder] = model.tutorial_layers().expect("the tutorial's model");
        Self {
            hidden: model.code_size(),
            w1: values(encoder.weight.val().flatten(0, 1)),
            b1: bias(encoder),
            w2: values(decoder.weight.val().flatten(0, 1)),
            b2: bias(decoder),
        }
    }
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// The batch loss, mean squared error over every pixel, and its gradient for every weight.
fn loss_and_gradient(w: &Weights, x: &[f64]) -> (f64, Weights) {
    let (n, h) = (x.len() / PIXELS, w.hidden);
    let mut code = vec![0.0; n * h];
    let mut out = vec![0.0; n * PIXELS];
    for b in 0..n {
        for j in 0..h {
            let z: f64 = (0..PIXELS)
                .map(|i| x[b * PIXELS + i] * w.w1[i * h + j])
                .sum();
            code[b * h + j] = sigmoid(z + w.b1[j]);
        }
        for i in 0..PIXELS {
            let z: f64 = (0..h).map(|j| code[b * h + j] * w.w2[j * PIXELS + i]).sum();
            out[b * PIXELS + i] = sigmoid(z + w.b2[i]);
        }
    }
    let count = (n * PIXELS) as f64;
    let loss = out.iter().zip(x).map(|(y, t)| (y - t).powi(2)).sum::<f64>() / count;

    let mut grad = w.zeros_like();
    let mut dcode = vec![0.0; n * h];
    for b in 0..n {
        for i in 0..PIXELS {
            let y = out[b * PIXELS + i];
            let dz = 2.0 * (y - x[b * PIXELS + i]) / count * y * (1.0 - y);
            grad.b2[i] += dz;
            for j in 0..h {
                grad.w2[j * PIXELS + i] += code[b * h + j] * dz;
                dcode[b * h + j] += dz * w.w2[j * PIXELS + i];
            }
        }
        for j in 0..h {
            let c = code[b * h + j];
            let dz = dcode[b * h + j] * c * (1.0 - c);
            grad.b1[j] += dz;
            for i in 0..PIXELS {
                grad.w1[i * h + j] += x[b * PIXELS + i] * dz;
            }
        }
    }
    (loss, grad)
}

/// One optimiser's state for every weight, and its update.
struct Reference {
    kind: OptimizerKind,
    settings: RmsPropSettings,
    steps: usize,
    square: Weights,
    mean: Weights,
    momentum: Weights,
}

impl Reference {
    fn new(kind: OptimizerKind, settings: RmsPropSettings, like: &Weights) -> Self {
        Self {
            kind,
            settings,
            steps: 0,
            square: like.zeros_like(),
            mean: like.zeros_like(),
            momentum: like.zeros_like(),
        }
    }

    fn update(&mut self, lr: f64, weights: &mut Weights, grad: &Weights) {
        let s = &self.settings;
        let (alpha, momentum, eps) = (
            f64::from(s.alpha),
            f64::from(s.momentum),
            f64::from(s.epsilon),
        );
        let first = self.steps == 0;
        self.steps += 1;
        let parts = weights
            .parts_mut()
            .into_iter()
            .zip(grad.parts())
            .zip(self.square.parts_mut())
            .zip(self.mean.parts_mut())
            .zip(self.momentum.parts_mut());
        for ((((w, g), sq), mean), mom) in parts {
            for i in 0..w.len() {
                let g = g[i];
                let step = match self.kind {
                    // TF1: the mean square starts at one; epsilon inside the root; lr inside
                    // the momentum buffer.
                    OptimizerKind::Tf1Rmsprop => {
                        let start = if first { 1.0 } else { sq[i] };
                        sq[i] = alpha * start + (1.0 - alpha) * g * g;
                        mean[i] = alpha * mean[i] + (1.0 - alpha) * g;
                        let denominator = if s.centered {
                            sq[i] - mean[i] * mean[i]
                        } else {
                            sq[i]
                        };
                        lr * g / (denominator + eps).sqrt()
                    }
                    // Burn: from zero; epsilon after the root; lr applied after the momentum.
                    OptimizerKind::BurnRmsprop => {
                        sq[i] = alpha * sq[i] + (1.0 - alpha) * g * g;
                        mean[i] = alpha * mean[i] + (1.0 - alpha) * g;
                        let denominator = if s.centered {
                            sq[i] - mean[i] * mean[i]
                        } else {
                            sq[i]
                        };
                        g / (denominator.sqrt() + eps)
                    }
                    OptimizerKind::Adam => unreachable!("the reference is of the RMSProps"),
                };
                mom[i] = if momentum > 0.0 {
                    momentum * mom[i] + step
                } else {
                    step
                };
                w[i] -= match self.kind {
                    OptimizerKind::Tf1Rmsprop => mom[i],
                    OptimizerKind::BurnRmsprop => lr * mom[i],
                    OptimizerKind::Adam => unreachable!("the reference is of the RMSProps"),
                };
            }
        }
    }
}

/// The per-step losses and final weights of the library's train step and optimiser.
fn library<O: Optimizer<Autoencoder<AB>, AB>>(
    start: &Weights,
    mut optim: O,
    lr: f64,
    batches: &[Vec<f64>],
) -> (Vec<f64>, Weights) {
    let device = Default::default();
    let mut model = start.model();
    let mut losses = Vec::new();
    for batch in batches {
        let pixels: Vec<f32> = batch.iter().map(|&p| p as f32).collect();
        let shape = [batch.len() / PIXELS, PIXELS];
        let images = Tensor::<AB, 2>::from_data(TensorData::new(pixels, shape), &device);
        let output = TrainStep::step(
            &model,
            MnistBatch {
                inputs: images.clone(),
                images,
                latent_noise: None,
            },
        );
        losses.push(f64::from(output.item.loss.into_scalar().elem::<f32>()));
        model = optim.step(lr, model, output.grads);
    }
    (losses, Weights::of(&model))
}

fn batches(count: usize, size: usize) -> Vec<Vec<f64>> {
    let pixels = synthetic_pixels(count * size);
    pixels
        .chunks(size * PIXELS)
        .map(|chunk| chunk.iter().map(|&p| f64::from(p) / 255.0).collect())
        .collect()
}

/// Runs both for a few steps and compares every loss and every weight.
fn agree(kind: OptimizerKind, settings: RmsPropSettings, lr: f64) {
    let start = Weights::draw(7);
    let batches = batches(8, 6);
    let (losses, weights) = match kind {
        OptimizerKind::Tf1Rmsprop => library(&start, settings.tf1().init(), lr, &batches),
        OptimizerKind::BurnRmsprop => library(&start, settings.burn().init(), lr, &batches),
        OptimizerKind::Adam => unreachable!("the reference is of the RMSProps"),
    };
    let mut reference = Reference::new(kind, settings.clone(), &start);
    let mut expected = start.clone();
    for (step, batch) in batches.iter().enumerate() {
        let (loss, grad) = loss_and_gradient(&expected, batch);
        assert!(
            (losses[step] - loss).abs() <= 1e-5 * loss,
            "{kind:?} {settings:?}: loss of step {step} is {}, reference {loss}",
            losses[step]
        );
        reference.update(lr, &mut expected, &grad);
    }
    // Burn's rule divides each gradient by its own root mean square: for a gradient near zero,
    // whose last digits a GPU's other summation order changes, the step is about the learning
    // rate times those digits' ratio. On wgpu the weights get ten times the room.
    let tolerance = if cfg!(feature = "wgpu") { 1e-4 } else { 1e-5 };
    let names = [
        "encoder weight",
        "encoder bias",
        "decoder weight",
        "decoder bias",
    ];
    let mut moved = 0f64;
    for ((name, got), (want, first)) in names
        .iter()
        .zip(weights.parts())
        .zip(expected.parts().into_iter().zip(start.parts()))
    {
        for i in 0..got.len() {
            assert!(
                (got[i] - want[i]).abs() <= tolerance * (1.0 + want[i].abs()),
                "{kind:?} {settings:?}: {name}[{i}] is {}, reference {}",
                got[i],
                want[i]
            );
            moved = moved.max((want[i] - first[i]).abs());
        }
    }
    // The comparison means something only if training moved the weights well past the tolerance.
    assert!(moved > 1e-3, "{kind:?}: the weights moved only {moved}");
}

fn tf1_default_settings_follow_the_reference() {
    let settings = RmsPropSettings {
        alpha: 0.9,
        momentum: 0.0,
        epsilon: 1e-10,
        centered: false,
    };
    // TF1's mean square starts at one, so a step is about lr * g: a large rate moves the weights
    // well past float32 rounding in a few steps.
    agree(OptimizerKind::Tf1Rmsprop, settings, 2.0);
}

fn tf1_with_every_setting_changed_follows_the_reference() {
    // A low decay lets the mean square leave its start at one within a few steps, so that the
    // centring and epsilon show.
    let settings = RmsPropSettings {
        alpha: 0.05,
        momentum: 0.5,
        epsilon: 0.01,
        centered: true,
    };
    agree(OptimizerKind::Tf1Rmsprop, settings, 2.0);
}

fn burn_rmsprop_as_in_the_modern_config_follows_the_reference() {
    let settings = RmsPropSettings {
        alpha: 0.99,
        momentum: 0.9,
        epsilon: 1e-10,
        centered: false,
    };
    agree(OptimizerKind::BurnRmsprop, settings, 3e-4);
}

fn burn_rmsprop_with_every_setting_changed_follows_the_reference() {
    let settings = RmsPropSettings {
        alpha: 0.7,
        momentum: 0.3,
        epsilon: 0.01,
        centered: true,
    };
    agree(OptimizerKind::BurnRmsprop, settings, 1e-3);
}

crate::trials![
    plain tf1_default_settings_follow_the_reference,
    plain tf1_with_every_setting_changed_follows_the_reference,
    plain burn_rmsprop_as_in_the_modern_config_follows_the_reference,
    plain burn_rmsprop_with_every_setting_changed_follows_the_reference,
];
