//! Stage kind `train`: trains the report's CNN on the dataset artifact and
//! writes its history (CSV, Parquet), test metrics, weights and summary.

use crate::artifacts::dataset;
use crate::artifacts::train::{self, TrainMetrics};
use crate::clustering::separation::center_distance_ratio;
use crate::data::augment::Augment;
use crate::data::dataset::CIFAR10_CLASSES;
use crate::model::CnnConfig;
use crate::model::extract::{Tap, extract};
use crate::model::summary;
use crate::training::center_loss::{CenterSettings, CenterUpdate};
use crate::training::optimizer::{OptimizerKind, OptimizerParams};
use crate::training::{self, Reporter, TrainSettings};
use burn::tensor::Device;
use repro_engine::{ParamError, StageContext, StageKind, typed_params};

#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainParams {
    /// Short name shown in tables (a..f, final).
    pub label: String,
    /// Maximum epochs (early stopping may end sooner).
    pub epochs: usize,
    #[serde(default = "d_batch")]
    pub batch_size: usize,
    #[serde(default = "d_eval_batch")]
    pub eval_batch_size: usize,
    #[serde(default = "d_lr")]
    pub lr: f64,
    /// `[[after_epoch, factor], ...]`: lr * factor once epoch > after_epoch (0-based).
    #[serde(default)]
    pub lr_schedule: Vec<(usize, f64)>,
    #[serde(default = "d_optimizer")]
    pub optimizer: OptimizerKind,
    #[serde(default = "d_beta_1")]
    pub beta_1: f32,
    #[serde(default = "d_beta_2")]
    pub beta_2: f32,
    #[serde(default = "d_epsilon")]
    pub epsilon: f32,
    #[serde(default = "d_momentum")]
    pub momentum: f64,
    #[serde(default = "d_rho")]
    pub rho: f32,
    /// Epochs without a lower validation loss before stopping.
    #[serde(default = "d_patience")]
    pub patience: usize,
    #[serde(default)]
    pub rotation_degrees: f32,
    #[serde(default)]
    pub horizontal_flip: bool,
    #[serde(default)]
    pub seed: u64,
    #[serde(default = "d_true")]
    pub batch_norm: bool,
    #[serde(default = "d_bn_momentum")]
    pub bn_momentum: f64,
    #[serde(default = "d_bn_epsilon")]
    pub bn_epsilon: f64,
    #[serde(default = "d_dropout_conv")]
    pub dropout_conv: f64,
    #[serde(default = "d_dropout_dense")]
    pub dropout_dense: f64,
    /// Center-loss weight w; absent: no center-loss branch.
    #[serde(default)]
    pub center_weight: Option<f64>,
    #[serde(default = "d_center_update")]
    pub center_update: CenterUpdate,
    /// Moving-average rate (center_update = "moving_average").
    #[serde(default = "d_center_alpha")]
    pub center_alpha: f64,
    /// Training images K-means clusters to initialise the centers.
    #[serde(default = "d_center_init_sample")]
    pub center_init_sample: usize,
    #[serde(default = "d_kmeans_iterations")]
    pub center_kmeans_iterations: usize,
}

fn d_center_update() -> CenterUpdate {
    CenterUpdate::Learned
}
fn d_center_alpha() -> f64 {
    0.5
}
fn d_center_init_sample() -> usize {
    5000
}
fn d_kmeans_iterations() -> usize {
    100
}

fn d_batch() -> usize {
    64
}
fn d_eval_batch() -> usize {
    256
}
fn d_lr() -> f64 {
    1e-3
}
fn d_optimizer() -> OptimizerKind {
    OptimizerKind::Adam
}
fn d_beta_1() -> f32 {
    0.9
}
fn d_beta_2() -> f32 {
    0.999
}
fn d_epsilon() -> f32 {
    1e-7
}
fn d_momentum() -> f64 {
    0.9
}
fn d_rho() -> f32 {
    0.9
}
fn d_patience() -> usize {
    100
}
fn d_true() -> bool {
    true
}
fn d_bn_momentum() -> f64 {
    CnnConfig::default().bn_momentum
}
fn d_bn_epsilon() -> f64 {
    CnnConfig::default().bn_epsilon
}
fn d_dropout_conv() -> f64 {
    CnnConfig::default().dropout_conv
}
fn d_dropout_dense() -> f64 {
    CnnConfig::default().dropout_dense
}

