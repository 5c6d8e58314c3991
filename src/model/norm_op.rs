//! Batch normalisation as burn backend extensions. Training mode (the
//! batch's own statistics): one pass for the statistics, one for the
//! output, and the same for the backward; burn-flex composes it from a
//! dozen tensor operations, several of them transposing copies of the
//! whole activation. Inference mode (given statistics): one pass where
//! burn takes four, with the same f32 operations in the same order.

use super::flex_values::{filled, floats, tensor};
use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, ExtensionType, Flex, TensorMetadata, backend_extension};
use burn::tensor::Tensor;
use burn_flex::FlexTensor;
use rayon::prelude::*;
use std::sync::Arc;

/// The normalised output and the batch's per-channel mean and biased variance.
#[derive(ExtensionType)]
pub struct BatchNormed<B: Backend> {
    pub output: FloatTensor<B>,
    pub mean: FloatTensor<B>,
    pub variance: FloatTensor<B>,
}

#[backend_extension(Flex, Autodiff)]
pub trait BatchNormBackend: Backend {
    /// x [n, c, h, w], gamma and beta [c]: (x - mean) / sqrt(var + epsilon) * gamma + beta
    /// with the batch's statistics over n, h and w. Mean and variance carry no gradient.
    fn batch_norm_train(x: FloatTensor<Self>, gamma: FloatTensor<Self>, beta: FloatTensor<Self>, epsilon: f64) -> BatchNormed<Self>;
}

#[backend_extension(Flex, Autodiff)]
pub trait BatchNormEvalBackend: Backend {
    /// x [n, c, h, w], the rest [c]: ((x - mean) / sqrt(variance + epsilon)) * gamma + beta,
    /// in burn's order of f32 operations, in one pass.
    fn batch_norm_eval(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        variance: FloatTensor<Self>,
        epsilon: f64,
    ) -> FloatTensor<Self>;
}

/// Inference-mode batch normalisation with given (running) statistics; the
/// same values as burn's `batch_norm`, which takes four passes over x.
pub fn batch_norm_eval(x: Tensor<4>, gamma: Tensor<1>, beta: Tensor<1>, mean: Tensor<1>, variance: Tensor<1>, epsilon: f64) -> Tensor<4> {
    let [x, gamma, beta, mean, variance] =
        [x.into_dispatch(), gamma.into_dispatch(), beta.into_dispatch(), mean.into_dispatch(), variance.into_dispatch()];
    Tensor::from_dispatch(<Dispatch as BatchNormEvalBackend>::batch_norm_eval(x, gamma, beta, mean, variance, epsilon))
}

impl BatchNormEvalBackend for Flex {
    fn batch_norm_eval(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        mean: FlexTensor,
        variance: FlexTensor,
        epsilon: f64,
    ) -> FlexTensor {
        let [n, c, h, w] = x.shape().dims();
        let (gamma, beta, mean, variance) = (floats(&gamma), floats(&beta), floats(&mean), floats(&variance));
        let std: Vec<f32> = variance.iter().map(|v| (v + epsilon as f32).sqrt()).collect();
        let x = floats(&x);
        // SAFETY: the planes cover the output and each is written whole.
        let out = unsafe {
            filled(x.len(), |out| {
                out.par_chunks_mut(h * w).zip(x.par_chunks(h * w)).enumerate().for_each(|(plane, (out, x))| {
                    let k = plane % c;
                    let (m, s, g, b) = (mean[k], std[k], gamma[k], beta[k]);
                    out.iter_mut().zip(x).for_each(|(o, v)| {
                        o.write(((v - m) / s) * g + b);
                    });
                })
            })
        };
        tensor(out, [n, c, h, w])
    }
}

impl<C: CheckpointStrategy> BatchNormEvalBackend for Autodiff<Flex, C> {
    /// Differentiable (Grad-CAM runs the model in eval mode): burn's own composition.
    fn batch_norm_eval(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        mean: FloatTensor<Self>,
        variance: FloatTensor<Self>,
        epsilon: f64,
    ) -> FloatTensor<Self> {
        <Self as burn::backend::ops::ModuleOps<Self>>::batch_norm(x, gamma, beta, mean, variance, epsilon)
    }
}

