//! `--executor slurm`: a build's stages as Slurm jobs (see [`crate::jobs`]
//! for what the build decides itself and how it watches them): one
//! `sbatch` job running `repro job` a stage, with `--dependency=afterok:`
//! on its upstream stages' jobs and the resources of `[resources.KIND]` /
//! the stage's `resources`. The store must be on a filesystem every node
//! sees. Job states come from squeue while Slurm lists a job, then from
//! scontrol; Ctrl-C scancels the build's jobs.

use crate::jobs::{JobQueue, JobRequest, JobStatus, Phase};
use crate::pipeline::Resources;
use anyhow::Context;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// Slurm, through its commands on PATH.
#[derive(Debug, Default)]
pub struct SlurmQueue;

impl SlurmQueue {
    /// The queue, where Slurm's commands answer.
    pub fn new() -> anyhow::Result<SlurmQueue> {
        check_installed()?;
        Ok(SlurmQueue)
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

impl JobQueue for SlurmQueue {
    fn noun(&self) -> &'static str {
        "Slurm job"
    }

    fn log_folder(&self) -> &'static str {
        "slurm"
    }

    fn threads(&self, resources: &Resources, threads: usize) -> usize {
        resources.cpus.map_or(threads, |c| c as usize)
    }

    /// `sbatch` for one stage; the jobs `after` must succeed first.
    fn submit(&mut self, job: JobRequest) -> anyhow::Result<(String, PathBuf)> {
        let log_pattern = job.logs.join(format!("{}-%j.log", job.stage));
        let mut sbatch = Command::new("sbatch");
        sbatch.args(["--parsable", "--kill-on-invalid-dep=yes", "--job-name", &format!("repro:{}:{}", job.profile, job.stage)]);
        sbatch.arg("--output").arg(&log_pattern).arg("--chdir").arg(job.workdir);
        sbatch.args(resource_args(job.resources, job.threads));
        if !job.after.is_empty() {
            sbatch.arg(format!("--dependency=afterok:{}", job.after.join(":")));
        }
        sbatch.arg("--wrap").arg(shell_words(&job.argv));
        let out = sbatch.output().context("run sbatch")?;
        anyhow::ensure!(
            out.status.success(),
            "sbatch refused stage `{}`: {}; check [resources.{}] and the stage's resources in {}",
            job.stage,
            String::from_utf8_lossy(&out.stderr).trim(),
            job.kind,
            job.pipeline_file.display()
        );
        let job_id = String::from_utf8_lossy(&out.stdout).trim().split(';').next().unwrap_or_default().to_string();
        let log = job.logs.join(format!("{}-{job_id}.log", job.stage));
        Ok((job_id, log))
    }

    fn states(&mut self, ids: &[&str]) -> BTreeMap<String, JobStatus> {
        job_states(ids).into_iter().map(|(id, state)| (id, status(&state))).collect()
    }

    fn reason(&self, id: &str) -> Option<String> {
        match scontrol_reason(id).as_deref() {
            Some("DependencyNeverSatisfied") => Some("an upstream job failed".to_string()),
            Some(r) if r != "None" => Some(r.to_string()),
            _ => None,
        }
    }

    fn cancel(&mut self, ids: &[&str]) {
        cancel(ids);
    }
}

/// What Slurm's state `state` means here.
fn status(state: &str) -> JobStatus {
    let phase = match state {
        "RUNNING" | "COMPLETING" => Phase::Running,
        "COMPLETED" => Phase::Completed,
        "SUBMITTED" | "PENDING" | "CONFIGURING" | "SUSPENDED" | "REQUEUED" | "RESIZING" => Phase::Waiting,
        _ => Phase::Failed,
    };
    JobStatus::new(phase, state)
}

/// sbatch options for `resources`, with `threads` CPUs.
fn resource_args(resources: &Resources, threads: usize) -> Vec<String> {
    let mut args = vec![format!("--cpus-per-task={threads}")];
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

/// Each job's state: squeue while Slurm lists it, then scontrol.
fn job_states(ids: &[&str]) -> BTreeMap<String, String> {
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
    let missing: Vec<&str> = ids.iter().copied().filter(|id| !states.contains_key(*id)).collect();
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

fn scontrol_reason(id: &str) -> Option<String> {
    let out = Command::new("scontrol").args(["show", "job", "-o", id]).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace().find_map(|w| w.strip_prefix("Reason=")).map(String::from)
}

/// scancel the jobs `ids`, and wait (a while) until Slurm lists none.
fn cancel(ids: &[&str]) {
    if ids.is_empty() {
        return;
    }
    let _ = Command::new("scancel").args(ids).status();
    for _ in 0..60 {
        let out = Command::new("squeue").args(["-h", "-o", "%i", "-j", &ids.join(",")]).output();
        if out.map(|o| o.stdout.iter().all(u8::is_ascii_whitespace)).unwrap_or(true) {
            return;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slurm_states_map_to_phases() {
        assert_eq!(status("PENDING").phase, Phase::Waiting);
        assert_eq!(status("COMPLETING").phase, Phase::Running);
        assert_eq!(status("COMPLETED").phase, Phase::Completed);
        for ended in ["FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL"] {
            assert_eq!(status(ended).phase, Phase::Failed, "{ended}");
        }
        assert_eq!(status("FAILED").label, "FAILED");
    }
}
