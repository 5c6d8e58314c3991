//! Grad-CAM (SPEC section 7) on the last Conv2D maps: back-propagate a
//! class score to the maps, weight each map by its mean gradient, sum,
//! ReLU, upsample to 32x32. The part of the model after the maps is
//! rebuilt from its weights as plain tensor operations on an autodiff
//! device, so inference-mode BatchNorm and dropout stay exactly as in
//! evaluation (a test checks it reproduces the model's logits).

pub mod heatmap;

use crate::model::Cnn;
use burn::nn::pool::MaxPool2d;
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor, TensorData};

/// The model from the last Conv2D output to the class scores, as
/// differentiable operations with constant weights.
pub struct Tail {
    /// Inference BatchNorm as scale and shift per channel, if any.
    norm: Option<(Tensor<4>, Tensor<4>)>,
    dense_w: Tensor<2>,
    dense_b: Tensor<2>,
    class_w: Tensor<2>,
    class_b: Tensor<2>,
    pool: MaxPool2d,
    device: Device,
}

fn copy<const D: usize>(t: Tensor<D>, device: &Device) -> Tensor<D> {
    Tensor::from_data(t.into_data(), device)
}

impl Tail {
    pub fn new(model: &Cnn, device: &Device) -> Tail {
        let ad = device.clone().autodiff();
        let norm = model.bn3.as_ref().map(|bn| {
            let var = bn.running_var.value();
            let scale = bn.gamma.val() / (var + bn.epsilon).sqrt();
            let shift = bn.beta.val() - bn.running_mean.value() * scale.clone();
            let channels = scale.dims()[0];
            (copy(scale.reshape([1, channels, 1, 1]), &ad), copy(shift.reshape([1, channels, 1, 1]), &ad))
        });
        let bias = |l: &burn::nn::Linear| {
            let b = l.bias.as_ref().map(|b| b.val()).expect("the model's Dense layers have biases");
            let n = b.dims()[0];
            copy(b.reshape([1, n]), &ad)
        };
        Tail {
            norm,
            dense_w: copy(model.dense.weight.val(), &ad),
            dense_b: bias(&model.dense),
            class_w: copy(model.classifier.weight.val(), &ad),
            class_b: bias(&model.classifier),
            pool: model.pool.clone(),
            device: ad,
        }
    }

    /// Class scores [N, 10] from last-Conv2D maps [N, 256, 8, 8].
    pub fn forward(&self, maps: Tensor<4>) -> Tensor<2> {
        let x = match &self.norm {
            Some((scale, shift)) => maps * scale.clone() + shift.clone(),
            None => maps,
        };
        let x = self.pool.forward(x);
        let [n, c, _, _] = x.dims();
        let x = x.mean_dim(3).mean_dim(2).reshape([n, c]);
        let x = relu(x.matmul(self.dense_w.clone()) + self.dense_b.clone());
        x.matmul(self.class_w.clone()) + self.class_b.clone()
    }

    /// (maps [256 x 8 x 8], d score_class / d maps) for one image's maps.
    pub fn gradient(&self, maps: &[f32], class: usize) -> Vec<f32> {
        let a = Tensor::<4>::from_data(TensorData::new(maps.to_vec(), [1, 256, 8, 8]), &self.device).require_grad();
        let score = self.forward(a.clone()).slice([0..1, class..class + 1]).sum();
        let grads = score.backward();
        a.grad(&grads).expect("maps require grad").into_data().try_into_vec::<f32>().expect("f32 gradient")
    }
}

/// The 8x8 class-activation map: ReLU(sum_k mean(grad_k) * A_k).
pub fn cam(maps: &[f32], grad: &[f32], channels: usize, side: usize) -> Vec<f32> {
    let plane = side * side;
    let mut out = vec![0f32; plane];
    for k in 0..channels {
        let alpha = grad[k * plane..(k + 1) * plane].iter().sum::<f32>() / plane as f32;
        for (o, &a) in out.iter_mut().zip(&maps[k * plane..(k + 1) * plane]) {
            *o += alpha * a;
        }
    }
    out.iter_mut().for_each(|v| *v = v.max(0.0));
    out
}

/// Bilinear upsampling of a square map (pixel centres aligned, edges
/// clamped), then scaled to 0..1 by its maximum (all zeros stays zeros).
pub fn upsample(map: &[f32], side: usize, to: usize) -> Vec<f32> {
    let scale = side as f32 / to as f32;
    let at = |y: usize, x: usize| map[y.min(side - 1) * side + x.min(side - 1)];
    let mut out = vec![0f32; to * to];
    for y in 0..to {
        let fy = ((y as f32 + 0.5) * scale - 0.5).max(0.0);
        let (y0, wy) = (fy.floor() as usize, fy - fy.floor());
        for x in 0..to {
            let fx = ((x as f32 + 0.5) * scale - 0.5).max(0.0);
            let (x0, wx) = (fx.floor() as usize, fx - fx.floor());
            let top = at(y0, x0) * (1.0 - wx) + at(y0, x0 + 1) * wx;
            let bottom = at(y0 + 1, x0) * (1.0 - wx) + at(y0 + 1, x0 + 1) * wx;
            out[y * to + x] = top * (1.0 - wy) + bottom * wy;
        }
    }
    let max = out.iter().copied().fold(0f32, f32::max);
    if max > 0.0 {
        out.iter_mut().for_each(|v| *v /= max);
    }
    out
}
