//! 2x2 max-pooling composed of burn operations, for backends without the
//! own kernels (Vulkan): burn's max_pool2d, differentiated by burn.

use burn::tensor::Tensor;
use burn::tensor::module::max_pool2d;
use burn::tensor::ops::MaxPoolOptions;

pub fn max_pool2x2(x: Tensor<4>) -> Tensor<4> {
    max_pool2d(x, MaxPoolOptions::new([2, 2]).with_stride([2, 2]))
}
