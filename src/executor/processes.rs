//! `--executor processes`: each stage that needs a run is a `repro job`
//! child process of the build, at most `--jobs` at once, each started once
//! the jobs of its upstream stages have completed. Unlike `--jobs` on the
//! local executor, every stage gets a process of its own: on a GPU its own
//! device client and queue, which one process's threads share. As on the
//! local executor, a failure starts nothing new; the stages already running
//! finish. A child dies with the build (Linux's parent-death signal), and
//! the queue kills the children still running when it is dropped.

use repro_engine::jobs::{JobQueue, JobRequest, JobStatus, Phase};
use repro_engine::pipeline::Resources;
use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};

/// The children of one build.
#[derive(Debug)]
pub struct ProcessQueue {
    /// At most this many run at once.
    jobs: usize,
    queued: Vec<Queued>,
}

#[derive(Debug)]
struct Queued {
    id: String,
    stage: String,
    argv: Vec<String>,
    workdir: PathBuf,
    after: Vec<String>,
    log: PathBuf,
    state: State,
}

/// Where a queued job is; its [`JobStatus`] and reason derive from it.
#[derive(Debug)]
enum State {
    Waiting,
    Running(Child),
    Completed,
    /// Its process failed, or could not start: why.
    Failed(String),
    /// Never started, or killed: why.
    Cancelled(String),
}

impl State {
    fn status(&self) -> JobStatus {
        match self {
            State::Waiting => JobStatus::new(Phase::Waiting, "PENDING"),
            State::Running(_) => JobStatus::new(Phase::Running, "RUNNING"),
            State::Completed => JobStatus::new(Phase::Completed, "COMPLETED"),
            State::Failed(_) => JobStatus::new(Phase::Failed, "FAILED"),
            State::Cancelled(_) => JobStatus::new(Phase::Failed, "CANCELLED"),
        }
    }

    fn reason(&self) -> Option<String> {
        match self {
            State::Failed(why) | State::Cancelled(why) => Some(why.clone()),
            _ => None,
        }
    }
}

impl ProcessQueue {
    pub fn new(jobs: usize) -> ProcessQueue {
        ProcessQueue { jobs: jobs.max(1), queued: Vec::new() }
    }

    /// Notes the children that ended, cancels what waits behind a failure,
    /// and starts what may start.
    fn advance(&mut self) {
        for job in &mut self.queued {
            job.reap();
        }
        if let Some(failed) = self.queued.iter().find(|j| matches!(j.state, State::Failed(_))) {
            let why = format!("not started: stage `{}` failed", failed.stage);
            for job in self.queued.iter_mut().filter(|j| matches!(j.state, State::Waiting)) {
                job.state = State::Cancelled(why.clone());
            }
        }
        let mut running = self.queued.iter().filter(|j| matches!(j.state, State::Running(_))).count();
        for i in 0..self.queued.len() {
            if running >= self.jobs {
                break;
            }
            if matches!(self.queued[i].state, State::Waiting) && self.may_start(&self.queued[i]) {
                self.queued[i].start();
                running += 1;
            }
        }
    }

    /// Every job `job` comes after has completed.
    fn may_start(&self, job: &Queued) -> bool {
        job.after.iter().all(|id| self.queued.iter().any(|j| &j.id == id && matches!(j.state, State::Completed)))
    }
}

impl Queued {
    fn start(&mut self) {
        self.state = match self.spawn() {
            Ok(child) => State::Running(child),
            Err(e) => State::Failed(format!("could not start `{}`: {e}", self.argv[0])),
        };
    }

    fn spawn(&self) -> std::io::Result<Child> {
        let log = File::create(&self.log)?;
        let mut command = Command::new(&self.argv[0]);
        command.args(&self.argv[1..]).current_dir(&self.workdir).stdin(Stdio::null());
        command.stdout(log.try_clone()?).stderr(log);
        // SAFETY: between fork and exec the child only calls prctl, which is
        // async-signal-safe and touches no memory of the parent's.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        command.spawn()
    }

    /// Its child's end, if it has ended.
    fn reap(&mut self) {
        let State::Running(child) = &mut self.state else { return };
        self.state = match child.try_wait() {
            Ok(None) => return,
            Ok(Some(status)) if status.success() => State::Completed,
            Ok(Some(status)) => State::Failed(exit_text(status)),
            Err(e) => State::Failed(format!("lost its process: {e}")),
        };
    }

    /// Kills its child, if running, and waits for it; a waiting job is
    /// cancelled too.
    fn kill(&mut self) {
        match &mut self.state {
            State::Running(child) => {
                let _ = child.kill();
                let _ = child.wait();
            }
            State::Waiting => {}
            State::Completed | State::Failed(_) | State::Cancelled(_) => return,
        }
        self.state = State::Cancelled("cancelled by the build".into());
    }
}

fn exit_text(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => status.to_string(),
    }
}

