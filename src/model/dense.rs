//! The fully-connected autoencoder: the tutorial's 784 -> 256 -> 784, and any stack of layers
//! (Keras's simple, sparse and deep autoencoders), every layer one fused operation.

use burn::nn::Linear;
use burn::prelude::*;

use super::layers::{
    Loss, decode_stack, layer, layer_composed, output_activation, reconstruction_loss,
};
use crate::fused::{Activation, FusedOps, composed};

/// Layers from the image to the code (`encoder`) and back (`decoder`, whose last layer gives
/// the image through a sigmoid); the hidden layers and the code through `activation`.
#[derive(Module, Debug)]
pub struct DenseAutoencoder<B: Backend> {
    pub encoder: Vec<Linear<B>>,
    pub decoder: Vec<Linear<B>>,
    pub activation: Activation,
    pub loss: Loss,
    /// The L1 penalty on the code, per image (a sparse autoencoder's); 0 for none.
    pub code_l1: f64,
}

impl<B: FusedOps> DenseAutoencoder<B> {
    /// images: `[batch, 784]` -> codes: `[batch, code]`
    pub fn encode(&self, images: Tensor<B, 2>) -> Tensor<B, 2> {
        self.encoder
            .iter()
            .fold(images, |x, linear| layer(linear, x, self.activation))
    }

    /// The last layer's output: the image itself (`Sigmoid`), or its logits (`Linear`).
    fn decode_as(&self, codes: Tensor<B, 2>, last: Activation) -> Tensor<B, 2> {
        decode_stack(&self.decoder, codes, self.activation, last)
    }

    /// codes: `[batch, code]` -> images: `[batch, 784]` in (0, 1)
    pub fn decode(&self, codes: Tensor<B, 2>) -> Tensor<B, 2> {
        self.decode_as(codes, Activation::Sigmoid)
    }

    pub fn code_size(&self) -> usize {
        self.encoder.last().expect("an encoder layer").weight.dims()[1]
    }

    /// The training objective: the reconstruction loss of `targets` from `inputs`, plus the
    /// code's L1 penalty (summed over the code, averaged over the batch, as Keras's
    /// `activity_regularizer` counts it).
    pub fn objective(&self, inputs: Tensor<B, 2>, targets: Tensor<B, 2>) -> Tensor<B, 1> {
        let code = self.encode(inputs);
        let penalty = (self.code_l1 > 0.0).then(|| l1_penalty(code.clone(), self.code_l1));
        let output = self.decode_as(code, output_activation(self.loss));
        let loss = reconstruction_loss(self.loss, output, targets);
        match penalty {
            Some(penalty) => loss + penalty,
            None => loss,
        }
    }

    /// [`DenseAutoencoder::objective`] on clean images through Burn's standard ops, without
    /// the fused ones: the reference the fused path is tested against.
    pub fn objective_composed(&self, images: Tensor<B, 2>) -> Tensor<B, 1> {
        let code = self.encoder.iter().fold(images.clone(), |x, linear| {
            layer_composed(linear, x, self.activation)
        });
        let penalty = (self.code_l1 > 0.0).then(|| l1_penalty(code.clone(), self.code_l1));
        let (output, hidden) = self.decoder.split_last().expect("a decoder layer");
        let x = hidden
            .iter()
            .fold(code, |x, linear| layer_composed(linear, x, self.activation));
        let z = layer_composed(output, x, Activation::Linear);
        let loss = match self.loss {
            Loss::Mse => composed::mse(composed::sigmoid(z), images),
            Loss::Bce => composed::bce_with_logits(z, images),
        };
        match penalty {
            Some(penalty) => loss + penalty,
            None => loss,
        }
    }
}

/// `weight` times the sum of `|code|`, divided by the batch size.
pub(super) fn l1_penalty<B: Backend>(code: Tensor<B, 2>, weight: f64) -> Tensor<B, 1> {
    let batch = code.dims()[0].max(1) as f64;
    code.abs().sum().mul_scalar(weight / batch)
}
