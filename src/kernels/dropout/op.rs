//! The burn-facing op: the backend-extension trait, `dropout` for burn's
//! `Dropout` layer, its Flex and Autodiff implementations and the backward
//! step (the same mask, from the same seed, on the gradient).

use super::apply_mask;
use crate::kernels::flex_values::floats;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, TensorMetadata, backend_extension};
use burn::nn::Dropout;
use burn::tensor::{Tensor, TensorData};
use burn_flex::FlexTensor;

#[backend_extension(Flex, Autodiff)]
pub trait DropoutBackend: Backend {
    /// x * keep / (1 - prob), where element i is kept unless
    /// `dropped(seed, i, prob)`.
    fn dropout(x: FloatTensor<Self>, prob: f64, seed: u64) -> FloatTensor<Self>;
}

/// burn's `Dropout::forward` with the mask drawn as described above: the
/// identity outside training, on a non-autodiff device or when prob is 0.
pub fn dropout<const D: usize>(layer: &Dropout, x: Tensor<D>) -> Tensor<D> {
    let device = x.device();
    if !layer.training.is_enabled() || !device.is_autodiff() || layer.prob == 0.0 {
        return x;
    }
    let seed = super::next_seed();
    if !crate::compute::on_flex(&device) {
        return super::generic::dropout(x, layer.prob, seed);
    }
    Tensor::from_dispatch(<Dispatch as DropoutBackend>::dropout(x.into_dispatch(), layer.prob, seed))
}

fn masked(x: &FlexTensor, prob: f64, seed: u64) -> FlexTensor {
    let shape = x.shape();
    let out = apply_mask(&floats(x), prob, seed);
    FlexTensor::from_data(TensorData::new(out, shape))
}

impl DropoutBackend for Flex {
    fn dropout(x: FlexTensor, prob: f64, seed: u64) -> FlexTensor {
        masked(&x, prob, seed)
    }
}

impl<C: CheckpointStrategy> DropoutBackend for Autodiff<Flex, C> {
    fn dropout(x: FloatTensor<Self>, prob: f64, seed: u64) -> FloatTensor<Self> {
        match DropoutStep.prepare::<C>([x.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish((prob, seed), masked(x.primitive(), prob, seed)),
            OpsKind::UnTracked(prep) => prep.finish(masked(x.primitive(), prob, seed)),
        }
    }
}

/// The backward step: the same mask (from the same seed) on the gradient.
#[derive(Debug)]
struct DropoutStep;

impl Backward<Flex, 1> for DropoutStep {
    type State = (f64, u64);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _checkpointer: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        if let Some(node) = node_x {
            let (prob, seed) = ops.state;
            grads.register::<Flex>(node.id, masked(&grad, prob, seed));
        }
    }
}
