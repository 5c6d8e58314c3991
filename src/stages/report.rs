//! Stage kind `report`: fills the Markdown and HTML templates from what
//! upstream stages produced, and copies their figures beside the report.

use super::published;
use crate::artifacts::dataset::{DataSummary, SUMMARY};
use crate::artifacts::embeddings::{EMBEDDINGS, EmbeddingsFile};
use crate::artifacts::sweep::{SWEEP, SweepFile};
use crate::artifacts::train::TrainOutputs;
use crate::artifacts::{find, read_json};
use crate::model::summary::Summary;
use anyhow::Context;
use minijinja::Environment;
use repro_engine::provenance::{COMPUTE, KERNEL_SHAPES, KERNELS};
use repro_engine::stage::UpstreamInfo;
use repro_engine::{ParamError, StageContext, StageKind, typed_params};
use std::path::Path;

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportParams {
    /// Folder holding `report.md.j2` and `report.html.j2`.
    pub templates: String,
    #[serde(default = "default_title")]
    pub title: String,
    /// The train stage whose summary is Figure 1 (default: the first one).
    #[serde(default)]
    pub summary_model: Option<String>,
}

fn default_title() -> String {
    "Deep Learning for Image Classification with EM Algorithms — reproduced".into()
}

pub struct ReportKind;

/// Provenance of one upstream stage.
#[derive(serde::Serialize)]
struct StageRef {
    name: String,
    kind: String,
    fingerprint: String,
    /// Its kernel prints (`None` when its kernels are keyed by their tokens).
    kernels: Option<KernelPrints>,
    /// Whether its numbers depend on the machine (a compute path is recorded).
    computes: bool,
}

/// One digest over a stage's kernel prints, and how many kernel shapes
/// they cover.
#[derive(serde::Serialize)]
struct KernelPrints {
    fingerprint: String,
    shapes: i64,
}

/// The compute path and kernel prints the engine copied from a stage's
/// record (`repro_engine::provenance`); empty and `None` where it has none.
fn provenance_of(u: &UpstreamInfo) -> (String, Option<KernelPrints>) {
    let text = |key: &str| u.display.get(key).and_then(|v| v.as_str()).unwrap_or_default().to_string();
    let shapes = u.display.get(KERNEL_SHAPES).and_then(|v| v.as_integer()).unwrap_or(0);
    let fingerprint = text(KERNELS);
    let kernels = (!fingerprint.is_empty()).then_some(KernelPrints { fingerprint, shapes });
    (text(COMPUTE), kernels)
}

/// One compute path and the stages whose records name it.
#[derive(serde::Serialize)]
struct ComputePath {
    path: String,
    stages: Vec<String>,
}

#[derive(serde::Serialize)]
struct ClassRow {
    name: String,
    train: usize,
    test: usize,
}

#[derive(serde::Serialize)]
struct DataSection {
    stage: String,
    fingerprint: String,
    summary: DataSummary,
    rows: Vec<ClassRow>,
    total_train: usize,
    total_test: usize,
}

#[derive(serde::Serialize)]
struct Figure {
    /// Where the template places it: `data`, `final` or `variants`.
    section: &'static str,
    id: String,
    caption: String,
    png: String,
    svg: String,
    stage: String,
    fingerprint: String,
    /// An embedding's interactive view data (`figures::scatter_view`),
    /// `<` escaped so it can stand inside a `<script>` element.
    view: Option<String>,
    /// A curves figure's hover data (`figures::curves_view`), escaped so.
    curves: Option<String>,
}

/// One row of the model comparison table: the report's number beside ours.
#[derive(serde::Serialize)]
struct ModelRow {
    label: String,
    stage: String,
    fingerprint: String,
    change: &'static str,
    published_accuracy: Option<f64>,
    published_loss: Option<f64>,
    accuracy: f64,
    loss: f64,
    accuracy_diff: Option<f64>,
    loss_diff: Option<f64>,
    epochs: usize,
    stopped_early: bool,
    train_images: usize,
    test_images: usize,
    feature_distance_ratio: f64,
    center_weight: Option<f64>,
}

/// Section 4: what the models' numbers say together.
#[derive(serde::Serialize)]
struct Discussion {
    /// The model with the best test accuracy (the last of a tie).
    best: String,
    best_accuracy: f64,
    /// Variants trained to the report's protocol, and the range of their
    /// accuracy diffs against the report's.
    protocol: Vec<String>,
    diff_min: Option<f64>,
    diff_max: Option<f64>,
    /// The other models: fewer images or epochs than the report's.
    short: Vec<String>,
}

