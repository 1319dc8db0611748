//! TensorFlow 1's `tf.train.RMSPropOptimizer`, exactly, as a Burn optimiser.
//!
//! TF1's update (its `ApplyRMSProp` / `ApplyCenteredRMSProp` kernels), per parameter:
//!
//! ```text
//! ms  <- decay * ms + (1 - decay) * g^2           ms starts at ONES
//! mg  <- decay * mg + (1 - decay) * g             centered only, starts at zeros
//! mom <- momentum * mom + lr * g / sqrt(ms - mg^2 + epsilon)
//! w   <- w - mom
//! ```
//!
//! Burn's `RmsProp` differs in three ways: its mean square starts at zero, its epsilon is added
//! outside the square root, and its momentum buffer accumulates `g / (sqrt(ms) + eps)` with the
//! learning rate applied afterwards. The first makes its early steps about three times larger.

use std::fmt;

use burn::module::AutodiffModule;
use burn::optim::adaptor::OptimizerAdaptor;
use burn::optim::{RmsPropConfig, SimpleOptimizer};
use burn::prelude::*;
use burn::record::Record;
use burn::tensor::backend::AutodiffBackend;
use serde::{Deserialize, Serialize};

/// Which RMSProp update `training.rmsprop` configures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OptimizerKind {
    /// TensorFlow 1's `RMSPropOptimizer`, exactly (the tutorial's).
    Tf1Rmsprop,
    /// Burn's `RmsProp`.
    BurnRmsprop,
}

impl fmt::Display for OptimizerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OptimizerKind::Tf1Rmsprop => "TF1 RMSProp",
            OptimizerKind::BurnRmsprop => "Burn RMSProp",
        })
    }
}

/// `training.rmsprop`: the settings both RMSProp updates take.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RmsPropSettings {
    pub alpha: f32,
    pub momentum: f32,
    pub epsilon: f32,
    pub centered: bool,
}

impl RmsPropSettings {
    /// TF1's update with these settings.
    pub fn tf1(&self) -> Tf1RmsPropConfig {
        Tf1RmsPropConfig::new()
            .with_decay(self.alpha)
            .with_momentum(self.momentum)
            .with_epsilon(self.epsilon)
            .with_centered(self.centered)
    }

    /// Burn's update with these settings.
    pub fn burn(&self) -> RmsPropConfig {
        RmsPropConfig::new()
            .with_alpha(self.alpha)
            .with_momentum(self.momentum)
            .with_epsilon(self.epsilon)
            .with_centered(self.centered)
    }
}

/// TF1's RMSProp hyper-parameters; its defaults are TF1's.
#[derive(Config, Debug)]
pub struct Tf1RmsPropConfig {
    /// Discount of the running mean square (TF1's `decay`).
    #[config(default = 0.9)]
    pub decay: f32,
    /// Momentum; 0 keeps no momentum buffer.
    #[config(default = 0.0)]
    pub momentum: f32,
    /// Added inside the square root.
    #[config(default = 1e-10)]
    pub epsilon: f32,
    /// Divide by an estimate of the gradient's variance instead of its raw second moment.
    #[config(default = false)]
    pub centered: bool,
}

impl Tf1RmsPropConfig {
    /// The per-tensor update rule.
    pub fn build(&self) -> Tf1RmsProp {
        Tf1RmsProp {
            decay: self.decay,
            momentum: self.momentum,
            epsilon: self.epsilon,
            centered: self.centered,
        }
    }

    /// The optimiser for a module, as the Learner takes it.
    pub fn init<B: AutodiffBackend, M: AutodiffModule<B>>(
        &self,
    ) -> OptimizerAdaptor<Tf1RmsProp, M, B> {
        OptimizerAdaptor::from(self.build())
    }
}

#[derive(Clone, Debug)]
pub struct Tf1RmsProp {
    decay: f32,
    momentum: f32,
    epsilon: f32,
    centered: bool,
}

/// Per-parameter state: TF1's `rms`, `mg` and `momentum` slots.
#[derive(Record, Clone)]
pub struct Tf1RmsPropState<B: Backend, const D: usize> {
    pub mean_square: Tensor<B, D>,
    pub mean_grad: Option<Tensor<B, D>>,
    pub momentum: Option<Tensor<B, D>>,
}

impl<B: Backend> SimpleOptimizer<B> for Tf1RmsProp {
    type State<const D: usize> = Tf1RmsPropState<B, D>;

    fn step<const D: usize>(
        &self,
        lr: f64,
        tensor: Tensor<B, D>,
        grad: Tensor<B, D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<B, D>, Option<Self::State<D>>) {
        let (mean_square, mean_grad, momentum) = match state {
            Some(s) => (s.mean_square, s.mean_grad, s.momentum),
            None => (grad.ones_like(), None, None),
        };
        let keep = 1.0 - self.decay;
        let mean_square =
            mean_square.mul_scalar(self.decay) + grad.clone().square().mul_scalar(keep);
        let (denominator, mean_grad) = if self.centered {
            let mean_grad = mean_grad
                .unwrap_or_else(|| grad.zeros_like())
                .mul_scalar(self.decay)
                + grad.clone().mul_scalar(keep);
            (
                mean_square.clone() - mean_grad.clone().square(),
                Some(mean_grad),
            )
        } else {
            (mean_square.clone(), None)
        };
        let step = grad.mul_scalar(lr) / denominator.add_scalar(self.epsilon).sqrt();
        let (step, momentum) = if self.momentum > 0.0 {
            let buffer = match momentum {
                Some(buffer) => buffer.mul_scalar(self.momentum) + step,
                None => step,
            };
            (buffer.clone(), Some(buffer))
        } else {
            (step, None)
        };
        let state = Tf1RmsPropState {
            mean_square,
            mean_grad,
            momentum,
        };
        (tensor - step, Some(state))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &B::Device) -> Self::State<D> {
        Tf1RmsPropState {
            mean_square: state.mean_square.to_device(device),
            mean_grad: state.mean_grad.map(|t| t.to_device(device)),
            momentum: state.momentum.map(|t| t.to_device(device)),
        }
    }
}
