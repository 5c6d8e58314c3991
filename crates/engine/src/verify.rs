//! Published numbers: stages may output `numbers.json` (a flat map of
//! metric -> number); a committed file per profile records the numbers a
//! build produced with a tolerance each, and `verify` checks a fresh build
//! against it.

use super::record::BuildRecord;
use super::store::Store;
use crate::pipeline::Pipeline;
use anyhow::Context;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const NUMBERS: &str = "numbers.json";

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Published {
    pub value: f64,
    pub tolerance: f64,
}

#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct PublishedFile {
    pub profile: String,
    /// The compute path the numbers were recorded on (backend, kernel
    /// paths, CPU level): numbers from another path are not comparable.
    #[serde(default)]
    pub compute: BTreeMap<String, String>,
    pub numbers: BTreeMap<String, Published>,
}

/// One row of the verify table.
#[derive(Clone, Debug)]
pub struct Check {
    pub metric: String,
    pub published: Option<Published>,
    pub now: Option<f64>,
}

impl Check {
    pub fn ok(&self) -> bool {
        match (&self.published, self.now) {
            (Some(p), Some(n)) => (p.value - n).abs() <= p.tolerance,
            _ => false,
        }
    }
}

/// The published numbers of `profile`, in the pipeline's `published` folder.
pub fn published_path(pipeline: &Pipeline, profile: &str) -> PathBuf {
    pipeline.published_dir.join(format!("{profile}.json"))
}

/// Where the numbers of `profile` recorded on `compute` live: the file
/// among `<profile>.json` and `<profile>.<tag>.json` that names this
/// compute path, else (for `--update`) `<profile>.json` when there is none
/// yet and `<profile>.<tag>.json` beside it otherwise.
pub fn record_for(
    pipeline: &Pipeline,
    profile: &str,
    compute: &BTreeMap<String, String>,
) -> anyhow::Result<(PathBuf, Option<PublishedFile>)> {
    let records = published_records(pipeline, profile)?;
    if let Some((path, file)) = records.iter().find(|(_, f)| f.compute == *compute) {
        return Ok((path.clone(), Some(file.clone())));
    }
    let main = published_path(pipeline, profile);
    let path = if main.exists() { pipeline.published_dir.join(format!("{profile}.{}.json", compute_tag(compute))) } else { main };
    Ok((path, None))
}

/// Every published record of `profile`, with its file.
pub fn published_records(pipeline: &Pipeline, profile: &str) -> anyhow::Result<Vec<(PathBuf, PublishedFile)>> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(&pipeline.published_dir) else { return Ok(out) };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let ours = name == format!("{profile}.json")
            || name.strip_prefix(&format!("{profile}.")).is_some_and(|rest| rest.ends_with(".json") && !rest.contains('/'));
        if ours && path.is_file() {
            let file = load_published(&path)?;
            if file.profile == profile {
                out.push((path, file));
            }
        }
    }
    Ok(out)
}

/// A compute path in a file name: its values joined, e.g.
/// `flex-im2col-gemm-x86-64-v3-portable-portable` (keys in sorted order).
pub fn compute_tag(compute: &BTreeMap<String, String>) -> String {
    let words: Vec<&str> = compute.values().map(String::as_str).collect();
    words.join("-").chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect()
}

/// `conv direct-avx512, cpu x86-64-v4, ...`, for messages.
pub fn describe_compute(compute: &BTreeMap<String, String>) -> String {
    if compute.is_empty() {
        return "(not recorded)".into();
    }
    compute.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ")
}

/// Every `numbers.json` output of the profile's last build, merged.
pub fn current_numbers(store: &Store, profile: &str) -> anyhow::Result<BTreeMap<String, f64>> {
    current_numbers_except(store, profile, &[])
}

/// `current_numbers` without those of the stages `unbuilt` (a partial
/// build's: their record entries, if any, are stale).
pub fn current_numbers_except(store: &Store, profile: &str, unbuilt: &[String]) -> anyhow::Result<BTreeMap<String, f64>> {
    let record = BuildRecord::load(store.root(), profile)?;
    let mut numbers = BTreeMap::new();
    for (_, stage) in record.stages.iter().filter(|(name, _)| !unbuilt.contains(name)) {
        if let Some(object) = stage.outputs.get(NUMBERS) {
            let path = store.object_path(&object.sha256);
            let map: BTreeMap<String, f64> =
                serde_json::from_slice(&std::fs::read(&path)?).with_context(|| format!("{}: bad numbers file", path.display()))?;
            numbers.extend(map);
        }
    }
    Ok(numbers)
}

pub fn load_published(path: &Path) -> anyhow::Result<PublishedFile> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("no published numbers at {}; run `repro verify --update` to record them", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("{}: not a published-numbers file", path.display()))
}

/// Published against current, one row per metric in either.
pub fn compare(published: &PublishedFile, now: &BTreeMap<String, f64>) -> Vec<Check> {
    let mut metrics: Vec<&String> = published.numbers.keys().chain(now.keys()).collect();
    metrics.sort();
    metrics.dedup();
    metrics
        .into_iter()
        .map(|m| Check { metric: m.clone(), published: published.numbers.get(m).cloned(), now: now.get(m).copied() })
        .collect()
}

/// A published file from current numbers; `tolerance` gives each metric's.
pub fn publish(
    profile: &str,
    compute: &BTreeMap<String, String>,
    now: &BTreeMap<String, f64>,
    tolerance: impl Fn(&str) -> f64,
) -> PublishedFile {
    PublishedFile {
        profile: profile.to_string(),
        compute: compute.clone(),
        numbers: now.iter().map(|(k, v)| (k.clone(), Published { value: *v, tolerance: tolerance(k) })).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drift_beyond_tolerance_fails_and_missing_metrics_fail() {
        let now = BTreeMap::from([("a.acc".to_string(), 0.81), ("b.acc".to_string(), 0.5)]);
        let mut published = publish("p", &BTreeMap::new(), &now, |_| 0.01);
        assert!(compare(&published, &now).iter().all(Check::ok));
        published.numbers.get_mut("a.acc").unwrap().value = 0.83;
        published.numbers.insert("c.acc".into(), Published { value: 1.0, tolerance: 0.0 });
        let checks = compare(&published, &now);
        let bad: Vec<&str> = checks.iter().filter(|c| !c.ok()).map(|c| c.metric.as_str()).collect();
        assert_eq!(bad, vec!["a.acc", "c.acc"]);
    }
}