/// One row of Table 3: how well classes separate in one space.
#[derive(serde::Serialize)]
struct SeparationRow {
    model: String,
    layer: String,
    space: String,
    /// The space's name in headline numbers (`raw`, `tsne_2-d`); none for
    /// spaces `verify` does not check.
    #[serde(skip)]
    number_key: Option<String>,
    stage: String,
    fingerprint: String,
    knn_accuracy: f64,
    silhouette: f64,
    center_ratio: f64,
}

/// A claim of the report, checked against our numbers.
#[derive(serde::Serialize)]
struct Claim {
    claim: &'static str,
    evidence: String,
    holds: bool,
}

#[derive(serde::Serialize)]
struct ReportContext {
    title: String,
    profile: String,
    version: &'static str,
    backend: &'static str,
    data: Option<DataSection>,
    models: Vec<ModelRow>,
    discussion: Option<Discussion>,
    summary: Option<Summary>,
    figures: Vec<Figure>,
    separation: Vec<SeparationRow>,
    claims: Vec<Claim>,
    sweep: Option<SweepFile>,
    stages: Vec<StageRef>,
    compute_paths: Vec<ComputePath>,
    dag: String,
}

impl StageKind for ReportKind {
    fn name(&self) -> &'static str {
        "report"
    }
    fn entry_modules(&self) -> &'static [&'static str] {
        &["stages::report"]
    }
    fn check_params(&self, params: &toml::Table) -> Result<(), ParamError> {
        typed_params::<ReportParams>(params).map(|_| ())
    }
    fn param_help(&self) -> String {
        "templates (folder with report.md.j2 and report.html.j2), title, summary_model (a train stage)".into()
    }
    fn file_params(&self, _params: &toml::Table) -> Vec<String> {
        vec!["templates".into()]
    }
    fn uses_profile_name(&self) -> bool {
        true
    }
    fn run(&self, ctx: &StageContext) -> anyhow::Result<()> {
        let p: ReportParams = ctx.params()?;
        let figures = copy_figures(ctx)?;
        let (separation, embeddings) = separation_rows(ctx)?;
        let models = model_rows(ctx)?;
        let context = ReportContext {
            discussion: discussion(&models),
            models,
            claims: claims(&embeddings),
            sweep: find(&ctx.inputs, SWEEP).map(|(_, path)| read_json(path)).transpose()?,
            separation,
            title: p.title,
            profile: ctx.profile.clone(),
            version: env!("CARGO_PKG_VERSION"),
            backend: crate::BACKEND,
            data: data_section(ctx)?,
            summary: model_summary(ctx, p.summary_model.as_deref())?,
            figures,
            stages: stage_refs(ctx),
            compute_paths: compute_paths(ctx),
            dag: ctx.dag_text.clone(),
        };
        let numbers = numbers(&context);
        std::fs::write(ctx.out_dir.join(repro_engine::verify::NUMBERS), serde_json::to_vec_pretty(&numbers)?)?;
        let dir = ctx.files.get("templates").context("templates folder was not resolved")?;
        render(dir, "report.md.j2", &context, &ctx.out_dir.join("report.md"))?;
        render(dir, "report.html.j2", &context, &ctx.out_dir.join("report.html"))?;
        ctx.log("report.md and report.html written");
        Ok(())
    }
}

fn stage_refs(ctx: &StageContext) -> Vec<StageRef> {
    let stage_ref = |(name, u): (&String, &UpstreamInfo)| {
        let (compute, kernels) = provenance_of(u);
        StageRef { name: name.clone(), kind: u.kind.clone(), fingerprint: u.fingerprint.clone(), kernels, computes: !compute.is_empty() }
    };
    ctx.upstream.iter().map(stage_ref).collect()
}

/// The compute paths the upstream records name, each with its stages
/// (one, unless stages ran on different machines or backends).
fn compute_paths(ctx: &StageContext) -> Vec<ComputePath> {
    let mut paths: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (name, u) in &ctx.upstream {
        let (compute, _) = provenance_of(u);
        if !compute.is_empty() {
            paths.entry(compute).or_default().push(name.clone());
        }
    }
    paths.into_iter().map(|(path, stages)| ComputePath { path, stages }).collect()
}

