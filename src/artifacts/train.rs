//! The `train` kind's outputs: metrics, history, the trained model.

use super::{Outputs, read_json};
use crate::model::summary::Summary;
use crate::model::{Cnn, CnnConfig};
use crate::training::history::{self, EpochRow};
use anyhow::Context;
use burn::tensor::Device;
use repro_engine::StageContext;
use std::path::Path;

/// `TrainMetrics` as JSON.
pub const METRICS: &str = "metrics.json";
/// Per-epoch history, as CSV and Parquet (named where it is written).
pub use crate::training::history::{CSV as HISTORY_CSV, PARQUET as HISTORY_PARQUET};
/// The trained weights (`model::weights`) and the configuration they fit.
pub const WEIGHTS: &str = "model.weights";
pub const MODEL_CONFIG: &str = "model_config.json";
/// Keras-style summary of the trained model (`model::summary`).
pub const MODEL_SUMMARY: &str = "model_summary.json";
/// Final class centers of a center-loss run, [classes x 512].
pub const CENTERS: &str = "centers.json";

/// Headline numbers of a training stage.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct TrainMetrics {
    pub test_loss: f64,
    pub test_accuracy: f64,
    pub epochs_run: usize,
    pub stopped_early: bool,
    pub best_epoch: Option<usize>,
    pub train_images: usize,
    pub test_images: usize,
    /// Mean intra-class over inter-class center distance of the 512-d
    /// first-Dense features of the test images (lower: tighter classes).
    pub feature_distance_ratio: f64,
    /// The center-loss weight, for center-loss runs.
    pub center_weight: Option<f64>,
    /// The run's seed (a sweep summarises runs by weight and seed).
    pub seed: u64,
}

/// A train stage's outputs, recognised by their metrics file.
pub struct TrainOutputs<'a> {
    pub stage: &'a str,
    /// The stage's `label` (a display parameter, outside its outputs).
    pub label: String,
    outputs: &'a Outputs,
}

impl<'a> TrainOutputs<'a> {
    /// `Some` when `outputs` are a train stage's.
    pub fn of(stage: &'a str, outputs: &'a Outputs, label: &str) -> Option<TrainOutputs<'a>> {
        outputs.contains_key(METRICS).then(|| TrainOutputs { stage, label: label.to_string(), outputs })
    }

    /// Every train stage among a running stage's inputs, in stage-name
    /// order, labelled by their `label` parameter (else their stage name).
    pub fn all(ctx: &'a StageContext) -> Vec<TrainOutputs<'a>> {
        let label = |stage: &str| ctx.display_of(stage, "label").unwrap_or(stage).to_string();
        ctx.inputs.iter().filter_map(|(stage, outs)| TrainOutputs::of(stage, outs, &label(stage))).collect()
    }

    /// The one train stage among a running stage's inputs that has a model.
    pub fn one(ctx: &'a StageContext) -> anyhow::Result<TrainOutputs<'a>> {
        let stage = &ctx.stage;
        let mut found = TrainOutputs::all(ctx).into_iter().filter(|t| t.outputs.contains_key(WEIGHTS));
        let first = found.next().with_context(|| format!("stage `{stage}` needs a train stage in depends_on"))?;
        anyhow::ensure!(found.next().is_none(), "stage `{stage}` depends on more than one train stage; name exactly one");
        Ok(first)
    }

    pub fn file(&self, name: &str) -> anyhow::Result<&'a Path> {
        self.outputs.get(name).map(|p| p.as_path()).with_context(|| format!("stage `{}` has no {name}; is it a train stage?", self.stage))
    }

    pub fn metrics(&self) -> anyhow::Result<TrainMetrics> {
        read_json(self.file(METRICS)?)
    }

    pub fn history(&self) -> anyhow::Result<Vec<EpochRow>> {
        history::read_csv(self.file(HISTORY_CSV)?)
    }

    /// The model summary, when the stage wrote one.
    pub fn summary(&self) -> anyhow::Result<Option<Summary>> {
        self.outputs.get(MODEL_SUMMARY).map(|p| read_json(p)).transpose()
    }

    pub fn has_model(&self) -> bool {
        self.outputs.contains_key(WEIGHTS)
    }

    /// The trained model (inference mode) and its metrics.
    pub fn load(&self, device: &Device) -> anyhow::Result<(Cnn, TrainMetrics)> {
        let config: CnnConfig = read_json(self.file(MODEL_CONFIG)?)?;
        let model = crate::model::weights::load(Cnn::new(&config, device), self.file(WEIGHTS)?)?;
        Ok((model, self.metrics()?))
    }
}