impl TrainParams {
    pub fn settings(&self) -> TrainSettings {
        TrainSettings {
            model: CnnConfig {
                batch_norm: self.batch_norm,
                bn_momentum: self.bn_momentum,
                bn_epsilon: self.bn_epsilon,
                dropout_conv: self.dropout_conv,
                dropout_dense: self.dropout_dense,
            },
            optimizer: OptimizerParams {
                kind: self.optimizer.clone(),
                beta_1: self.beta_1,
                beta_2: self.beta_2,
                epsilon: self.epsilon,
                momentum: self.momentum,
                rho: self.rho,
            },
            epochs: self.epochs,
            batch_size: self.batch_size,
            eval_batch_size: self.eval_batch_size,
            lr: self.lr,
            lr_schedule: self.lr_schedule.clone(),
            patience: self.patience,
            augment: (self.rotation_degrees > 0.0 || self.horizontal_flip)
                .then_some(Augment { rotation_degrees: self.rotation_degrees, horizontal_flip: self.horizontal_flip }),
            seed: self.seed,
            center: self.center_weight.map(|weight| CenterSettings {
                weight,
                update: self.center_update.clone(),
                alpha: self.center_alpha,
                init_sample: self.center_init_sample,
                kmeans_iterations: self.center_kmeans_iterations,
            }),
        }
    }
}

/// Throughput assumed for estimates, (training, inference) images/s on 2
/// threads, by compute path: measured with `repro bench train` on the
/// AVX-512 kernels (300 / 1,000) and on the portable path of an AMD EPYC
/// (117 / 378); the Vulkan figures are rough guesses, a GPU's and llvmpipe's.
fn images_per_second(path: &std::collections::BTreeMap<String, String>) -> (f64, f64) {
    match (path.get("backend").map(String::as_str), path.get("conv").map(String::as_str)) {
        (Some("vulkan"), _) if path.get("device").is_some_and(|d| d.contains("llvmpipe")) => (20.0, 60.0),
        (Some("vulkan"), _) => (15_000.0, 40_000.0),
        (_, Some("im2col-gemm")) => (110.0, 350.0),
        _ => (270.0, 750.0),
    }
}

pub struct TrainKind {
    pub compute: std::sync::Arc<crate::compute::Compute>,
}

