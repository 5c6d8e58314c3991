//! Stage kind `center_sweep` (beyond the report): summarises a matrix of
//! center-loss trainings (sweep.toml: `matrix = { center_weight = [...],
//! seed = [...] }`), every train stage it depends on one run: test accuracy
//! and the intra/inter class distance ratio of its 512-d features, as mean
//! and standard deviation over seeds, and whether any w > 0 beats w = 0 by
//! more than the seeds' noise.

use crate::artifacts::sweep::{SWEEP, SweepFile, SweepPoint, SweepRun};
use crate::artifacts::train::{METRICS, TrainMetrics};
use anyhow::Context;
use repro_engine::{ParamError, StageContext, StageKind, Upstream, typed_params};

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepParams {}

pub struct SweepKind;

impl StageKind for SweepKind {
    fn name(&self) -> &'static str {
        "center_sweep"
    }
    fn entry_modules(&self) -> &'static [&'static str] {
        &["stages::sweep"]
    }
    fn check_params(&self, params: &toml::Table) -> Result<(), ParamError> {
        typed_params::<SweepParams>(params).map(|_| ())
    }
    fn check_upstream(&self, _params: &toml::Table, upstream: &[Upstream]) -> Result<(), ParamError> {
        if upstream.iter().any(|u| u.kind == "train") {
            return Ok(());
        }
        Err(ParamError { key: None, message: "depends on no train stage: give it depends_on = [\"<a train matrix>\"]".into() })
    }
    fn param_help(&self) -> String {
        "none: it summarises the train stages it depends on (a matrix over center_weight and seed)".into()
    }
    fn run(&self, ctx: &StageContext) -> anyhow::Result<()> {
        let mut runs = Vec::new();
        let mut sizes = (0, 0);
        for (dep, outputs) in &ctx.inputs {
            let Some(path) = outputs.get(METRICS) else { continue };
            let m: TrainMetrics = serde_json::from_slice(&std::fs::read(path)?).with_context(|| format!("{dep}/{METRICS}"))?;
            sizes = (m.train_images, m.test_images);
            runs.push(SweepRun {
                weight: m.center_weight.unwrap_or(0.0),
                seed: m.seed,
                test_accuracy: m.test_accuracy,
                test_loss: m.test_loss,
                feature_ratio: m.feature_distance_ratio,
                epochs: m.epochs_run,
            });
        }
        runs.sort_by(|a, b| a.weight.total_cmp(&b.weight).then(a.seed.cmp(&b.seed)));
        let mut weights: Vec<f64> = runs.iter().map(|r| r.weight).collect();
        weights.dedup();
        let points = summarise(&weights, &runs);
        let file = SweepFile { verdict: verdict(&points), points, runs, train_images: sizes.0, test_images: sizes.1 };
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
