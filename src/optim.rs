//! The optimisers: TensorFlow 1's `tf.train.RMSPropOptimizer`, exactly, and Burn's RMSProp,
//! both on the fused update; and Burn's Adam, with Keras's settings by default.
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
use burn::optim::SimpleOptimizer;
use burn::optim::adaptor::OptimizerAdaptor;
use burn::prelude::*;
use burn::record::Record;
use burn::tensor::TensorPrimitive;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::ops::FloatTensor;
use serde::{Deserialize, Serialize};

use crate::fused::{FusedOps, RmsPropHyper, RmsPropRule, RmsPropTensors};

/// Which optimiser trains (`training.optimizer`): an RMSProp update, which
/// `training.rmsprop` configures, or Adam, which `training.adam` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OptimizerKind {
    /// TensorFlow 1's `RMSPropOptimizer`, exactly (the tutorial's).
    Tf1Rmsprop,
    /// Burn's `RmsProp`.
    BurnRmsprop,
    /// Burn's `Adam` (Keras's tutorial's optimiser).
    Adam,
}

impl fmt::Display for OptimizerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OptimizerKind::Tf1Rmsprop => "TF1 RMSProp",
            OptimizerKind::BurnRmsprop => "Burn RMSProp",
            OptimizerKind::Adam => "Adam",
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
    pub fn burn(&self) -> BurnRmsPropConfig {
        BurnRmsPropConfig::new()
            .with_alpha(self.alpha)
            .with_momentum(self.momentum)
            .with_epsilon(self.epsilon)
            .with_centered(self.centered)
    }
}

/// `training.adam`: Adam's settings (Keras's defaults: 0.9, 0.999, 1e-7).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdamSettings {
    pub beta_1: f32,
    pub beta_2: f32,
    pub epsilon: f32,
}

impl AdamSettings {
    /// Burn's Adam with these settings.
    pub fn burn(&self) -> burn::optim::AdamConfig {
        burn::optim::AdamConfig::new()
            .with_beta_1(self.beta_1)
            .with_beta_2(self.beta_2)
            .with_epsilon(self.epsilon)
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
        Tf1RmsProp(RmsProp {
            rule: RmsPropRule::Tf1,
            alpha: self.decay,
            momentum: self.momentum,
            epsilon: self.epsilon,
            centered: self.centered,
        })
    }

    /// The optimiser for a module, as the Learner takes it.
    pub fn init<B: AutodiffBackend, M: AutodiffModule<B>>(
        &self,
    ) -> OptimizerAdaptor<Tf1RmsProp, M, B>
    where
        B::InnerBackend: FusedOps,
    {
        OptimizerAdaptor::from(self.build())
    }
}

/// Burn's RMSProp hyper-parameters (`burn::optim::RmsPropConfig`'s, with its defaults).
#[derive(Config, Debug)]
pub struct BurnRmsPropConfig {
    /// Discount of the running mean square.
    #[config(default = 0.99)]
    pub alpha: f32,
    /// Momentum; 0 keeps no momentum buffer.
    #[config(default = 0.9)]
    pub momentum: f32,
    /// Added after the square root.
    #[config(default = 1e-5)]
    pub epsilon: f32,
    /// Divide by an estimate of the gradient's variance instead of its raw second moment.
    #[config(default = false)]
    pub centered: bool,
}

impl BurnRmsPropConfig {
    /// The per-tensor update rule.
    pub fn build(&self) -> BurnRmsProp {
        BurnRmsProp(RmsProp {
            rule: RmsPropRule::Burn,
            alpha: self.alpha,
            momentum: self.momentum,
            epsilon: self.epsilon,
            centered: self.centered,
        })
    }

    /// The optimiser for a module, as the Learner takes it.
    pub fn init<B: AutodiffBackend, M: AutodiffModule<B>>(
        &self,
    ) -> OptimizerAdaptor<BurnRmsProp, M, B>
    where
        B::InnerBackend: FusedOps,
    {
        OptimizerAdaptor::from(self.build())
    }
}

/// One RMSProp rule with its settings; a step is the backend's fused update.
#[derive(Clone, Debug)]
struct RmsProp {
    rule: RmsPropRule,
    alpha: f32,
    momentum: f32,
    epsilon: f32,
    centered: bool,
}

impl RmsProp {
    /// Updates `tensor` with `grad`, from the state tensors kept so far.
    fn step<B: FusedOps, const D: usize>(
        &self,
        learning_rate: f64,
        tensor: Tensor<B, D>,
        grad: Tensor<B, D>,
        state: [Option<Tensor<B, D>>; 3],
    ) -> RmsPropTensors<B> {
        let hyper = RmsPropHyper {
            rule: self.rule,
            learning_rate,
            alpha: self.alpha,
            momentum: self.momentum,
            epsilon: self.epsilon,
            centered: self.centered,
        };
        let [square, mean_grad, momentum] = state.map(|t| t.map(|t| t.into_primitive().tensor()));
        let tensors = RmsPropTensors {
            param: tensor.into_primitive().tensor(),
            square,
            mean_grad,
            momentum,
        };
        B::rmsprop(hyper, tensors, grad.into_primitive().tensor())
    }
}

