//! `repro bench …`: speed figures, printed (never asserted), one module
//! each; every benchmark takes what it measures, not the command line.

pub mod conv;
pub mod data;
pub mod epoch;
pub mod fork;
pub mod hash;
pub mod layers;
pub mod noop;
pub mod pca;
pub mod prints;
pub mod train;
pub mod tsne;

use clap::Subcommand;
use std::path::{Path, PathBuf};

#[derive(Subcommand, Debug)]
pub enum BenchWhat {
    /// sha256 throughput on a large file (made in a temp folder when not given).
    Hash {
        #[arg(long)]
        file: Option<PathBuf>,
        #[arg(long, default_value_t = 170)]
        size_mb: usize,
    },
    /// Wall time of a no-op `repro build` and of `repro status` on a fresh profile.
    Noop {
        #[arg(long, default_value = "smoke")]
        profile: String,
        #[arg(long, default_value_t = 20)]
        runs: usize,
    },
    /// Planning a profile's keys by tokens (the baseline) against by kernel
    /// prints, computed (a binary's first call) and cached.
    Prints {
        #[arg(long, default_value = "full")]
        profile: String,
        #[arg(long, default_value_t = 5)]
        runs: usize,
    },
    /// Time to load and decode a local CIFAR-10 source (e.g. the JPEG copy).
    Data { source: PathBuf },
    /// Training images/s at batch 64 and inference images/s at batch 256 of
    /// the report's CNN, beside PyTorch CPU's (bench/torch_speed.py) when torch is installed.
    Train {
        #[arg(long, default_value_t = 20)]
        steps: usize,
    },
    /// Epochs of the real training loop on synthetic images (with the
    /// evaluation and checkpoint), beside pure steps: the loop's own cost.
    Epoch {
        /// Training batches of 64 an epoch (782: CIFAR-10's 50,000 images).
        #[arg(long, default_value_t = 100)]
        batches: usize,
        #[arg(long, default_value_t = 2000)]
        eval_images: usize,
        /// The first epoch includes a GPU's kernel compilation and autotuning.
        #[arg(long, default_value_t = 2)]
        epochs: usize,
    },
    /// Forward and backward milliseconds of each layer of the report's CNN
    /// (conv rows include their ReLU), to see where a training step goes.
    Layers {
        #[arg(long, default_value_t = 64)]
        batch: usize,
        #[arg(long, default_value_t = 5)]
        rounds: usize,
    },
    /// The model's convolutions through both kernel paths (direct AVX-512,
    /// im2col + gemm): forward, weight- and input-gradient ms and GFLOP/s.
    Conv {
        #[arg(long, default_value_t = 64)]
        batch: usize,
        #[arg(long, default_value_t = 5)]
        rounds: usize,
    },
    /// t-SNE against openTSNE (bench/opentsne_bench.py, when installed) on
    /// labelled Gaussian clusters in 50-D: time, 10-NN accuracy and exact
    /// KL(P || Q) against one fixed P (perplexity 30, exact neighbours).
    Tsne {
        #[arg(long, value_delimiter = ',', default_value = "2000,5000,10000")]
        sizes: Vec<usize>,
        #[arg(long, value_delimiter = ',', default_value = "2,3")]
        dims: Vec<usize>,
    },
    /// PCA of N x 512 to 50 dimensions.
    Pca {
        #[arg(long, default_value_t = 10000)]
        n: usize,
    },
}

/// Runs one benchmark; `pipeline` is the pipeline file (for `noop`).
pub fn run(what: &BenchWhat, pipeline: &Path, threads: usize, compute: &crate::compute::Compute) -> anyhow::Result<()> {
    match what {
        BenchWhat::Hash { file, size_mb } => hash::hash(file.clone(), *size_mb),
        BenchWhat::Noop { profile, runs } => noop::noop(pipeline, profile, *runs),
        BenchWhat::Prints { profile, runs } => prints::prints(pipeline, profile, *runs),
        BenchWhat::Data { source } => data::data(source),
        BenchWhat::Train { steps } => train::train(*steps, threads, compute),
        BenchWhat::Epoch { batches, eval_images, epochs } => epoch::epoch(*batches, *eval_images, *epochs, compute),
        BenchWhat::Layers { batch, rounds } => layers::layers(*batch, *rounds),
        BenchWhat::Conv { batch, rounds } => conv::conv(*batch, *rounds),
        BenchWhat::Tsne { sizes, dims } => tsne::tsne(sizes, dims, threads),
        BenchWhat::Pca { n } => pca::pca(*n),
    }
}

/// The python that runs the comparison scripts: `REPRO_PYTHON`, else
/// `python3` (one rule for every benchmark).
pub fn python() -> String {
    std::env::var("REPRO_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// The median of `values` (reordered).
pub fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