impl JobQueue for ProcessQueue {
    fn noun(&self) -> &'static str {
        "process job"
    }

    fn log_folder(&self) -> &'static str {
        "processes"
    }

    /// The build's threads shared by the jobs at once, as on the local
    /// executor, unless the stage's resources name its CPUs.
    fn threads(&self, resources: &Resources, threads: usize) -> usize {
        resources.cpus.map_or((threads / self.jobs).max(1), |c| c as usize)
    }

    fn submit(&mut self, job: JobRequest) -> anyhow::Result<(String, PathBuf)> {
        anyhow::ensure!(!job.argv.is_empty(), "stage `{}`: an empty job command", job.stage);
        let id = format!("{}.{}", std::process::id(), self.queued.len() + 1);
        let log = job.logs.join(format!("{}-{id}.log", job.stage));
        self.queued.push(Queued {
            id: id.clone(),
            stage: job.stage.to_string(),
            argv: job.argv,
            workdir: job.workdir.to_path_buf(),
            after: job.after.to_vec(),
            log: log.clone(),
            state: State::Waiting,
        });
        Ok((id, log))
    }

    fn states(&mut self, ids: &[&str]) -> BTreeMap<String, JobStatus> {
        self.advance();
        self.queued.iter().filter(|j| ids.contains(&j.id.as_str())).map(|j| (j.id.clone(), j.state.status())).collect()
    }

    fn reason(&self, id: &str) -> Option<String> {
        self.queued.iter().find(|j| j.id == id).and_then(|j| j.state.reason())
    }

    fn cancel(&mut self, ids: &[&str]) {
        for job in self.queued.iter_mut().filter(|j| ids.contains(&j.id.as_str())) {
            job.kill();
        }
    }
}

impl Drop for ProcessQueue {
    fn drop(&mut self) {
        for job in &mut self.queued {
            job.kill();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// Queues `sh -c script` for `stage` after `after`.
    fn queue_sh(queue: &mut ProcessQueue, dir: &Path, stage: &str, script: &str, after: &[String]) -> String {
        let argv = vec!["sh".to_string(), "-c".to_string(), script.to_string()];
        let resources = Resources::default();
        let request = JobRequest {
            stage,
            kind: "test",
            profile: "p",
            argv,
            threads: 1,
            resources: &resources,
            after,
            workdir: dir,
            logs: dir,
            pipeline_file: &dir.join("pipeline.toml"),
        };
        queue.submit(request).unwrap().0
    }

    /// Polls until every job has ended; the phases in submission order.
    fn run_out(queue: &mut ProcessQueue, ids: &[String]) -> Vec<Phase> {
        let all: Vec<&str> = ids.iter().map(String::as_str).collect();
        loop {
            let states = queue.states(&all);
            if states.values().all(JobStatus::ended) {
                return all.iter().map(|id| states[*id].phase).collect();
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    #[test]
    fn a_job_starts_after_those_it_comes_after_and_no_more_run_than_allowed() {
        let dir = tempfile::tempdir().unwrap();
        let mut queue = ProcessQueue::new(2);
        let order = dir.path().join("order");
        let line = |name: &str| format!("echo start {name} >> {0}; sleep 0.3; echo end {name} >> {0}", order.display());
        let a = queue_sh(&mut queue, dir.path(), "a", &line("a"), &[]);
        let b = queue_sh(&mut queue, dir.path(), "b", &line("b"), &[]);
        let c = queue_sh(&mut queue, dir.path(), "c", &line("c"), &[]);
        let d = queue_sh(&mut queue, dir.path(), "d", &line("d"), std::slice::from_ref(&a));
        assert_eq!(run_out(&mut queue, &[a, b, c, d]), vec![Phase::Completed; 4]);
        let lines: Vec<String> = std::fs::read_to_string(&order).unwrap().lines().map(String::from).collect();
        let at = |l: &str| lines.iter().position(|x| x == l).unwrap();
        assert!(at("start a") < at("end b") && at("start b") < at("end a"), "a and b ran at once: {lines:?}");
        assert!(at("start c") > at("end a").min(at("end b")), "c waited for a free slot: {lines:?}");
        assert!(at("start d") > at("end a"), "d waited for a: {lines:?}");
    }

    #[test]
    fn a_failure_starts_nothing_new_and_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let mut queue = ProcessQueue::new(1);
        let a = queue_sh(&mut queue, dir.path(), "a", "echo broken; exit 3", &[]);
        let b = queue_sh(&mut queue, dir.path(), "b", "touch b-ran", &[]);
        assert_eq!(run_out(&mut queue, &[a.clone(), b.clone()]), vec![Phase::Failed, Phase::Failed]);
        assert_eq!(queue.reason(&a).as_deref(), Some("exit status 3"));
        assert_eq!(queue.reason(&b).as_deref(), Some("not started: stage `a` failed"));
        assert!(!dir.path().join("b-ran").exists());
        let log = std::fs::read_to_string(dir.path().join(format!("a-{a}.log"))).unwrap();
        assert_eq!(log, "broken\n", "the job's output is in its log");
    }

    #[test]
    fn cancelling_kills_the_running_children() {
        let dir = tempfile::tempdir().unwrap();
        let mut queue = ProcessQueue::new(1);
        let a = queue_sh(&mut queue, dir.path(), "a", "sleep 30; touch a-ran", &[]);
        let b = queue_sh(&mut queue, dir.path(), "b", "touch b-ran", &[]);
        let ids = [a.as_str(), b.as_str()];
        assert_eq!(queue.states(&ids)[&a].phase, Phase::Running);
        let started = std::time::Instant::now();
        queue.cancel(&ids);
        assert!(started.elapsed().as_secs() < 10, "the child was killed, not waited for");
        let states = queue.states(&ids);
        assert_eq!((states[&a].label.as_str(), states[&b].label.as_str()), ("CANCELLED", "CANCELLED"));
        assert!(!dir.path().join("a-ran").exists() && !dir.path().join("b-ran").exists());
    }
}
