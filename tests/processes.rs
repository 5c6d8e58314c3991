//! `--executor processes`: each stage a `repro job` child process of the
//! build, `--jobs` at once. The smoke profile built that way reproduces the
//! published (in-process) numbers with two trainings running at once; a
//! build interrupted while its training runs leaves no process behind, and
//! the rerun resumes the training from its checkpoint.

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// The stages whose job the build reported running before the first
/// training's job completed.
fn running_before_a_training_completed(said: &str) -> Vec<String> {
    let mut running = Vec::new();
    for line in said.lines().filter(|l| l.contains("] process job ")) {
        let stage = line.split_whitespace().find(|w| w.starts_with("train")).unwrap_or_default().trim_end_matches(':');
        if line.ends_with(" running") {
            running.push(stage.to_string());
        } else if line.ends_with(" completed") && stage.starts_with("train") {
            break;
        }
    }
    running
}

#[test]
fn the_smoke_profile_as_processes_reproduces_the_published_numbers() {
    let dir = common::smoke_project();
    let started = Instant::now();
    let out = common::repro(dir.path(), &["verify", "--profile", "smoke", "--executor", "processes", "--jobs", "2", "--no-remote"]);
    let said = common::text(&out);
    println!("{said}\nas processes in {:.0} s", started.elapsed().as_secs_f64());
    if said.contains("no published numbers") {
        println!("skipped the comparison: no published smoke numbers for this compute path");
        return;
    }
    assert!(out.status.success(), "{said}");
    assert!(said.contains("submitted as process job") && said.contains("numbers reproduce"), "{said}");
    let trainings = running_before_a_training_completed(&said);
    assert!(trainings.iter().filter(|s| s.starts_with("train")).count() >= 2, "two trainings ran at once: {trainings:?}\n{said}");
    let logs = std::fs::read_dir(dir.path().join("artifacts/logs/processes")).unwrap().count();
    assert!(logs >= 8, "a log per job ({logs})");
}

/// Processes whose command line names `dir` (a job of a build there).
fn processes_naming(dir: &Path) -> Vec<String> {
    let needle = dir.to_string_lossy().into_owned();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(&needle) && cmdline.contains(" job ") {
            found.push(format!("{}: {cmdline}", entry.file_name().to_string_lossy()));
        }
    }
    found
}

#[test]
fn an_interrupted_build_kills_its_jobs_and_the_rerun_resumes_the_training() {
    let dir = common::project_with("tests/fixtures/tiny-train.toml");
    let args = ["build", "--executor", "processes", "--set", "train.epochs=8", "--no-remote"];
    let child = common::repro_command(dir.path()).args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    assert!(common::wait_for_checkpoint(dir.path(), "train", Duration::from_secs(240)), "the training job checkpointed an epoch");
    assert!(!processes_naming(dir.path()).is_empty(), "the training runs as a process of its own");
    // SAFETY: kill only sends a signal to the child we spawned.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    let said = common::text(&out);
    assert!(!out.status.success() && said.contains("interrupted: cancelled the build's process jobs"), "{said}");
    assert_eq!(processes_naming(dir.path()), Vec::<String>::new(), "no job left running");
    let again = common::repro(dir.path(), &args);
    let said = common::text(&again);
    assert!(again.status.success(), "{said}");
    let logs: Vec<_> = std::fs::read_dir(dir.path().join("artifacts/logs/processes")).unwrap().flatten().collect();
    let resumed = logs.iter().any(|l| std::fs::read_to_string(l.path()).unwrap_or_default().contains("resuming after epoch"));
    assert!(resumed, "a job log says the training resumed from its checkpoint:\n{said}");
}

#[test]
fn a_failed_job_fails_the_build_naming_its_stage_and_log() {
    let dir = common::project_with("tests/fixtures/tiny-train.toml");
    let out = common::repro(dir.path(), &["build", "--executor", "processes", "--set", "train.lr=1e30", "--no-remote"]);
    let said = common::text(&out);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("stage `train`: process job") && said.contains("failed (exit status"), "{said}");
    assert!(said.contains("1 process job(s) did not complete"), "{said}");
}
