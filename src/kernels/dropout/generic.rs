//! Dropout for backends without the own kernels (Vulkan): the same mask as
//! on flex (the hash of seed and element index, computed on the host),
//! uploaded and multiplied in, so burn differentiates it.

use burn::tensor::{Tensor, TensorData};

pub fn dropout<const D: usize>(x: Tensor<D>, prob: f64, seed: u64) -> Tensor<D> {
    let shape = x.shape();
    let scale = super::apply_mask(&vec![1.0; shape.num_elements()], prob, seed);
    let mask = Tensor::<D>::from_data(TensorData::new(scale, shape), &x.device());
    x * mask
}
