//! Checkpoints of the GPU loop, read whole into memory. burn's file
//! loaders hand out tensors backed by the file and read it only when a
//! tensor is first used, which on a GPU backend can be later, on another
//! thread: by then the slot may have been replaced or removed (the loop
//! keeps two), and a replaced file would be read silently. Here every
//! file is read and checked against its digest before any tensor exists,
//! so no tensor can outlive, or see a change to, its file.
//!
//! Slots are written by `training::checkpoint::save`, the same layout as
//! flex's (`epoch-N/` with `digests.json` last). The slot walk below copies
//! that file's private one: changing it to share would move every flex
//! training's key.

use crate::model::Cnn;
use crate::training::center_loss::Centers;
use crate::training::checkpoint::Checkpoint;
use crate::training::history::EpochRow;
use crate::training::schedule::EarlyStopping;
use crate::training::settings::TrainSettings;
use anyhow::Context;
use burn::module::Module;
use burn::store::ModuleRecord;
use burn::tensor::{Bytes, Device};
use repro_engine::hashing::sha256_hex;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// `state.json` as `training::checkpoint` writes it.
#[derive(serde::Deserialize)]
struct State {
    history: Vec<EpochRow>,
    stopping: EarlyStopping,
    stopped_early: bool,
}

/// A slot's files, read and verified.
struct SlotFiles {
    files: BTreeMap<String, Vec<u8>>,
}

impl SlotFiles {
    /// Every file `digests.json` names, each matching its sha256.
    fn read(slot: &Path) -> anyhow::Result<SlotFiles> {
        let digests: BTreeMap<String, String> =
            serde_json::from_slice(&fs::read(slot.join("digests.json")).context("no digests.json (unfinished)")?)
                .context("digests.json is not valid")?;
        let mut files = BTreeMap::new();
        for (name, expected) in digests {
            let bytes = fs::read(slot.join(&name)).with_context(|| format!("{name} unreadable"))?;
            anyhow::ensure!(sha256_hex(&bytes) == expected, "{name} does not match its sha256");
            files.insert(name, bytes);
        }
        Ok(SlotFiles { files })
    }

    /// The in-memory bytes of `name`, handed over (a file is used once).
    fn take(&mut self, name: &str) -> anyhow::Result<Bytes> {
        let bytes = self.files.remove(name).with_context(|| format!("no {name} in the slot"))?;
        Ok(Bytes::from_bytes_vec(bytes))
    }

    fn record(&mut self, name: &str) -> anyhow::Result<ModuleRecord> {
        ModuleRecord::from_bytes(self.take(name)?).map_err(|e| anyhow::anyhow!("{name}: {e}"))
    }
}

/// The newest checkpoint under `dir` that verifies and loads, on `device`;
/// a damaged slot is removed with a warning and the one before it tried.
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

fn load_slot(slot: &Path, settings: &TrainSettings, device: &Device) -> anyhow::Result<Checkpoint> {
    let mut files = SlotFiles::read(slot)?;
    let state: State = serde_json::from_slice(&files.take("state.json")?).context("state.json")?;
    let model = Cnn::new(&settings.model, device).load_record(files.record("model.bpk")?);
    let centers = match settings.center {
        None => None,
        Some(_) => Some(Centers::zeros(device).load_record(files.record("centers.bpk")?)),
    };
    let optimizer =
        settings.optimizer.build().from_bytes(files.take("optimizer.bpk")?).map_err(|e| anyhow::anyhow!("optimizer.bpk: {e}"))?;
    Ok(Checkpoint { model, centers, optimizer, history: state.history, stopping: state.stopping, stopped_early: state.stopped_early })
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
