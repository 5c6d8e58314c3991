//! The model's 3x3 "same" convolution (and its ReLU) as a burn backend
//! extension: the kernels of `kernels::conv` on burn-flex tensors, with a
//! hand-written backward step for autodiff. burn-flex's conv2d computes the
//! input gradient as a transposed convolution and the weight gradient as a
//! convolution with an output-sized kernel; at batch 64 its 64-to-64
//! convolution at 32x32 took 122 ms backward (`repro bench layers`).

use super::ConvDims;
use crate::kernels::flex_values::{floats, tensor};
use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, TensorMetadata, backend_extension};
use burn::tensor::Tensor;
use burn_flex::FlexTensor;

#[backend_extension(Flex, Autodiff)]
pub trait Conv3x3Backend: Backend {
    /// x [n, c_in, h, w], weight [c_out, c_in, 3, 3], bias [c_out] ->
    /// [n, c_out, h, w]; stride 1, zero padding 1; then max(0, .) when `relu`.
    fn conv3x3(x: FloatTensor<Self>, weight: FloatTensor<Self>, bias: FloatTensor<Self>, relu: bool) -> FloatTensor<Self>;
}

/// A 3x3 convolution with stride 1 and "same" zero padding, followed by a
/// ReLU when `relu` (one pass less each way than a separate ReLU),
/// differentiable in all three tensors.
pub fn conv3x3(x: Tensor<4>, weight: Tensor<4>, bias: Tensor<1>, relu: bool) -> Tensor<4> {
    if !crate::compute::on_flex(&x.device()) {
        return super::generic::conv3x3(x, weight, bias, relu);
    }
    Tensor::from_dispatch(<Dispatch as Conv3x3Backend>::conv3x3(x.into_dispatch(), weight.into_dispatch(), bias.into_dispatch(), relu))
}

impl Conv3x3Backend for Flex {
    fn conv3x3(x: FlexTensor, weight: FlexTensor, bias: FlexTensor, relu: bool) -> FlexTensor {
        let d = dims(&x, &weight);
        let out = super::forward(&floats(&x), &floats(&weight), &floats(&bias), d, relu);
        tensor(out, [d.n, d.c_out, d.h, d.w])
    }
}

impl<C: CheckpointStrategy> Conv3x3Backend for Autodiff<Flex, C> {
    fn conv3x3(x: FloatTensor<Self>, weight: FloatTensor<Self>, bias: FloatTensor<Self>, relu: bool) -> FloatTensor<Self> {
        match Conv3x3Step.prepare::<C>([x.node(), weight.node(), bias.node()]).compute_bound().stateful() {
            OpsKind::Tracked(mut prep) => {
                let (x_id, weight_id) = (prep.checkpoint(&x), prep.checkpoint(&weight));
                let out = Flex::conv3x3(x.into_primitive(), weight.into_primitive(), bias.into_primitive(), relu);
                // The output shares its buffer; the backward step reads its sign.
                prep.finish((x_id, weight_id, relu.then(|| out.clone())), out)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(Flex::conv3x3(x.into_primitive(), weight.into_primitive(), bias.into_primitive(), relu))
            }
        }
    }
}

/// The backward step; its state is the checkpointed input and kernel, and
/// the output when a ReLU was applied.
#[derive(Debug)]
struct Conv3x3Step;

impl Backward<Flex, 3> for Conv3x3Step {
    type State = (NodeId, NodeId, Option<FlexTensor>);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
        let [node_x, node_weight, node_bias] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let (x_id, weight_id, relu_out) = ops.state;
        let x: FlexTensor = checkpointer.retrieve_node_output(x_id);
        let weight: FlexTensor = checkpointer.retrieve_node_output(weight_id);
        let d = dims(&x, &weight);
        let relu_out = relu_out.as_ref().map(floats);
        let g = super::backward(&floats(&x), &floats(&weight), &floats(&grad), relu_out.as_deref(), d, node_x.is_some());
        if let (Some(node), Some(dx)) = (node_x, g.input) {
            grads.register::<Flex>(node.id, tensor(dx, [d.n, d.c_in, d.h, d.w]));
        }
        if let Some(node) = node_weight {
            grads.register::<Flex>(node.id, tensor(g.weight, [d.c_out, d.c_in, 3, 3]));
        }
        if let Some(node) = node_bias {
            grads.register::<Flex>(node.id, tensor(g.bias, [d.c_out]));
        }
    }
}

fn dims(x: &FlexTensor, weight: &FlexTensor) -> ConvDims {
    let [n, c_in, h, w] = x.shape().dims();
    let [c_out, w_in, kh, kw] = weight.shape().dims();
    assert!(
        w_in == c_in && kh == 3 && kw == 3,
        "conv3x3 needs a [c_out, {c_in}, 3, 3] kernel for a {c_in}-channel input, got {:?}",
        weight.shape()
    );
    ConvDims { n, c_in, c_out, h, w }
}
