//! The mask 16 elements at a time: SplitMix64 on two vectors of 8 indices.

use super::{GOLDEN, MIX1, MIX2};
use crate::kernels::cpu::Avx512Dq;
use crate::kernels::flex_values::lanes;
use std::arch::x86_64::*;
use std::mem::MaybeUninit;

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
pub fn apply_mask(_cpu: Avx512Dq, values: &[f32], first: u64, seed: u64, threshold: u64, scale: f32, out: &mut [MaybeUninit<f32>]) {
    // SAFETY: the token proves AVX-512 F and DQ.
    unsafe { apply_mask_avx512(values, first, seed, threshold, scale, out) }
}

#[target_feature(enable = "avx512f,avx512dq")]
unsafe fn apply_mask_avx512(values: &[f32], first: u64, seed: u64, threshold: u64, scale: f32, out: &mut [MaybeUninit<f32>]) {
    assert_eq!(values.len(), out.len());
    for at in (0..values.len()).step_by(16) {
        let len = (values.len() - at).min(16);
        let lanes = lanes(len);
        let i = first + at as u64;
        let dropped = dropped8(i, seed, threshold) as u16 | (dropped8(i + 8, seed, threshold) as u16) << 8;
        // SAFETY: `lanes` keeps the load and the store within len values from
        // at, inside values and out (equal lengths, asserted).
        unsafe {
            let v = _mm512_maskz_loadu_ps(lanes, values.as_ptr().add(at));
            let kept = _mm512_maskz_mul_ps(!dropped, v, _mm512_set1_ps(scale));
            _mm512_mask_storeu_ps(out.as_mut_ptr().add(at).cast(), lanes, kept);
        }
    }
}
