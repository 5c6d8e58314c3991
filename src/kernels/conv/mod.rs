//! 3x3 convolution, stride 1, zero padding 1 (Keras "same"), on contiguous
//! NCHW f32 slices: forward, input gradient and weight/bias gradients.
//!
//! `op` is the burn-facing op. Two kernels: `avx512` (direct, register
//! tiles) where the CPU has AVX-512, else `portable` (im2col patch matrices
//! and `gemm`); the CPU token chooses between them here. Both
//! split the batch into fixed groups of `IMAGES_PER_TASK` images that rayon
//! spreads over the threads and sum the weight gradient group by group in
//! a fixed order, so results do not depend on the thread count.

#[cfg(target_arch = "x86_64")]
pub mod avx512;
pub mod generic;
pub mod op;
pub mod portable;

pub use op::conv3x3;

use crate::kernels::cpu::Avx512;

pub const IMAGES_PER_TASK: usize = 4;

/// Shapes of one convolution: input [n, c_in, h, w], kernel [c_out, c_in, 3, 3].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvDims {
    pub n: usize,
    pub c_in: usize,
    pub c_out: usize,
    pub h: usize,
    pub w: usize,
}

impl ConvDims {
    pub fn plane(&self) -> usize {
        self.h * self.w
    }
    /// Values of one input image.
    pub fn input_len(&self) -> usize {
        self.c_in * self.plane()
    }
    /// Values of one output image.
    pub fn output_len(&self) -> usize {
        self.c_out * self.plane()
    }
}

/// Gradients of one convolution; `input` only when it was asked for.
pub struct ConvGrads {
    pub input: Option<Vec<f32>>,
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
}

/// out[n, c_out, h, w] = bias + conv(x, weight), then max(0, .) when `relu`.
pub fn forward(x: &[f32], weight: &[f32], bias: &[f32], d: ConvDims, relu: bool) -> Vec<f32> {
    check_lengths(x, weight, d);
    assert_eq!(bias.len(), d.c_out, "conv bias has {} values for {} output channels", bias.len(), d.c_out);
    #[cfg(target_arch = "x86_64")]
    if let Some(cpu) = Avx512::detect() {
        return avx512::forward(cpu, x, weight, bias, d, relu);
    }
    portable::forward(x, weight, bias, d, relu)
}

/// Gradients for weight and bias, and for the input when `want_input`,
/// given the gradient of the output and, when a ReLU followed
/// (`relu_out`), the output itself.
pub fn backward(x: &[f32], weight: &[f32], grad_out: &[f32], relu_out: Option<&[f32]>, d: ConvDims, want_input: bool) -> ConvGrads {
    check_lengths(x, weight, d);
    assert_eq!(grad_out.len(), d.n * d.output_len(), "conv output gradient has the wrong length for {d:?}");
    assert!(relu_out.is_none_or(|o| o.len() == grad_out.len()), "conv ReLU output has the wrong length for {d:?}");
    #[cfg(target_arch = "x86_64")]
    if let Some(cpu) = Avx512::detect() {
        return avx512::backward(cpu, x, weight, grad_out, relu_out, d, want_input);
    }
    portable::backward(x, weight, grad_out, relu_out, d, want_input)
}

/// grad * (out > 0): the gradient before a ReLU whose output was `out`.
pub fn relu_backward(grad: &[f32], out: &[f32]) -> Vec<f32> {
    use rayon::prelude::*;
    grad.par_iter().zip(out).map(|(g, o)| if *o > 0.0 { *g } else { 0.0 }).collect()
}

/// [c_out, c_in, ky, kx] -> [c_in, c_out, 2 - ky, 2 - kx]: the kernel whose
/// "same" convolution of the output gradient is the input gradient.
pub fn flipped_kernel(weight: &[f32], d: ConvDims) -> Vec<f32> {
    let mut flipped = vec![0.0f32; weight.len()];
    for co in 0..d.c_out {
        for ci in 0..d.c_in {
            for k in 0..9 {
                flipped[(ci * d.c_out + co) * 9 + 8 - k] = weight[(co * d.c_in + ci) * 9 + k];
            }
        }
    }
    flipped
}

/// The element-wise sum of vectors of `len` values, added in the order
/// given (so the same for any thread count); spread over the threads by element.
pub fn sum_in_order(parts: &[Vec<f32>], len: usize) -> Vec<f32> {
    use rayon::prelude::*;
    let Some(first) = parts.first() else { return vec![0.0; len] };
    let mut sum = first.clone();
    sum.par_chunks_mut(4096).enumerate().for_each(|(chunk, sum)| {
        for part in &parts[1..] {
            sum.iter_mut().zip(&part[chunk * 4096..]).for_each(|(acc, v)| *acc += v);
        }
    });
    sum
}

fn check_lengths(x: &[f32], weight: &[f32], d: ConvDims) {
    assert_eq!(x.len(), d.n * d.input_len(), "conv input has the wrong length for {d:?}");
    assert_eq!(weight.len(), d.c_out * d.c_in * 9, "conv kernel has the wrong length for {d:?}");
}
