//! Layer outputs of a trained model (inference mode) for chosen images:
//! what center initialisation, separation metrics and t-SNE read.

use super::Cnn;
use super::input::batch_images;
use crate::data::dataset::Split;
use burn::tensor::Device;

/// A layer whose output can be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tap {
    /// First Conv2D after ReLU, 64 x 32 x 32.
    FirstConv,
    /// Last Conv2D after ReLU, 256 x 8 x 8.
    LastConv,
    /// First Dense after ReLU, 512.
    Dense,
    /// The class layer (before softmax), 10.
    Logits,
}

impl Tap {
    pub fn width(self) -> usize {
        match self {
            Tap::FirstConv => 64 * 32 * 32,
            Tap::LastConv => 256 * 8 * 8,
            Tap::Dense => 512,
            Tap::Logits => 10,
        }
    }
}

/// Row-major [indices.len() x tap.width()] outputs of each tap, flattened
/// per image in the layer's (C, H, W) order.
pub fn extract(model: &Cnn, split: &Split, indices: &[usize], taps: &[Tap], batch: usize, device: &Device) -> Vec<Vec<f32>> {
    let mut out: Vec<Vec<f32>> = taps.iter().map(|t| Vec::with_capacity(indices.len() * t.width())).collect();
    for chunk in indices.chunks(batch.max(1)) {
        let acts = model.activations(batch_images(split, chunk, None, device));
        for (tap, sink) in taps.iter().zip(out.iter_mut()) {
            let data = match tap {
                Tap::FirstConv => acts.first_conv.clone().into_data(),
                Tap::LastConv => acts.last_conv.clone().into_data(),
                Tap::Dense => acts.dense.clone().into_data(),
                Tap::Logits => acts.logits.clone().into_data(),
            };
            sink.extend(data.try_into_vec::<f32>().expect("activations are f32"));
        }
    }
    out
}
