//! The fused operations on Burn's ndarray backend: kernels on the tensors' own memory.
//!
//! A tensor's array is read in place when it is row-major and contiguous (as every tensor of
//! the training step is; others are copied once). Each operation writes one new array, or
//! updates its input in place when nothing else holds it (the optimiser's parameters and
//! state; a parameter the Learner still holds gets its new values over its gradient). Work is
//! split over the current rayon pool (see [`crate::backend`]), always at the same places for
//! the same shapes, so the results do not depend on timing.

pub mod conv;
mod direct;
pub mod kernels;
pub mod products;
pub mod team;
pub mod tune;

use std::mem::MaybeUninit;
use std::ops::Range;
use std::sync::RwLock;

use burn::backend::NdArray;
use burn::backend::ndarray::NdArrayTensor;
use burn::tensor::TensorMetadata;
use burn::tensor::ops::FloatTensor;
use ndarray::{ArcArray, Array, IxDyn};
use std::sync::Mutex;

use super::plan::{Kernel, Plan, Product};
use super::{
    Activation, ConvInput, FusedOps, LinearGrads, RmsPropHyper, RmsPropRule, RmsPropTensors,
};
use kernels::{ParamSlice, RmsPropScalars, RmsPropSlices};
use products::{BLOCK, Blocked, Dense, Library, Operand};
use team::written;

type Cpu = NdArray<f32>;

/// Values per thread below which a pass stays on one thread: a hand-over costs more.
const PER_THREAD: usize = 8 * 1024;

/// The array of an f32 tensor, row-major and contiguous.
fn array(tensor: NdArrayTensor) -> ArcArray<f32, IxDyn> {
    let NdArrayTensor::F32(storage) = tensor else {
        panic!(
            "the fused operations take f32 tensors, not {:?}",
            tensor.dtype()
        );
    };
    let array = storage.into_shared();
    if array.is_standard_layout() {
        array
    } else {
        array.as_standard_layout().into_owned().into_shared()
    }
}

fn slice(array: &ArcArray<f32, IxDyn>) -> &[f32] {
    array.as_slice().expect("standard layout")
}

/// `[rows, cols]` of a matrix.
fn dims(array: &ArcArray<f32, IxDyn>) -> [usize; 2] {
    match array.shape() {
        &[rows, cols] => [rows, cols],
        shape => panic!("a matrix was expected, not shape {shape:?}"),
    }
}

fn tensor(shape: &[usize], values: Vec<f32>) -> NdArrayTensor {
    let array = Array::from_shape_vec(IxDyn(shape), values).expect("values fill the shape");
    NdArrayTensor::from(array.into_shared())
}

/// How many parts to split `len` values into.
fn parts(len: usize) -> usize {
    (len / PER_THREAD).clamp(1, team::threads())
}

/// Runs `work(rows, chunk)` on chunks of `out` (`width` values a row, whole groups of `group`
/// rows), one per thread of the pool: for the products, whose work is far more than their
/// output's size.
fn by_rows<T: Send>(
    out: &mut [T],
    width: usize,
    group: usize,
    work: impl Fn(Range<usize>, &mut [T]) + Sync,
) {
    let width = width.max(1);
    let rows = out.len() / width;
    let per = rows.div_ceil(team::threads()).div_ceil(group).max(1) * group;
    team::chunks_mut(out, per * width, |i, chunk| {
        work(i * per..i * per + chunk.len() / width, chunk);
    });
}

/// The chunks of the mean square, mean gradient and momentum one task updates.
type StateChunks<'a> = (Vec<&'a mut [f32]>, Vec<&'a mut [f32]>, Vec<&'a mut [f32]>);

/// A pointer into an output that parallel tasks write disjoint parts of.
#[derive(Clone, Copy)]
struct SendPointer(*mut MaybeUninit<f32>);

// SAFETY: the tasks sharing it write disjoint elements.
unsafe impl Send for SendPointer {}
// SAFETY: as above.
unsafe impl Sync for SendPointer {}

