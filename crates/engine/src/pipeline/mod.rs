//! The validated pipeline: its stages (matrices expanded), profiles, and
//! each kind's defaults and cluster resources. `config` makes one from
//! `pipeline.toml` (`Pipeline::load`) after every check has passed, so
//! code that holds a `Pipeline` never meets an undeclared stage or kind.

mod error;
mod resolve;

pub use error::{ConfigError, line_column, one_line};
pub(crate) use error::{Located, known};
pub use resolve::Resolved;

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::PathBuf;

/// One parameter value and where it was written.
#[derive(Clone, Debug)]
pub struct Param {
    pub value: toml::Value,
    pub span: Range<usize>,
}

pub type Params = BTreeMap<String, Param>;

#[derive(Clone, Debug)]
pub struct StageDecl {
    pub name: String,
    pub kind: String,
    pub depends_on: Vec<String>,
    /// Where each `depends_on` entry was written.
    pub depends_spans: Vec<Range<usize>>,
    pub params: Params,
    pub description: Option<String>,
    /// Folder (relative to the pipeline file, `{profile}` expanded) that
    /// receives a copy of this stage's outputs after a build.
    pub export: Option<String>,
    /// Whether `push` uploads its outputs (`push = false`: cheap to
    /// rebuild, e.g. the dataset; its run entry still goes, so dependents'
    /// keys can be computed elsewhere).
    pub push: bool,
    pub span: Range<usize>,
    /// For a member of a stage matrix: the matrix's name
    /// (`train_center` for `train_center@seed=1`) and its values, which
    /// win over every other layer of parameters.
    pub matrix: Option<(String, Params)>,
    /// Its cluster job's own resources (over its kind's `[resources.KIND]`).
    pub resources: Resources,
}

#[derive(Clone, Debug, Default)]
pub struct Profile {
    pub name: String,
    pub description: Option<String>,
    /// `repro verify` restores trained stages and never trains: one that
    /// is not published yet is listed as not built, with what needs it
    /// (for a profile whose trainings are published one at a time).
    pub verify_without_training: bool,
    pub defaults: BTreeMap<String, Params>,
    pub stages: BTreeMap<String, Params>,
}

/// What one stage's cluster job asks the scheduler for (`--executor
/// slurm`); a stage's own `resources` win over its kind's, key by key.
#[derive(serde::Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    /// CPU cores; the job runs repro with as many threads.
    pub cpus: Option<u32>,
    /// Memory, as Slurm writes it: `4G`, `500M`.
    pub memory: Option<String>,
    pub gpus: Option<u32>,
    /// Time limit, as Slurm writes it: `30`, `2:00:00`, `1-00:00:00`.
    pub time: Option<String>,
    pub partition: Option<String>,
}

impl Resources {
    /// `self`, with `base`'s value where `self` has none.
    pub fn over(&self, base: &Resources) -> Resources {
        Resources {
            cpus: self.cpus.or(base.cpus),
            memory: self.memory.clone().or_else(|| base.memory.clone()),
            gpus: self.gpus.or(base.gpus),
            time: self.time.clone().or_else(|| base.time.clone()),
            partition: self.partition.clone().or_else(|| base.partition.clone()),
        }
    }
}

/// `[remote]`: the remote cache builds consult and `push` / `pull` use
/// when no `--remote` is given.
#[derive(serde::Deserialize, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct RemoteSettings {
    /// `s3://bucket/prefix`, `file:///path`, or a folder (relative to the
    /// pipeline file).
    pub url: String,
    /// An S3-compatible server, e.g. `http://127.0.0.1:9000`.
    pub endpoint: Option<String>,
    pub region: Option<String>,
    /// A profile of the shared AWS credentials file.
    pub profile: Option<String>,
}

/// A validated pipeline. Stages are in declaration order.
#[derive(Debug)]
pub struct Pipeline {
    pub file: PathBuf,
    pub root: PathBuf,
    pub store_dir: PathBuf,
    /// Where `verify` finds `<profile>.json` (`[pipeline] published`).
    pub published_dir: PathBuf,
    pub default_profile: String,
    pub defaults: BTreeMap<String, Params>,
    pub stages: Vec<StageDecl>,
    pub profiles: BTreeMap<String, Profile>,
    pub remote: Option<RemoteSettings>,
    pub resources: BTreeMap<String, Resources>,
    /// The file's text, for errors found after loading (`located_error`).
    pub(crate) source: String,
}

impl Pipeline {
    pub(crate) fn at(&self) -> Located<'_> {
        Located::new(&self.file, &self.source)
    }

    /// An error at `span` of the pipeline file, with file:line:column.
    pub(crate) fn located_error(&self, span: Range<usize>, message: String, hint: String) -> ConfigError {
        self.at().error(span, message, hint)
    }

    /// What `stage`'s cluster job asks for: its own, then its kind's.
    pub fn resources_of(&self, stage: &StageDecl) -> Resources {
        stage.resources.over(&self.resources.get(&stage.kind).cloned().unwrap_or_default())
    }

    pub fn stage(&self, name: &str) -> Option<&StageDecl> {
        self.stages.iter().find(|s| s.name == name)
    }

    /// The profile named `name`, or an error listing the known ones.
    pub fn profile(&self, name: &str) -> anyhow::Result<&Profile> {
        self.profiles.get(name).ok_or_else(|| {
            anyhow::anyhow!("unknown profile `{name}` (not in {}); {}", self.file.display(), known("profiles", self.profiles.keys()))
        })
    }
}
