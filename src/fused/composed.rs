//! The fused operations composed from Burn's standard ops: the default bodies of
//! [`FusedOps`](super::FusedOps), and the reference the fused kernels are tested against.

use burn::prelude::*;
use burn::tensor::ops::{ConvOptions, FloatTensor};
use burn::tensor::{Shape, TensorMetadata};

use super::terms::{Activation, ConvInput, RmsPropHyper, RmsPropRule, RmsPropTensors, float};

/// `activation(x · weight + bias)`, as Burn's `Linear` and the activation (for the sigmoid,
/// [`sigmoid`]) compute it.
pub fn linear<B: Backend>(
    x: Tensor<B, 2>,
    weight: Tensor<B, 2>,
    bias: Tensor<B, 1>,
    activation: Activation,
) -> Tensor<B, 2> {
    activate(activation, x.matmul(weight) + bias.unsqueeze())
}

/// `activation(z)` through Burn's standard ops (and, for the sigmoid, [`sigmoid`]).
pub fn activate<B: Backend, const D: usize>(
    activation: Activation,
    z: Tensor<B, D>,
) -> Tensor<B, D> {
    match activation {
        Activation::Linear => z,
        Activation::Sigmoid => sigmoid(z),
        Activation::Relu => burn::tensor::activation::relu(z),
    }
}

/// `dz = dy · activation'(z)`, read from the output `y = activation(z)`.
fn activation_backward<B: Backend, const D: usize>(
    activation: Activation,
    y: Tensor<B, D>,
    dy: Tensor<B, D>,
) -> Tensor<B, D> {
    match activation {
        Activation::Linear => dy,
        Activation::Sigmoid => {
            let slope = y.clone() * y.neg().add_scalar(1.0);
            dy * slope
        }
        // A ReLU's output is positive exactly where its input was.
        Activation::Relu => dy.mask_fill(y.lower_equal_elem(0.0), 0.0),
    }
}

/// The gradients of [`linear`] from its output `y` and `dy`: (input, weight, bias).
pub fn linear_backward<B: Backend>(
    x: Tensor<B, 2>,
    weight: Tensor<B, 2>,
    y: Tensor<B, 2>,
    dy: Tensor<B, 2>,
    activation: Activation,
    input_grad: bool,
) -> (Option<Tensor<B, 2>>, Tensor<B, 2>, Tensor<B, 1>) {
    let dz = activation_backward(activation, y, dy);
    let bias = dz.clone().sum_dim(0).squeeze_dim(0);
    let input = input_grad.then(|| dz.clone().matmul(weight.transpose()));
    (input, x.transpose().matmul(dz), bias)
}

/// A convolution of stride 1 with `padding` zeros on each side, as Burn's `Conv2d` runs it.
fn conv_options(padding: usize) -> ConvOptions<2> {
    ConvOptions::new([1, 1], [padding, padding], [1, 1], 1)
}

/// `activation(conv(x, weight) + bias)`: x `[n, c, h, w]`, weight `[o, c, kh, kw]`, bias `[o]`,
/// a convolution of stride 1 with `input.padding` zeros on each side (of x's [`upsample`] when
/// `input.upsampled`), as Burn's `Conv2d` and the activation compute it.
pub fn conv2d<B: Backend>(
    x: Tensor<B, 4>,
    weight: Tensor<B, 4>,
    bias: Tensor<B, 1>,
    input: ConvInput,
    activation: Activation,
) -> Tensor<B, 4> {
    let x = if input.upsampled { upsample(x) } else { x };
    let options = conv_options(input.padding);
    let z = burn::tensor::module::conv2d(x, weight, Some(bias), options);
    activate(activation, z)
}

/// The gradients of [`conv2d`] from its output `y` and `dy`: (input, weight, bias), through
/// the backend's own convolution backward passes (Burn's autodiff's).
pub fn conv2d_backward<B: Backend>(
    x: Tensor<B, 4>,
    weight: Tensor<B, 4>,
    y: Tensor<B, 4>,
    dy: Tensor<B, 4>,
    (input, activation): (ConvInput, Activation),
    input_grad: bool,
) -> (Option<Tensor<B, 4>>, Tensor<B, 4>, Tensor<B, 1>) {
    let x = if input.upsampled { upsample(x) } else { x };
    let dz = activation_backward(activation, y, dy);
    let channels = weight.dims()[0];
    let bias = dz
        .clone()
        .sum_dim(0)
        .sum_dim(2)
        .sum_dim(3)
        .reshape([channels]);
    let options = conv_options(input.padding);
    let (x, weight, dz) = (
        x.into_primitive().tensor(),
        weight.into_primitive().tensor(),
        dz.into_primitive().tensor(),
    );
    let upsampled = input.upsampled;
    let input = input_grad.then(|| {
        let dx = float(B::conv2d_x_backward(
            x.clone(),
            weight.clone(),
            dz.clone(),
            options.clone(),
        ));
        if upsampled { upsample_backward(dx) } else { dx }
    });
    let weight = float(B::conv2d_weight_backward(x, weight, dz, options));
    (input, weight, bias)
}

