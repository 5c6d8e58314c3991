//! Stage kind `figures`: draws every figure from upstream outputs it
//! recognises by name (a dataset gives the sample grid).

use crate::artifacts::dataset::{self, DATASET};
use crate::artifacts::embeddings::{EMBEDDINGS, EmbeddingsFile};
use crate::artifacts::gradcam::{GRADCAM, GradcamFile};
use crate::artifacts::sweep::{SWEEP, SweepFile};
use crate::artifacts::train::{TrainMetrics, TrainOutputs};
use crate::artifacts::{find, read_json};
use crate::data::Dataset;
use crate::figures::{self, curves, curves_view, gradcam_grid, model_graph, sample_grid, scatter, scatter_view, sweep_plot};
use crate::model::summary::Summary;
use crate::training::history::EpochRow;
use repro_engine::{ParamError, StageContext, StageKind, typed_params};

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
    fn entry_modules(&self) -> &'static [&'static str] {
        &["stages::figures"]
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
            if let Some(path) = outputs.get(DATASET) {
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
        let runs = training_runs(ctx)?;
        for run in &runs {
            let title = format!("model {} ({}): accuracy and loss", run.label, run.stage);
            draw_curves(ctx, &format!("curves_{}", run.label), &title, &curves::panels(&run.history))?;
            drawn += 1;
        }
        drawn += draw_center_figures(ctx, &runs)?;
        drawn += draw_embeddings(ctx)?;
        drawn += draw_gradcam(ctx)?;
        if let Some((_, path)) = find(&ctx.inputs, SWEEP) {
            let file: SweepFile = read_json(path)?;
            figures::draw_both(
                &ctx.out_dir,
                "sweep",
                sweep_plot::SIZE,
                |a| sweep_plot::draw(&a, &file.points),
                |a| sweep_plot::draw(&a, &file.points),
            )?;
            drawn += 1;
        }
        anyhow::ensure!(drawn > 0, "stage `{}`: no upstream output to draw; depend on a dataset stage", ctx.stage);
        ctx.log(format!("{drawn} figure(s) drawn"));
        Ok(())
    }
}

/// A training stage's outputs, as the figures need them.
struct Run {
    stage: String,
    label: String,
    metrics: TrainMetrics,
    history: Vec<EpochRow>,
    summary: Option<Summary>,
}

fn training_runs(ctx: &StageContext) -> anyhow::Result<Vec<Run>> {
    TrainOutputs::all(ctx)
        .into_iter()
        .map(|t| {
            Ok(Run {
                stage: t.stage.to_string(),
                label: t.label.clone(),
                history: t.history()?,
                metrics: t.metrics()?,
                summary: t.summary()?,
            })
        })
        .collect()
}

/// Figures 3-1 (the model with its center-loss branch) and 3-2 (the final
/// and center-loss models' validation curves together), when both ran.
fn draw_center_figures(ctx: &StageContext, runs: &[Run]) -> anyhow::Result<usize> {
    let Some(center) = runs.iter().find(|r| r.metrics.center_weight.is_some()) else { return Ok(0) };
    let mut drawn = 0;
    if let Some(summary) = &center.summary {
        let weight = center.metrics.center_weight.unwrap_or_default();
        let size = model_graph::size(summary.rows.len());
        figures::draw_both(
            &ctx.out_dir,
            "center_graph",
            size,
            |a| model_graph::draw(&a, &summary.rows, weight),
            |a| model_graph::draw(&a, &summary.rows, weight),
        )?;
        drawn += 1;
    }
    if let Some(plain) = runs.iter().find(|r| r.label == "final") {
        let both = vec![
            (format!("{} (cross-entropy)", plain.label), plain.history.clone()),
            (format!("{} (+ center loss)", center.label), center.history.clone()),
        ];
        let title = "final model vs center-loss model: validation accuracy and loss";
        draw_curves(ctx, "center_compare", title, &curves::compare_panels(&both))?;
        drawn += 1;
    }
    Ok(drawn)
}

/// A curves figure, with the data of its hover view.
fn draw_curves(ctx: &StageContext, stem: &str, title: &str, panels: &[curves::Panel; 2]) -> anyhow::Result<()> {
    figures::draw_both(&ctx.out_dir, stem, curves::SIZE, |a| curves::draw(&a, title, panels), |a| curves::draw(&a, title, panels))?;
    std::fs::write(ctx.out_dir.join(curves_view::file_name(stem)), curves_view::json(title, panels)?)?;
    Ok(())
}

/// A scatter plot per embedding: `tsne_<model>_<layer>_<d>d`.
fn draw_embeddings(ctx: &StageContext) -> anyhow::Result<usize> {
    let mut drawn = 0;
    for outputs in ctx.inputs.values() {
        let Some(path) = outputs.get(EMBEDDINGS) else { continue };
        let file: EmbeddingsFile = read_json(path)?;
        for layer in &file.layers {
            let name = serde_json::to_value(layer.layer)?.as_str().unwrap_or_default().to_string();
            for e in &layer.embeddings {
                let title =
                    format!("t-SNE {}-D, model {}, layer {name} (10-NN accuracy {:.2})", e.dims, file.model, e.separation.knn_accuracy);
                let stem = format!("tsne_{}_{name}_{}d", file.model, e.dims);
                figures::draw_both(
                    &ctx.out_dir,
                    &stem,
                    scatter::SIZE,
                    |a| scatter::draw(&a, &title, &e.points, e.dims, &file.labels, &file.classes),
                    |a| scatter::draw(&a, &title, &e.points, e.dims, &file.labels, &file.classes),
                )?;
                std::fs::write(ctx.out_dir.join(scatter_view::file_name(&stem)), scatter_view::json(&title, &file, e)?)?;
                drawn += 1;
            }
        }
    }
    Ok(drawn)
}

/// Figure 6 from a gradcam output and the dataset's test images.
fn draw_gradcam(ctx: &StageContext) -> anyhow::Result<usize> {
    let Some((_, path)) = find(&ctx.inputs, GRADCAM) else { return Ok(0) };
    let file: GradcamFile = read_json(path)?;
    let dataset = dataset::read(&ctx.inputs, &ctx.stage)?;
    figures::draw_both(
        &ctx.out_dir,
        "gradcam",
        gradcam_grid::size(file.rows.len()),
        |a| gradcam_grid::draw(&a, &file.rows, &dataset.classes, |i| dataset.test.image(i)),
        |a| gradcam_grid::draw(&a, &file.rows, &dataset.classes, |i| dataset.test.image(i)),
    )?;
    Ok(1)
}
