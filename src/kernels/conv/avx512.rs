//! Direct 3x3 "same" convolution with AVX-512 register tiles: no patch
//! matrix, no general matrix product.
//!
//! Every plane is stored zero-padded to (h + 2) x (w + 2). Numbering output
//! pixels q = oy * (w + 2) + ox turns each kernel tap (ky, kx) into the
//! constant offset ky * (w + 2) + kx into the padded input, so 16
//! consecutive q are one unaligned load per tap whatever the plane size;
//! the two q per row that land in the padding columns are computed and
//! dropped (forward) or given a zero gradient (backward).
//!
//! Forward and input gradient share one kernel (8 output channels x 48 q,
//! or 4 x 80 for 8x8 planes, in 24 or 20 registers): the input gradient is
//! the forward convolution of the padded output gradient with the kernel
//! flipped and its channel axes swapped. The weight gradient is vectorised
//! over output channels instead: the output gradient is first reordered to
//! [channel block][pixel][32 channels], and each pixel's 9 input values are
//! broadcast against two vectors of it into 18 registers, one per (tap,
//! 16 channels), summed over every pixel of a group of images. A group's
//! share is therefore the same whatever the thread count.

use super::{ConvDims, ConvGrads, IMAGES_PER_TASK, flipped_kernel, sum_in_order};
use crate::kernels::cpu::Avx512;
use crate::kernels::flex_values::{filled, lanes};
use crate::kernels::scratch;
use rayon::prelude::*;
use std::arch::x86_64::*;
use std::mem::MaybeUninit;

/// Forward tiles: (vectors of 16 q, output channels) held in registers;
/// a plane takes the shape that wastes the fewest q.
const TILE_SHAPES: [(usize, usize); 2] = [(3, 8), (5, 4)];
/// Output channels in one weight-gradient tile, two vectors: with the 9
/// taps, 18 accumulators.
const GRAD_BLOCK: usize = 32;

/// Where things lie in the padded planes of one image.
#[derive(Clone, Copy, Debug)]
struct Geometry {
    /// Every kernel call goes through a Geometry, so this token stands for
    /// the CPU check in all of them.
    cpu: Avx512,
    h: usize,
    w: usize,
    /// Padded row length, w + 2.
    wp: usize,
    /// Distance between two channels' padded planes.
    stride: usize,
    /// Vectors of 16 q in one forward tile, and tiles per plane.
    vecs: usize,
    tiles: usize,
}

impl Geometry {
    fn new(cpu: Avx512, h: usize, w: usize) -> Geometry {
        let wp = w + 2;
        let q = h * wp;
        let vecs = TILE_SHAPES.iter().map(|s| s.0).min_by_key(|v| q.div_ceil(16 * v) * 16 * v - q).expect("tile shapes");
        Geometry { cpu, h, w, wp, stride: (h + 2) * wp, vecs, tiles: q.div_ceil(16 * vecs) }
    }

    /// q in one forward tile.
    fn tile(&self) -> usize {
        16 * self.vecs
    }

    /// Output channels per forward tile for `channels` outputs: the tile
    /// shape's count where it divides them, else 1.
    fn channels_per_tile(&self, channels: usize) -> usize {
        let per = TILE_SHAPES.iter().find(|s| s.0 == self.vecs).expect("tile shape").1;
        if channels.is_multiple_of(per) { per } else { 1 }
    }

    /// Padded buffer for `channels` planes, with room for every read that a
    /// dropped q makes past the last plane.
    fn buffer_len(&self, channels: usize) -> usize {
        channels * self.stride + self.tiles * self.tile() + 2 * self.wp + 2
    }

    /// Forward output rows: `channels` runs of tiles * tile() q.
    fn tiled_len(&self, channels: usize) -> usize {
        channels * self.tiles * self.tile()
    }

    /// Values of `channels` output gradients blocked for the weight
    /// gradient: [channels / GRAD_BLOCK, rounded up][h * w][GRAD_BLOCK].
    fn blocked_len(&self, channels: usize) -> usize {
        channels.div_ceil(GRAD_BLOCK) * GRAD_BLOCK * self.h * self.w
    }

