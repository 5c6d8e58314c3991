//! The burn-facing op: the backend-extension trait, its Flex and
//! Autodiff implementations and the backward step.

use super::{pool, unpool};
use crate::kernels::flex_values::{floats, tensor};
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, TensorMetadata, backend_extension};
use burn::tensor::Tensor;
use burn_flex::FlexTensor;
use std::sync::Arc;

#[backend_extension(Flex, Autodiff)]
pub trait MaxPool2x2Backend: Backend {
    /// x [n, c, h, w] -> [n, c, h / 2, w / 2], the maximum of each 2x2 window.
    fn max_pool2x2(x: FloatTensor<Self>) -> FloatTensor<Self>;
}

/// 2x2 max-pooling with stride 2; the gradient goes to the first maximum
/// of each window (row-major), as in PyTorch.
pub fn max_pool2x2(x: Tensor<4>) -> Tensor<4> {
    if !crate::compute::on_flex(&x.device()) {
        return super::generic::max_pool2x2(x);
    }
    Tensor::from_dispatch(<Dispatch as MaxPool2x2Backend>::max_pool2x2(x.into_dispatch()))
}

impl MaxPool2x2Backend for Flex {
    fn max_pool2x2(x: FlexTensor) -> FlexTensor {
        pool(&x).0
    }
}

impl<C: CheckpointStrategy> MaxPool2x2Backend for Autodiff<Flex, C> {
    fn max_pool2x2(x: FloatTensor<Self>) -> FloatTensor<Self> {
        match MaxPoolStep.prepare::<C>([x.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let input_shape = x.primitive().shape().dims();
                let (out, winners) = pool(&x.into_primitive());
                prep.finish(PoolState { input_shape, winners: Arc::new(winners) }, out)
            }
            OpsKind::UnTracked(prep) => prep.finish(pool(&x.into_primitive()).0),
        }
    }
}

/// What the backward step needs: the input's shape and, for each output,
/// which of its window's four inputs (0..4, row-major) won.
#[derive(Clone, Debug)]
struct PoolState {
    input_shape: [usize; 4],
    winners: Arc<Vec<u8>>,
}

#[derive(Debug)]
struct MaxPoolStep;

impl Backward<Flex, 1> for MaxPoolStep {
    type State = PoolState;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        if let Some(node) = node_x {
            let [n, c, h, w] = ops.state.input_shape;
            let dx = unpool(&floats(&grad), &ops.state.winners, [n, c, h, w]);
            grads.register::<Flex>(node.id, tensor(dx, [n, c, h, w]));
        }
    }
}
