//! The fused operations under `Autodiff<B>`: each forward operation is one node of the graph,
//! whose backward calls the inner backend's fused backward.

use burn::backend::Autodiff;
use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::ops::FloatTensor;

use super::{Activation, ConvInput, FusedOps, LinearGrads};

/// `linear`'s node: it keeps its input, its weight and its output for the backward.
#[derive(Debug)]
struct LinearNode(Activation);

impl<B: FusedOps> Backward<B, 3> for LinearNode {
    type State = LayerState<B>;

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
        let computed = B::linear_activation_backward(x, w, y, dy, self.0, input.is_some());
        register(
            grads,
            [input, weight, bias].map(|node| node.map(|n| n.id)),
            computed,
        );
    }
}

/// Hands a layer's gradients to its tracked parents: input, weight and bias.
fn register<B: FusedOps>(
    grads: &mut Gradients,
    [input, weight, bias]: [Option<NodeId>; 3],
    computed: LinearGrads<B>,
) {
    if let (Some(id), Some(grad)) = (input, computed.input) {
        grads.register::<B>(id, grad);
    }
    if let Some(id) = weight {
        grads.register::<B>(id, computed.weight);
    }
    if let Some(id) = bias {
        grads.register::<B>(id, computed.bias);
    }
}

/// `conv2d_activation`'s node, with what it reads: it keeps its input, its weight and its
/// output for the backward.
#[derive(Debug)]
struct ConvNode(ConvInput, Activation);

impl<B: FusedOps> Backward<B, 3> for ConvNode {
    type State = LayerState<B>;

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let [input, weight, bias] = ops.parents;
        let dy = grads.consume::<B>(&ops.node);
        let (x, w, y) = ops.state;
        let computed =
            B::conv2d_activation_backward(x, w, y, dy, (self.0, self.1), input.is_some());
        register(
            grads,
            [input, weight, bias].map(|node| node.map(|n| n.id)),
            computed,
        );
    }
}

/// `conv2d_activation_pooled`'s node: it keeps its input, its weight and both its outputs (the
/// pooled values and what the backend keeps for the backward).
#[derive(Debug)]
struct ConvPoolNode(ConvInput, Activation);

impl<B: FusedOps> Backward<B, 3> for ConvPoolNode {
    type State = (
        FloatTensor<B>,
        FloatTensor<B>,
        FloatTensor<B>,
        FloatTensor<B>,
    );

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let [input, weight, bias] = ops.parents;
        let dy = grads.consume::<B>(&ops.node);
        let (x, w, pooled, kept) = ops.state;
        let how = (self.0, self.1);
        let computed =
            B::conv2d_activation_pooled_backward((x, w), (pooled, kept), dy, how, input.is_some());
        register(
            grads,
            [input, weight, bias].map(|node| node.map(|n| n.id)),
            computed,
        );
    }
}

/// A loss's node: it keeps the gradient the forward pass computed with the loss.
#[derive(Debug)]
struct LossNode;

impl<B: FusedOps> Backward<B, 1> for LossNode {
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

    fn linear_activation(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        activation: Activation,
    ) -> FloatTensor<Self> {
        layer_node::<B, C, _>(LinearNode(activation), [x, weight, bias], |x, w, b| {
            B::linear_activation(x, w, b, activation)
        })
    }

    fn conv2d_activation(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        input: ConvInput,
        activation: Activation,
    ) -> FloatTensor<Self> {
        let node = ConvNode(input, activation);
        layer_node::<B, C, _>(node, [x, weight, bias], |x, w, b| {
            B::conv2d_activation(x, w, b, input, activation)
        })
    }

    /// The second output, what the inner backend keeps for the backward, is not tracked.
    fn conv2d_activation_pooled(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        input: ConvInput,
        activation: Activation,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let nodes = [x.node.clone(), weight.node.clone(), bias.node.clone()];
        let forward = |x, w, b| B::conv2d_activation_pooled(x, w, b, input, activation);
        let node = ConvPoolNode(input, activation);
        let (pooled, kept) = match node.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let (x, w) = (x.primitive, weight.primitive);
                let (pooled, kept) = forward(x.clone(), w.clone(), bias.primitive);
                let state = (x, w, pooled.clone(), kept.clone());
                (prep.finish(state, pooled), kept)
            }
            OpsKind::UnTracked(prep) => {
                let (pooled, kept) = forward(x.primitive, weight.primitive, bias.primitive);
                (prep.finish(pooled), kept)
            }
        };
        (pooled, <Self as AutodiffBackend>::from_inner(kept))
    }

    /// The gradient with respect to `output` only: the target is data.
    fn mse_with_gradient(
        output: FloatTensor<Self>,
        target: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let (loss, grad) = B::mse_with_gradient(output.primitive.clone(), target.primitive);
        loss_node::<B, C>(&output, loss, grad)
    }

    /// The gradient with respect to `logits` only: the target is data.
    fn bce_with_logits_with_gradient(
        logits: FloatTensor<Self>,
        target: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let (loss, grad) =
            B::bce_with_logits_with_gradient(logits.primitive.clone(), target.primitive);
        loss_node::<B, C>(&logits, loss, grad)
    }
}

/// The state a layer's node keeps: its input, its weight and its output.
type LayerState<B> = (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>);

/// A layer's `forward(x, weight, bias)`, computed by the inner backend, as one node of the
/// graph whose backward is `node`'s.
fn layer_node<B, C, N>(
    node: N,
    [x, weight, bias]: [FloatTensor<Autodiff<B, C>>; 3],
    forward: impl Fn(FloatTensor<B>, FloatTensor<B>, FloatTensor<B>) -> FloatTensor<B>,
) -> FloatTensor<Autodiff<B, C>>
where
    B: FusedOps,
    C: CheckpointStrategy,
    N: Backward<B, 3, State = LayerState<B>>,
{
    let nodes = [x.node.clone(), weight.node.clone(), bias.node.clone()];
    match node.prepare::<C>(nodes).compute_bound().stateful() {
        OpsKind::Tracked(prep) => {
            let y = forward(
                x.primitive.clone(),
                weight.primitive.clone(),
                bias.primitive,
            );
            prep.finish((x.primitive, weight.primitive, y.clone()), y)
        }
        OpsKind::UnTracked(prep) => {
            prep.finish(forward(x.primitive, weight.primitive, bias.primitive))
        }
    }
}

/// A loss and its gradient on the autodiff backend.
type LossAndGradient<B, C> = (FloatTensor<Autodiff<B, C>>, FloatTensor<Autodiff<B, C>>);

/// A loss of `input` and its gradient, computed together by the inner backend, as one node of
/// the graph, whose backward hands on the gradient (times the one coming down).
fn loss_node<B: FusedOps, C: CheckpointStrategy>(
    input: &FloatTensor<Autodiff<B, C>>,
    loss: FloatTensor<B>,
    grad: FloatTensor<B>,
) -> LossAndGradient<B, C> {
    let loss = match LossNode
        .prepare::<C>([input.node.clone()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => prep.finish(grad.clone(), loss),
        OpsKind::UnTracked(prep) => prep.finish(loss),
    };
    (loss, <Autodiff<B, C> as AutodiffBackend>::from_inner(grad))
}
