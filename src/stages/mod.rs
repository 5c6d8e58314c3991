//! The report's stage kinds, registered with the engine.

pub mod data;
pub mod features;
pub mod figures;
pub mod gradcam;
pub mod published;
pub mod report;
pub mod sweep;
pub mod train;
pub mod tsne;

use repro_engine::KindRegistry;

/// Every stage kind `pipeline.toml` may name.
pub fn registry() -> KindRegistry {
    let mut kinds = KindRegistry::default();
    kinds.register(Box::new(data::DatasetKind));
    kinds.register(Box::new(features::FeaturesKind));
    kinds.register(Box::new(figures::FiguresKind));
    kinds.register(Box::new(gradcam::GradcamKind));
    kinds.register(Box::new(report::ReportKind));
    kinds.register(Box::new(sweep::SweepKind));
    kinds.register(Box::new(train::TrainKind));
    kinds.register(Box::new(tsne::TsneKind));
    kinds
}