/// Training-mode batch normalisation: (output, batch mean, batch variance).
pub fn batch_norm_train(x: Tensor<4>, gamma: Tensor<1>, beta: Tensor<1>, epsilon: f64) -> (Tensor<4>, Tensor<1>, Tensor<1>) {
    let r = <Dispatch as BatchNormBackend>::batch_norm_train(x.into_dispatch(), gamma.into_dispatch(), beta.into_dispatch(), epsilon);
    (Tensor::from_dispatch(r.output), Tensor::from_dispatch(r.mean), Tensor::from_dispatch(r.variance))
}

impl BatchNormBackend for Flex {
    fn batch_norm_train(x: FlexTensor, gamma: FlexTensor, beta: FlexTensor, epsilon: f64) -> BatchNormed<Flex> {
        let (out, stats) = forward(&x, &gamma, &beta, epsilon);
        let c = stats.mean.len();
        BatchNormed { output: out, mean: tensor(stats.mean, [c]), variance: tensor(stats.variance, [c]) }
    }
}

impl<C: CheckpointStrategy> BatchNormBackend for Autodiff<Flex, C> {
    fn batch_norm_train(x: FloatTensor<Self>, gamma: FloatTensor<Self>, beta: FloatTensor<Self>, epsilon: f64) -> BatchNormed<Self> {
        let prepared = BatchNormStep.prepare::<C>([x.node(), gamma.node(), beta.node()]).compute_bound().stateful();
        let (stats, output) = match prepared {
            OpsKind::Tracked(mut prep) => {
                let (x_id, gamma_id) = (prep.checkpoint(&x), prep.checkpoint(&gamma));
                let (out, stats) = forward(x.primitive(), gamma.primitive(), beta.primitive(), epsilon);
                let stats = Arc::new(stats);
                (stats.clone(), prep.finish((x_id, gamma_id, stats, epsilon), out))
            }
            OpsKind::UnTracked(prep) => {
                let (out, stats) = forward(x.primitive(), gamma.primitive(), beta.primitive(), epsilon);
                (Arc::new(stats), prep.finish(out))
            }
        };
        let c = stats.mean.len();
        BatchNormed {
            output,
            mean: <FloatTensor<Self>>::new(tensor(stats.mean.clone(), [c])),
            variance: <FloatTensor<Self>>::new(tensor(stats.variance.clone(), [c])),
        }
    }
}

/// Per-channel batch statistics.
#[derive(Clone, Debug)]
struct Stats {
    mean: Vec<f32>,
    variance: Vec<f32>,
}

#[derive(Debug)]
struct BatchNormStep;

impl Backward<Flex, 3> for BatchNormStep {
    type State = (NodeId, NodeId, Arc<Stats>, f64);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, checkpointer: &mut Checkpointer) {
        let [node_x, node_gamma, node_beta] = ops.parents;
        let grad = grads.consume::<Flex>(&ops.node);
        let (x_id, gamma_id, stats, epsilon) = ops.state;
        let x: FlexTensor = checkpointer.retrieve_node_output(x_id);
        let gamma: FlexTensor = checkpointer.retrieve_node_output(gamma_id);
        let [n, c, h, w] = x.shape().dims();
        let g = backward(&floats(&x), &floats(&gamma), &floats(&grad), &stats, epsilon, [n, c, h * w]);
        if let Some(node) = node_x {
            grads.register::<Flex>(node.id, tensor(g.x, [n, c, h, w]));
        }
        if let Some(node) = node_gamma {
            grads.register::<Flex>(node.id, tensor(g.gamma, [c]));
        }
        if let Some(node) = node_beta {
            grads.register::<Flex>(node.id, tensor(g.beta, [c]));
        }
    }
}

fn forward(x: &FlexTensor, gamma: &FlexTensor, beta: &FlexTensor, epsilon: f64) -> (FlexTensor, Stats) {
    let [n, c, h, w] = x.shape().dims();
    let (x, gamma, beta) = (floats(x), floats(gamma), floats(beta));
    let stats = statistics(&x, [n, c, h * w]);
    let scale: Vec<f32> = stats.variance.iter().zip(gamma.iter()).map(|(v, g)| g / (v + epsilon as f32).sqrt()).collect();
    let shift: Vec<f32> = (0..c).map(|k| beta[k] - stats.mean[k] * scale[k]).collect();
    // SAFETY: the planes cover the output and each is written whole.
    let out = unsafe {
        filled(x.len(), |out| {
            out.par_chunks_mut(h * w).zip(x.par_chunks(h * w)).enumerate().for_each(|(plane, (out, x))| {
                let (a, b) = (scale[plane % c], shift[plane % c]);
                out.iter_mut().zip(x).for_each(|(o, v)| {
                    o.write(v * a + b);
                });
            })
        })
    };
    (tensor(out, [n, c, h, w]), stats)
}