fn render(dir: &Path, name: &str, context: &ReportContext, dest: &Path) -> anyhow::Result<()> {
    let mut env = Environment::new();
    env.set_loader(minijinja::path_loader(dir));
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    let template = env.get_template(name).with_context(|| format!("cannot load template {}", dir.join(name).display()))?;
    let text = template.render(context).map_err(|e| anyhow::anyhow!("{}: {e:#}", dir.join(name).display()))?;
    std::fs::write(dest, text).with_context(|| format!("cannot write {}", dest.display()))
}

fn data_section(ctx: &StageContext) -> anyhow::Result<Option<DataSection>> {
    for (stage, outputs) in &ctx.inputs {
        if let Some(path) = outputs.get(SUMMARY) {
            let summary: DataSummary = read_json(path)?;
            let rows: Vec<ClassRow> = summary
                .classes
                .iter()
                .enumerate()
                .map(|(i, name)| ClassRow { name: name.clone(), train: summary.train_counts[i], test: summary.test_counts[i] })
                .collect();
            return Ok(Some(DataSection {
                stage: stage.clone(),
                fingerprint: fingerprint_of(ctx, stage),
                total_train: summary.train_counts.iter().sum(),
                total_test: summary.test_counts.iter().sum(),
                summary,
                rows,
            }));
        }
    }
    Ok(None)
}

/// (section, report id, caption) of each place a figure file stem appears.
fn figure_meta(stem: &str) -> Vec<(&'static str, String, String)> {
    match stem {
        "samples" => return vec![("data", "Figure 0".into(), "Sample training images, one row a class".into())],
        "center_graph" => {
            return vec![(
                "method",
                "Figure 3-1".into(),
                "The model with the center-loss branch: inputs image and label, outputs class and center loss".into(),
            )];
        }
        "gradcam" => {
            return vec![(
                "features",
                "Figure 6".into(),
                "Grad-CAM of the final model on its last Conv2D maps, one test image a class: original, heatmap (red = most contribution), overlay".into(),
            )];
        }
        "sweep" => {
            return vec![(
                "sweep",
                "Figure S-1".into(),
                "Test accuracy and feature ratio against the center-loss weight w, mean ± std over seeds".into(),
            )];
        }
        "center_compare" => {
            return vec![(
                "center",
                "Figure 3-2".into(),
                "Validation accuracy and loss of the final model and of the center-loss model".into(),
            )];
        }
        _ => {}
    }
    if let Some(rest) = stem.strip_prefix("tsne_") {
        return published::embedding_figures(rest)
            .iter()
            .map(|(section, id, caption)| (*section, id.to_string(), caption.to_string()))
            .collect();
    }
    let Some(label) = stem.strip_prefix("curves_") else { return Vec::new() };
    let caption = format!("Accuracy and loss over epochs, train and validation, model {label} ({})", published::change(label));
    published::curves_figures(label)
        .iter()
        .map(|id| {
            let section = match *id {
                "Figure 2" => "final",
                "Figure 7-1" | "Figure 7-2" => "center",
                _ => "variants",
            };
            (section, id.to_string(), caption.clone())
        })
        .collect()
}

/// Sort key: report figure numbers in order ("Figure 4-2" after "Figure 2").
fn figure_order(id: &str) -> Vec<u32> {
    id.trim_start_matches("Figure ").split('-').filter_map(|p| p.parse().ok()).collect()
}

fn copy_figures(ctx: &StageContext) -> anyhow::Result<Vec<Figure>> {
    let mut found = Vec::new();
    for (stage, outputs) in &ctx.inputs {
        let stems: Vec<String> = outputs.keys().filter_map(|k| k.strip_suffix(".png")).map(str::to_string).collect();
        for stem in stems {
            let (Some(png), Some(svg)) = (outputs.get(&format!("{stem}.png")), outputs.get(&format!("{stem}.svg"))) else { continue };
            let places = figure_meta(&stem);
            if !places.is_empty() {
                std::fs::create_dir_all(ctx.out_dir.join("figures"))?;
                std::fs::copy(png, ctx.out_dir.join(format!("figures/{stem}.png")))?;
                std::fs::copy(svg, ctx.out_dir.join(format!("figures/{stem}.svg")))?;
            }
            let view = script_data(outputs.get(&format!("{stem}.view.json")))?;
            let curves = script_data(outputs.get(&format!("{stem}.curves.json")))?;
            for (section, id, caption) in places {
                found.push(Figure {
                    section,
                    id,
                    caption,
                    png: format!("figures/{stem}.png"),
                    svg: format!("figures/{stem}.svg"),
                    stage: stage.clone(),
                    fingerprint: fingerprint_of(ctx, stage),
                    view: view.clone(),
                    curves: curves.clone(),
                });
            }
        }
    }
    found.sort_by_key(|f| figure_order(&f.id));
    Ok(found)
}

