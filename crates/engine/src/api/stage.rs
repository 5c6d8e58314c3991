//! What the engine asks of a stage kind, and what a running stage sees.

use crate::events::{Event, Progress, Reporter, Unit};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// A parameter problem found by a kind, naming the key where it can.
#[derive(Debug)]
pub struct ParamError {
    pub key: Option<String>,
    pub message: String,
}

/// One kind of stage (the domain registers these; the engine only calls them).
pub trait StageKind: Send + Sync {
    fn name(&self) -> &'static str;
    /// Modules (`stages::train`) whose closure of source files makes up
    /// this kind's code version (`code_version.rs` derives the closure).
    fn entry_modules(&self) -> &'static [&'static str];
    /// What a stage of this kind would compute on here (backend, kernel
    /// path, CPU level), when its numbers depend on it; part of the key.
    fn compute_path(&self) -> BTreeMap<String, String> {
        BTreeMap::new()
    }
    /// Checks the effective parameters before anything runs.
    fn check_params(&self, params: &toml::Table) -> Result<(), ParamError>;
    /// Checks the parameters against those of the stages it depends on
    /// (all ancestors, nearest first), e.g. a perplexity against the
    /// number of points its features stage samples.
    fn check_upstream(&self, _params: &toml::Table, _upstream: &[Upstream]) -> Result<(), ParamError> {
        Ok(())
    }
    /// One line describing the accepted parameters, for error hints.
    fn param_help(&self) -> String;
    /// Parameters whose values are paths (relative to the pipeline file):
    /// their content, not their spelling, goes into the fingerprint.
    fn file_params(&self, _params: &toml::Table) -> Vec<String> {
        Vec::new()
    }
    /// Parameters that only name a stage to its dependents (a model's
    /// label): kept out of this stage's key and outputs, so that two stages
    /// differing only in them are one computation, and handed to each
    /// dependent, whose key includes them.
    fn display_params(&self) -> &'static [&'static str] {
        &[]
    }
    /// Whether outputs mention the profile name (then it is fingerprinted).
    fn uses_profile_name(&self) -> bool {
        false
    }
    /// Rough duration on this machine, for the estimate printed before a
    /// build; `upstream` holds the parameters of the stages it depends on.
    fn estimate_seconds(&self, _params: &toml::Table, _upstream: &[&toml::Table], _threads: usize) -> f64 {
        1.0
    }
    fn run(&self, ctx: &StageContext) -> anyhow::Result<()>;
}

/// An ancestor's effective parameters, for `StageKind::check_upstream`.
pub struct Upstream<'a> {
    pub stage: &'a str,
    pub kind: &'a str,
    pub params: &'a toml::Table,
}

/// The first ancestor of `kind` whose parameters hold an integer `key`.
pub fn upstream_integer(upstream: &[Upstream], kind: &str, key: &str) -> Option<(String, i64)> {
    upstream.iter().filter(|u| u.kind == kind).find_map(|u| Some((u.stage.to_string(), u.params.get(key)?.as_integer()?)))
}

/// The stage kinds a pipeline may use.
#[derive(Default)]
pub struct KindRegistry {
    kinds: BTreeMap<String, Box<dyn StageKind>>,
}

impl KindRegistry {
    pub fn register(&mut self, kind: Box<dyn StageKind>) {
        self.kinds.insert(kind.name().to_string(), kind);
    }
    pub fn get(&self, name: &str) -> Option<&dyn StageKind> {
        self.kinds.get(name).map(|k| k.as_ref())
    }
    pub fn names(&self) -> impl Iterator<Item = &String> {
        self.kinds.keys()
    }
}

/// What the engine knows of an upstream stage, for provenance.
#[derive(Clone, Debug, serde::Serialize)]
pub struct UpstreamInfo {
    pub kind: String,
    pub fingerprint: String,
    /// Its display parameters (`StageKind::display_params`).
    pub display: toml::Table,
}

/// Everything a running stage may touch. It never sees the store itself.
pub struct StageContext {
    pub stage: String,
    pub profile: String,
    pub fingerprint: String,
    pub params: toml::Table,
    /// `dep stage -> output name -> verified object path`.
    pub inputs: BTreeMap<String, BTreeMap<String, PathBuf>>,
    /// File parameters resolved to real paths, and their content digests.
    pub files: BTreeMap<String, PathBuf>,
    pub file_digests: BTreeMap<String, String>,
    /// Every stage this one (transitively) depends on.
    pub upstream: BTreeMap<String, UpstreamInfo>,
    /// The pipeline's DAG in text form, for provenance.
    pub dag_text: String,
    /// Where outputs go: every file under it becomes a named output.
    pub out_dir: PathBuf,
    /// Survives an interrupted run of the same fingerprint; removed on success.
    pub checkpoint_dir: PathBuf,
    /// Shared downloads cache (resumable; content-checked by the stage).
    pub downloads_dir: PathBuf,
    pub threads: usize,
    /// Where progress and log lines go (the engine prints nothing).
    pub reporter: Arc<dyn Reporter>,
    /// Timings and rates: kept in the build record, never in an output,
    /// so they leave every fingerprint alone.
    pub measurements: Mutex<BTreeMap<String, f64>>,
}

impl StageContext {
    /// Path of `dep`'s output `name`, or an error naming both.
    pub fn input(&self, dep: &str, name: &str) -> anyhow::Result<&Path> {
        self.inputs
            .get(dep)
            .and_then(|outs| outs.get(name))
            .map(PathBuf::as_path)
            .ok_or_else(|| anyhow::anyhow!("stage `{}` needs output `{name}` of `{dep}`; add `{dep}` to its depends_on", self.stage))
    }

    /// Display parameter `key` of upstream stage `dep` (e.g. a model's label).
    pub fn display_of(&self, dep: &str, key: &str) -> Option<&str> {
        self.upstream.get(dep)?.display.get(key)?.as_str()
    }

    /// Typed parameters (already validated at load time).
    pub fn params<P: serde::de::DeserializeOwned>(&self) -> anyhow::Result<P> {
        typed_params(&self.params).map_err(|e| anyhow::anyhow!("stage `{}`: {}", self.stage, e.message))
    }

    /// A counter of items (batches, images, iterations).
    pub fn bar(&self, len: u64, what: &str) -> Progress {
        self.reporter.progress(&self.stage, len, what, Unit::Items)
    }

    /// A counter of bytes (downloads).
    pub fn byte_bar(&self, len: u64, what: &str) -> Progress {
        self.reporter.progress(&self.stage, len, what, Unit::Bytes)
    }

    /// Records a non-deterministic measurement (seconds, images/s).
    pub fn measure(&self, name: &str, value: f64) {
        self.measurements.lock().unwrap().insert(name.to_string(), value);
    }

    /// A line of progress that stays visible (and reaches logs).
    pub fn log(&self, line: impl AsRef<str>) {
        self.reporter.event(Event::Log { stage: self.stage.clone(), line: line.as_ref().to_string() });
    }
}

/// Deserializes a parameter table into a kind's typed parameters, naming
/// the offending key on failure.
pub fn typed_params<P: serde::de::DeserializeOwned>(table: &toml::Table) -> Result<P, ParamError> {
    let value = toml::Value::Table(table.clone());
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let message = e.inner().to_string();
        let key = if path == "." || path.is_empty() { backticked(&message) } else { Some(path) };
        ParamError { key, message }
    })
}

/// The first `name` in "unknown field `name`, expected ...".
fn backticked(message: &str) -> Option<String> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(message[start..start + len].to_string())
}