impl SendPointer {
    /// The element `offset` values in.
    fn at(&self, offset: usize) -> *mut MaybeUninit<f32> {
        self.0.wrapping_add(offset)
    }
}

/// `count` chunks of `per` values of `array`, in place (copied first if it is shared); empty
/// chunks for an empty array.
fn chunks(array: &mut ArcArray<f32, IxDyn>, per: usize, count: usize) -> Vec<&mut [f32]> {
    let values = array.as_slice_mut().expect("standard layout");
    if values.is_empty() {
        (0..count).map(|_| <&mut [f32]>::default()).collect()
    } else {
        values.chunks_mut(per).collect()
    }
}

/// The plan the products follow (see [`FusedOps::use_plan`]).
static PLAN: RwLock<Plan> = RwLock::new(Plan::REFERENCE);

/// The current plan.
fn plan() -> Plan {
    *PLAN.read().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The kernel the current plan gives `product`.
fn kernel(product: Product) -> Kernel {
    plan().kernel(product)
}

/// Computes on this thread, and on the team's helpers, as the current plan says of subnormals:
/// called as each operation starts.
fn numeric_mode() {
    let flush = plan().flush_subnormals;
    let _ = kernels::flush_subnormals(flush);
    team::flush_subnormals(flush);
}

/// The dense product a kernel stands for (zero-skipping falls back to the reference one).
fn dense_kernel(kernel: Kernel) -> Dense {
    let (library, split) = match kernel {
        Kernel::SkipZeros | Kernel::SkipZerosAvx2 | Kernel::Gemm => (Library::Gemm, true),
        Kernel::GemmOneThread => (Library::Gemm, false),
        Kernel::GemmAvx512 => (Library::GemmAvx512, true),
        Kernel::GemmAvx512OneThread => (Library::GemmAvx512, false),
        Kernel::Matrixmultiply => (Library::Matrixmultiply, true),
        Kernel::MatrixmultiplyOneThread => (Library::Matrixmultiply, false),
    };
    Dense { library, split }
}

/// `activation(x · w + bias)` (`[n, h]`) for x `[n, k]`, w `[k, h]`, through `kernel`: the
/// forward product of a layer.
pub fn forward(
    kernel: Kernel,
    x: &[f32],
    [n, k]: [usize; 2],
    w: &[f32],
    bias: &[f32],
    activation: Activation,
) -> Vec<f32> {
    let skip_zeros = kernel.skips_zeros() && products::mostly_zeros(x);
    forward_as(kernel, skip_zeros, x, [n, k], w, bias, activation)
}

/// [`forward`], skipping `x`'s zeros or not as `skip_zeros` says (decided by the caller, who
/// has counted them), else through `kernel`'s dense product.
fn forward_as(
    kernel: Kernel,
    skip_zeros: bool,
    x: &[f32],
    [n, k]: [usize; 2],
    w: &[f32],
    bias: &[f32],
    activation: Activation,
) -> Vec<f32> {
    let h = bias.len();
    if skip_zeros {
        // Split by columns: each thread blocks and reads only its part of the weights, which
        // then stays in its own core's cache.
        let per = h.div_ceil(BLOCK).div_ceil(team::threads()) * BLOCK;
        return written(n * h, |out| {
            let out = SendPointer(out.as_mut_ptr());
            team::split(h.div_ceil(per), |part| {
                let columns = part * per..((part + 1) * per).min(h);
                let w = Blocked::columns(w, h, columns.clone(), kernel);
                let mut rows: Vec<&mut [MaybeUninit<f32>]> = (0..n)
                    // SAFETY: this task alone touches these columns of `out`, so the row parts
                    // it makes overlap nothing another task holds.
                    .map(|r| unsafe {
                        std::slice::from_raw_parts_mut(out.at(r * h + columns.start), columns.len())
                    })
                    .collect();
                products::sparse_rows(x, k, &w, &bias[columns], &mut rows, activation);
            });
        });
    }
    written(n * h, |out| {
        let (x, w) = (Operand::rows(x, k), Operand::rows(w, h));
        products::dense_with(dense_kernel(kernel), n, k, h, x, w, out, &|row, start| {
            kernels::bias_activation(row, &bias[start..start + row.len()], activation);
        });
    })
}

/// `xᵀ · g` (`[k, h]`) for x `[n, k]` and g `[n, h]`, through `kernel`: a weight gradient.
pub fn weight_gradient(
    kernel: Kernel,
    x: &[f32],
    [n, k]: [usize; 2],
    g: &[f32],
    h: usize,
) -> Vec<f32> {
    let skip_zeros = kernel.skips_zeros() && products::mostly_zeros(x);
    weight_gradient_as(kernel, skip_zeros, x, [n, k], g, h)
}

/// [`weight_gradient`], skipping `x`'s zeros or not as `skip_zeros` says (decided by the
/// caller, who has counted them), else through `kernel`'s dense product.
fn weight_gradient_as(
    kernel: Kernel,
    skip_zeros: bool,
    x: &[f32],
    [n, k]: [usize; 2],
    g: &[f32],
    h: usize,
) -> Vec<f32> {
    written(k * h, |out| {
        if skip_zeros {
            let g = Blocked::columns(g, h, 0..h, kernel);
            by_rows(out, h, products::GROUP, |columns, out| {
                products::sparse_columns(x, k, &g, columns, out);
            });
        } else {
            let (x, g) = (Operand::transposed(x, k), Operand::rows(g, h));
            products::dense_with(dense_kernel(kernel), k, n, h, x, g, out, &|_, _| {});
        }
    })
}

/// `g · wᵀ` (`[n, k]`) for g `[n, h]` and w `[k, h]`, through `kernel`: an input gradient.
pub fn input_gradient(kernel: Kernel, g: &[f32], n: usize, w: &[f32], k: usize) -> Vec<f32> {
    let h = w.len() / k.max(1);
    written(n * k, |dx| {
        let (g, w) = (Operand::rows(g, h), Operand::transposed(w, h));
        products::dense_with(dense_kernel(kernel), n, h, k, g, w, dx, &|_, _| {});
    })
}

/// The sizes of a convolution of `x` `[images, channels, height, width]` (or of its 2x
/// upsampling, as `input` says) by `weight` `[filters, channels, kernel, kernel]`.
fn geometry(
    x: &ArcArray<f32, IxDyn>,
    weight: &ArcArray<f32, IxDyn>,
    input: ConvInput,
) -> conv::Geometry {
    let (&[images, channels, height, width], &[filters, weight_channels, kh, kw]) =
        (x.shape(), weight.shape())
    else {
        panic!(
            "a convolution takes 4-D input and weight, not {:?} and {:?}",
            x.shape(),
            weight.shape()
        );
    };
    assert_eq!(channels, weight_channels, "input and weight channels");
    assert_eq!(kh, kw, "a square kernel");
    let scale = if input.upsampled { 2 } else { 1 };
    conv::Geometry {
        images,
        channels,
        height: scale * height,
        width: scale * width,
        filters,
        kernel: kh,
        padding: input.padding,
        upsampled: input.upsampled,
    }
}

/// The shape of a convolution's output after a 2x2 max pooling.
fn pooled_shape(g: &conv::Geometry) -> [usize; 4] {
    let [h, w] = g.output();
    [g.images, g.filters, h.div_ceil(2), w.div_ceil(2)]
}

/// The kernel of a forward pass or weight gradient of `x`, and whether it skips `x`'s zeros:
/// the images' product's kernel where `x` is mostly zeros, else the code's. `x` is counted
/// here once, not again by the product, and only where the answer changes the kernel.
fn kernel_of(plan: Plan, x: &[f32], images: Product, code: Product) -> (Kernel, bool) {
    let (for_images, for_code) = (plan.kernel(images), plan.kernel(code));
    if for_images == for_code {
        // The same kernel either way, a dense one (the code's products have no zeros to skip).
        (for_code, false)
    } else if products::mostly_zeros(x) {
        (for_images, for_images.skips_zeros())
    } else {
        (for_code, false)
    }
}

/// An RMSProp state array, to update in place (copied first only if something else holds it):
/// a new one (`state` none) holds the rule's starting value `start`, an empty one stands for
/// what the settings keep none of (`used` false).
fn state_array(
    state: Option<FloatTensor<Cpu>>,
    used: bool,
    start: f32,
    shape: &[usize],
) -> ArcArray<f32, IxDyn> {
    match (state, used) {
        (Some(t), true) => array(t),
        (None, true) => Array::from_elem(IxDyn(shape), start).into_shared(),
        (_, false) => Array::zeros(IxDyn(&[0])).into_shared(),
    }
}

/// One RMSProp update of a parameter, part by part over the threads: each part `per` values
/// of the parameter, its gradient and its state.
struct RmsPropUpdate {
    scalars: RmsPropScalars,
    per: usize,
}

impl RmsPropUpdate {
    fn run(&self, params: Vec<ParamSlice<'_>>, (square, mean_grad, momentum): StateChunks<'_>) {
        // Each part takes its own slices, once.
        let parts: Vec<Mutex<Option<_>>> = (params.into_iter().zip(square))
            .zip(mean_grad.into_iter().zip(momentum))
            .map(|part| Mutex::new(Some(part)))
            .collect();
        team::split(parts.len(), |i| {
            let taken = parts[i].lock().map(|mut part| part.take());
            let Ok(Some(((param, square), (mean_grad, momentum)))) = taken else {
                unreachable!("each part runs once");
            };
            let slices = RmsPropSlices {
                param,
                square,
                mean_grad,
                momentum,
            };
            kernels::rmsprop(self.scalars, slices);
        });
    }

    /// Updates `param` with `grad` and `states` (each in chunks of `per`), and returns its new
    /// values: in its own array if nothing else holds it; else in the gradient's if nothing
    /// else holds that (Burn's Learner holds the model being optimised; the gradient is ours
    /// to spend); else in a new array.
    fn apply(
        &self,
        mut param: ArcArray<f32, IxDyn>,
        mut grad: ArcArray<f32, IxDyn>,
        states: StateChunks<'_>,
    ) -> NdArrayTensor {
        let count = param.len().div_ceil(self.per);
        if param.is_unique() {
            let grads = slice(&grad).chunks(self.per);
            let params = chunks(&mut param, self.per, count).into_iter().zip(grads);
            let params = params.map(|(param, grad)| ParamSlice::InPlace { param, grad });
            self.run(params.collect(), states);
            NdArrayTensor::from(param)
        } else if grad.is_unique() {
            let olds = slice(&param).chunks(self.per);
            let grads = olds.zip(chunks(&mut grad, self.per, count));
            let params = grads.map(|(old, grad)| ParamSlice::OverGrad { old, grad });
            self.run(params.collect(), states);
            NdArrayTensor::from(grad)
        } else {
            let (old, grad_values) = (slice(&param), slice(&grad));
            let new = written(param.len(), |new| {
                let params = (old.chunks(self.per).zip(grad_values.chunks(self.per)))
                    .zip(new.chunks_mut(self.per))
                    .map(|((old, grad), new)| ParamSlice::Copied { old, grad, new })
                    .collect();
                self.run(params, states);
            });
            tensor(param.shape(), new)
        }
    }
}

/// A pass that sums a loss over a block of values (in f64) and writes its gradient, times
/// the scale it is given.
type BlockLoss = fn(&[f32], &[f32], &mut [MaybeUninit<f32>], f32) -> f64;

/// The mean of a loss over every element (`[1]`) and its gradient with respect to `output`,
/// `factor / len` times what `block_loss` writes.
fn loss_with_gradient(
    output: FloatTensor<Cpu>,
    target: FloatTensor<Cpu>,
    factor: f64,
    block_loss: BlockLoss,
) -> (FloatTensor<Cpu>, FloatTensor<Cpu>) {
    numeric_mode();
    let (output, target) = (array(output), array(target));
    assert_eq!(output.shape(), target.shape(), "output and target shapes");
    let shape = output.shape().to_vec();
    let (output, target) = (slice(&output), slice(&target));
    let count = output.len();
    let scale = (factor / count as f64) as f32;
    // Fixed blocks, summed in order: the same total whatever the number of threads.
    const BLOCK: usize = 4096;
    let mut sums = vec![0f64; count.div_ceil(BLOCK)];
    // Whole blocks per part, as many parts as the values are worth.
    let per = count.div_ceil(parts(count)).div_ceil(BLOCK).max(1);
    let grad = written(count, |grad| {
        let sums = Mutex::new(&mut sums);
        team::chunks_mut(grad, per * BLOCK, |part, grad| {
            let first = part * per;
            let block_sums: Vec<f64> = grad
                .chunks_mut(BLOCK)
                .enumerate()
                .map(|(j, grad)| {
                    let start = (first + j) * BLOCK;
                    let range = start..start + grad.len();
                    block_loss(&output[range.clone()], &target[range], grad, scale)
                })
                .collect();
            let mut sums = sums.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            sums[first..first + block_sums.len()].copy_from_slice(&block_sums);
        });
    });
    let loss = (sums.iter().sum::<f64>() / count.max(1) as f64) as f32;
    (tensor(&[1], vec![loss]), tensor(&shape, grad))
}

impl FusedOps for Cpu {
    fn use_plan(plan: Plan) {
        *PLAN
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = plan;
    }

    fn linear_activation(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        activation: Activation,
    ) -> FloatTensor<Self> {
        numeric_mode();
        let (x, weight, bias) = (array(x), array(weight), array(bias));
        let ([n, k], [k_w, h]) = (dims(&x), dims(&weight));
        assert_eq!(k, k_w, "input width and weight rows");
        assert_eq!(bias.len(), h, "bias length");
        let (x, w, bias) = (slice(&x), slice(&weight), slice(&bias));
        let (chosen, skip_zeros) =
            kernel_of(plan(), x, Product::ImagesWeights, Product::CodeWeights);
        let y = forward_as(chosen, skip_zeros, x, [n, k], w, bias, activation);
        tensor(&[n, h], y)
    }

    fn linear_activation_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        y: FloatTensor<Self>,
        dy: FloatTensor<Self>,
        activation: Activation,
        input_grad: bool,
    ) -> LinearGrads<Self> {
        numeric_mode();
        let (x, weight, y, dy) = (array(x), array(weight), array(y), array(dy));
        let ([n, k], [_, h]) = (dims(&x), dims(&weight));
        assert_eq!(dims(&y), [n, h], "output shape");
        assert_eq!(dims(&dy), [n, h], "output gradient shape");
        // dz in place of dy, whose values the pass has just read: a new array would be written
        // to memory out of the cache (about 2 % of an epoch). (ArcArray copies on write, as for
        // the RMSProp state: only when dy is shared.) dz first, one contiguous run per thread;
        // then its column sums, the bias gradient, by blocks of columns, each sum over all rows
        // in one order. One pass doing both by blocks of columns, each thread a short piece of
        // every row, took 2.4 % more of an epoch (docs/results.md).
        let mut dz = dy;
        let parts = parts(n * h);
        let values = dz.as_slice_mut().expect("standard layout");
        let y = slice(&y);
        let per = values.len().div_ceil(parts).max(1);
        team::chunks_mut(values, per, |i, chunk| {
            let start = i * per;
            kernels::activation_backward(chunk, &y[start..start + chunk.len()], activation);
        });
        let values: &[f32] = values;
        let mut bias = vec![0f32; h];
        let columns = h.div_ceil(parts).div_ceil(16).max(1) * 16;
        team::chunks_mut(&mut bias, columns, |i, sums| {
            kernels::column_sums(values, h, i * columns, sums);
        });
        let dz = slice(&dz);
        let input = input_grad.then(|| {
            let dx = input_gradient(kernel(Product::GradientWeights), dz, n, slice(&weight), k);
            tensor(&[n, k], dx)
        });
        let x = slice(&x);
        let (chosen, skip_zeros) =
            kernel_of(plan(), x, Product::ImagesGradient, Product::CodeGradient);
        let dw = weight_gradient_as(chosen, skip_zeros, x, [n, k], dz, h);
        LinearGrads {
            input,
            weight: tensor(&[k, h], dw),
            bias: tensor(&[h], bias),
        }
    }

    fn conv2d_activation(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        input: ConvInput,
        activation: Activation,
    ) -> FloatTensor<Self> {
        numeric_mode();
        let (x, weight, bias) = (array(x), array(weight), array(bias));
        let g = geometry(&x, &weight, input);
        assert_eq!(bias.len(), g.filters, "bias length");
        let [h, w] = g.output();
        let y = conv::forward(&g, slice(&x), slice(&weight), slice(&bias), activation);
        tensor(&[g.images, g.filters, h, w], y)
    }

    fn conv2d_activation_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        y: FloatTensor<Self>,
        dy: FloatTensor<Self>,
        (input, activation): (ConvInput, Activation),
        input_grad: bool,
    ) -> LinearGrads<Self> {
        numeric_mode();
        let (x, weight, y, dy) = (array(x), array(weight), array(y), array(dy));
        let g = geometry(&x, &weight, input);
        let [h, w] = g.output();
        let out_shape = [g.images, g.filters, h, w];
        assert_eq!(y.shape(), out_shape, "output shape");
        assert_eq!(dy.shape(), out_shape, "output gradient shape");
        let values = (slice(&x), slice(&weight), slice(&y), slice(&dy));
        let (input, dw, bias) = conv::backward(&g, values, activation, input_grad);
        LinearGrads {
            input: input.map(|dx| tensor(x.shape(), dx)),
            weight: tensor(weight.shape(), dw),
            bias: tensor(&[g.filters], bias),
        }
    }

    fn conv2d_activation_pooled(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        input: ConvInput,
        activation: Activation,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        numeric_mode();
        let (x, weight, bias) = (array(x), array(weight), array(bias));
        let g = geometry(&x, &weight, input);
        assert_eq!(bias.len(), g.filters, "bias length");
        let shape = pooled_shape(&g);
        let (x, weight, bias) = (slice(&x), slice(&weight), slice(&bias));
        let (pooled, offsets) = conv::forward_pooled(&g, x, weight, bias, activation);
        (tensor(&shape, pooled), tensor(&shape, offsets))
    }

    /// `kept` is [`FusedOps::conv2d_activation_pooled`]'s offsets of the squares' largest
    /// values.
    fn conv2d_activation_pooled_backward(
        (x, weight): (FloatTensor<Self>, FloatTensor<Self>),
        (pooled, kept): (FloatTensor<Self>, FloatTensor<Self>),
        dy: FloatTensor<Self>,
        (input, activation): (ConvInput, Activation),
        input_grad: bool,
    ) -> LinearGrads<Self> {
        numeric_mode();
        let (x, weight) = (array(x), array(weight));
        let (pooled, offsets, dy) = (array(pooled), array(kept), array(dy));
        let g = geometry(&x, &weight, input);
        let shape = pooled_shape(&g);
        assert_eq!(pooled.shape(), shape, "pooled output shape");
        assert_eq!(offsets.shape(), shape, "pooling offsets shape");
        assert_eq!(dy.shape(), shape, "pooled gradient shape");
        let gradient = (slice(&pooled), slice(&offsets), slice(&dy));
        let inputs = (slice(&x), slice(&weight));
        let (input, dw, bias) = conv::backward_pooled(&g, inputs, gradient, activation, input_grad);
        LinearGrads {
            input: input.map(|dx| tensor(x.shape(), dx)),
            weight: tensor(weight.shape(), dw),
            bias: tensor(&[g.filters], bias),
        }
    }

    fn mse_with_gradient(
        output: FloatTensor<Self>,
        target: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        loss_with_gradient(output, target, 2.0, kernels::squared_error)
    }

    fn bce_with_logits_with_gradient(
        logits: FloatTensor<Self>,
        target: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        loss_with_gradient(logits, target, 1.0, kernels::logistic_loss)
    }

    fn scale_by_scalar(grad: FloatTensor<Self>, upstream: FloatTensor<Self>) -> FloatTensor<Self> {
        let factor = slice(&array(upstream))[0];
        if factor == 1.0 {
            // The gradient of a loss that is itself the result: no pass needed.
            return grad;
        }
        let grad = array(grad);
        let shape = grad.shape().to_vec();
        let values = slice(&grad).iter().map(|g| g * factor).collect();
        tensor(&shape, values)
    }

    fn rmsprop(
        hyper: RmsPropHyper,
        state: RmsPropTensors<Self>,
        grad: FloatTensor<Self>,
    ) -> RmsPropTensors<Self> {
        numeric_mode();
        let grad = array(grad);
        let param = array(state.param);
        assert_eq!(param.shape(), grad.shape(), "parameter and gradient shapes");
        let shape = param.shape().to_vec();
        let tf1 = hyper.rule == RmsPropRule::Tf1;
        let start = if tf1 { 1.0 } else { 0.0 };
        let mut square = state_array(state.square, true, start, &shape);
        let mut mean_grad = state_array(state.mean_grad, hyper.centered, 0.0, &shape);
        let mut momentum = state_array(state.momentum, hyper.momentum > 0.0, 0.0, &shape);
        let update = RmsPropUpdate {
            scalars: RmsPropScalars::of(&hyper),
            per: param.len().div_ceil(parts(param.len())).max(1),
        };
        let count = param.len().div_ceil(update.per);
        let states = (
            chunks(&mut square, update.per, count),
            chunks(&mut mean_grad, update.per, count),
            chunks(&mut momentum, update.per, count),
        );
        let param = update.apply(param, grad, states);
        let kept = |a: ArcArray<f32, IxDyn>, used: bool| used.then(|| NdArrayTensor::from(a));
        RmsPropTensors {
            param,
            square: Some(NdArrayTensor::from(square)),
            mean_grad: kept(mean_grad, hyper.centered),
            momentum: kept(momentum, hyper.momentum > 0.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::kernel_of;
    use crate::fused::plan::{Kernel, Plan, Product};

    /// A product of the images gets the plan's kernel for the images where its operand is
    /// mostly zeros (skipping them if that kernel does), and the code's kernel elsewhere;
    /// alike for the forward pass and the weight gradient.
    #[test]
    fn an_operand_gets_the_kernel_of_what_it_is() {
        let digits: Vec<f32> = (0..784 * 4)
            .map(|i| if i % 5 < 4 { 0.0 } else { 0.5 })
            .collect();
        let dense = vec![0.5f32; 784 * 4];
        let pairs = [
            (Product::ImagesWeights, Product::CodeWeights),
            (Product::ImagesGradient, Product::CodeGradient),
        ];
        for (images, code) in [
            (Kernel::SkipZeros, Kernel::Gemm),
            (Kernel::Matrixmultiply, Kernel::Gemm),
            (Kernel::Gemm, Kernel::Gemm),
            (Kernel::SkipZeros, Kernel::GemmAvx512),
            (Kernel::SkipZerosAvx2, Kernel::Gemm),
        ] {
            let plan = Plan::new([images, code, code, code, images], true).expect("a plan");
            for (for_images, for_code) in pairs {
                let what = format!("{images:?} for the images, {code:?} for the code");
                let skips = images.skips_zeros();
                assert_eq!(
                    kernel_of(plan, &digits, for_images, for_code),
                    (images, skips),
                    "{what}: digits"
                );
                assert_eq!(
                    kernel_of(plan, &dense, for_images, for_code),
                    (code, false),
                    "{what}: dense"
                );
            }
        }
    }
}
