//! The training step's work as a few fused operations: a Burn backend extension.
//!
//! Composed from Burn's standard ops, one step of the tutorial's model is dozens of separate
//! operations, each with its own pass over memory, allocation and autodiff node. [`FusedOps`]
//! extends a Burn `Backend` with the step's pieces:
//!
//! - [`FusedOps::linear_activation`]: `act(x · W + b)` for an [`Activation`] (sigmoid, ReLU or none), one
//!   matrix product with the bias and the activation applied in the pass that finishes its
//!   output; its backward ([`FusedOps::linear_activation_backward`]) forms `dz = dy · act'(z)` (from the
//!   output `y`) and the bias gradient in one pass, then `dW = xᵀ dz`, and `dx = dz Wᵀ` only
//!   when the input is tracked;
//! - [`FusedOps::conv2d_activation`]: the same for a convolution of stride 1, each image's
//!   patches laid out as the columns of a matrix (im2col) and multiplied by the weights in the
//!   same matrix-product kernels, with its backward ([`FusedOps::conv2d_activation_backward`]);
//!   It reads its input's 2x nearest-neighbour upsampling where asked ([`ConvInput`]), and
//!   [`FusedOps::conv2d_activation_pooled`] pools its output (2x2 max pooling) image by image:
//!   the upsampled and the unpooled batches are never stored;
//! - [`FusedOps::mse_with_gradient`]: the mean squared error and its gradient in one pass;
//! - [`FusedOps::bce_with_logits_with_gradient`]: the binary cross-entropy of `sigmoid(z)`,
//!   computed stably from the logits `z`, and its gradient `(sigmoid(z) - t) / len`, in one pass;
//! - [`FusedOps::rmsprop`]: TF1's or Burn's RMSProp update of one parameter tensor in one pass.
//!
//! Every method has a default body made of Burn's ops ([`composed`]): a backend gets the
//! extension by `impl FusedOps for MyBackend {}`, as wgpu does, and stays correct. `ndarray`
//! overrides them with kernels on the tensors' own memory ([`cpu`]); `Autodiff<B>` records each
//! forward operation as one node whose backward calls the backend's fused backward
//! (`autodiff`).

mod autodiff;
pub mod composed;
#[cfg(feature = "ndarray")]
pub mod cpu;
pub mod plan;
mod terms;

pub(crate) use terms::float;
pub use terms::{Activation, ConvInput, LinearGrads, RmsPropHyper, RmsPropRule, RmsPropTensors};

use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::ops::FloatTensor;

/// A Burn backend with the training step's fused operations (see the module's documentation).
pub trait FusedOps: Backend {
    /// Computes the matrix products as `plan` says from now on, in every thread. Backends
    /// without kernels of their own to choose from ignore it.
    fn use_plan(plan: plan::Plan) {
        let _ = plan;
    }

    /// `activation(x · weight + bias)`: x `[n, in]`, weight `[in, out]`, bias `[out]` ->
    /// `[n, out]`.
    fn linear_activation(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        activation: Activation,
    ) -> FloatTensor<Self> {
        composed::linear(
            float::<Self, 2>(x),
            float(weight),
            float::<Self, 1>(bias),
            activation,
        )
        .into_primitive()
        .tensor()
    }

