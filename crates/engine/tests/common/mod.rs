//! What the engine's tests share: where a test project's build record and
//! stored outputs are.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// Where the engine keeps the lock record of `profile` in the project at `dir`.
pub fn record_file(dir: &Path, profile: &str) -> PathBuf {
    repro_engine::record::record_path(&dir.join("artifacts"), profile)
}

/// The lock record of the build of `profile` in the project at `dir`.
pub fn lock_record(dir: &Path, profile: &str) -> serde_json::Value {
    let path = record_file(dir, profile);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap()
}

/// The stored file of `stage`'s output `name` in the build of `profile`.
pub fn stage_output(dir: &Path, profile: &str, stage: &str, name: &str) -> PathBuf {
    let record = lock_record(dir, profile);
    let sha = record["stages"][stage]["outputs"][name]["sha256"].as_str();
    let sha = sha.unwrap_or_else(|| panic!("{profile}: {stage} has no output {name}"));
    dir.join("artifacts").join(repro_engine::remote::object_key(sha))
}
