//! The CNN's compute kernels, one folder per op (conv, pool, norm,
//! dropout), each with its burn-facing op (`op.rs`: the backend-extension
//! trait, its Flex and Autodiff implementations, the backward step), its
//! AVX-512 kernel (`avx512.rs`) and its portable fallback (`portable.rs`),
//! chosen in the folder's `mod.rs` by a CPU token from `cpu`.

pub mod conv;
pub mod cpu;
pub mod dropout;
pub mod flex_values;
pub mod norm;
pub mod pool;
pub mod scratch;
