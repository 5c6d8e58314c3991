//! The model's 2x2 max-pooling (stride 2, "valid": an odd last row or
//! column is dropped) as a burn backend extension. burn-flex's pooling
//! records a full index tensor and scatters through it; this one keeps the
//! winner's position in its window as a byte and runs plane by plane over
//! the threads.

//!
//! `op` is the burn-facing op, `avx512` and `portable` the row kernels,
//! chosen here by the CPU token.

#[cfg(target_arch = "x86_64")]
mod avx512;
pub mod generic;
pub mod op;
mod portable;

pub use op::max_pool2x2;

use crate::kernels::cpu::Avx512;
use crate::kernels::flex_values::{floats, tensor};
use burn::backend::TensorMetadata;
use burn_flex::FlexTensor;
use rayon::prelude::*;

/// The pooled tensor and each output's winning position in its window.
fn pool(x: &FlexTensor) -> (FlexTensor, Vec<u8>) {
    let [n, c, h, w] = x.shape().dims();
    let (oh, ow) = (h / 2, w / 2);
    let x = floats(x);
    let mut out = vec![0.0f32; n * c * oh * ow];
    let mut winners = vec![0u8; out.len()];
    if !out.is_empty() {
        let cpu = Avx512::detect();
        out.par_chunks_mut(oh * ow).zip(winners.par_chunks_mut(oh * ow)).zip(x.par_chunks(h * w)).for_each(|((out, win), plane)| {
            for oy in 0..oh {
                let rows = (&plane[2 * oy * w..][..w], &plane[(2 * oy + 1) * w..][..w]);
                let (out, win) = (&mut out[oy * ow..][..ow], &mut win[oy * ow..][..ow]);
                match cpu {
                    #[cfg(target_arch = "x86_64")]
                    Some(cpu) => avx512::pool_row(cpu, rows, out, win),
                    _ => portable::pool_row(rows, out, win),
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
    let cpu = Avx512::detect();
    dx.par_chunks_mut(h * w).zip(grad.par_chunks(oh * ow)).zip(winners.par_chunks(oh * ow)).for_each(|((plane, g), win)| {
        for oy in 0..oh {
            let (g, win) = (&g[oy * ow..][..ow], &win[oy * ow..][..ow]);
            let (top, bottom) = plane[2 * oy * w..][..2 * w].split_at_mut(w);
            match cpu {
                #[cfg(target_arch = "x86_64")]
                Some(cpu) => avx512::unpool_row(cpu, g, win, top, bottom),
                _ => portable::unpool_row(g, win, top, bottom),
            }
        }
    });
    dx
}
