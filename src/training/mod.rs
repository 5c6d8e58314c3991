//! Training the CNN: loop, optimizers, schedule, augmentation,
//! checkpoints and history.

pub mod augment;
pub mod center_loss;
pub mod checkpoint;
pub mod history;
pub mod optimizer;
pub mod schedule;
pub mod trainer;

pub use trainer::{Metrics, Reporter, TrainSettings, Trained, evaluate, train};
