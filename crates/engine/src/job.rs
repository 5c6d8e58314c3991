//! One stage run as a job of a build on a cluster (`repro job`). The
//! submitting build holds the store lock and owns the build record; the job
//! reads that record and the results its build's earlier jobs left, decides
//! as a local build would (fresh, restored from the run cache, or run),
//! and leaves its own result for the build and for its dependents' jobs.

use crate::events::Event;
use crate::key::Fingerprint;
use crate::record::{self, BuildRecord};
use crate::runner::Engine;
use crate::store::Store;
use anyhow::Context;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What a job did, in `<build dir>/<stage>.json`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct JobResult {
    pub stage: String,
    pub fingerprint: Fingerprint,
    pub state: JobState,
}

/// How a job settled its stage.
#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    Fresh,
    /// From the run cache.
    Restored,
    Ran,
}

pub fn result_path(build_dir: &Path, stage: &str) -> PathBuf {
    build_dir.join(format!("{stage}.json"))
}

pub fn read_result(build_dir: &Path, stage: &str) -> Option<JobResult> {
    serde_json::from_slice(&std::fs::read(result_path(build_dir, stage)).ok()?).ok()
}

impl Engine<'_> {
    /// Runs `name` as a job of the build whose job folder is `build_dir`
    /// (`forced`: as `--force` does, from scratch).
    pub fn run_job(&self, name: &str, build_dir: &Path, forced: bool) -> anyhow::Result<JobResult> {
        anyhow::ensure!(self.pipeline.stage(name).is_some(), "unknown stage `{name}`");
        let store = self.open_store()?;
        let record = with_job_results(&store, BuildRecord::load(store.root(), &self.profile)?, build_dir);
        let outputs: BTreeMap<String, BTreeMap<String, String>> =
            record.stages.iter().map(|(stage, r)| (stage.clone(), r.output_digests())).collect();
        let plan = self.plan(&store, name, &outputs)?;
        let mut reasons = self.reasons(&store, name, record.stages.get(name), &plan);
        if forced {
            reasons.insert(0, crate::reason::Reason::Forced);
            let _ = std::fs::remove_dir_all(store.checkpoint_dir(name, &plan.fingerprint));
        }
        let state = if reasons.is_empty() {
            self.reporter.event(Event::Fresh { stage: name.to_string() });
            JobState::Fresh
        } else if !forced && self.restore(&store, &plan).is_some() {
            self.reporter.event(Event::Restored { stage: name.to_string(), reasons });
            JobState::Restored
        } else {
            self.reporter.event(Event::Running { stage: name.to_string(), reasons });
            self.run_stage(&store, name, &plan, &record, self.threads)?;
            JobState::Ran
        };
        let result = JobResult { stage: name.to_string(), fingerprint: plan.fingerprint.clone(), state };
        let path = result_path(build_dir, name);
        crate::atomic::write(&path, &serde_json::to_vec_pretty(&result)?).with_context(|| format!("write {}", path.display()))?;
        Ok(result)
    }
}

/// `record` with the stages that earlier jobs of the build ran or restored.
pub(crate) fn with_job_results(store: &Store, mut record: BuildRecord, build_dir: &Path) -> BuildRecord {
    let Ok(entries) = std::fs::read_dir(build_dir) else { return record };
    for entry in entries.flatten() {
        let Some(result) = std::fs::read(entry.path()).ok().and_then(|b| serde_json::from_slice::<JobResult>(&b).ok()) else {
            continue;
        };
        if result.state != JobState::Fresh
            && let Some(run) = record::cached_run(store.root(), &result.fingerprint)
        {
            record.stages.insert(result.stage, run);
        }
    }
    record
}
