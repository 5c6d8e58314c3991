//! `pipeline.toml` → a validated [`Pipeline`], in three steps kept apart:
//! read as written (`raw`), lowered to the pipeline's types (here, with
//! stage matrices expanded by `matrix`), and checked (`validate`). Every
//! check that can fail before a stage runs happens here, and each error
//! points at file:line:column.

mod matrix;
mod raw;
mod validate;

use crate::pipeline::{ConfigError, Located, Pipeline, Profile, StageDecl};
use crate::stage::KindRegistry;
use raw::{RawPipeline, RawProfile, RawStage, named_params, params_of};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use toml::Spanned;

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

    /// Validates `source`, the text of `file`.
    pub fn parse(file: &Path, source: String, kinds: &KindRegistry) -> Result<Pipeline, ConfigError> {
        let at = Located::new(file, &source);
        let raw = read(&at, &source)?;
        validate::kinds(&at, kinds, &raw)?;
        let stages = lower_stages(&at, raw.stages)?;
        let mut names: BTreeSet<String> = stages.iter().map(|s| s.name.clone()).collect();
        names.extend(stages.iter().filter_map(|s| s.matrix.as_ref().map(|(base, _)| base.clone())));
        validate::profile_targets(&at, &names, &raw.profiles)?;
        let default_profile = validate::default_profile(&at, raw.pipeline.default_profile, &raw.profiles)?;
        let root = match file.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let pipeline = Pipeline {
            file: file.to_path_buf(),
            store_dir: root.join(raw.pipeline.store.as_deref().unwrap_or("artifacts")),
            published_dir: root.join(raw.pipeline.published.as_deref().unwrap_or("artifacts/published")),
            root,
            default_profile,
            defaults: named_params(raw.defaults),
            stages,
            profiles: lower_profiles(raw.profiles),
            remote: raw.remote,
            resources: raw.resources.into_iter().map(|(k, v)| (k.into_inner(), v)).collect(),
            source,
        };
        validate::pipeline(&pipeline, kinds, &names)?;
        Ok(pipeline)
    }
}

fn read(at: &Located, source: &str) -> Result<RawPipeline, ConfigError> {
    toml::from_str(source).map_err(|e| {
        let hint = if e.message().contains("unknown field") {
            "remove or rename the key; README.md (pipeline.toml) lists the allowed keys"
        } else {
            "fix the TOML at this position"
        };
        at.error(e.span().unwrap_or(0..0), e.message().trim().to_string(), hint)
    })
}

/// The declared stages, each matrix as its members, in declaration order,
/// with dependencies on a matrix meaning all its members.
fn lower_stages(at: &Located, raw: BTreeMap<Spanned<String>, RawStage>) -> Result<Vec<StageDecl>, ConfigError> {
    let mut stages: Vec<StageDecl> = Vec::new();
    for (name, stage) in raw {
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
            resources: stage.resources.unwrap_or_default(),
        };
        match stage.matrix {
            Some(axes) => stages.extend(matrix::expand(at, decl, axes)?),
            None => stages.push(decl),
        }
    }
    stages.sort_by_key(|s| s.span.start);
    matrix::check_unique(at, &stages)?;
    matrix::expand_dependencies(&mut stages);
    Ok(stages)
}

fn lower_profiles(raw: BTreeMap<Spanned<String>, RawProfile>) -> BTreeMap<String, Profile> {
    raw.into_iter()
        .map(|(name, profile)| {
            let name = name.into_inner();
            let lowered = Profile {
                name: name.clone(),
                description: profile.description,
                verify_without_training: profile.verify_without_training,
                defaults: named_params(profile.defaults),
                stages: named_params(profile.stages),
            };
            (name, lowered)
        })
        .collect()
}
