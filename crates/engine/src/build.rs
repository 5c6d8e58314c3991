//! A build: the planner's survey of the selected stages, the checks
//! before any work (restore-only stages, the estimate), then the store
//! lock and the executor, then the exports.

use crate::events::Event;
use crate::executor::{Executor, Local, Work};
use crate::lock::StoreLock;
use crate::record::BuildRecord;
use crate::runner::{Engine, Planned, StageOutcome, State, Surveyed, outcomes};
use crate::store::Store;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// What to build, and how.
#[derive(Clone, Debug)]
pub struct BuildOptions {
    /// Only these stages and what they need (all stages when empty).
    pub targets: Vec<String>,
    pub force: BTreeSet<String>,
    pub force_all: bool,
    pub dry_run: bool,
    pub wait_for_lock: bool,
    /// Stages that must not run: fresh, or restored from the run cache or
    /// the remote; otherwise the build fails before running anything.
    pub restore_only: BTreeSet<String>,
    /// With `restore_only`: a stage of it that cannot be restored is not
    /// built, nor is anything that needs it (`Built::skipped`), instead of
    /// failing the build.
    pub skip_unrestorable: bool,
    /// Where the stages that need it run: here (`Local`, the default) or
    /// as Slurm jobs.
    pub executor: Arc<dyn Executor>,
}

impl Default for BuildOptions {
    fn default() -> BuildOptions {
        BuildOptions {
            targets: Vec::new(),
            force: BTreeSet::new(),
            force_all: false,
            dry_run: false,
            wait_for_lock: false,
            restore_only: BTreeSet::new(),
            skip_unrestorable: false,
            executor: Arc::new(Local::default()),
        }
    }
}

/// What a build did, and the stages it left unbuilt with their state.
#[derive(Clone, Debug)]
pub struct Built {
    pub outcomes: Vec<StageOutcome>,
    pub skipped: Vec<(String, State)>,
}

impl Engine<'_> {
    /// Brings the targets up to date through `options.executor`; the
    /// record is saved after each stage that changed it.
    pub fn build(&self, options: &BuildOptions) -> anyhow::Result<Vec<StageOutcome>> {
        Ok(self.build_partial(options)?.outcomes)
    }

    /// `build`, also saying which stages `skip_unrestorable` left unbuilt.
    pub fn build_partial(&self, options: &BuildOptions) -> anyhow::Result<Built> {
        self.check_remote()?;
        let store = self.open_store()?;
        let force: BTreeSet<String> =
            if options.force_all { self.stages_for(&options.targets)?.into_iter().collect() } else { options.force.clone() };
        let mut surveyed = self.survey(&store, &BuildRecord::load(store.root(), &self.profile)?, &options.targets, &force)?;
        let mut skipped = Vec::new();
        if options.skip_unrestorable {
            let unbuilt = self.unrestorable(&surveyed, &options.restore_only);
            let (left, kept): (Vec<Surveyed>, Vec<Surveyed>) = surveyed.into_iter().partition(|s| unbuilt.contains(&s.name));
            skipped = left.into_iter().map(|s| (s.name, s.state)).collect();
            surveyed = kept;
        }
        let built = |outcomes| Built { outcomes, skipped: skipped.clone() };
        self.refuse_to_run(&surveyed, &options.restore_only)?;
        self.estimate(&surveyed);
        if options.dry_run {
            return Ok(built(outcomes(surveyed)));
        }
        let wait = |holder: &str| self.reporter.event(Event::WaitingForLock { holder: holder.to_string() });
        let _lock = StoreLock::acquire(store.root(), options.wait_for_lock, &wait)?;
        store.clear_scratch()?;
        let mut record = BuildRecord::load(store.root(), &self.profile)?;
        record.profile = self.profile.clone();
        let order: Vec<String> = self.stages_for(&options.targets)?.into_iter().filter(|n| surveyed.iter().any(|s| s.name == *n)).collect();
        let planned: BTreeMap<String, Planned> = surveyed.into_iter().map(|s| (s.name, s.plan)).collect();
        let work = Work { store: &store, record: &mut record, order: &order, force: &force, planned };
        let result = options.executor.execute(self, work)?;
        self.export(&store, &record, &order)?;
        store.digests().save()?;
        Ok(built(result))
    }

    /// The `restore_only` stages that would run, the stages of the same
    /// computation and every stage downstream of them (survey order is
    /// dependency order, so one pass finds them all).
    fn unrestorable(&self, surveyed: &[Surveyed], restore_only: &BTreeSet<String>) -> BTreeSet<String> {
        let mut unbuilt = BTreeSet::new();
        for s in surveyed {
            let stage = self.pipeline.stage(&s.name).expect("known stage");
            let would_run = must_not_run(s, restore_only);
            let same_as_unbuilt = matches!(&s.state, State::SameAs(first) if unbuilt.contains(first));
            if would_run || same_as_unbuilt || stage.depends_on.iter().any(|d| unbuilt.contains(d)) {
                unbuilt.insert(s.name.clone());
            }
        }
        unbuilt
    }

    /// An error naming the `restore_only` stages that would run.
    fn refuse_to_run(&self, surveyed: &[Surveyed], restore_only: &BTreeSet<String>) -> anyhow::Result<()> {
        let would_run: Vec<String> =
            surveyed.iter().filter(|s| must_not_run(s, restore_only)).map(|s| format!("{} ({})", s.name, s.state)).collect();
        anyhow::ensure!(
            would_run.is_empty(),
            "these stages would run, and may only be restored: {}; pull them from a remote that has them (`repro pull`), or drop the restriction",
            would_run.join("; ")
        );
        Ok(())
    }

    /// Reports how many stages will run and the kinds' estimate of how long.
    fn estimate(&self, surveyed: &[Surveyed]) {
        let mut total = 0.0;
        let mut count = 0;
        for s in surveyed.iter().filter(|s| s.state.will_run()) {
            let stage = self.pipeline.stage(&s.name).expect("known stage");
            let kind = self.kinds.get(&stage.kind).expect("known kind");
            let upstream: Vec<toml::Table> = stage.depends_on.iter().map(|d| self.params_of(d)).collect();
            let refs: Vec<&toml::Table> = upstream.iter().collect();
            total += kind.estimate_seconds(&s.plan.table, &refs, self.threads);
            count += 1;
        }
        if count > 0 {
            self.reporter.event(Event::Estimate { profile: self.profile.clone(), stages: count, seconds: total, threads: self.threads });
        }
    }

    /// Copies outputs of stages with `export` into their folders, when changed.
    fn export(&self, store: &Store, record: &BuildRecord, order: &[String]) -> anyhow::Result<()> {
        for name in order {
            let stage = self.pipeline.stage(name).expect("known stage");
            let (Some(pattern), Some(built)) = (&stage.export, record.stages.get(name)) else { continue };
            let dest = self.pipeline.root.join(pattern.replace("{profile}", &self.profile));
            super::export::sync(store, &built.outputs, &dest)?;
        }
        Ok(())
    }
}

/// A `restore_only` stage that the survey says would run.
fn must_not_run(s: &Surveyed, restore_only: &BTreeSet<String>) -> bool {
    restore_only.contains(&s.name) && s.state.will_run()
}
