//! `repro push`: send built stages (or unfinished ones' checkpoints) to
//! the remote cache.

use super::{Invocation, Selection};
use crate::terminal::say;

pub fn push(at: &Invocation, selection: &Selection, stages: &[String], dry_run: bool) -> anyhow::Result<()> {
    use repro_engine::sync::Pushed;
    // Only a push makes a folder remote; other commands refuse a missing
    // one (a typo'd path would otherwise look like an empty cache).
    let target = at.target(selection)?;
    if let Some(url) = target.remote_url.as_ref().filter(|_| !dry_run)
        && let Some(folder) = repro_remote::create_folder(url, &at.pipeline.root)?
    {
        say!("created the folder remote {}", folder.display());
    }
    let engine = at.engine(&target)?;
    let targets = at.stage_names(stages)?;
    let pushed = engine.push(&targets, dry_run)?;
    let url = engine.remote_cache().map(|r| r.url().to_string()).unwrap_or_default();
    let mut total = repro_engine::remote::Transfer::default();
    let width = pushed.iter().map(|(s, _)| s.len()).max().unwrap_or(0);
    for (stage, outcome) in &pushed {
        let (moved, with_objects, retired) = match outcome {
            Pushed::Sent { moved, with_objects, retired } => (moved, *with_objects, retired),
            Pushed::NotBuilt(state) => {
                say!("{stage:width$}  not pushed: {state}; build it first");
                continue;
            }
            Pushed::Checkpoint(moved) => {
                say!(
                    "{stage:width$}  not built; its checkpoint: {} object(s), {:.1} MB, {} already there (a build elsewhere resumes from it)",
                    moved.objects,
                    moved.bytes as f64 / 1e6,
                    moved.present
                );
                total.add(moved);
                continue;
            }
        };
        let what = if with_objects { "" } else { " (run entry only: push = false, cheap to rebuild)" };
        let retired = retired.as_ref().map_or(String::new(), |r| {
            format!(
                "; its checkpoint there retired: {} object(s), {:.1} MB removed, {} kept (named elsewhere)",
                r.objects,
                r.bytes as f64 / 1e6,
                r.present
            )
        });
        say!(
            "{stage:width$}  {} object(s), {:.1} MB; {} already there{what}{retired}",
            moved.objects,
            moved.bytes as f64 / 1e6,
            moved.present
        );
        total.add(moved);
    }
    let verb = if dry_run { "would push" } else { "pushed" };
    let checkpoints = pushed.iter().filter(|(_, p)| matches!(p, Pushed::Checkpoint(_))).count();
    let unfinished = if checkpoints > 0 { format!(" and {checkpoints} checkpoint(s) of unfinished stages") } else { String::new() };
    say!("{verb} {} object(s), {:.1} MB, and {} run entr(ies){unfinished} to {url}", total.objects, total.bytes as f64 / 1e6, total.runs);
    Ok(())
}