    /// Planes [c, h, w] as [c / GRAD_BLOCK][h * w][GRAD_BLOCK], each value
    /// zeroed where `mask` (a ReLU output) is not positive; missing
    /// channels of the last block are zero.
    fn block_gradient(&self, src: &[f32], mask: Option<&[f32]>, dst: &mut [f32]) {
        let hw = self.h * self.w;
        assert!(mask.is_none_or(|m| m.len() == src.len()) && dst.len() >= self.blocked_len(src.len() / hw));
        // SAFETY: geo.cpu proves AVX-512 F; the reads stay inside src and
        // mask (masked loads), the writes inside dst (see the assert).
        unsafe { block_gradient(self.cpu, src, mask, hw, dst) }
    }

    /// Writes planes [c, h, w] into padded planes, each value zeroed where
    /// `mask` (a ReLU output) is not positive.
    fn pad(&self, src: &[f32], mask: Option<&[f32]>, dst: &mut [f32]) {
        let hw = self.h * self.w;
        let channels = src.len() / hw;
        assert!(mask.is_none_or(|m| m.len() == src.len()) && dst.len() >= self.buffer_len(channels));
        for c in 0..channels {
            let padded = &mut dst[c * self.stride..][..self.stride];
            padded[..self.wp + 1].fill(0.0);
            for y in 0..self.h {
                let (from, to) = (c * hw + y * self.w, (y + 1) * self.wp + 1);
                // SAFETY: geo.cpu proves AVX-512 F; a row of w values is read
                // from src and mask and written to padded (asserts above).
                unsafe { copy_row(self.cpu, &src[from..], mask.map(|m| &m[from..]), &mut padded[to..], self.w) };
                // The right border of this row and the left one of the next.
                padded[to + self.w..][..2].fill(0.0);
            }
            padded[(self.h + 1) * self.wp + 1..].fill(0.0);
        }
        dst[channels * self.stride..].fill(0.0);
    }

    /// Keeps the real pixels of forward output rows, in [c, h, w].
    fn unpad(&self, tiled: &[f32], relu: bool, dst: &mut [MaybeUninit<f32>]) {
        let (run, hw) = (self.tiles * self.tile(), self.h * self.w);
        assert!(dst.len().is_multiple_of(hw) && tiled.len() >= dst.len() / hw * run, "unpad fills whole planes");
        for (plane, rows) in dst.chunks_mut(self.h * self.w).zip(tiled.chunks(run)) {
            for (y, row) in plane.chunks_mut(self.w).enumerate() {
                let src = &rows[y * self.wp..][..self.w];
                for (d, v) in row.iter_mut().zip(src) {
                    d.write(if relu { v.max(0.0) } else { *v });
                }
            }
        }
    }
}

/// Kernel [c_out, c_in, 9] as [c_out / C][c_in][9][C], C the channels per
/// tile: the C weights a tap broadcasts lie together.
fn pack(weight: &[f32], c_out: usize, c_in: usize, geo: Geometry) -> Vec<f32> {
    let per = geo.channels_per_tile(c_out);
    let mut packed = vec![0.0f32; weight.len()];
    for co in 0..c_out {
        for ci in 0..c_in {
            for t in 0..9 {
                packed[(((co / per) * c_in + ci) * 9 + t) * per + co % per] = weight[(co * c_in + ci) * 9 + t];
            }
        }
    }
    packed
}

/// out[n, c_out, h, w] = bias + conv(x, weight), then max(0, .) when `relu`.
pub fn forward(cpu: Avx512, x: &[f32], weight: &[f32], bias: &[f32], d: ConvDims, relu: bool) -> Vec<f32> {
    let geo = Geometry::new(cpu, d.h, d.w);
    let packed = pack(weight, d.c_out, d.c_in, geo);
    let (in_len, out_len) = (d.c_in * d.h * d.w, d.c_out * d.h * d.w);
    // SAFETY: unpad writes every value of every image.
    unsafe {
        filled(d.n * out_len, |out| {
            out.par_chunks_mut(IMAGES_PER_TASK * out_len).zip(x.par_chunks(IMAGES_PER_TASK * in_len)).for_each(|(out, x)| {
                let (mut padded, mut tiled) = (scratch::take(geo.buffer_len(d.c_in)), scratch::take(geo.tiled_len(d.c_out)));
                for (out, x) in out.chunks_mut(out_len).zip(x.chunks(in_len)) {
                    geo.pad(x, None, &mut padded);
                    convolve_padded(&padded, d.c_in, &packed, bias, d.c_out, geo, &mut tiled);
                    geo.unpad(&tiled, relu, out);
                }
                scratch::give(padded);
                scratch::give(tiled);
            })
        })
    }
}

