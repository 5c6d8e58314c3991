//! Command line: parses arguments and drives the engine with the report's
//! stage kinds.

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use repro_engine::{BuildOptions, Engine, KindRegistry, Pipeline, StageOutcome, State, dag, runner::human_duration};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// `println!` for what a command reports, through [`say_line`].
macro_rules! say {
    ($($arg:tt)*) => {
        $crate::cli::say_line(format_args!($($arg)*))
    };
}
pub(crate) use say;

/// Set once stdout could not be written: the rest of the output is dropped.
static STDOUT_LOST: AtomicBool = AtomicBool::new(false);

/// Prints one line. Commands that reach remotes keep SIGPIPE ignored (see
/// [`Command::ends_on_closed_pipe`]), so a reader that went away
/// (`repro build | head -1`) shows here as an error: the command drops the
/// rest of its output and finishes its work instead of panicking.
pub fn say_line(line: std::fmt::Arguments) {
    use std::io::Write;
    if STDOUT_LOST.load(Ordering::Relaxed) {
        return;
    }
    if let Err(e) = writeln!(std::io::stdout().lock(), "{line}") {
        STDOUT_LOST.store(true, Ordering::Relaxed);
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            eprintln!("warning: cannot write to stdout ({e}); the rest of the output is dropped");
        }
    }
}

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
    /// Runs one stage as a job of a build on a cluster (what
    /// `--executor slurm` submits; not for direct use).
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
    /// Where stages run: here (local), or as Slurm jobs (slurm) with the
    /// store on a filesystem every node sees.
    #[arg(long, value_enum, default_value = "local")]
    pub executor: crate::executor::ExecutorKind,
    /// Stages run at once when independent, sharing the threads (and a GPU).
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
    let compute = crate::compute::Compute::open(cli.backend)?;
    let kinds = crate::stages::registry_on(compute.clone());
    match &cli.command {
        Command::Bench { what } => return crate::bench::run(what, &cli.pipeline, threads, &compute),
        Command::Dag { dot } => {
            let pipeline = load(&cli.pipeline, &kinds)?;
            print!("{}", if *dot { dag::render_dot(&pipeline) } else { dag::render_text(&pipeline) });
            return Ok(());
        }
        _ => {}
    }
    let pipeline = load(&cli.pipeline, &kinds)?;
    match cli.command {
        Command::Build(args) => build(&pipeline, &kinds, threads, &args, Vec::new()),
        Command::Run { what: RunWhat::Stage { names, build: args } } => {
            let targets = stage_names(&pipeline, &names)?;
            build(&pipeline, &kinds, threads, &args, targets)
        }
        Command::Status { selection, verify } => status(&pipeline, &kinds, threads, &selection, verify),
        Command::Verify { build: args, update } => verify(&pipeline, &kinds, threads, &args, update),
        Command::Push { selection, dry_run, stages } => push(&pipeline, &kinds, threads, &selection, &stages, dry_run),
        Command::Pull { selection, stages } => pull(&pipeline, &kinds, threads, &selection, &stages),
        Command::Diff { a, b, json, all } => diff(&pipeline, &kinds, a, b, json, all),
        Command::Job { stage, selection, build_dir, force } => {
            let engine = engine(&pipeline, &kinds, threads, &selection)?;
            engine.run_job(&stage, &build_dir, force).map(|_| ())
        }
        Command::Gc { dry_run, remote: Some(url), older_than } => gc_remote(&pipeline, url, older_than, dry_run),
        Command::Gc { dry_run, remote: None, .. } => {
            let engine = engine(&pipeline, &kinds, threads, &Selection::default())?;
            let (count, bytes) = engine.gc(dry_run)?;
            let verb = if dry_run { "would remove" } else { "removed" };
            say!("{verb} {count} object(s), {:.1} MB", bytes as f64 / 1e6);
            Ok(())
        }
        Command::Dag { .. } | Command::Bench { .. } => unreachable!("handled above"),
    }
}

