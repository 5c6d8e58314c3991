//! Stage kind `figures`: draws every figure from upstream outputs it
//! recognises by name (a dataset gives the sample grid).

use super::train::TrainMetrics;
use crate::data::Dataset;
use crate::figures::{self, curves, sample_grid};
use crate::pipeline::{ParamError, StageContext, StageKind, typed_params};

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FigureParams {
    /// Images a class in the sample grid.
    #[serde(default = "default_per_class")]
    pub samples_per_class: usize,
}

fn default_per_class() -> usize {
    8
}

pub struct FiguresKind;

impl StageKind for FiguresKind {
    fn name(&self) -> &'static str {
        "figures"
    }
    fn code_paths(&self) -> &'static [&'static str] {
        &["src/stages/figures.rs", "src/figures/", "src/data/dataset.rs", "src/framed.rs", "src/training/history.rs", "src/stages/train.rs"]
    }
    fn check_params(&self, params: &toml::Table) -> Result<(), ParamError> {
        let p: FigureParams = typed_params(params)?;
        if p.samples_per_class == 0 || p.samples_per_class > 32 {
            return Err(ParamError { key: Some("samples_per_class".into()), message: "must be between 1 and 32".into() });
        }
        Ok(())
    }
    fn param_help(&self) -> String {
        "samples_per_class".into()
    }
    fn run(&self, ctx: &StageContext) -> anyhow::Result<()> {
        let p: FigureParams = ctx.params()?;
        let mut drawn = 0;
        for outputs in ctx.inputs.values() {
            if let Some(path) = outputs.get("dataset.bin") {
                let dataset = Dataset::read(path)?;
                let rows = sample_grid::pick(&dataset, p.samples_per_class);
                let size = sample_grid::size(dataset.classes.len(), p.samples_per_class);
                figures::draw_both(
                    &ctx.out_dir,
                    "samples",
                    size,
                    |a| sample_grid::draw(&a, &dataset, &rows),
                    |a| sample_grid::draw(&a, &dataset, &rows),
                )?;
                drawn += 1;
            }
        }
        for (stage, outputs) in &ctx.inputs {
            let (Some(history), Some(metrics)) = (outputs.get("history.csv"), outputs.get("metrics.json")) else { continue };
            let rows = crate::training::history::read_csv(history)?;
            let metrics: TrainMetrics = serde_json::from_slice(&std::fs::read(metrics)?)?;
            let title = format!("model {} ({stage}): accuracy and loss", metrics.label);
            figures::draw_both(
                &ctx.out_dir,
                &format!("curves_{}", metrics.label),
                curves::SIZE,
                |a| curves::draw(&a, &title, &rows),
                |a| curves::draw(&a, &title, &rows),
            )?;
            drawn += 1;
        }
        anyhow::ensure!(drawn > 0, "stage `{}`: no upstream output to draw; depend on a dataset stage", ctx.stage);
        ctx.log(format!("{drawn} figure(s) drawn"));
        Ok(())
    }
}