/// Gradients for weight and bias, and for the input when `want_input`,
/// given the output gradient and, when a ReLU followed, its output.
pub fn backward(
    cpu: Avx512,
    x: &[f32],
    weight: &[f32],
    grad_out: &[f32],
    relu_out: Option<&[f32]>,
    d: ConvDims,
    want_input: bool,
) -> ConvGrads {
    let geo = Geometry::new(cpu, d.h, d.w);
    let flipped = want_input.then(|| pack(&flipped_kernel(weight, d), d.c_in, d.c_out, geo));
    let (in_len, out_len) = (d.c_in * d.h * d.w, d.c_out * d.h * d.w);
    let groups: Vec<Group> = (0..d.n.div_ceil(IMAGES_PER_TASK))
        .map(|i| {
            let images = i * IMAGES_PER_TASK..((i + 1) * IMAGES_PER_TASK).min(d.n);
            Group {
                x: &x[images.start * in_len..images.end * in_len],
                grad: &grad_out[images.start * out_len..images.end * out_len],
                relu_out: relu_out.map(|o| &o[images.start * out_len..images.end * out_len]),
            }
        })
        .collect();
    let mut partials: Vec<(Vec<f32>, Vec<f32>)> = Vec::new();
    let dx_len = if want_input { d.n * in_len } else { 0 };
    // SAFETY: with the kernel flipped (want_input), each group's unpad
    // writes every value of its images' input gradients.
    let grad_x = unsafe {
        filled(dx_len, |dx| {
            let mut chunks: Vec<&mut [MaybeUninit<f32>]> = dx.chunks_mut(IMAGES_PER_TASK * in_len).collect();
            chunks.resize_with(groups.len(), Default::default);
            partials = groups.par_iter().zip(chunks).map(|(group, dx)| group.backward(flipped.as_deref(), d, geo, dx)).collect();
        })
    };
    let (weights, biases): (Vec<Vec<f32>>, Vec<Vec<f32>>) = partials.into_iter().unzip();
    ConvGrads { input: want_input.then_some(grad_x), weight: sum_in_order(&weights, weight.len()), bias: sum_in_order(&biases, d.c_out) }
}

/// A group of images of the batch with their output gradients.
struct Group<'a> {
    x: &'a [f32],
    grad: &'a [f32],
    relu_out: Option<&'a [f32]>,
}

impl Group<'_> {
    fn grad(&self, image: usize, out_len: usize) -> &[f32] {
        &self.grad[image * out_len..][..out_len]
    }

    fn mask(&self, image: usize, out_len: usize) -> Option<&[f32]> {
        self.relu_out.map(|o| &o[image * out_len..][..out_len])
    }

    /// This group's weight and bias gradients; with the flipped kernel, its
    /// input gradient goes to `dx`.
    fn backward(&self, flipped: Option<&[f32]>, d: ConvDims, geo: Geometry, dx: &mut [MaybeUninit<f32>]) -> (Vec<f32>, Vec<f32>) {
        let (in_len, out_len) = (d.c_in * d.h * d.w, d.c_out * d.h * d.w);
        let images = self.x.len() / in_len;
        let (x_len, b_len) = (geo.buffer_len(d.c_in), geo.blocked_len(d.c_out));
        let (mut xs, mut blocked) = (scratch::take(images * x_len), scratch::take(images * b_len));
        for i in 0..images {
            geo.pad(&self.x[i * in_len..][..in_len], None, &mut xs[i * x_len..][..x_len]);
            geo.block_gradient(self.grad(i, out_len), self.mask(i, out_len), &mut blocked[i * b_len..][..b_len]);
        }
        let grad_w = weight_grad(&xs, &blocked, images, d, geo);
        let grad_b = bias_grad(&blocked, images, d, geo);
        scratch::give(xs);
        scratch::give(blocked);
        if let Some(flipped) = flipped {
            // Image by image, so the padded gradient stays in cache.
            let (mut padded, mut tiled) = (scratch::take(geo.buffer_len(d.c_out)), scratch::take(geo.tiled_len(d.c_in)));
            let zero_bias = vec![0.0f32; d.c_in];
            for (i, dx) in dx.chunks_mut(in_len).enumerate() {
                geo.pad(self.grad(i, out_len), self.mask(i, out_len), &mut padded);
                convolve_padded(&padded, d.c_out, flipped, &zero_bias, d.c_in, geo, &mut tiled);
                geo.unpad(&tiled, false, dx);
            }
            scratch::give(padded);
            scratch::give(tiled);
        }
        (grad_w, grad_b)
    }
}