/// A figure's view data, if the figures stage wrote it, made safe to stand
/// inside a `<script>` element.
fn script_data(path: Option<&std::path::PathBuf>) -> anyhow::Result<Option<String>> {
    Ok(match path {
        Some(path) => Some(std::fs::read_to_string(path)?.replace('<', "\\u003c")),
        None => None,
    })
}

fn model_rows(ctx: &StageContext) -> anyhow::Result<Vec<ModelRow>> {
    let mut rows = Vec::new();
    for run in TrainOutputs::all(ctx) {
        let (stage, m, label) = (run.stage.to_string(), run.metrics()?, run.label.clone());
        let published = published::training(&label);
        let (accuracy, loss) = (m.test_accuracy * 100.0, m.test_loss);
        rows.push(ModelRow {
            fingerprint: fingerprint_of(ctx, &stage),
            stage,
            change: published::change(&label),
            published_accuracy: published.map(|p| p.0),
            published_loss: published.and_then(|p| p.1),
            accuracy_diff: published.map(|p| accuracy - p.0),
            loss_diff: published.and_then(|p| p.1).map(|p| loss - p),
            feature_distance_ratio: m.feature_distance_ratio,
            center_weight: m.center_weight,
            accuracy,
            loss,
            epochs: m.epochs_run,
            stopped_early: m.stopped_early,
            train_images: m.train_images,
            test_images: m.test_images,
            label,
        });
    }
    let order = |l: &str| published::TRAINING.iter().position(|(p, _, _)| *p == l).unwrap_or(usize::MAX);
    rows.sort_by_key(|r| order(&r.label));
    Ok(rows)
}

/// Section 4 from Table 1's rows; `None` without a trained model.
fn discussion(models: &[ModelRow]) -> Option<Discussion> {
    let best = models.iter().max_by(|a, b| a.accuracy.total_cmp(&b.accuracy))?;
    let had_protocol = |m: &&ModelRow| {
        published::VARIANTS.contains(&m.label.as_str())
            && m.train_images == published::TRAIN_IMAGES
            && m.epochs == published::VARIANT_EPOCHS
    };
    let (protocol, short): (Vec<&ModelRow>, Vec<&ModelRow>) = models.iter().partition(had_protocol);
    let diffs = || protocol.iter().filter_map(|m| m.accuracy_diff);
    let labels = |rows: &[&ModelRow]| rows.iter().map(|m| m.label.clone()).collect();
    Some(Discussion {
        best: best.label.clone(),
        best_accuracy: best.accuracy,
        diff_min: diffs().reduce(f64::min),
        diff_max: diffs().reduce(f64::max),
        protocol: labels(&protocol),
        short: labels(&short),
    })
}

/// Figure 1: the summary of the `summary_model` stage, else of the first
/// trained model.
fn model_summary(ctx: &StageContext, summary_model: Option<&str>) -> anyhow::Result<Option<Summary>> {
    let runs: Vec<TrainOutputs> = TrainOutputs::all(ctx).into_iter().filter(|t| t.has_model()).collect();
    let chosen = match summary_model {
        Some(stage) => Some(runs.iter().find(|t| t.stage == stage).with_context(|| {
            format!("stage `{}`: params.summary_model = \"{stage}\" is not a train stage in its depends_on", ctx.stage)
        })?),
        None => runs.first(),
    };
    chosen.map_or(Ok(None), |t| t.summary())
}

fn layer_name(tap: crate::model::extract::Tap) -> String {
    serde_json::to_value(tap).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
}

