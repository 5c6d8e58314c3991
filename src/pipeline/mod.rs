//! The generic pipeline engine: configuration, DAG, fingerprints,
//! content-addressed store, build records and the runner. It knows stages
//! only through the [`stage::StageKind`] trait.

pub mod atomic;
pub mod code_version;
pub mod config;
pub mod cycle;
pub mod dag;
pub mod export;
pub mod fingerprint;
pub mod hashing;
pub mod lock;
pub mod record;
pub mod runner;
pub mod source_scan;
pub mod stage;
pub mod store;
pub mod verify;

pub use config::Pipeline;
pub use runner::{BuildOptions, Engine, StageOutcome, State};
pub use stage::{KindRegistry, ParamError, StageContext, StageKind, typed_params};