/// `[n, c, h, w]` -> `[n, c, 2h, 2w]`, each value repeated over a 2x2 square.
pub fn upsample<B: Backend>(x: Tensor<B, 4>) -> Tensor<B, 4> {
    let [n, c, h, w] = x.dims();
    x.reshape([n, c, h, 1, w, 1])
        .expand([n, c, h, 2, w, 2])
        .reshape([n, c, 2 * h, 2 * w])
}

/// The gradient of [`upsample`]'s input: `dy` `[n, c, 2h, 2w]` summed over each 2x2 square.
pub fn upsample_backward<B: Backend>(dy: Tensor<B, 4>) -> Tensor<B, 4> {
    let [n, c, h2, w2] = dy.dims();
    let (h, w) = (h2 / 2, w2 / 2);
    dy.reshape([n, c, h, 2, w, 2])
        .sum_dim(5)
        .sum_dim(3)
        .reshape([n, c, h, w])
}

/// 2x2 max pooling, the squares past the edge cut to what is inside (ceil mode).
pub fn max_pool<B: Backend>(x: Tensor<B, 4>) -> Tensor<B, 4> {
    burn::tensor::module::max_pool2d(x, [2, 2], [2, 2], [0, 0], [1, 1], true)
}

/// The gradient of [`max_pool`]'s input `x` from `dy`, through the backend's own backward
/// (Burn's autodiff's).
pub fn max_pool_backward<B: Backend>(x: Tensor<B, 4>, dy: Tensor<B, 4>) -> Tensor<B, 4> {
    let x = x.into_primitive().tensor();
    let pooled = B::max_pool2d_with_indices(x.clone(), [2, 2], [2, 2], [0, 0], [1, 1], true);
    let dy = dy.into_primitive().tensor();
    let backward = B::max_pool2d_with_indices_backward(
        x,
        [2, 2],
        [2, 2],
        [0, 0],
        [1, 1],
        true,
        dy,
        pooled.indices,
    );
    float(backward.x_grad)
}

/// The logistic sigmoid `1 / (1 + exp(-x))`, whose gradient is `y (1 - y)` as TensorFlow's.
///
/// Burn 0.21's `sigmoid` computes `exp(-log(1 + exp(-x)))` and its autodiff backward computes
/// all three transcendentals again from the input. Here `y` is computed off the graph with one
/// `exp` and the graph carries `y + (x - x.detach()) * y (1 - y)`: for finite `x` the bracket
/// is exactly zero, so the value is exactly `y`, and the gradient is `y (1 - y)`, TensorFlow's
/// `SigmoidGrad`, read from the forward pass. On a backend without autodiff it is `y` alone.
pub fn sigmoid<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    let denominator = x.clone().detach().neg().exp().add_scalar(1.0);
    // A division, not `recip()`: Burn's ndarray computes `recip` with the CPU's approximate
    // reciprocal instruction, good to 12 bits only.
    let y = denominator.ones_like() / denominator;
    if !B::ad_enabled(&x.device()) {
        return y;
    }
    let slope = y.clone() * y.clone().neg().add_scalar(1.0);
    y + (x.clone() - x.detach()) * slope
}

/// Mean squared error over every element, `[1]`. `diff * diff` rather than `powf_scalar(2.0)`,
/// which goes through log and exp.
pub fn mse<B: Backend, const D: usize>(output: Tensor<B, D>, target: Tensor<B, D>) -> Tensor<B, 1> {
    let diff = output - target;
    (diff.clone() * diff).mean()
}

/// [`mse`] and its gradient with respect to `output`, `2 (output - target) / len`.
pub fn mse_with_gradient<B: Backend, const D: usize>(
    output: Tensor<B, D>,
    target: Tensor<B, D>,
) -> (Tensor<B, 1>, Tensor<B, D>) {
    let count = output.shape().num_elements() as f64;
    let diff = output - target;
    let loss = (diff.clone() * diff.clone()).mean();
    (loss, diff.mul_scalar(2.0 / count))
}