/// Table 3's rows from every tsne output, and the files themselves.
fn separation_rows(ctx: &StageContext) -> anyhow::Result<(Vec<SeparationRow>, Vec<EmbeddingsFile>)> {
    let (mut rows, mut files) = (Vec::new(), Vec::new());
    for (stage, outputs) in &ctx.inputs {
        let Some(path) = outputs.get(EMBEDDINGS) else { continue };
        let file: EmbeddingsFile = read_json(path)?;
        for l in &file.layers {
            let mut spaces = vec![
                (format!("raw ({}-d)", l.width), Some("raw".to_string()), &l.raw),
                (format!("PCA ({} dims, {:.0}% of variance)", l.pca_dims, l.pca_explained * 100.0), None, &l.pca),
            ];
            spaces.extend(l.embeddings.iter().map(|e| (format!("t-SNE {}-D", e.dims), Some(format!("tsne_{}-d", e.dims)), &e.separation)));
            for (space, number_key, sep) in spaces {
                rows.push(SeparationRow {
                    model: file.model.clone(),
                    layer: layer_name(l.layer),
                    space,
                    number_key,
                    stage: stage.clone(),
                    fingerprint: fingerprint_of(ctx, stage),
                    knn_accuracy: sep.knn_accuracy,
                    silhouette: sep.silhouette,
                    center_ratio: sep.center_ratio,
                });
            }
        }
        files.push(file);
    }
    Ok((rows, files))
}

/// The report's two feature-space claims, stated as holding or not.
fn claims(files: &[EmbeddingsFile]) -> Vec<Claim> {
    use crate::model::extract::Tap;
    let mut out = Vec::new();
    let layer = |model: &str, tap: Tap| files.iter().filter(|f| f.model == model).flat_map(|f| &f.layers).find(|l| l.layer == tap);
    let depth: Vec<_> = [Tap::FirstConv, Tap::LastConv, Tap::Dense, Tap::Logits].into_iter().filter_map(|t| layer("center", t)).collect();
    if depth.len() >= 2 {
        let knn: Vec<f64> = depth.iter().map(|l| l.raw.knn_accuracy).collect();
        let ratio: Vec<f64> = depth.iter().map(|l| l.raw.center_ratio).collect();
        let rising = knn.windows(2).all(|w| w[1] >= w[0]);
        let tightening = ratio.windows(2).all(|w| w[1] <= w[0]);
        let fmt = |v: &[f64]| v.iter().map(|x| format!("{x:.3}")).collect::<Vec<_>>().join(" → ");
        out.push(Claim {
            claim: "Classes cluster more tightly with depth (center-loss model, Figures 8-1..8-4)",
            evidence: format!("raw-feature 10-NN accuracy by depth {}; center-distance ratio {}", fmt(&knn), fmt(&ratio)),
            holds: rising && tightening,
        });
    }
    if let (Some(plain), Some(center)) = (layer("final", Tap::Logits), layer("center", Tap::Logits)) {
        out.push(Claim {
            claim: "Center loss makes classes tighter and further apart (class layer, Figures 9-1, 9-2)",
            evidence: format!(
                "center-distance ratio {:.3} (final) vs {:.3} (center); silhouette {:.3} vs {:.3}",
                plain.raw.center_ratio, center.raw.center_ratio, plain.raw.silhouette, center.raw.silhouette
            ),
            holds: center.raw.center_ratio < plain.raw.center_ratio && center.raw.silhouette > plain.raw.silhouette,
        });
    }
    out
}

fn fingerprint_of(ctx: &StageContext, stage: &str) -> String {
    ctx.upstream.get(stage).map(|u| u.fingerprint[..12].to_string()).unwrap_or_default()
}

/// The build's headline numbers, for `repro verify`.
fn numbers(c: &ReportContext) -> std::collections::BTreeMap<String, f64> {
    let mut n = std::collections::BTreeMap::new();
    if let Some(d) = &c.data {
        n.insert("data.train_images".into(), d.total_train as f64);
        n.insert("data.test_images".into(), d.total_test as f64);
    }
    if let Some(s) = &c.summary {
        n.insert("model.total_params".into(), s.total as f64);
        n.insert("model.trainable_params".into(), s.trainable as f64);
        n.insert("model.non_trainable_params".into(), s.non_trainable as f64);
    }
    for r in &c.separation {
        if let Some(space) = &r.number_key {
            n.insert(format!("separation.{}.{}.{}.knn_accuracy", r.model, r.layer, space), r.knn_accuracy);
        }
    }
    for m in &c.models {
        let trained = crate::trained_numbers::Trained {
            test_accuracy: m.accuracy / 100.0,
            test_loss: m.loss,
            epochs: m.epochs as f64,
            feature_distance_ratio: m.feature_distance_ratio,
        };
        n.extend(trained.numbers(&m.label));
    }
    n
}
