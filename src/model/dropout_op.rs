//! Dropout as a burn backend extension. burn draws its Bernoulli mask one
//! element at a time through a sampler (18 ms for the model's first
//! dropout at batch 64) and records two multiplications; here the mask is
//! a hash of (seed, element index), computed in parallel and recomputed in
//! the backward step instead of stored. The seed comes from burn's device
//! RNG, so a run stays determined by `Device::seed`.

use super::flex_values::floats;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, TensorMetadata, backend_extension};
use burn::nn::Dropout;
use burn::tensor::{Distribution, Tensor, TensorData};
use burn_flex::FlexTensor;
use rayon::prelude::*;

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
    let bits = Tensor::<1>::random([2], Distribution::Default, &device).into_data().try_to_vec::<f32>().expect("f32 random values");
    let seed = (bits[0].to_bits() as u64) << 32 | bits[1].to_bits() as u64;
    Tensor::from_dispatch(<Dispatch as DropoutBackend>::dropout(x.into_dispatch(), layer.prob, seed))
}

/// Whether element `index` is dropped: SplitMix64 of (seed, index), its top
/// 24 bits as a uniform number in [0, 1) compared with `prob`.
pub fn dropped(seed: u64, index: usize, prob: f64) -> bool {
    let mut z = seed.wrapping_add((index as u64).wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    ((z >> 40) as f64 / (1u64 << 24) as f64) < prob
}

/// values * keep / (1 - prob), element by element.
fn apply_mask(values: &[f32], prob: f64, seed: u64) -> Vec<f32> {
    let scale = (1.0 / (1.0 - prob)) as f32;
    values.par_iter().enumerate().map(|(i, v)| if dropped(seed, i, prob) { 0.0 } else { v * scale }).collect()
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
