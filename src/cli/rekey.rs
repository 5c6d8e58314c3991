//! `repro rekey`: carry a remote's entries to kernel-fingerprint keys.

use super::{Invocation, Selection};
use crate::terminal::say;

pub fn rekey(at: &Invocation, selection: &Selection, dry_run: bool) -> anyhow::Result<()> {
    let target = at.target(selection)?;
    let engine = at.engine(&target)?;
    let remote =
        engine.remote_cache().cloned().ok_or_else(|| anyhow::anyhow!("rekey needs a remote: --remote URL or [remote] in pipeline.toml"))?;
    remote.check()?;
    let rekeyed = engine.rekey(remote.as_ref(), dry_run)?;
    for line in &rekeyed {
        say!("{line}");
    }
    let carried = rekeyed.iter().filter(|r| r.outcome != repro_engine::rekey::Outcome::AlreadyThere).count();
    let verb = if dry_run { "would carry" } else { "carried" };
    say!("{verb} {carried} entr{} of profile `{}` on {}", if carried == 1 { "y" } else { "ies" }, target.profile, remote.url());
    Ok(())
}
