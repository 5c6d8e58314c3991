//! Copies a stage's outputs to a plain folder for people to open. A marker
//! file lists what was exported, so an unchanged export costs one read.

use super::store::{ObjectRef, Store};
use anyhow::Context;
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

const MARKER: &str = ".repro-export.json";

/// Makes `dest` hold exactly `outputs` (by name); files it exported before
/// and no longer has are removed, anything else in `dest` is left alone.
pub fn sync(store: &Store, outputs: &BTreeMap<String, ObjectRef>, dest: &Path) -> anyhow::Result<()> {
    let marker = dest.join(MARKER);
    let previous: BTreeMap<String, ObjectRef> = fs::read(&marker).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
    if &previous == outputs && outputs.keys().all(|k| dest.join(k).exists()) {
        return Ok(());
    }
    for name in previous.keys().filter(|k| !outputs.contains_key(*k)) {
        let _ = fs::remove_file(dest.join(name));
    }
    for (name, object) in outputs {
        let target = dest.join(name);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
        }
        let _ = fs::remove_file(&target);
        fs::copy(store.object_path(&object.sha256), &target).with_context(|| format!("cannot export {}", target.display()))?;
        fs::set_permissions(&target, fs::Permissions::from_mode(0o644))?;
    }
    super::atomic::write(&marker, &serde_json::to_vec_pretty(outputs)?)
}
