//! The fused operations against the Burn ops they replace: values and gradients on random and
//! MNIST-like inputs of odd sizes and layouts, whole training steps with both RMSProps, the
//! sigmoid's accuracy, and Burn RMSProp checkpoints loading into the fused optimiser.

use burn::module::{Module, Param};
use burn::optim::{GradientsParams, Optimizer, SimpleOptimizer};
use burn::prelude::*;
use burn::record::{FullPrecisionSettings, NamedMpkBytesRecorder, Recorder};
use burn::tensor::TensorPrimitive;
use burn::tensor::ops::FloatTensor;
#[cfg(feature = "ndarray")]
use mnist_autoencoder::fused::ConvInput;
use mnist_autoencoder::fused::composed;
use mnist_autoencoder::fused::{Activation, FusedOps, RmsPropHyper, RmsPropRule, RmsPropTensors};
use mnist_autoencoder::model::Init;
use mnist_autoencoder::model::{Autoencoder, AutoencoderConfig};
use mnist_autoencoder::optim::RmsPropSettings;

use crate::common::{assert_sigmoid_close, synthetic_pixels};

type B = mnist_autoencoder::backend::Backend;
type AB = mnist_autoencoder::backend::TrainingBackend;

fn device() -> burn::tensor::Device<B> {
    Default::default()
}

fn primitive<X: Backend, const D: usize>(tensor: Tensor<X, D>) -> FloatTensor<X> {
    tensor.into_primitive().tensor()
}

fn float<X: Backend, const D: usize>(primitive: FloatTensor<X>) -> Tensor<X, D> {
    Tensor::from_primitive(TensorPrimitive::Float(primitive))
}

fn values<X: Backend, const D: usize>(tensor: Tensor<X, D>) -> Vec<f32> {
    tensor.into_data().to_vec::<f32>().unwrap()
}

/// Asserts `got` equals `want` within `tolerance` of the largest magnitude in `want`.
fn assert_close(what: &str, got: &[f32], want: &[f32], tolerance: f32) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    let scale = want
        .iter()
        .fold(0f32, |m, v| m.max(v.abs()))
        .max(f32::MIN_POSITIVE);
    for (i, (a, b)) in got.iter().zip(want).enumerate() {
        assert!(
            (a - b).abs() <= tolerance * scale,
            "{what}[{i}]: {a}, the composed ops give {b} (scale {scale})"
        );
    }
}

/// `[rows, cols]` values of mean 0 and spread 1 (uniform in ±√3), the same for the same
/// `seed` in every run: Burn's random tensors draw from one generator that the tests running
/// in parallel share, so their values, and how far the fused sums may part from the composed
/// ones, would change from run to run.
fn drawn<X: Backend>([rows, cols]: [usize; 2], seed: u64) -> Tensor<X, 2> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let values: Vec<f32> = (0..rows * cols)
        .map(|_| {
            // SplitMix64.
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            let unit = (z >> 40) as f32 / (1u64 << 24) as f32;
            (2.0 * unit - 1.0) * 3f32.sqrt()
        })
        .collect();
    Tensor::from_data(TensorData::new(values, [rows, cols]), &Default::default())
}

/// The kinds of input the first layer sees.
#[derive(Debug, Clone, Copy)]
enum Input {
    /// Mostly exact zeros, as MNIST's pixels are: the zero-skipping products.
    Digits,
    /// No zeros: the dense products.
    Dense,
    /// Digits read through a transposed view: strides that are not row-major.
    Strided,
}

fn input<X: Backend>(kind: Input, batch: usize) -> Tensor<X, 2> {
    let digits = || {
        let pixels: Vec<f32> = synthetic_pixels(batch)
            .iter()
            .enumerate()
            .map(|(i, &p)| if i % 5 < 3 { 0.0 } else { f32::from(p) / 255.0 })
            .collect();
        TensorData::new(pixels, [batch, 784])
    };
    let device = Default::default();
    match kind {
        Input::Digits => Tensor::from_data(digits(), &device),
        Input::Dense => {
            let pixels: Vec<f32> = synthetic_pixels(batch)
                .iter()
                .enumerate()
                .map(|(i, &p)| (f32::from(p) + (i % 13) as f32 + 1.0) / 270.0)
                .collect();
            Tensor::from_data(TensorData::new(pixels, [batch, 784]), &device)
        }
        Input::Strided => {
            let transposed = Tensor::<X, 2>::from_data(digits(), &device).transpose();
            // A [784, batch] copy of the data, then transposed back: the same values with
            // column-major strides.
            let copy: Tensor<X, 2> = Tensor::from_data(transposed.into_data(), &device);
            copy.transpose()
        }
    }
}

/// The loss and the gradients of both layers' weights and biases, through the fused ops or
/// through the composed ones, from the same values: a hidden layer of `hidden` activation, and
/// an output through a sigmoid under the mean squared error, or as logits under binary
/// cross-entropy (`bce`).
fn loss_and_gradients(
    fused: bool,
    x: Tensor<AB, 2>,
    parameters: &[Tensor<AB, 2>; 4],
    (hidden, bce): (Activation, bool),
) -> (f32, Vec<Vec<f32>>) {
    let [w1, b1, w2, b2] = parameters.clone().map(|t| t.require_grad());
    let bias = |b: &Tensor<AB, 2>| b.clone().reshape([-1]);
    let output = if bce {
        Activation::Linear
    } else {
        Activation::Sigmoid
    };
    let loss = if fused {
        let layer = |x: Tensor<AB, 2>, w: &Tensor<AB, 2>, b: &Tensor<AB, 2>, act| {
            float::<AB, 2>(AB::linear_activation(
                primitive(x),
                primitive(w.clone()),
                primitive(bias(b)),
                act,
            ))
        };
        let out = layer(layer(x.clone(), &w1, &b1, hidden), &w2, &b2, output);
        let (loss, _gradient) = if bce {
            AB::bce_with_logits_with_gradient(primitive(out), primitive(x))
        } else {
            AB::mse_with_gradient(primitive(out), primitive(x))
        };
        float::<AB, 1>(loss)
    } else {
        let code = composed::linear(x.clone(), w1.clone(), bias(&b1), hidden);
        let out = composed::linear(code, w2.clone(), bias(&b2), output);
        if bce {
            composed::bce_with_logits(out, x)
        } else {
            composed::mse(out, x)
        }
    };
    let value = loss.clone().into_scalar().elem::<f32>();
    let grads = loss.backward();
    let gradients = [&w1, &b1, &w2, &b2]
        .map(|p| values(p.grad(&grads).expect("a gradient for every parameter")))
        .to_vec();

    (value, gradients)
}

