//! `repro`: regenerates the report "Deep Learning for Image Classification
//! with EM Algorithms" from raw data as a pipeline of cached stages.

pub mod artifacts;
pub mod bench;
pub mod cli;
pub mod clustering;
pub mod compute;
pub mod data;
pub mod embedding;
pub mod executor;
pub mod figures;
pub mod framed;
#[cfg(feature = "vulkan")]
pub mod gpu;
pub mod gradcam;
pub mod kernel_prints;
pub mod kernels;
pub mod model;
pub mod stages;
pub mod terminal;
pub mod trained_numbers;
pub mod training;

/// Every file under `src/` and `templates/` at compile time (token
/// digests and references), Cargo.lock's crates and the compiler's version.
pub mod source_digests {
    include!(concat!(env!("OUT_DIR"), "/source_digests.rs"));
}

/// The program this binary was compiled from, for code versions.
pub fn compiled_sources() -> repro_engine::code_version::SourceTree<'static> {
    use source_digests as s;
    repro_engine::code_version::SourceTree {
        sources: s::SOURCES,
        direct_deps: s::DIRECT_DEPS,
        locked: s::LOCKED,
        backends: s::BACKEND_LOCKED,
        package_version: s::PACKAGE_VERSION,
        rustc: s::RUSTC,
    }
}

/// The tensor backend the model stages run on.
pub const BACKEND: &str = "burn 0.22.1 + burn-flex (CPU)";
