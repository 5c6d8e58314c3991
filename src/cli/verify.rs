//! `repro verify`: build, then compare the numbers with the published ones.

use super::{BuildArgs, Invocation};
use crate::terminal::say;
use repro_engine::store::Store;
use std::collections::BTreeMap;

/// The compute path the profile's last build actually ran on (the one its
/// model stages recorded; none for a profile without them).
pub fn compute_used(store: &Store, profile: &str) -> anyhow::Result<BTreeMap<String, String>> {
    let record = repro_engine::record::BuildRecord::load(store.root(), profile)?;
    let mut paths: Vec<&BTreeMap<String, String>> =
        record.stages.values().map(|s| &s.environment.compute).filter(|c| !c.is_empty()).collect();
    paths.dedup();
    anyhow::ensure!(paths.len() <= 1, "profile `{profile}` was built on several compute paths; rebuild it with --force-all");
    Ok(paths.first().map(|c| (*c).clone()).unwrap_or_default())
}

/// Allowed drift per metric: counts exact, accuracy and loss 0.005.
/// Counts must match exactly; measured quantities get a small tolerance.
fn tolerance(metric: &str) -> f64 {
    if metric.ends_with("_accuracy") || metric.ends_with("_loss") || metric.ends_with("_ratio") { 0.005 } else { 0.0 }
}

pub fn verify(at: &Invocation, args: &BuildArgs, update: bool) -> anyhow::Result<()> {
    use repro_engine::verify;
    let pipeline = &at.pipeline;
    let target = at.target(&args.selection)?;
    let engine = at.engine(&target)?;
    let profile = engine.profile();
    let partial = pipeline.profiles.get(profile).is_some_and(|p| p.verify_without_training);
    let unbuilt = super::build::build_partly(at, &engine, &target, args, Vec::new(), partial)?;
    let store = Store::open(&pipeline.store_dir)?;
    let mut now = verify::current_numbers_except(&store, profile, &unbuilt)?;
    if partial {
        // The report (which writes numbers.json) needs every training; the
        // built ones' numbers come from their metrics, as the report's would.
        for (metric, value) in crate::trained_numbers::of_built_trainings(&engine, &store, &unbuilt)? {
            now.entry(metric).or_insert(value);
        }
    }
    let compute = compute_used(&store, profile)?;
    let (path, published) = verify::record_for(pipeline, profile, &compute)?;
    if update {
        let file = verify::publish(profile, &compute, &now, tolerance);
        repro_engine::atomic::write(&path, &serde_json::to_vec_pretty(&file)?)?;
        say!("recorded {} numbers in {} (compute path: {})", now.len(), path.display(), verify::describe_compute(&compute));
        return Ok(());
    }
    let Some(published) = published else {
        let known: Vec<String> = verify::published_records(pipeline, profile)?
            .iter()
            .map(|(p, f)| format!("{} ({})", p.display(), verify::describe_compute(&f.compute)))
            .collect();
        anyhow::bail!(
            "no published numbers of profile `{}` for this compute path ({}); the kernels' paths are not bit-identical. Published: {}. Record this path's with `repro verify --profile {} --update`",
            profile,
            verify::describe_compute(&compute),
            if known.is_empty() { "none".to_string() } else { known.join("; ") },
            profile
        );
    };
    say!("published numbers: {} (compute path: {})", path.display(), verify::describe_compute(&compute));
    let checks = verify::compare(&published, &now);
    let show = |v: Option<f64>| v.map_or("missing".to_string(), |v| format!("{v:.4}"));
    say!("{:<52} {:>12} {:>12} {:>10}  ok", "metric", "published", "now", "tolerance");
    for c in &checks {
        let (p, t) = (c.published.as_ref().map(|p| p.value), c.published.as_ref().map(|p| p.tolerance));
        say!("{:<52} {:>12} {:>12} {:>10}  {}", c.metric, show(p), show(c.now), show(t), if c.ok() { "yes" } else { "NO" });
    }
    let bad = checks.iter().filter(|c| !c.ok()).count();
    anyhow::ensure!(bad == 0, "{bad} of {} numbers differ from {} beyond tolerance", checks.len(), path.display());
    say!("all {} numbers reproduce ({})", checks.len(), path.display());
    Ok(())
}