/// Every hidden activation and both losses: the tutorial's sigmoid and MSE, and Keras's ReLU
/// (and a linear code) under binary cross-entropy from the logits.
const MODELS: [(Activation, bool); 5] = [
    (Activation::Sigmoid, false),
    (Activation::Relu, false),
    (Activation::Linear, false),
    (Activation::Relu, true),
    (Activation::Sigmoid, true),
];

fn fused_values_and_gradients_match_burns_autodiff_of_the_composed_ops() {
    for (batch, hidden) in [(1, 1), (7, 3), (33, 1000), (100, 256)] {
        for kind in [Input::Digits, Input::Dense, Input::Strided] {
            for model in MODELS {
                let shapes = [[784, hidden], [1, hidden], [hidden, 784], [1, 784]];
                let parameters: [Tensor<AB, 2>; 4] = std::array::from_fn(|i| {
                    drawn(shapes[i], (batch * 1000 + hidden) as u64 * 4 + i as u64).mul_scalar(0.3)
                });
                let x = input::<AB>(kind, batch);
                let (fused_loss, fused) = loss_and_gradients(true, x.clone(), &parameters, model);
                let (loss, composed) = loss_and_gradients(false, x, &parameters, model);
                let what = format!("batch {batch}, hidden {hidden}, {kind:?}, {model:?}");
                assert!(
                    (fused_loss - loss).abs() <= 1e-5 * loss,
                    "{what}: loss {fused_loss}, composed {loss}"
                );
                // Burn's autodiff of the composed cross-entropy loses up to 3e-5 of the
                // gradient's scale near z = 0 (measured against float64; the fused one is
                // within 1e-7 there, see the next test); a linear code is not squashed, so
                // its products round on larger values. With AVX2 but not AVX-512 (an AMD EPYC,
                // Zen 3) the composed ops' products sum in another order than with AVX-512,
                // and at hidden 1, where the one code unit is a sum of a digit's products,
                // the cross-entropy's gradients parted by up to 2.3e-4 of their scale.
                let tolerance = match model {
                    (_, true) => 4e-4,
                    (Activation::Linear, _) => 3e-5,
                    _ => 1e-5,
                };
                for (name, (got, want)) in ["w1", "b1", "w2", "b2"]
                    .iter()
                    .zip(fused.iter().zip(&composed))
                {
                    assert_close(&format!("{what}: {name}"), got, want, tolerance);
                }
            }
        }
    }
}

/// The fused binary cross-entropy and its gradient against float64, from saturated logits on
/// both sides through zero, for targets at and between 0 and 1.
#[cfg(not(feature = "wgpu"))]
fn the_fused_cross_entropy_is_the_float64_one() {
    let zs: Vec<f32> = (-400..=400).map(|i| i as f32 * 0.23).collect();
    let n = zs.len();
    let ts: Vec<f32> = (0..n).map(|i| [0.0, 1.0, 0.3, 0.9][i % 4]).collect();
    let device = device();
    let logits = Tensor::<B, 2>::from_data(TensorData::new(zs.clone(), [1, n]), &device);
    let targets = Tensor::<B, 2>::from_data(TensorData::new(ts.clone(), [1, n]), &device);
    let (loss, grad) = B::bce_with_logits_with_gradient(primitive(logits), primitive(targets));
    let loss = values(float::<B, 1>(loss))[0];
    let grad = values(float::<B, 2>(grad));
    let mut want = 0f64;
    for (i, (&z, &t)) in zs.iter().zip(&ts).enumerate() {
        let (z, t) = (f64::from(z), f64::from(t));
        want += z.max(0.0) - z * t + (-z.abs()).exp().ln_1p();
        let slope = 1.0 / (1.0 + (-z).exp()) - t;
        let got = f64::from(grad[i]) * n as f64;
        assert!(
            (got - slope).abs() <= 2e-7,
            "z {z}, t {t}: {got} against {slope}"
        );
    }
    let want = want / n as f64;
    assert!(
        (f64::from(loss) - want).abs() <= 1e-6 * want,
        "loss {loss} against {want}"
    );
}

/// The sigmoid of the fused forward pass: within a few units in the last place of the float64
/// sigmoid, from saturated below to saturated above.
fn the_fused_sigmoid_is_within_a_few_ulps_of_the_true_one() {
    let xs: Vec<f32> = (-1200..=1200).map(|i| i as f32 * 0.1).collect();
    let n = xs.len();
    let device = device();
    let column = Tensor::<B, 2>::from_data(TensorData::new(xs.clone(), [n, 1]), &device);
    let one = Tensor::<B, 2>::ones([1, 1], &device);
    let zero = Tensor::<B, 1>::zeros([1], &device);
    let ys = values(float::<B, 2>(B::linear_activation(
        primitive(column),
        primitive(one),
        primitive(zero),
        Activation::Sigmoid,
    )));
    for (x, y) in xs.iter().zip(&ys) {
        assert_sigmoid_close(*x, *y);
    }
    assert_eq!(ys[n - 1], 1.0);
    assert!(ys[0] < f32::MIN_POSITIVE);
}

