//! Training the CNN: loop, settings, optimizers, schedule, center loss,
//! checkpoints and history.

pub mod center_loss;
pub mod checkpoint;
pub mod history;
pub mod optimizer;
pub mod schedule;
pub mod settings;
pub mod trainer;

pub use trainer::{Metrics, Reporter, TrainSettings, Trained, evaluate, train};
