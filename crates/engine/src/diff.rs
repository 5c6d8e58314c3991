//! `repro diff`: the parameters and numbers of two builds side by side
//! (like `dvc params diff` and `dvc metrics diff`): profiles' build
//! records, or a profile's published numbers.

use super::record::BuildRecord;
use super::store::Store;
use super::verify;
use crate::pipeline::Pipeline;
use std::collections::BTreeMap;

/// One side: a name, its parameters as `stage.key -> value`, its numbers.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Side {
    pub name: String,
    pub params: BTreeMap<String, String>,
    pub numbers: BTreeMap<String, f64>,
}

/// A row where the sides differ (or every row, with `all`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Row<T> {
    pub key: String,
    pub a: Option<T>,
    pub b: Option<T>,
}

/// A built profile: its record's parameters and its report's numbers.
pub fn built(store: &Store, profile: &str) -> anyhow::Result<Side> {
    let record = BuildRecord::load(store.root(), profile)?;
    anyhow::ensure!(!record.stages.is_empty(), "profile `{profile}` has no build record here; build it first");
    let mut params = BTreeMap::new();
    for (stage, built) in &record.stages {
        super::fingerprint::flatten(stage, &built.params, &mut params);
    }
    Ok(Side { name: profile.to_string(), params, numbers: verify::current_numbers(store, profile)? })
}

/// A profile's published numbers for `compute` (no parameters are published).
pub fn published(pipeline: &Pipeline, profile: &str, compute: &BTreeMap<String, String>) -> anyhow::Result<Side> {
    let (path, file) = verify::record_for(pipeline, profile, compute)?;
    let file = file.ok_or_else(|| {
        anyhow::anyhow!(
            "no published numbers of `{profile}` for this compute path ({}); not at {}",
            verify::describe_compute(compute),
            path.display()
        )
    })?;
    let numbers = file.numbers.into_iter().map(|(k, p)| (k, p.value)).collect();
    Ok(Side { name: format!("published:{profile}"), params: BTreeMap::new(), numbers })
}

/// Rows of `a` against `b`: those that differ, or all with `all`.
pub fn rows<T: Clone + PartialEq>(a: &BTreeMap<String, T>, b: &BTreeMap<String, T>, all: bool) -> Vec<Row<T>> {
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter().map(|k| Row { key: k.clone(), a: a.get(k).cloned(), b: b.get(k).cloned() }).filter(|r| all || r.a != r.b).collect()
}
