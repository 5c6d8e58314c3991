//! The portable kernel: the mask element by element.

use super::dropped;
use std::mem::MaybeUninit;

/// out[i] = values[i] * scale, or 0 where element first + i is dropped.
pub fn apply_mask(values: &[f32], first: usize, seed: u64, prob: f64, scale: f32, out: &mut [MaybeUninit<f32>]) {
    for (i, (o, v)) in out.iter_mut().zip(values).enumerate() {
        o.write(if dropped(seed, first + i, prob) { 0.0 } else { v * scale });
    }
}
