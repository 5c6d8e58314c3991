//! The kernels, portable Rust whose f64 sums vectorise as written (eight
//! interleaved accumulators): statistics, output and gradients.

use crate::kernels::flex_values::{filled, floats, tensor};
use burn::backend::TensorMetadata;
use burn_flex::FlexTensor;
use rayon::prelude::*;

/// Per-channel batch statistics.
#[derive(Clone, Debug)]
pub struct Stats {
    pub mean: Vec<f32>,
    pub variance: Vec<f32>,
}

/// Inference mode with given statistics, in burn's order of f32 operations.
pub fn eval(x: &FlexTensor, gamma: &FlexTensor, beta: &FlexTensor, mean: &FlexTensor, variance: &FlexTensor, epsilon: f64) -> FlexTensor {
    let [n, c, h, w] = x.shape().dims();
    let (gamma, beta, mean, variance) = (floats(gamma), floats(beta), floats(mean), floats(variance));
    let std: Vec<f32> = variance.iter().map(|v| (v + epsilon as f32).sqrt()).collect();
    let x = floats(x);
    // SAFETY: the planes cover the output and each is written whole.
    let out = unsafe {
        filled(x.len(), |out| {
            out.par_chunks_mut(h * w).zip(x.par_chunks(h * w)).enumerate().for_each(|(plane, (out, x))| {
                let k = plane % c;
                let (m, s, g, b) = (mean[k], std[k], gamma[k], beta[k]);
                out.iter_mut().zip(x).for_each(|(o, v)| {
                    o.write(((v - m) / s) * g + b);
                });
            })
        })
    };
    tensor(out, [n, c, h, w])
}

/// Training mode: the output and the batch's statistics.
pub fn forward(x: &FlexTensor, gamma: &FlexTensor, beta: &FlexTensor, epsilon: f64) -> (FlexTensor, Stats) {
    let [n, c, h, w] = x.shape().dims();
    let (x, gamma, beta) = (floats(x), floats(gamma), floats(beta));
    let stats = statistics(&x, [n, c, h * w]);
    let scale: Vec<f32> = stats.variance.iter().zip(gamma.iter()).map(|(v, g)| g / (v + epsilon as f32).sqrt()).collect();
    let shift: Vec<f32> = (0..c).map(|k| beta[k] - stats.mean[k] * scale[k]).collect();
    // SAFETY: the planes cover the output and each is written whole.
    let out = unsafe {
        filled(x.len(), |out| {
            out.par_chunks_mut(h * w).zip(x.par_chunks(h * w)).enumerate().for_each(|(plane, (out, x))| {
                let (a, b) = (scale[plane % c], shift[plane % c]);
                out.iter_mut().zip(x).for_each(|(o, v)| {
                    o.write(v * a + b);
                });
            })
        })
    };
    (tensor(out, [n, c, h, w]), stats)
}

/// The values of channel `k` as the planes (one per image) that hold them.
fn channel<'a>(values: &'a [f32], k: usize, [n, c, hw]: [usize; 3]) -> impl Iterator<Item = &'a [f32]> + 'a {
    (0..n).map(move |i| &values[(i * c + k) * hw..][..hw])
}

/// Mean, then the mean squared deviation from it (two passes, in f64).
fn statistics(x: &[f32], shape @ [n, c, hw]: [usize; 3]) -> Stats {
    let count = (n * hw) as f64;
    let (mean, variance) = (0..c)
        .into_par_iter()
        .map(|k| {
            let mean = channel(x, k, shape).map(|plane| sum8(plane, plane, |v, _| v as f64)).sum::<f64>() / count;
            let var = channel(x, k, shape).map(|plane| sum8(plane, plane, |v, _| (v as f64 - mean).powi(2))).sum::<f64>() / count;
            (mean as f32, var as f32)
        })
        .unzip();
    Stats { mean, variance }
}

/// The f64 sum of f(a[i], b[i]), in eight interleaved running sums: a
/// single running sum is one long chain of dependent additions that the
/// compiler may not reorder, and ran at a fraction of the memory speed.
fn sum8(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f64) -> f64 {
    assert_eq!(a.len(), b.len());
    let mut sums = [0.0f64; 8];
    let (a_chunks, b_chunks) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f64 = a_chunks.remainder().iter().zip(b_chunks.remainder()).map(|(x, y)| f(*x, *y)).sum();
    for (x, y) in a_chunks.zip(b_chunks) {
        for ((s, x), y) in sums.iter_mut().zip(x).zip(y) {
            *s += f(*x, *y);
        }
    }
    sums.iter().sum::<f64>() + tail
}

pub struct NormGrads {
    pub x: Vec<f32>,
    pub gamma: Vec<f32>,
    pub beta: Vec<f32>,
}

/// With xhat = (x - mean) / std: dbeta = sum(dy), dgamma = sum(dy * xhat),
/// dx = gamma / std * (dy - mean(dy) - xhat * mean(dy * xhat)).
pub fn backward(x: &[f32], gamma: &[f32], dy: &[f32], stats: &Stats, epsilon: f64, shape @ [n, c, hw]: [usize; 3]) -> NormGrads {
    let inv_std: Vec<f32> = stats.variance.iter().map(|v| 1.0 / (v + epsilon as f32).sqrt()).collect();
    let (beta, gamma_grad): (Vec<f32>, Vec<f32>) = (0..c)
        .into_par_iter()
        .map(|k| {
            let (m, s) = (stats.mean[k], inv_std[k]);
            let (mut sum_dy, mut sum_dy_xhat) = (0.0f64, 0.0f64);
            for (xs, gs) in channel(x, k, shape).zip(channel(dy, k, shape)) {
                sum_dy += sum8(gs, gs, |g, _| g as f64);
                sum_dy_xhat += sum8(gs, xs, |g, v| (g * (v - m) * s) as f64);
            }
            (sum_dy as f32, sum_dy_xhat as f32)
        })
        .unzip();
    let count = (n * hw) as f32;
    // SAFETY: the planes cover dx and each is written whole.
    let dx = unsafe {
        filled(x.len(), |dx| {
            dx.par_chunks_mut(hw).zip(x.par_chunks(hw).zip(dy.par_chunks(hw))).enumerate().for_each(|(plane, (dx, (x, dy)))| {
                let k = plane % c;
                let (m, s, scale) = (stats.mean[k], inv_std[k], gamma[k] * inv_std[k]);
                let (mean_dy, mean_dy_xhat) = (beta[k] / count, gamma_grad[k] / count);
                for ((o, v), g) in dx.iter_mut().zip(x).zip(dy) {
                    o.write(scale * (g - mean_dy - (v - m) * s * mean_dy_xhat));
                }
            })
        })
    };
    NormGrads { x: dx, gamma: gamma_grad, beta }
}