/// The values of channel `k` as the planes (one per image) that hold them.
fn channel<'a>(values: &'a [f32], k: usize, [n, c, hw]: [usize; 3]) -> impl Iterator<Item = &'a [f32]> + 'a {
    (0..n).map(move |i| &values[(i * c + k) * hw..][..hw])
}

/// Mean, then the mean squared deviation from it (two passes, in f64).
fn statistics(x: &[f32], shape @ [n, c, hw]: [usize; 3]) -> Stats {
    let count = (n * hw) as f64;
    let (mean, variance) = (0..c)
        .into_par_iter()
        .map(|k| {
            let mean = channel(x, k, shape).map(|plane| sum8(plane, plane, |v, _| v as f64)).sum::<f64>() / count;
            let var = channel(x, k, shape).map(|plane| sum8(plane, plane, |v, _| (v as f64 - mean).powi(2))).sum::<f64>() / count;
            (mean as f32, var as f32)
        })
        .unzip();
    Stats { mean, variance }
}

/// The f64 sum of f(a[i], b[i]), in eight interleaved running sums: a
/// single running sum is one long chain of dependent additions that the
/// compiler may not reorder, and ran at a fraction of the memory speed.
fn sum8(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f64) -> f64 {
    assert_eq!(a.len(), b.len());
    let mut sums = [0.0f64; 8];
    let (a_chunks, b_chunks) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f64 = a_chunks.remainder().iter().zip(b_chunks.remainder()).map(|(x, y)| f(*x, *y)).sum();
    for (x, y) in a_chunks.zip(b_chunks) {
        for ((s, x), y) in sums.iter_mut().zip(x).zip(y) {
            *s += f(*x, *y);
        }
    }
    sums.iter().sum::<f64>() + tail
}

struct NormGrads {
    x: Vec<f32>,
    gamma: Vec<f32>,
    beta: Vec<f32>,
}

/// With xhat = (x - mean) / std: dbeta = sum(dy), dgamma = sum(dy * xhat),
/// dx = gamma / std * (dy - mean(dy) - xhat * mean(dy * xhat)).
fn backward(x: &[f32], gamma: &[f32], dy: &[f32], stats: &Stats, epsilon: f64, shape @ [n, c, hw]: [usize; 3]) -> NormGrads {
    let inv_std: Vec<f32> = stats.variance.iter().map(|v| 1.0 / (v + epsilon as f32).sqrt()).collect();
    let (beta, gamma_grad): (Vec<f32>, Vec<f32>) = (0..c)
        .into_par_iter()
        .map(|k| {
            let (m, s) = (stats.mean[k], inv_std[k]);
            let (mut sum_dy, mut sum_dy_xhat) = (0.0f64, 0.0f64);
            for (xs, gs) in channel(x, k, shape).zip(channel(dy, k, shape)) {
                sum_dy += sum8(gs, gs, |g, _| g as f64);
                sum_dy_xhat += sum8(gs, xs, |g, v| (g * (v - m) * s) as f64);
            }
            (sum_dy as f32, sum_dy_xhat as f32)
        })
        .unzip();
    let count = (n * hw) as f32;
    // SAFETY: the planes cover dx and each is written whole.
    let dx = unsafe {
        filled(x.len(), |dx| {
            dx.par_chunks_mut(hw).zip(x.par_chunks(hw).zip(dy.par_chunks(hw))).enumerate().for_each(|(plane, (dx, (x, dy)))| {
                let k = plane % c;
                let (m, s, scale) = (stats.mean[k], inv_std[k], gamma[k] * inv_std[k]);
                let (mean_dy, mean_dy_xhat) = (beta[k] / count, gamma_grad[k] / count);
                for ((o, v), g) in dx.iter_mut().zip(x).zip(dy) {
                    o.write(scale * (g - mean_dy - (v - m) * s * mean_dy_xhat));
                }
            })
        })
    };
    NormGrads { x: dx, gamma: gamma_grad, beta }
}
