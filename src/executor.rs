//! `--executor local|processes|slurm`: for processes and Slurm, the
//! command each job runs (this binary's `repro job`, with the build's
//! pipeline, profile, backend and overrides), its queue, and a Ctrl-C
//! handler that asks the build to cancel its jobs.

mod processes;

use crate::cli::{BuildArgs, Invocation, JobSpec, Target};
use processes::ProcessQueue;
use repro_engine::jobs::{JobExecutor, JobQueue, QueueMaker};
use repro_engine::slurm::SlurmQueue;
use repro_engine::{Executor, Local};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ExecutorKind {
    /// Stages run in this process (`--jobs N` at once).
    #[default]
    Local,
    /// Each stage a process of its own (`--jobs N` at once): on a GPU,
    /// each its own device client.
    Processes,
    /// Each stage is a Slurm job (sbatch), chained with afterok.
    Slurm,
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_interrupt(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Where a build with these arguments runs its stages: with `--executor
/// processes` or `slurm` as jobs (not for a dry run, which runs nothing),
/// else here, `--jobs` at once.
pub fn for_build(args: &BuildArgs, at: &Invocation, target: &Target) -> anyhow::Result<Arc<dyn Executor>> {
    let jobs = usize::from(args.jobs);
    // How often job states are asked: a process table is cheap to read,
    // Slurm's controller is asked less often.
    let (queue, poll_ms): (QueueMaker, u64) = match args.executor {
        _ if args.dry_run => return Ok(Arc::new(Local { jobs })),
        ExecutorKind::Local => return Ok(Arc::new(Local { jobs })),
        ExecutorKind::Processes => (Arc::new(move || Ok(Box::new(ProcessQueue::new(jobs)) as Box<dyn JobQueue>)), 200),
        ExecutorKind::Slurm => {
            repro_engine::slurm::check_installed()?;
            let poll = std::env::var("REPRO_SLURM_POLL_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
            (Arc::new(|| Ok(Box::new(SlurmQueue::new()?) as Box<dyn JobQueue>)), poll)
        }
    };
    Ok(Arc::new(job_executor(at, target, queue, std::time::Duration::from_millis(poll_ms))?))
}

/// Runs the stages of a build of `target` as jobs of `queue`, asking their
/// states every `poll`.
fn job_executor(at: &Invocation, target: &Target, queue: QueueMaker, poll: std::time::Duration) -> anyhow::Result<JobExecutor> {
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, on_interrupt as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_interrupt as *const () as libc::sighandler_t);
    }
    let line = at.job_line(target)?;
    let command = move |stage: &str, threads: usize, forced: bool, build_dir: &Path| {
        line.argv(&JobSpec { stage: stage.to_string(), threads, forced, build_dir: build_dir.to_path_buf() })
    };
    Ok(JobExecutor { queue, command: Arc::new(command), interrupted: Arc::new(|| INTERRUPTED.load(Ordering::SeqCst)), poll })
}
