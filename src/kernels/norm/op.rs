//! The burn-facing ops: the backend-extension traits, their Flex and
//! Autodiff implementations and the training-mode backward step.

use super::portable::{Stats, backward, eval, forward};
use crate::kernels::flex_values::{floats, tensor};
use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, ExtensionType, Flex, TensorMetadata, backend_extension};
use burn::tensor::Tensor;
use burn_flex::FlexTensor;
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
    if !crate::compute::on_flex(&x.device()) {
        return super::generic::batch_norm_eval(x, gamma, beta, mean, variance, epsilon);
    }
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
        eval(&x, &gamma, &beta, &mean, &variance, epsilon)
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
    if !crate::compute::on_flex(&x.device()) {
        return super::generic::batch_norm_train(x, gamma, beta, epsilon);
    }
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