/// `repro gc --remote`: `url` empty for the `[remote]` of pipeline.toml.
fn gc_remote(pipeline: &Pipeline, url: String, older_than: f64, dry_run: bool) -> anyhow::Result<()> {
    anyhow::ensure!(older_than.is_finite() && older_than >= 0.0, "--older-than {older_than}: give hours, 0 or more");
    let selection = Selection { remote: Some(url).filter(|u| !u.is_empty()), ..Selection::default() };
    let Some(remote) = remote(pipeline, &selection)? else {
        anyhow::bail!(
            "no remote to collect: give one (`repro gc --remote s3://bucket/prefix`) or set [remote] url in {}",
            pipeline.file.display()
        )
    };
    remote.check()?;
    let min_age = std::time::Duration::from_secs_f64(older_than * 3600.0);
    let done = repro_engine::remote_gc::collect(remote.as_ref(), min_age, dry_run)?;
    for problem in &done.damaged {
        eprintln!(
            "warning: {problem}; ignored, and every unnamed object kept: it may be that entry's. `repro push` of the stage replaces the entry"
        );
    }
    if done.kept_for_damaged > 0 {
        say!("kept {} unnamed object(s): {} damaged entr(ies) may name them", done.kept_for_damaged, done.damaged.len());
    }
    let verb = if dry_run { "would remove" } else { "removed" };
    say!(
        "{}: {verb} {} object(s), {:.1} MB, and {} checkpoint entr(ies) of finished runs; kept {} object(s) that entries name and {} unnamed younger than {older_than} h (a push may be under way)",
        remote.url(),
        done.objects,
        done.bytes as f64 / 1e6,
        done.checkpoints,
        done.named,
        done.young
    );
    Ok(())
}

pub fn load(file: &Path, kinds: &KindRegistry) -> anyhow::Result<Pipeline> {
    let pipeline = Pipeline::load(file, kinds)?;
    pipeline.check_inputs(crate::stages::wiring::RULES)?;
    Ok(pipeline)
}

/// The engine for a selection: profile checked, overrides parsed and validated.
pub fn engine<'a>(pipeline: &'a Pipeline, kinds: &'a KindRegistry, threads: usize, selection: &Selection) -> anyhow::Result<Engine<'a>> {
    let profile = selection.profile.clone().unwrap_or_else(|| pipeline.default_profile.clone());
    pipeline.profile(&profile)?;
    let mut overrides: BTreeMap<String, toml::Table> = BTreeMap::new();
    for set in &selection.sets {
        let (stage, key, value) = parse_set(set)?;
        overrides.entry(stage).or_default().insert(key, value);
    }
    if let Some(source) = &selection.data {
        let value = if source == "official" || source == "synthetic" { source.clone() } else { absolute(source)? };
        for stage in pipeline.stages.iter().filter(|s| s.kind == "dataset") {
            overrides.entry(stage.name.clone()).or_default().insert("source".into(), toml::Value::String(value.clone()));
        }
    }
    let reporter = std::sync::Arc::new(crate::terminal::Terminal::default());
    let remote = remote(pipeline, selection)?;
    let engine = Engine { pipeline, kinds, sources: crate::compiled_sources(), profile, threads, overrides, reporter, remote };
    for stage in engine.overrides.keys() {
        pipeline.stage(stage).with_context(|| format!("--set names unknown stage `{stage}`"))?;
    }
    if !engine.overrides.is_empty() {
        engine.check_params().map_err(|(stage, e)| {
            let kind = &pipeline.stage(&stage).expect("checked stage").kind;
            let help = kinds.get(kind).expect("kinds checked at load").param_help();
            let key = e.key.unwrap_or_default();
            let origin = if engine.overrides.get(&stage).is_some_and(|o| o.contains_key(&key)) { "--set " } else { "with --set: " };
            anyhow::anyhow!("{origin}{stage}.{key}: {}; parameters of `{kind}`: {help}", repro_engine::config::one_line(&e.message))
        })?;
    }
    Ok(engine)
}

