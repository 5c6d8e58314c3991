//! Stage kind `tsne`: each layer's features flattened, reduced by PCA, then
//! embedded by t-SNE in 2-D and/or 3-D, with separation metrics for the
//! raw features, the PCA projection and every embedding.

use crate::artifacts::embeddings::{EMBEDDINGS, Embedding, EmbeddingsFile, LayerEmbeddings};
use crate::artifacts::features::{FEATURES, Features};
use crate::embedding::metrics::separation;
use crate::embedding::pca::pca;
use crate::embedding::tsne::{TsneParams, tsne};
use anyhow::Context;
use repro_engine::{ParamError, StageContext, StageKind, Upstream, typed_params, upstream_integer};

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TsneStageParams {
    #[serde(default = "d_dims")]
    pub dims: Vec<usize>,
    #[serde(default = "d_pca_dims")]
    pub pca_dims: usize,
    #[serde(default = "d_perplexity")]
    pub perplexity: f64,
    /// Absent: N / exaggeration (openTSNE's "auto").
    #[serde(default)]
    pub learning_rate: Option<f64>,
    #[serde(default = "d_early")]
    pub early_iterations: usize,
    #[serde(default = "d_iterations")]
    pub iterations: usize,
    #[serde(default = "d_theta")]
    pub theta: f64,
    #[serde(default = "d_exact")]
    pub exact_up_to: usize,
    #[serde(default)]
    pub seed: u64,
}

fn d_dims() -> Vec<usize> {
    vec![2, 3]
}
fn d_pca_dims() -> usize {
    50
}
fn d_perplexity() -> f64 {
    30.0
}
fn d_early() -> usize {
    250
}
fn d_iterations() -> usize {
    500
}
fn d_theta() -> f64 {
    0.5
}
fn d_exact() -> usize {
    1000
}

pub struct TsneKind;

impl StageKind for TsneKind {
    fn name(&self) -> &'static str {
        "tsne"
    }
    fn entry_modules(&self) -> &'static [&'static str] {
        &["stages::tsne"]
    }
    fn check_params(&self, params: &toml::Table) -> Result<(), ParamError> {
        let p: TsneStageParams = typed_params(params)?;
        let bad = |key: &str, message: &str| Err(ParamError { key: Some(key.into()), message: message.into() });
        if p.dims.is_empty() || p.dims.iter().any(|d| !(2..=3).contains(d)) {
            return bad("dims", "list of 2 and/or 3");
        }
        if p.perplexity.is_nan() || p.perplexity < 1.0 {
            return bad("perplexity", "must be at least 1");
        }
        if !(p.theta > 0.0 && p.theta <= 0.5) {
            return bad("theta", "Barnes-Hut angle must be in (0, 0.5]");
        }
        if p.pca_dims < 2 || p.iterations == 0 {
            return bad("pca_dims", "pca_dims >= 2 and iterations >= 1");
        }
        Ok(())
    }
    fn check_upstream(&self, params: &toml::Table, upstream: &[Upstream]) -> Result<(), ParamError> {
        let p: TsneStageParams = typed_params(params)?;
        let Some((features, sample)) = upstream_integer(upstream, "features", "sample_size") else { return Ok(()) };
        let mut n = sample;
        let mut why = format!("{features}.sample_size = {sample}");
        if let Some((data, test)) = upstream_integer(upstream, "dataset", "test_size").filter(|(_, t)| *t < sample) {
            n = test;
            why = format!("{data}.test_size = {test}");
        }
        let bound = (n - 1) as f64 / 3.0;
        if p.perplexity >= bound {
            let message = format!("{} is too large for {n} points ({why}): it must be below (N - 1) / 3 = {bound:.1}", p.perplexity);
            return Err(ParamError { key: Some("perplexity".into()), message });
        }
        Ok(())
    }
    fn param_help(&self) -> String {
        "dims ([2, 3]), pca_dims, perplexity, learning_rate, early_iterations, iterations, theta, exact_up_to, seed".into()
    }
    fn estimate_seconds(&self, params: &toml::Table, upstream: &[&toml::Table], threads: usize) -> f64 {
        let Ok(p) = typed_params::<TsneStageParams>(params) else { return 0.0 };
        let n = upstream.iter().find_map(|u| u.get("sample_size").and_then(|v| v.as_integer())).unwrap_or(2000) as f64;
        let layers = upstream.iter().find_map(|u| u.get("layers").and_then(|v| v.as_array()).map(|a| a.len())).unwrap_or(1) as f64;
        // Measured order of magnitude: 3 microseconds a point an iteration in 2-D, 3x that in 3-D, on 2 threads.
        let per_iteration: f64 = p.dims.iter().map(|&d| if d == 3 { 9e-6 } else { 3e-6 }).sum::<f64>() * n;
        layers * per_iteration * (p.early_iterations + p.iterations) as f64 * 2.0 / threads.max(1) as f64
    }
    fn run(&self, ctx: &StageContext) -> anyhow::Result<()> {
        let p: TsneStageParams = ctx.params()?;
        let path = ctx
            .inputs
            .values()
            .find_map(|o| o.get(FEATURES))
            .with_context(|| format!("stage `{}` needs a features stage in depends_on", ctx.stage))?;
        let features = Features::read(path)?;
        let h = &features.header;
        let (n, classes) = (h.labels.len(), h.classes.len());
        let mut layers = Vec::new();
        for ((tap, width), x) in h.taps.iter().zip(&features.matrices) {
            let raw = separation(x, n, *width, &h.labels, classes);
            let reduced = pca(x, n, *width, p.pca_dims, p.seed);
            let pca_sep = separation(&reduced.scores, n, reduced.k, &h.labels, classes);
            let mut embeddings = Vec::new();
            for &dims in &p.dims {
                let params = TsneParams {
                    dims,
                    perplexity: p.perplexity,
                    learning_rate: p.learning_rate,
                    early_iterations: p.early_iterations,
                    iterations: p.iterations,
                    theta: p.theta,
                    exact_up_to: p.exact_up_to,
                    seed: p.seed,
                    ..TsneParams::default()
                };
                let bar = ctx.bar((p.early_iterations + p.iterations) as u64, &format!("t-SNE {tap:?} {dims}-D"));
                let y = tsne(&reduced.scores, n, reduced.k, &params, &|done, _| bar.set_position(done as u64));
                bar.finish_and_clear();
                let points: Vec<f32> = y.iter().map(|&v| v as f32).collect();
                let sep = separation(&points, n, dims, &h.labels, classes);
                ctx.log(format!("{:?} {dims}-D: kNN accuracy {:.3}, silhouette {:.3}", tap, sep.knn_accuracy, sep.silhouette));
                embeddings.push(Embedding { dims, points, separation: sep });
            }
            layers.push(LayerEmbeddings {
                layer: *tap,
                width: *width,
                raw,
                pca_dims: reduced.k,
                pca_explained: reduced.explained.iter().sum(),
                pca: pca_sep,
                embeddings,
            });
        }
        let file = EmbeddingsFile {
            model: h.model.clone(),
            classes: h.classes.clone(),
            labels: h.labels.clone(),
            indices: h.indices.clone(),
            predictions: h.predictions.clone(),
            layers,
        };
        std::fs::write(ctx.out_dir.join(EMBEDDINGS), serde_json::to_vec(&file)?)?;
        Ok(())
    }
}