/// Sums of the blocked output gradients over images and pixels, per channel.
fn bias_grad(blocked: &[f32], images: usize, d: ConvDims, geo: Geometry) -> Vec<f32> {
    let b_len = geo.blocked_len(d.c_out);
    let mut sums = vec![0.0f32; b_len / (geo.h * geo.w)];
    for image in blocked.chunks(b_len).take(images) {
        for (block, rows) in image.chunks(GRAD_BLOCK * geo.h * geo.w).enumerate() {
            let sums = &mut sums[block * GRAD_BLOCK..][..GRAD_BLOCK];
            for row in rows.chunks(GRAD_BLOCK) {
                sums.iter_mut().zip(row).for_each(|(s, v)| *s += v);
            }
        }
    }
    sums.truncate(d.c_out);
    sums
}

/// Forward rows (tiles * tile() q per output channel) of the convolution of
/// padded planes `src` [c_src] with a packed kernel.
fn convolve_padded(src: &[f32], c_src: usize, packed: &[f32], bias: &[f32], c_dst: usize, geo: Geometry, tiled: &mut [f32]) {
    assert!(src.len() >= geo.buffer_len(c_src) && tiled.len() >= geo.tiled_len(c_dst) && packed.len() == c_dst * c_src * 9);
    let per = geo.channels_per_tile(c_dst);
    let (tile, run) = (geo.tile(), geo.tiles * geo.tile());
    for block in 0..c_dst / per {
        let weights = &packed[block * c_src * 9 * per..];
        let bias = &bias[block * per..];
        for at in (0..run).step_by(tile) {
            let (src, out) = (&src[at..], &mut tiled[block * per * run + at..]);
            // SAFETY: geo.cpu proves AVX-512 F; the assert above and
            // buffer_len keep every load (at most run - 1 + 2 * wp + 2 past
            // a plane) and store inside the slices.
            unsafe {
                match (geo.vecs, per) {
                    (3, 8) => tile_kernel::<3, 8>(src, c_src, geo, weights, bias, out, run),
                    (5, 4) => tile_kernel::<5, 4>(src, c_src, geo, weights, bias, out, run),
                    (3, _) => tile_kernel::<3, 1>(src, c_src, geo, weights, bias, out, run),
                    _ => tile_kernel::<5, 1>(src, c_src, geo, weights, bias, out, run),
                }
            }
        }
    }
}

