//! A remote cache shared between machines: run-cache entries by
//! fingerprint (`runs/<fingerprint>.json`) and objects by sha256
//! (`objects/ab/cdef…`), the store's own layout. The engine knows a remote
//! only through [`RemoteCache`] (the `repro-remote` crate implements it for
//! folders and S3), and it alone decides what is trusted: every object is
//! rehashed before upload and after download, and a run entry is written
//! only once all its objects are there.

use super::key::Fingerprint;
use super::record::StageRecord;
use super::store::{ObjectRef, Store};
use std::path::Path;

/// Where a remote keeps things; implementations never interpret them.
pub fn run_key(fingerprint: &Fingerprint) -> String {
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

/// A run entry as a remote holds it.
#[derive(Debug, Clone)]
pub enum RemoteEntry {
    Found(Box<StageRecord>),
    Absent,
    /// There but unusable: treated as absent (the stage runs or is
    /// pulled from elsewhere), and `push` replaces it.
    Damaged(Damage),
}

/// Why a remote's run entry cannot be used.
#[derive(Debug, Clone, PartialEq)]
pub enum Damage {
    /// It does not parse as a run entry (truncated, not JSON, ...).
    Unreadable { url: String, key: String, error: String },
    /// It parses, but is another stage's entry (copied over this one).
    OtherFingerprint { url: String, key: String, names: String },
}

impl std::fmt::Display for Damage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Damage::Unreadable { url, key, error } => write!(f, "{url}: run entry {key} is not valid ({error})")?,
            Damage::OtherFingerprint { url, key, names } => {
                write!(f, "{url}: run entry {key} names another fingerprint ({})", &names[..names.len().min(12)])?
            }
        }
        write!(
            f,
            "; ignored: the stage is built as if the remote lacked it, and `repro push` from a machine that has it replaces the entry"
        )
    }
}

/// The run entry of `fingerprint` on the remote: found, absent, or there
/// but damaged (which callers treat as absent, saying so).
pub fn lookup_run(remote: &dyn RemoteCache, fingerprint: &Fingerprint) -> anyhow::Result<RemoteEntry> {
    let key = run_key(fingerprint);
    let Some(bytes) = remote.get(&key)? else { return Ok(RemoteEntry::Absent) };
    let url = remote.url().to_string();
    let record: StageRecord = match serde_json::from_slice(&bytes) {
        Ok(record) => record,
        Err(e) => return Ok(RemoteEntry::Damaged(Damage::Unreadable { url, key, error: e.to_string() })),
    };
    if record.fingerprint != *fingerprint {
        return Ok(RemoteEntry::Damaged(Damage::OtherFingerprint { url, key, names: record.fingerprint.to_string() }));
    }
    Ok(RemoteEntry::Found(Box::new(record)))
}

/// The usable run entry of `fingerprint` on the remote, if any; a damaged
/// one goes to `damaged` (to be reported) and counts as absent.
pub fn remote_run(
    remote: &dyn RemoteCache,
    fingerprint: &Fingerprint,
    damaged: &mut dyn FnMut(Damage),
) -> anyhow::Result<Option<StageRecord>> {
    Ok(match lookup_run(remote, fingerprint)? {
        RemoteEntry::Found(record) => Some(*record),
        RemoteEntry::Absent => None,
        RemoteEntry::Damaged(why) => {
            damaged(why);
            None
        }
    })
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
/// entry, unless the remote already holds that entry intact (a damaged one
/// is replaced, reported through `damaged`). Right before the entry is
/// written, every object it names is checked again and what went missing
/// meanwhile (a `gc --remote` of another machine) is sent again. With
/// `dry_run`, only counts what would go.
pub fn push_run(
    store: &Store,
    remote: &dyn RemoteCache,
    record: &StageRecord,
    with_objects: bool,
    dry_run: bool,
    sent: &mut std::collections::BTreeSet<String>,
    damaged: &mut dyn FnMut(Damage),
) -> anyhow::Result<Transfer> {
    let mut moved = Transfer::default();
    if with_objects {
        for (name, object) in &record.outputs {
            if sent.contains(&object.sha256) || remote.exists(&object_key(&object.sha256))? {
                moved.present += 1;
                continue;
            }
            send_object(store, remote, record, name, object, dry_run)?;
            sent.insert(object.sha256.clone());
            moved.objects += 1;
            moved.bytes += object.size;
        }
    }
    if remote_run(remote, &record.fingerprint, damaged)?.is_some() {
        return Ok(moved);
    }
    if !dry_run {
        if with_objects {
            resend_missing(store, remote, record, &mut moved)?;
        }
        remote.put(&run_key(&record.fingerprint), serde_json::to_vec_pretty(record)?)?;
    }
    moved.runs += 1;
    Ok(moved)
}

/// One object of `record` to the remote, rehashed first.
fn send_object(
    store: &Store,
    remote: &dyn RemoteCache,
    record: &StageRecord,
    name: &str,
    object: &ObjectRef,
    dry_run: bool,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        store.verify_bytes(object),
        "output {name} of {} (object {}) no longer matches its sha256, so it was removed; rebuild before pushing",
        record.fingerprint.short(),
        &object.sha256[..12]
    );
    if !dry_run {
        remote.upload(&object_key(&object.sha256), &store.object_path(&object.sha256))?;
    }
    Ok(())
}

/// Sends again the objects of `record` that are not on the remote now, so
/// that the entry written next never names a missing object.
fn resend_missing(store: &Store, remote: &dyn RemoteCache, record: &StageRecord, moved: &mut Transfer) -> anyhow::Result<()> {
    for (name, object) in &record.outputs {
        if !remote.exists(&object_key(&object.sha256))? {
            send_object(store, remote, record, name, object, false)?;
            moved.objects += 1;
            moved.bytes += object.size;
        }
    }
    Ok(())
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
pub fn pin(store_root: &Path, fingerprint: &Fingerprint) -> anyhow::Result<()> {
    super::atomic::write(&store_root.join("pins").join(fingerprint.as_str()), b"")
}

/// Fingerprints pinned by push or pull.
pub fn pinned(store_root: &Path) -> Vec<Fingerprint> {
    let Ok(entries) = std::fs::read_dir(store_root.join("pins")) else { return Vec::new() };
    entries.filter_map(|e| e.ok()).filter_map(|e| Fingerprint::parse(&e.file_name().to_string_lossy())).collect()
}
