//! A stage's unfinished work carried between machines: the files of its
//! checkpoint folder (`Store::checkpoint_dir`), pushed to a remote as
//! `checkpoints/<fingerprint>.json` plus objects, and pulled into an empty
//! checkpoint folder before the stage runs, so a long training resumes
//! where another machine left it instead of starting over.
//!
//! The engine does not interpret the files. It guarantees that each pulled
//! file has the bytes that were pushed; whether they make a usable
//! checkpoint is the kind's to decide when it resumes (the training's
//! checkpoints carry their own digests and fall back to an older slot).

use super::hashing::sha256_file;
use super::key::Fingerprint;
use super::remote::{RemoteCache, Transfer, object_key};
use super::store::{ObjectRef, Store};
use anyhow::Context;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// The remote's entry for one stage's checkpoint folder.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CheckpointEntry {
    pub stage: String,
    pub fingerprint: Fingerprint,
    /// Path relative to the checkpoint folder -> its object.
    pub files: BTreeMap<String, ObjectRef>,
    /// Set when carried to this key from an older one (`rekey.rs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carried: Option<crate::record::Carried>,
}

impl CheckpointEntry {
    pub fn bytes(&self) -> u64 {
        self.files.values().map(|o| o.size).sum()
    }
}

pub fn checkpoint_key(fingerprint: &Fingerprint) -> String {
    format!("checkpoints/{fingerprint}.json")
}

/// The remote's checkpoint entry for `fingerprint`, if any.
pub fn remote_checkpoint(remote: &dyn RemoteCache, fingerprint: &Fingerprint) -> anyhow::Result<Option<CheckpointEntry>> {
    let key = checkpoint_key(fingerprint);
    let Some(bytes) = remote.get(&key)? else { return Ok(None) };
    let entry: CheckpointEntry = serde_json::from_slice(&bytes)
        .map_err(|e| anyhow::anyhow!("{}: {key} is not valid ({e}); push the checkpoint again", remote.url()))?;
    anyhow::ensure!(entry.fingerprint == *fingerprint, "{}: {key} names another fingerprint", remote.url());
    Ok(Some(entry))
}

/// Whether `dir` holds any file (a checkpoint to resume from or to push).
pub fn has_files(dir: &Path) -> bool {
    walkdir::WalkDir::new(dir).into_iter().filter_map(|e| e.ok()).any(|e| e.file_type().is_file())
}

/// Uploads the files of `dir` (a snapshot: each copied to scratch, then
/// hashed, so a file the running stage replaces meanwhile is either the
/// old or the new one, whole) and then the entry, replacing an older one.
/// `None` when `dir` holds no file.
pub fn push_checkpoint(
    store: &Store,
    remote: &dyn RemoteCache,
    stage: &str,
    fingerprint: &Fingerprint,
    dry_run: bool,
) -> anyhow::Result<Option<Transfer>> {
    let dir = store.checkpoint_dir(stage, fingerprint);
    if !has_files(&dir) {
        return Ok(None);
    }
    let scratch = store.scratch_dir(&format!("{stage}-checkpoint"))?;
    let mut entry = CheckpointEntry { stage: stage.to_string(), fingerprint: fingerprint.clone(), files: BTreeMap::new(), carried: None };
    let mut moved = Transfer::default();
    for (rel, path) in files_of(&dir)? {
        let copy = scratch.join(entry.files.len().to_string());
        if let Err(e) = fs::copy(&path, &copy) {
            // A file the stage removed since the walk (an old slot) is left out.
            if !path.exists() {
                continue;
            }
            return Err(e).with_context(|| format!("cannot read {}", path.display()));
        }
        let object = ObjectRef { sha256: sha256_file(&copy)?, size: fs::metadata(&copy)?.len() };
        if remote.exists(&object_key(&object.sha256))? {
            moved.present += 1;
        } else {
            if !dry_run {
                remote.upload(&object_key(&object.sha256), &copy)?;
            }
            moved.objects += 1;
            moved.bytes += object.size;
        }
        entry.files.insert(rel, object);
    }
    let _ = fs::remove_dir_all(&scratch);
    if !dry_run {
        remote.put(&checkpoint_key(fingerprint), serde_json::to_vec_pretty(&entry)?)?;
    }
    Ok(Some(moved))
}

/// Fills the empty checkpoint folder of `entry`'s stage from the remote:
/// every file into a staging folder, each rehashed, then the folder
/// renamed into place, so a crash or a corrupt object leaves none of it.
pub fn pull_checkpoint(store: &Store, remote: &dyn RemoteCache, entry: &CheckpointEntry) -> anyhow::Result<Transfer> {
    let dir = store.checkpoint_dir(&entry.stage, &entry.fingerprint);
    let staging = store.scratch_dir(&format!("{}-pulled-checkpoint", entry.stage))?;
    let mut moved = Transfer::default();
    for (rel, object) in &entry.files {
        let dest = staging.join(safe_relative(rel)?);
        fs::create_dir_all(dest.parent().expect("a file in a folder"))?;
        let key = object_key(&object.sha256);
        anyhow::ensure!(remote.download(&key, &dest)?, "{}: {key} (checkpoint file {rel}) is missing on the remote", remote.url());
        let actual = sha256_file(&dest)?;
        anyhow::ensure!(
            actual == object.sha256,
            "{}: {key} (checkpoint file {rel}) is corrupt on the remote (its sha256 is {}); the stage starts from the beginning",
            remote.url(),
            &actual[..12]
        );
        moved.objects += 1;
        moved.bytes += object.size;
    }
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(dir.parent().expect("under the store"))?;
    fs::rename(&staging, &dir).with_context(|| format!("cannot move the pulled checkpoint into {}", dir.display()))?;
    Ok(moved)
}

