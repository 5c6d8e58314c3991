//! The report's CNN (SPEC section 2) as burn modules:
//! three conv blocks (conv-ReLU, BN, conv-ReLU, max-pool, dropout; the
//! third without its second conv), global average pooling, Dense 512 with
//! ReLU and dropout, Dense 10.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::pool::{AdaptiveAvgPool2d, AdaptiveAvgPool2dConfig, MaxPool2d, MaxPool2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Dropout, DropoutConfig, Initializer, Linear, LinearConfig, PaddingConfig2d};
use burn::tensor::activation::relu;
use burn::tensor::{Device, Tensor};

/// Architecture choices the report leaves open (Keras defaults), each a
/// pipeline parameter of the `train` stage.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CnnConfig {
    /// Model a has no BatchNormalization; b onwards do.
    pub batch_norm: bool,
    /// Keras momentum: running = momentum * running + (1 - momentum) * batch.
    pub bn_momentum: f64,
    pub bn_epsilon: f64,
    pub dropout_conv: f64,
    pub dropout_dense: f64,
}

impl Default for CnnConfig {
    fn default() -> Self {
        CnnConfig { batch_norm: true, bn_momentum: 0.99, bn_epsilon: 1e-3, dropout_conv: 0.25, dropout_dense: 0.5 }
    }
}

#[derive(Module, Debug)]
pub struct Cnn {
    pub conv1: Conv2d,
    pub bn1: Option<BatchNorm>,
    pub conv2: Conv2d,
    pub conv3: Conv2d,
    pub bn2: Option<BatchNorm>,
    pub conv4: Conv2d,
    pub conv5: Conv2d,
    pub bn3: Option<BatchNorm>,
    pub pool: MaxPool2d,
    pub gap: AdaptiveAvgPool2d,
    pub dense: Linear,
    pub classifier: Linear,
    pub drop_conv: Dropout,
    pub drop_dense: Dropout,
}

/// Intermediate outputs that later stages read (t-SNE, Grad-CAM, center loss).
pub struct Activations {
    /// First Conv2D output (after ReLU), [N, 64, 32, 32].
    pub first_conv: Tensor<4>,
    /// Last Conv2D output (after ReLU), [N, 256, 8, 8]: Grad-CAM's maps.
    pub last_conv: Tensor<4>,
    /// First Dense output (after ReLU), [N, 512]: the center-loss feature.
    pub dense: Tensor<2>,
    /// Class scores before softmax, [N, 10].
    pub logits: Tensor<2>,
}

const GLOROT: Initializer = Initializer::XavierUniform { gain: 1.0 };

/// Keras Conv2D: Glorot-uniform kernel, zero bias (burn would draw the bias
/// from the kernel's initializer).
fn conv(c_in: usize, c_out: usize, device: &Device) -> Conv2d {
    let mut layer = Conv2dConfig::new([c_in, c_out], [3, 3]).with_padding(PaddingConfig2d::Same).with_initializer(GLOROT).init(device);
    layer.bias = layer.bias.map(zeroed);
    layer
}

fn zeroed<const D: usize>(p: burn::module::Param<Tensor<D>>) -> burn::module::Param<Tensor<D>> {
    p.map(|t| t.zeros_like())
}

fn batch_norm(config: &CnnConfig, channels: usize, device: &Device) -> Option<BatchNorm> {
    config.batch_norm.then(|| {
        // burn's momentum weighs the new batch; Keras's weighs the old value.
        BatchNormConfig::new(channels).with_momentum(1.0 - config.bn_momentum).with_epsilon(config.bn_epsilon).init(device)
    })
}

fn dense(d_in: usize, d_out: usize, device: &Device) -> Linear {
    // Keras Dense: Glorot-uniform weights, zero bias.
    let mut layer = LinearConfig::new(d_in, d_out).with_initializer(GLOROT).init(device);
    layer.bias = layer.bias.map(zeroed);
    layer
}

