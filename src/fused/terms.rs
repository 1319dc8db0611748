//! The values the fused operations take and give: a layer's activation and gradients,
//! RMSProp's rule, settings and state, and tensors from their primitives.

use std::fmt;

use burn::prelude::*;
use burn::tensor::TensorPrimitive;
use burn::tensor::ops::FloatTensor;

/// What a fused linear layer applies to `x · W + b`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// None: `x · W + b` itself (Keras's `linear`).
    Linear,
    /// The logistic sigmoid `1 / (1 + e^-z)`.
    Sigmoid,
    /// `max(z, 0)`.
    Relu,
}

impl fmt::Display for Activation {
    /// The config's spelling: `linear`, `sigmoid`, `relu`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Activation::Linear => "linear",
            Activation::Sigmoid => "sigmoid",
            Activation::Relu => "relu",
        })
    }
}

/// What a fused convolution (stride 1) reads: its input with `padding` zeros on each side, or,
/// when `upsampled`, the input's 2x nearest-neighbour upsampling (`[n, c, 2h, 2w]`, each
/// value repeated over a 2x2 square, Keras's `UpSampling2D`) with them: the upsampling and
/// the convolution after it in one operation, so that the upsampled images are never stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvInput {
    pub padding: usize,
    pub upsampled: bool,
}

impl ConvInput {
    /// The input itself, with `padding` zeros on each side.
    pub fn padded(padding: usize) -> Self {
        Self {
            padding,
            upsampled: false,
        }
    }
}

/// Which RMSProp update [`FusedOps::rmsprop`] applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RmsPropRule {
    /// TensorFlow 1's `ApplyRMSProp`: the mean square starts at one, epsilon inside the root,
    /// the learning rate inside the momentum buffer.
    Tf1,
    /// Burn's `RmsProp`: the mean square starts at zero, epsilon after the root, the learning
    /// rate applied after the momentum buffer.
    Burn,
}

/// The hyper-parameters of one RMSProp update.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RmsPropHyper {
    pub rule: RmsPropRule,
    pub learning_rate: f64,
    /// Decay of the running means (TF1's `decay`, Burn's `alpha`).
    pub alpha: f32,
    /// 0: no momentum buffer.
    pub momentum: f32,
    pub epsilon: f32,
    pub centered: bool,
}

/// A parameter tensor and its RMSProp state. `None` state: not kept yet (the first step) or,
/// for `mean_grad` and `momentum`, not used by these settings.
#[derive(Debug, Clone)]
pub struct RmsPropTensors<B: Backend> {
    pub param: FloatTensor<B>,
    pub square: Option<FloatTensor<B>>,
    pub mean_grad: Option<FloatTensor<B>>,
    pub momentum: Option<FloatTensor<B>>,
}

/// The gradients of [`FusedOps::linear_activation`] or [`FusedOps::conv2d_activation`].
#[derive(Debug, Clone)]
pub struct LinearGrads<B: Backend> {
    /// `dz · Wᵀ`, asked for only when the input is tracked.
    pub input: Option<FloatTensor<B>>,
    pub weight: FloatTensor<B>,
    pub bias: FloatTensor<B>,
}

/// A primitive as a tensor of rank `D`.
pub(crate) fn float<B: Backend, const D: usize>(primitive: FloatTensor<B>) -> Tensor<B, D> {
    Tensor::from_primitive(TensorPrimitive::Float(primitive))
}