/// The remote's checkpoint of `stage` fetched into its checkpoint folder,
/// unless that folder already holds one (never overwritten: it may be
/// newer); `None` when either has none to give.
pub fn fetch_unless_present(
    store: &Store,
    remote: &dyn RemoteCache,
    stage: &str,
    fingerprint: &Fingerprint,
) -> anyhow::Result<Option<(CheckpointEntry, Transfer)>> {
    if has_files(&store.checkpoint_dir(stage, fingerprint)) {
        return Ok(None);
    }
    let Some(entry) = remote_checkpoint(remote, fingerprint)? else { return Ok(None) };
    let moved = pull_checkpoint(store, remote, &entry)?;
    Ok(Some((entry, moved)))
}

/// Files under `dir` by path relative to it, sorted.
fn files_of(dir: &Path) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let Ok(entry) = entry else { continue };
        if entry.file_type().is_file() {
            let rel = entry.path().strip_prefix(dir).expect("under dir").to_string_lossy().into_owned();
            files.push((rel, entry.path().to_path_buf()));
        }
    }
    Ok(files)
}

/// A remote entry's path, refused when it could leave the folder.
fn safe_relative(rel: &str) -> anyhow::Result<&Path> {
    let path = Path::new(rel);
    let inside = path.components().all(|c| matches!(c, std::path::Component::Normal(_)));
    anyhow::ensure!(inside && !rel.is_empty(), "checkpoint file `{rel}` on the remote is not a plain relative path; refused");
    Ok(path)
}

/// Once a stage's finished run is on the remote its checkpoint is dead
/// weight (a build restores the run): removes the entry, then those of its
/// objects no other entry names. The entry goes first, so a crash leaves
/// unnamed objects behind, never an entry whose objects are gone. With
/// `dry_run`, only counts. `None` when the remote has no such checkpoint.
pub fn retire_checkpoint(remote: &dyn RemoteCache, fingerprint: &Fingerprint, dry_run: bool) -> anyhow::Result<Option<Transfer>> {
    let Some(entry) = remote_checkpoint(remote, fingerprint)? else { return Ok(None) };
    let named = named_objects(remote, &checkpoint_key(fingerprint))?;
    if !dry_run {
        remote.delete(&checkpoint_key(fingerprint))?;
    }
    let mut freed = Transfer::default();
    // A damaged entry may name any object: then all are kept (`gc
    // --remote` removes them once the entry is pushed again).
    let mut keep = named.objects;
    let free = |o: &&ObjectRef| named.damaged.is_empty() && keep.insert(o.sha256.clone());
    // `insert` is false for an object named elsewhere (or twice here): kept.
    for object in entry.files.values().filter(free) {
        if !dry_run {
            remote.delete(&object_key(&object.sha256))?;
        }
        freed.objects += 1;
        freed.bytes += object.size;
    }
    freed.present = entry.files.len() - freed.objects;
    Ok(Some(freed))
}

/// What the entries of a remote name.
#[derive(Debug, Default)]
pub(crate) struct Named {
    pub(crate) objects: std::collections::BTreeSet<String>,
    /// Entries that do not parse, with why: what they name is unknown, so
    /// whoever removes objects keeps the unnamed ones while there are any.
    pub(crate) damaged: Vec<String>,
}

/// The objects named by every run and checkpoint entry on the remote but
/// `except`, and the entries that could not be read.
pub(crate) fn named_objects(remote: &dyn RemoteCache, except: &str) -> anyhow::Result<Named> {
    let mut named = Named::default();
    for folder in ["runs", "checkpoints"] {
        for key in remote.list(folder)?.into_iter().filter(|k| k != except) {
            let Some(bytes) = remote.get(&key)? else { continue };
            let objects: Result<Vec<ObjectRef>, _> = match folder {
                "runs" => serde_json::from_slice::<super::record::StageRecord>(&bytes).map(|r| r.outputs.into_values().collect()),
                _ => serde_json::from_slice::<CheckpointEntry>(&bytes).map(|c| c.files.into_values().collect()),
            };
            match objects {
                Ok(objects) => named.objects.extend(objects.into_iter().map(|o| o.sha256)),
                Err(e) => named.damaged.push(format!("{}: {key} is not a valid entry ({e})", remote.url())),
            }
        }
    }
    Ok(named)
}
