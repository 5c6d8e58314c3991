//! What a stage runs the model on: its model, and the batch sizes of its
//! training and inference passes, from its parameters and those of the
//! stages upstream (the dataset's split sizes, the trained model's
//! configuration). Covers every kind that runs the model: `train`,
//! `features` and `gradcam`.

use super::probe::{self, Mode, Probe};
use crate::model::{Cnn, CnnConfig};
use crate::stages::data::DataParams;
use crate::stages::features::FeatureParams;
use crate::stages::gradcam::GradcamParams;
use crate::stages::train::TrainParams;
use repro_engine::stage::{Upstream, typed_params};
use std::collections::BTreeSet;

/// CIFAR-10's split sizes: what a dataset stage without `train_size` /
/// `test_size` keeps (the official download and the JPEG copy hold these).
pub const CIFAR10_TRAIN: usize = 50_000;
pub const CIFAR10_TEST: usize = 10_000;

/// The passes of one stage.
#[derive(Clone, Debug)]
pub struct Workload {
    pub model: CnnConfig,
    /// `(mode, batch size)` of every pass.
    pub passes: BTreeSet<(Mode, usize)>,
}

impl Workload {
    /// The workload of a stage of `kind`; `None` for kinds not covered.
    pub fn of(kind: &str, params: &toml::Table, upstream: &[Upstream]) -> anyhow::Result<Option<Workload>> {
        let workload = match kind {
            "train" => {
                let (train, test) = split_sizes(upstream)?;
                Workload::of_training(&typed(params)?, train, test)
            }
            "features" => Workload::of_features(&typed(params)?, trained_model(upstream)?, split_sizes(upstream)?.1),
            "gradcam" => Workload::of_gradcam(&typed(params)?, trained_model(upstream)?, split_sizes(upstream)?.1),
            // These run no model: their closures reach the kernels through
            // types only (a model summary, a trained run's files).
            "dataset" | "figures" | "report" | "center_sweep" | "tsne" => Workload { model: CnnConfig::default(), passes: BTreeSet::new() },
            _ => return Ok(None),
        };
        Ok(Some(workload))
    }

    /// `features`: the sampled test images (`sample_size`, at most the
    /// split) through the trained model at its `batch_size`.
    pub fn of_features(p: &FeatureParams, model: CnnConfig, test: usize) -> Workload {
        let passes = chunk_sizes(p.sample_size.min(test), p.batch_size).into_iter().map(|n| (Mode::Eval, n)).collect();
        Workload { model, passes }
    }

    /// `gradcam`: a class's candidates (`candidates`, at most the class's
    /// test images: the stratified split holds test/10 or one more of a
    /// class) in one batch, then the chosen image alone. The gradient
    /// itself runs burn's ops (`gradcam::Tail`), not these kernels.
    pub fn of_gradcam(p: &GradcamParams, model: CnnConfig, test: usize) -> Workload {
        let per_class = [test / 10, test.div_ceil(10)];
        let mut passes: BTreeSet<(Mode, usize)> =
            per_class.iter().map(|&c| (Mode::Eval, c.min(p.candidates))).filter(|(_, n)| *n > 0).collect();
        passes.insert((Mode::Eval, 1));
        Workload { model, passes }
    }

    /// A training on `train` / `test` images (`training::train` and the
    /// `train` stage around it): its steps, its per-epoch evaluation and
    /// the final one, the feature-distance pass and the center-loss
    /// initialisation (at the evaluation batch), and the model summary
    /// (one image).
    pub fn of_training(p: &TrainParams, train: usize, test: usize) -> Workload {
        let settings = p.settings();
        let mut passes: BTreeSet<(Mode, usize)> = BTreeSet::new();
        passes.extend(chunk_sizes(train, settings.batch_size).into_iter().map(|n| (Mode::Train, n)));
        passes.extend(chunk_sizes(test, settings.eval_batch_size).into_iter().map(|n| (Mode::Eval, n)));
        if let Some(center) = &settings.center {
            // `center_loss::initial_centers`'s sample size.
            let sample = center.init_sample.clamp(10, train.max(10)).min(train);
            passes.extend(chunk_sizes(sample, settings.eval_batch_size).into_iter().map(|n| (Mode::Eval, n)));
        }
        passes.insert((Mode::Eval, 1));
        Workload { model: settings.model, passes }
    }

    /// Every kernel at every shape of every pass, each once.
    pub fn probes(&self) -> Vec<Probe> {
        let model = Cnn::new(&self.model, &burn::tensor::Device::flex());
        let mut out: Vec<Probe> = Vec::new();
        for &(mode, n) in &self.passes {
            for probe in probe::probes(&model, n, mode) {
                if !out.contains(&probe) {
                    out.push(probe);
                }
            }
        }
        out
    }
}

/// The distinct sizes of `len` items taken `batch` at a time (`chunks`).
pub fn chunk_sizes(len: usize, batch: usize) -> BTreeSet<usize> {
    let mut sizes = BTreeSet::new();
    if len > 0 && batch > 0 {
        sizes.insert(batch.min(len));
        if !len.is_multiple_of(batch) {
            sizes.insert(len % batch);
        }
    }
    sizes
}

fn typed<P: serde::de::DeserializeOwned>(params: &toml::Table) -> anyhow::Result<P> {
    typed_params(params).map_err(|e| anyhow::anyhow!("{}", e.message))
}

/// The model configuration of the nearest training upstream.
fn trained_model(upstream: &[Upstream]) -> anyhow::Result<CnnConfig> {
    let train = upstream.iter().find(|u| u.kind == "train").ok_or_else(|| anyhow::anyhow!("needs a train stage upstream"))?;
    let p: TrainParams = typed(train.params).map_err(|e| anyhow::anyhow!("stage `{}`: {e}", train.stage))?;
    Ok(p.settings().model)
}

/// Train and test images of the nearest dataset stage upstream.
fn split_sizes(upstream: &[Upstream]) -> anyhow::Result<(usize, usize)> {
    let data = upstream.iter().find(|u| u.kind == "dataset").ok_or_else(|| anyhow::anyhow!("a training needs a dataset stage upstream"))?;
    let p: DataParams = typed_params(data.params).map_err(|e| anyhow::anyhow!("stage `{}`: {}", data.stage, e.message))?;
    // Synthetic data has exactly the sizes asked for; CIFAR-10 at most its own.
    let kept = |asked: Option<usize>, all: usize| if p.source == "synthetic" { asked.unwrap_or(0) } else { asked.unwrap_or(all).min(all) };
    Ok((kept(p.train_size, CIFAR10_TRAIN), kept(p.test_size, CIFAR10_TEST)))
}

#[cfg(test)]
mod tests {
    use super::chunk_sizes;

    #[test]
    fn chunks_are_the_batch_and_the_remainder() {
        assert_eq!(chunk_sizes(50_000, 64).into_iter().collect::<Vec<_>>(), vec![16, 64]);
        assert_eq!(chunk_sizes(640, 32).into_iter().collect::<Vec<_>>(), vec![32]);
        assert_eq!(chunk_sizes(20, 256).into_iter().collect::<Vec<_>>(), vec![20]);
        assert!(chunk_sizes(0, 64).is_empty());
    }
}
