//! Where a build's stages run. The planner (`runner`) decides each stage's
//! fate; an [`Executor`] brings the stages that need it up to date:
//! [`Local`] on this machine's threads (`--jobs`), `jobs::JobExecutor` as
//! jobs of a queue (Slurm's, or this machine's processes).

use crate::record::BuildRecord;
use crate::runner::{Engine, Planned, StageOutcome};
use crate::store::Store;
use std::collections::{BTreeMap, BTreeSet};

/// What a build hands its executor: the selected stages in dependency
/// order with the survey's plans, under the store lock.
pub struct Work<'w> {
    pub store: &'w Store,
    /// Updated (and saved) as stages finish.
    pub record: &'w mut BuildRecord,
    pub order: &'w [String],
    pub force: &'w BTreeSet<String>,
    pub(crate) planned: BTreeMap<String, Planned>,
}

pub trait Executor: Send + Sync + std::fmt::Debug {
    /// Settles every stage of `work`: fresh, restored, or run; their
    /// outcomes in the order they settled.
    fn execute(&self, engine: &Engine, work: Work) -> anyhow::Result<Vec<StageOutcome>>;
}

/// Stages run in this process, up to `jobs` at once, sharing the threads.
#[derive(Clone, Copy, Debug)]
pub struct Local {
    pub jobs: usize,
}

impl Default for Local {
    fn default() -> Local {
        Local { jobs: 1 }
    }
}

impl Executor for Local {
    fn execute(&self, engine: &Engine, work: Work) -> anyhow::Result<Vec<StageOutcome>> {
        engine.run_stages(work.store, work.record, work.order, work.planned, work.force, self.jobs)
    }
}
