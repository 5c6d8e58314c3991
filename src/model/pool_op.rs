//! The model's 2x2 max-pooling (stride 2, "valid": an odd last row or
//! column is dropped) as a burn backend extension. burn-flex's pooling
//! records a full index tensor and scatters through it; this one keeps the
//! winner's position in its window as a byte and runs plane by plane over
//! the threads.

use super::flex_values::{floats, tensor};
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, TensorMetadata, backend_extension};
use burn::tensor::Tensor;
use burn_flex::FlexTensor;
use rayon::prelude::*;
use std::sync::Arc;

#[backend_extension(Flex, Autodiff)]
pub trait MaxPool2x2Backend: Backend {
    /// x [n, c, h, w] -> [n, c, h / 2, w / 2], the maximum of each 2x2 window.
    fn max_pool2x2(x: FloatTensor<Self>) -> FloatTensor<Self>;
}

/// 2x2 max-pooling with stride 2; the gradient goes to the first maximum
/// of each window (row-major), as in PyTorch.
pub fn max_pool2x2(x: Tensor<4>) -> Tensor<4> {
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

/// The pooled tensor and each output's winning position in its window.
fn pool(x: &FlexTensor) -> (FlexTensor, Vec<u8>) {
    let [n, c, h, w] = x.shape().dims();
    let (oh, ow) = (h / 2, w / 2);
    let x = floats(x);
    let mut out = vec![0.0f32; n * c * oh * ow];
    let mut winners = vec![0u8; out.len()];
    if !out.is_empty() {
        out.par_chunks_mut(oh * ow).zip(winners.par_chunks_mut(oh * ow)).zip(x.par_chunks(h * w)).for_each(|((out, win), plane)| {
            for oy in 0..oh {
                let (top, bottom) = (&plane[2 * oy * w..][..w], &plane[(2 * oy + 1) * w..][..w]);
                for ox in 0..ow {
                    let window = [top[2 * ox], top[2 * ox + 1], bottom[2 * ox], bottom[2 * ox + 1]];
                    let best = (1..4).fold(0, |best, i| if window[i] > window[best] { i } else { best });
                    out[oy * ow + ox] = window[best];
                    win[oy * ow + ox] = best as u8;
                }
            }
        });
    }
    (tensor(out, [n, c, oh, ow]), winners)
}

/// Sends each output gradient back to its window's winner; zero elsewhere.
fn unpool(grad: &[f32], winners: &[u8], [n, c, h, w]: [usize; 4]) -> Vec<f32> {
    let (oh, ow) = (h / 2, w / 2);
    let mut dx = vec![0.0f32; n * c * h * w];
    if oh * ow == 0 {
        return dx;
    }
    dx.par_chunks_mut(h * w).zip(grad.par_chunks(oh * ow)).zip(winners.par_chunks(oh * ow)).for_each(|((plane, g), win)| {
        for oy in 0..oh {
            for ox in 0..ow {
                let k = win[oy * ow + ox] as usize;
                plane[(2 * oy + k / 2) * w + 2 * ox + k % 2] = g[oy * ow + ox];
            }
        }
    });
    dx
}