/// The URL of `--remote`, else of `[remote]`, unless `--no-remote`.
fn remote_url(pipeline: &Pipeline, selection: &Selection) -> Option<String> {
    let configured = pipeline.remote.as_ref().map(|r| r.url.clone()).filter(|u| !u.is_empty());
    selection.remote.clone().or(configured).filter(|_| !selection.no_remote)
}

/// The remote cache of `--remote`, else of `[remote]`, unless `--no-remote`.
fn remote(pipeline: &Pipeline, selection: &Selection) -> anyhow::Result<Option<std::sync::Arc<dyn repro_engine::remote::RemoteCache>>> {
    let settings = pipeline.remote.clone().unwrap_or_default();
    let Some(url) = remote_url(pipeline, selection) else {
        return Ok(None);
    };
    let options = repro_remote::S3Options { endpoint: settings.endpoint, region: settings.region, profile: settings.profile };
    Ok(Some(std::sync::Arc::new(repro_remote::open(&url, &pipeline.root, &options)?)))
}

/// `stage.key=value`; the value is TOML when it parses as such, else a string.
fn parse_set(set: &str) -> anyhow::Result<(String, String, toml::Value)> {
    let (path, raw) = set.split_once('=').with_context(|| format!("--set {set}: expected STAGE.KEY=VALUE"))?;
    let (stage, key) = path.split_once('.').with_context(|| format!("--set {set}: expected STAGE.KEY=VALUE"))?;
    let value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()));
    Ok((stage.trim().to_string(), key.trim().to_string(), value))
}

fn absolute(path: &str) -> anyhow::Result<String> {
    let p = Path::new(path);
    anyhow::ensure!(p.exists(), "--data {path}: no such file or folder; give the CIFAR-10 archive or folder, `official` or `synthetic`");
    Ok(p.canonicalize()?.to_string_lossy().into_owned())
}

fn build(pipeline: &Pipeline, kinds: &KindRegistry, threads: usize, args: &BuildArgs, targets: Vec<String>) -> anyhow::Result<()> {
    build_partly(pipeline, kinds, threads, args, targets, false).map(|_| ())
}

/// A build; with `without_training`, train stages are only restored and
/// the ones that cannot be are left unbuilt with what needs them
/// (returned, and listed).
fn build_partly(
    pipeline: &Pipeline,
    kinds: &KindRegistry,
    threads: usize,
    args: &BuildArgs,
    targets: Vec<String>,
    without_training: bool,
) -> anyhow::Result<Vec<String>> {
    let started = Instant::now();
    let engine = engine(pipeline, kinds, threads, &args.selection)?;
    let no_train = args.no_train || without_training;
    let options = BuildOptions {
        targets,
        force: args.force.iter().cloned().collect::<BTreeSet<_>>(),
        force_all: args.force_all,
        dry_run: args.dry_run,
        wait_for_lock: !args.no_wait,
        restore_only: if no_train { stage_names(pipeline, &["train".to_string()])?.into_iter().collect() } else { BTreeSet::new() },
        skip_unrestorable: without_training,
        jobs: args.jobs.into(),
        slurm: crate::executor::slurm_for(args, &engine, pipeline)?,
    };
    for f in &options.force {
        anyhow::ensure!(pipeline.stage(f).is_some(), "--force {f}: no such stage");
    }
    let built = engine.build_partial(&options)?;
    let (outcomes, skipped) = (built.outcomes, built.skipped);
    if args.dry_run {
        print_states(&outcomes);
    }
    let unbuilt: Vec<String> = skipped.iter().map(|(name, _)| name.clone()).collect();
    for (name, state) in &skipped {
        let why = if options.restore_only.contains(name) { "its training is not published yet" } else { "it needs a stage not built" };
        say!("{name:>12} not built: {why} ({state})");
    }
    if args.dry_run {
        return Ok(unbuilt);
    }
    let ran = outcomes.iter().filter(|o| o.ran).count();
    let restored = outcomes.iter().filter(|o| matches!(o.state, State::Cached | State::Remote(_))).count();
    say!(
        "profile `{}`: {ran} ran, {restored} restored, {} fresh in {}",
        engine.profile,
        outcomes.len() - ran - restored,
        human_duration(started.elapsed().as_secs_f64())
    );
    if !unbuilt.is_empty() {
        say!("{} stage(s) not built (they need a training that is not published): {}", unbuilt.len(), unbuilt.join(", "));
    }
    Ok(unbuilt)
}

