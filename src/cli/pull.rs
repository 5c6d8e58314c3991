//! `repro pull`: fetch, verified, what a build can restore from the remote.

use super::{Invocation, Selection};
use crate::terminal::say;

pub fn pull(at: &Invocation, selection: &Selection, stages: &[String]) -> anyhow::Result<()> {
    use repro_engine::sync::Pulled;
    let engine = at.engine(&at.target(selection)?)?;
    let targets = at.stage_names(stages)?;
    let pulled = engine.pull(&targets)?;
    let width = pulled.iter().map(|(s, _)| s.len()).max().unwrap_or(0);
    let mut total = repro_engine::remote::Transfer::default();
    for (stage, outcome) in &pulled {
        let text = match outcome {
            Pulled::Fetched(moved) => {
                total.add(moved);
                format!("pulled {} object(s), {:.1} MB, verified", moved.objects, moved.bytes as f64 / 1e6)
            }
            Pulled::Checkpoint(moved) => {
                total.add(moved);
                format!(
                    "not built; checkpoint pulled, {} file(s), {:.1} MB, verified: the next build resumes from it",
                    moved.objects,
                    moved.bytes as f64 / 1e6
                )
            }
            Pulled::Here => "here already".into(),
            Pulled::Rebuild => "cheap to rebuild: the next build runs it".into(),
            Pulled::Missing => "not on the remote".into(),
        };
        say!("{stage:width$}  {text}");
    }
    say!(
        "pulled {} object(s), {:.1} MB; `repro build --profile {}` restores them",
        total.objects,
        total.bytes as f64 / 1e6,
        engine.profile()
    );
    Ok(())
}
