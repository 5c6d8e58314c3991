//! The command line resolved once: the pipeline, backend and threads of
//! every command ([`Invocation`]) and the profile, overrides, data source
//! and remote a command works on ([`Target`]). Engines and the command
//! line of every job (processes, Slurm) are built from these, never from the raw
//! arguments again.

use super::Selection;
use crate::compute::BackendKind;
use anyhow::Context;
use repro_engine::remote::RemoteCache;
use repro_engine::{Engine, KindRegistry, Pipeline};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What every command runs with.
pub struct Invocation {
    pub pipeline: Pipeline,
    pub kinds: KindRegistry,
    pub backend: BackendKind,
    pub threads: usize,
}

/// A selection resolved: the profile checked, `--set`s parsed and
/// validated, `--data` made absolute, the remote chosen.
#[derive(Clone, Debug)]
pub struct Target {
    pub profile: String,
    /// `--set` as given (a Slurm job gets them again).
    pub sets: Vec<String>,
    pub overrides: BTreeMap<String, toml::Table>,
    /// `official`, `synthetic`, or an absolute path.
    pub data: Option<String>,
    /// `--remote`, else `[remote]`, unless `--no-remote`.
    pub remote_url: Option<String>,
}

impl Invocation {
    pub fn new(file: &Path, backend: BackendKind, threads: usize, kinds: KindRegistry) -> anyhow::Result<Invocation> {
        let pipeline = Pipeline::load(file, &kinds)?;
        pipeline.check_inputs(crate::stages::wiring::RULES)?;
        Ok(Invocation { pipeline, kinds, backend, threads })
    }

    pub fn target(&self, selection: &Selection) -> anyhow::Result<Target> {
        let profile = selection.profile.clone().unwrap_or_else(|| self.pipeline.default_profile.clone());
        self.pipeline.profile(&profile)?;
        let mut overrides: BTreeMap<String, toml::Table> = BTreeMap::new();
        for set in &selection.sets {
            let (stage, key, value) = parse_set(set)?;
            self.pipeline.stage(&stage).with_context(|| format!("--set names unknown stage `{stage}`"))?;
            overrides.entry(stage).or_default().insert(key, value);
        }
        let data = selection.data.as_deref().map(data_source).transpose()?;
        if let Some(value) = &data {
            for stage in self.pipeline.stages.iter().filter(|s| s.kind == "dataset") {
                overrides.entry(stage.name.clone()).or_default().insert("source".into(), toml::Value::String(value.clone()));
            }
        }
        let configured = self.pipeline.remote.as_ref().map(|r| r.url.clone()).filter(|u| !u.is_empty());
        let remote_url = selection.remote.clone().or(configured).filter(|_| !selection.no_remote);
        Ok(Target { profile, sets: selection.sets.clone(), overrides, data, remote_url })
    }

    /// The engine for `target`, its overrides checked by the stages' kinds.
    pub fn engine(&self, target: &Target) -> anyhow::Result<Engine<'_>> {
        let reporter = Arc::new(crate::terminal::Terminal::default());
        let engine = Engine::new(&self.pipeline, &self.kinds, crate::compiled_sources(), &target.profile, reporter.clone())
            .threads(self.threads)
            .overrides(target.overrides.clone())
            .remote(self.remote(target)?);
        // The battery runs flex's kernels: other backends keep token keys.
        let engine = match self.backend {
            BackendKind::Flex => engine.behaviour(Arc::new(crate::kernel_prints::KernelBattery::flex().reporting(reporter))),
            _ => engine,
        };
        if !target.overrides.is_empty() {
            engine.check_params().map_err(|(stage, e)| self.override_error(target, &stage, e))?;
        }
        Ok(engine)
    }

    fn override_error(&self, target: &Target, stage: &str, e: repro_engine::ParamError) -> anyhow::Error {
        let kind = &self.pipeline.stage(stage).expect("checked stage").kind;
        let help = self.kinds.get(kind).expect("kinds checked at load").param_help();
        let key = e.key.unwrap_or_default();
        let origin = if target.overrides.get(stage).is_some_and(|o| o.contains_key(&key)) { "--set " } else { "with --set: " };
        anyhow::anyhow!("{origin}{stage}.{key}: {}; parameters of `{kind}`: {help}", repro_engine::pipeline::one_line(&e.message))
    }

    /// The remote cache of `target`, opened.
    pub fn remote(&self, target: &Target) -> anyhow::Result<Option<Arc<dyn RemoteCache>>> {
        let Some(url) = &target.remote_url else { return Ok(None) };
        let settings = self.pipeline.remote.clone().unwrap_or_default();
        let options = repro_remote::S3Options { endpoint: settings.endpoint, region: settings.region, profile: settings.profile };
        Ok(Some(Arc::new(repro_remote::open(url, &self.pipeline.root, &options)?)))
    }

    /// Names on the command line: a stage, or a group (a kind or a matrix:
    /// all its stages).
    pub fn stage_names(&self, names: &[String]) -> anyhow::Result<Vec<String>> {
        let pipeline = &self.pipeline;
        let mut out = Vec::new();
        for name in names {
            if pipeline.stage(name).is_some() {
                out.push(name.clone());
                continue;
            }
            let in_group =
                |s: &&repro_engine::pipeline::StageDecl| &s.kind == name || s.matrix.as_ref().is_some_and(|(base, _)| base == name);
            let group: Vec<String> = pipeline.stages.iter().filter(in_group).map(|s| s.name.clone()).collect();
            anyhow::ensure!(!group.is_empty(), "{}", self.unknown_stage(name));
            out.extend(group);
        }
        Ok(out)
    }

    fn unknown_stage(&self, name: &str) -> String {
        let stages = &self.pipeline.stages;
        let names: Vec<&str> = stages.iter().map(|s| s.name.as_str()).collect();
        let mut groups: Vec<&str> = stages.iter().map(|s| s.kind.as_str()).collect();
        groups.extend(stages.iter().filter_map(|s| s.matrix.as_ref().map(|(base, _)| base.as_str())));
        groups.sort();
        groups.dedup();
        format!("unknown stage `{name}`; stages: {}; groups (every stage of a kind or a matrix): {}", names.join(", "), groups.join(", "))
    }

    /// The command line of `repro job` for stages of a build of `target`:
    /// the same pipeline, backend, profile, overrides and data as here.
    pub fn job_line(&self, target: &Target) -> anyhow::Result<JobLine> {
        let exe = std::env::current_exe()?.to_string_lossy().into_owned();
        let file = std::fs::canonicalize(&self.pipeline.file)?.to_string_lossy().into_owned();
        Ok(JobLine { exe, pipeline_file: file, backend: self.backend, target: target.clone() })
    }
}