/// One tile: C output channels x V vectors of q, summed over every source channel
/// and tap in registers.
///
/// # Safety
/// AVX-512 F (`geo.cpu`); `src` holds `c_src` padded planes of `geo` from
/// the tile on, `weights` C * 9 values a channel, `out` C rows of `run`.
#[target_feature(enable = "avx512f")]
unsafe fn tile_kernel<const V: usize, const C: usize>(
    src: &[f32],
    c_src: usize,
    geo: Geometry,
    weights: &[f32],
    bias: &[f32],
    out: &mut [f32],
    run: usize,
) {
    let (src, weights, out) = (src.as_ptr(), weights.as_ptr(), out.as_mut_ptr());
    let mut acc = [[_mm512_setzero_ps(); V]; C];
    for (c, row) in acc.iter_mut().enumerate() {
        *row = [_mm512_set1_ps(bias[c]); V];
    }
    for ci in 0..c_src {
        // SAFETY: plane ci lies inside src (the caller's contract).
        let plane = unsafe { src.add(ci * geo.stride) };
        // SAFETY: channel ci's C * 9 weights lie inside weights.
        let taps = unsafe { weights.add(ci * 9 * C) };
        for t in 0..9 {
            // SAFETY: a tap offset stays inside the padded plane.
            let at = unsafe { plane.add((t / 3) * geo.wp + t % 3) };
            let mut xs = [_mm512_setzero_ps(); V];
            for (v, x) in xs.iter_mut().enumerate() {
                // SAFETY: V vectors from a tap stay inside the padded plane (buffer_len).
                *x = unsafe { _mm512_loadu_ps(at.add(16 * v)) };
            }
            for (c, row) in acc.iter_mut().enumerate() {
                // SAFETY: t < 9 and c < C index channel ci's weights.
                let wv = _mm512_set1_ps(unsafe { *taps.add(t * C + c) });
                for (a, x) in row.iter_mut().zip(&xs) {
                    *a = _mm512_fmadd_ps(*x, wv, *a);
                }
            }
        }
    }
    for (c, row) in acc.iter().enumerate() {
        for (v, a) in row.iter().enumerate() {
            // SAFETY: row c of out holds run >= 16 * V values from the tile on.
            unsafe { _mm512_storeu_ps(out.add(c * run + 16 * v), *a) };
        }
    }
}

/// This group's weight gradient [c_out, c_in, 9] from padded inputs and
/// channel-blocked output gradients (`Geometry::block_gradient`).
fn weight_grad(xs: &[f32], blocked: &[f32], images: usize, d: ConvDims, geo: Geometry) -> Vec<f32> {
    let (x_len, g_len) = (geo.buffer_len(d.c_in), geo.blocked_len(d.c_out));
    assert!(xs.len() >= images * x_len && blocked.len() >= images * g_len);
    let mut grad_w = vec![0.0f32; d.c_out * d.c_in * 9];
    for block in 0..d.c_out.div_ceil(GRAD_BLOCK) {
        for ci in 0..d.c_in {
            let x = (xs, x_len, ci * geo.stride);
            let g = (blocked, g_len, block * GRAD_BLOCK * geo.h * geo.w);
            // SAFETY: geo.cpu proves AVX-512 F; x reads stay inside plane ci
            // of each image, g reads inside this block of each image.
            let sums = unsafe { grad_kernel(x, g, images, geo) };
            for (lane, co) in (block * GRAD_BLOCK..d.c_out.min((block + 1) * GRAD_BLOCK)).enumerate() {
                for (t, taps) in sums.iter().enumerate() {
                    grad_w[(co * d.c_in + ci) * 9 + t] = taps[lane];
                }
            }
        }
    }
    grad_w
}

/// sums[t][c] = sum over images and pixels p of g[c][p] * x[p + tap t] for
/// the GRAD_BLOCK channels of one block; `x` and `g` are (buffer, length
/// of one image's part, offset in it).
///
/// # Safety
/// AVX-512 F (`geo.cpu`); each image's part holds a padded plane (x) and a
/// block of GRAD_BLOCK x h x w values (g) from its offset.
#[target_feature(enable = "avx512f")]
unsafe fn grad_kernel(x: (&[f32], usize, usize), g: (&[f32], usize, usize), images: usize, geo: Geometry) -> [[f32; GRAD_BLOCK]; 9] {
    const VECS: usize = GRAD_BLOCK / 16;
    let mut acc = [[_mm512_setzero_ps(); VECS]; 9];
    for i in 0..images {
        // SAFETY: image i's part starts inside x (the caller's contract).
        let xp = unsafe { x.0.as_ptr().add(i * x.1 + x.2) };
        // SAFETY: image i's block starts inside g.
        let mut gp = unsafe { g.0.as_ptr().add(i * g.1 + g.2) };
        for oy in 0..geo.h {
            for ox in 0..geo.w {
                let mut gv = [_mm512_setzero_ps(); VECS];
                for (v, g) in gv.iter_mut().enumerate() {
                    // SAFETY: a pixel's GRAD_BLOCK values lie inside the block.
                    *g = unsafe { _mm512_loadu_ps(gp.add(16 * v)) };
                }
                // SAFETY: moves to the next pixel, at most one past the block's end.
                gp = unsafe { gp.add(GRAD_BLOCK) };
                // SAFETY: (oy, ox) is inside the padded plane.
                let at = unsafe { xp.add(oy * geo.wp + ox) };
                for (t, row) in acc.iter_mut().enumerate() {
                    // SAFETY: a tap from a real pixel stays inside the padded plane.
                    let xv = _mm512_set1_ps(unsafe { *at.add((t / 3) * geo.wp + t % 3) });
                    for (a, g) in row.iter_mut().zip(&gv) {
                        *a = _mm512_fmadd_ps(*g, xv, *a);
                    }
                }
            }
        }
    }
    let mut sums = [[0.0f32; GRAD_BLOCK]; 9];
    for (row, out) in acc.iter().zip(sums.iter_mut()) {
        for (v, a) in row.iter().enumerate() {
            // SAFETY: out has GRAD_BLOCK = 16 * VECS values.
            unsafe { _mm512_storeu_ps(out.as_mut_ptr().add(16 * v), *a) };
        }
    }
    sums
}

