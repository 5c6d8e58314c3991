//! Batch normalisation as burn backend extensions. Training mode (the
//! batch's own statistics): one pass for the statistics, one for the
//! output, and the same for the backward; burn-flex composes it from a
//! dozen tensor operations, several of them transposing copies of the
//! whole activation. Inference mode (given statistics): one pass where
//! burn takes four, with the same f32 operations in the same order.

//!
//! `op` holds the burn-facing ops and `portable` their kernels; there is no
//! AVX-512 kernel, since the portable loops already vectorise.

pub mod generic;
pub mod op;
mod portable;

pub use op::{batch_norm_eval, batch_norm_train};
