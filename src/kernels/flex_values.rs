//! Moving values between burn-flex tensors and the plain slices the
//! model's own kernels (`conv_op`, `pool_op`, `norm_op`, `dropout_op`) work
//! on, and the small helpers those kernels share.

use burn::tensor::{DType, Shape, TensorData};
use burn_flex::FlexTensor;
use std::borrow::Cow;
use std::mem::MaybeUninit;

/// The f32 values of a tensor in row-major order (copied only when the
/// tensor is a strided view).
pub fn floats(t: &FlexTensor) -> Cow<'_, [f32]> {
    assert_eq!(t.dtype(), DType::F32, "the model's own kernels support f32 tensors only");
    match t.as_slice::<f32>() {
        Some(values) => Cow::Borrowed(values),
        None => Cow::Owned(t.to_contiguous().as_slice::<f32>().expect("contiguous after copy").to_vec()),
    }
}

/// A contiguous f32 tensor of `shape` holding `values`.
pub fn tensor<const D: usize>(values: Vec<f32>, shape: [usize; D]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, Shape::new(shape)))
}

/// A vector of `len` values that `fill` writes, without zeroing them first
/// (a pass over memory that every kernel output then overwrites).
///
/// # Safety
/// `fill` must write every element of the slice it is given.
pub unsafe fn filled(len: usize, fill: impl FnOnce(&mut [MaybeUninit<f32>])) -> Vec<f32> {
    let mut out: Vec<f32> = Vec::with_capacity(len);
    fill(&mut out.spare_capacity_mut()[..len]);
    // SAFETY: the caller's fill wrote all `len` values.
    unsafe { out.set_len(len) };
    out
}

/// The AVX-512 lane mask of a vector that `len` values fill (all 16 lanes
/// from 16 on): the first `len` bits set.
pub fn lanes(len: usize) -> u16 {
    if len >= 16 { 0xffff } else { (1u16 << len) - 1 }
}
