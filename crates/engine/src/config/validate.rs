//! The checks a pipeline passes before anything runs: names (kinds,
//! stages, profiles) on the file as written, then the lowered pipeline's
//! dependencies, cycles and every stage's parameters under every profile.

use super::raw::{RawPipeline, RawProfile};
use crate::pipeline::{ConfigError, Located, Pipeline, StageDecl, known, one_line};
use crate::stage::{KindRegistry, ParamError, Upstream};
use std::collections::{BTreeMap, BTreeSet};
use toml::Spanned;

/// Every kind named (by a stage, a `[defaults.KIND]`, a
/// `[resources.KIND]` or a profile's defaults) is registered.
pub(super) fn kinds(at: &Located, kinds: &KindRegistry, raw: &RawPipeline) -> Result<(), ConfigError> {
    let named = raw.stages.values().map(|s| &s.kind);
    let named = named.chain(raw.defaults.keys()).chain(raw.resources.keys());
    for kind in named.chain(raw.profiles.values().flat_map(|p| p.defaults.keys())) {
        check_kind(at, kinds, kind)?;
    }
    Ok(())
}

fn check_kind(at: &Located, kinds: &KindRegistry, kind: &Spanned<String>) -> Result<(), ConfigError> {
    if kinds.get(kind.get_ref()).is_none() {
        return Err(at.error(kind.span(), format!("unknown stage kind `{}`", kind.get_ref()), known("kinds", kinds.names())));
    }
    Ok(())
}

/// Each profile overrides only declared stages (or matrices).
pub(super) fn profile_targets(
    at: &Located,
    names: &BTreeSet<String>,
    profiles: &BTreeMap<Spanned<String>, RawProfile>,
) -> Result<(), ConfigError> {
    for stage in profiles.values().flat_map(|p| p.stages.keys()) {
        if !names.contains(stage.get_ref()) {
            return Err(at.error(
                stage.span(),
                format!("profile overrides unknown stage `{}`", stage.get_ref()),
                known("stages", names.iter()),
            ));
        }
    }
    Ok(())
}

/// `[pipeline] default_profile`, which must be declared; else the first
/// profile by name.
pub(super) fn default_profile(
    at: &Located,
    named: Option<Spanned<String>>,
    profiles: &BTreeMap<Spanned<String>, RawProfile>,
) -> Result<String, ConfigError> {
    match named {
        Some(p) if !profiles.keys().any(|d| d.get_ref() == p.get_ref()) => {
            let names: Vec<String> = profiles.keys().map(|k| k.get_ref().clone()).collect();
            Err(at.error(p.span(), format!("unknown profile `{}`", p.get_ref()), known("profiles", names.iter())))
        }
        Some(p) => Ok(p.into_inner()),
        None => Ok(profiles.keys().next().map(|k| k.get_ref().clone()).unwrap_or_default()),
    }
}

/// The lowered pipeline's dependencies, cycles and parameters.
pub(super) fn pipeline(pipeline: &Pipeline, kinds: &KindRegistry, names: &BTreeSet<String>) -> Result<(), ConfigError> {
    let declared: BTreeSet<String> = names.iter().filter(|n| pipeline.stage(n).is_some()).cloned().collect();
    dependencies(pipeline, &declared)?;
    cycles(pipeline)?;
    params(pipeline, kinds)
}

fn dependencies(pipeline: &Pipeline, names: &BTreeSet<String>) -> Result<(), ConfigError> {
    for stage in &pipeline.stages {
        for (dep, span) in stage.depends_on.iter().zip(&stage.depends_spans) {
            if !names.contains(dep) {
                return Err(pipeline.at().error(
                    span.clone(),
                    format!("stage `{}` depends on `{dep}`, which is not declared", stage.name),
                    format!("declare [stages.{dep}] or fix the name; {}", known("stages", names.iter())),
                ));
            }
            if dep == &stage.name {
                return Err(pipeline.at().error(
                    stage.span.clone(),
                    format!("stage `{dep}` depends on itself"),
                    "remove it from its own depends_on",
                ));
            }
        }
    }
    Ok(())
}

fn cycles(pipeline: &Pipeline) -> Result<(), ConfigError> {
    let edges: Vec<(&str, &[String])> = pipeline.stages.iter().map(|s| (s.name.as_str(), s.depends_on.as_slice())).collect();
    if let Some(cycle) = crate::cycle::find_cycle(&edges) {
        let first = pipeline.stage(&cycle[0]).expect("cycle names declared stages");
        return Err(pipeline.at().error(
            first.span.clone(),
            format!("dependency cycle: {}", cycle.join(" -> ")),
            "remove one of these depends_on entries",
        ));
    }
    Ok(())
}

/// Every stage's parameters, without a profile and under each profile,
/// pass its kind's checks, its own and against its upstream stages'.
fn params(pipeline: &Pipeline, kinds: &KindRegistry) -> Result<(), ConfigError> {
    let mut profile_names: Vec<Option<&str>> = vec![None];
    profile_names.extend(pipeline.profiles.keys().map(|p| Some(p.as_str())));
    for profile in profile_names {
        for stage in &pipeline.stages {
            let resolved = pipeline.resolve_params(stage, profile);
            let kind = kinds.get(&stage.kind).expect("kinds checked before lowering");
            let checked = kind.check_params(&resolved.table).and_then(|()| upstream(pipeline, kinds, stage, profile, &resolved.table));
            if let Err(e) = checked {
                let span = e.key.as_ref().and_then(|k| resolved.spans.get(k).cloned()).unwrap_or(stage.span.clone());
                let scope = profile.map(|p| format!(" (profile `{p}`)")).unwrap_or_default();
                let key = e.key.map(|k| format!(".{k}")).unwrap_or_default();
                return Err(pipeline.at().error(
                    span,
                    format!("stage `{}`{scope}: params{key}: {}", stage.name, one_line(&e.message)),
                    format!("parameters of kind `{}`: {}", stage.kind, kind.param_help()),
                ));
            }
        }
    }
    Ok(())
}

fn upstream(
    pipeline: &Pipeline,
    kinds: &KindRegistry,
    stage: &StageDecl,
    profile: Option<&str>,
    params: &toml::Table,
) -> Result<(), ParamError> {
    let ancestors = crate::dag::upstream_tables(pipeline, &stage.name, |decl| pipeline.resolve_params(decl, profile).table);
    let upstream: Vec<Upstream> = ancestors.iter().map(|(s, k, p)| Upstream { stage: s, kind: k, params: p }).collect();
    kinds.get(&stage.kind).expect("kinds checked before lowering").check_upstream(params, &upstream)
}
