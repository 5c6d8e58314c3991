//! The convolution composed of burn operations, for backends without the
//! own kernels (Vulkan): burn's conv2d and ReLU, differentiated by burn.

use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Tensor, activation};

pub fn conv3x3(x: Tensor<4>, weight: Tensor<4>, bias: Tensor<1>, relu: bool) -> Tensor<4> {
    let out = conv2d(x, weight, Some(bias), ConvOptions::new([1, 1], [1, 1], [1, 1], 1));
    if relu { activation::relu(out) } else { out }
}
