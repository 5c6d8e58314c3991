//! The `dataset` kind's outputs: the dataset artifact and its summary.

use super::{Inputs, find};
use crate::data::{self, Dataset};
use anyhow::Context;

/// Every image and label, normalised (`data::Dataset`'s own format).
pub const DATASET: &str = "dataset.bin";
/// Per-split counts, provenance and channel means, for reports.
pub const SUMMARY: &str = "data_summary.json";

/// Per-split summary written beside the dataset for reports.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct DataSummary {
    pub classes: Vec<String>,
    pub provenance: data::Provenance,
    pub train_counts: Vec<usize>,
    pub test_counts: Vec<usize>,
    /// Mean of each channel over the training images, in 0..1.
    pub channel_means: [f64; 3],
}

/// The dataset among a stage's inputs; the error names `stage`.
pub fn read(inputs: &Inputs, stage: &str) -> anyhow::Result<Dataset> {
    let (_, path) = find(inputs, DATASET).with_context(|| format!("stage `{stage}` needs a dataset stage in depends_on"))?;
    Dataset::read(path)
}
