//! A remote cache shared between machines: run-cache entries by
//! fingerprint (`runs/<fingerprint>.json`) and objects by sha256
//! (`objects/ab/cdef…`), the store's own layout. The engine knows a remote
//! only through [`RemoteCache`] (the `repro-remote` crate implements it for
//! folders and S3), and it alone decides what is trusted: every object is
//! rehashed before upload and after download, and a run entry is written
//! only once all its objects are there.

use super::record::StageRecord;
use super::store::{ObjectRef, Store};
use std::path::Path;

/// Where a remote keeps things; implementations never interpret them.
pub fn run_key(fingerprint: &str) -> String {
    format!("runs/{fingerprint}.json")
}

pub fn object_key(sha256: &str) -> String {
    format!("objects/{}/{}", &sha256[..2], &sha256[2..])
}

/// Storage operations on a remote. Keys are `run_key` / `object_key`.
/// Errors must never carry credentials.
pub trait RemoteCache: Send + Sync {
    /// The remote as a user wrote it (no secrets).
    fn url(&self) -> &str;
    /// Fails early and clearly when the remote cannot be used (no such
    /// bucket, refused credentials, unreadable folder).
    fn check(&self) -> anyhow::Result<()>;
    fn exists(&self, key: &str) -> anyhow::Result<bool>;
    /// The bytes at `key`, or `None` when absent.
    fn get(&self, key: &str) -> anyhow::Result<Option<Vec<u8>>>;
    /// Streams `key` into the file `dest`; `false` when absent.
    fn download(&self, key: &str, dest: &Path) -> anyhow::Result<bool>;
    /// Writes `key` whole (a reader sees all of it or nothing).
    fn upload(&self, key: &str, src: &Path) -> anyhow::Result<()>;
    fn put(&self, key: &str, bytes: Vec<u8>) -> anyhow::Result<()>;
    /// Every key under the folder `prefix` (`runs`), in no set order.
    fn list(&self, prefix: &str) -> anyhow::Result<Vec<String>> {
        Ok(self.list_meta(prefix)?.into_iter().map(|l| l.key).collect())
    }
    /// `list`, with each key's size and last write.
    fn list_meta(&self, prefix: &str) -> anyhow::Result<Vec<Listed>>;
    /// Removes `key`; an absent key is no error.
    fn delete(&self, key: &str) -> anyhow::Result<()>;
}

/// A key on a remote, as a listing gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub key: String,
    pub size: u64,
    pub modified: std::time::SystemTime,
}

/// The run entry of `fingerprint` on the remote, if any.
pub fn remote_run(remote: &dyn RemoteCache, fingerprint: &str) -> anyhow::Result<Option<StageRecord>> {
    let Some(bytes) = remote.get(&run_key(fingerprint))? else { return Ok(None) };
    let record: StageRecord = serde_json::from_slice(&bytes)
        .map_err(|e| anyhow::anyhow!("{}: run entry {} is not valid ({e}); push it again", remote.url(), run_key(fingerprint)))?;
    anyhow::ensure!(record.fingerprint == fingerprint, "{}: run entry {} names another fingerprint", remote.url(), run_key(fingerprint));
    Ok(Some(record))
}

/// What one push or pull moved.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Transfer {
    pub objects: usize,
    pub bytes: u64,
    /// Objects already on the other side.
    pub present: usize,
    pub runs: usize,
}

impl Transfer {
    pub fn add(&mut self, other: &Transfer) {
        self.objects += other.objects;
        self.bytes += other.bytes;
        self.present += other.present;
        self.runs += other.runs;
    }
}

/// Uploads `record`'s objects the remote lacks (each rehashed first; with
/// `with_objects` false, none: a stage cheap to rebuild), then its run
/// entry. With `dry_run`, only counts what would go.
pub fn push_run(
    store: &Store,
    remote: &dyn RemoteCache,
    record: &StageRecord,
    with_objects: bool,
    dry_run: bool,
    sent: &mut std::collections::BTreeSet<String>,
) -> anyhow::Result<Transfer> {
    let mut moved = Transfer::default();
    if with_objects {
        for (name, object) in &record.outputs {
            if sent.contains(&object.sha256) || remote.exists(&object_key(&object.sha256))? {
                moved.present += 1;
                continue;
            }
            anyhow::ensure!(
                store.verify_bytes(object),
                "output {name} of {} (object {}) no longer matches its sha256, so it was removed; rebuild before pushing",
                &record.fingerprint[..12],
                &object.sha256[..12]
            );
            if !dry_run {
                remote.upload(&object_key(&object.sha256), &store.object_path(&object.sha256))?;
            }
            sent.insert(object.sha256.clone());
            moved.objects += 1;
            moved.bytes += object.size;
        }
    }
    if dry_run || !remote.exists(&run_key(&record.fingerprint))? {
        if !dry_run {
            remote.put(&run_key(&record.fingerprint), serde_json::to_vec_pretty(record)?)?;
        }
        moved.runs += 1;
    }
    Ok(moved)
}

/// Fetches `record`'s objects the store lacks, each into a scratch file,
/// rehashed, and only then installed; the local run entry is written last.
/// A corrupt object is refused, naming it, and nothing of the run is trusted.
pub fn pull_run(store: &Store, remote: &dyn RemoteCache, record: &StageRecord) -> anyhow::Result<Transfer> {
    let mut moved = Transfer::default();
    for (name, object) in &record.outputs {
        if store.verify(object) {
            moved.present += 1;
            continue;
        }
        fetch_object(store, remote, name, object)?;
        moved.objects += 1;
        moved.bytes += object.size;
    }
    super::record::remember_run(store.root(), record)?;
    moved.runs += 1;
    Ok(moved)
}

fn fetch_object(store: &Store, remote: &dyn RemoteCache, name: &str, object: &ObjectRef) -> anyhow::Result<()> {
    let key = object_key(&object.sha256);
    let tmp = store.root().join("tmp");
    std::fs::create_dir_all(&tmp)?;
    let scratch = tempfile::NamedTempFile::new_in(tmp)?;
    anyhow::ensure!(remote.download(&key, scratch.path())?, "{}: {key} ({name}) is missing on the remote; push it again", remote.url());
    let actual = super::hashing::sha256_file(scratch.path())?;
    anyhow::ensure!(
        actual == object.sha256,
        "{}: {key} ({name}) is corrupt on the remote (its sha256 is {}); it was not stored. Push it again from a machine that has it, or rebuild the stage",
        remote.url(),
        &actual[..12]
    );
    store.adopt(scratch.path(), object)
}

/// Marks runs that went to or came from a remote, so `gc` keeps their objects.
pub fn pin(store_root: &Path, fingerprint: &str) -> anyhow::Result<()> {
    super::atomic::write(&store_root.join("pins").join(fingerprint), b"")
}

/// Fingerprints pinned by push or pull.
pub fn pinned(store_root: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(store_root.join("pins")) else { return Vec::new() };
    entries.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect()
}
