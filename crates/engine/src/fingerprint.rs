//! A stage's fingerprint: sha256 over its kind, code version, environment
//! (crates, compiler, compute path), canonical parameters and the digests
//! of its inputs. No paths, no clocks.

use super::hashing::sha256_hex;
use super::reason::{Change, Reason};
use super::record::Environment;
pub use crate::key::Fingerprint;
use std::collections::BTreeMap;

/// Parameters as canonical JSON (sorted keys), with file parameters
/// already replaced by their content digests.
pub fn canonical_params(table: &toml::Table, file_digests: &BTreeMap<String, String>) -> serde_json::Value {
    let mut value = serde_json::to_value(table).expect("TOML values convert to JSON");
    if let serde_json::Value::Object(map) = &mut value {
        for (key, digest) in file_digests {
            map.insert(key.clone(), serde_json::json!({ "content_sha256": digest }));
        }
    }
    value
}

/// What goes into a fingerprint.
#[derive(serde::Serialize)]
pub struct FingerprintInput<'a> {
    pub kind: &'a str,
    pub code_version: &'a str,
    pub environment: &'a Environment,
    pub params: &'a serde_json::Value,
    pub inputs: &'a BTreeMap<String, BTreeMap<String, String>>,
    /// Display parameters of the inputs (a label a table shows); absent
    /// when none, so kinds without them keep their keys.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub input_names: &'a BTreeMap<String, toml::Table>,
    /// Set only for kinds whose outputs name the profile.
    pub profile: Option<&'a str>,
}

pub fn fingerprint(input: &FingerprintInput) -> Fingerprint {
    Fingerprint::of_digest(sha256_hex(&serde_json::to_vec(input).expect("fingerprint input serialises")))
}

/// Parameter changes as reasons: values (`stage.key old -> new`, nested
/// keys dotted) and file parameters whose content changed (by key).
pub fn param_reasons(stage: &str, old: &serde_json::Value, new: &serde_json::Value) -> Vec<Reason> {
    let (mut a, mut b) = (BTreeMap::new(), BTreeMap::new());
    flatten_values(stage, old, &mut a);
    flatten_values(stage, new, &mut b);
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    let (mut values, mut files) = (Vec::new(), Vec::new());
    for key in keys.into_iter().filter(|k| a.get(*k) != b.get(*k)) {
        let (x, y) = (a.get(key), b.get(key));
        if x.is_some_and(|v| v.file) || y.is_some_and(|v| v.file) {
            files.push(key.clone());
        } else {
            values.push(Change { key: key.clone(), old: x.map(|v| v.text.clone()), new: y.map(|v| v.text.clone()) });
        }
    }
    let mut reasons = Vec::new();
    if !values.is_empty() {
        reasons.push(Reason::ParamsChanged(values));
    }
    if !files.is_empty() {
        reasons.push(Reason::InputFileChanged(files));
    }
    reasons
}

/// Files whose digest differs, was added or removed.
pub fn code_reason(old: &BTreeMap<String, String>, new: &BTreeMap<String, String>) -> Reason {
    let mut changed: Vec<String> = new.iter().filter(|(p, d)| old.get(*p) != Some(d)).map(|(p, _)| p.clone()).collect();
    changed.extend(old.keys().filter(|p| !new.contains_key(*p)).cloned());
    Reason::CodeChanged(changed)
}

/// Environment changes as reasons: `toolchain changed: rustc 1.95.0 ->
/// 1.96.0`, `dependency changed: burn 0.22.1 -> 0.22.2`, `compute path
/// changed: conv direct-avx512 -> im2col-gemm`.
pub fn environment_reasons(old: &Environment, new: &Environment) -> Vec<Reason> {
    let mut reasons = Vec::new();
    if old.rustc != new.rustc {
        let release = |v: &str| v.split_whitespace().nth(1).unwrap_or(v).to_string();
        let (a, b) = (release(&old.rustc), release(&new.rustc));
        let (from, to) = if a == b { (old.rustc.clone(), new.rustc.clone()) } else { (a, b) };
        reasons.push(Reason::ToolchainChanged { from, to });
    }
    let deps = map_diff(&old.crates, &new.crates);
    if !deps.is_empty() {
        reasons.push(Reason::DependencyChanged(deps));
    }
    let compute = map_diff(&old.compute, &new.compute);
    if !compute.is_empty() {
        reasons.push(Reason::ComputePathChanged(compute));
    }
    if old.kernels.is_empty() && !new.kernels.is_empty() {
        reasons.push(Reason::KernelsNowByBehaviour);
    } else {
        let kernels: Vec<String> = map_diff(&old.kernels, &new.kernels).into_iter().map(|c| c.key).collect();
        if !kernels.is_empty() {
            reasons.push(Reason::KernelsChanged(kernels));
        }
    }
    reasons
}

