//! The variational autoencoder of Keras's tutorial: the encoder gives the mean and the log
//! variance of a Gaussian code, training decodes a sample of it, and the loss adds the KL
//! divergence of that Gaussian from N(0, I) to the reconstruction's.

use burn::nn::Linear;
use burn::prelude::*;

use super::layers::{
    Loss, decode_stack, layer, layer_composed, output_activation, reconstruction_loss,
};
use crate::data::IMAGE_PIXELS;
use crate::fused::{Activation, FusedOps, composed};

#[derive(Module, Debug)]
pub struct Vae<B: Backend> {
    /// From the image to the last hidden layer (empty: the image itself).
    pub encoder: Vec<Linear<B>>,
    /// The code's mean.
    pub mean: Linear<B>,
    /// The log of the code's variance.
    pub log_variance: Linear<B>,
    /// From the code to the image, whose last layer gives it through a sigmoid.
    pub decoder: Vec<Linear<B>>,
    pub activation: Activation,
    pub loss: Loss,
}

impl<B: FusedOps> Vae<B> {
    fn hidden(&self, images: Tensor<B, 2>) -> Tensor<B, 2> {
        self.encoder
            .iter()
            .fold(images, |x, linear| layer(linear, x, self.activation))
    }

    /// images: `[batch, 784]` -> the means of their codes, `[batch, latent]`.
    pub fn encode(&self, images: Tensor<B, 2>) -> Tensor<B, 2> {
        layer(&self.mean, self.hidden(images), Activation::Linear)
    }

    fn decode_as(&self, codes: Tensor<B, 2>, last: Activation) -> Tensor<B, 2> {
        decode_stack(&self.decoder, codes, self.activation, last)
    }

    /// codes: `[batch, latent]` -> images: `[batch, 784]` in (0, 1)
    pub fn decode(&self, codes: Tensor<B, 2>) -> Tensor<B, 2> {
        self.decode_as(codes, Activation::Sigmoid)
    }

    pub fn code_size(&self) -> usize {
        self.mean.weight.dims()[1]
    }

    /// The loss per image, as Keras's tutorial counts it: the reconstruction loss summed over
    /// the pixels plus the KL divergence, both averaged over the batch. The code decoded is
    /// `mean + e^(log_variance / 2) · noise`, `noise` `[batch, latent]` drawn from N(0, 1)
    /// (none: the mean itself, as evaluation decodes).
    pub fn objective(
        &self,
        inputs: Tensor<B, 2>,
        targets: Tensor<B, 2>,
        noise: Option<Tensor<B, 2>>,
    ) -> Tensor<B, 1> {
        let hidden = self.hidden(inputs);
        let mean = layer(&self.mean, hidden.clone(), Activation::Linear);
        let log_variance = layer(&self.log_variance, hidden, Activation::Linear);
        let code = sample(mean.clone(), log_variance.clone(), noise);
        let output = self.decode_as(code, output_activation(self.loss));
        let reconstruction = reconstruction_loss(self.loss, output, targets);
        reconstruction.mul_scalar(IMAGE_PIXELS as f64) + kl_divergence(mean, log_variance)
    }

    /// [`Vae::objective`] on clean images, decoding the mean, through Burn's standard ops.
    pub fn objective_composed(&self, images: Tensor<B, 2>) -> Tensor<B, 1> {
        let hidden = self.encoder.iter().fold(images.clone(), |x, linear| {
            layer_composed(linear, x, self.activation)
        });
        let mean = layer_composed(&self.mean, hidden.clone(), Activation::Linear);
        let log_variance = layer_composed(&self.log_variance, hidden, Activation::Linear);
        let (output, layers) = self.decoder.split_last().expect("a decoder layer");
        let x = layers.iter().fold(mean.clone(), |x, linear| {
            layer_composed(linear, x, self.activation)
        });
        let z = layer_composed(output, x, Activation::Linear);
        let reconstruction = match self.loss {
            Loss::Mse => composed::mse(composed::sigmoid(z), images),
            Loss::Bce => composed::bce_with_logits(z, images),
        };
        reconstruction.mul_scalar(IMAGE_PIXELS as f64) + kl_divergence(mean, log_variance)
    }
}

/// `mean + e^(log_variance / 2) · noise`: the reparameterised sample, differentiable in the
/// mean and the variance; the mean itself without noise.
fn sample<B: Backend>(
    mean: Tensor<B, 2>,
    log_variance: Tensor<B, 2>,
    noise: Option<Tensor<B, 2>>,
) -> Tensor<B, 2> {
    match noise {
        Some(noise) => mean + log_variance.mul_scalar(0.5).exp() * noise,
        None => mean,
    }
}

/// `-1/2 Σ (1 + log σ² - μ² - σ²)` over the code, averaged over the batch: the KL divergence
/// of N(μ, σ²) from N(0, I).
fn kl_divergence<B: Backend>(mean: Tensor<B, 2>, log_variance: Tensor<B, 2>) -> Tensor<B, 1> {
    let batch = mean.dims()[0].max(1) as f64;
    let terms = log_variance.clone().add_scalar(1.0) - mean.square() - log_variance.exp();
    terms.sum().mul_scalar(-0.5 / batch)
}
