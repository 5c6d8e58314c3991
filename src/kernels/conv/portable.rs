//! 3x3 convolution, stride 1, zero padding 1 (Keras "same"), by im2col and
//! matrix products: the path for CPUs without AVX-512 (`avx512` is
//! faster where it runs), and a second implementation for tests to compare.
//!
//! Each image becomes a [c_in*9, h*w] patch matrix (im2col) and one matrix
//! product with the [c_out, c_in*9] kernel, single-threaded; rayon spreads
//! the fixed groups of images over the threads.

use super::{ConvDims, ConvGrads, IMAGES_PER_TASK, flipped_kernel, relu_backward, sum_in_order};
use rayon::prelude::*;

/// out[n, c_out, h, w] = bias + conv(x, weight), then max(0, .) when `relu`.
pub fn forward(x: &[f32], weight: &[f32], bias: &[f32], d: ConvDims, relu: bool) -> Vec<f32> {
    let mut out = vec![0.0f32; d.n * d.output_len()];
    out.par_chunks_mut(IMAGES_PER_TASK * d.output_len()).zip(x.par_chunks(IMAGES_PER_TASK * d.input_len())).for_each_init(
        || vec![0.0f32; patch_rows(d) * d.plane()],
        |patches, (out, x)| {
            for (out, x) in out.chunks_mut(d.output_len()).zip(x.chunks(d.input_len())) {
                im2col(x, d, patches);
                for (row, b) in out.chunks_mut(d.plane()).zip(bias) {
                    row.fill(*b);
                }
                // out[c_out, hw] += weight[c_out, k] . patches[k, hw]
                let product = Product { m: d.c_out, n: d.plane(), k: patch_rows(d), accumulate: true };
                product.run(out, (weight, patch_rows(d), 1), (patches, d.plane(), 1));
                if relu {
                    out.iter_mut().for_each(|v| *v = v.max(0.0));
                }
            }
        },
    );
    out
}

/// Gradients for weight and bias, and for the input when `want_input`,
/// given the output gradient and, when a ReLU followed, its output.
pub fn backward(x: &[f32], weight: &[f32], grad_out: &[f32], relu_out: Option<&[f32]>, d: ConvDims, want_input: bool) -> ConvGrads {
    let masked = relu_out.map(|out| relu_backward(grad_out, out));
    let grad_out = masked.as_deref().unwrap_or(grad_out);
    let partials: Vec<(Vec<f32>, Vec<f32>)> = x
        .par_chunks(IMAGES_PER_TASK * d.input_len())
        .zip(grad_out.par_chunks(IMAGES_PER_TASK * d.output_len()))
        .map_init(|| vec![0.0f32; patch_rows(d) * d.plane()], |patches, (x, g)| weight_grad_task(x, g, d, patches))
        .collect();
    let (weights, biases): (Vec<Vec<f32>>, Vec<Vec<f32>>) = partials.into_iter().unzip();
    let (grad_w, grad_b) = (sum_in_order(&weights, weight.len()), sum_in_order(&biases, d.c_out));
    // The input gradient is the "same" convolution of the output gradient
    // with the kernel flipped in space and its channel axes swapped.
    let input = want_input.then(|| {
        let swapped = ConvDims { c_in: d.c_out, c_out: d.c_in, ..d };
        forward(grad_out, &flipped_kernel(weight, d), &vec![0.0; d.c_in], swapped, false)
    });
    ConvGrads { input, weight: grad_w, bias: grad_b }
}

/// One group of images' share of the weight and bias gradients.
fn weight_grad_task(x: &[f32], grad_out: &[f32], d: ConvDims, patches: &mut [f32]) -> (Vec<f32>, Vec<f32>) {
    let (k, hw) = (patch_rows(d), d.plane());
    let mut grad_w = vec![0.0f32; d.c_out * k];
    let mut grad_b = vec![0.0f32; d.c_out];
    for (x, g) in x.chunks(d.input_len()).zip(grad_out.chunks(d.output_len())) {
        im2col(x, d, patches);
        // grad_w[c_out, k] += grad_out[c_out, hw] . patches[k, hw]^T
        let product = Product { m: d.c_out, n: k, k: hw, accumulate: true };
        product.run(&mut grad_w, (g, hw, 1), (patches, 1, hw));
        for (b, row) in grad_b.iter_mut().zip(g.chunks(hw)) {
            *b += row.iter().sum::<f32>();
        }
    }
    (grad_w, grad_b)
}

/// Rows of the patch matrix: one per (input channel, kernel row, kernel column).
fn patch_rows(d: ConvDims) -> usize {
    d.c_in * 9
}

/// The horizontal shift of kernel column `kx`: input column = output column + shift.
fn shift(kx: usize) -> isize {
    kx as isize - 1
}

/// patches[(c, ky, kx), (oy, ox)] = x[c, oy + ky - 1, ox + kx - 1], zero outside.
fn im2col(x: &[f32], d: ConvDims, patches: &mut [f32]) {
    let (h, w, hw) = (d.h, d.w, d.plane());
    for (row_index, row) in patches.chunks_mut(hw).enumerate() {
        let (c, ky, kx) = (row_index / 9, row_index / 3 % 3, row_index % 3);
        let plane = &x[c * hw..][..hw];
        for (oy, dst) in row.chunks_mut(w).enumerate() {
            let iy = oy as isize + shift(ky);
            if iy < 0 || iy >= h as isize {
                dst.fill(0.0);
                continue;
            }
            let src = &plane[iy as usize * w..][..w];
            match shift(kx) {
                -1 => {
                    dst[0] = 0.0;
                    dst[1..].copy_from_slice(&src[..w - 1]);
                }
                0 => dst.copy_from_slice(src),
                _ => {
                    dst[..w - 1].copy_from_slice(&src[1..]);
                    dst[w - 1] = 0.0;
                }
            }
        }
    }
}

/// dst[m, n] = (dst if accumulate, else 0) + lhs[m, k] . rhs[k, n]; dst is
/// row-major, each operand a slice with its (row stride, column stride).
#[derive(Clone, Copy)]
struct Product {
    m: usize,
    n: usize,
    k: usize,
    accumulate: bool,
}

impl Product {
    fn run(&self, dst: &mut [f32], lhs: (&[f32], usize, usize), rhs: (&[f32], usize, usize)) {
        let (Product { m, n, k, .. }, (lhs, lhs_rs, lhs_cs), (rhs, rhs_rs, rhs_cs)) = (*self, lhs, rhs);
        assert!(dst.len() >= m * n, "product destination too short");
        assert!(m == 0 || k == 0 || lhs.len() > (m - 1) * lhs_rs + (k - 1) * lhs_cs, "product lhs too short");
        assert!(k == 0 || n == 0 || rhs.len() > (k - 1) * rhs_rs + (n - 1) * rhs_cs, "product rhs too short");
        // SAFETY: the asserts above keep every index gemm reads or writes
        // inside the three slices; dst is borrowed mutably, so nothing aliases it.
        unsafe {
            gemm::gemm(
                m,
                n,
                k,
                dst.as_mut_ptr(),
                1,
                n as isize,
                self.accumulate,
                lhs.as_ptr(),
                lhs_cs as isize,
                lhs_rs as isize,
                rhs.as_ptr(),
                rhs_cs as isize,
                rhs_rs as isize,
                1.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::None,
            )
        }
    }
}
