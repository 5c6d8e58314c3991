//! A stage's fingerprint: sha256 over its kind, code version, canonical
//! parameters and the digests of its inputs. No paths, no clocks.

use super::hashing::sha256_hex;
use std::collections::BTreeMap;

/// Code version of a kind: the digests of the source files it names
/// (exact paths or folder prefixes) in `sources` (`path -> sha256`).
pub fn code_version(kind: &str, code_paths: &[&str], sources: &[(&str, &str)]) -> String {
    let mut text = format!("kind {kind}\n");
    for (path, digest) in sources {
        if code_paths.iter().any(|p| *path == *p || (p.ends_with('/') && path.starts_with(p))) {
            text.push_str(&format!("{path} {digest}\n"));
        }
    }
    sha256_hex(text.as_bytes())
}

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
    pub params: &'a serde_json::Value,
    pub inputs: &'a BTreeMap<String, BTreeMap<String, String>>,
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

fn flatten(prefix: &str, value: &serde_json::Value, out: &mut BTreeMap<String, String>) {
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
    fn code_version_follows_only_named_files() {
        let a = [("src/stages/data.rs", "1"), ("src/stages/report.rs", "2"), ("src/data/mod.rs", "3")];
        let report_changed = [("src/stages/data.rs", "1"), ("src/stages/report.rs", "X"), ("src/data/mod.rs", "3")];
        let data_changed = [("src/stages/data.rs", "1"), ("src/stages/report.rs", "2"), ("src/data/mod.rs", "Y")];
        let paths = ["src/stages/data.rs", "src/data/"];
        assert_eq!(code_version("dataset", &paths, &a), code_version("dataset", &paths, &report_changed));
        assert_ne!(code_version("dataset", &paths, &a), code_version("dataset", &paths, &data_changed));
    }

    #[test]
    fn diff_names_changed_keys() {
        let old = serde_json::json!({"lr": 0.001, "epochs": 30});
        let new = serde_json::json!({"lr": 0.0005, "epochs": 30});
        assert_eq!(param_diff("train_b", &old, &new), vec!["train_b.lr 0.001 -> 0.0005"]);
    }
}