/// The backward pass writes `dz` over `dy` when it holds the only handle on it (as in
/// training), and into a new array when something else holds `dy` too: the same gradients
/// either way, to the bit, and a shared `dy` left as it was. Shapes whose columns split over
/// the threads, and a last block narrower than the others.
#[cfg(feature = "ndarray")]
fn the_backward_pass_writes_over_its_own_output_gradient_only() {
    type Cpu = burn::backend::NdArray<f32>;
    for (n, k, h) in [(3, 5, 4), (100, 256, 784), (50, 784, 300)] {
        let what = format!("[{n}, {k}] x [{k}, {h}]");
        let (x, w) = (drawn::<Cpu>([n, k], 1), drawn::<Cpu>([k, h], 2));
        let b = drawn::<Cpu>([1, h], 3).reshape([h]);
        let y = Cpu::linear_activation(
            primitive(x.clone()),
            primitive(w.clone()),
            primitive(b),
            Activation::Sigmoid,
        );
        let dy = values(drawn::<Cpu>([n, h], 4));
        let backward = |dy: FloatTensor<Cpu>| {
            let grads = Cpu::linear_activation_backward(
                primitive(x.clone()),
                primitive(w.clone()),
                y.clone(),
                dy,
                Activation::Sigmoid,
                true,
            );
            let bits = |v: Vec<f32>| v.iter().map(|f| f.to_bits()).collect::<Vec<u32>>();
            let input = grads.input.map(|t| bits(values(float::<Cpu, 2>(t))));
            (
                bits(values(float::<Cpu, 2>(grads.weight))),
                bits(values(float::<Cpu, 1>(grads.bias))),
                input,
            )
        };
        let device = Default::default();
        // Computed (times one), so that it owns its values: a tensor made from data is copied
        // by the first op that takes it, shared or not.
        let fresh = || {
            Tensor::<Cpu, 2>::from_data(TensorData::new(dy.clone(), [n, h]), &device)
                .mul_scalar(1.0)
        };
        let alone = backward(primitive(fresh()));
        let kept = fresh();
        let shared = backward(primitive(kept.clone()));
        assert!(alone == shared, "{what}: the gradients differ");
        assert_eq!(
            values(kept),
            dy,
            "{what}: a dy held elsewhere was written over"
        );
    }
}

/// The kernels of ndarray against the default bodies every other backend (wgpu) runs, op by op
/// and without autodiff, on values of order one so that every term of each formula shows: the
/// mean square's start, epsilon, momentum and the centred mean in RMSProp, the slope and the
/// bias sum in the backward pass, the factor and the count in the loss's gradient.
#[cfg(feature = "ndarray")]
fn the_ndarray_kernels_match_the_default_bodies() {
    type Cpu = burn::backend::NdArray<f32>;
    let seed = std::cell::Cell::new(0);
    let random = |shape: [usize; 2]| {
        seed.set(seed.get() + 1);
        drawn::<Cpu>(shape, seed.get())
    };
    for (n, k, h) in [(1, 1, 1), (3, 5, 4), (20, 784, 32)] {
        let what = format!("[{n}, {k}] x [{k}, {h}]");
        // Weights of spread 1/sqrt(k): pre-activations of order one, where the sigmoid bends.
        let w = random([k, h]).div_scalar((k as f32).sqrt());
        let (x, b) = (random([n, k]), random([1, h]).reshape([h]));
        let y = Cpu::linear_activation(
            primitive(x.clone()),
            primitive(w.clone()),
            primitive(b.clone()),
            Activation::Sigmoid,
        );
        let want = composed::linear(x.clone(), w.clone(), b, Activation::Sigmoid);
        assert_close(
            &format!("{what}: y"),
            &values(float::<Cpu, 2>(y.clone())),
            &values(want),
            1e-6,
        );

        let dy = random([n, h]);
        for input_grad in [true, false] {
            let got = Cpu::linear_activation_backward(
                primitive(x.clone()),
                primitive(w.clone()),
                y.clone(),
                primitive(dy.clone()),
                Activation::Sigmoid,
                input_grad,
            );
            let (input, weight, bias) = composed::linear_backward(
                x.clone(),
                w.clone(),
                float(y.clone()),
                dy.clone(),
                Activation::Sigmoid,
                input_grad,
            );
            let grad = |t: FloatTensor<Cpu>| values(float::<Cpu, 2>(t));
            assert_close(
                &format!("{what}: dW"),
                &grad(got.weight),
                &values(weight),
                1e-5,
            );
            assert_close(
                &format!("{what}: db"),
                &values(float::<Cpu, 1>(got.bias)),
                &values(bias),
                1e-5,
            );
            assert_eq!(
                got.input.is_some(),
                input_grad,
                "{what}: dx asked for: {input_grad}"
            );
            if let (Some(got), Some(want)) = (got.input, input) {
                assert_close(&format!("{what}: dx"), &grad(got), &values(want), 1e-5);
            }
        }

        let (output, target) = (random([n, h]), random([n, h]));
        let (loss, gradient) =
            Cpu::mse_with_gradient(primitive(output.clone()), primitive(target.clone()));
        let (want_loss, want_gradient) = composed::mse_with_gradient(output, target);
        assert_close(
            &format!("{what}: loss"),
            &values(float::<Cpu, 1>(loss)),
            &values(want_loss),
            1e-6,
        );
        assert_close(
            &format!("{what}: dL"),
            &values(float::<Cpu, 2>(gradient)),
            &values(want_gradient),
            1e-6,
        );
    }

    let state = |shape: [usize; 2], kept: bool| RmsPropTensors::<Cpu> {
        param: primitive(random(shape)),
        square: kept.then(|| primitive(random(shape).abs().add_scalar(0.5))),
        // |mean| < 0.44 < sqrt(square): a variance that stays positive, as a real run's does.
        mean_grad: kept.then(|| primitive(random(shape).mul_scalar(0.25))),
        momentum: kept.then(|| primitive(random(shape))),
    };
    for rule in [RmsPropRule::Tf1, RmsPropRule::Burn] {
        for (alpha, momentum, epsilon, centered) in [
            (0.9, 0.0, 1e-10, false),
            (0.6, 0.5, 0.3, true),
            (0.75, 0.9, 0.05, false),
            (0.5, 0.0, 0.2, true),
        ] {
            let hyper = RmsPropHyper {
                rule,
                learning_rate: 0.1,
                alpha,
                momentum,
                epsilon,
                centered,
            };
            for (shape, kept) in [
                ([3, 5], false),
                ([3, 5], true),
                ([784, 32], false),
                ([784, 32], true),
            ] {
                // Where the new values go depends on what else holds the parameter and the
                // gradient: the parameter's array when nothing does, else the gradient's when
                // nothing holds that, else a new one. Each way, the same values.
                for (held_param, held_grad) in [(false, false), (true, false), (true, true)] {
                    let what = format!(
                        "{hyper:?}, {shape:?}, state kept: {kept}, \
                         parameter held: {held_param}, gradient held: {held_grad}"
                    );
                    let before = state(shape, kept);
                    let grad = random(shape);
                    let want =
                        composed::rmsprop::<Cpu>(hyper, before.clone(), primitive(grad.clone()));
                    let held = (
                        held_param.then(|| before.param.clone()),
                        held_grad.then(|| grad.clone()),
                    );
                    let got = Cpu::rmsprop(hyper, before, primitive(grad));
                    drop(held);
                    let all = |t: RmsPropTensors<Cpu>| {
                        [Some(t.param), t.square, t.mean_grad, t.momentum]
                            .map(|t| t.map(|t| values(float::<Cpu, 2>(t))))
                    };
                    let names = ["param", "mean square", "mean gradient", "momentum"];
                    for (name, (got, want)) in names.iter().zip(all(got).into_iter().zip(all(want)))
                    {
                        assert_eq!(got.is_some(), want.is_some(), "{what}: {name} kept");
                        if let (Some(got), Some(want)) = (got, want) {
                            assert_close(&format!("{what}: {name}"), &got, &want, 1e-5);
                        }
                    }
                }
            }
        }
    }
}