impl Cnn {
    pub fn new(config: &CnnConfig, device: &Device) -> Cnn {
        Cnn {
            conv1: conv(3, 64, device),
            bn1: batch_norm(config, 64, device),
            conv2: conv(64, 64, device),
            conv3: conv(64, 128, device),
            bn2: batch_norm(config, 128, device),
            conv4: conv(128, 128, device),
            conv5: conv(128, 256, device),
            bn3: batch_norm(config, 256, device),
            pool: MaxPool2dConfig::new([2, 2]).init(),
            gap: AdaptiveAvgPool2dConfig::new([1, 1]).init(),
            dense: dense(256, 512, device),
            classifier: dense(512, 10, device),
            drop_conv: DropoutConfig::new(config.dropout_conv).init(),
            drop_dense: DropoutConfig::new(config.dropout_dense).init(),
        }
    }

    /// Applies BatchNorm running-statistics updates still pending from the
    /// last training step; saving or evaluating without this would miss
    /// the last batch's update.
    pub fn sync_running_stats(&self) {
        for bn in [&self.bn1, &self.bn2, &self.bn3].into_iter().flatten() {
            let _ = bn.running_mean.value_sync();
            let _ = bn.running_var.value_sync();
        }
    }

    /// Class scores (before softmax) for images [N, 3, 32, 32] in 0..1.
    pub fn forward(&self, images: Tensor<4>) -> Tensor<2> {
        self.activations(images).logits
    }

    /// The layers in Keras order with Keras names; forward and the model
    /// summary both walk this list, so the summary is the real model.
    pub fn layers(&self) -> Vec<(String, Layer<'_>)> {
        let mut out: Vec<Layer> = vec![Layer::Conv(&self.conv1)];
        out.extend(self.bn1.as_ref().map(Layer::Norm));
        out.extend([Layer::Conv(&self.conv2), Layer::Pool(&self.pool), Layer::Dropout(&self.drop_conv), Layer::Conv(&self.conv3)]);
        out.extend(self.bn2.as_ref().map(Layer::Norm));
        out.extend([Layer::Conv(&self.conv4), Layer::Pool(&self.pool), Layer::Dropout(&self.drop_conv), Layer::Conv(&self.conv5)]);
        out.extend(self.bn3.as_ref().map(Layer::Norm));
        out.extend([
            Layer::Pool(&self.pool),
            Layer::Dropout(&self.drop_conv),
            Layer::Gap(&self.gap),
            Layer::Dense(&self.dense),
            Layer::Dropout(&self.drop_dense),
            Layer::Classifier(&self.classifier),
        ]);
        let mut seen: std::collections::BTreeMap<&str, usize> = Default::default();
        out.into_iter()
            .map(|layer| {
                let base = layer.keras_name();
                let n = seen.entry(base).or_insert(0);
                let name = if *n == 0 { base.to_string() } else { format!("{base}_{n}") };
                *n += 1;
                (name, layer)
            })
            .collect()
    }

    pub fn activations(&self, images: Tensor<4>) -> Activations {
        let mut x = Value::Maps(images);
        let (mut first_conv, mut last_conv, mut dense) = (None, None, None);
        for (name, layer) in self.layers() {
            x = layer.apply(x);
            match (name.as_str(), &x) {
                ("conv2d", Value::Maps(t)) => first_conv = Some(t.clone()),
                ("conv2d_4", Value::Maps(t)) => last_conv = Some(t.clone()),
                ("dense", Value::Flat(t)) => dense = Some(t.clone()),
                _ => {}
            }
        }
        let Value::Flat(logits) = x else { unreachable!("the model ends in a Dense layer") };
        Activations {
            first_conv: first_conv.expect("model has conv2d"),
            last_conv: last_conv.expect("model has conv2d_4"),
            dense: dense.expect("model has dense"),
            logits,
        }
    }
}

