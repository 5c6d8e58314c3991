//! `--executor slurm` against a real Slurm (munged, slurmctld and slurmd on
//! 127.0.0.1, started by `.ci/slurm-up`; SLURM_CONF names its config). The
//! smoke profile built through Slurm reproduces the published (locally
//! built) numbers; a build interrupted while its training job runs cancels
//! the job, and the rerun resumes the training from its checkpoint.
//! Skipped with a reason when no cluster answers, unless REPRO_REQUIRE_SLURM=1.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn slurm_or_skip() -> bool {
    let up = Command::new("sinfo").args(["-h", "-o", "%T"]).output().is_ok_and(|o| o.status.success() && !o.stdout.is_empty());
    if !up {
        assert!(std::env::var("REPRO_REQUIRE_SLURM").is_err(), "REPRO_REQUIRE_SLURM is set but no Slurm cluster answers sinfo");
        println!("skipped: no Slurm cluster answers `sinfo` (start one with .ci/slurm-up DIR and export SLURM_CONF)");
    }
    up
}

/// `repro ARGS` in `dir`, polling Slurm often (tests wait on it).
fn repro(dir: &Path, args: &[&str]) -> Output {
    common::repro_command(dir).env("REPRO_SLURM_POLL_MS", "300").args(args).output().unwrap()
}

#[test]
fn without_slurm_the_executor_fails_at_once() {
    let dir = common::project_with("tests/fixtures/tiny-train.toml");
    let out = common::repro_command(dir.path()).env("PATH", "/nonexistent").args(["build", "--executor", "slurm"]).output().unwrap();
    let said = common::text(&out);
    assert!(!out.status.success() && said.contains("`sbatch` is not on PATH"), "{said}");
    assert!(!common::record_file(dir.path(), "tiny").exists(), "nothing ran");
}

#[test]
fn the_smoke_profile_through_slurm_reproduces_the_local_numbers() {
    if !slurm_or_skip() {
        return;
    }
    let dir = common::smoke_project();
    let started = Instant::now();
    let out = repro(dir.path(), &["verify", "--profile", "smoke", "--executor", "slurm", "--no-remote"]);
    let said = common::text(&out);
    println!("{said}\nthrough Slurm in {:.0} s", started.elapsed().as_secs_f64());
    if said.contains("no published numbers") {
        println!("skipped the comparison: no published smoke numbers for this compute path");
        return;
    }
    assert!(out.status.success(), "{said}");
    assert!(said.contains("submitted as Slurm job") && said.contains("completed"), "{said}");
    assert!(said.contains("numbers reproduce"), "{said}");
    let logs = std::fs::read_dir(dir.path().join("artifacts/logs/slurm")).unwrap().count();
    assert!(logs >= 8, "a log per job ({logs})");
}

fn queued(name: &str) -> String {
    let out = Command::new("squeue").args(["-h", "-o", "%i %j %T", "-n", name]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn an_interrupted_build_cancels_its_job_and_the_rerun_resumes_the_training() {
    if !slurm_or_skip() {
        return;
    }
    let dir = common::project_with("tests/fixtures/tiny-train.toml");
    let args = ["build", "--executor", "slurm", "--set", "train.epochs=8", "--no-remote"];
    let child = common::repro_command(dir.path())
        .env("REPRO_SLURM_POLL_MS", "300")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(common::wait_for_checkpoint(dir.path(), "train", Duration::from_secs(240)), "the training job checkpointed an epoch");
    assert!(queued("repro:tiny:train").contains("RUNNING"), "the job runs: {}", queued("repro:tiny:train"));
    // SAFETY: kill only sends a signal to the child we spawned.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    let said = common::text(&out);
    assert!(!out.status.success() && said.contains("interrupted: cancelled the build's Slurm jobs"), "{said}");
    assert_eq!(queued("repro:tiny:train"), "", "no job left in the queue");
    let again = repro(dir.path(), &args);
    let said = common::text(&again);
    assert!(again.status.success(), "{said}");
    let logs: Vec<_> = std::fs::read_dir(dir.path().join("artifacts/logs/slurm")).unwrap().flatten().collect();
    let resumed = logs.iter().any(|l| std::fs::read_to_string(l.path()).unwrap_or_default().contains("resuming after epoch"));
    assert!(resumed, "a job log says the training resumed from its checkpoint:\n{said}");
}

/// `--backend=vulkan` (the `=` form clap accepts) reaches every job's
/// command line: the job trains on Vulkan, as the build planned it.
#[cfg(feature = "vulkan")]
#[test]
fn a_slurm_build_on_vulkan_runs_its_jobs_on_vulkan() {
    if !slurm_or_skip() {
        return;
    }
    let dir = common::project_with("tests/fixtures/vulkan-stages.toml");
    let out = repro(dir.path(), &["--backend=vulkan", "run", "stage", "train", "--executor", "slurm", "--no-remote"]);
    let said = common::text(&out);
    assert!(out.status.success(), "{said}");
    let record = common::lock_record(dir.path(), "stages");
    let compute = &record["stages"]["train"]["environment"]["compute"];
    assert_eq!(compute["backend"], "vulkan", "the training job ran on {compute}:\n{said}");
}
