//! `--executor slurm`: a build's stages as Slurm jobs. What can be decided
//! here is (fresh stages, runs restored from the run cache or the remote);
//! every other stage becomes one `sbatch` job running `repro job` on it,
//! with `--dependency=afterok:` on its upstream stages' jobs and the
//! resources of `[resources.KIND]` / the stage's `resources`. The store
//! must be on a filesystem every node sees. This process holds the store
//! lock, shows each job's state and last log line, imports each finished
//! job's result into the build record, prints a failed job's log tail, and
//! cancels its jobs (scancel) when interrupted.

use crate::events::Event;
use crate::job::{self, JobResult, JobState};
use crate::key::Fingerprint;
use crate::pipeline::Resources;
use crate::record::{self, BuildRecord};
use crate::runner::{Engine, StageOutcome, State};
use crate::store::Store;
use anyhow::Context;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// `(stage, threads, forced, build dir) -> argv` of a job's command.
pub type JobCommand = Arc<dyn Fn(&str, usize, bool, &Path) -> Vec<String> + Send + Sync>;

/// How to run a stage as a job: the command line of `repro job` for a
/// stage (the CLI knows its own flags), and the flag that asks to stop.
#[derive(Clone)]
pub struct SlurmExecutor {
    pub command: JobCommand,
    /// True once the build is to cancel its jobs and stop (Ctrl-C).
    pub interrupted: Arc<dyn Fn() -> bool + Send + Sync>,
    /// How often job states are polled.
    pub poll: Duration,
}

impl std::fmt::Debug for SlurmExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SlurmExecutor")
    }
}

/// Fails at once, and clearly, where Slurm's commands are missing.
pub fn check_installed() -> anyhow::Result<()> {
    match Command::new("sbatch").arg("--version").output() {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => anyhow::bail!("--executor slurm: `sbatch --version` failed: {}", String::from_utf8_lossy(&out.stderr).trim()),
        Err(_) => anyhow::bail!(
            "--executor slurm: Slurm's `sbatch` is not on PATH; run on a cluster's login node (Debian: apt-get install slurm-client, with a slurm.conf for your cluster), or build without --executor"
        ),
    }
}

/// A stage to submit: why it is stale, and its fingerprint when its
/// upstream was settled before submission.
struct ToSubmit {
    stage: String,
    reasons: Vec<crate::reason::Reason>,
    fingerprint: Option<Fingerprint>,
}

/// A submitted stage.
struct Submitted {
    stage: String,
    job_id: String,
    log: PathBuf,
    state: String,
    reasons: Vec<crate::reason::Reason>,
    /// When the build submitted its first job (for the timeline).
    since: Instant,
}

impl crate::executor::Executor for SlurmExecutor {
    fn execute(&self, engine: &Engine, work: crate::executor::Work) -> anyhow::Result<Vec<StageOutcome>> {
        engine.run_on_slurm(work.store, work.record, work.order, work.force, self)
    }
}

