//! Moving values between burn-flex tensors and the plain slices the
//! model's own kernels (`conv_op`, `pool_op`, `norm_op`) work on.

use burn::tensor::{DType, Shape, TensorData};
use burn_flex::FlexTensor;
use std::borrow::Cow;

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
