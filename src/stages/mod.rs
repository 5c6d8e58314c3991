//! The report's stage kinds, registered with the engine.

pub mod data;
pub mod figures;
pub mod published;
pub mod report;
pub mod train;

use crate::pipeline::KindRegistry;

/// Every stage kind `pipeline.toml` may name.
pub fn registry() -> KindRegistry {
    let mut kinds = KindRegistry::default();
    kinds.register(Box::new(data::DatasetKind));
    kinds.register(Box::new(figures::FiguresKind));
    kinds.register(Box::new(report::ReportKind));
    kinds.register(Box::new(train::TrainKind));
    kinds
}