fn from_primitive<B: Backend, const D: usize>(primitive: FloatTensor<B>) -> Tensor<B, D> {
    Tensor::from_primitive(TensorPrimitive::Float(primitive))
}

/// TensorFlow 1's RMSProp, as a Burn `SimpleOptimizer`.
#[derive(Clone, Debug)]
pub struct Tf1RmsProp(RmsProp);

/// Per-parameter state: TF1's `rms`, `mg` and `momentum` slots.
#[derive(Record, Clone)]
pub struct Tf1RmsPropState<B: Backend, const D: usize> {
    pub mean_square: Tensor<B, D>,
    pub mean_grad: Option<Tensor<B, D>>,
    pub momentum: Option<Tensor<B, D>>,
}

impl<B: FusedOps> SimpleOptimizer<B> for Tf1RmsProp {
    type State<const D: usize> = Tf1RmsPropState<B, D>;

    fn step<const D: usize>(
        &self,
        lr: f64,
        tensor: Tensor<B, D>,
        grad: Tensor<B, D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<B, D>, Option<Self::State<D>>) {
        let state = state.map_or([None, None, None], |s| {
            [Some(s.mean_square), s.mean_grad, s.momentum]
        });
        let next = self.0.step(lr, tensor, grad, state);
        let state = Tf1RmsPropState {
            mean_square: from_primitive(next.square.expect("the update keeps a mean square")),
            mean_grad: next.mean_grad.map(from_primitive),
            momentum: next.momentum.map(from_primitive),
        };
        (from_primitive(next.param), Some(state))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &B::Device) -> Self::State<D> {
        Tf1RmsPropState {
            mean_square: state.mean_square.to_device(device),
            mean_grad: state.mean_grad.map(|t| t.to_device(device)),
            momentum: state.momentum.map(|t| t.to_device(device)),
        }
    }
}

/// Burn's RMSProp (`burn::optim::RmsProp`), the same update as one fused pass.
#[derive(Clone, Debug)]
pub struct BurnRmsProp(RmsProp);

/// Per-parameter state laid out as `burn::optim::RmsPropState`, field for field, so that
/// checkpoints written with Burn's own RMSProp load here.
#[derive(Record, Clone)]
pub struct BurnRmsPropState<B: Backend, const D: usize> {
    pub square_avg: SquareAvg<B, D>,
    pub centered: Centered<B, D>,
    pub momentum: Option<MomentumBuffer<B, D>>,
}

/// Burn's `SquareAvgState`.
#[derive(Record, Clone)]
pub struct SquareAvg<B: Backend, const D: usize> {
    pub square_avg: Tensor<B, D>,
}

/// Burn's `CenteredState`: `avg` is the denominator's variance estimate, which Burn recomputes
/// every step and never reads back.
#[derive(Record, Clone)]
pub struct Centered<B: Backend, const D: usize> {
    pub grad_avg: Option<Tensor<B, D>>,
    pub avg: Tensor<B, D>,
}

/// Burn's `RmsPropMomentumState`.
#[derive(Record, Clone)]
pub struct MomentumBuffer<B: Backend, const D: usize> {
    pub buf: Tensor<B, D>,
}

impl<B: FusedOps> SimpleOptimizer<B> for BurnRmsProp {
    type State<const D: usize> = BurnRmsPropState<B, D>;

    fn step<const D: usize>(
        &self,
        lr: f64,
        tensor: Tensor<B, D>,
        grad: Tensor<B, D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<B, D>, Option<Self::State<D>>) {
        let state = state.map_or([None, None, None], |s| {
            [
                Some(s.square_avg.square_avg),
                s.centered.grad_avg,
                s.momentum.map(|m| m.buf),
            ]
        });
        let next = self.0.step(lr, tensor, grad, state);
        let square: Tensor<B, D> =
            from_primitive(next.square.expect("the update keeps a mean square"));
        let grad_avg: Option<Tensor<B, D>> = next.mean_grad.map(from_primitive);
        let avg = match &grad_avg {
            Some(mean) => square.clone() - mean.clone().square(),
            None => square.clone(),
        };
        let state = BurnRmsPropState {
            square_avg: SquareAvg { square_avg: square },
            centered: Centered { grad_avg, avg },
            momentum: next.momentum.map(|buf| MomentumBuffer {
                buf: from_primitive(buf),
            }),
        };
        (from_primitive(next.param), Some(state))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &B::Device) -> Self::State<D> {
        BurnRmsPropState {
            square_avg: SquareAvg {
                square_avg: state.square_avg.square_avg.to_device(device),
            },
            centered: Centered {
                grad_avg: state.centered.grad_avg.map(|t| t.to_device(device)),
                avg: state.centered.avg.to_device(device),
            },
            momentum: state.momentum.map(|m| MomentumBuffer {
                buf: m.buf.to_device(device),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_optimizer_is_named_as_the_banner_and_the_curve_title_say() {
        assert_eq!(OptimizerKind::Tf1Rmsprop.to_string(), "TF1 RMSProp");
        assert_eq!(OptimizerKind::BurnRmsprop.to_string(), "Burn RMSProp");
    }
}
