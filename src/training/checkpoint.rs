//! Per-epoch checkpoints: model, optimizer state, history and early-stopping
//! state. Each slot's `digests.json` (sha256 of every file, written last)
//! makes it trusted; a slot that fails its digests or does not load is
//! discarded with a warning and the one before it (two are kept) is used,
//! else training starts over. RNG state needs no saving: every epoch
//! reseeds from (seed, epoch).

use super::center_loss::Centers;
use super::history::EpochRow;
use super::schedule::EarlyStopping;
use super::settings::TrainSettings;
use crate::model::Cnn;
use anyhow::Context;
use burn::module::Module;
use burn::optim::ModuleOptimizer;
use burn::store::ModuleRecord;
use burn::tensor::Device;
use repro_engine::atomic;
use repro_engine::hashing::sha256_file;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

pub struct Checkpoint {
    pub model: Cnn,
    pub centers: Option<Centers>,
    pub optimizer: ModuleOptimizer,
    pub history: Vec<EpochRow>,
    pub stopping: EarlyStopping,
    pub stopped_early: bool,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct State {
    history: Vec<EpochRow>,
    stopping: EarlyStopping,
    stopped_early: bool,
}

/// Trusted only when every file matches: sha256 per file name.
const DIGESTS: &str = "digests.json";
/// Slots kept: the newest and the one before it, to fall back on.
const KEEP: usize = 2;

pub fn save(dir: &Path, ckpt: &Checkpoint) -> anyhow::Result<()> {
    let epoch = ckpt.history.len();
    let slot = dir.join(format!("epoch-{epoch}"));
    let _ = fs::remove_dir_all(&slot);
    fs::create_dir_all(&slot).with_context(|| format!("cannot create {}", slot.display()))?;
    write_files(&slot, ckpt)?;
    let mut digests = BTreeMap::new();
    for entry in fs::read_dir(&slot)? {
        let path = entry?.path();
        fs::File::open(&path)?.sync_all()?;
        digests.insert(path.file_name().expect("a file").to_string_lossy().into_owned(), sha256_file(&path)?);
    }
    atomic::write(&slot.join(DIGESTS), &serde_json::to_vec_pretty(&digests)?)?;
    atomic::write(&dir.join("latest"), epoch.to_string().as_bytes())?;
    for old in slots(dir).into_iter().skip(KEEP) {
        let _ = fs::remove_dir_all(old);
    }
    Ok(())
}

fn write_files(slot: &Path, ckpt: &Checkpoint) -> anyhow::Result<()> {
    let failed = |name: &str, e: &dyn std::fmt::Display| anyhow::anyhow!("cannot save {}: {e}", slot.join(name).display());
    ckpt.model.clone().into_record().save(slot.join("model.bpk")).map_err(|e| failed("model.bpk", &e))?;
    if let Some(centers) = &ckpt.centers {
        centers.clone().into_record().save(slot.join("centers.bpk")).map_err(|e| failed("centers.bpk", &e))?;
    }
    ckpt.optimizer.save(slot.join("optimizer.bpk")).map_err(|e| failed("optimizer.bpk", &e))?;
    let state = State { history: ckpt.history.clone(), stopping: ckpt.stopping.clone(), stopped_early: ckpt.stopped_early };
    atomic::write(&slot.join("state.json"), &serde_json::to_vec(&state)?)
}

/// The `epoch-N` slots under `dir`, newest first.
fn slots(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else { return Vec::new() };
    let mut found: Vec<(usize, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| Some((e.file_name().to_str()?.strip_prefix("epoch-")?.parse().ok()?, e.path())))
        .collect();
    found.sort_by_key(|f| std::cmp::Reverse(f.0));
    found.into_iter().map(|(_, p)| p).collect()
}

/// The newest checkpoint that passes its digests and loads, rebuilt on
/// `device`; damaged ones are removed, each with a `warn`ing.
pub fn load(dir: &Path, settings: &TrainSettings, device: &Device, warn: &dyn Fn(String)) -> anyhow::Result<Option<Checkpoint>> {
    let all = slots(dir);
    for slot in &all {
        match load_slot(slot, settings, device) {
            Ok(ckpt) => return Ok(Some(ckpt)),
            Err(e) => {
                warn(format!("warning: checkpoint {} is damaged ({e:#}); discarded", slot.display()));
                fs::remove_dir_all(slot).with_context(|| format!("cannot remove {}", slot.display()))?;
            }
        }
    }
    if !all.is_empty() {
        warn("warning: no usable checkpoint left; training starts from the beginning".into());
    }
    Ok(None)
}

/// One slot, after checking every file against `digests.json`.
fn load_slot(slot: &Path, settings: &TrainSettings, device: &Device) -> anyhow::Result<Checkpoint> {
    let digests: BTreeMap<String, String> = serde_json::from_slice(&fs::read(slot.join(DIGESTS)).context("no digests.json (unfinished)")?)
        .context("digests.json is not valid")?;
    for (name, expected) in &digests {
        let actual = sha256_file(&slot.join(name)).with_context(|| format!("{name} unreadable"))?;
        anyhow::ensure!(&actual == expected, "{name} does not match its sha256");
    }
    let state: State = serde_json::from_slice(&fs::read(slot.join("state.json"))?).context("state.json")?;
    let record = |name: &str| ModuleRecord::load(slot.join(name)).map_err(|e| anyhow::anyhow!("{name}: {e}"));
    let model = Cnn::new(&settings.model, device).load_record(record("model.bpk")?);
    let centers = match settings.center {
        None => None,
        Some(_) => Some(Centers::zeros(device).load_record(record("centers.bpk")?)),
    };
    let optimizer = settings.optimizer.build().load(slot.join("optimizer.bpk")).map_err(|e| anyhow::anyhow!("optimizer.bpk: {e}"))?;
    Ok(Checkpoint { model, centers, optimizer, history: state.history, stopping: state.stopping, stopped_early: state.stopped_early })
}
