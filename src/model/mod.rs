//! The report's CNN and its Keras-style summary.

pub mod cnn;
pub mod extract;
pub mod input;
pub mod summary;
pub mod weights;

pub use cnn::{Activations, Cnn, CnnConfig};
