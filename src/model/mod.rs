//! The report's CNN and its Keras-style summary.

pub mod cnn;
#[cfg(target_arch = "x86_64")]
pub mod conv_direct;
pub mod conv_im2col;
pub mod conv_kernels;
pub mod conv_op;
pub mod dropout_op;
pub mod extract;
pub mod feature_file;
pub mod flex_values;
pub mod input;
pub mod norm_op;
pub mod pool_op;
pub mod scratch;
pub mod summary;
pub mod weights;

pub use cnn::{Activations, Cnn, CnnConfig};
