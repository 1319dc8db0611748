//! The tutorial's autoencoder: 784 -> hidden (Linear + Sigmoid) -> 784 (Linear + Sigmoid),
//! trained on the mean squared error over all pixels.

use std::fmt;

use burn::module::Initializer;
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::train::metric::{Adaptor, ItemLazy, LossInput};
use burn::train::{InferenceStep, TrainOutput, TrainStep};

use crate::data::IMAGE_PIXELS;
use crate::data::MnistBatch;
pub use crate::fused::composed::sigmoid;
use crate::fused::{FusedAutodiff, FusedOps, composed, float};

/// Weight and bias initialisation of both Linear layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Init {
    /// N(0, 1), the tutorial's `tf.random_normal`.
    Normal,
    /// Burn's default: Kaiming-uniform.
    Kaiming,
    /// Xavier/Glorot-uniform.
    Xavier,
}

impl fmt::Display for Init {
    /// The config's spelling: `normal`, `kaiming`, `xavier`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Init::Normal => "normal",
            Init::Kaiming => "kaiming",
            Init::Xavier => "xavier",
        })
    }
}

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

    pub fn init<B: FusedOps>(&self, device: &B::Device) -> Autoencoder<B> {
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
pub struct Autoencoder<B: FusedOps> {
    pub encoder: Linear<B>,
    pub decoder: Linear<B>,
}

impl<B: FusedOps> Autoencoder<B> {
    /// images: `[batch, 784]` in [0, 1] -> codes: `[batch, hidden]` in (0, 1)
    pub fn encode(&self, images: Tensor<B, 2>) -> Tensor<B, 2> {
        linear_sigmoid(&self.encoder, images)
    }

    /// codes: `[batch, hidden]` -> images: `[batch, 784]` in (0, 1)
    pub(crate) fn decode(&self, codes: Tensor<B, 2>) -> Tensor<B, 2> {
        linear_sigmoid(&self.decoder, codes)
    }

    /// images: `[batch, 784]` -> reconstructions: `[batch, 784]`
    pub fn forward(&self, images: Tensor<B, 2>) -> Tensor<B, 2> {
        self.decode(self.encode(images))
    }

    /// Units in the code layer.
    pub fn hidden_size(&self) -> usize {
        self.encoder.weight.dims()[1]
    }

    /// The first parameter holding values that are not finite: its name (as safetensors
    /// files name it), how many, and its size.
    pub(crate) fn non_finite(&self) -> Option<(&'static str, usize, usize)> {
        let params = [
            (
                "encoder.weight",
                self.encoder.weight.val().flatten::<1>(0, 1),
            ),
            ("encoder.bias", bias(&self.encoder)),
            (
                "decoder.weight",
                self.decoder.weight.val().flatten::<1>(0, 1),
            ),
            ("decoder.bias", bias(&self.decoder)),
        ];
        params.into_iter().find_map(|(name, values)| {
            let values = values.into_data().to_vec::<f32>().expect("f32 parameters");
            let bad = values.iter().filter(|v| !v.is_finite()).count();
            (bad > 0).then_some((name, bad, values.len()))
        })
    }

    /// The batch's reconstruction loss: `[1]`, the mean over all pixels of all images.
    pub fn loss(&self, images: Tensor<B, 2>) -> Tensor<B, 1> {
        mse(self.forward(images.clone()), images)
    }

    /// [`Autoencoder::forward`] through Burn's standard ops, without the fused ones: the
    /// reference the fused path is tested against.
    pub(crate) fn forward_composed(&self, images: Tensor<B, 2>) -> Tensor<B, 2> {
        let layer =
            |linear: &Linear<B>, x| composed::linear_sigmoid(x, linear.weight.val(), bias(linear));
        layer(&self.decoder, layer(&self.encoder, images))
    }

    /// [`Autoencoder::loss`] through Burn's standard ops.
    pub fn loss_composed(&self, images: Tensor<B, 2>) -> Tensor<B, 1> {
        composed::mse(self.forward_composed(images.clone()), images)
    }
}

fn bias<B: FusedOps>(linear: &Linear<B>) -> Tensor<B, 1> {
    linear
        .bias
        .as_ref()
        .expect("the autoencoder's layers have biases")
        .val()
}

/// `sigmoid(x · W + b)` of one layer, as one fused operation.
fn linear_sigmoid<B: FusedOps>(linear: &Linear<B>, x: Tensor<B, 2>) -> Tensor<B, 2> {
    float(B::linear_sigmoid(
        x.into_primitive().tensor(),
        linear.weight.val().into_primitive().tensor(),
        bias(linear).into_primitive().tensor(),
    ))
}

/// Mean squared error over every element, `[1]`, as one fused operation.
pub fn mse<B: FusedOps>(output: Tensor<B, 2>, target: Tensor<B, 2>) -> Tensor<B, 1> {
    let (loss, _gradient) = B::mse_with_gradient(
        output.into_primitive().tensor(),
        target.into_primitive().tensor(),
    );
    float(loss)
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

impl<B: FusedAutodiff> TrainStep for Autoencoder<B> {
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

impl<B: FusedOps> InferenceStep for Autoencoder<B> {
    type Input = MnistBatch<B>;
    type Output = ReconstructionOutput<B>;

    fn step(&self, batch: MnistBatch<B>) -> Self::Output {
        ReconstructionOutput {
            loss: mse(self.forward(batch.inputs), batch.images),
        }
    }
}
