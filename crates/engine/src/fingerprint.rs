//! A stage's fingerprint: sha256 over its kind, code version, environment
//! (crates, compiler, compute path), canonical parameters and the digests
//! of its inputs. No paths, no clocks.

use super::hashing::sha256_hex;
use super::record::Environment;
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

pub fn fingerprint(input: &FingerprintInput) -> String {
    sha256_hex(&serde_json::to_vec(input).expect("fingerprint input serialises"))
}

/// Parameter changes as `stage.key old -> new`, nested keys dotted.
pub fn param_diff(stage: &str, old: &serde_json::Value, new: &serde_json::Value) -> Vec<String> {
    let (mut a, mut b) = (BTreeMap::new(), BTreeMap::new());
    flatten(stage, old, &mut a);
    flatten(stage, new, &mut b);
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    let show = |v: Option<&String>| v.cloned().unwrap_or_else(|| "(unset)".into());
    keys.into_iter().filter(|k| a.get(*k) != b.get(*k)).map(|k| format!("{k} {} -> {}", show(a.get(k)), show(b.get(k)))).collect()
}

/// Files whose digest differs, was added or removed, as one reason.
pub fn code_diff(old: &BTreeMap<String, String>, new: &BTreeMap<String, String>) -> String {
    let mut changed: Vec<&str> = new.iter().filter(|(p, d)| old.get(*p) != Some(d)).map(|(p, _)| p.as_str()).collect();
    changed.extend(old.keys().filter(|p| !new.contains_key(*p)).map(String::as_str));
    match changed.len() {
        0 => "code changed".into(),
        1..=3 => format!("code changed: {}", changed.join(", ")),
        n => format!("code changed: {} and {} more files", changed[..3].join(", "), n - 3),
    }
}

/// Environment changes as reasons: `toolchain changed: rustc 1.95.0 ->
/// 1.96.0`, `dependency changed: burn 0.22.1 -> 0.22.2`, `compute path
/// changed: conv direct-avx512 -> im2col-gemm`.
pub fn environment_diff(old: &Environment, new: &Environment) -> Vec<String> {
    let mut reasons = Vec::new();
    if old.rustc != new.rustc {
        let release = |v: &str| v.split_whitespace().nth(1).unwrap_or(v).to_string();
        let (a, b) = (release(&old.rustc), release(&new.rustc));
        let (a, b) = if a == b { (old.rustc.clone(), new.rustc.clone()) } else { (a, b) };
        reasons.push(format!("toolchain changed: rustc {} -> {b}", if a.is_empty() { "(unrecorded)".into() } else { a }));
    }
    let deps = map_diff(&old.crates, &new.crates);
    if !deps.is_empty() {
        let shown: Vec<&str> = deps.iter().take(4).map(String::as_str).collect();
        let more = if deps.len() > 4 { format!(" and {} more", deps.len() - 4) } else { String::new() };
        reasons.push(format!("dependency changed: {}{more}", shown.join(", ")));
    }
    let compute = map_diff(&old.compute, &new.compute);
    if !compute.is_empty() {
        reasons.push(format!("compute path changed: {}", compute.join(", ")));
    }
    reasons
}

fn map_diff(old: &BTreeMap<String, String>, new: &BTreeMap<String, String>) -> Vec<String> {
    let keys: std::collections::BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    let show = |v: Option<&String>| v.cloned().unwrap_or_else(|| "(none)".into());
    keys.into_iter().filter(|k| old.get(*k) != new.get(*k)).map(|k| format!("{k} {} -> {}", show(old.get(k)), show(new.get(k)))).collect()
}

/// `value` as `prefix.key -> value` rows, nested keys dotted.
pub fn flatten(prefix: &str, value: &serde_json::Value, out: &mut BTreeMap<String, String>) {
    match value {
        serde_json::Value::Object(map) if !map.contains_key("content_sha256") => {
            for (k, v) in map {
                flatten(&format!("{prefix}.{k}"), v, out);
            }
        }
        serde_json::Value::Object(map) => {
            let digest = map["content_sha256"].as_str().unwrap_or_default();
            out.insert(prefix.to_string(), format!("content:{}", &digest[..digest.len().min(12)]));
        }
        other => {
            out.insert(prefix.to_string(), other.to_string());
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
        };
        let new = Environment {
            rustc: "rustc 1.96.0 (0123456 2026-06-01)".into(),
            crates: [("burn".to_string(), "0.22.2".to_string())].into(),
            compute: [("conv".to_string(), "im2col-gemm".to_string())].into(),
        };
        assert_eq!(
            environment_diff(&old, &new),
            vec![
                "toolchain changed: rustc 1.95.0 -> 1.96.0",
                "dependency changed: burn 0.22.1 -> 0.22.2",
                "compute path changed: conv direct-avx512 -> im2col-gemm",
            ]
        );
        assert!(environment_diff(&old, &old).is_empty());
    }

    #[test]
    fn diff_names_changed_keys() {
        let old = serde_json::json!({"lr": 0.001, "epochs": 30});
        let new = serde_json::json!({"lr": 0.0005, "epochs": 30});
        assert_eq!(param_diff("train_b", &old, &new), vec!["train_b.lr 0.001 -> 0.0005"]);
    }
}
