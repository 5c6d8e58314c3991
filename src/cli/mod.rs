//! Command line: the arguments (clap), resolved once into an
//! [`Invocation`], and one module per command driving the engine with the
//! report's stage kinds.

mod build;
mod diff;
mod gc;
mod invocation;
mod pull;
mod push;
mod rekey;
mod status;
mod verify;

pub use invocation::{Invocation, JobLine, JobSpec, Target, backend_name};

use clap::{Args, Parser, Subcommand};
use repro_engine::dag;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "repro",
    version,
    about = "Regenerates the report 'Deep Learning for Image Classification with EM Algorithms' from raw data"
)]
pub struct Cli {
    /// The pipeline file.
    #[arg(long, global = true, default_value = "pipeline.toml")]
    pub pipeline: PathBuf,
    /// Worker threads (default: all cores). They change the speed, never a result.
    #[arg(long, global = true, value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,
    /// The backend the models run on: flex (CPU, the own kernels) or
    /// vulkan (needs a build with `--features vulkan` and a Vulkan driver).
    #[arg(long, global = true, default_value = "flex")]
    pub backend: crate::compute::BackendKind,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Brings every stage of a profile up to date.
    Build(BuildArgs),
    /// Runs one stage (and the stale stages it needs).
    Run {
        #[command(subcommand)]
        what: RunWhat,
    },
    /// Shows each stage as fresh or stale, with the reason.
    Status {
        #[command(flatten)]
        selection: Selection,
        /// Rehashes every stored output of the profile instead of trusting
        /// cached digests (a changed one is removed and its stage is stale).
        #[arg(long)]
        verify: bool,
    },
    /// Prints the stage graph (text, or Graphviz with --dot).
    Dag {
        #[arg(long)]
        dot: bool,
    },
    /// Builds what is stale, then checks the build's numbers against the
    /// published ones (artifacts/published/PROFILE.json).
    Verify {
        #[command(flatten)]
        build: BuildArgs,
        /// Records the current numbers as the published ones instead.
        #[arg(long)]
        update: bool,
    },
    /// Uploads the profile's built stages (or STAGE...) that the remote
    /// lacks: objects, verified, then run entries. Stages marked
    /// `push = false` send their entry only, unless named.
    Push {
        #[command(flatten)]
        selection: Selection,
        /// Lists what would go, sending nothing.
        #[arg(long)]
        dry_run: bool,
        stages: Vec<String>,
    },
    /// Carries the remote's runs and checkpoints of the profile's stages
    /// from the keys that covered the kernels' source to the keys that
    /// cover what they compute, each only where this binary recomputes
    /// its old key exactly (README: "Cache keys").
    Rekey {
        #[command(flatten)]
        selection: Selection,
        /// Lists what would be carried, writing nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Fetches, verified, what a build of the profile (or of STAGE...) can
    /// restore from the remote instead of running it.
    Pull {
        #[command(flatten)]
        selection: Selection,
        stages: Vec<String>,
    },
    /// Parameters and numbers of two builds side by side: A and B are
    /// profiles (their build records) or `published:P`. One name: its
    /// published numbers against it; none: the default profile's.
    Diff {
        a: Option<String>,
        b: Option<String>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
        /// Every row, not only those that differ.
        #[arg(long)]
        all: bool,
    },
    /// Runs one stage as a job of a build (what `--executor processes` and
    /// `--executor slurm` start; not for direct use).
    #[command(hide = true)]
    Job {
        stage: String,
        #[command(flatten)]
        selection: Selection,
        /// The submitting build's job folder (results of its jobs).
        #[arg(long)]
        build_dir: PathBuf,
        #[arg(long)]
        force: bool,
    },
    /// Removes stored objects that no build record references; with
    /// `--remote`, those of a remote cache that no entry there names.
    Gc {
        #[arg(long)]
        dry_run: bool,
        /// Collects a remote cache instead: URL, or the `[remote]` of
        /// pipeline.toml when none is given. Also retires the checkpoint
        /// entries of runs that are there. Run entries are kept.
        #[arg(long, value_name = "URL", num_args = 0..=1, default_missing_value = "")]
        remote: Option<String>,
        /// With `--remote`: unnamed objects younger than this are kept (a
        /// push under way sends its objects before its entry).
        #[arg(long, value_name = "HOURS", default_value_t = 24.0, requires = "remote")]
        older_than: f64,
    },
    /// Benchmarks (figures printed, nothing asserted).
    Bench {
        #[command(subcommand)]
        what: crate::bench::BenchWhat,
    },
}

impl Command {
    /// Commands that only read and print, which a closed pipe (`repro
    /// status | head -1`) may end as it ends a C tool (status asks a remote
    /// only whether it holds a run). The others send to remotes, and a
    /// socket whose server went away raises SIGPIPE on the next write: they
    /// must get the error and say it, not die silently; a closed stdout
    /// only silences them ([`say_line`]). Benchmarks too: killed at their
    /// last line they would leave their temp files behind.
    pub fn ends_on_closed_pipe(&self) -> bool {
        matches!(self, Command::Status { .. } | Command::Dag { .. } | Command::Diff { .. })
    }
}

#[derive(Subcommand, Debug)]
pub enum RunWhat {
    /// `repro run stage NAME...`: stages, or kinds naming all their stages
    /// (`repro run stage tsne` runs tsne_final and tsne_center).
    Stage {
        #[arg(required = true)]
        names: Vec<String>,
        #[command(flatten)]
        build: BuildArgs,
    },
}

#[derive(Args, Debug, Clone, Default)]
pub struct Selection {
    /// Profile from pipeline.toml (default: its default_profile, `paper`).
    #[arg(long)]
    pub profile: Option<String>,
    /// Overrides a parameter: STAGE.KEY=VALUE (VALUE in TOML syntax, or a bare string).
    #[arg(long = "set", value_name = "STAGE.KEY=VALUE")]
    pub sets: Vec<String>,
    /// Data source for every dataset stage: a local archive or folder,
    /// `official` (download) or `synthetic`.
    #[arg(long, value_name = "PATH")]
    pub data: Option<String>,
    /// The remote cache: `s3://bucket/prefix` (endpoint: [remote] endpoint
    /// or AWS_ENDPOINT_URL), `file:///path` or a folder. Default: [remote] url.
    #[arg(long, value_name = "URL", conflicts_with = "no_remote")]
    pub remote: Option<String>,
    /// Ignores the remote of pipeline.toml.
    #[arg(long)]
    pub no_remote: bool,
}

#[derive(Args, Debug, Clone, Default)]
pub struct BuildArgs {
    #[command(flatten)]
    pub selection: Selection,
    /// Where stages run: here (local, on threads), each as a process of its
    /// own on this machine (processes: on a GPU, each its own device
    /// client), or as Slurm jobs (slurm) with the store on a filesystem
    /// every node sees.
    #[arg(long, value_enum, default_value = "local")]
    pub executor: crate::executor::ExecutorKind,
    /// Stages run at once when independent, sharing the threads (and a
    /// GPU); with `--executor processes`, processes at once.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: u16,
    /// Shows what would run, and why, without running it.
    #[arg(long)]
    pub dry_run: bool,
    /// Reruns this stage even if fresh (repeatable).
    #[arg(long, value_name = "STAGE")]
    pub force: Vec<String>,
    /// Reruns every selected stage.
    #[arg(long)]
    pub force_all: bool,
    /// Fails at once instead of waiting when another build holds the store.
    #[arg(long)]
    pub no_wait: bool,
    /// Trains nothing: every train stage must be fresh or restored (from
    /// the run cache or the remote, e.g. the published trained models).
    #[arg(long)]
    pub no_train: bool,
}

/// Runs the parsed command.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let threads = cli.threads.map_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()), usize::from);
    rayon::ThreadPoolBuilder::new().num_threads(threads).build_global().ok();
    #[cfg(feature = "vulkan")]
    if cli.backend == crate::compute::BackendKind::Vulkan {
        crate::gpu::cache::configure()?;
    }
    let compute = crate::compute::Compute::open(cli.backend)?;
    if let Command::Bench { what } = &cli.command {
        return crate::bench::run(what, &cli.pipeline, threads, &compute);
    }
    let at = Invocation::new(&cli.pipeline, cli.backend, threads, crate::stages::registry_on(compute))?;
    match cli.command {
        Command::Build(args) => build::build(&at, &args, Vec::new()),
        Command::Run { what: RunWhat::Stage { names, build: args } } => {
            let targets = at.stage_names(&names)?;
            build::build(&at, &args, targets)
        }
        Command::Status { selection, verify } => status::status(&at, &selection, verify),
        Command::Dag { dot } => {
            print!("{}", if dot { dag::render_dot(&at.pipeline) } else { dag::render_text(&at.pipeline) });
            Ok(())
        }
        Command::Verify { build: args, update } => verify::verify(&at, &args, update),
        Command::Push { selection, dry_run, stages } => push::push(&at, &selection, &stages, dry_run),
        Command::Pull { selection, stages } => pull::pull(&at, &selection, &stages),
        Command::Rekey { selection, dry_run } => rekey::rekey(&at, &selection, dry_run),
        Command::Diff { a, b, json, all } => diff::diff(&at, a, b, json, all),
        Command::Job { stage, selection, build_dir, force } => {
            let target = at.target(&selection)?;
            at.engine(&target)?.run_job(&stage, &build_dir, force).map(|_| ())
        }
        Command::Gc { dry_run, remote: Some(url), older_than } => gc::gc_remote(&at, url, older_than, dry_run),
        Command::Gc { dry_run, remote: None, .. } => gc::gc_local(&at, dry_run),
        Command::Bench { .. } => unreachable!("handled above"),
    }
}