fn status(pipeline: &Pipeline, kinds: &KindRegistry, threads: usize, selection: &Selection, rehash: bool) -> anyhow::Result<()> {
    let engine = engine(pipeline, kinds, threads, selection)?;
    say!("profile `{}`", engine.profile);
    say!("{}", environment_line(&engine));
    if let Some(remote) = &engine.remote {
        say!("remote cache: {}", remote.url());
    }
    let none = BTreeSet::new();
    if !rehash {
        print_states(&engine.status(&[], &none)?);
        return Ok(());
    }
    let (outcomes, failed) = engine.status_rehashing(&[], &none)?;
    print_states(&outcomes);
    // A health check for scripts: damage found is a failure.
    anyhow::ensure!(
        failed.is_empty(),
        "{} stored output(s) missing or corrupt (removed; their stages are stale above): {}",
        failed.len(),
        failed.iter().map(|s| &s[..12]).collect::<Vec<_>>().join(", ")
    );
    Ok(())
}

/// Names on the command line: a stage, or a group (a kind: all its stages).
fn stage_names(pipeline: &Pipeline, names: &[String]) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    for name in names {
        if pipeline.stage(name).is_some() {
            out.push(name.clone());
            continue;
        }
        let in_group = |s: &&repro_engine::config::StageDecl| &s.kind == name || s.matrix.as_ref().is_some_and(|(base, _)| base == name);
        let group: Vec<String> = pipeline.stages.iter().filter(in_group).map(|s| s.name.clone()).collect();
        if group.is_empty() {
            let stages: Vec<&str> = pipeline.stages.iter().map(|s| s.name.as_str()).collect();
            let mut groups: Vec<&str> = pipeline.stages.iter().map(|s| s.kind.as_str()).collect();
            groups.extend(pipeline.stages.iter().filter_map(|s| s.matrix.as_ref().map(|(base, _)| base.as_str())));
            groups.sort();
            groups.dedup();
            anyhow::bail!(
                "unknown stage `{name}`; stages: {}; groups (every stage of a kind or a matrix): {}",
                stages.join(", "),
                groups.join(", ")
            );
        }
        out.extend(group);
    }
    Ok(out)
}

/// The parts of every model stage's key that come from this machine and
/// this binary rather than from pipeline.toml.
fn environment_line(engine: &Engine) -> String {
    let path = engine.kinds.get("train").map(|k| k.compute_path()).unwrap_or_default();
    let compute: Vec<String> = path.into_iter().map(|(k, v)| format!("{k} {v}")).collect();
    let burn = engine.sources.locked.iter().find(|(n, _, _)| *n == "burn").map_or("?", |(_, v, _)| v);
    format!("built with {}, burn {burn}; compute path: {}", engine.sources.rustc, compute.join(", "))
}

fn print_states(outcomes: &[StageOutcome]) {
    let width = outcomes.iter().map(|o| o.stage.len()).max().unwrap_or(0);
    for o in outcomes {
        say!("{:width$}  {}", o.stage, o.state);
    }
}

