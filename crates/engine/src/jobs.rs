//! A build's stages as jobs of a queue: each stage that needs a run becomes
//! one `repro job` command, which its [`JobQueue`] starts once the jobs of
//! its upstream stages have completed: Slurm's (`slurm::SlurmQueue`), or
//! this machine's child processes (the CLI's `--executor processes`). What
//! can be decided here is (fresh stages, runs restored from the run cache
//! or the remote). This process holds the store lock, shows each job's
//! state and last log line, imports each finished job's result into the
//! build record, prints a failed job's log tail, and cancels its jobs when
//! interrupted.

use crate::events::Event;
use crate::job::{self, JobResult, JobState};
use crate::key::Fingerprint;
use crate::pipeline::Resources;
use crate::reason::Reason;
use crate::record::{self, BuildRecord};
use crate::runner::{Engine, StageOutcome, State};
use crate::store::Store;
use anyhow::Context;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `(stage, threads, forced, build dir) -> argv` of a job's command.
pub type JobCommand = Arc<dyn Fn(&str, usize, bool, &Path) -> Vec<String> + Send + Sync>;

/// One stage's job, as handed to a queue.
pub struct JobRequest<'a> {
    pub stage: &'a str,
    /// The stage's kind (for errors about `[resources.KIND]`).
    pub kind: &'a str,
    pub profile: &'a str,
    pub argv: Vec<String>,
    pub threads: usize,
    pub resources: &'a Resources,
    /// Ids of the jobs that must complete first.
    pub after: &'a [String],
    /// Where the job runs: the pipeline's folder.
    pub workdir: &'a Path,
    /// The folder for the job's log.
    pub logs: &'a Path,
    pub pipeline_file: &'a Path,
}

/// Where a job is, whatever its queue calls it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Waiting,
    Running,
    Completed,
    /// Ended without completing: failed, cancelled, never started.
    Failed,
}

/// A job's state: its queue's own word for it (Slurm's `PENDING`, ...),
/// and what that means here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobStatus {
    pub phase: Phase,
    pub label: String,
}

impl JobStatus {
    pub fn new(phase: Phase, label: &str) -> JobStatus {
        JobStatus { phase, label: label.to_string() }
    }

    pub fn ended(&self) -> bool {
        matches!(self.phase, Phase::Completed | Phase::Failed)
    }
}

/// Something that runs jobs: starts each once those it comes after have
/// completed, and says where each is.
pub trait JobQueue {
    /// What a job of it is called in lines ("Slurm job").
    fn noun(&self) -> &'static str;
    /// The folder under the store's `logs/` for its jobs' logs.
    fn log_folder(&self) -> &'static str;
    /// Threads a job of `resources` gets in a build given `threads`.
    fn threads(&self, resources: &Resources, threads: usize) -> usize;
    /// Queues one job: its id and its log file.
    fn submit(&mut self, job: JobRequest) -> anyhow::Result<(String, PathBuf)>;
    /// The states of those of `ids` that the queue knows now.
    fn states(&mut self, ids: &[&str]) -> BTreeMap<String, JobStatus>;
    /// Why job `id` ended as it did, where the queue says.
    fn reason(&self, id: &str) -> Option<String>;
    /// Stops those of `ids` that have not ended, and waits (a while) until
    /// they have.
    fn cancel(&mut self, ids: &[&str]);
}

/// Makes the queue of one build; fails at once, and clearly, where it
/// cannot run jobs here.
pub type QueueMaker = Arc<dyn Fn() -> anyhow::Result<Box<dyn JobQueue>> + Send + Sync>;

/// Runs a build's stages as jobs of the queue `queue` makes.
#[derive(Clone)]
pub struct JobExecutor {
    pub queue: QueueMaker,
    /// The command line of `repro job` for a stage (the CLI knows its flags).
    pub command: JobCommand,
    /// True once the build is to cancel its jobs and stop (Ctrl-C).
    pub interrupted: Arc<dyn Fn() -> bool + Send + Sync>,
    /// How often job states are polled.
    pub poll: Duration,
}

impl std::fmt::Debug for JobExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JobExecutor")
    }
}

impl crate::executor::Executor for JobExecutor {
    fn execute(&self, engine: &Engine, work: crate::executor::Work) -> anyhow::Result<Vec<StageOutcome>> {
        let mut queue = (self.queue)()?;
        engine.run_as_jobs(work.store, work.record, work.order, work.force, self, queue.as_mut())
    }
}

/// A stage to submit: why it is stale, and its fingerprint when its
/// upstream was settled before submission.
struct ToSubmit {
    stage: String,
    reasons: Vec<Reason>,
    fingerprint: Option<Fingerprint>,
}

/// A submitted stage.
struct Submitted {
    stage: String,
    job_id: String,
    log: PathBuf,
    status: JobStatus,
    reasons: Vec<Reason>,
    /// When the build submitted its first job (for the timeline).
    since: Instant,
}

