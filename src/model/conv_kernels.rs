//! 3x3 convolution, stride 1, zero padding 1 (Keras "same"), on contiguous
//! NCHW f32 slices: forward, input gradient and weight/bias gradients.
//!
//! Each image becomes a [c_in*9, h*w] patch matrix (im2col) and one matrix
//! product with the [c_out, c_in*9] kernel. Images are split into fixed
//! groups of `IMAGES_PER_TASK` that rayon spreads over the threads, each
//! product single-threaded: both cores stay busy without the per-product
//! synchronisation of a threaded GEMM, and the weight gradient, summed group
//! by group in a fixed order, is the same whatever the thread count.

use rayon::prelude::*;

const IMAGES_PER_TASK: usize = 4;

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
    fn plane(&self) -> usize {
        self.h * self.w
    }
    /// Rows of the patch matrix: one per (input channel, kernel row, kernel column).
    fn patch_rows(&self) -> usize {
        self.c_in * 9
    }
    fn input_len(&self) -> usize {
        self.c_in * self.plane()
    }
    fn output_len(&self) -> usize {
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
    let mut out = vec![0.0f32; d.n * d.output_len()];
    out.par_chunks_mut(IMAGES_PER_TASK * d.output_len()).zip(x.par_chunks(IMAGES_PER_TASK * d.input_len())).for_each_init(
        || vec![0.0f32; d.patch_rows() * d.plane()],
        |patches, (out, x)| {
            for (out, x) in out.chunks_mut(d.output_len()).zip(x.chunks(d.input_len())) {
                im2col(x, d, patches);
                for (row, b) in out.chunks_mut(d.plane()).zip(bias) {
                    row.fill(*b);
                }
                // out[c_out, hw] += weight[c_out, k] . patches[k, hw]
                let product = Product { m: d.c_out, n: d.plane(), k: d.patch_rows(), accumulate: true };
                product.run(out, (weight, d.patch_rows(), 1), (patches, d.plane(), 1));
                if relu {
                    out.iter_mut().for_each(|v| *v = v.max(0.0));
                }
            }
        },
    );
    out
}

/// Gradients for weight and bias, and for the input when `want_input`,
/// given the gradient of the convolution's output (before any ReLU).
pub fn backward(x: &[f32], weight: &[f32], grad_out: &[f32], d: ConvDims, want_input: bool) -> ConvGrads {
    check_lengths(x, weight, d);
    assert_eq!(grad_out.len(), d.n * d.output_len(), "conv output gradient has the wrong length for {d:?}");
    let partials: Vec<(Vec<f32>, Vec<f32>)> = x
        .par_chunks(IMAGES_PER_TASK * d.input_len())
        .zip(grad_out.par_chunks(IMAGES_PER_TASK * d.output_len()))
        .map_init(|| vec![0.0f32; d.patch_rows() * d.plane()], |patches, (x, g)| weight_grad_task(x, g, d, patches))
        .collect();
    let (mut grad_w, mut grad_b) = (vec![0.0f32; weight.len()], vec![0.0f32; d.c_out]);
    for (w, b) in &partials {
        grad_w.iter_mut().zip(w).for_each(|(acc, v)| *acc += v);
        grad_b.iter_mut().zip(b).for_each(|(acc, v)| *acc += v);
    }
    // The input gradient is the "same" convolution of the output gradient
    // with the kernel flipped in space and its channel axes swapped.
    let input = want_input.then(|| {
        let swapped = ConvDims { c_in: d.c_out, c_out: d.c_in, ..d };
        forward(grad_out, &flip_kernel(weight, d), &vec![0.0; d.c_in], swapped, false)
    });
    ConvGrads { input, weight: grad_w, bias: grad_b }
}

/// grad * (out > 0): the gradient before a ReLU whose output was `out`.
pub fn relu_backward(grad: &[f32], out: &[f32]) -> Vec<f32> {
    grad.par_iter().zip(out).map(|(g, o)| if *o > 0.0 { *g } else { 0.0 }).collect()
}

/// [c_out, c_in, ky, kx] -> [c_in, c_out, 2 - ky, 2 - kx].
fn flip_kernel(weight: &[f32], d: ConvDims) -> Vec<f32> {
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

/// One group of images' share of the weight and bias gradients.
fn weight_grad_task(x: &[f32], grad_out: &[f32], d: ConvDims, patches: &mut [f32]) -> (Vec<f32>, Vec<f32>) {
    let (k, hw) = (d.patch_rows(), d.plane());
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

fn check_lengths(x: &[f32], weight: &[f32], d: ConvDims) {
    assert_eq!(x.len(), d.n * d.input_len(), "conv input has the wrong length for {d:?}");
    assert_eq!(weight.len(), d.c_out * d.patch_rows(), "conv kernel has the wrong length for {d:?}");
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