impl Engine<'_> {
    pub(crate) fn run_on_slurm(
        &self,
        store: &Store,
        record: &mut BuildRecord,
        order: &[String],
        force: &BTreeSet<String>,
        slurm: &SlurmExecutor,
    ) -> anyhow::Result<Vec<StageOutcome>> {
        check_installed()?;
        let clock = Instant::now();
        let build_dir = store.root().join("jobs").join(format!("{}-{}", self.profile, std::process::id()));
        std::fs::create_dir_all(&build_dir).with_context(|| format!("cannot create {}", build_dir.display()))?;
        let (mut outcomes, to_submit) = self.resolve_here(store, record, order, force)?;
        record.save(store.root())?;
        let mut jobs: Vec<Submitted> = Vec::new();
        for (i, entry) in to_submit.iter().enumerate() {
            // A stage of the same computation as an earlier one waits for
            // it, then restores its run instead of running it again.
            let same: Vec<&str> = to_submit[..i]
                .iter()
                .filter(|e| e.fingerprint.is_some() && e.fingerprint == entry.fingerprint)
                .map(|e| e.stage.as_str())
                .collect();
            let (name, reasons) = (entry.stage.clone(), entry.reasons.clone());
            let stage = self.pipeline.stage(&name).expect("known stage");
            let after: Vec<String> = jobs
                .iter()
                .filter(|j| stage.depends_on.contains(&j.stage) || same.contains(&j.stage.as_str()))
                .map(|j| j.job_id.clone())
                .collect();
            match self.submit(store, &name, force.contains(&name), &build_dir, &after, slurm) {
                Ok((job_id, log)) => {
                    self.say(&name, format!("submitted as Slurm job {job_id} (log {})", log.display()));
                    jobs.push(Submitted { stage: name, job_id, log, state: "SUBMITTED".into(), reasons, since: clock });
                }
                Err(e) => {
                    cancel(&jobs);
                    return Err(e);
                }
            }
        }
        let failures = self.watch(store, record, &build_dir, &mut jobs, &mut outcomes, slurm)?;
        match failures.first() {
            Some(first) => Err(anyhow::anyhow!("{first}").context(format!("{} Slurm job(s) did not complete", failures.len()))),
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
                submit.push(ToSubmit { stage: name.clone(), reasons: vec![crate::reason::Reason::UpstreamRunsFirst], fingerprint: None });
                continue;
            }
            let plan = self.replan(store, name, None, &outputs)?;
            let (reasons, settled) = self.settle(store, name, &plan, record, force.contains(name));
            let Some(state) = settled else {
                // Jobs run without the remote: another machine's checkpoint
                // is fetched here, into the store every node sees.
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

    /// `sbatch` for one stage; the jobs `after` (its upstream stages', and
    /// one of the same computation) must succeed first.
    fn submit(
        &self,
        store: &Store,
        name: &str,
        forced: bool,
        build_dir: &Path,
        after: &[String],
        slurm: &SlurmExecutor,
    ) -> anyhow::Result<(String, PathBuf)> {
        let stage = self.pipeline.stage(name).expect("known stage");
        let resources = self.pipeline.resources_of(stage);
        let threads = resources.cpus.map_or(self.threads, |c| c as usize);
        let logs = store.root().join("logs").join("slurm");
        std::fs::create_dir_all(&logs)?;
        let log_pattern = logs.join(format!("{name}-%j.log"));
        let mut sbatch = Command::new("sbatch");
        sbatch.args(["--parsable", "--kill-on-invalid-dep=yes", "--job-name", &format!("repro:{}:{name}", self.profile)]);
        sbatch.arg("--output").arg(&log_pattern).arg("--chdir").arg(&self.pipeline.root);
        sbatch.args(resource_args(&resources, threads));
        if !after.is_empty() {
            sbatch.arg(format!("--dependency=afterok:{}", after.join(":")));
        }
        let argv = (slurm.command)(name, threads, forced, build_dir);
        sbatch.arg("--wrap").arg(shell_words(&argv));
        let out = sbatch.output().context("run sbatch")?;
        anyhow::ensure!(
            out.status.success(),
            "sbatch refused stage `{name}`: {}; check [resources.{}] and the stage's resources in {}",
            String::from_utf8_lossy(&out.stderr).trim(),
            stage.kind,
            self.pipeline.file.display()
        );
        let job_id = String::from_utf8_lossy(&out.stdout).trim().split(';').next().unwrap_or_default().to_string();
        let log = logs.join(format!("{name}-{job_id}.log"));
        Ok((job_id, log))
    }

    /// Polls the jobs until each has ended; imports the finished ones.
    fn watch(
        &self,
        store: &Store,
        record: &mut BuildRecord,
        build_dir: &Path,
        jobs: &mut [Submitted],
        outcomes: &mut Vec<StageOutcome>,
        slurm: &SlurmExecutor,
    ) -> anyhow::Result<Vec<String>> {
        let mut failures = Vec::new();
        let mut last_lines: BTreeMap<String, String> = BTreeMap::new();
        loop {
            if (slurm.interrupted)() {
                cancel(jobs);
                anyhow::bail!("interrupted: cancelled the build's Slurm jobs ({})", job_list(jobs));
            }
            let states = job_states(jobs);
            for job in jobs.iter_mut().filter(|j| !ended(&j.state)) {
                let Some(state) = states.get(&job.job_id).cloned() else { continue };
                if state != job.state {
                    let at = job.since.elapsed().as_secs_f64();
                    self.say(&job.stage, format!("[+{at:.1} s] Slurm job {} {}", job.job_id, state.to_lowercase()));
                    job.state = state.clone();
                }
                if state == "RUNNING"
                    && let Some(line) = last_line(&job.log)
                    && last_lines.get(&job.stage) != Some(&line)
                {
                    self.say(&job.stage, format!("[job {}] {line}", job.job_id));
                    last_lines.insert(job.stage.clone(), line);
                }
                if state == "COMPLETED" {
                    match self.import(store, record, build_dir, job) {
                        Ok(outcome) => outcomes.push(outcome),
                        Err(e) => failures.push(format!("{e:#}")),
                    }
                } else if ended(&state) {
                    failures.push(failure_text(job, &state));
                }
            }
            if jobs.iter().all(|j| ended(&j.state)) {
                return Ok(failures);
            }
            std::thread::sleep(slurm.poll);
        }
    }

    /// A completed job's result into the build record.
    fn import(&self, store: &Store, record: &mut BuildRecord, build_dir: &Path, job: &Submitted) -> anyhow::Result<StageOutcome> {
        let result: JobResult = job::read_result(build_dir, &job.stage).with_context(|| {
            format!("stage `{}`: Slurm job {} completed without leaving its result (log {})", job.stage, job.job_id, job.log.display())
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

/// sbatch options for `resources`, the CPUs defaulting to `threads`.
fn resource_args(resources: &Resources, threads: usize) -> Vec<String> {
    let mut args = vec![format!("--cpus-per-task={}", resources.cpus.map_or(threads, |c| c as usize))];
    if let Some(m) = &resources.memory {
        args.push(format!("--mem={m}"));
    }
    if let Some(g) = resources.gpus.filter(|g| *g > 0) {
        args.push(format!("--gpus={g}"));
    }
    if let Some(t) = &resources.time {
        args.push(format!("--time={t}"));
    }
    if let Some(p) = &resources.partition {
        args.push(format!("--partition={p}"));
    }
    args
}

/// argv as one shell command line (each word single-quoted).
fn shell_words(argv: &[String]) -> String {
    argv.iter().map(|a| format!("'{}'", a.replace('\'', r"'\''"))).collect::<Vec<_>>().join(" ")
}

fn ended(state: &str) -> bool {
    !matches!(state, "SUBMITTED" | "PENDING" | "CONFIGURING" | "RUNNING" | "COMPLETING" | "SUSPENDED" | "REQUEUED" | "RESIZING")
}

fn job_list(jobs: &[Submitted]) -> String {
    jobs.iter().map(|j| format!("{} {}", j.stage, j.job_id)).collect::<Vec<_>>().join(", ")
}

/// Each job's state: squeue while Slurm lists it, then scontrol.
fn job_states(jobs: &[Submitted]) -> BTreeMap<String, String> {
    let ids: Vec<&str> = jobs.iter().filter(|j| !ended(&j.state)).map(|j| j.job_id.as_str()).collect();
    let mut states = BTreeMap::new();
    if ids.is_empty() {
        return states;
    }
    if let Ok(out) = Command::new("squeue").args(["-h", "-o", "%i %T", "-j", &ids.join(",")]).output() {
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            if let Some((id, state)) = line.split_once(' ') {
                states.insert(id.to_string(), state.trim().to_string());
            }
        }
    }
    let missing: Vec<&str> = ids.into_iter().filter(|id| !states.contains_key(*id)).collect();
    for id in missing {
        if let Some(state) = scontrol_state(id) {
            states.insert(id.to_string(), state);
        }
    }
    states
}

fn scontrol_state(id: &str) -> Option<String> {
    let out = Command::new("scontrol").args(["show", "job", "-o", id]).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let state = text.split_whitespace().find_map(|w| w.strip_prefix("JobState="))?;
    Some(state.to_string())
}

fn last_line(log: &Path) -> Option<String> {
    let text = std::fs::read_to_string(log).ok()?;
    text.lines().rev().map(str::trim).find(|l| !l.is_empty()).map(String::from)
}

fn failure_text(job: &Submitted, state: &str) -> String {
    let tail = std::fs::read_to_string(&job.log).unwrap_or_default();
    let lines: Vec<&str> = tail.lines().collect();
    let tail = lines[lines.len().saturating_sub(20)..].join("\n    ");
    let why = match scontrol_reason(&job.job_id).as_deref() {
        Some("DependencyNeverSatisfied") => " (an upstream job failed)".to_string(),
        Some(r) if r != "None" => format!(" ({r})"),
        _ => String::new(),
    };
    format!("stage `{}`: Slurm job {} {}{why}; log {}:\n    {tail}", job.stage, job.job_id, state.to_lowercase(), job.log.display())
}

fn scontrol_reason(id: &str) -> Option<String> {
    let out = Command::new("scontrol").args(["show", "job", "-o", id]).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace().find_map(|w| w.strip_prefix("Reason=")).map(String::from)
}

/// scancel every job that has not ended, and wait (a while) until they have.
fn cancel(jobs: &[Submitted]) {
    let ids: Vec<&str> = jobs.iter().filter(|j| !ended(&j.state)).map(|j| j.job_id.as_str()).collect();
    if ids.is_empty() {
        return;
    }
    let _ = Command::new("scancel").args(&ids).status();
    for _ in 0..60 {
        let out = Command::new("squeue").args(["-h", "-o", "%i", "-j", &ids.join(",")]).output();
        if out.map(|o| o.stdout.iter().all(u8::is_ascii_whitespace)).unwrap_or(true) {
            return;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}
