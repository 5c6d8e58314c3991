//! Stage matrices: `matrix = { seed = [0, 1, 2], center_weight = [0.0, 0.01] }`
//! on a stage declares one stage per combination, named
//! `train_center@seed=1,center_weight=0.01` (axes in the order written),
//! whose parameters are the stage's with the combination's values on top.
//! A `depends_on` naming the matrix means every member of it.

use super::raw::RawParams;
use crate::pipeline::{ConfigError, Located, Param, Params, StageDecl};
use std::collections::BTreeSet;

/// The members of `decl`'s matrix `axes`, in row-major order of the axes.
pub(crate) fn expand(at: &Located, decl: StageDecl, axes: RawParams) -> Result<Vec<StageDecl>, ConfigError> {
    let mut axes: Vec<_> = axes.into_iter().collect();
    axes.sort_by_key(|(key, _)| key.span().start);
    let mut rows: Vec<Vec<(String, Param)>> = vec![Vec::new()];
    for (key, values) in &axes {
        let list = axis_values(at, &decl.name, key.get_ref(), values)?;
        rows = rows
            .into_iter()
            .flat_map(|row| {
                list.iter().map(move |v| {
                    let mut row = row.clone();
                    row.push((key.get_ref().clone(), Param { value: v.clone(), span: values.span() }));
                    row
                })
            })
            .collect();
    }
    if axes.is_empty() {
        return Err(at.error(decl.span.clone(), format!("stage `{}`: matrix has no axes", decl.name), "write matrix = { key = [values] }"));
    }
    Ok(rows.into_iter().map(|row| member(&decl, row)).collect())
}

fn axis_values(at: &Located, stage: &str, key: &str, values: &toml::Spanned<toml::Value>) -> Result<Vec<toml::Value>, ConfigError> {
    let hint = "write the axis as a list of numbers, strings or booleans, e.g. seed = [0, 1, 2]";
    let Some(list) = values.get_ref().as_array() else {
        return Err(at.error(values.span(), format!("stage `{stage}`: matrix.{key} must be a list of values"), hint));
    };
    if list.is_empty() {
        return Err(at.error(values.span(), format!("stage `{stage}`: matrix.{key} has no values"), hint));
    }
    if let Some(bad) = list.iter().find(|v| v.is_array() || v.is_table() || v.is_datetime()) {
        return Err(at.error(values.span(), format!("stage `{stage}`: matrix.{key} holds `{bad}`, which cannot name a stage"), hint));
    }
    Ok(list.clone())
}

fn member(decl: &StageDecl, row: Vec<(String, Param)>) -> StageDecl {
    let label: Vec<String> = row.iter().map(|(k, p)| format!("{k}={}", value_text(&p.value))).collect();
    let values: Params = row.into_iter().collect();
    StageDecl { name: format!("{}@{}", decl.name, label.join(",")), matrix: Some((decl.name.clone(), values)), ..decl.clone() }
}

/// A value as it appears in a member's name: strings without quotes.
fn value_text(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Two members with one name (a value listed twice) are an error.
pub(crate) fn check_unique(at: &Located, stages: &[StageDecl]) -> Result<(), ConfigError> {
    let mut seen = BTreeSet::new();
    for stage in stages {
        if !seen.insert(stage.name.as_str()) {
            return Err(at.error(
                stage.span.clone(),
                format!("stage `{}` is declared twice (a matrix lists one value twice, or a stage has a member's name)", stage.name),
                "list each matrix value once",
            ));
        }
    }
    Ok(())
}

/// Replaces each dependency on a matrix by dependencies on all its members.
pub(crate) fn expand_dependencies(stages: &mut [StageDecl]) {
    let members = |base: &str, stages: &[StageDecl]| -> Vec<String> {
        stages.iter().filter(|s| s.matrix.as_ref().is_some_and(|(b, _)| b == base)).map(|s| s.name.clone()).collect()
    };
    let expanded: Vec<(Vec<String>, Vec<std::ops::Range<usize>>)> = stages
        .iter()
        .map(|stage| {
            let mut deps = Vec::new();
            let mut spans = Vec::new();
            for (dep, span) in stage.depends_on.iter().zip(&stage.depends_spans) {
                let of = members(dep, stages);
                let names = if of.is_empty() { vec![dep.clone()] } else { of };
                spans.extend(std::iter::repeat_n(span.clone(), names.len()));
                deps.extend(names);
            }
            (deps, spans)
        })
        .collect();
    for (stage, (deps, spans)) in stages.iter_mut().zip(expanded) {
        stage.depends_on = deps;
        stage.depends_spans = spans;
    }
}
