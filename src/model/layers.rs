//! What the kinds of model are built from: a layer as one fused operation or as Burn's
//! standard ops, the activations, and the reconstruction losses.

use std::fmt;

use burn::nn::Linear;
use burn::prelude::*;

use crate::fused::composed::sigmoid;
use crate::fused::{Activation, FusedOps, composed, float};

/// The reconstruction loss (`training.loss`), over every pixel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Loss {
    /// Mean squared error, the tutorial's.
    Mse,
    /// Binary cross-entropy, computed from the last layer's logits, Keras's.
    Bce,
}

impl fmt::Display for Loss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Loss::Mse => "mse",
            Loss::Bce => "bce",
        })
    }
}

fn bias<B: FusedOps>(linear: &Linear<B>) -> Tensor<B, 1> {
    linear
        .bias
        .as_ref()
        .expect("the autoencoder's layers have biases")
        .val()
}

/// `activation(x · W + b)` of one layer, as one fused operation.
pub(super) fn layer<B: FusedOps>(
    linear: &Linear<B>,
    x: Tensor<B, 2>,
    activation: Activation,
) -> Tensor<B, 2> {
    float(B::linear_activation(
        x.into_primitive().tensor(),
        linear.weight.val().into_primitive().tensor(),
        bias(linear).into_primitive().tensor(),
        activation,
    ))
}

/// A stack of fused layers from codes to the image: `hidden` after each layer but the last,
/// `last` after the last (the image's sigmoid, or none for its logits).
pub(super) fn decode_stack<B: FusedOps>(
    decoder: &[Linear<B>],
    codes: Tensor<B, 2>,
    hidden: Activation,
    last: Activation,
) -> Tensor<B, 2> {
    let (output, layers) = decoder.split_last().expect("a decoder layer");
    let x = layers
        .iter()
        .fold(codes, |x, linear| layer(linear, x, hidden));
    layer(output, x, last)
}

/// [`layer`] through Burn's standard ops.
pub(super) fn layer_composed<B: FusedOps>(
    linear: &Linear<B>,
    x: Tensor<B, 2>,
    activation: Activation,
) -> Tensor<B, 2> {
    composed::linear(x, linear.weight.val(), bias(linear), activation)
}

/// `activation(x)` through Burn's standard ops (and the tutorial's [`sigmoid`]).
pub(super) fn activate_composed<B: Backend, const D: usize>(
    activation: Activation,
    x: Tensor<B, D>,
) -> Tensor<B, D> {
    match activation {
        Activation::Linear => x,
        Activation::Sigmoid => sigmoid(x),
        Activation::Relu => burn::tensor::activation::relu(x),
    }
}

/// What the last layer gives for `loss`: the image for the squared error, its logits for the
/// cross-entropy (computed from them, stably).
pub(super) fn output_activation(loss: Loss) -> Activation {
    match loss {
        Loss::Mse => Activation::Sigmoid,
        Loss::Bce => Activation::Linear,
    }
}

/// The loss of `targets` from the last layer's `output` ([`output_activation`]'s), averaged
/// over every pixel, as one fused operation.
pub(super) fn reconstruction_loss<B: FusedOps>(
    loss: Loss,
    output: Tensor<B, 2>,
    targets: Tensor<B, 2>,
) -> Tensor<B, 1> {
    match loss {
        Loss::Mse => mse(output, targets),
        Loss::Bce => bce_with_logits(output, targets),
    }
}

/// Mean squared error over every element, `[1]`, as one fused operation.
pub fn mse<B: FusedOps>(output: Tensor<B, 2>, target: Tensor<B, 2>) -> Tensor<B, 1> {
    let (loss, _gradient) = B::mse_with_gradient(
        output.into_primitive().tensor(),
        target.into_primitive().tensor(),
    );
    float(loss)
}

/// The binary cross-entropy of `sigmoid(logits)` against `target`, averaged over every
/// element, `[1]`, as one fused operation.
pub fn bce_with_logits<B: FusedOps>(logits: Tensor<B, 2>, target: Tensor<B, 2>) -> Tensor<B, 1> {
    let (loss, _gradient) = B::bce_with_logits_with_gradient(
        logits.into_primitive().tensor(),
        target.into_primitive().tensor(),
    );
    float(loss)
}