/// The compute path the profile's last build actually ran on (the one its
/// model stages recorded; none for a profile without them).
fn compute_used(store: &repro_engine::store::Store, profile: &str) -> anyhow::Result<BTreeMap<String, String>> {
    let record = repro_engine::record::BuildRecord::load(store.root(), profile)?;
    let mut paths: Vec<&BTreeMap<String, String>> =
        record.stages.values().map(|s| &s.environment.compute).filter(|c| !c.is_empty()).collect();
    paths.dedup();
    anyhow::ensure!(paths.len() <= 1, "profile `{profile}` was built on several compute paths; rebuild it with --force-all");
    Ok(paths.first().map(|c| (*c).clone()).unwrap_or_default())
}

/// Allowed drift per metric: counts exact, accuracy and loss 0.005.
/// Counts must match exactly; measured quantities get a small tolerance.
fn tolerance(metric: &str) -> f64 {
    if metric.ends_with("_accuracy") || metric.ends_with("_loss") || metric.ends_with("_ratio") { 0.005 } else { 0.0 }
}

fn verify(pipeline: &Pipeline, kinds: &KindRegistry, threads: usize, args: &BuildArgs, update: bool) -> anyhow::Result<()> {
    use repro_engine::verify;
    let engine = engine(pipeline, kinds, threads, &args.selection)?;
    let partial = pipeline.profiles.get(&engine.profile).is_some_and(|p| p.verify_without_training);
    let unbuilt = build_partly(pipeline, kinds, threads, args, Vec::new(), partial)?;
    let store = repro_engine::store::Store::open(&pipeline.store_dir)?;
    let mut now = verify::current_numbers_except(&store, &engine.profile, &unbuilt)?;
    if partial {
        // The report (which writes numbers.json) needs every training; the
        // built ones' numbers come from their metrics, as the report's would.
        for (metric, value) in crate::trained_numbers::of_built_trainings(&engine, &store, &unbuilt)? {
            now.entry(metric).or_insert(value);
        }
    }
    let compute = compute_used(&store, &engine.profile)?;
    let (path, published) = verify::record_for(pipeline, &engine.profile, &compute)?;
    if update {
        let file = verify::publish(&engine.profile, &compute, &now, tolerance);
        repro_engine::atomic::write(&path, &serde_json::to_vec_pretty(&file)?)?;
        say!("recorded {} numbers in {} (compute path: {})", now.len(), path.display(), verify::describe_compute(&compute));
        return Ok(());
    }
    let Some(published) = published else {
        let known: Vec<String> = verify::published_records(pipeline, &engine.profile)?
            .iter()
            .map(|(p, f)| format!("{} ({})", p.display(), verify::describe_compute(&f.compute)))
            .collect();
        anyhow::bail!(
            "no published numbers of profile `{}` for this compute path ({}); the kernels' paths are not bit-identical. Published: {}. Record this path's with `repro verify --profile {} --update`",
            engine.profile,
            verify::describe_compute(&compute),
            if known.is_empty() { "none".to_string() } else { known.join("; ") },
            engine.profile
        );
    };
    say!("published numbers: {} (compute path: {})", path.display(), verify::describe_compute(&compute));
    let checks = verify::compare(&published, &now);
    let show = |v: Option<f64>| v.map_or("missing".to_string(), |v| format!("{v:.4}"));
    say!("{:<52} {:>12} {:>12} {:>10}  ok", "metric", "published", "now", "tolerance");
    for c in &checks {
        let (p, t) = (c.published.as_ref().map(|p| p.value), c.published.as_ref().map(|p| p.tolerance));
        say!("{:<52} {:>12} {:>12} {:>10}  {}", c.metric, show(p), show(c.now), show(t), if c.ok() { "yes" } else { "NO" });
    }
    let bad = checks.iter().filter(|c| !c.ok()).count();
    anyhow::ensure!(bad == 0, "{bad} of {} numbers differ from {} beyond tolerance", checks.len(), path.display());
    say!("all {} numbers reproduce ({})", checks.len(), path.display());
    Ok(())
}