/// What every job of one build runs with.
#[derive(Clone, Debug)]
pub struct JobLine {
    pub exe: String,
    /// Absolute: a job runs on another node.
    pub pipeline_file: String,
    pub backend: BackendKind,
    pub target: Target,
}

impl JobLine {
    pub fn argv(&self, job: &JobSpec) -> Vec<String> {
        let target = &self.target;
        let mut argv = vec![self.exe.clone(), "--pipeline".into(), self.pipeline_file.clone(), "--threads".into(), job.threads.to_string()];
        argv.extend(["--backend".into(), backend_name(self.backend).into()]);
        argv.extend(["job".into(), job.stage.clone(), "--profile".into(), target.profile.clone(), "--no-remote".into()]);
        argv.extend(["--build-dir".into(), job.build_dir.to_string_lossy().into_owned()]);
        argv.extend(target.sets.iter().flat_map(|s| ["--set".to_string(), s.clone()]));
        if let Some(d) = &target.data {
            argv.extend(["--data".to_string(), d.clone()]);
        }
        if job.forced {
            argv.push("--force".into());
        }
        argv
    }
}

/// One job's own part of its command line.
pub struct JobSpec {
    pub stage: String,
    pub threads: usize,
    pub forced: bool,
    pub build_dir: PathBuf,
}

/// The name `--backend` takes for `backend`.
pub fn backend_name(backend: BackendKind) -> &'static str {
    match backend {
        BackendKind::Flex => "flex",
        BackendKind::Vulkan => "vulkan",
    }
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

/// `--data`: `official`, `synthetic`, or a path made absolute (a Slurm job
/// runs elsewhere).
fn data_source(source: &str) -> anyhow::Result<String> {
    if source == "official" || source == "synthetic" {
        return Ok(source.to_string());
    }
    let p = Path::new(source);
    anyhow::ensure!(p.exists(), "--data {source}: no such file or folder; give the CIFAR-10 archive or folder, `official` or `synthetic`");
    Ok(p.canonicalize()?.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    /// clap accepts `--backend=vulkan`; the jobs of such a build must run on
    /// Vulkan too (they once re-read the raw arguments for `--backend X`).
    #[test]
    fn a_slurm_job_runs_on_the_backend_the_build_was_given() {
        for flag in [&["--backend=vulkan"][..], &["--backend", "vulkan"]] {
            let mut args = vec!["repro"];
            args.extend(flag);
            args.extend(["build", "--executor", "slurm", "--profile", "smoke", "--set", "train_a.epochs=2"]);
            let cli = Cli::try_parse_from(&args).unwrap();
            let Command::Build(build) = &cli.command else { panic!("a build") };
            let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipeline.toml");
            let at = Invocation::new(&file, cli.backend, 3, crate::stages::registry()).unwrap();
            let line = at.job_line(&at.target(&build.selection).unwrap()).unwrap();
            let job = JobSpec { stage: "train_a".into(), threads: 2, forced: false, build_dir: "/tmp/b".into() };
            let text = line.argv(&job)[1..].join(" ");
            assert!(text.contains("--threads 2 --backend vulkan job train_a --profile smoke"), "{args:?}: {text}");
            assert!(text.ends_with("--build-dir /tmp/b --set train_a.epochs=2"), "{args:?}: {text}");
        }
    }
}
