//! `repro status`: each stage fresh or stale, and why.

use super::{Invocation, Selection};
use crate::terminal::say;
use repro_engine::Engine;
use std::collections::BTreeSet;

pub fn status(at: &Invocation, selection: &Selection, rehash: bool) -> anyhow::Result<()> {
    let engine = at.engine(&at.target(selection)?)?;
    say!("profile `{}`", engine.profile());
    say!("{}", environment_line(at, &engine));
    if let Some(remote) = engine.remote_cache() {
        say!("remote cache: {}", remote.url());
    }
    let none = BTreeSet::new();
    if !rehash {
        super::build::print_states(&engine.status(&[], &none)?);
        return kernels_line(&engine);
    }
    let (outcomes, failed) = engine.status_rehashing(&[], &none)?;
    super::build::print_states(&outcomes);
    kernels_line(&engine)?;
    // A health check for scripts: damage found is a failure.
    anyhow::ensure!(
        failed.is_empty(),
        "{} stored output(s) missing or corrupt (removed; their stages are stale above): {}",
        failed.len(),
        failed.iter().map(|s| &s[..12]).collect::<Vec<_>>().join(", ")
    );
    Ok(())
}

/// The parts of every model stage's key that come from this machine and
/// this binary rather than from pipeline.toml.
fn environment_line(at: &Invocation, engine: &Engine) -> String {
    let path = at.kinds.get("train").map(|k| k.compute_path()).unwrap_or_default();
    let compute: Vec<String> = path.into_iter().map(|(k, v)| format!("{k} {v}")).collect();
    let sources = engine.sources();
    let burn = sources.locked.iter().find(|(n, _, _)| *n == "burn").map_or("?", |(_, v, _)| v);
    format!("built with {}, burn {burn}; compute path: {}", sources.rustc, compute.join(", "))
}

/// Each model stage's kernel fingerprint (one digest over its prints), as
/// its record keeps it beside the compute path.
fn kernels_line(engine: &Engine) -> anyhow::Result<()> {
    let keys = engine.keys(&[])?;
    let keyed: Vec<String> = keys
        .iter()
        .filter(|k| !k.environment.kernels.is_empty())
        .map(|k| format!("{} {} ({} kernel shapes)", k.stage, &k.environment.kernel_fingerprint()[..12], k.environment.kernels.len()))
        .collect();
    if !keyed.is_empty() {
        say!("kernels keyed by what they compute: {}", keyed.join(", "));
    }
    Ok(())
}
