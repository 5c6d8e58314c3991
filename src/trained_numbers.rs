//! The headline numbers of a profile's built train stages, read from their
//! metrics, under the names and with the values the report gives them
//! (`c.test_accuracy`, ...): what `verify` checks of a profile whose
//! trainings are published one at a time, before its report can be built.

use crate::artifacts::train::{METRICS, TrainMetrics};
use anyhow::Context;
use repro_engine::Engine;
use repro_engine::record::BuildRecord;
use repro_engine::store::Store;
use std::collections::BTreeMap;

/// `label.test_accuracy`, `.test_loss`, `.epochs` and
/// `.feature_distance_ratio` of each train stage in the profile's record,
/// except those in `unbuilt`.
pub fn of_built_trainings(engine: &Engine, store: &Store, unbuilt: &[String]) -> anyhow::Result<BTreeMap<String, f64>> {
    let record = BuildRecord::load(store.root(), engine.profile())?;
    let mut numbers = BTreeMap::new();
    for (name, stage) in record.stages.iter().filter(|(name, _)| !unbuilt.contains(name)) {
        let (Some(object), true) = (stage.outputs.get(METRICS), engine.pipeline().stage(name).is_some()) else { continue };
        let path = store.object_path(&object.sha256);
        let metrics: TrainMetrics =
            serde_json::from_slice(&std::fs::read(&path).with_context(|| format!("{}: unreadable", path.display()))?)
                .with_context(|| format!("{}: not the metrics of `{name}`", path.display()))?;
        let label = engine.params_of(name).get("label").and_then(|l| l.as_str()).map(str::to_string).unwrap_or_else(|| name.clone());
        let trained = Trained {
            test_accuracy: metrics.test_accuracy,
            test_loss: metrics.test_loss,
            epochs: metrics.epochs_run as f64,
            feature_distance_ratio: metrics.feature_distance_ratio,
        };
        numbers.extend(trained.numbers(&label));
    }
    Ok(numbers)
}

/// A trained model's headline numbers: the one place their names are made
/// (the report's numbers and `verify`'s of a partly built profile).
pub struct Trained {
    /// 0..1.
    pub test_accuracy: f64,
    pub test_loss: f64,
    pub epochs: f64,
    pub feature_distance_ratio: f64,
}

impl Trained {
    /// `label.test_accuracy`, `.test_loss`, `.epochs`, `.feature_distance_ratio`.
    pub fn numbers(&self, label: &str) -> [(String, f64); 4] {
        [
            (format!("{label}.test_accuracy"), self.test_accuracy),
            (format!("{label}.test_loss"), self.test_loss),
            (format!("{label}.epochs"), self.epochs),
            (format!("{label}.feature_distance_ratio"), self.feature_distance_ratio),
        ]
    }
}
