//! Runs a build's stages in dependency order: a stage whose upstream
//! stages are done is resolved at once when it is fresh or restorable (run
//! cache, remote), else run on a thread of its own, up to `jobs` at a time,
//! each with an equal share of the threads. Two stages of one computation
//! (same fingerprint) never run at once: the second waits and is restored.
//! When a stage fails no new one starts; those running finish and are
//! recorded, then the build fails naming the stage.

use crate::events::Event;
use crate::key::Fingerprint;
use crate::record::{BuildRecord, StageRecord};
use crate::runner::{Engine, Planned, StageOutcome, State};
use crate::store::Store;
use anyhow::Context;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::mpsc;

/// A stage that ran, with the reasons it ran and how it ended.
struct Finished {
    name: String,
    reasons: Vec<crate::reason::Reason>,
    result: anyhow::Result<StageRecord>,
}

/// What the schedule has done so far.
struct Progress<'r> {
    record: &'r mut BuildRecord,
    outputs: BTreeMap<String, BTreeMap<String, String>>,
    outcomes: Vec<StageOutcome>,
    failures: Vec<anyhow::Error>,
}

impl Engine<'_> {
    pub(crate) fn run_stages(
        &self,
        store: &Store,
        record: &mut BuildRecord,
        order: &[String],
        mut planned: BTreeMap<String, Planned>,
        force: &BTreeSet<String>,
        jobs: usize,
    ) -> anyhow::Result<Vec<StageOutcome>> {
        let jobs = jobs.max(1);
        let share = (self.threads / jobs).max(1);
        let mut done = Progress { record, outputs: BTreeMap::new(), outcomes: Vec::new(), failures: Vec::new() };
        let mut pending: Vec<String> = order.to_vec();
        let mut running: BTreeMap<String, Fingerprint> = BTreeMap::new();
        let mut waiting: BTreeSet<String> = BTreeSet::new();
        std::thread::scope(|scope| {
            let (tx, rx) = mpsc::channel::<Finished>();
            loop {
                while done.failures.is_empty() && running.len() < jobs {
                    let ready = |n: &String| !waiting.contains(n) && self.upstream_done(n, &done.outputs);
                    let Some(i) = pending.iter().position(ready) else { break };
                    let name = pending.remove(i);
                    match self.start(store, &name, planned.remove(&name), force, &mut done, &running) {
                        Ok(Start::Resolved) => {}
                        Ok(Start::Wait(plan)) => {
                            planned.insert(name.clone(), plan);
                            waiting.insert(name.clone());
                            pending.insert(i, name);
                        }
                        Ok(Start::Run(plan, reasons)) => {
                            running.insert(name.clone(), plan.fingerprint.clone());
                            let (tx, snapshot) = (tx.clone(), done.record.clone());
                            scope.spawn(move || {
                                let result = self.run_caught(store, &name, &plan, &snapshot, share);
                                let _ = tx.send(Finished { name, reasons, result });
                            });
                        }
                        Err(e) => done.failures.push(e),
                    }
                }
                if running.is_empty() {
                    break;
                }
                let finished = rx.recv().expect("a running stage always reports");
                running.remove(&finished.name);
                waiting.clear();
                match finished.result {
                    Ok(entry) => {
                        done.record.stages.insert(finished.name.clone(), entry);
                        if let Err(e) = self.finish(store, &finished.name, State::Stale(finished.reasons), true, &mut done) {
                            done.failures.push(e);
                        }
                    }
                    Err(e) => done.failures.push(e),
                }
            }
        });
        let mut failures = done.failures.into_iter();
        match (failures.next(), failures.len()) {
            (Some(first), 0) => Err(first),
            (Some(first), more) => Err(first.context(format!("and {more} more stage(s) failed"))),
            (None, _) => Ok(done.outcomes),
        }
    }

    fn upstream_done(&self, name: &str, outputs: &BTreeMap<String, BTreeMap<String, String>>) -> bool {
        let stage = self.pipeline.stage(name).expect("known stage");
        stage.depends_on.iter().all(|d| outputs.contains_key(d))
    }

    /// Resolves `name` without running it when it can, else says to run it.
    fn start(
        &self,
        store: &Store,
        name: &str,
        surveyed: Option<Planned>,
        force: &BTreeSet<String>,
        done: &mut Progress,
        running: &BTreeMap<String, Fingerprint>,
    ) -> anyhow::Result<Start> {
        let plan = self.replan(store, name, surveyed, &done.outputs)?;
        if running.values().any(|f| *f == plan.fingerprint) {
            return Ok(Start::Wait(plan));
        }
        let forced = force.contains(name);
        let (reasons, settled) = self.settle(store, name, &plan, done.record, forced);
        let Some(state) = settled else {
            self.reporter.event(Event::Running { stage: name.to_string(), reasons: reasons.clone() });
            if forced {
                // Forced means from scratch: no resuming a checkpoint.
                let _ = std::fs::remove_dir_all(store.checkpoint_dir(name, &plan.fingerprint));
            } else {
                self.resume_from_remote(store, name, &plan.fingerprint);
            }
            return Ok(Start::Run(plan, reasons));
        };
        self.finish(store, name, state, false, done)?;
        Ok(Start::Resolved)
    }

    /// Why `name` is stale ("forced" first when it is), and its state when
    /// it is settled without running: fresh, restored from the run cache or
    /// pulled from the remote (its entry then in `record`). None: it runs.
    pub(crate) fn settle(
        &self,
        store: &Store,
        name: &str,
        plan: &Planned,
        record: &mut BuildRecord,
        forced: bool,
    ) -> (Vec<crate::reason::Reason>, Option<State>) {
        let mut reasons = self.reasons(store, name, record.stages.get(name), plan);
        if forced {
            reasons.insert(0, crate::reason::Reason::Forced);
        }
        let state = if reasons.is_empty() {
            self.reporter.event(Event::Fresh { stage: name.to_string() });
            Some(State::Fresh)
        } else if let Some(cached) = (!forced).then(|| self.restore(store, plan)).flatten() {
            self.reporter.event(Event::Restored { stage: name.to_string(), reasons: reasons.clone() });
            record.stages.insert(name.to_string(), cached);
            Some(State::Cached)
        } else if let Some(pulled) = (!forced).then(|| self.pull_stage(store, name, plan)).flatten() {
            record.stages.insert(name.to_string(), pulled);
            Some(State::Remote(self.remote.as_ref().map(|r| r.url().to_string()).unwrap_or_default()))
        } else {
            None
        };
        (reasons, state)
    }

    /// Runs a stage; a panic in it is its failure, not the build's end.
    fn run_caught(&self, store: &Store, name: &str, plan: &Planned, record: &BuildRecord, threads: usize) -> anyhow::Result<StageRecord> {
        let run = std::panic::AssertUnwindSafe(|| self.run_stage(store, name, plan, record, threads));
        let result = std::panic::catch_unwind(run).unwrap_or_else(|panic| {
            let message = panic.downcast_ref::<String>().cloned().or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()));
            Err(anyhow::anyhow!("it panicked: {}", message.unwrap_or_else(|| "(no message)".into())))
        });
        result.with_context(|| format!("stage `{name}` failed"))
    }

    /// Records a finished stage: the build record is saved after each that
    /// changed it, so an interrupted build keeps what finished (a fresh
    /// stage changed nothing: a no-op build writes no file).
    fn finish(&self, store: &Store, name: &str, state: State, ran: bool, done: &mut Progress) -> anyhow::Result<()> {
        if state != State::Fresh {
            done.record.save(store.root())?;
        }
        let built = &done.record.stages[name];
        done.outputs.insert(name.to_string(), built.output_digests());
        done.outcomes.push(StageOutcome { stage: name.to_string(), state, ran });
        Ok(())
    }
}

enum Start {
    Resolved,
    /// The same computation is running: try again when it is done.
    Wait(Planned),
    Run(Planned, Vec<crate::reason::Reason>),
}
