//! The training step's work as a few fused operations: a Burn backend extension.
//!
//! Composed from Burn's standard ops, one step of the tutorial's model is dozens of separate
//! operations, each with its own pass over memory, allocation and autodiff node. [`FusedOps`]
//! extends a Burn `Backend` with the step's three pieces:
//!
//! - [`FusedOps::linear_sigmoid`]: `sigmoid(x · W + b)`, one matrix product with the bias and
//!   the sigmoid applied in the pass that finishes its output; its backward
//!   ([`FusedOps::linear_sigmoid_backward`]) forms `dz = dy · y (1 - y)` and the bias gradient in
//!   one pass, then `dW = xᵀ dz`, and `dx = dz Wᵀ` only when the input is tracked;
//! - [`FusedOps::mse_with_gradient`]: the mean squared error and its gradient in one pass;
//! - [`FusedOps::rmsprop`]: TF1's or Burn's RMSProp update of one parameter tensor in one pass.
//!
//! Every method has a default body made of the Burn ops the model used before
//! ([`composed`]): a backend gets the extension by `impl FusedOps for MyBackend {}`, as wgpu
//! does, and stays correct. `ndarray` overrides them with kernels on the tensors' own memory
//! ([`cpu`]); `Autodiff<B>` records each forward operation as one node whose backward calls the
//! backend's fused backward (`autodiff`).

mod autodiff;
pub mod composed;
#[cfg(feature = "ndarray")]
pub mod cpu;
pub mod plan;
mod terms;

pub(crate) use terms::float;
pub use terms::{LinearSigmoidGrads, RmsPropHyper, RmsPropRule, RmsPropTensors};

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

    /// `sigmoid(x · weight + bias)`: x `[n, in]`, weight `[in, out]`, bias `[out]` ->
    /// `[n, out]`.
    fn linear_sigmoid(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        composed::linear_sigmoid(float::<Self, 2>(x), float(weight), float::<Self, 1>(bias))
            .into_primitive()
            .tensor()
    }

    /// The gradients of `y = linear_sigmoid(x, weight, bias)` given `dy`, the gradient of `y`;
    /// the input's only when `input_grad`.
    fn linear_sigmoid_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        y: FloatTensor<Self>,
        dy: FloatTensor<Self>,
        input_grad: bool,
    ) -> LinearSigmoidGrads<Self> {
        let grads = composed::linear_sigmoid_backward::<Self>(
            float(x),
            float(weight),
            float(y),
            float(dy),
            input_grad,
        );
        LinearSigmoidGrads {
            input: grads.0.map(|t| t.into_primitive().tensor()),
            weight: grads.1.into_primitive().tensor(),
            bias: grads.2.into_primitive().tensor(),
        }
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
