//! The convolutional autoencoder of Keras's tutorial: 3x3 convolutions, each followed by a 2x2
//! max pooling down to the code and by a nearest-neighbour upsampling back up. The layers are
//! Burn's `Conv2d` modules; training runs them and the pooling as fused operations
//! ([`FusedOps::conv2d_activation`], each upsampling inside the convolution after it), tested
//! against Burn's own (`Path::Composed`).

use burn::nn::PaddingConfig2d;
use burn::nn::conv::Conv2d;
use burn::prelude::*;
use burn::tensor::ops::FloatTensor;

use super::layers::{Loss, activate_composed, output_activation, reconstruction_loss};
use crate::data::{IMAGE_PIXELS, IMAGE_SIDE};
use crate::fused::{Activation, ConvInput, FusedOps, composed, float};

#[derive(Module, Debug)]
pub struct ConvAutoencoder<B: Backend> {
    /// Each followed by the activation and a max pooling that halves the image (rounding up).
    pub encoder: Vec<Conv2d<B>>,
    /// Each followed by the activation and an upsampling that doubles it.
    pub decoder: Vec<Conv2d<B>>,
    /// To one channel: the image, through a sigmoid.
    pub output: Conv2d<B>,
    pub activation: Activation,
    pub loss: Loss,
    /// The code's side: the image's after each pooling.
    pub code_side: usize,
}

/// The sides of the image after each of `pools` max poolings that halve it, rounding up
/// (Keras's `padding="same"`): 28, 14, 7, 4, ...
pub(crate) fn pooled_sides(pools: usize) -> Vec<usize> {
    std::iter::successors(Some(IMAGE_SIDE), |side| Some(side.div_ceil(2)))
        .take(pools + 1)
        .collect()
}

/// Whether the decoder's last convolution must drop the border (Keras's `padding="valid"`) for
/// the upsamplings to come back to 28 from a code of side `code_side` after `pools` poolings:
/// `Some(false)` when they do anyway, `None` when neither does.
pub(crate) fn last_conv_trims(code_side: usize, pools: usize) -> Option<bool> {
    let same = code_side << pools;
    if same == IMAGE_SIDE {
        Some(false)
    } else if pools > 0 && ((code_side << (pools - 1)) - 2) * 2 == IMAGE_SIDE {
        Some(true)
    } else {
        None
    }
}

impl<B: FusedOps> ConvAutoencoder<B> {
    fn channels(&self) -> usize {
        self.encoder.last().map_or(1, |conv| conv.weight.dims()[0])
    }

    /// images: `[batch, 784]` -> codes: `[batch, channels · side²]`
    pub fn encode(&self, images: Tensor<B, 2>) -> Tensor<B, 2> {
        self.encode_by(images, Path::Fused)
    }

    fn encode_by(&self, images: Tensor<B, 2>, path: Path) -> Tensor<B, 2> {
        let batch = images.dims()[0];
        let x = images.reshape([batch, 1, IMAGE_SIDE, IMAGE_SIDE]);
        let x = self
            .encoder
            .iter()
            .fold(x, |x, conv| path.pooled_layer(conv, x, self.activation));
        x.reshape([batch, self.code_size()])
    }

    fn decode_by(&self, codes: Tensor<B, 2>, last: Activation, path: Path) -> Tensor<B, 2> {
        let batch = codes.dims()[0];
        let side = self.code_side;
        let x = codes.reshape([batch, self.channels(), side, side]);
        // Each decoder convolution is followed by an upsampling, which the next convolution
        // reads its input through.
        let (x, upsampled) = self
            .decoder
            .iter()
            .fold((x, false), |(x, upsampled), conv| {
                (path.layer(conv, x, self.activation, upsampled), true)
            });
        path.layer(&self.output, x, last, upsampled)
            .reshape([batch, IMAGE_PIXELS])
    }

    /// codes: `[batch, channels · side²]` -> images: `[batch, 784]` in (0, 1)
    pub fn decode(&self, codes: Tensor<B, 2>) -> Tensor<B, 2> {
        self.decode_by(codes, Activation::Sigmoid, Path::Fused)
    }

