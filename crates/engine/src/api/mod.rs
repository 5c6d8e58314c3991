//! What a running stage uses of the engine: the stage-kind trait and its
//! context, typed parameters, atomic writes and file digests. Only this
//! folder enters the stages' keys (`[package.metadata.repro]` in this
//! crate's Cargo.toml): the rest of the engine decides when a stage runs,
//! not what it computes.

pub mod atomic;
pub mod hashing;
pub mod stage;