/// A loss scaled before `backward` (a weighted sum of losses, say) gives the fused path the
/// gradients Burn's autodiff gives the composed ops: the loss node passes on the gradient it
/// receives, whatever it is.
fn the_fused_gradients_follow_a_scaled_loss() {
    let device = Default::default();
    let mut model: Autoencoder<AB> =
        AutoencoderConfig::from_settings(24, Init::Xavier).init(&device);
    // Weights of Xavier's spread, the same in every run.
    for (linear, seed) in model.tutorial_layers_mut().unwrap().into_iter().zip([1, 3]) {
        let [rows, cols] = linear.weight.val().dims();
        linear.weight = Param::from_tensor(drawn([rows, cols], seed).mul_scalar(0.05));
        let bias = drawn([1, cols], seed + 1).reshape([cols]).mul_scalar(0.05);
        linear.bias = Some(Param::from_tensor(bias));
    }
    let gradients = |fused: bool, factor: f32| {
        let x = input::<AB>(Input::Digits, 9);
        let loss = if fused {
            model.loss(x)
        } else {
            model.loss_composed(x)
        };
        let grads = loss.mul_scalar(factor).backward();
        model
            .tutorial_layers()
            .unwrap()
            .map(|linear| {
                let bias = linear.bias.as_ref().unwrap().val();
                [
                    values(linear.weight.val().grad(&grads).unwrap()),
                    values(bias.grad(&grads).unwrap()),
                ]
                .concat()
            })
            .concat()
    };
    for factor in [1.0, 3.0, -0.5] {
        let what = format!("loss x {factor}");
        assert_close(
            &what,
            &gradients(true, factor),
            &gradients(false, factor),
            1e-5,
        );
    }
}

/// `products::dense` (the GEMM of every dense product) against a float64 triple loop, for
/// both layouts of both operands and for empty sizes; an operand too short for the sizes it
/// is given is refused with a panic before any unsafe read.
#[cfg(feature = "ndarray")]
fn dense_products_match_a_plain_product_and_refuse_short_operands() {
    use crate::common::panic_message;
    use mnist_autoencoder::fused::cpu::products::{Operand, dense};
    use std::mem::MaybeUninit;

    let value = |i: usize| ((i * 7919 % 1000) as f32 - 500.0) / 250.0;
    let product = |m: usize, k: usize, n: usize, a: Operand, b: Operand| {
        let mut out = vec![MaybeUninit::new(f32::NAN); m * n];
        dense(m, k, n, a, b, &mut out);
        // SAFETY: `dense` writes every value of `out`; they started initialised anyway.
        out.iter()
            .map(|v| unsafe { v.assume_init() })
            .collect::<Vec<f32>>()
    };
    for (m, k, n) in [
        (0, 3, 2),
        (4, 3, 0),
        (2, 0, 3),
        (1, 1, 1),
        (5, 7, 19),
        (33, 40, 70),
    ] {
        let a: Vec<f32> = (0..m * k).map(value).collect();
        let b: Vec<f32> = (0..k * n).map(|i| value(i + 3)).collect();
        let want: Vec<f32> = (0..m * n)
            .map(|i| {
                let (r, c) = (i / n, i % n);
                let sum: f64 = (0..k)
                    .map(|j| f64::from(a[r * k + j]) * f64::from(b[j * n + c]))
                    .sum();
                sum as f32
            })
            .collect();
        // The same matrices stored transposed, read through the transposed layout.
        let transpose = |v: &[f32], rows: usize, cols: usize| -> Vec<f32> {
            (0..rows * cols)
                .map(|i| v[(i % rows) * cols + i / rows])
                .collect()
        };
        let (a_t, b_t) = (transpose(&a, m, k), transpose(&b, k, n));
        for (layout, a, b) in [
            ("rows, rows", Operand::rows(&a, k), Operand::rows(&b, n)),
            (
                "transposed, rows",
                Operand::transposed(&a_t, m),
                Operand::rows(&b, n),
            ),
            (
                "rows, transposed",
                Operand::rows(&a, k),
                Operand::transposed(&b_t, k),
            ),
        ] {
            let got = product(m, k, n, a, b);
            assert_close(
                &format!("[{m}, {k}] x [{k}, {n}], {layout}"),
                &got,
                &want,
                1e-6,
            );
        }
    }
    // [3, 4] x [4, 3] from exactly 12 values each: accepted; one value fewer: refused.
    let (a, b) = (vec![1.0; 12], vec![1.0; 12]);
    let exact = product(3, 4, 3, Operand::rows(&a, 4), Operand::rows(&b, 3));
    assert_eq!(exact, [4.0; 9]);
    for (what, a, b) in [
        (
            "a short first operand",
            Operand::rows(&a[..11], 4),
            Operand::rows(&b, 3),
        ),
        (
            "a short second operand",
            Operand::rows(&a, 4),
            Operand::rows(&b[..11], 3),
        ),
        (
            "a short transposed operand",
            Operand::transposed(&a[..11], 3),
            Operand::rows(&b, 3),
        ),
    ] {
        let message = panic_message(|| {
            product(3, 4, 3, a, b);
        })
        .unwrap_or_else(|| panic!("{what} was accepted"));
        assert!(message.contains("operand sizes"), "{what}: {message}");
    }
}

/// RMSProp through the composed Burn ops, as a Burn optimiser: the reference for the fused
/// update.
#[derive(Clone)]
struct ComposedRmsProp(RmsPropRule, RmsPropSettings);

impl SimpleOptimizer<B> for ComposedRmsProp {
    type State<const D: usize> = mnist_autoencoder::optim::Tf1RmsPropState<B, D>;

