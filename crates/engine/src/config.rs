//! `pipeline.toml` → typed [`Pipeline`]. Every check that can fail before a
//! stage runs happens here, and each error points at file:line:column.

use super::stage::{KindRegistry, ParamError, Upstream};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// A parameter table as written: each value keeps its position.
pub(crate) type RawParams = BTreeMap<Spanned<String>, Spanned<toml::Value>>;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPipeline {
    #[serde(default)]
    pipeline: RawSettings,
    #[serde(default)]
    defaults: BTreeMap<Spanned<String>, RawParams>,
    stages: BTreeMap<Spanned<String>, RawStage>,
    #[serde(default)]
    profiles: BTreeMap<Spanned<String>, RawProfile>,
    remote: Option<RemoteSettings>,
    /// `[resources.KIND]`: what a cluster job of that kind asks for.
    #[serde(default)]
    resources: BTreeMap<Spanned<String>, Resources>,
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

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    default_profile: Option<Spanned<String>>,
    store: Option<String>,
    /// Folder of the committed published numbers, `<profile>.json`.
    published: Option<String>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStage {
    kind: Spanned<String>,
    #[serde(default)]
    depends_on: Vec<Spanned<String>>,
    #[serde(default)]
    params: RawParams,
    description: Option<String>,
    export: Option<String>,
    /// `false`: cheap to rebuild, so `push` leaves its outputs out.
    push: Option<bool>,
    /// `{ key = [values] }`: one stage per combination (see `matrix`).
    matrix: Option<RawParams>,
    resources: Option<Resources>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    description: Option<String>,
    #[serde(default)]
    verify_without_training: bool,
    #[serde(default)]
    defaults: BTreeMap<Spanned<String>, RawParams>,
    #[serde(default)]
    stages: BTreeMap<Spanned<String>, RawParams>,
}

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
    source: String,
}

/// A configuration error with its position in the file and a hint.
#[derive(Debug)]
pub struct ConfigError {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    pub message: String,
    pub hint: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Line 0: an error about the file as a whole (it cannot be read).
        match self.line {
            0 => write!(f, "{}: {}", self.file.display(), self.message)?,
            _ => write!(f, "{}:{}:{}: {}", self.file.display(), self.line, self.column, self.message)?,
        }
        if !self.hint.is_empty() {
            write!(f, "\n  hint: {}", self.hint)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// A stage's effective parameters under one profile.
#[derive(Clone, Debug)]
pub struct Resolved {
    pub table: toml::Table,
    pub spans: BTreeMap<String, Range<usize>>,
}

pub(crate) struct Located<'a> {
    file: &'a Path,
    source: &'a str,
}

impl Located<'_> {
    pub(crate) fn error(&self, span: Range<usize>, message: impl Into<String>, hint: impl Into<String>) -> ConfigError {
        let (line, column) = line_column(self.source, span.start);
        ConfigError { file: self.file.to_path_buf(), line, column, message: message.into(), hint: hint.into() }
    }
}

