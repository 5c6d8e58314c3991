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
        let simd = simd::available();
        out.par_chunks_mut(oh * ow).zip(winners.par_chunks_mut(oh * ow)).zip(x.par_chunks(h * w)).for_each(|((out, win), plane)| {
            for oy in 0..oh {
                let rows = (&plane[2 * oy * w..][..w], &plane[(2 * oy + 1) * w..][..w]);
                let (out, win) = (&mut out[oy * ow..][..ow], &mut win[oy * ow..][..ow]);
                if simd {
                    // SAFETY: available() was checked.
                    unsafe { simd::pool_row(rows, out, win) }
                } else {
                    pool_row(rows, out, win);
                }
            }
        });
    }
    (tensor(out, [n, c, oh, ow]), winners)
}

/// One output row from its two input rows.
fn pool_row((top, bottom): (&[f32], &[f32]), out: &mut [f32], win: &mut [u8]) {
    for (ox, (out, win)) in out.iter_mut().zip(win.iter_mut()).enumerate() {
        let window = [top[2 * ox], top[2 * ox + 1], bottom[2 * ox], bottom[2 * ox + 1]];
        let best = (1..4).fold(0, |best, i| if window[i] > window[best] { i } else { best });
        *out = window[best];
        *win = best as u8;
    }
}

/// Sends each output gradient back to its window's winner; zero elsewhere.
fn unpool(grad: &[f32], winners: &[u8], [n, c, h, w]: [usize; 4]) -> Vec<f32> {
    let (oh, ow) = (h / 2, w / 2);
    let mut dx = vec![0.0f32; n * c * h * w];
    if oh * ow == 0 {
        return dx;
    }
    let simd = simd::available();
    dx.par_chunks_mut(h * w).zip(grad.par_chunks(oh * ow)).zip(winners.par_chunks(oh * ow)).for_each(|((plane, g), win)| {
        for oy in 0..oh {
            let (g, win) = (&g[oy * ow..][..ow], &win[oy * ow..][..ow]);
            let (top, bottom) = plane[2 * oy * w..][..2 * w].split_at_mut(w);
            if simd {
                // SAFETY: available() was checked.
                unsafe { simd::unpool_row(g, win, top, bottom) }
            } else {
                for (ox, (g, k)) in g.iter().zip(win).enumerate() {
                    let row = if *k < 2 { &mut *top } else { &mut *bottom };
                    row[2 * ox + (*k as usize) % 2] = *g;
                }
            }
        }
    });
    dx
}

/// AVX-512 rows: 16 windows at a time, their columns split into even and
/// odd lanes by a two-source permute.
#[cfg(target_arch = "x86_64")]
mod simd {
    use super::super::flex_values::lanes;
    use std::arch::x86_64::*;

    pub fn available() -> bool {
        is_x86_feature_detected!("avx512f")
    }

    const EVEN: [i32; 16] = [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30];
    const ODD: [i32; 16] = [1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31];
    /// Lane i of the first half of a row pair: even input i/2 or odd input i/2.
    const LOW: [i32; 16] = [0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23];
    const HIGH: [i32; 16] = [8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31];

    fn index(lanes: [i32; 16]) -> __m512i {
        // SAFETY: [i32; 16] and __m512i have the same size.
        unsafe { std::mem::transmute(lanes) }
    }

    /// (even, odd) columns of the 2 * count inputs from `row`.
    #[target_feature(enable = "avx512f")]
    unsafe fn split(row: *const f32, count: usize) -> (__m512, __m512) {
        let (a, b) = unsafe {
            (_mm512_maskz_loadu_ps(lanes(2 * count), row), _mm512_maskz_loadu_ps(lanes((2 * count).saturating_sub(16)), row.add(16)))
        };
        (_mm512_permutex2var_ps(a, index(EVEN), b), _mm512_permutex2var_ps(a, index(ODD), b))
    }

    /// Same results as the scalar pool_row: the first maximum in row-major order wins.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn pool_row((top, bottom): (&[f32], &[f32]), out: &mut [f32], win: &mut [u8]) {
        assert!(top.len() >= 2 * out.len() && bottom.len() >= 2 * out.len() && win.len() == out.len());
        for ox in (0..out.len()).step_by(16) {
            let count = (out.len() - ox).min(16);
            let (tl, tr) = unsafe { split(top.as_ptr().add(2 * ox), count) };
            let (bl, br) = unsafe { split(bottom.as_ptr().add(2 * ox), count) };
            let (mut best, mut which) = (tl, _mm512_setzero_si512());
            for (k, v) in [(1, tr), (2, bl), (3, br)] {
                let better = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(v, best);
                best = _mm512_mask_mov_ps(best, better, v);
                which = _mm512_mask_mov_epi32(which, better, _mm512_set1_epi32(k));
            }
            unsafe {
                _mm512_mask_storeu_ps(out.as_mut_ptr().add(ox), lanes(count), best);
                _mm512_mask_cvtepi32_storeu_epi8(win.as_mut_ptr().add(ox).cast(), lanes(count), which);
            }
        }
    }

    /// Writes the two input rows of one output row: each gradient at its
    /// winner, zero at the other three (an odd last column is left alone).
    #[target_feature(enable = "avx512f")]
    pub unsafe fn unpool_row(g: &[f32], win: &[u8], top: &mut [f32], bottom: &mut [f32]) {
        assert!(win.len() == g.len() && top.len() >= 2 * g.len() && bottom.len() >= 2 * g.len());
        for ox in (0..g.len()).step_by(16) {
            let count = (g.len() - ox).min(16);
            // Through a copy: a masked byte load would need AVX-512 BW.
            let mut bytes = [0u8; 16];
            bytes[..count].copy_from_slice(&win[ox..ox + count]);
            let which = _mm512_cvtepu8_epi32(unsafe { _mm_loadu_si128(bytes.as_ptr().cast()) });
            let gv = unsafe { _mm512_maskz_loadu_ps(lanes(count), g.as_ptr().add(ox)) };
            let at = |k: i32| _mm512_maskz_mov_ps(_mm512_cmpeq_epi32_mask(which, _mm512_set1_epi32(k)), gv);
            for (row, (even, odd)) in [(top.as_mut_ptr(), (at(0), at(1))), (bottom.as_mut_ptr(), (at(2), at(3)))] {
                let (low, high) = (_mm512_permutex2var_ps(even, index(LOW), odd), _mm512_permutex2var_ps(even, index(HIGH), odd));
                unsafe {
                    _mm512_mask_storeu_ps(row.add(2 * ox), lanes(2 * count), low);
                    _mm512_mask_storeu_ps(row.add(2 * ox + 16), lanes((2 * count).saturating_sub(16)), high);
                }
            }
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
mod simd {
    pub fn available() -> bool {
        false
    }
    pub unsafe fn pool_row(_: (&[f32], &[f32]), _: &mut [f32], _: &mut [u8]) {
        unreachable!("no SIMD pooling on this architecture")
    }
    pub unsafe fn unpool_row(_: &[f32], _: &[u8], _: &mut [f32], _: &mut [f32]) {
        unreachable!("no SIMD pooling on this architecture")
    }
}