/// One layer of the model, borrowed.
pub enum Layer<'a> {
    Conv(&'a Conv2d),
    Norm(&'a BatchNorm),
    Pool(&'a MaxPool2d),
    Dropout(&'a Dropout),
    Gap(&'a AdaptiveAvgPool2d),
    Dense(&'a Linear),
    Classifier(&'a Linear),
}

/// A layer's input or output: feature maps, or flat features after pooling.
#[derive(Clone)]
pub enum Value {
    Maps(Tensor<4>),
    Flat(Tensor<2>),
}

impl Value {
    pub fn dims(&self) -> Vec<usize> {
        match self {
            Value::Maps(t) => t.dims().to_vec(),
            Value::Flat(t) => t.dims().to_vec(),
        }
    }
}

/// A Conv2D layer and its ReLU through `conv_op`'s 3x3 kernels: every
/// convolution of this model is 3x3 with stride 1 and "same" padding (see `conv`).
fn conv_relu(layer: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    debug_assert_eq!(layer.kernel_size, [3, 3]);
    let bias = layer.bias.as_ref().expect("the model's convolutions have a bias").val();
    crate::kernels::conv::conv3x3(x, layer.weight.val(), bias, true)
}

/// BatchNorm through `norm_op`: with the running statistics for inference
/// (the values of burn's `BatchNorm::forward`), with the batch's when
/// training, updating the running statistics exactly as burn does.
fn normalize(bn: &BatchNorm, x: Tensor<4>) -> Tensor<4> {
    if !(x.device().is_autodiff() && bn.training.is_enabled()) {
        let device = x.device();
        let (mean, variance) = (bn.running_mean.value().to_device(&device), bn.running_var.value().to_device(&device));
        return crate::kernels::norm::batch_norm_eval(x, bn.gamma.val(), bn.beta.val(), mean, variance, bn.epsilon);
    }
    let (output, mean, variance) = crate::kernels::norm::batch_norm_train(x, bn.gamma.val(), bn.beta.val(), bn.epsilon);
    let device = output.device();
    for (running, batch) in [(&bn.running_mean, mean), (&bn.running_var, variance)] {
        let updated = running.value_sync().to_device(&device).mul_scalar(1.0 - bn.momentum).add(batch.detach().mul_scalar(bn.momentum));
        running.update(updated.detach());
    }
    output
}

impl Layer<'_> {
    pub fn keras_name(&self) -> &'static str {
        match self {
            Layer::Conv(_) => "conv2d",
            Layer::Norm(_) => "batch_normalization",
            Layer::Pool(_) => "max_pooling2d",
            Layer::Dropout(_) => "dropout",
            Layer::Gap(_) => "global_average_pooling2d",
            Layer::Dense(_) | Layer::Classifier(_) => "dense",
        }
    }

    pub fn apply(&self, x: Value) -> Value {
        match (self, x) {
            (Layer::Conv(c), Value::Maps(t)) => Value::Maps(conv_relu(c, t)),
            (Layer::Norm(b), Value::Maps(t)) => Value::Maps(normalize(b, t)),
            (Layer::Pool(_), Value::Maps(t)) => Value::Maps(crate::kernels::pool::max_pool2x2(t)),
            (Layer::Dropout(d), Value::Maps(t)) => Value::Maps(crate::kernels::dropout::dropout(d, t)),
            (Layer::Dropout(d), Value::Flat(t)) => Value::Flat(crate::kernels::dropout::dropout(d, t)),
            (Layer::Gap(g), Value::Maps(t)) => {
                let [n, c, _, _] = t.dims();
                Value::Flat(g.forward(t).reshape([n, c]))
            }
            (Layer::Dense(l), Value::Flat(t)) => Value::Flat(relu(l.forward(t))),
            (Layer::Classifier(l), Value::Flat(t)) => Value::Flat(l.forward(t)),
            _ => unreachable!("layer order fixes each layer's input rank"),
        }
    }

    /// (trainable, non-trainable) parameter counts, read from the tensors.
    pub fn params(&self) -> (usize, usize) {
        match self {
            Layer::Conv(c) => (c.weight.shape().num_elements() + c.bias.as_ref().map_or(0, |b| b.shape().num_elements()), 0),
            Layer::Norm(b) => {
                let trainable = b.gamma.shape().num_elements() + b.beta.shape().num_elements();
                let moving = b.running_mean.value().shape().num_elements() + b.running_var.value().shape().num_elements();
                (trainable, moving)
            }
            Layer::Dense(l) | Layer::Classifier(l) => {
                (l.weight.shape().num_elements() + l.bias.as_ref().map_or(0, |b| b.shape().num_elements()), 0)
            }
            _ => (0, 0),
        }
    }
}
