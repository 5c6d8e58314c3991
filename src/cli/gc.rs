//! `repro gc`: remove stored objects nothing names, here or on a remote.

use super::{Invocation, Selection};
use crate::terminal::say;

pub fn gc_local(at: &Invocation, dry_run: bool) -> anyhow::Result<()> {
    let engine = at.engine(&at.target(&Selection::default())?)?;
    let (count, bytes) = engine.gc(dry_run)?;
    let verb = if dry_run { "would remove" } else { "removed" };
    say!("{verb} {count} object(s), {:.1} MB", bytes as f64 / 1e6);
    Ok(())
}

/// `repro gc --remote`: `url` empty for the `[remote]` of pipeline.toml.
pub fn gc_remote(at: &Invocation, url: String, older_than: f64, dry_run: bool) -> anyhow::Result<()> {
    let pipeline = &at.pipeline;
    anyhow::ensure!(older_than.is_finite() && older_than >= 0.0, "--older-than {older_than}: give hours, 0 or more");
    let selection = Selection { remote: Some(url).filter(|u| !u.is_empty()), ..Selection::default() };
    let Some(remote) = at.remote(&at.target(&selection)?)? else {
        anyhow::bail!(
            "no remote to collect: give one (`repro gc --remote s3://bucket/prefix`) or set [remote] url in {}",
            pipeline.file.display()
        )
    };
    remote.check()?;
    let min_age = std::time::Duration::from_secs_f64(older_than * 3600.0);
    let done = repro_engine::remote_gc::collect(remote.as_ref(), min_age, dry_run)?;
    for problem in &done.damaged {
        eprintln!(
            "warning: {problem}; ignored, and every unnamed object kept: it may be that entry's. `repro push` of the stage replaces the entry"
        );
    }
    if done.kept_for_damaged > 0 {
        say!("kept {} unnamed object(s): {} damaged entr(ies) may name them", done.kept_for_damaged, done.damaged.len());
    }
    let verb = if dry_run { "would remove" } else { "removed" };
    say!(
        "{}: {verb} {} object(s), {:.1} MB, and {} checkpoint entr(ies) of finished runs; kept {} object(s) that entries name and {} unnamed younger than {older_than} h (a push may be under way)",
        remote.url(),
        done.objects,
        done.bytes as f64 / 1e6,
        done.checkpoints,
        done.named,
        done.young
    );
    Ok(())
}
