//! `repro build` and `repro run stage`: bring stages up to date.

use super::{BuildArgs, Invocation};
use crate::terminal::say;
use repro_engine::{BuildOptions, Engine, StageOutcome, State, runner::human_duration};
use std::collections::BTreeSet;
use std::time::Instant;

pub fn build(at: &Invocation, args: &BuildArgs, targets: Vec<String>) -> anyhow::Result<()> {
    let target = at.target(&args.selection)?;
    let engine = at.engine(&target)?;
    build_partly(at, &engine, &target, args, targets, false).map(|_| ())
}

/// A build; with `without_training`, train stages are only restored and
/// the ones that cannot be are left unbuilt with what needs them
/// (returned, and listed).
pub fn build_partly(
    at: &Invocation,
    engine: &Engine,
    target: &super::Target,
    args: &BuildArgs,
    targets: Vec<String>,
    without_training: bool,
) -> anyhow::Result<Vec<String>> {
    let started = Instant::now();
    let no_train = args.no_train || without_training;
    let options = BuildOptions {
        targets,
        force: args.force.iter().cloned().collect::<BTreeSet<_>>(),
        force_all: args.force_all,
        dry_run: args.dry_run,
        wait_for_lock: !args.no_wait,
        restore_only: if no_train { at.stage_names(&["train".to_string()])?.into_iter().collect() } else { BTreeSet::new() },
        skip_unrestorable: without_training,
        executor: crate::executor::for_build(args, at, target)?,
    };
    for f in &options.force {
        anyhow::ensure!(at.pipeline.stage(f).is_some(), "--force {f}: no such stage");
    }
    let built = engine.build_partial(&options)?;
    let (outcomes, skipped) = (built.outcomes, built.skipped);
    if args.dry_run {
        print_states(&outcomes);
    }
    let unbuilt: Vec<String> = skipped.iter().map(|(name, _)| name.clone()).collect();
    for (name, state) in &skipped {
        let why = if options.restore_only.contains(name) { "its training is not published yet" } else { "it needs a stage not built" };
        say!("{name:>12} not built: {why} ({state})");
    }
    if args.dry_run {
        return Ok(unbuilt);
    }
    let ran = outcomes.iter().filter(|o| o.ran).count();
    let restored = outcomes.iter().filter(|o| matches!(o.state, State::Cached | State::Remote(_))).count();
    say!(
        "profile `{}`: {ran} ran, {restored} restored, {} fresh in {}",
        engine.profile(),
        outcomes.len() - ran - restored,
        human_duration(started.elapsed().as_secs_f64())
    );
    if !unbuilt.is_empty() {
        say!("{} stage(s) not built (they need a training that is not published): {}", unbuilt.len(), unbuilt.join(", "));
    }
    Ok(unbuilt)
}

pub fn print_states(outcomes: &[StageOutcome]) {
    let width = outcomes.iter().map(|o| o.stage.len()).max().unwrap_or(0);
    for o in outcomes {
        say!("{:width$}  {}", o.stage, o.state);
    }
}
