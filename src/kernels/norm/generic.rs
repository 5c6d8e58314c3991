//! Batch normalisation through burn's own operations, for backends without
//! the own kernels (Vulkan); burn differentiates it, through the batch
//! statistics as the own backward step does.

use burn::tensor::Tensor;
use burn::tensor::module;

/// (output, batch mean, biased batch variance); the statistics carry no gradient.
pub fn batch_norm_train(x: Tensor<4>, gamma: Tensor<1>, beta: Tensor<1>, epsilon: f64) -> (Tensor<4>, Tensor<1>, Tensor<1>) {
    let t = module::batch_norm_train(x, gamma, beta, epsilon);
    (t.output, t.mean.detach(), t.variance.detach())
}

/// ((x - mean) / sqrt(variance + epsilon)) * gamma + beta with given statistics.
pub fn batch_norm_eval(x: Tensor<4>, gamma: Tensor<1>, beta: Tensor<1>, mean: Tensor<1>, variance: Tensor<1>, epsilon: f64) -> Tensor<4> {
    module::batch_norm(x, gamma, beta, mean, variance, epsilon)
}