    fn step<const D: usize>(
        &self,
        lr: f64,
        tensor: Tensor<B, D>,
        grad: Tensor<B, D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<B, D>, Option<Self::State<D>>) {
        let s = &self.1;
        let hyper = RmsPropHyper {
            rule: self.0,
            learning_rate: lr,
            alpha: s.alpha,
            momentum: s.momentum,
            epsilon: s.epsilon,
            centered: s.centered,
        };
        let tensors = RmsPropTensors {
            param: primitive(tensor),
            square: state.as_ref().map(|s| primitive(s.mean_square.clone())),
            mean_grad: state
                .as_ref()
                .and_then(|s| s.mean_grad.clone().map(primitive)),
            momentum: state.and_then(|s| s.momentum.map(primitive)),
        };
        let next = composed::rmsprop::<B>(hyper, tensors, primitive(grad));
        let state = mnist_autoencoder::optim::Tf1RmsPropState {
            mean_square: float(next.square.unwrap()),
            mean_grad: next.mean_grad.map(float),
            momentum: next.momentum.map(float),
        };
        (float(next.param), Some(state))
    }

    fn to_device<const D: usize>(
        state: Self::State<D>,
        _device: &burn::tensor::Device<B>,
    ) -> Self::State<D> {
        state
    }
}

/// Losses of `steps` training steps and the final weights.
fn train<O: Optimizer<Autoencoder<AB>, AB>>(
    mut model: Autoencoder<AB>,
    mut optim: O,
    fused: bool,
    lr: f64,
) -> (Vec<f32>, Vec<f32>) {
    let mut losses = Vec::new();
    for step in 0..6 {
        let x: Tensor<AB, 2> = input(
            if step % 2 == 0 {
                Input::Digits
            } else {
                Input::Dense
            },
            20,
        );
        let loss = if fused {
            model.loss(x)
        } else {
            model.loss_composed(x)
        };
        losses.push(loss.clone().into_scalar().elem::<f32>());
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(lr, model, grads);
    }
    let mut weights = Vec::new();
    for linear in model.tutorial_layers().unwrap() {
        weights.extend(values(linear.weight.val()));
        weights.extend(values(linear.bias.as_ref().unwrap().val()));
    }
    (losses, weights)
}

fn training_steps_of_the_fused_path_match_the_composed_one() {
    // TF1's mean square starts at one, so its step is about lr * g: a large rate for it.
    let cases = [
        (
            RmsPropRule::Tf1,
            RmsPropSettings {
                alpha: 0.9,
                momentum: 0.0,
                epsilon: 1e-10,
                centered: false,
            },
            2.0,
        ),
        (
            RmsPropRule::Tf1,
            RmsPropSettings {
                alpha: 0.5,
                momentum: 0.5,
                epsilon: 0.01,
                centered: true,
            },
            2.0,
        ),
        (
            RmsPropRule::Burn,
            RmsPropSettings {
                alpha: 0.99,
                momentum: 0.9,
                epsilon: 1e-10,
                centered: false,
            },
            3e-4,
        ),
        (
            RmsPropRule::Burn,
            RmsPropSettings {
                alpha: 0.7,
                momentum: 0.3,
                epsilon: 0.01,
                centered: true,
            },
            0.05,
        ),
    ];
    for (rule, settings, lr) in cases {
        let device = Default::default();
        AB::seed(&device, 5);
        let model: Autoencoder<AB> =
            AutoencoderConfig::from_settings(32, Init::Xavier).init(&device);
        let (fused_losses, fused_weights) = match rule {
            RmsPropRule::Tf1 => train(model.clone(), settings.tf1().init(), true, lr),
            RmsPropRule::Burn => train(model.clone(), settings.burn().init(), true, lr),
        };
        let composed =
            burn::optim::adaptor::OptimizerAdaptor::from(ComposedRmsProp(rule, settings.clone()));
        let (losses, weights) = train(model.clone(), composed, false, lr);
        let what = format!("{rule:?} {settings:?}");
        assert_close(&format!("{what}: losses"), &fused_losses, &losses, 1e-5);
        assert_close(&format!("{what}: weights"), &fused_weights, &weights, 1e-5);
        // The steps moved the weights well past the tolerance.
        let mut start = Vec::new();
        for linear in model.tutorial_layers().unwrap() {
            start.extend(values(linear.weight.val()));
            start.extend(values(linear.bias.as_ref().unwrap().val()));
        }
        let moved = start
            .iter()
            .zip(&weights)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(moved > 1e-3, "{what}: the weights moved only {moved}");
    }
}

/// A checkpoint of Burn's own RMSProp (`burn::optim::RmsProp`, as runs before the fused
/// optimiser saved them) loads into the fused one, which then takes the step Burn's would.
fn a_burn_rmsprop_checkpoint_loads_into_the_fused_optimiser() {
    let device = Default::default();
    AB::seed(&device, 9);
    let model: Autoencoder<AB> = AutoencoderConfig::from_settings(16, Init::Xavier).init(&device);
    let batch = || input::<AB>(Input::Digits, 10);
    // Digits are the same every time they are drawn; a random batch would not be.
    let step = |model: &Autoencoder<AB>| {
        GradientsParams::from_grads(model.loss_composed(batch()).backward(), model)
    };
    let settings = RmsPropSettings {
        alpha: 0.9,
        momentum: 0.5,
        epsilon: 1e-8,
        centered: true,
    };
    let burn_config = burn::optim::RmsPropConfig::new()
        .with_alpha(settings.alpha)
        .with_momentum(settings.momentum)
        .with_epsilon(settings.epsilon)
        .with_centered(settings.centered);
    let mut burns = burn_config.init::<AB, Autoencoder<AB>>();
    let model = burns.step(1e-3, model.clone(), step(&model));

    let recorder = NamedMpkBytesRecorder::<FullPrecisionSettings>::default();
    let bytes = Recorder::<AB>::record(&recorder, burns.to_record(), ()).unwrap();
    let mut ours = settings.burn().init::<AB, Autoencoder<AB>>();
    ours = ours.load_record(Recorder::<AB>::load(&recorder, bytes, &device).unwrap());

    // The same gradients for both: computed twice from the same model and batch.
    let by_burn = burns.step(1e-3, model.clone(), step(&model));
    let by_ours = ours.step(1e-3, model.clone(), step(&model));
    let weights = |m: &Autoencoder<AB>| {
        [
            values(m.tutorial_layers().unwrap()[0].weight.val()),
            values(m.tutorial_layers().unwrap()[1].weight.val()),
        ]
        .concat()
    };
    assert_close("second step", &weights(&by_ours), &weights(&by_burn), 1e-6);
    assert_eq!(by_ours.num_params(), by_burn.num_params());
}