fn map_diff(old: &BTreeMap<String, String>, new: &BTreeMap<String, String>) -> Vec<Change> {
    let keys: std::collections::BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    let change = |k: &String| Change { key: k.clone(), old: old.get(k).cloned(), new: new.get(k).cloned() };
    keys.into_iter().filter(|k| old.get(*k) != new.get(*k)).map(change).collect()
}

/// `value` as `prefix.key -> value` rows, nested keys dotted.
pub fn flatten(prefix: &str, value: &serde_json::Value, out: &mut BTreeMap<String, String>) {
    let mut values = BTreeMap::new();
    flatten_values(prefix, value, &mut values);
    out.extend(values.into_iter().map(|(k, v)| (k, v.text)));
}

/// One flattened parameter: its text, and whether it is a file's content.
#[derive(PartialEq)]
struct FlatValue {
    text: String,
    file: bool,
}

fn flatten_values(prefix: &str, value: &serde_json::Value, out: &mut BTreeMap<String, FlatValue>) {
    match value {
        serde_json::Value::Object(map) if !map.contains_key("content_sha256") => {
            for (k, v) in map {
                flatten_values(&format!("{prefix}.{k}"), v, out);
            }
        }
        serde_json::Value::Object(map) => {
            let digest = map["content_sha256"].as_str().unwrap_or_default();
            let text = format!("content:{}", &digest[..digest.len().min(12)]);
            out.insert(prefix.to_string(), FlatValue { text, file: true });
        }
        other => {
            out.insert(prefix.to_string(), FlatValue { text: other.to_string(), file: false });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_changes_read_as_reasons() {
        let old = Environment {
            rustc: "rustc 1.95.0 (59807616e 2026-04-14)".into(),
            crates: [("burn".to_string(), "0.22.1".to_string())].into(),
            compute: [("conv".to_string(), "direct-avx512".to_string())].into(),
            kernels: Default::default(),
        };
        let new = Environment {
            rustc: "rustc 1.96.0 (0123456 2026-06-01)".into(),
            crates: [("burn".to_string(), "0.22.2".to_string())].into(),
            compute: [("conv".to_string(), "im2col-gemm".to_string())].into(),
            kernels: Default::default(),
        };
        let text: Vec<String> = environment_reasons(&old, &new).iter().map(Reason::to_string).collect();
        assert_eq!(
            text,
            vec![
                "toolchain changed: rustc 1.95.0 -> 1.96.0",
                "dependency changed: burn 0.22.1 -> 0.22.2",
                "compute path changed: conv direct-avx512 -> im2col-gemm",
            ]
        );
        assert!(environment_reasons(&old, &old).is_empty());
    }

    /// A kernel computing differently is named with its shape; kernels
    /// appearing where the record had none say the key scheme changed.
    #[test]
    fn kernel_changes_name_the_kernel_and_shape() {
        let with = |prints: &[(&str, &str)]| Environment {
            kernels: prints.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            ..Default::default()
        };
        let old = with(&[("conv forward at 64x64x32x32->64", "aa"), ("pool forward at 64x64x32x32", "bb")]);
        let new = with(&[("conv forward at 64x64x32x32->64", "cc"), ("pool forward at 64x64x32x32", "bb")]);
        let text: Vec<String> = environment_reasons(&old, &new).iter().map(Reason::to_string).collect();
        assert_eq!(text, vec!["kernels compute differently: conv forward at 64x64x32x32->64"]);
        assert_eq!(environment_reasons(&with(&[]), &new), vec![Reason::KernelsNowByBehaviour]);
        assert!(environment_reasons(&new, &new).is_empty());
        assert_ne!(old.kernel_fingerprint(), new.kernel_fingerprint());
        assert_eq!(with(&[]).kernel_fingerprint(), "");
    }

    /// An environment without kernels serialises as before this field
    /// existed, so the keys of stages without them do not move.
    #[test]
    fn an_environment_without_kernels_serialises_as_before() {
        let env = Environment { rustc: "r".into(), ..Default::default() };
        assert_eq!(serde_json::to_string(&env).unwrap(), r#"{"rustc":"r","crates":{},"compute":{}}"#);
    }

    #[test]
    fn values_and_files_are_told_apart_by_type() {
        let old = serde_json::json!({"lr": 0.001, "epochs": 30, "file": {"content_sha256": "aaaa"}});
        let new = serde_json::json!({"lr": 0.0005, "epochs": 30, "file": {"content_sha256": "bbbb"}});
        let text: Vec<String> = param_reasons("train_b", &old, &new).iter().map(Reason::to_string).collect();
        assert_eq!(text, vec!["params changed: train_b.lr 0.001 -> 0.0005", "input file changed: train_b.file"]);
    }
}
