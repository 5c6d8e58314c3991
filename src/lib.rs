//! `repro`: regenerates the report "Deep Learning for Image Classification
//! with EM Algorithms" from raw data as a pipeline of cached stages.

pub mod bench;
pub mod bench_conv;
pub mod bench_layers;
pub mod bench_tsne;
pub mod cli;
pub mod clustering;
pub mod data;
pub mod embedding;
pub mod figures;
pub mod framed;
pub mod gradcam;
pub mod model;
pub mod pipeline;
pub mod stages;
pub mod training;

/// sha256 of every file under `src/` and `templates/` at compile time.
pub mod source_digests {
    include!(concat!(env!("OUT_DIR"), "/source_digests.rs"));
}

/// The tensor backend the model stages run on.
pub const BACKEND: &str = "burn 0.22.1 + burn-flex (CPU)";