/// NaN and infinity propagate through the fused ops as IEEE arithmetic says, as through the
/// composed ones: a zero pixel times a NaN or infinite weight is NaN, though the zero-skipping
/// products never multiply by zeros. Every output holds NaN in the same places.
fn non_finite_weights_give_nan_where_the_composed_ops_do() {
    let device = device();
    // Mostly zero pixels (the zero-skipping products), pixel 5 zero in every image.
    let x = input::<B>(Input::Digits, 16);
    let x = x
        .clone()
        .slice_assign([0..16, 5..6], Tensor::zeros([16, 1], &device));
    // NaN, infinite or finite, value by value.
    let nan_or_not = |values: &[f32]| {
        let kind = |v: &f32| (v.is_nan(), v.is_infinite());
        values.iter().map(kind).collect::<Vec<_>>()
    };
    // 40 units: the weights copied into blocks; 256: with AVX-512, read in place.
    for (h, poison) in [
        (40, f32::NAN),
        (40, f32::INFINITY),
        (256, f32::NAN),
        (256, f32::INFINITY),
    ] {
        let mut w = values(drawn::<B>([784, h], 9));
        w[5 * h + 7] = poison;
        let weight = Tensor::<B, 2>::from_data(TensorData::new(w, [784, h]), &device);
        let bias = Tensor::<B, 1>::zeros([h], &device);
        let fused = values(float::<B, 2>(B::linear_activation(
            primitive(x.clone()),
            primitive(weight.clone()),
            primitive(bias.clone()),
            Activation::Sigmoid,
        )));
        let composed = values(composed::linear(
            x.clone(),
            weight.clone(),
            bias,
            Activation::Sigmoid,
        ));
        assert_eq!(
            nan_or_not(&fused),
            nan_or_not(&composed),
            "{poison} forward, {h} units"
        );
        assert!(
            fused.iter().skip(7).step_by(h).all(|v| v.is_nan()),
            "column 7"
        );
        assert!(fused.iter().any(|v| v.is_finite()), "the other columns");

        // The weight gradient xᵀ · dz, with the poison in dz (the other operand).
        let y = float::<B, 2>(B::linear_activation(
            primitive(x.clone()),
            primitive(drawn::<B>([784, h], 3)),
            primitive(Tensor::<B, 1>::zeros([h], &device)),
            Activation::Sigmoid,
        ));
        let mut dy = values(drawn::<B>([16, h], 4));
        dy[2 * h + 11] = poison;
        let dy = Tensor::<B, 2>::from_data(TensorData::new(dy, [16, h]), &device);
        let grads = B::linear_activation_backward(
            primitive(x.clone()),
            primitive(drawn::<B>([784, h], 3)),
            primitive(y.clone()),
            primitive(dy.clone()),
            Activation::Sigmoid,
            false,
        );
        let (_, want, _) = composed::linear_backward(
            x.clone(),
            drawn::<B>([784, h], 3),
            y,
            dy,
            Activation::Sigmoid,
            false,
        );
        let got = values(float::<B, 2>(grads.weight));
        assert_eq!(
            nan_or_not(&got),
            nan_or_not(&values(want)),
            "{poison} gradient, {h} units"
        );
        let column: Vec<&f32> = got.iter().skip(11).step_by(h).collect();
        assert!(column.iter().all(|v| !v.is_finite()), "column 11");
        // The pixels that are zero in image 2 give NaN, not a skipped 0.
        assert!(column.iter().any(|v| v.is_nan()), "column 11");
    }
}

/// Every kernel of every product the planner may choose, on every instruction set this
/// processor has (the narrower ones by capping the kernels), against Burn's composed ops; and
/// the same bits whatever the instruction set.
#[cfg(not(feature = "wgpu"))]
fn every_kernel_of_every_product_matches_the_composed_ops() {
    use mnist_autoencoder::simd::{self, Simd};

    struct Uncap;
    impl Drop for Uncap {
        fn drop(&mut self) {
            simd::cap_simd(Simd::Avx512);
        }
    }
    let _uncap = Uncap;
    // Narrower than one block of the zero-skipping sums (64 columns with AVX2, 128 with
    // AVX-512), two AVX2 blocks (one AVX-512 block) and a part of one, and whole blocks only
    // (with AVX-512 read in place, not copied, in every product that skips zeros).
    for h in [40, 150, 256] {
        every_kernel_at(24, 784, h);
    }
}

/// [`every_kernel_of_every_product_matches_the_composed_ops`] for `[n, k]` images through a
/// layer of `h` units.
#[cfg(not(feature = "wgpu"))]
fn every_kernel_at(n: usize, k: usize, h: usize) {
    use mnist_autoencoder::fused::cpu::{forward, input_gradient, weight_gradient};
    use mnist_autoencoder::fused::plan::{Kernel, Product};
    use mnist_autoencoder::simd::{self, Simd};

    let data = |x: Tensor<B, 2>| values(x);
    let (w, bias, g) = (
        drawn::<B>([k, h], 21),
        drawn::<B>([1, h], 22).reshape([h]),
        drawn::<B>([n, h], 23),
    );
    let cases = [(Input::Digits, true), (Input::Dense, false)];
    let mut first: Vec<Vec<f32>> = Vec::new();
    for widest in [Simd::Avx512, Simd::Avx2, Simd::Baseline] {
        if widest > simd::detected() {
            continue;
        }
        simd::cap_simd(widest);
        let mut outputs = Vec::new();
        for (kind, images) in cases {
            let x = input::<B>(kind, n);
            let composed_forward = values(composed::linear(
                x.clone(),
                w.clone(),
                bias.clone(),
                Activation::Sigmoid,
            ));
            let composed_weights = values(x.clone().transpose().matmul(g.clone()));
            let composed_input = values(g.clone().matmul(w.clone().transpose()));
            for kernel in Kernel::ALL {
                let product = if images {
                    Product::ImagesWeights
                } else {
                    Product::CodeWeights
                };
                if !kernel.computes(product) {
                    continue;
                }
                let what = format!("{widest:?} {kernel:?} {kind:?} hidden {h}");
                let y = forward(
                    kernel,
                    &data(x.clone()),
                    [n, k],
                    &data(w.clone()),
                    &values(bias.clone()),
                    Activation::Sigmoid,
                );
                assert_close(&format!("{what} forward"), &y, &composed_forward, 1e-5);
                let dw = weight_gradient(kernel, &data(x.clone()), [n, k], &data(g.clone()), h);
                assert_close(&format!("{what} weights"), &dw, &composed_weights, 1e-5);
                let dx = input_gradient(kernel, &data(g.clone()), n, &data(w.clone()), k);
                assert_close(&format!("{what} input"), &dx, &composed_input, 1e-5);
                outputs.extend([y, dw, dx]);
            }
        }
        if first.is_empty() {
            first = outputs;
        } else {
            assert!(
                first == outputs,
                "{widest:?} computes other bits than the widest set at hidden {h}"
            );
        }
    }
}

