//! The fused operations under `Autodiff<B>`: each forward operation is one node of the graph,
//! whose backward calls the inner backend's fused backward.

use burn::backend::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::ops::FloatTensor;

use super::FusedOps;

/// `linear_sigmoid`'s node: it keeps its input, its weight and its output for the backward.
#[derive(Debug)]
struct LinearSigmoid;

impl<B: FusedOps> Backward<B, 3> for LinearSigmoid {
    type State = (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>);

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let [input, weight, bias] = ops.parents;
        let dy = grads.consume::<B>(&ops.node);
        let (x, w, y) = ops.state;
        // The first layer's input, the images, is not tracked: no product for its gradient.
        let computed = B::linear_sigmoid_backward(x, w, y, dy, input.is_some());
        if let (Some(node), Some(grad)) = (input, computed.input) {
            grads.register::<B>(node.id, grad);
        }
        if let Some(node) = weight {
            grads.register::<B>(node.id, computed.weight);
        }
        if let Some(node) = bias {
            grads.register::<B>(node.id, computed.bias);
        }
    }
}

/// The loss's node: it keeps the gradient the forward pass computed with the loss.
#[derive(Debug)]
struct MeanSquaredError;

impl<B: FusedOps> Backward<B, 1> for MeanSquaredError {
    type State = FloatTensor<B>;

    fn backward(
        self,
        ops: Ops<Self::State, 1>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let [output] = ops.parents;
        let upstream = grads.consume::<B>(&ops.node);
        if let Some(node) = output {
            grads.register::<B>(node.id, B::scale_by_scalar(ops.state, upstream));
        }
    }
}

impl<B: FusedOps, C: CheckpointStrategy> FusedOps for Autodiff<B, C> {
    fn use_plan(plan: super::plan::Plan) {
        B::use_plan(plan);
    }

    fn linear_sigmoid(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let nodes = [x.node.clone(), weight.node.clone(), bias.node.clone()];
        match LinearSigmoid.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let y = B::linear_sigmoid(
                    x.primitive.clone(),
                    weight.primitive.clone(),
                    bias.primitive,
                );
                prep.finish((x.primitive, weight.primitive, y.clone()), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::linear_sigmoid(
                x.primitive,
                weight.primitive,
                bias.primitive,
            )),
        }
    }

    /// The gradient with respect to `output` only: the target is data.
    fn mse_with_gradient(
        output: FloatTensor<Self>,
        target: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let node = output.node.clone();
        let (loss, grad) = B::mse_with_gradient(output.primitive, target.primitive);
        let loss = match MeanSquaredError
            .prepare::<C>([node])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish(grad.clone(), loss),
            OpsKind::UnTracked(prep) => prep.finish(loss),
        };
        (loss, Self::from_inner(grad))
    }
}
