//! `repro-engine`: the generic pipeline engine. Configuration, DAG,
//! fingerprints (derived code versions, environment), the
//! content-addressed store, build records, verification and the runner.
//!
//! It knows stages only through the [`StageKind`] trait and nothing of the
//! domain, and it prints nothing: it reports [`events::Event`]s and hands
//! out [`events::Progress`] counters through an [`events::Reporter`] that
//! the caller renders.

pub mod api;
pub mod behaviour;
pub mod build;
pub mod carry;
pub mod code_version;
pub mod config;
pub mod cycle;
pub mod dag;
pub mod diff;
pub mod events;
pub mod executor;
pub mod export;
pub mod fingerprint;
pub mod gated;
pub mod job;
pub mod jobs;
pub mod key;
pub mod lock;
pub mod pipeline;
pub mod provenance;
pub mod reason;
pub mod record;
pub mod rekey;
pub mod remote;
pub mod remote_gc;
pub mod runner;
mod schedule;
pub mod slurm;
pub mod source_scan;
pub mod store;
pub mod sync;
pub mod verify;
pub mod wiring;

pub use api::{atomic, hashing, stage};
pub use build::{BuildOptions, Built};
pub use executor::{Executor, Local};
pub use pipeline::Pipeline;
pub use reason::Reason;
pub use runner::{Engine, StageOutcome, State};
pub use stage::{KindRegistry, ParamError, StageContext, StageKind, Upstream, typed_params, upstream_integer};
