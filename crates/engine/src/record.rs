//! Build records: per profile, what each stage was last built from and
//! what it produced (like dvc.lock). Plus a run cache keyed by fingerprint,
//! so switching profiles back and forth reuses finished work.

use super::atomic;
use super::key::Fingerprint;
use super::store::ObjectRef;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// How one stage was built.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct StageRecord {
    pub kind: String,
    pub fingerprint: Fingerprint,
    pub code_version: String,
    /// Canonical parameters (file parameters replaced by content digests).
    pub params: serde_json::Value,
    /// `dep -> output -> sha256` consumed.
    pub inputs: BTreeMap<String, BTreeMap<String, String>>,
    /// `dep -> display parameters` of the inputs that have any.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub input_names: BTreeMap<String, toml::Table>,
    pub outputs: BTreeMap<String, ObjectRef>,
    pub seconds: f64,
    /// `path -> token digest` of the files in the kind's code closure.
    #[serde(default)]
    pub code_files: BTreeMap<String, String>,
    #[serde(default)]
    pub environment: Environment,
    /// Timings the stage measured (outside the fingerprint).
    #[serde(default)]
    pub measurements: BTreeMap<String, f64>,
    /// Set when this entry was carried to its key from an older one
    /// (`rekey.rs`): the evidence that the same code computed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carried: Option<Carried>,
}

/// Evidence that a run or checkpoint under a new key was computed by this
/// very code: its old key, recomputed by the binary that carried it from
/// the same tokens, crates, compiler, compute path, params and inputs.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Carried {
    pub from: Fingerprint,
    /// The old key's code version (over every file's tokens, kernels included).
    pub code_version: String,
    pub environment: Environment,
    /// The engine version that checked and carried it.
    pub by: String,
}

/// `output -> sha256` of a stage's outputs: what its dependents consume.
pub type OutputDigests = BTreeMap<String, String>;

impl StageRecord {
    pub fn output_digests(&self) -> OutputDigests {
        digests_of(&self.outputs)
    }
}

pub fn digests_of(outputs: &BTreeMap<String, ObjectRef>) -> OutputDigests {
    outputs.iter().map(|(k, v)| (k.clone(), v.sha256.clone())).collect()
}

/// What a stage was compiled with and computed on; part of its fingerprint.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Environment {
    /// `rustc -V` of the compiler that built the binary.
    pub rustc: String,
    /// `package -> version` of the crates the kind's code reaches, from
    /// Cargo.lock (and `package (Cargo.toml) -> spec` of direct ones).
    pub crates: BTreeMap<String, String>,
    /// Backend, kernel path and CPU level, for kinds whose numbers depend on them.
    pub compute: BTreeMap<String, String>,
    /// `kernel at shape -> sha256 of its outputs on the battery`, computed
    /// here, for stages whose kernels are keyed by behaviour
    /// (`behaviour.rs`); their files then leave the code version. Absent
    /// otherwise, so other keys read as before.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub kernels: BTreeMap<String, String>,
}

impl Environment {
    /// One digest for all of `kernels` (empty when there are none), as
    /// provenance shows it beside the compute path.
    pub fn kernel_fingerprint(&self) -> String {
        if self.kernels.is_empty() {
            return String::new();
        }
        let text: String = self.kernels.iter().map(|(k, d)| format!("{k} {d}\n")).collect();
        super::hashing::sha256_hex(text.as_bytes())
    }
}

#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct BuildRecord {
    pub profile: String,
    pub stages: BTreeMap<String, StageRecord>,
}

pub fn record_path(store_root: &Path, profile: &str) -> PathBuf {
    store_root.join("records").join(format!("{profile}.lock.json"))
}

impl BuildRecord {
    /// The record of `profile`; none yet gives an empty one. A damaged
    /// record is an error naming the file, since it says what is built.
    pub fn load(store_root: &Path, profile: &str) -> anyhow::Result<BuildRecord> {
        let path = record_path(store_root, profile);
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                anyhow::anyhow!("{}: damaged build record ({e}); delete it to rebuild the profile `{profile}`", path.display())
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BuildRecord { profile: profile.to_string(), stages: BTreeMap::new() }),
            Err(e) => Err(anyhow::anyhow!("cannot read {}: {e}", path.display())),
        }
    }

    pub fn save(&self, store_root: &Path) -> anyhow::Result<()> {
        let bytes = serde_json::to_vec_pretty(self)?;
        atomic::write(&record_path(store_root, &self.profile), &bytes)
    }

    /// Every record on disk (for gc).
    pub fn load_all(store_root: &Path) -> anyhow::Result<Vec<BuildRecord>> {
        let dir = store_root.join("records");
        let mut out = Vec::new();
        if let Ok(entries) = fs::read_dir(&dir) {
            for entry in entries {
                let name = entry?.file_name().to_string_lossy().into_owned();
                if let Some(profile) = name.strip_suffix(".lock.json") {
                    out.push(BuildRecord::load(store_root, profile)?);
                }
            }
        }
        Ok(out)
    }
}

/// Run cache: `runs/<fingerprint>.json` holds a finished stage's record.
pub fn cached_run(store_root: &Path, fingerprint: &Fingerprint) -> Option<StageRecord> {
    let bytes = fs::read(store_root.join("runs").join(format!("{fingerprint}.json"))).ok()?;
    serde_json::from_slice(&bytes).ok()
}

pub fn remember_run(store_root: &Path, record: &StageRecord) -> anyhow::Result<()> {
    let path = store_root.join("runs").join(format!("{}.json", record.fingerprint));
    atomic::write(&path, &serde_json::to_vec_pretty(record)?)
}

/// Drops run-cache entries whose objects are gone; returns those kept.
pub fn prune_runs(store_root: &Path, exists: impl Fn(&str) -> bool) -> anyhow::Result<Vec<StageRecord>> {
    let mut kept = Vec::new();
    let Ok(entries) = fs::read_dir(store_root.join("runs")) else { return Ok(kept) };
    for entry in entries {
        let path = entry?.path();
        let record: Option<StageRecord> = fs::read(&path).ok().and_then(|b| serde_json::from_slice(&b).ok());
        match record {
            Some(r) if r.outputs.values().all(|o| exists(&o.sha256)) => kept.push(r),
            _ => fs::remove_file(&path)?,
        }
    }
    Ok(kept)
}
