//! The tutorial's autoencoder: 784 -> hidden (Linear + Sigmoid) -> 784 (Linear + Sigmoid),
//! trained on the mean squared error over all pixels.

use burn::module::Initializer;
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use burn::train::metric::{Adaptor, ItemLazy, LossInput};
use burn::train::{InferenceStep, TrainOutput, TrainStep};

use crate::IMAGE_PIXELS;
use crate::config::Init;
use crate::data::MnistBatch;

#[derive(Config, Debug)]
pub struct AutoencoderConfig {
    /// Units in the code layer.
    #[config(default = 256)]
    pub hidden_size: usize,
    /// Initialisation of both layers' weights and biases.
    #[config(default = "Initializer::Normal { mean: 0.0, std: 1.0 }")]
    pub initializer: Initializer,
}

impl AutoencoderConfig {
    /// The config for a hidden size and one of the named initialisations.
    pub fn from_settings(hidden_size: usize, init: Init) -> Self {
        let initializer = match init {
            Init::Normal => Initializer::Normal {
                mean: 0.0,
                std: 1.0,
            },
            Init::Kaiming => LinearConfig::new(1, 1).initializer,
            Init::Xavier => Initializer::XavierUniform { gain: 1.0 },
        };
        Self::new()
            .with_hidden_size(hidden_size)
            .with_initializer(initializer)
    }

    pub fn init<B: Backend>(&self, device: &B::Device) -> Autoencoder<B> {
        let linear = |d_input, d_output| {
            LinearConfig::new(d_input, d_output)
                .with_initializer(self.initializer.clone())
                .init(device)
        };
        let model = Autoencoder {
            encoder: linear(IMAGE_PIXELS, self.hidden_size),
            decoder: linear(self.hidden_size, IMAGE_PIXELS),
        };
        // Burn draws a parameter's initial values when it is first read, from one RNG shared
        // by every thread. Reading them here, in a fixed order on this thread, keeps the Learner's
        // threads from ever drawing them in another order: the same seed, the same weights.
        for linear in [&model.encoder, &model.decoder] {
            linear.weight.val();
            if let Some(bias) = &linear.bias {
                bias.val();
            }
        }
        model
    }
}

#[derive(Module, Debug)]
pub struct Autoencoder<B: Backend> {
    pub encoder: Linear<B>,
    pub decoder: Linear<B>,
}

impl<B: Backend> Autoencoder<B> {
    /// images: `[batch, 784]` in [0, 1] -> codes: `[batch, hidden]` in (0, 1)
    pub fn encode(&self, images: Tensor<B, 2>) -> Tensor<B, 2> {
        sigmoid(self.encoder.forward(images))
    }

    /// codes: `[batch, hidden]` -> images: `[batch, 784]` in (0, 1)
    pub fn decode(&self, codes: Tensor<B, 2>) -> Tensor<B, 2> {
        sigmoid(self.decoder.forward(codes))
    }

    /// images: `[batch, 784]` -> reconstructions: `[batch, 784]`
    pub fn forward(&self, images: Tensor<B, 2>) -> Tensor<B, 2> {
        self.decode(self.encode(images))
    }

    /// Units in the code layer.
    pub fn hidden_size(&self) -> usize {
        self.encoder.weight.dims()[1]
    }

    /// The batch's reconstruction loss: `[1]`, the mean over all pixels of all images.
    pub fn loss(&self, images: Tensor<B, 2>) -> Tensor<B, 1> {
        mse(self.forward(images.clone()), images)
    }
}

/// The logistic sigmoid `1 / (1 + exp(-x))`, whose gradient is `y (1 - y)` as TensorFlow's.
///
/// Burn 0.21's `sigmoid` computes `exp(-log(1 + exp(-x)))`, three transcendental passes, and its
/// autodiff backward computes all three again from the input: in a profile of the tutorial's
/// training, half of the main thread's time. Here `y` is computed off the graph with one `exp`
/// and the graph carries `y + (x - x.detach()) * y (1 - y)`. For finite `x` the bracket is
/// exactly zero, so the value is exactly `y`; its gradient is `y (1 - y)`, TensorFlow's
/// `SigmoidGrad`, read from the forward pass instead of recomputed. On a backend without
/// autodiff it is `y` alone.
pub fn sigmoid<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    let denominator = x.clone().detach().neg().exp().add_scalar(1.0);
    // A division, not `recip()`: Burn's ndarray computes `recip` with the CPU's approximate
    // reciprocal instruction, good to 12 bits only.
    let y = denominator.ones_like() / denominator;
    if !B::ad_enabled(&x.device()) {
        return y;
    }
    let slope = y.clone() * y.clone().neg().add_scalar(1.0);
    y + (x.clone() - x.detach()) * slope
}

/// Mean squared error over every element, `[1]`. `diff * diff` rather than `powf_scalar(2.0)`,
/// which goes through log and exp.
pub fn mse<B: Backend>(output: Tensor<B, 2>, target: Tensor<B, 2>) -> Tensor<B, 1> {
    let diff = output - target;
    (diff.clone() * diff).mean()
}

/// What a step hands to the metrics: the batch loss only, off the autodiff graph.
///
/// Burn's `RegressionOutput` would also copy the `[batch, 784]` output and targets to the host
/// every step; the loss metric reads only the loss.
#[derive(Debug, Clone)]
pub struct ReconstructionOutput<B: Backend> {
    /// `[1]`: the batch's mean squared error. Its single element makes the epoch's loss metric
    /// the mean of the batch means, as the tutorial's `total_cost / total_batch`.
    pub loss: Tensor<B, 1>,
}

impl<B: Backend> ItemLazy for ReconstructionOutput<B> {
    type ItemSync = Self;

    fn sync(self) -> Self {
        self
    }
}

impl<B: Backend> Adaptor<LossInput<B>> for ReconstructionOutput<B> {
    fn adapt(&self) -> LossInput<B> {
        LossInput::new(self.loss.clone())
    }
}

impl<B: AutodiffBackend> TrainStep for Autoencoder<B> {
    type Input = MnistBatch<B>;
    type Output = ReconstructionOutput<B::InnerBackend>;

    fn step(&self, batch: MnistBatch<B>) -> TrainOutput<Self::Output> {
        let loss = mse(self.forward(batch.inputs), batch.images);
        let output = ReconstructionOutput {
            loss: loss.clone().inner(),
        };
        TrainOutput::new(self, loss.backward(), output)
    }
}

impl<B: Backend> InferenceStep for Autoencoder<B> {
    type Input = MnistBatch<B>;
    type Output = ReconstructionOutput<B>;

    fn step(&self, batch: MnistBatch<B>) -> Self::Output {
        ReconstructionOutput {
            loss: mse(self.forward(batch.inputs), batch.images),
        }
    }
}