    /// The gradients of `y = linear(x, weight, bias, activation)` given `dy`, the gradient of
    /// `y`; the input's only when `input_grad`.
    fn linear_activation_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        y: FloatTensor<Self>,
        dy: FloatTensor<Self>,
        activation: Activation,
        input_grad: bool,
    ) -> LinearGrads<Self> {
        let grads = composed::linear_backward::<Self>(
            float(x),
            float(weight),
            float(y),
            float(dy),
            activation,
            input_grad,
        );
        LinearGrads {
            input: grads.0.map(|t| t.into_primitive().tensor()),
            weight: grads.1.into_primitive().tensor(),
            bias: grads.2.into_primitive().tensor(),
        }
    }

    /// `activation(conv(x, weight) + bias)`: x `[n, c, h, w]`, weight `[o, c, kh, kw]`, bias
    /// `[o]` -> `[n, o, h + 2 padding - kh + 1, w + 2 padding - kw + 1]`, a convolution of
    /// stride 1 with `padding` zeros on each side of the image; with `input.upsampled`, of
    /// x's 2x upsampling (`h` and `w` there are twice x's).
    fn conv2d_activation(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        input: ConvInput,
        activation: Activation,
    ) -> FloatTensor<Self> {
        composed::conv2d(
            float::<Self, 4>(x),
            float(weight),
            float::<Self, 1>(bias),
            input,
            activation,
        )
        .into_primitive()
        .tensor()
    }

    /// The gradients of `y = conv2d_activation(x, weight, bias, input, activation)` given
    /// `dy`, the gradient of `y`; the input's (x's, whether or not upsampled) only when
    /// `input_grad`.
    fn conv2d_activation_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        y: FloatTensor<Self>,
        dy: FloatTensor<Self>,
        (input, activation): (ConvInput, Activation),
        input_grad: bool,
    ) -> LinearGrads<Self> {
        let grads = composed::conv2d_backward::<Self>(
            float(x),
            float(weight),
            float(y),
            float(dy),
            (input, activation),
            input_grad,
        );
        LinearGrads {
            input: grads.0.map(|t| t.into_primitive().tensor()),
            weight: grads.1.into_primitive().tensor(),
            bias: grads.2.into_primitive().tensor(),
        }
    }

    /// [`FusedOps::conv2d_activation`] then a 2x2 max pooling ([`composed::max_pool`], Keras's
    /// `MaxPooling2D` with `padding="same"`): the pooled output, and
    /// what the backward needs besides it, which is the backend's own: by default the
    /// convolution's output; ndarray's keeps where each square's largest value was instead,
    /// so that the convolution's output is never stored.
    fn conv2d_activation_pooled(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        input: ConvInput,
        activation: Activation,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let y = Self::conv2d_activation(x, weight, bias, input, activation);
        let pooled = composed::max_pool(float::<Self, 4>(y.clone()));
        (pooled.into_primitive().tensor(), y)
    }

    /// The gradients of [`FusedOps::conv2d_activation_pooled`] (as
    /// [`FusedOps::conv2d_activation_backward`]'s), from its two outputs, `pooled` and `kept`,
    /// and `dy`, the pooled output's gradient.
    fn conv2d_activation_pooled_backward(
        (x, weight): (FloatTensor<Self>, FloatTensor<Self>),
        (pooled, kept): (FloatTensor<Self>, FloatTensor<Self>),
        dy: FloatTensor<Self>,
        (input, activation): (ConvInput, Activation),
        input_grad: bool,
    ) -> LinearGrads<Self> {
        drop(pooled);
        let dy = composed::max_pool_backward::<Self>(float(kept.clone()), float(dy));
        let dy = dy.into_primitive().tensor();
        Self::conv2d_activation_backward(x, weight, kept, dy, (input, activation), input_grad)
    }

    /// The mean of `(output - target)²` over every element, `[1]`, and its gradient with
    /// respect to `output`, `2 (output - target) / len`.
    fn mse_with_gradient(
        output: FloatTensor<Self>,
        target: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let (loss, grad) = composed::mse_with_gradient::<Self, 2>(float(output), float(target));
        (
            loss.into_primitive().tensor(),
            grad.into_primitive().tensor(),
        )
    }

    /// The mean over every element of the binary cross-entropy of `sigmoid(logits)` against
    /// `target` (in [0, 1]), `[1]`, computed stably from the logits as
    /// `max(z, 0) - z t + ln(1 + e^-|z|)`, and its gradient with respect to `logits`,
    /// `(sigmoid(z) - t) / len`.
    fn bce_with_logits_with_gradient(
        logits: FloatTensor<Self>,
        target: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let (loss, grad) =
            composed::bce_with_logits_with_gradient::<Self, 2>(float(logits), float(target));
        (
            loss.into_primitive().tensor(),
            grad.into_primitive().tensor(),
        )
    }

    /// `grad` times the single value of `upstream` (`[1]`), the gradient a loss receives.
    fn scale_by_scalar(grad: FloatTensor<Self>, upstream: FloatTensor<Self>) -> FloatTensor<Self> {
        let grad: Tensor<Self, 2> = float(grad);
        let upstream: Tensor<Self, 1> = float(upstream);
        (grad * upstream.reshape([1, 1])).into_primitive().tensor()
    }

    /// One RMSProp update of `state.param` with `grad` (same shape, any rank).
    fn rmsprop(
        hyper: RmsPropHyper,
        state: RmsPropTensors<Self>,
        grad: FloatTensor<Self>,
    ) -> RmsPropTensors<Self> {
        composed::rmsprop::<Self>(hyper, state, grad)
    }
}

/// An autodiff backend whose inner backend has the fused operations too: what training needs.
pub trait FusedAutodiff: AutodiffBackend<InnerBackend: FusedOps> + FusedOps {}

impl<B> FusedAutodiff for B
where
    B: AutodiffBackend + FusedOps,
    B::InnerBackend: FusedOps,
{
}

#[cfg(feature = "wgpu")]
impl FusedOps for burn::backend::Wgpu {}