/// `[n, c, h, w]` values of [`drawn`].
fn drawn4<X: Backend>(shape: [usize; 4], seed: u64) -> Tensor<X, 4> {
    let [n, c, h, w] = shape;
    drawn::<X>([n * c, h * w], seed).reshape(shape)
}

/// ndarray's convolution kernels against Burn's ops (ndarray's `conv2d` and the backward
/// passes Burn's autodiff uses), for both paddings, every activation, odd and non-square
/// sides, one image to more than a thread's share, an upsampled input, and with and without
/// the input's gradient.
#[cfg(feature = "ndarray")]
fn the_convolution_kernels_match_burns_ops() {
    type Cpu = burn::backend::NdArray<f32>;
    let seed = std::cell::Cell::new(100);
    let random = |shape: [usize; 4]| {
        seed.set(seed.get() + 1);
        drawn4::<Cpu>(shape, seed.get())
    };
    // (images, channels, height, width, filters, padding, upsampled): height and width as
    // stored, the convolution reads twice them when upsampled.
    let cases = [
        (1, 1, 3, 3, 1, 1, false),
        (3, 1, 7, 5, 2, 1, false),
        (2, 3, 6, 6, 4, 0, false),
        (2, 2, 9, 7, 3, 0, false),
        (17, 3, 28, 28, 4, 1, false),
        // One filter: the direct sums (blocks of 64 positions and what is left over).
        (3, 32, 28, 28, 1, 1, false),
        (5, 4, 9, 11, 1, 0, false),
        (2, 3, 13, 10, 1, 1, false),
        // Of the input's upsampling: through the patch matrix and directly.
        (3, 4, 7, 7, 5, 1, true),
        (2, 3, 5, 4, 2, 0, true),
        (2, 32, 14, 14, 1, 1, true),
        (3, 2, 3, 5, 1, 0, true),
    ];
    for (n, c, h, w, o, padding, upsampled) in cases {
        let input = ConvInput { padding, upsampled };
        let x = random([n, c, h, w]);
        let weight = random([o, c, 3, 3]).div_scalar(((c * 9) as f32).sqrt());
        let bias = random([1, 1, 1, o]).reshape([o]);
        for activation in [Activation::Linear, Activation::Relu, Activation::Sigmoid] {
            let what = format!(
                "[{n}, {c}, {h}, {w}] * [{o}, {c}, 3, 3], padding {padding}, upsampled {upsampled}, {activation}"
            );
            let y: Tensor<Cpu, 4> = float(Cpu::conv2d_activation(
                primitive(x.clone()),
                primitive(weight.clone()),
                primitive(bias.clone()),
                input,
                activation,
            ));
            let want = composed::conv2d(x.clone(), weight.clone(), bias.clone(), input, activation);
            assert_eq!(y.dims(), want.dims(), "{what}: output shape");
            assert_close(
                &format!("{what}: y"),
                &values(y.clone()),
                &values(want),
                1e-5,
            );
            let dy = random(y.dims());
            for input_grad in [true, false] {
                let got = Cpu::conv2d_activation_backward(
                    primitive(x.clone()),
                    primitive(weight.clone()),
                    primitive(y.clone()),
                    primitive(dy.clone()),
                    (input, activation),
                    input_grad,
                );
                let (input, dw, db) = composed::conv2d_backward(
                    x.clone(),
                    weight.clone(),
                    y.clone(),
                    dy.clone(),
                    (input, activation),
                    input_grad,
                );
                assert_eq!(
                    got.input.is_some(),
                    input_grad,
                    "{what}: input gradient asked for"
                );
                if let (Some(got), Some(want)) = (got.input, input) {
                    assert_close(
                        &format!("{what}: dx"),
                        &values(float::<Cpu, 4>(got)),
                        &values(want),
                        1e-5,
                    );
                }
                assert_close(
                    &format!("{what}: dW"),
                    &values(float::<Cpu, 4>(got.weight)),
                    &values(dw),
                    1e-5,
                );
                assert_close(
                    &format!("{what}: db"),
                    &values(float::<Cpu, 1>(got.bias)),
                    &values(db),
                    1e-5,
                );
            }
        }
    }
}

