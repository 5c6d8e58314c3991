//! `--executor local|slurm`: for Slurm, the command each job runs (this
//! binary's `repro job`, with the build's pipeline, profile, backend and
//! overrides) and a Ctrl-C handler that asks the build to cancel its jobs.

use crate::cli::BuildArgs;
use repro_engine::slurm::SlurmExecutor;
use repro_engine::{Engine, Pipeline};
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

/// The Slurm executor for a build with these arguments, or None to run here.
pub fn slurm_for(args: &BuildArgs, engine: &Engine, pipeline: &Pipeline) -> anyhow::Result<Option<SlurmExecutor>> {
    if args.executor != ExecutorKind::Slurm || args.dry_run {
        return Ok(None);
    }
    repro_engine::slurm::check_installed()?;
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, on_interrupt as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_interrupt as *const () as libc::sighandler_t);
    }
    let exe = std::env::current_exe()?.to_string_lossy().into_owned();
    let pipeline_file = std::fs::canonicalize(&pipeline.file)?.to_string_lossy().into_owned();
    let profile = engine.profile.clone();
    let backend = std::env::args().skip_while(|a| a != "--backend").nth(1);
    let sets: Vec<String> = args.selection.sets.iter().flat_map(|s| ["--set".to_string(), s.clone()]).collect();
    let data = args.selection.data.clone();
    let command = move |stage: &str, threads: usize, forced: bool, build_dir: &Path| {
        let mut argv = vec![exe.clone(), "--pipeline".into(), pipeline_file.clone(), "--threads".into(), threads.to_string()];
        if let Some(b) = &backend {
            argv.extend(["--backend".to_string(), b.clone()]);
        }
        argv.extend(["job".to_string(), stage.to_string(), "--profile".into(), profile.clone(), "--no-remote".into()]);
        argv.extend(["--build-dir".to_string(), build_dir.to_string_lossy().into_owned()]);
        argv.extend(sets.iter().cloned());
        if let Some(d) = &data {
            argv.extend(["--data".to_string(), d.clone()]);
        }
        if forced {
            argv.push("--force".into());
        }
        argv
    };
    let poll = std::env::var("REPRO_SLURM_POLL_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(1000);
    Ok(Some(SlurmExecutor {
        command: Arc::new(command),
        interrupted: Arc::new(|| INTERRUPTED.load(Ordering::SeqCst)),
        poll: std::time::Duration::from_millis(poll),
    }))
}