impl StageKind for TrainKind {
    fn name(&self) -> &'static str {
        "train"
    }
    fn entry_modules(&self) -> &'static [&'static str] {
        &["stages::train"]
    }
    fn display_params(&self) -> &'static [&'static str] {
        &["label"]
    }
    fn compute_path(&self) -> std::collections::BTreeMap<String, String> {
        self.compute.path()
    }
    fn check_params(&self, params: &toml::Table) -> Result<(), ParamError> {
        let p: TrainParams = typed_params(params)?;
        let bad = |key: &str, message: &str| Err(ParamError { key: Some(key.into()), message: message.into() });
        if p.epochs == 0 {
            return bad("epochs", "must be at least 1");
        }
        if p.batch_size == 0 || p.eval_batch_size == 0 {
            return bad("batch_size", "must be at least 1");
        }
        if !(p.lr > 0.0 && p.lr.is_finite()) {
            return bad("lr", "must be a positive number");
        }
        if p.center_weight.is_some_and(|w| !(w >= 0.0 && w.is_finite())) {
            return bad("center_weight", "must be a finite number >= 0 (leave it out for no center loss)");
        }
        if !(p.center_alpha > 0.0 && p.center_alpha <= 1.0) {
            return bad("center_alpha", "must be in (0, 1]");
        }
        if p.center_init_sample < 10 || p.center_kmeans_iterations == 0 {
            return bad("center_init_sample", "K-means needs at least 10 images and 1 iteration");
        }
        if !(0.0..1.0).contains(&p.dropout_conv) || !(0.0..1.0).contains(&p.dropout_dense) {
            return bad("dropout_conv", "dropout rates must be in [0, 1)");
        }
        Ok(())
    }
    fn param_help(&self) -> String {
        "label, epochs, batch_size, eval_batch_size, lr, lr_schedule, optimizer (adam|sgd|rmsprop), beta_1, beta_2, epsilon, momentum, rho, patience, rotation_degrees, horizontal_flip, seed, batch_norm, bn_momentum, bn_epsilon, dropout_conv, dropout_dense, center_weight, center_update (learned|moving_average), center_alpha, center_init_sample, center_kmeans_iterations".into()
    }
    fn estimate_seconds(&self, params: &toml::Table, upstream: &[&toml::Table], threads: usize) -> f64 {
        let Ok(p) = typed_params::<TrainParams>(params) else { return 0.0 };
        let size = |key: &str, full: i64| upstream.iter().find_map(|u| u.get(key).and_then(|v| v.as_integer())).unwrap_or(full) as f64;
        let scale = 2.0 / threads.max(1) as f64;
        let (train_rate, eval_rate) = images_per_second(&self.compute.path());
        let scale = if self.compute.kind == crate::compute::BackendKind::Flex { scale } else { 1.0 };
        let epoch = size("train_size", 50_000) / train_rate + size("test_size", 10_000) / eval_rate;
        p.epochs as f64 * epoch * scale
    }
    fn run(&self, ctx: &StageContext) -> anyhow::Result<()> {
        let p: TrainParams = ctx.params()?;
        let dataset = dataset::read(&ctx.inputs, &ctx.stage)?;
        let device = self.compute.device();
        let bar = |len: u64, what: &str| ctx.bar(len, what);
        let log = |line: String| ctx.log(line);
        let report = Reporter { bar: &bar, log: &log };
        let started = std::time::Instant::now();
        let trained = training::train(&p.settings(), &dataset.train, &dataset.test, &device, &ctx.checkpoint_dir, &report)?;
        let seconds = started.elapsed().as_secs_f64();
        training::history::write(&trained.history, &ctx.out_dir)?;
        let train_seconds: f64 = trained.history.iter().filter_map(|r| r.seconds).sum();
        ctx.measure("seconds", seconds);
        ctx.measure("train_images_per_second", (dataset.train.len() * trained.history.len()) as f64 / train_seconds.max(1e-9));
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
        let summary = summary::summarise(&trained.model, &device);
        std::fs::write(ctx.out_dir.join(train::MODEL_SUMMARY), serde_json::to_vec_pretty(&summary)?)?;
        crate::model::weights::save(&trained.model, &ctx.out_dir.join(train::WEIGHTS))?;
        std::fs::write(ctx.out_dir.join(train::MODEL_CONFIG), serde_json::to_vec_pretty(&p.settings().model)?)?;
        ctx.log(format!("model {}: test loss {:.4}, accuracy {:.2}%", p.label, metrics.test_loss, metrics.test_accuracy * 100.0));
        Ok(())
    }
}

/// Intra/inter class-center distance ratio of the test images' 512-d features.
pub fn feature_distance_ratio(model: &crate::model::Cnn, test: &crate::data::Split, batch: usize, device: &Device) -> f64 {
    let all: Vec<usize> = (0..test.len()).collect();
    let features = extract(model, test, &all, &[Tap::Dense], batch, device).remove(0);
    center_distance_ratio(&features, &test.labels, Tap::Dense.width(), CIFAR10_CLASSES.len())
}
