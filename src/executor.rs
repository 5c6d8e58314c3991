//! `--executor local|slurm`: for Slurm, the command each job runs (this
//! binary's `repro job`, with the build's pipeline, profile, backend and
//! overrides) and a Ctrl-C handler that asks the build to cancel its jobs.

use crate::cli::{BuildArgs, Invocation, JobSpec, Target};
use repro_engine::slurm::SlurmExecutor;
use repro_engine::{Executor, Local};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ExecutorKind {
    /// Stages run in this process (`--jobs N` at once).
    #[default]
    Local,
    /// Each stage is a Slurm job (sbatch), chained with afterok.
    Slurm,
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_interrupt(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Where a build with these arguments runs its stages: Slurm jobs with
/// `--executor slurm` (not for a dry run, which runs nothing), else here,
/// `--jobs` at once.
pub fn for_build(args: &BuildArgs, at: &Invocation, target: &Target) -> anyhow::Result<Arc<dyn Executor>> {
    if args.executor != ExecutorKind::Slurm || args.dry_run {
        return Ok(Arc::new(Local { jobs: args.jobs.into() }));
    }
    Ok(Arc::new(slurm(at, target)?))
}

/// The Slurm executor of a build of `target`.
fn slurm(at: &Invocation, target: &Target) -> anyhow::Result<SlurmExecutor> {
    repro_engine::slurm::check_installed()?;
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, on_interrupt as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_interrupt as *const () as libc::sighandler_t);
    }
    let line = at.job_line(target)?;
    let command = move |stage: &str, threads: usize, forced: bool, build_dir: &Path| {
        line.argv(&JobSpec { stage: stage.to_string(), threads, forced, build_dir: build_dir.to_path_buf() })
    };
    let poll = std::env::var("REPRO_SLURM_POLL_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
    Ok(SlurmExecutor {
        command: Arc::new(command),
        interrupted: Arc::new(|| INTERRUPTED.load(Ordering::SeqCst)),
        poll: std::time::Duration::from_millis(poll),
    })
}