impl Engine<'_> {
    pub(crate) fn run_as_jobs(
        &self,
        store: &Store,
        record: &mut BuildRecord,
        order: &[String],
        force: &BTreeSet<String>,
        executor: &JobExecutor,
        queue: &mut dyn JobQueue,
    ) -> anyhow::Result<Vec<StageOutcome>> {
        let build_dir = store.root().join("jobs").join(format!("{}-{}", self.profile, std::process::id()));
        std::fs::create_dir_all(&build_dir).with_context(|| format!("cannot create {}", build_dir.display()))?;
        let (mut outcomes, to_submit) = self.resolve_here(store, record, order, force)?;
        record.save(store.root())?;
        let mut jobs = match self.submit_all(store, &to_submit, force, &build_dir, executor, queue) {
            Ok(jobs) => jobs,
            Err((jobs, e)) => {
                queue.cancel(&ids(&jobs));
                return Err(e);
            }
        };
        let failures = self.watch(store, record, &build_dir, &mut jobs, &mut outcomes, executor, queue)?;
        match failures.first() {
            Some(first) => Err(anyhow::anyhow!("{first}").context(format!("{} {}(s) did not complete", failures.len(), queue.noun()))),
            None => Ok(outcomes),
        }
    }

    fn say(&self, stage: &str, line: String) {
        self.reporter.event(Event::Log { stage: stage.to_string(), line });
    }

    /// Resolves here the stages whose upstream is settled and that need no
    /// run; returns those outcomes and the stages to submit, in order.
    fn resolve_here(
        &self,
        store: &Store,
        record: &mut BuildRecord,
        order: &[String],
        force: &BTreeSet<String>,
    ) -> anyhow::Result<(Vec<StageOutcome>, Vec<ToSubmit>)> {
        let mut outcomes = Vec::new();
        let mut submit: Vec<ToSubmit> = Vec::new();
        let mut outputs: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for name in order {
            let stage = self.pipeline.stage(name).expect("known stage");
            if stage.depends_on.iter().any(|d| submit.iter().any(|s| &s.stage == d)) {
                submit.push(ToSubmit { stage: name.clone(), reasons: vec![Reason::UpstreamRunsFirst], fingerprint: None });
                continue;
            }
            let plan = self.replan(store, name, None, &outputs)?;
            let (reasons, settled) = self.settle(store, name, &plan, record, force.contains(name));
            let Some(state) = settled else {
                // Jobs run without the remote: another machine's checkpoint
                // is fetched here, into the store the jobs see.
                if !force.contains(name) {
                    self.resume_from_remote(store, name, &plan.fingerprint);
                }
                submit.push(ToSubmit { stage: name.clone(), reasons, fingerprint: Some(plan.fingerprint.clone()) });
                continue;
            };
            let built = &record.stages[name];
            outputs.insert(name.clone(), built.output_digests());
            outcomes.push(StageOutcome { stage: name.clone(), state, ran: false });
        }
        Ok((outcomes, submit))
    }

    /// Queues every stage of `to_submit`, each after the jobs of its
    /// upstream stages (and of an earlier one of the same computation, so
    /// that it restores that run instead of running it again). On an error,
    /// the jobs queued so far with it.
    #[allow(clippy::type_complexity)]
    fn submit_all(
        &self,
        store: &Store,
        to_submit: &[ToSubmit],
        force: &BTreeSet<String>,
        build_dir: &Path,
        executor: &JobExecutor,
        queue: &mut dyn JobQueue,
    ) -> Result<Vec<Submitted>, (Vec<Submitted>, anyhow::Error)> {
        let clock = Instant::now();
        let logs = store.root().join("logs").join(queue.log_folder());
        let mut jobs: Vec<Submitted> = Vec::new();
        if let Err(e) = std::fs::create_dir_all(&logs).with_context(|| format!("cannot create {}", logs.display())) {
            return Err((jobs, e));
        }
        for (i, entry) in to_submit.iter().enumerate() {
            let same: Vec<&str> = to_submit[..i]
                .iter()
                .filter(|e| e.fingerprint.is_some() && e.fingerprint == entry.fingerprint)
                .map(|e| e.stage.as_str())
                .collect();
            let stage = self.pipeline.stage(&entry.stage).expect("known stage");
            let after: Vec<String> = jobs
                .iter()
                .filter(|j| stage.depends_on.contains(&j.stage) || same.contains(&j.stage.as_str()))
                .map(|j| j.job_id.clone())
                .collect();
            let resources = self.pipeline.resources_of(stage);
            let threads = queue.threads(&resources, self.threads);
            let request = JobRequest {
                stage: &entry.stage,
                kind: &stage.kind,
                profile: &self.profile,
                argv: (executor.command)(&entry.stage, threads, force.contains(&entry.stage), build_dir),
                threads,
                resources: &resources,
                after: &after,
                workdir: &self.pipeline.root,
                logs: &logs,
                pipeline_file: &self.pipeline.file,
            };
            match queue.submit(request) {
                Ok((job_id, log)) => {
                    self.say(&entry.stage, format!("submitted as {} {job_id} (log {})", queue.noun(), log.display()));
                    let status = JobStatus::new(Phase::Waiting, "SUBMITTED");
                    let (stage, reasons) = (entry.stage.clone(), entry.reasons.clone());
                    jobs.push(Submitted { stage, job_id, log, status, reasons, since: clock });
                }
                Err(e) => return Err((jobs, e)),
            }
        }
        Ok(jobs)
    }

    /// Polls the jobs until each has ended; imports the finished ones.
    #[allow(clippy::too_many_arguments)]
    fn watch(
        &self,
        store: &Store,
        record: &mut BuildRecord,
        build_dir: &Path,
        jobs: &mut [Submitted],
        outcomes: &mut Vec<StageOutcome>,
        executor: &JobExecutor,
        queue: &mut dyn JobQueue,
    ) -> anyhow::Result<Vec<String>> {
        let mut failures = Vec::new();
        let mut last_lines: BTreeMap<String, String> = BTreeMap::new();
        loop {
            if (executor.interrupted)() {
                queue.cancel(&ids(jobs));
                let list = jobs.iter().map(|j| format!("{} {}", j.stage, j.job_id)).collect::<Vec<_>>().join(", ");
                anyhow::bail!("interrupted: cancelled the build's {}s ({list})", queue.noun());
            }
            let states = queue.states(&ids(jobs));
            for job in jobs.iter_mut().filter(|j| !j.status.ended()) {
                let Some(status) = states.get(&job.job_id).cloned() else { continue };
                if status != job.status {
                    let at = job.since.elapsed().as_secs_f64();
                    self.say(&job.stage, format!("[+{at:.1} s] {} {} {}", queue.noun(), job.job_id, status.label.to_lowercase()));
                    job.status = status.clone();
                }
                if status.phase == Phase::Running
                    && let Some(line) = last_line(&job.log)
                    && last_lines.get(&job.stage) != Some(&line)
                {
                    self.say(&job.stage, format!("[job {}] {line}", job.job_id));
                    last_lines.insert(job.stage.clone(), line);
                }
                match status.phase {
                    Phase::Completed => match self.import(store, record, build_dir, job, queue.noun()) {
                        Ok(outcome) => outcomes.push(outcome),
                        Err(e) => failures.push(format!("{e:#}")),
                    },
                    Phase::Failed => failures.push(failure_text(job, queue)),
                    Phase::Waiting | Phase::Running => {}
                }
            }
            if jobs.iter().all(|j| j.status.ended()) {
                return Ok(failures);
            }
            std::thread::sleep(executor.poll);
        }
    }

    /// A completed job's result into the build record.
    fn import(
        &self,
        store: &Store,
        record: &mut BuildRecord,
        build_dir: &Path,
        job: &Submitted,
        noun: &str,
    ) -> anyhow::Result<StageOutcome> {
        let result: JobResult = job::read_result(build_dir, &job.stage).with_context(|| {
            format!("stage `{}`: {noun} {} completed without leaving its result (log {})", job.stage, job.job_id, job.log.display())
        })?;
        let state = match result.state {
            JobState::Fresh => State::Fresh,
            settled => {
                let run = record::cached_run(store.root(), &result.fingerprint)
                    .with_context(|| format!("stage `{}`: its job's run entry is missing", job.stage))?;
                record.stages.insert(job.stage.clone(), run);
                if settled == JobState::Ran { State::Stale(job.reasons.clone()) } else { State::Cached }
            }
        };
        record.save(store.root())?;
        let ran = matches!(state, State::Stale(_));
        Ok(StageOutcome { stage: job.stage.clone(), state, ran })
    }
}