fn push(
    pipeline: &Pipeline,
    kinds: &KindRegistry,
    threads: usize,
    selection: &Selection,
    stages: &[String],
    dry_run: bool,
) -> anyhow::Result<()> {
    use repro_engine::sync::Pushed;
    // Only a push makes a folder remote; other commands refuse a missing
    // one (a typo'd path would otherwise look like an empty cache).
    if let Some(url) = remote_url(pipeline, selection).filter(|_| !dry_run)
        && let Some(folder) = repro_remote::create_folder(&url, &pipeline.root)?
    {
        say!("created the folder remote {}", folder.display());
    }
    let engine = engine(pipeline, kinds, threads, selection)?;
    let targets = stage_names(pipeline, stages)?;
    let pushed = engine.push(&targets, dry_run)?;
    let url = engine.remote.as_ref().map(|r| r.url().to_string()).unwrap_or_default();
    let mut total = repro_engine::remote::Transfer::default();
    let width = pushed.iter().map(|(s, _)| s.len()).max().unwrap_or(0);
    for (stage, outcome) in &pushed {
        let (moved, with_objects, retired) = match outcome {
            Pushed::Sent { moved, with_objects, retired } => (moved, *with_objects, retired),
            Pushed::NotBuilt(state) => {
                say!("{stage:width$}  not pushed: {state}; build it first");
                continue;
            }
            Pushed::Checkpoint(moved) => {
                say!(
                    "{stage:width$}  not built; its checkpoint: {} object(s), {:.1} MB, {} already there (a build elsewhere resumes from it)",
                    moved.objects,
                    moved.bytes as f64 / 1e6,
                    moved.present
                );
                total.add(moved);
                continue;
            }
        };
        let what = if with_objects { "" } else { " (run entry only: push = false, cheap to rebuild)" };
        let retired = retired.as_ref().map_or(String::new(), |r| {
            format!(
                "; its checkpoint there retired: {} object(s), {:.1} MB removed, {} kept (named elsewhere)",
                r.objects,
                r.bytes as f64 / 1e6,
                r.present
            )
        });
        say!(
            "{stage:width$}  {} object(s), {:.1} MB; {} already there{what}{retired}",
            moved.objects,
            moved.bytes as f64 / 1e6,
            moved.present
        );
        total.add(moved);
    }
    let verb = if dry_run { "would push" } else { "pushed" };
    let checkpoints = pushed.iter().filter(|(_, p)| matches!(p, Pushed::Checkpoint(_))).count();
    let unfinished = if checkpoints > 0 { format!(" and {checkpoints} checkpoint(s) of unfinished stages") } else { String::new() };
    say!("{verb} {} object(s), {:.1} MB, and {} run entr(ies){unfinished} to {url}", total.objects, total.bytes as f64 / 1e6, total.runs);
    Ok(())
}

fn pull(pipeline: &Pipeline, kinds: &KindRegistry, threads: usize, selection: &Selection, stages: &[String]) -> anyhow::Result<()> {
    use repro_engine::sync::Pulled;
    let engine = engine(pipeline, kinds, threads, selection)?;
    let targets = stage_names(pipeline, stages)?;
    let pulled = engine.pull(&targets)?;
    let width = pulled.iter().map(|(s, _)| s.len()).max().unwrap_or(0);
    let mut total = repro_engine::remote::Transfer::default();
    for (stage, outcome) in &pulled {
        let text = match outcome {
            Pulled::Fetched(moved) => {
                total.add(moved);
                format!("pulled {} object(s), {:.1} MB, verified", moved.objects, moved.bytes as f64 / 1e6)
            }
            Pulled::Checkpoint(moved) => {
                total.add(moved);
                format!(
                    "not built; checkpoint pulled, {} file(s), {:.1} MB, verified: the next build resumes from it",
                    moved.objects,
                    moved.bytes as f64 / 1e6
                )
            }
            Pulled::Here => "here already".into(),
            Pulled::Rebuild => "cheap to rebuild: the next build runs it".into(),
            Pulled::Missing => "not on the remote".into(),
        };
        say!("{stage:width$}  {text}");
    }
    say!(
        "pulled {} object(s), {:.1} MB; `repro build --profile {}` restores them",
        total.objects,
        total.bytes as f64 / 1e6,
        engine.profile
    );
    Ok(())
}