/// ndarray's convolution with its max pooling (the convolution's output never stored) against
/// Burn's convolution then max pooling, both ways: odd output sides (ceil pooling), one filter
/// (the direct sums), an upsampled input, each activation, with and without the input's
/// gradient.
#[cfg(feature = "ndarray")]
fn the_pooled_convolution_matches_conv_then_pool() {
    type Cpu = burn::backend::NdArray<f32>;
    let seed = std::cell::Cell::new(300);
    let random = |shape: [usize; 4]| {
        seed.set(seed.get() + 1);
        drawn4::<Cpu>(shape, seed.get())
    };
    // (images, channels, height, width, filters, padding, upsampled), as stored.
    let cases = [
        (3, 1, 28, 28, 4, 1, false),
        (2, 3, 7, 7, 5, 1, false),
        (17, 2, 9, 6, 3, 0, false),
        (2, 4, 7, 5, 1, 1, false),
        (2, 3, 4, 3, 2, 1, true),
    ];
    // A zero input makes every square's values equal: the first of them (row by row) takes
    // the gradient, as Burn's pooling has it.
    let inputs = cases
        .into_iter()
        .flat_map(|case| [(case, false), (case, true)]);
    for ((n, c, h, w, o, padding, upsampled), zero) in inputs {
        let input = ConvInput { padding, upsampled };
        let x = if zero {
            Tensor::zeros([n, c, h, w], &Default::default())
        } else {
            random([n, c, h, w])
        };
        let weight = random([o, c, 3, 3]).div_scalar(((c * 9) as f32).sqrt());
        let bias = random([1, 1, 1, o]).reshape([o]);
        for activation in [Activation::Linear, Activation::Relu, Activation::Sigmoid] {
            let what = format!(
                "[{n}, {c}, {h}, {w}] (zero {zero}) * [{o}, {c}, 3, 3], {input:?}, {activation}"
            );
            let (pooled, kept) = Cpu::conv2d_activation_pooled(
                primitive(x.clone()),
                primitive(weight.clone()),
                primitive(bias.clone()),
                input,
                activation,
            );
            let pooled: Tensor<Cpu, 4> = float(pooled);
            let y = composed::conv2d(x.clone(), weight.clone(), bias.clone(), input, activation);
            let want = composed::max_pool(y.clone());
            assert_eq!(pooled.dims(), want.dims(), "{what}: pooled shape");
            assert_close(
                &format!("{what}: pooled"),
                &values(pooled.clone()),
                &values(want),
                1e-5,
            );
            let dy = random(pooled.dims());
            for input_grad in [true, false] {
                let got = Cpu::conv2d_activation_pooled_backward(
                    (primitive(x.clone()), primitive(weight.clone())),
                    (primitive(pooled.clone()), kept.clone()),
                    primitive(dy.clone()),
                    (input, activation),
                    input_grad,
                );
                let dy_full = composed::max_pool_backward(y.clone(), dy.clone());
                let (dx, dw, db) = composed::conv2d_backward(
                    x.clone(),
                    weight.clone(),
                    y.clone(),
                    dy_full,
                    (input, activation),
                    input_grad,
                );
                assert_eq!(got.input.is_some(), input_grad, "{what}: input gradient");
                if let (Some(got), Some(want)) = (got.input, dx) {
                    let got = values(float::<Cpu, 4>(got));
                    assert_close(&format!("{what}: dx"), &got, &values(want), 1e-5);
                }
                let got_dw = values(float::<Cpu, 4>(got.weight));
                assert_close(&format!("{what}: dW"), &got_dw, &values(dw), 1e-5);
                let got_db = values(float::<Cpu, 1>(got.bias));
                assert_close(&format!("{what}: db"), &got_db, &values(db), 1e-5);
            }
        }
    }
}

/// The convolutional kind's loss and the gradient of every parameter, through the fused ops
/// and through Burn's (its `Conv2d`, max pooling and autodiff), from the same weights: Keras's
/// shape (a pooling of odd sides, 7 to 4, and a decoder convolution without padding) under
/// the cross-entropy, and the denoising one's under the squared error.
fn the_conv_kind_matches_burns_ops() {
    use mnist_autoencoder::model::{Loss, ModelKind};
    for (channels, loss) in [(vec![3, 2, 2], Loss::Bce), (vec![2, 2], Loss::Mse)] {
        let mut model: Autoencoder<AB> = crate::common::keras_model(ModelKind::Conv)
            .with_conv_channels(channels.clone())
            .with_loss(loss)
            .init(&Default::default());
        let Autoencoder::Conv(conv) = &mut model else {
            panic!("a convolutional model");
        };
        // Weights of Glorot's spread and small biases, the same in every run.
        let layers = conv
            .encoder
            .iter_mut()
            .chain(&mut conv.decoder)
            .chain([&mut conv.output]);
        for (i, layer) in layers.enumerate() {
            let [o, c, k, _] = layer.weight.val().dims();
            let spread = (6.0 / ((c + o) * k * k) as f32).sqrt() / 3f32.sqrt();
            let seed = 10 * i as u64;
            layer.weight = Param::from_tensor(drawn4([o, c, k, k], seed).mul_scalar(spread));
            let bias = drawn4([1, 1, 1, o], seed + 1).reshape([o]).mul_scalar(0.05);
            layer.bias = Some(Param::from_tensor(bias));
        }
        let Autoencoder::Conv(conv) = &model else {
            panic!("a convolutional model");
        };
        let layers: Vec<_> = conv
            .encoder
            .iter()
            .chain(&conv.decoder)
            .chain([&conv.output])
            .collect();
        let gradients = |fused: bool| {
            let x = input::<AB>(Input::Digits, 5);
            let loss = if fused {
                model.loss(x)
            } else {
                model.loss_composed(x)
            };
            let grads = loss.clone().backward();
            let mut all = vec![("loss".to_string(), values(loss))];
            for (i, layer) in layers.iter().enumerate() {
                let bias = layer.bias.as_ref().unwrap().val();
                all.push((
                    format!("layer {i} dW"),
                    values(layer.weight.val().grad(&grads).unwrap()),
                ));
                all.push((format!("layer {i} db"), values(bias.grad(&grads).unwrap())));
            }
            all
        };
        // Sums in another order part by a few units of 1e-6; Burn's autodiff of the composed
        // cross-entropy loses up to 3e-5 of the output's gradient (see above), which seven
        // layers' products carry to 2.3e-4 of the first layers' (measured).
        let tolerance = match loss {
            Loss::Bce => 5e-4,
            Loss::Mse => 2e-5,
        };
        for ((what, got), (_, want)) in gradients(true).into_iter().zip(gradients(false)) {
            assert_close(&what, &got, &want, tolerance);
        }
    }
}

crate::trials![
    #[cfg(not(feature = "wgpu"))]
    plain every_kernel_of_every_product_matches_the_composed_ops,
    plain non_finite_weights_give_nan_where_the_composed_ops_do,
    plain fused_values_and_gradients_match_burns_autodiff_of_the_composed_ops,
    plain the_fused_sigmoid_is_within_a_few_ulps_of_the_true_one,
    #[cfg(not(feature = "wgpu"))]
    plain the_fused_cross_entropy_is_the_float64_one,
    plain training_steps_of_the_fused_path_match_the_composed_one,
    plain a_burn_rmsprop_checkpoint_loads_into_the_fused_optimiser,
    #[cfg(feature = "ndarray")]
    plain the_ndarray_kernels_match_the_default_bodies,
    #[cfg(feature = "ndarray")]
    plain the_backward_pass_writes_over_its_own_output_gradient_only,
    plain the_fused_gradients_follow_a_scaled_loss,
    #[cfg(feature = "ndarray")]
    plain dense_products_match_a_plain_product_and_refuse_short_operands,
    #[cfg(feature = "ndarray")]
    plain the_convolution_kernels_match_burns_ops,
    #[cfg(feature = "ndarray")]
    plain the_pooled_convolution_matches_conv_then_pool,
    plain the_conv_kind_matches_burns_ops,
];
