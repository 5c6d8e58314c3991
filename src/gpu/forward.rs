//! The GPU loop's training forward: `Cnn::activations`' walk of the
//! model's layers (`Cnn::layers`), the dropout layers taking masks made
//! ahead (`masks`), the rest applied as the model applies them.

use super::masks::StepMasks;
use crate::model::Cnn;
use crate::model::cnn::{Layer, Value};
use burn::tensor::Tensor;

/// What a training step uses of the forward.
pub struct StepOutputs {
    pub logits: Tensor<2>,
    /// The dense layer's output (center loss's features).
    pub dense: Tensor<2>,
}

pub fn forward(model: &Cnn, images: Tensor<4>, masks: &mut StepMasks) -> StepOutputs {
    let mut x = Value::Maps(images);
    let mut dense = None;
    for (name, layer) in model.layers() {
        x = match (layer, x) {
            (Layer::Dropout(d), Value::Maps(t)) => Value::Maps(masks.dropout(d, t)),
            (Layer::Dropout(d), Value::Flat(t)) => Value::Flat(masks.dropout(d, t)),
            (layer, x) => layer.apply(x),
        };
        if let ("dense", Value::Flat(t)) = (name.as_str(), &x) {
            dense = Some(t.clone());
        }
    }
    let Value::Flat(logits) = x else { unreachable!("the model ends in a Dense layer") };
    StepOutputs { logits, dense: dense.expect("model has dense") }
}
