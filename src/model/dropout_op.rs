//! Dropout as a burn backend extension. burn draws its Bernoulli mask one
//! element at a time through a sampler (18 ms for the model's first
//! dropout at batch 64) and records two multiplications; here the mask is
//! a hash of (seed, element index), computed in parallel and recomputed in
//! the backward step instead of stored. The seed comes from burn's device
//! RNG, so a run stays determined by `Device::seed`.

use super::flex_values::{filled, floats};
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
use std::mem::MaybeUninit;

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
    let mut z = seed.wrapping_add((index as u64).wrapping_add(1).wrapping_mul(GOLDEN));
    z = (z ^ (z >> 30)).wrapping_mul(MIX1);
    z = (z ^ (z >> 27)).wrapping_mul(MIX2);
    z ^= z >> 31;
    (z >> 40) < threshold(prob)
}

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;
const MIX1: u64 = 0xBF58_476D_1CE4_E5B9;
const MIX2: u64 = 0x94D0_49BB_1331_11EB;

/// k / 2^24 < prob exactly when k < ceil(prob * 2^24), for integers k < 2^24
/// (both scalings by 2^24 are exact), so the mask compares integers.
fn threshold(prob: f64) -> u64 {
    (prob * (1u64 << 24) as f64).ceil() as u64
}

/// values * keep / (1 - prob), element by element.
pub fn apply_mask(values: &[f32], prob: f64, seed: u64) -> Vec<f32> {
    const CHUNK: usize = 4096;
    let scale = (1.0 / (1.0 - prob)) as f32;
    let simd = simd::available();
    let chunk = |(index, (out, values)): (usize, (&mut [MaybeUninit<f32>], &[f32]))| {
        let first = index * CHUNK;
        if simd {
            // SAFETY: available() was checked.
            unsafe { simd::apply_mask(values, first as u64, seed, threshold(prob), scale, out) };
        } else {
            for (i, (o, v)) in out.iter_mut().zip(values).enumerate() {
                o.write(if dropped(seed, first + i, prob) { 0.0 } else { v * scale });
            }
        }
    };
    // SAFETY: the chunks cover the output and each writes all its values.
    unsafe { filled(values.len(), |out| out.par_chunks_mut(CHUNK).zip(values.par_chunks(CHUNK)).enumerate().for_each(chunk)) }
}

/// The mask 16 elements at a time: SplitMix64 on two vectors of 8 indices.
#[cfg(target_arch = "x86_64")]
mod simd {
    use super::super::flex_values::lanes;
    use super::{GOLDEN, MIX1, MIX2};
    use std::arch::x86_64::*;
    use std::mem::MaybeUninit;

    pub fn available() -> bool {
        is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512dq")
    }

    /// `dropped` for indices first + 0..8 as a lane mask.
    #[target_feature(enable = "avx512f,avx512dq")]
    fn dropped8(first: u64, seed: u64, threshold: u64) -> __mmask8 {
        let index = _mm512_add_epi64(_mm512_set1_epi64(first as i64 + 1), _mm512_setr_epi64(0, 1, 2, 3, 4, 5, 6, 7));
        let mut z = _mm512_add_epi64(_mm512_set1_epi64(seed as i64), _mm512_mullo_epi64(index, _mm512_set1_epi64(GOLDEN as i64)));
        z = _mm512_mullo_epi64(_mm512_xor_si512(z, _mm512_srli_epi64::<30>(z)), _mm512_set1_epi64(MIX1 as i64));
        z = _mm512_mullo_epi64(_mm512_xor_si512(z, _mm512_srli_epi64::<27>(z)), _mm512_set1_epi64(MIX2 as i64));
        z = _mm512_xor_si512(z, _mm512_srli_epi64::<31>(z));
        _mm512_cmplt_epu64_mask(_mm512_srli_epi64::<40>(z), _mm512_set1_epi64(threshold as i64))
    }

    /// out[i] = values[i] * scale, or 0 where element first + i is dropped.
    #[target_feature(enable = "avx512f,avx512dq")]
    pub unsafe fn apply_mask(values: &[f32], first: u64, seed: u64, threshold: u64, scale: f32, out: &mut [MaybeUninit<f32>]) {
        assert_eq!(values.len(), out.len());
        for at in (0..values.len()).step_by(16) {
            let len = (values.len() - at).min(16);
            let lanes = lanes(len);
            let i = first + at as u64;
            let dropped = dropped8(i, seed, threshold) as u16 | (dropped8(i + 8, seed, threshold) as u16) << 8;
            unsafe {
                let v = _mm512_maskz_loadu_ps(lanes, values.as_ptr().add(at));
                let kept = _mm512_maskz_mul_ps(!dropped, v, _mm512_set1_ps(scale));
                _mm512_mask_storeu_ps(out.as_mut_ptr().add(at).cast(), lanes, kept);
            }
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
mod simd {
    pub fn available() -> bool {
        false
    }
    pub unsafe fn apply_mask(_: &[f32], _: u64, _: u64, _: u64, _: f32, _: &mut [std::mem::MaybeUninit<f32>]) {
        unreachable!("no SIMD dropout on this architecture")
    }
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
