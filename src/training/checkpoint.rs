//! Per-epoch checkpoints: model, optimizer state, history and early-stopping
//! state. An epoch's files are complete before `latest` names them, so a
//! kill at any moment leaves the previous checkpoint usable. RNG state needs
//! no saving: every epoch reseeds from (seed, epoch).

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
use std::fs;
use std::path::Path;

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

pub fn save(dir: &Path, ckpt: &Checkpoint) -> anyhow::Result<()> {
    let epoch = ckpt.history.len();
    let slot = dir.join(format!("epoch-{epoch}"));
    let _ = fs::remove_dir_all(&slot);
    fs::create_dir_all(&slot).with_context(|| format!("cannot create {}", slot.display()))?;
    ckpt.model.clone().into_record().save(slot.join("model.bpk")).map_err(|e| anyhow::anyhow!("cannot save model checkpoint: {e}"))?;
    if let Some(centers) = &ckpt.centers {
        centers.clone().into_record().save(slot.join("centers.bpk")).map_err(|e| anyhow::anyhow!("cannot save centers checkpoint: {e}"))?;
        fs::File::open(slot.join("centers.bpk"))?.sync_all()?;
    }
    ckpt.optimizer.save(slot.join("optimizer.bpk")).map_err(|e| anyhow::anyhow!("cannot save optimizer checkpoint: {e}"))?;
    let state = State { history: ckpt.history.clone(), stopping: ckpt.stopping.clone(), stopped_early: ckpt.stopped_early };
    atomic::write(&slot.join("state.json"), &serde_json::to_vec(&state)?)?;
    for f in ["model.bpk", "optimizer.bpk"] {
        fs::File::open(slot.join(f))?.sync_all()?;
    }
    atomic::write(&dir.join("latest"), epoch.to_string().as_bytes())?;
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() && path != slot {
            let _ = fs::remove_dir_all(path);
        }
    }
    Ok(())
}

/// The last complete checkpoint, rebuilt on `device`, if any.
pub fn load(dir: &Path, settings: &TrainSettings, device: &Device) -> anyhow::Result<Option<Checkpoint>> {
    let Ok(latest) = fs::read_to_string(dir.join("latest")) else { return Ok(None) };
    let slot = dir.join(format!("epoch-{}", latest.trim()));
    let state: State =
        serde_json::from_slice(&fs::read(slot.join("state.json"))?).with_context(|| format!("{}: bad checkpoint", slot.display()))?;
    let record = ModuleRecord::load(slot.join("model.bpk")).map_err(|e| anyhow::anyhow!("{}: {e}", slot.display()))?;
    let model = Cnn::new(&settings.model, device).load_record(record);
    let centers = match settings.center {
        None => None,
        Some(_) => {
            let record = ModuleRecord::load(slot.join("centers.bpk")).map_err(|e| anyhow::anyhow!("{}: {e}", slot.display()))?;
            Some(Centers::zeros(device).load_record(record))
        }
    };
    let optimizer = settings.optimizer.build().load(slot.join("optimizer.bpk")).map_err(|e| anyhow::anyhow!("{}: {e}", slot.display()))?;
    Ok(Some(Checkpoint { model, centers, optimizer, history: state.history, stopping: state.stopping, stopped_early: state.stopped_early }))
}