/// 16 values from `src` (only the `lanes` ones read, the rest zero), each
/// zeroed where `mask` is not positive.
#[target_feature(enable = "avx512f")]
unsafe fn load_masked(src: *const f32, mask: Option<*const f32>, lanes: __mmask16) -> __m512 {
    // SAFETY: the caller makes the `lanes` values at src readable.
    let v = unsafe { _mm512_maskz_loadu_ps(lanes, src) };
    match mask {
        None => v,
        Some(m) => {
            // SAFETY: and the same lanes of mask.
            let m = unsafe { _mm512_maskz_loadu_ps(lanes, m) };
            _mm512_maskz_mov_ps(_mm512_cmp_ps_mask::<_CMP_GT_OQ>(m, _mm512_setzero_ps()), v)
        }
    }
}

/// dst[..len] = src[..len], zeroed where mask is not positive.
#[target_feature(enable = "avx512f")]
unsafe fn copy_row(_cpu: Avx512, src: &[f32], mask: Option<&[f32]>, dst: &mut [f32], len: usize) {
    for x in (0..len).step_by(16) {
        let k = lanes(len - x);
        // SAFETY: lanes(len - x) keeps reads and writes within len values of
        // src, mask and dst (the caller's contract: each holds len).
        unsafe {
            let v = load_masked(src.as_ptr().add(x), mask.map(|m| m.as_ptr().add(x)), k);
            _mm512_mask_storeu_ps(dst.as_mut_ptr().add(x), k, v);
        }
    }
}

/// Planes [c, hw] (zeroed where mask is not positive) as
/// [c / GRAD_BLOCK][hw][GRAD_BLOCK]: 16 pixels of a channel at a time,
/// scattered to 16 rows that stay in L1 while the block's channels fill them.
#[target_feature(enable = "avx512f")]
unsafe fn block_gradient(_cpu: Avx512, src: &[f32], mask: Option<&[f32]>, hw: usize, dst: &mut [f32]) {
    let channels = src.len() / hw;
    let rows =
        _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), _mm512_set1_epi32(GRAD_BLOCK as i32));
    for (block, out) in dst.chunks_mut(GRAD_BLOCK * hw).take(channels.div_ceil(GRAD_BLOCK)).enumerate() {
        let first = block * GRAD_BLOCK;
        let count = GRAD_BLOCK.min(channels - first);
        if count < GRAD_BLOCK {
            out.fill(0.0);
        }
        for p in (0..hw).step_by(16) {
            let k = lanes(hw - p);
            for c in 0..count {
                let at = (first + c) * hw + p;
                // SAFETY: lanes(hw - p) keeps reads inside channel first + c of src
                // and mask; the scatter writes rows p.. of this block of dst.
                unsafe {
                    let v = load_masked(src.as_ptr().add(at), mask.map(|m| m.as_ptr().add(at)), k);
                    _mm512_mask_i32scatter_ps::<4>(out.as_mut_ptr().add(p * GRAD_BLOCK + c), k, rows, v);
                }
            }
        }
    }
}