/// A parameter error's message on one line: the TOML deserializer ends
/// some with a line break and `in `key``.
pub fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// 1-based line and column of a byte offset.
pub fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let before = &source[..offset.min(source.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

fn params_of(raw: RawParams) -> Params {
    raw.into_iter()
        .map(|(k, v)| {
            let span = v.span();
            (k.into_inner(), Param { value: v.into_inner(), span })
        })
        .collect()
}

fn named_params(raw: BTreeMap<Spanned<String>, RawParams>) -> BTreeMap<String, Params> {
    raw.into_iter().map(|(k, v)| (k.into_inner(), params_of(v))).collect()
}

impl Pipeline {
    /// Reads and validates `file`; stage kinds and their parameters are
    /// checked against `kinds`.
    pub fn load(file: &Path, kinds: &KindRegistry) -> Result<Pipeline, ConfigError> {
        let source = std::fs::read_to_string(file).map_err(|e| ConfigError {
            file: file.to_path_buf(),
            line: 0,
            column: 0,
            message: match e.kind() {
                std::io::ErrorKind::NotFound => "no such pipeline file".to_string(),
                _ => format!("cannot read the pipeline file: {e}"),
            },
            hint: "run repro from the project folder or pass --pipeline FILE".into(),
        })?;
        Self::parse(file, source, kinds)
    }

    pub fn parse(file: &Path, source: String, kinds: &KindRegistry) -> Result<Pipeline, ConfigError> {
        let at = Located { file, source: &source };
        let raw: RawPipeline = toml::from_str(&source).map_err(|e| {
            let hint = if e.message().contains("unknown field") {
                "remove or rename the key; README.md (pipeline.toml) lists the allowed keys"
            } else {
                "fix the TOML at this position"
            };
            at.error(e.span().unwrap_or(0..0), e.message().trim().to_string(), hint)
        })?;
        let mut stages: Vec<StageDecl> = Vec::new();
        for (name, stage) in raw.stages {
            check_kind(&at, kinds, &stage.kind)?;
            let matrix = stage.matrix.clone();
            let decl = StageDecl {
                span: name.span(),
                name: name.into_inner(),
                kind: stage.kind.get_ref().clone(),
                depends_on: stage.depends_on.iter().map(|d| d.get_ref().clone()).collect(),
                depends_spans: stage.depends_on.iter().map(Spanned::span).collect(),
                params: params_of(stage.params),
                description: stage.description,
                export: stage.export,
                push: stage.push.unwrap_or(true),
                matrix: None,
                resources: stage.resources.clone().unwrap_or_default(),
            };
            match matrix {
                Some(axes) => stages.extend(crate::matrix::expand(&at, decl, axes)?),
                None => stages.push(decl),
            }
        }
        stages.sort_by_key(|s| s.span.start);
        crate::matrix::check_unique(&at, &stages)?;
        crate::matrix::expand_dependencies(&mut stages);
        let mut names: BTreeSet<String> = stages.iter().map(|s| s.name.clone()).collect();
        names.extend(stages.iter().filter_map(|s| s.matrix.as_ref().map(|(base, _)| base.clone())));
        let mut profiles = BTreeMap::new();
        for (name, profile) in raw.profiles {
            check_profile_targets(&at, kinds, &names, &profile)?;
            let p = Profile {
                name: name.get_ref().clone(),
                description: profile.description,
                verify_without_training: profile.verify_without_training,
                defaults: named_params(profile.defaults),
                stages: named_params(profile.stages),
            };
            profiles.insert(name.into_inner(), p);
        }
        for kind in raw.defaults.keys().chain(raw.resources.keys()) {
            check_kind(&at, kinds, kind)?;
        }
        let default_profile = match raw.pipeline.default_profile {
            Some(p) if !profiles.contains_key(p.get_ref()) => {
                return Err(at.error(p.span(), format!("unknown profile `{}`", p.get_ref()), known("profiles", profiles.keys())));
            }
            Some(p) => p.into_inner(),
            None => profiles.keys().next().cloned().unwrap_or_default(),
        };
        let root = file.parent().map(Path::to_path_buf).unwrap_or_default();
        let root = if root.as_os_str().is_empty() { PathBuf::from(".") } else { root };
        let store_dir = root.join(raw.pipeline.store.as_deref().unwrap_or("artifacts"));
        let published_dir = root.join(raw.pipeline.published.as_deref().unwrap_or("artifacts/published"));
        let pipeline = Pipeline {
            file: file.to_path_buf(),
            root,
            store_dir,
            published_dir,
            default_profile,
            defaults: named_params(raw.defaults),
            stages,
            profiles,
            remote: raw.remote,
            resources: raw.resources.into_iter().map(|(k, v)| (k.into_inner(), v)).collect(),
            source,
        };
        pipeline.check_dependencies(&names.iter().filter(|n| pipeline.stage(n).is_some()).cloned().collect())?;
        pipeline.check_cycles()?;
        pipeline.check_params(kinds)?;
        Ok(pipeline)
    }

    fn at(&self) -> Located<'_> {
        Located { file: &self.file, source: &self.source }
    }

    /// An error at `span` of the pipeline file, with file:line:column.
    pub(crate) fn located_error(&self, span: Range<usize>, message: String, hint: String) -> ConfigError {
        self.at().error(span, message, hint)
    }

    fn check_dependencies(&self, names: &BTreeSet<String>) -> Result<(), ConfigError> {
        for stage in &self.stages {
            for (dep, span) in stage.depends_on.iter().zip(&stage.depends_spans) {
                if !names.contains(dep) {
                    return Err(self.at().error(
                        span.clone(),
                        format!("stage `{}` depends on `{dep}`, which is not declared", stage.name),
                        format!("declare [stages.{dep}] or fix the name; {}", known("stages", names.iter())),
                    ));
                }
                if dep == &stage.name {
                    return Err(self.at().error(
                        stage.span.clone(),
                        format!("stage `{dep}` depends on itself"),
                        "remove it from its own depends_on",
                    ));
                }
            }
        }
        Ok(())
    }

    fn check_cycles(&self) -> Result<(), ConfigError> {
        let edges: Vec<(&str, &[String])> = self.stages.iter().map(|s| (s.name.as_str(), s.depends_on.as_slice())).collect();
        if let Some(cycle) = super::cycle::find_cycle(&edges) {
            let first = self.stage(&cycle[0]).expect("cycle names declared stages");
            return Err(self.at().error(
                first.span.clone(),
                format!("dependency cycle: {}", cycle.join(" -> ")),
                "remove one of these depends_on entries",
            ));
        }
        Ok(())
    }

    fn check_params(&self, kinds: &KindRegistry) -> Result<(), ConfigError> {
        let mut profile_names: Vec<Option<&str>> = vec![None];
        profile_names.extend(self.profiles.keys().map(|p| Some(p.as_str())));
        for profile in profile_names {
            for stage in &self.stages {
                let resolved = self.resolve_params(stage, profile);
                let kind = kinds.get(&stage.kind).expect("kinds checked at parse");
                if let Err(e) =
                    kind.check_params(&resolved.table).and_then(|()| self.check_upstream(kinds, stage, profile, &resolved.table))
                {
                    let span = e.key.as_ref().and_then(|k| resolved.spans.get(k).cloned()).unwrap_or(stage.span.clone());
                    let scope = profile.map(|p| format!(" (profile `{p}`)")).unwrap_or_default();
                    let key = e.key.map(|k| format!(".{k}")).unwrap_or_default();
                    return Err(self.at().error(
                        span,
                        format!("stage `{}`{scope}: params{key}: {}", stage.name, one_line(&e.message)),
                        format!("parameters of kind `{}`: {}", stage.kind, kind.param_help()),
                    ));
                }
            }
        }
        Ok(())
    }

    fn check_upstream(
        &self,
        kinds: &KindRegistry,
        stage: &StageDecl,
        profile: Option<&str>,
        params: &toml::Table,
    ) -> Result<(), ParamError> {
        let ancestors: Vec<(String, String, toml::Table)> = crate::dag::ancestors(self, &stage.name)
            .into_iter()
            .rev()
            .map(|a| {
                let decl = self.stage(&a).expect("ancestors are declared");
                (a, decl.kind.clone(), self.resolve_params(decl, profile).table)
            })
            .collect();
        let upstream: Vec<Upstream> = ancestors.iter().map(|(s, k, p)| Upstream { stage: s, kind: k, params: p }).collect();
        kinds.get(&stage.kind).expect("kinds checked at parse").check_upstream(params, &upstream)
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

    /// Effective parameters: kind defaults < stage params < profile kind
    /// defaults < profile stage params (a matrix's, then its member's) <
    /// matrix values.
    pub fn resolve_params(&self, stage: &StageDecl, profile: Option<&str>) -> Resolved {
        let mut resolved = Resolved { table: toml::Table::new(), spans: BTreeMap::new() };
        let mut layer = |params: Option<&Params>| {
            for (k, p) in params.into_iter().flatten() {
                resolved.table.insert(k.clone(), p.value.clone());
                resolved.spans.insert(k.clone(), p.span.clone());
            }
        };
        layer(self.defaults.get(&stage.kind));
        layer(Some(&stage.params));
        let base = stage.matrix.as_ref().map(|(base, _)| base);
        if let Some(p) = profile.and_then(|p| self.profiles.get(p)) {
            layer(p.defaults.get(&stage.kind));
            layer(base.and_then(|b| p.stages.get(b)));
            layer(p.stages.get(&stage.name));
        }
        layer(stage.matrix.as_ref().map(|(_, values)| values));
        resolved
    }
}

fn check_kind(at: &Located, kinds: &KindRegistry, kind: &Spanned<String>) -> Result<(), ConfigError> {
    if kinds.get(kind.get_ref()).is_none() {
        return Err(at.error(kind.span(), format!("unknown stage kind `{}`", kind.get_ref()), known("kinds", kinds.names())));
    }
    Ok(())
}

fn check_profile_targets(at: &Located, kinds: &KindRegistry, names: &BTreeSet<String>, profile: &RawProfile) -> Result<(), ConfigError> {
    for stage in profile.stages.keys() {
        if !names.contains(stage.get_ref()) {
            return Err(at.error(
                stage.span(),
                format!("profile overrides unknown stage `{}`", stage.get_ref()),
                known("stages", names.iter()),
            ));
        }
    }
    for kind in profile.defaults.keys() {
        check_kind(at, kinds, kind)?;
    }
    Ok(())
}

fn known<'a>(what: &str, items: impl Iterator<Item = &'a String>) -> String {
    let list: Vec<&str> = items.map(String::as_str).collect();
    format!("known {what}: {}", list.join(", "))
}
