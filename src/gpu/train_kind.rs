//! Stage kind `train` on a GPU: the flex kind's parameters, checks and
//! outputs, its epochs run by the GPU loop (`gpu::trainer`). Registered in
//! place of `stages::train::TrainKind` when the backend is Vulkan; its
//! entry module is this file, so its key covers the GPU loop and the flex
//! kind's key does not.

use super::{cache, trainer};
use crate::artifacts::dataset;
use crate::artifacts::train::{self, TrainMetrics};
use crate::stages::train::{TrainKind, TrainParams, feature_distance_ratio};
use crate::training::{Reporter, history};
use repro_engine::{ParamError, StageContext, StageKind, Upstream};
use std::collections::BTreeMap;

pub struct GpuTrainKind {
    pub base: TrainKind,
}

impl StageKind for GpuTrainKind {
    fn name(&self) -> &'static str {
        "train"
    }
    fn entry_modules(&self) -> &'static [&'static str] {
        &["gpu::train_kind"]
    }
    fn display_params(&self) -> &'static [&'static str] {
        self.base.display_params()
    }
    fn compute_path(&self) -> BTreeMap<String, String> {
        self.base.compute_path()
    }
    fn check_params(&self, params: &toml::Table) -> Result<(), ParamError> {
        self.base.check_params(params)
    }
    fn check_upstream(&self, params: &toml::Table, upstream: &[Upstream]) -> Result<(), ParamError> {
        self.base.check_upstream(params, upstream)
    }
    fn param_help(&self) -> String {
        self.base.param_help()
    }
    fn estimate_seconds(&self, params: &toml::Table, upstream: &[&toml::Table], threads: usize) -> f64 {
        self.base.estimate_seconds(params, upstream, threads)
    }
    fn run(&self, ctx: &StageContext) -> anyhow::Result<()> {
        let p: TrainParams = ctx.params()?;
        let dataset = dataset::read(&ctx.inputs, &ctx.stage)?;
        let device = self.base.compute.device();
        let bar = |len: u64, what: &str| ctx.bar(len, what);
        let log = |line: String| ctx.log(line);
        let report = Reporter { bar: &bar, log: &log };
        let (files, bytes) = cache::size();
        ctx.log(format!(
            "GPU cache {}: {files} files, {:.1} MB (an empty one makes the first epoch compile and autotune every kernel)",
            cache::directory().display(),
            bytes as f64 / 1e6
        ));
        let started = std::time::Instant::now();
        let run = trainer::train(&p.settings(), &dataset.train, &dataset.test, &device, &ctx.checkpoint_dir, &report)?;
        let trained = run.trained;
        let seconds = started.elapsed().as_secs_f64();
        history::write(&trained.history, &ctx.out_dir)?;
        let train_seconds: f64 = trained.history.iter().filter_map(|r| r.seconds).sum();
        ctx.measure("seconds", seconds);
        ctx.measure("train_images_per_second", (dataset.train.len() * trained.history.len()) as f64 / train_seconds.max(1e-9));
        if let Some(&most) = run.reads_per_epoch.iter().max() {
            ctx.measure("device_reads_per_epoch", most as f64);
        }
        ctx.measure("dropout_masks_ahead", run.masks.ahead as f64);
        ctx.measure("dropout_masks_in_step", run.masks.in_step as f64);
        let metrics = TrainMetrics {
            test_loss: trained.test_loss,
            test_accuracy: trained.test_accuracy,
            epochs_run: trained.history.len(),
            stopped_early: trained.stopped_early,
            best_epoch: trained.best_epoch,
            train_images: dataset.train.len(),
            test_images: dataset.test.len(),
            feature_distance_ratio: feature_distance_ratio(&trained.model, &dataset.test, p.eval_batch_size, &device),
            center_weight: p.center_weight,
            seed: p.seed,
        };
        if let Some(centers) = &trained.centers {
            std::fs::write(ctx.out_dir.join(train::CENTERS), serde_json::to_vec(centers)?)?;
        }
        std::fs::write(ctx.out_dir.join(train::METRICS), serde_json::to_vec_pretty(&metrics)?)?;
        let summary = crate::model::summary::summarise(&trained.model, &device);
        std::fs::write(ctx.out_dir.join(train::MODEL_SUMMARY), serde_json::to_vec_pretty(&summary)?)?;
        crate::model::weights::save(&trained.model, &ctx.out_dir.join(train::WEIGHTS))?;
        std::fs::write(ctx.out_dir.join(train::MODEL_CONFIG), serde_json::to_vec_pretty(&p.settings().model)?)?;
        ctx.log(format!("model {}: test loss {:.4}, accuracy {:.2}%", p.label, metrics.test_loss, metrics.test_accuracy * 100.0));
        Ok(())
    }
}
