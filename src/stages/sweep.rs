//! Stage kind `center_sweep` (beyond the report): the center-loss model
//! trained for every weight w and seed of a grid; test accuracy and the
//! intra/inter class distance ratio of its 512-d features, as mean and
//! standard deviation over seeds, and whether any w > 0 beats w = 0 by
//! more than the seeds' noise.

use super::train::{TrainParams, feature_distance_ratio};
use crate::artifacts::dataset;
use crate::artifacts::sweep::{SWEEP, SweepFile, SweepPoint, SweepRun};
use crate::training::{self, Reporter};
use anyhow::Context;
use burn::tensor::Device;
use repro_engine::{ParamError, StageContext, StageKind, typed_params};

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepParams {
    /// Center-loss weights; 0 is the model without center loss.
    pub weights: Vec<f64>,
    pub seeds: Vec<u64>,
    /// The training protocol of every run (`center_weight` and `seed` are set per run).
    pub train: toml::Table,
}

pub struct SweepKind;

/// One run's train-stage parameters.
fn train_table(p: &SweepParams, weight: f64, seed: u64) -> toml::Table {
    let mut table = p.train.clone();
    table.insert("center_weight".into(), toml::Value::Float(weight));
    table.insert("seed".into(), toml::Value::Integer(seed as i64));
    table.entry("label").or_insert_with(|| toml::Value::String("sweep".into()));
    table
}

fn in_train(e: ParamError) -> ParamError {
    ParamError { key: Some(format!("train.{}", e.key.unwrap_or_default())), message: e.message }
}

impl StageKind for SweepKind {
    fn name(&self) -> &'static str {
        "center_sweep"
    }
    fn entry_modules(&self) -> &'static [&'static str] {
        &["stages::sweep"]
    }
    fn compute_path(&self) -> std::collections::BTreeMap<String, String> {
        crate::kernels::cpu::compute_path()
    }
    fn check_params(&self, params: &toml::Table) -> Result<(), ParamError> {
        let p: SweepParams = typed_params(params)?;
        if p.weights.is_empty() || p.seeds.is_empty() {
            return Err(ParamError { key: Some("weights".into()), message: "give at least one weight and one seed".into() });
        }
        if p.weights.iter().any(|w| !(w.is_finite() && *w >= 0.0)) {
            return Err(ParamError { key: Some("weights".into()), message: "weights must be finite and >= 0".into() });
        }
        super::train::TrainKind.check_params(&train_table(&p, p.weights[0], p.seeds[0])).map_err(in_train)
    }
    fn param_help(&self) -> String {
        "weights (list of center-loss weights), seeds (list), train (a table of train-stage parameters)".into()
    }
    fn estimate_seconds(&self, params: &toml::Table, upstream: &[&toml::Table], threads: usize) -> f64 {
        let Ok(p) = typed_params::<SweepParams>(params) else { return 0.0 };
        let one = super::train::TrainKind.estimate_seconds(&p.train, upstream, threads);
        one * (p.weights.len() * p.seeds.len()) as f64
    }
    fn run(&self, ctx: &StageContext) -> anyhow::Result<()> {
        let p: SweepParams = ctx.params()?;
        let dataset = dataset::read(&ctx.inputs, &ctx.stage)?;
        let device = Device::flex();
        let bar = |len: u64, what: &str| ctx.bar(len, what);
        let log = |line: String| ctx.log(line);
        let report = Reporter { bar: &bar, log: &log };
        let mut runs = Vec::new();
        for &weight in &p.weights {
            for &seed in &p.seeds {
                let tp: TrainParams = typed_params(&train_table(&p, weight, seed)).map_err(|e| {
                    let e = in_train(e);
                    anyhow::anyhow!("{}: {}", e.key.unwrap_or_default(), e.message)
                })?;
                ctx.log(format!("w = {weight}, seed {seed}"));
                let dir = ctx.checkpoint_dir.join(format!("w{weight}-seed{seed}"));
                let trained = training::train(&tp.settings(), &dataset.train, &dataset.test, &device, &dir, &report)
                    .with_context(|| format!("run w = {weight}, seed {seed}"))?;
                let ratio = feature_distance_ratio(&trained.model, &dataset.test, tp.eval_batch_size, &device);
                runs.push(SweepRun {
                    weight,
                    seed,
                    test_accuracy: trained.test_accuracy,
                    test_loss: trained.test_loss,
                    feature_ratio: ratio,
                    epochs: trained.history.len(),
                });
            }
        }
        let points = summarise(&p.weights, &runs);
        let file =
            SweepFile { verdict: verdict(&points), points, runs, train_images: dataset.train.len(), test_images: dataset.test.len() };
        ctx.log(&file.verdict);
        std::fs::write(ctx.out_dir.join(SWEEP), serde_json::to_vec_pretty(&file)?)?;
        Ok(())
    }
}

fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len().max(1) as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = if values.len() > 1 { values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0) } else { 0.0 };
    (mean, var.sqrt())
}

pub fn summarise(weights: &[f64], runs: &[SweepRun]) -> Vec<SweepPoint> {
    weights
        .iter()
        .map(|&w| {
            let of: Vec<&SweepRun> = runs.iter().filter(|r| r.weight == w).collect();
            let (accuracy_mean, accuracy_std) = mean_std(&of.iter().map(|r| r.test_accuracy).collect::<Vec<_>>());
            let (ratio_mean, ratio_std) = mean_std(&of.iter().map(|r| r.feature_ratio).collect::<Vec<_>>());
            SweepPoint { weight: w, runs: of.len(), accuracy_mean, accuracy_std, ratio_mean, ratio_std }
        })
        .collect()
}

/// Best w > 0 against w = 0: a gain counts when it exceeds twice the
/// standard error of the difference of the two means.
pub fn verdict(points: &[SweepPoint]) -> String {
    let Some(base) = points.iter().find(|p| p.weight == 0.0) else { return "no w = 0 runs to compare with".into() };
    let Some(best) = points.iter().filter(|p| p.weight > 0.0).max_by(|a, b| a.accuracy_mean.total_cmp(&b.accuracy_mean)) else {
        return "no w > 0 runs to compare with".into();
    };
    let diff = (best.accuracy_mean - base.accuracy_mean) * 100.0;
    let se = ((best.accuracy_std.powi(2) / best.runs as f64) + (base.accuracy_std.powi(2) / base.runs as f64)).sqrt() * 100.0;
    let helps = diff > 2.0 * se && diff > 0.0;
    format!(
        "best w = {} reaches {:.2}% ± {:.2} against {:.2}% ± {:.2} at w = 0 ({:+.2} points, twice the standard error is {:.2}): center loss {} here; feature ratio {:.3} vs {:.3}",
        best.weight,
        best.accuracy_mean * 100.0,
        best.accuracy_std * 100.0,
        base.accuracy_mean * 100.0,
        base.accuracy_std * 100.0,
        diff,
        2.0 * se,
        if helps { "helps" } else { "does not measurably help" },
        best.ratio_mean,
        base.ratio_mean
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(weight: f64, seed: u64, acc: f64) -> SweepRun {
        SweepRun { weight, seed, test_accuracy: acc, test_loss: 1.0, feature_ratio: 0.5, epochs: 1 }
    }

    #[test]
    fn a_gain_within_noise_does_not_count() {
        let runs = vec![run(0.0, 0, 0.50), run(0.0, 1, 0.60), run(0.1, 0, 0.52), run(0.1, 1, 0.62)];
        let points = summarise(&[0.0, 0.1], &runs);
        assert!((points[0].accuracy_mean - 0.55).abs() < 1e-12 && (points[0].accuracy_std - 0.0707).abs() < 1e-3);
        assert!(verdict(&points).contains("does not measurably help"), "{}", verdict(&points));
        let clear = vec![run(0.0, 0, 0.50), run(0.0, 1, 0.51), run(0.1, 0, 0.60), run(0.1, 1, 0.61)];
        assert!(verdict(&summarise(&[0.0, 0.1], &clear)).contains("helps here"));
    }
}