/// The binary cross-entropy of `sigmoid(logits)` against `target`, averaged over every
/// element, `[1]`: `max(z, 0) - z t + ln(1 + e^-|z|)`, which neither overflows nor takes the
/// log of zero however far the logits saturate.
pub fn bce_with_logits<B: Backend, const D: usize>(
    logits: Tensor<B, D>,
    target: Tensor<B, D>,
) -> Tensor<B, 1> {
    let softplus = logits.clone().abs().neg().exp().log1p();
    (burn::tensor::activation::relu(logits.clone()) - logits * target + softplus).mean()
}

/// [`bce_with_logits`] and its gradient with respect to `logits`, `(sigmoid(z) - t) / len`.
pub fn bce_with_logits_with_gradient<B: Backend, const D: usize>(
    logits: Tensor<B, D>,
    target: Tensor<B, D>,
) -> (Tensor<B, 1>, Tensor<B, D>) {
    let count = logits.shape().num_elements() as f64;
    let grad = (sigmoid(logits.clone().detach()) - target.clone()).div_scalar(count);
    (bce_with_logits(logits, target), grad)
}

/// One RMSProp update as Burn ops: TF1's rule as `tf.train.RMSPropOptimizer` applies it, or
/// Burn's as `burn::optim::RmsProp` does, operation for operation.
pub fn rmsprop<B: Backend>(
    hyper: RmsPropHyper,
    state: RmsPropTensors<B>,
    grad: FloatTensor<B>,
) -> RmsPropTensors<B> {
    // Any rank: work on flattened tensors, give them back their shape.
    let shape = grad.shape();
    let len = shape.num_elements();
    let flat = |t: FloatTensor<B>| float::<B, 1>(B::float_reshape(t, Shape::new([len])));
    let back = |t: Tensor<B, 1>| B::float_reshape(t.into_primitive().tensor(), shape.clone());
    let grad = flat(grad);
    let param = flat(state.param);
    let (square, mean_grad) = running_means(
        &hyper,
        grad.clone(),
        state.square.map(flat),
        state.mean_grad.map(flat),
    );
    let variance = match &mean_grad {
        Some(mean) => square.clone() - mean.clone().square(),
        None => square.clone(),
    };
    let RmsPropHyper {
        rule,
        learning_rate: lr,
        momentum: beta,
        epsilon,
        ..
    } = hyper;
    let step = match rule {
        RmsPropRule::Tf1 => grad.mul_scalar(lr) / variance.add_scalar(epsilon).sqrt(),
        RmsPropRule::Burn => grad / variance.sqrt().add_scalar(epsilon),
    };
    let (step, momentum) = if beta > 0.0 {
        let buffer = match state.momentum.map(flat) {
            Some(buffer) => buffer.mul_scalar(beta) + step,
            None => step,
        };
        (buffer.clone(), Some(buffer))
    } else {
        (step, None)
    };
    let step = match rule {
        RmsPropRule::Tf1 => step,
        RmsPropRule::Burn => step.mul_scalar(lr),
    };
    RmsPropTensors {
        param: back(param - step),
        square: Some(back(square)),
        mean_grad: mean_grad.map(back),
        momentum: momentum.map(back),
    }
}

/// RMSProp's running mean square of the gradient (starting at one for TF1's rule, at zero for
/// Burn's) and, when centred, its running mean.
fn running_means<B: Backend>(
    hyper: &RmsPropHyper,
    grad: Tensor<B, 1>,
    square: Option<Tensor<B, 1>>,
    mean_grad: Option<Tensor<B, 1>>,
) -> (Tensor<B, 1>, Option<Tensor<B, 1>>) {
    let (alpha, keep) = (hyper.alpha, 1.0 - hyper.alpha);
    let square = match (hyper.rule, square) {
        (_, Some(square)) => square.mul_scalar(alpha) + grad.clone().square().mul_scalar(keep),
        (RmsPropRule::Tf1, None) => {
            grad.ones_like().mul_scalar(alpha) + grad.clone().square().mul_scalar(keep)
        }
        (RmsPropRule::Burn, None) => grad.clone().square().mul_scalar(keep),
    };
    let mean_grad = hyper.centered.then(|| match mean_grad {
        Some(mean) => mean.mul_scalar(alpha) + grad.clone().mul_scalar(keep),
        None => grad.mul_scalar(keep),
    });
    (square, mean_grad)
}