    pub fn code_size(&self) -> usize {
        self.channels() * self.code_side * self.code_side
    }

    /// The reconstruction loss of `targets` from `inputs`.
    pub fn objective(&self, inputs: Tensor<B, 2>, targets: Tensor<B, 2>) -> Tensor<B, 1> {
        let output = self.decode_by(
            self.encode(inputs),
            output_activation(self.loss),
            Path::Fused,
        );
        reconstruction_loss(self.loss, output, targets)
    }

    /// [`ConvAutoencoder::objective`] on clean images through Burn's standard ops (its
    /// `Conv2d`), without the fused ones: the reference the fused path is tested against.
    pub fn objective_composed(&self, images: Tensor<B, 2>) -> Tensor<B, 1> {
        let code = self.encode_by(images.clone(), Path::Composed);
        let z = self.decode_by(code, Activation::Linear, Path::Composed);
        match self.loss {
            Loss::Mse => composed::mse(composed::sigmoid(z), images),
            Loss::Bce => composed::bce_with_logits(z, images),
        }
    }
}

/// How a convolution runs: as one fused operation, or as Burn's `Conv2d` and activation.
#[derive(Debug, Clone, Copy)]
enum Path {
    Fused,
    Composed,
}

impl Path {
    /// `activation(conv(x))`, or, when `upsampled`, `activation(conv(upsample(x)))`.
    fn layer<B: FusedOps>(
        self,
        conv: &Conv2d<B>,
        x: Tensor<B, 4>,
        activation: Activation,
        upsampled: bool,
    ) -> Tensor<B, 4> {
        match self {
            Path::Fused => conv_layer(conv, x, activation, upsampled),
            Path::Composed => {
                let x = if upsampled { composed::upsample(x) } else { x };
                activate_composed(activation, conv.forward(x))
            }
        }
    }

    /// `activation(conv(x))` then a 2x2 max pooling, `[n, c, h, w]` -> `[n, c, ⌈h/2⌉,
    /// ⌈w/2⌉]` (Keras's `MaxPooling2D`, `padding="same"`).
    fn pooled_layer<B: FusedOps>(
        self,
        conv: &Conv2d<B>,
        x: Tensor<B, 4>,
        activation: Activation,
    ) -> Tensor<B, 4> {
        match self {
            Path::Fused => {
                let (weight, bias, padding) = conv_parts(conv);
                let x = x.into_primitive().tensor();
                let input = ConvInput::padded(padding);
                float(B::conv2d_activation_pooled(x, weight, bias, input, activation).0)
            }
            Path::Composed => composed::max_pool(self.layer(conv, x, activation, false)),
        }
    }
}

/// `activation(conv(x))` (of x's upsampling when `upsampled`) as one fused operation, from the
/// `Conv2d`'s weight, bias and padding.
fn conv_layer<B: FusedOps>(
    conv: &Conv2d<B>,
    x: Tensor<B, 4>,
    activation: Activation,
    upsampled: bool,
) -> Tensor<B, 4> {
    let (weight, bias, padding) = conv_parts(conv);
    let input = ConvInput { padding, upsampled };
    let x = x.into_primitive().tensor();
    float(B::conv2d_activation(x, weight, bias, input, activation))
}

/// A `Conv2d`'s weight and bias, as the fused operations take them, and its padding.
fn conv_parts<B: FusedOps>(conv: &Conv2d<B>) -> (FloatTensor<B>, FloatTensor<B>, usize) {
    let padding = match conv.padding {
        PaddingConfig2d::Valid => 0,
        // A square kernel of odd size, stride 1: the output keeps the input's size.
        PaddingConfig2d::Same => conv.kernel_size[0] / 2,
        PaddingConfig2d::Explicit(top, ..) => top,
    };
    let bias = conv
        .bias
        .as_ref()
        .expect("the autoencoder's convolutions have biases")
        .val();
    let weight = conv.weight.val().into_primitive().tensor();
    (weight, bias.into_primitive().tensor(), padding)
}
