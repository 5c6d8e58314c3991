//! `repro bench prints`: what kernel fingerprints cost `repro status`.
//! Plans every stage key of a profile three ways in one run: by tokens
//! (the keys before kernel fingerprints: the baseline), by behaviour with
//! no cached prints (a binary's first call), and by behaviour reading the
//! prints that call cached.

use crate::kernel_prints::KernelBattery;
use crate::kernel_prints::runner::FlexKernels;
use crate::terminal::say;
use repro_engine::{Engine, Pipeline};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

pub fn prints(pipeline: &Path, profile: &str, runs: usize) -> anyhow::Result<()> {
    let kinds = crate::stages::registry();
    let pipeline = Pipeline::load(pipeline, &kinds)?;
    pipeline.profile(profile)?;
    let cache = tempfile::tempdir()?;
    let engine = || Engine::new(&pipeline, &kinds, crate::compiled_sources(), profile, Arc::new(repro_engine::events::Quiet));
    let battery = || Arc::new(KernelBattery::new(Arc::new(FlexKernels), Some(cache.path().to_path_buf())));
    let timed = |plan: &dyn Fn() -> anyhow::Result<usize>| -> anyhow::Result<(f64, usize)> {
        let t = Instant::now();
        let keyed = plan()?;
        Ok((t.elapsed().as_secs_f64() * 1000.0, keyed))
    };
    let keyed = |e: Engine| -> anyhow::Result<usize> { Ok(e.keys(&[])?.iter().filter(|k| !k.environment.kernels.is_empty()).count()) };
    let (cold, stages) = timed(&|| keyed(engine().behaviour(battery())))?;
    let median = |plan: &dyn Fn() -> anyhow::Result<usize>| -> anyhow::Result<f64> {
        let mut ms = (0..runs.max(1)).map(|_| timed(plan).map(|(ms, _)| ms)).collect::<anyhow::Result<Vec<f64>>>()?;
        ms.sort_by(f64::total_cmp);
        Ok(ms[ms.len() / 2])
    };
    let tokens = median(&|| keyed(engine()))?;
    let warm = median(&|| keyed(engine().behaviour(battery())))?;
    say!("profile `{profile}`: {stages} model stage(s) keyed by kernel prints; keys planned (median of {runs}):");
    say!("  by tokens (baseline)          {tokens:8.1} ms");
    say!("  by prints, first call         {cold:8.1} ms  ({:.0}x the baseline; computes every probe)", cold / tokens);
    say!("  by prints, cached             {warm:8.1} ms  ({:.2}x the baseline)", warm / tokens);
    Ok(())
}
