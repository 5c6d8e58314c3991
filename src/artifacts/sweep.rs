//! The `center_sweep` kind's output: every run of the sweep and each
//! weight's mean and spread.

pub const SWEEP: &str = "sweep.json";

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct SweepRun {
    pub weight: f64,
    pub seed: u64,
    pub test_accuracy: f64,
    pub test_loss: f64,
    pub feature_ratio: f64,
    pub epochs: usize,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct SweepPoint {
    pub weight: f64,
    pub runs: usize,
    pub accuracy_mean: f64,
    pub accuracy_std: f64,
    pub ratio_mean: f64,
    pub ratio_std: f64,
}

/// The stage's output, `sweep.json`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct SweepFile {
    pub runs: Vec<SweepRun>,
    pub points: Vec<SweepPoint>,
    /// One sentence, with numbers: does center loss help here?
    pub verdict: String,
    pub train_images: usize,
    pub test_images: usize,
}
