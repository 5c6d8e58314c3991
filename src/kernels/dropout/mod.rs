//! Dropout as a burn backend extension. burn draws its Bernoulli mask one
//! element at a time through a sampler (18 ms for the model's first
//! dropout at batch 64) and records two multiplications; here the mask is
//! a hash of (seed, element index), computed in parallel and recomputed in
//! the backward step instead of stored. Each call's seed comes from the
//! calling thread's seed stream (`seed_stream`), so concurrent trainings in
//! one process do not draw from each other's, and every backend draws alike.

//!
//! `op` is the burn-facing op, `avx512` and `portable` the mask kernels,
//! chosen here by the CPU token.

#[cfg(target_arch = "x86_64")]
mod avx512;
pub mod generic;
pub mod op;
mod portable;

pub use op::dropout;

use crate::kernels::cpu::Avx512Dq;
use crate::kernels::flex_values::filled;
use rayon::prelude::*;
use std::mem::MaybeUninit;

thread_local! {
    static SEEDS: std::cell::RefCell<burn_std::rand::StdRng> = std::cell::RefCell::new(stream(0));
}

fn stream(seed: u64) -> burn_std::rand::StdRng {
    burn_std::rand::SeedableRng::seed_from_u64(seed)
}

/// Restarts this thread's dropout seeds from `seed` (a training does, each epoch).
pub fn seed_stream(seed: u64) {
    SEEDS.with(|s| *s.borrow_mut() = stream(seed));
}

/// The next dropout seed of this thread: two f32 uniform draws, the ones
/// burn-flex's `Tensor::random([2], Default)` made from a device seeded
/// alike (so the change from the device RNG kept every result).
pub fn next_seed() -> u64 {
    use burn::tensor::{Distribution, TensorData};
    let bits = SEEDS.with(|s| TensorData::random::<f32, _, _>([2], Distribution::Default, &mut *s.borrow_mut()));
    let bits = bits.try_to_vec::<f32>().expect("f32 random values");
    (bits[0].to_bits() as u64) << 32 | bits[1].to_bits() as u64
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
    let cpu = Avx512Dq::detect();
    let chunk = |(index, (out, values)): (usize, (&mut [MaybeUninit<f32>], &[f32]))| {
        let first = index * CHUNK;
        match cpu {
            #[cfg(target_arch = "x86_64")]
            Some(cpu) => avx512::apply_mask(cpu, values, first as u64, seed, threshold(prob), scale, out),
            _ => portable::apply_mask(values, first, seed, prob, scale, out),
        }
    };
    // SAFETY: the chunks cover the output and each writes all its values.
    unsafe { filled(values.len(), |out| out.par_chunks_mut(CHUNK).zip(values.par_chunks(CHUNK)).enumerate().for_each(chunk)) }
}
