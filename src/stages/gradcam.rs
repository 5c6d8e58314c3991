//! Stage kind `gradcam`: one test image a class (seeded; a correctly
//! classified one when there is one), its Grad-CAM heatmap for its true
//! class on the last Conv2D maps, upsampled to 32x32 (SPEC section 7).

use crate::artifacts::gradcam::{CamRow, GRADCAM, GradcamFile};
use crate::artifacts::{dataset, train::TrainOutputs};
use crate::gradcam::{Tail, cam, upsample};
use crate::model::extract::{Tap, extract};
use burn::tensor::Device;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use repro_engine::{ParamError, StageContext, StageKind, typed_params};

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GradcamParams {
    #[serde(default)]
    pub seed: u64,
    /// Candidates tried a class before settling for a misclassified one.
    #[serde(default = "d_candidates")]
    pub candidates: usize,
}

fn d_candidates() -> usize {
    20
}

pub struct GradcamKind {
    pub compute: std::sync::Arc<crate::compute::Compute>,
}

impl StageKind for GradcamKind {
    fn name(&self) -> &'static str {
        "gradcam"
    }
    fn entry_modules(&self) -> &'static [&'static str] {
        &["stages::gradcam"]
    }
    fn compute_path(&self) -> std::collections::BTreeMap<String, String> {
        self.compute.path()
    }
    fn check_params(&self, params: &toml::Table) -> Result<(), ParamError> {
        let p: GradcamParams = typed_params(params)?;
        if p.candidates == 0 {
            return Err(ParamError { key: Some("candidates".into()), message: "must be at least 1".into() });
        }
        Ok(())
    }
    fn param_help(&self) -> String {
        "seed, candidates".into()
    }
    fn run(&self, ctx: &StageContext) -> anyhow::Result<()> {
        let p: GradcamParams = ctx.params()?;
        let dataset = dataset::read(&ctx.inputs, &ctx.stage)?;
        let device = self.compute.device();
        let run = TrainOutputs::one(ctx)?;
        let (model, _) = run.load(&device)?;
        let tail = Tail::new(&model, &device);
        let mut rows = Vec::new();
        for class in 0..dataset.classes.len() as u8 {
            let Some((index, predicted)) = pick(&model, &dataset.test, class, &p, &device) else { continue };
            let maps = extract(&model, &dataset.test, &[index], &[Tap::LastConv], 1, &device).remove(0);
            let grad = tail.gradient(&maps, class as usize);
            let map = cam(&maps, &grad, 256, 8);
            rows.push(CamRow {
                class,
                name: dataset.classes[class as usize].clone(),
                index,
                predicted,
                heat: upsample(&map, 8, 32),
                cam: map,
            });
        }
        let correct = rows.iter().filter(|r| r.predicted == r.class).count();
        ctx.log(format!("Grad-CAM for {} classes ({correct} correctly classified) on model {}", rows.len(), run.label));
        std::fs::write(ctx.out_dir.join(GRADCAM), serde_json::to_vec(&GradcamFile { model: run.label, rows })?)?;
        Ok(())
    }
}

/// A seeded shuffle of the class's test images; the first correctly
/// classified among `candidates`, else the first. (index, predicted class)
fn pick(model: &crate::model::Cnn, test: &crate::data::Split, class: u8, p: &GradcamParams, device: &Device) -> Option<(usize, u8)> {
    let mut members: Vec<usize> = (0..test.len()).filter(|&i| test.labels[i] == class).collect();
    members.shuffle(&mut ChaCha8Rng::seed_from_u64(p.seed ^ class as u64));
    members.truncate(p.candidates);
    let logits = extract(model, test, &members, &[Tap::Logits], 64, device).remove(0);
    let predicted: Vec<u8> =
        logits.chunks_exact(10).map(|row| row.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map_or(0, |(i, _)| i as u8)).collect();
    let best = (0..members.len()).find(|&k| predicted[k] == class).unwrap_or(0);
    members.get(best).map(|&i| (i, predicted[best]))
}