fn diff(pipeline: &Pipeline, kinds: &KindRegistry, a: Option<String>, b: Option<String>, json: bool, all: bool) -> anyhow::Result<()> {
    use repro_engine::diff;
    let (a, b) = match (a, b) {
        (Some(a), Some(b)) => (a, b),
        (Some(p), None) => (format!("published:{p}"), p),
        _ => (format!("published:{}", pipeline.default_profile), pipeline.default_profile.clone()),
    };
    let store = repro_engine::store::Store::open(&pipeline.store_dir)?;
    // Published numbers are per compute path: the one a built side ran on,
    // else this machine's.
    let built = [&a, &b].into_iter().find(|n| !n.starts_with("published:")).filter(|n| pipeline.profile(n).is_ok());
    let compute = match built {
        Some(profile) => compute_used(&store, profile)?,
        None => kinds.get("train").map(|k| k.compute_path()).unwrap_or_default(),
    };
    let side = |name: &str| -> anyhow::Result<diff::Side> {
        match name.strip_prefix("published:") {
            Some(profile) => {
                pipeline.profile(profile)?;
                diff::published(pipeline, profile, &compute)
            }
            None => {
                pipeline.profile(name)?;
                diff::built(&store, name)
            }
        }
    };
    let (a, b) = (side(&a)?, side(&b)?);
    // Published numbers carry no parameters: then only numbers compare.
    let both = !a.params.is_empty() && !b.params.is_empty();
    let params = if both { diff::rows(&a.params, &b.params, all) } else { Vec::new() };
    let numbers = diff::rows(&a.numbers, &b.numbers, all);
    if json {
        let out = serde_json::json!({ "a": a.name, "b": b.name, "params": params, "numbers": numbers });
        say!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    if both {
        print_rows("parameter", &a.name, &b.name, &params, |v: &String| v.clone(), |_, _| String::new());
        say!("");
    }
    print_rows("number", &a.name, &b.name, &numbers, |v: &f64| format!("{v:.4}"), |x, y| format!("{:+.4}", y - x));
    Ok(())
}

/// A table `key | a | b | change`; `(none)` where a side lacks the key.
fn print_rows<T>(
    what: &str,
    a: &str,
    b: &str,
    rows: &[repro_engine::diff::Row<T>],
    show: impl Fn(&T) -> String,
    change: impl Fn(&T, &T) -> String,
) {
    if rows.is_empty() {
        say!("no {what} differs");
        return;
    }
    let cell = |v: &Option<T>| v.as_ref().map_or("(none)".to_string(), &show);
    let table: Vec<[String; 4]> = rows
        .iter()
        .map(|r| {
            let delta = match (&r.a, &r.b) {
                (Some(x), Some(y)) => change(x, y),
                _ => String::new(),
            };
            [r.key.clone(), cell(&r.a), cell(&r.b), delta]
        })
        .collect();
    let header = [what.to_string(), a.to_string(), b.to_string(), "change".to_string()];
    let widths: Vec<usize> = (0..4).map(|i| table.iter().map(|r| r[i].len()).chain([header[i].len()]).max().unwrap_or(0)).collect();
    for row in std::iter::once(&header).chain(table.iter()) {
        say!("{:w0$}  {:>w1$}  {:>w2$}  {}", row[0], row[1], row[2], row[3], w0 = widths[0], w1 = widths[1], w2 = widths[2]);
    }
}
