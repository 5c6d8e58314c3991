//! What one training run is given: model, optimizer, schedule, data
//! augmentation, seed and the center-loss branch.

use super::center_loss::CenterSettings;
use super::optimizer::OptimizerParams;
use crate::data::augment::Augment;
use crate::model::CnnConfig;

/// Everything the loop needs to know, from the stage's parameters.
#[derive(Clone, Debug)]
pub struct TrainSettings {
    pub model: CnnConfig,
    pub optimizer: OptimizerParams,
    pub epochs: usize,
    pub batch_size: usize,
    pub eval_batch_size: usize,
    pub lr: f64,
    pub lr_schedule: Vec<(usize, f64)>,
    pub patience: usize,
    pub augment: Option<Augment>,
    pub seed: u64,
    /// The center-loss branch (SPEC section 5), if any.
    pub center: Option<CenterSettings>,
}
