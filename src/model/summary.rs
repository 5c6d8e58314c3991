//! Keras-style model summary (report Figure 1), read off the real module:
//! output shapes from a forward pass, parameter counts from its tensors.

use super::cnn::{Cnn, Value};
use burn::tensor::{Device, Tensor};

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SummaryRow {
    pub layer: String,
    /// Keras layout (H x W x C, or features).
    pub output: String,
    pub params: usize,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Summary {
    pub rows: Vec<SummaryRow>,
    pub total: usize,
    pub trainable: usize,
    pub non_trainable: usize,
}

pub fn summarise(model: &Cnn, device: &Device) -> Summary {
    let mut x = Value::Maps(Tensor::zeros([1, 3, 32, 32], device));
    let (mut rows, mut trainable, mut non_trainable) = (Vec::new(), 0, 0);
    for (name, layer) in model.layers() {
        x = layer.apply(x);
        let (t, n) = layer.params();
        trainable += t;
        non_trainable += n;
        let dims = x.dims();
        let output = match dims.as_slice() {
            [_, c, h, w] => format!("{h}x{w}x{c}"),
            [_, f] => format!("{f}"),
            other => format!("{other:?}"),
        };
        rows.push(SummaryRow { layer: name, output, params: t + n });
    }
    Summary { rows, total: trainable + non_trainable, trainable, non_trainable }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{:<28} {:<16} {:>10}", "Layer", "Output shape", "Param #")?;
        writeln!(f, "{}", "=".repeat(56))?;
        for r in &self.rows {
            writeln!(f, "{:<28} {:<16} {:>10}", r.layer, r.output, r.params)?;
        }
        writeln!(f, "{}", "=".repeat(56))?;
        writeln!(f, "Total params: {}", self.total)?;
        writeln!(f, "Trainable params: {}", self.trainable)?;
        write!(f, "Non-trainable params: {}", self.non_trainable)
    }
}
