//! The convolutional autoencoder of Keras's tutorial: 3x3 convolutions, each followed by a 2x2
//! max pooling down to the code and by a nearest-neighbour upsampling back up, from Burn's
//! `Conv2d` and its pooling op.

use burn::nn::conv::Conv2d;
use burn::prelude::*;
use burn::tensor::module::max_pool2d;

use super::layers::{Loss, activate_composed, output_activation, reconstruction_loss};
use crate::data::{IMAGE_PIXELS, IMAGE_SIDE};
use crate::fused::{Activation, FusedOps, composed};

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
        let batch = images.dims()[0];
        let x = images.reshape([batch, 1, IMAGE_SIDE, IMAGE_SIDE]);
        let x = self.encoder.iter().fold(x, |x, conv| {
            let y = activate_composed(self.activation, conv.forward(x));
            max_pool2d(y, [2, 2], [2, 2], [0, 0], [1, 1], true)
        });
        x.reshape([batch, self.code_size()])
    }

    fn decode_as(&self, codes: Tensor<B, 2>, last: Activation) -> Tensor<B, 2> {
        let batch = codes.dims()[0];
        let side = self.code_side;
        let x = codes.reshape([batch, self.channels(), side, side]);
        let x = self.decoder.iter().fold(x, |x, conv| {
            upsample(activate_composed(self.activation, conv.forward(x)))
        });
        let z = self.output.forward(x).reshape([batch, IMAGE_PIXELS]);
        activate_composed(last, z)
    }

    /// codes: `[batch, channels · side²]` -> images: `[batch, 784]` in (0, 1)
    pub fn decode(&self, codes: Tensor<B, 2>) -> Tensor<B, 2> {
        self.decode_as(codes, Activation::Sigmoid)
    }

    pub fn code_size(&self) -> usize {
        self.channels() * self.code_side * self.code_side
    }

    /// The reconstruction loss of `targets` from `inputs`.
    pub fn objective(&self, inputs: Tensor<B, 2>, targets: Tensor<B, 2>) -> Tensor<B, 1> {
        let output = self.decode_as(self.encode(inputs), output_activation(self.loss));
        reconstruction_loss(self.loss, output, targets)
    }

    /// [`ConvAutoencoder::objective`] on clean images, the loss too through Burn's ops.
    pub fn objective_composed(&self, images: Tensor<B, 2>) -> Tensor<B, 1> {
        let z = self.decode_as(self.encode(images.clone()), Activation::Linear);
        match self.loss {
            Loss::Mse => composed::mse(composed::sigmoid(z), images),
            Loss::Bce => composed::bce_with_logits(z, images),
        }
    }
}

/// `[n, c, h, w]` -> `[n, c, 2h, 2w]`, each value repeated over a 2x2 square (Keras's
/// `UpSampling2D`).
fn upsample<B: Backend>(x: Tensor<B, 4>) -> Tensor<B, 4> {
    let [n, c, h, w] = x.dims();
    x.reshape([n, c, h, 1, w, 1])
        .expand([n, c, h, 2, w, 2])
        .reshape([n, c, 2 * h, 2 * w])
}
