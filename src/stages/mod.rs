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
pub mod wiring;

use crate::compute::Compute;
use repro_engine::{KindRegistry, ParamError, StageContext, StageKind, Upstream};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Every stage kind `pipeline.toml` may name, its models on flex.
pub fn registry() -> KindRegistry {
    registry_on(Compute::flex())
}

/// Every stage kind, its models (training, features, Grad-CAM) on `compute`.
pub fn registry_on(compute: Compute) -> KindRegistry {
    let compute = Arc::new(compute);
    let mut kinds = KindRegistry::default();
    kinds.register(on_threads(data::DatasetKind));
    kinds.register(on_threads(features::FeaturesKind { compute: compute.clone() }));
    kinds.register(on_threads(figures::FiguresKind));
    kinds.register(on_threads(gradcam::GradcamKind { compute: compute.clone() }));
    kinds.register(on_threads(report::ReportKind));
    kinds.register(on_threads(sweep::SweepKind));
    kinds.register(Box::new(OnThreads(train_kind(compute))));
    kinds.register(on_threads(tsne::TsneKind));
    kinds
}

/// Training on `compute`: on Vulkan the GPU loop's kind, which keeps the
/// device busy (its own entry module, so flex keys never cover it).
fn train_kind(compute: Arc<Compute>) -> Box<dyn StageKind> {
    let base = train::TrainKind { compute };
    #[cfg(feature = "vulkan")]
    if base.compute.kind == crate::compute::BackendKind::Vulkan {
        return Box::new(crate::gpu::train_kind::GpuTrainKind { base });
    }
    Box::new(base)
}

/// A kind whose run uses its stage's share of the threads (`ctx.threads`:
/// all of them, or a part when stages run at once) in a pool of its own.
struct OnThreads(Box<dyn StageKind>);

fn on_threads(kind: impl StageKind + 'static) -> Box<dyn StageKind> {
    Box::new(OnThreads(Box::new(kind)))
}

impl StageKind for OnThreads {
    fn run(&self, ctx: &StageContext) -> anyhow::Result<()> {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(ctx.threads.max(1)).build()?;
        pool.install(|| self.0.run(ctx))
    }
    fn name(&self) -> &'static str {
        self.0.name()
    }
    fn entry_modules(&self) -> &'static [&'static str] {
        self.0.entry_modules()
    }
    fn compute_path(&self) -> BTreeMap<String, String> {
        with_gpu_software(self.0.compute_path())
    }
    fn check_params(&self, params: &toml::Table) -> Result<(), ParamError> {
        self.0.check_params(params)
    }
    fn check_upstream(&self, params: &toml::Table, upstream: &[Upstream]) -> Result<(), ParamError> {
        self.0.check_upstream(params, upstream)
    }
    fn param_help(&self) -> String {
        self.0.param_help()
    }
    fn file_params(&self, params: &toml::Table) -> Vec<String> {
        self.0.file_params(params)
    }
    fn display_params(&self) -> &'static [&'static str] {
        self.0.display_params()
    }
    fn uses_profile_name(&self) -> bool {
        self.0.uses_profile_name()
    }
    fn estimate_seconds(&self, params: &toml::Table, upstream: &[&toml::Table], threads: usize) -> f64 {
        self.0.estimate_seconds(params, upstream, threads)
    }
}

/// Which shader compiler this binary's Vulkan backend runs: `vulkan`
/// compiles cubecl's kernels to WGSL and wgpu translates them, while
/// `vulkan-spirv` uses cubecl's own SPIR-V compiler. The device's
/// `compiler` entry names the same in both, so this names what ran.
pub const SHADER_COMPILER: &str = if cfg!(feature = "vulkan-spirv") { "spirv (cubecl)" } else { "wgsl (wgpu)" };

/// A stage's compute path as it enters its key: on Vulkan, with the shader
/// compiler and the device's driver and its version, so neither two
/// compilers nor two drivers share a key. Flex paths are as they were.
pub fn with_gpu_software(mut path: BTreeMap<String, String>) -> BTreeMap<String, String> {
    if path.get("backend").is_some_and(|b| b == "vulkan") {
        path.insert("shader".into(), SHADER_COMPILER.into());
        #[cfg(feature = "vulkan")]
        if let Some(device) = path.get("device").cloned() {
            path.insert("driver".into(), crate::gpu::driver::driver_of(&device));
        }
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vulkan_path_names_its_shader_compiler_and_flex_is_unchanged() {
        let flex = crate::compute::Compute::flex().path();
        assert_eq!(with_gpu_software(flex.clone()), flex);
        let vulkan = BTreeMap::from([("backend".to_string(), "vulkan".to_string()), ("compiler".to_string(), "x".to_string())]);
        assert_eq!(with_gpu_software(vulkan)["shader"], SHADER_COMPILER);
    }
}