/// The ids of the jobs that have not ended.
fn ids(jobs: &[Submitted]) -> Vec<&str> {
    jobs.iter().filter(|j| !j.status.ended()).map(|j| j.job_id.as_str()).collect()
}

fn last_line(log: &Path) -> Option<String> {
    let text = std::fs::read_to_string(log).ok()?;
    text.lines().rev().map(str::trim).find(|l| !l.is_empty()).map(String::from)
}

fn failure_text(job: &Submitted, queue: &dyn JobQueue) -> String {
    let tail = std::fs::read_to_string(&job.log).unwrap_or_default();
    let lines: Vec<&str> = tail.lines().collect();
    let tail = lines[lines.len().saturating_sub(20)..].join("\n    ");
    let why = queue.reason(&job.job_id).map(|r| format!(" ({r})")).unwrap_or_default();
    let label = job.status.label.to_lowercase();
    format!("stage `{}`: {} {} {label}{why}; log {}:\n    {tail}", job.stage, queue.noun(), job.job_id, job.log.display())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_status_has_ended_once_completed_or_failed() {
        assert!(!JobStatus::new(Phase::Waiting, "PENDING").ended());
        assert!(!JobStatus::new(Phase::Running, "RUNNING").ended());
        assert!(JobStatus::new(Phase::Completed, "COMPLETED").ended());
        assert!(JobStatus::new(Phase::Failed, "CANCELLED").ended());
    }
}
