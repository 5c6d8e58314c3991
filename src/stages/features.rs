//! Stage kind `features`: outputs of named layers of a trained model for a
//! seeded, stratified sample of test images (SPEC section 6).

use crate::artifacts::features::{FEATURES, FeatureHeader, Features};
use crate::artifacts::{dataset, train::TrainOutputs};
use crate::data::subset::stratified;
use crate::model::extract::{Tap, extract};
use repro_engine::{ParamError, StageContext, StageKind, typed_params};

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureParams {
    /// first_conv, last_conv, dense, logits.
    pub layers: Vec<Tap>,
    /// Test images sampled (stratified by class); all when larger.
    pub sample_size: usize,
    #[serde(default)]
    pub seed: u64,
    #[serde(default = "d_batch")]
    pub batch_size: usize,
}

fn d_batch() -> usize {
    128
}

pub struct FeaturesKind {
    pub compute: std::sync::Arc<crate::compute::Compute>,
}

impl StageKind for FeaturesKind {
    fn name(&self) -> &'static str {
        "features"
    }
    fn entry_modules(&self) -> &'static [&'static str] {
        &["stages::features"]
    }
    fn compute_path(&self) -> std::collections::BTreeMap<String, String> {
        self.compute.path()
    }
    fn check_params(&self, params: &toml::Table) -> Result<(), ParamError> {
        let p: FeatureParams = typed_params(params)?;
        if p.layers.is_empty() {
            return Err(ParamError {
                key: Some("layers".into()),
                message: "name at least one of first_conv, last_conv, dense, logits".into(),
            });
        }
        if p.sample_size < 10 || p.batch_size == 0 {
            return Err(ParamError { key: Some("sample_size".into()), message: "must be at least 10 (one image a class)".into() });
        }
        Ok(())
    }
    fn param_help(&self) -> String {
        "layers (first_conv|last_conv|dense|logits), sample_size, seed, batch_size".into()
    }
    fn estimate_seconds(&self, params: &toml::Table, _upstream: &[&toml::Table], threads: usize) -> f64 {
        typed_params::<FeatureParams>(params).map_or(0.0, |p| p.sample_size as f64 / 250.0 * 2.0 / threads.max(1) as f64)
    }
    fn run(&self, ctx: &StageContext) -> anyhow::Result<()> {
        let p: FeatureParams = ctx.params()?;
        let dataset = dataset::read(&ctx.inputs, &ctx.stage)?;
        let device = self.compute.device();
        let run = TrainOutputs::one(ctx)?;
        let (model, _) = run.load(&device)?;
        let indices = stratified(&dataset.test.labels, p.sample_size, p.seed);
        let bar = ctx.bar(indices.len().div_ceil(p.batch_size) as u64, "features");
        // The class layer always: its argmax is each image's predicted class.
        let mut taps = p.layers.clone();
        if !taps.contains(&Tap::Logits) {
            taps.push(Tap::Logits);
        }
        let mut matrices: Vec<Vec<f32>> = vec![Vec::new(); taps.len()];
        for chunk in indices.chunks(p.batch_size) {
            for (m, part) in matrices.iter_mut().zip(extract(&model, &dataset.test, chunk, &taps, p.batch_size, &device)) {
                m.extend(part);
            }
            bar.inc(1);
        }
        bar.finish_and_clear();
        let logits = &matrices[taps.iter().position(|t| *t == Tap::Logits).expect("logits were added")];
        let predictions = argmax_rows(logits, Tap::Logits.width());
        matrices.truncate(p.layers.len());
        let header = FeatureHeader {
            model: run.label.clone(),
            classes: dataset.classes.clone(),
            labels: indices.iter().map(|&i| dataset.test.labels[i]).collect(),
            indices,
            predictions: Some(predictions),
            taps: p.layers.iter().map(|&t| (t, t.width())).collect(),
        };
        Features { header, matrices }.write(&ctx.out_dir.join(FEATURES))?;
        ctx.log(format!("{} layer(s) of model {} for {} test images", p.layers.len(), run.label, p.sample_size.min(dataset.test.len())));
        Ok(())
    }
}

/// The index of each row's largest value (the first of ties).
fn argmax_rows(matrix: &[f32], width: usize) -> Vec<u8> {
    matrix
        .chunks_exact(width)
        .map(|row| row.iter().enumerate().fold(0, |best, (i, v)| if *v > row[best] { i } else { best }) as u8)
        .collect()
}
