//! AVX-512 rows: 16 windows at a time, their columns split into even and
//! odd lanes by a two-source permute.

use crate::kernels::cpu::Avx512;
use crate::kernels::flex_values::lanes;
use std::arch::x86_64::*;

const EVEN: [i32; 16] = [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30];
const ODD: [i32; 16] = [1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31];
/// Lane i of the first half of a row pair: even input i/2 or odd input i/2.
const LOW: [i32; 16] = [0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23];
const HIGH: [i32; 16] = [8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31];

fn index(lanes: [i32; 16]) -> __m512i {
    // SAFETY: [i32; 16] and __m512i have the same size.
    // SAFETY: [i32; 16] and __m512i have the same size, and any bits are a valid __m512i.
    unsafe { std::mem::transmute(lanes) }
}

/// (even, odd) columns of the 2 * count inputs from `row`.
#[target_feature(enable = "avx512f")]
unsafe fn split(row: *const f32, count: usize) -> (__m512, __m512) {
    // SAFETY: the caller makes 2 * count values at row readable; the masks read no more.
    let (a, b) = unsafe {
        (_mm512_maskz_loadu_ps(lanes(2 * count), row), _mm512_maskz_loadu_ps(lanes((2 * count).saturating_sub(16)), row.add(16)))
    };
    (_mm512_permutex2var_ps(a, index(EVEN), b), _mm512_permutex2var_ps(a, index(ODD), b))
}

/// Same results as the portable pool_row: the first maximum in row-major
/// order wins.
pub fn pool_row(_cpu: Avx512, rows: (&[f32], &[f32]), out: &mut [f32], win: &mut [u8]) {
    // SAFETY: the token proves AVX-512 F.
    unsafe { pool_row_avx512(rows, out, win) }
}

/// The two input rows of one output row, as the portable unpool_row writes them.
pub fn unpool_row(_cpu: Avx512, g: &[f32], win: &[u8], top: &mut [f32], bottom: &mut [f32]) {
    // SAFETY: the token proves AVX-512 F.
    unsafe { unpool_row_avx512(g, win, top, bottom) }
}

#[target_feature(enable = "avx512f")]
unsafe fn pool_row_avx512((top, bottom): (&[f32], &[f32]), out: &mut [f32], win: &mut [u8]) {
    assert!(top.len() >= 2 * out.len() && bottom.len() >= 2 * out.len() && win.len() == out.len());
    for ox in (0..out.len()).step_by(16) {
        let count = (out.len() - ox).min(16);
        // SAFETY: the assert keeps 2 * (ox + count) values inside top and bottom.
        let (tl, tr) = unsafe { split(top.as_ptr().add(2 * ox), count) };
        // SAFETY: as above.
        let (bl, br) = unsafe { split(bottom.as_ptr().add(2 * ox), count) };
        let (mut best, mut which) = (tl, _mm512_setzero_si512());
        for (k, v) in [(1, tr), (2, bl), (3, br)] {
            let better = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(v, best);
            best = _mm512_mask_mov_ps(best, better, v);
            which = _mm512_mask_mov_epi32(which, better, _mm512_set1_epi32(k));
        }
        // SAFETY: count lanes from ox stay inside out and win (assert above).
        unsafe {
            _mm512_mask_storeu_ps(out.as_mut_ptr().add(ox), lanes(count), best);
            _mm512_mask_cvtepi32_storeu_epi8(win.as_mut_ptr().add(ox).cast(), lanes(count), which);
        }
    }
}

/// Writes the two input rows of one output row: each gradient at its
/// winner, zero at the other three (an odd last column is left alone).
#[target_feature(enable = "avx512f")]
unsafe fn unpool_row_avx512(g: &[f32], win: &[u8], top: &mut [f32], bottom: &mut [f32]) {
    assert!(win.len() == g.len() && top.len() >= 2 * g.len() && bottom.len() >= 2 * g.len());
    for ox in (0..g.len()).step_by(16) {
        let count = (g.len() - ox).min(16);
        // Through a copy: a masked byte load would need AVX-512 BW.
        let mut bytes = [0u8; 16];
        bytes[..count].copy_from_slice(&win[ox..ox + count]);
        // SAFETY: bytes holds the 16 bytes read.
        let which = _mm512_cvtepu8_epi32(unsafe { _mm_loadu_si128(bytes.as_ptr().cast()) });
        // SAFETY: count lanes from ox stay inside g (assert above).
        let gv = unsafe { _mm512_maskz_loadu_ps(lanes(count), g.as_ptr().add(ox)) };
        let at = |k: i32| _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(which, _mm512_set1_epi32(k)), gv);
        for (row, (even, odd)) in [(top.as_mut_ptr(), (at(0), at(1))), (bottom.as_mut_ptr(), (at(2), at(3)))] {
            let (low, high) = (_mm512_permutex2var_ps(even, index(LOW), odd), _mm512_permutex2var_ps(even, index(HIGH), odd));
            // SAFETY: 2 * count values from 2 * ox stay inside top and bottom (assert above).
            unsafe {
                _mm512_mask_storeu_ps(row.add(2 * ox), lanes(2 * count), low);
                _mm512_mask_storeu_ps(row.add(2 * ox + 16), lanes((2 * count).saturating_sub(16)), high);
            }
        }
    }
}
