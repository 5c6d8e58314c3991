//! Content-addressed objects under `artifacts/objects/ab/cdef…`: put
//! atomically, verified before use, collected when no record names them.

use super::atomic;
use super::hashing::{DigestCache, sha256_file};
use super::key::Fingerprint;
use anyhow::Context;
use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

pub struct Store {
    root: PathBuf,
    digests: DigestCache,
    /// Rehash every object verified, trusting no cached digest
    /// (`repro status --verify`).
    rehash: bool,
    /// Objects a verification found missing or corrupt (and removed).
    failed: std::sync::Mutex<BTreeSet<String>>,
}

/// An object's digest and size, as recorded.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ObjectRef {
    pub sha256: String,
    pub size: u64,
}

impl Store {
    /// Opens (creating) the store at `root`.
    pub fn open(root: &Path) -> anyhow::Result<Store> {
        fs::create_dir_all(root).with_context(|| format!("cannot create the store at {}", root.display()))?;
        let root = root.canonicalize()?;
        let digests = DigestCache::open(root.join("cache").join("digests.json"));
        Ok(Store { root, digests, rehash: false, failed: Default::default() })
    }

    /// Opens the store so that every verification rehashes the object.
    pub fn open_rehashing(root: &Path) -> anyhow::Result<Store> {
        Ok(Store { rehash: true, ..Store::open(root)? })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn digests(&self) -> &DigestCache {
        &self.digests
    }

    pub fn object_path(&self, sha256: &str) -> PathBuf {
        self.root.join("objects").join(&sha256[..2]).join(&sha256[2..])
    }

    /// Folder for a stage's scratch outputs; same filesystem as objects so
    /// putting them is a rename.
    pub fn scratch_dir(&self, stage: &str) -> anyhow::Result<PathBuf> {
        let dir = self.root.join("tmp").join(format!("{stage}-{}", std::process::id()));
        if dir.exists() {
            fs::remove_dir_all(&dir)?;
        }
        fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(dir)
    }

    /// Removes scratch folders left by killed builds. Only called while the
    /// store lock is held, so none of them belongs to a live build.
    pub fn clear_scratch(&self) -> anyhow::Result<()> {
        let tmp = self.root.join("tmp");
        if tmp.exists() {
            fs::remove_dir_all(&tmp).with_context(|| format!("cannot clear {}", tmp.display()))?;
        }
        Ok(())
    }

    pub fn checkpoint_dir(&self, stage: &str, fingerprint: &Fingerprint) -> PathBuf {
        self.root.join("checkpoints").join(format!("{stage}-{}", &fingerprint.as_str()[..16]))
    }

    pub fn downloads_dir(&self) -> PathBuf {
        self.root.join("downloads")
    }

    /// Moves a finished file into the store under its digest.
    pub fn put(&self, file: &Path) -> anyhow::Result<ObjectRef> {
        let sha256 = super::hashing::sha256_file(file)?;
        let size = fs::metadata(file)?.len();
        let dest = self.object_path(&sha256);
        if self.verify(&ObjectRef { sha256: sha256.clone(), size }) {
            fs::remove_file(file)?;
        } else {
            let _ = fs::remove_file(&dest);
            fs::set_permissions(file, fs::Permissions::from_mode(0o444))?;
            atomic::install(file, &dest)?;
        }
        Ok(ObjectRef { sha256, size })
    }

    /// Installs `file`, already checked to hold `object`'s bytes, as that
    /// object (a rename: `file` must be on the store's filesystem).
    pub fn adopt(&self, file: &Path, object: &ObjectRef) -> anyhow::Result<()> {
        fs::set_permissions(file, fs::Permissions::from_mode(0o444))?;
        atomic::install(file, &self.object_path(&object.sha256))
    }

    /// Whether the object exists with its recorded content. A mismatch
    /// removes the bad object so it is rebuilt, never trusted.
    pub fn verify(&self, object: &ObjectRef) -> bool {
        if self.rehash { self.verify_bytes(object) } else { self.verify_with(object, |p| self.digests.file(p)) }
    }

    /// Like `verify`, but rehashes the object's bytes whatever its stat
    /// says: what a stage is about to read (a byte changed with its mtime
    /// put back is caught here).
    pub fn verify_bytes(&self, object: &ObjectRef) -> bool {
        self.verify_with(object, sha256_file)
    }

    fn verify_with(&self, object: &ObjectRef, digest: impl Fn(&Path) -> anyhow::Result<String>) -> bool {
        let path = self.object_path(&object.sha256);
        let ok = fs::metadata(&path).map(|m| m.len() == object.size).unwrap_or(false)
            && digest(&path).map(|d| d == object.sha256).unwrap_or(false);
        if !ok {
            self.failed.lock().unwrap_or_else(|p| p.into_inner()).insert(object.sha256.clone());
        }
        if !ok && path.exists() {
            self.digests.forget(&path);
            let _ = fs::remove_file(&path);
        }
        ok
    }

    /// The objects verifications of this store found missing or corrupt.
    pub fn failed(&self) -> Vec<String> {
        self.failed.lock().unwrap_or_else(|p| p.into_inner()).iter().cloned().collect()
    }

    /// Every object digest present.
    pub fn list_objects(&self) -> anyhow::Result<Vec<String>> {
        let dir = self.root.join("objects");
        let mut out = Vec::new();
        if !dir.exists() {
            return Ok(out);
        }
        for entry in walkdir::WalkDir::new(&dir).min_depth(2).max_depth(2) {
            let entry = entry?;
            if entry.file_type().is_file() {
                let prefix = entry.path().parent().and_then(|p| p.file_name()).unwrap_or_default().to_string_lossy();
                out.push(format!("{prefix}{}", entry.file_name().to_string_lossy()));
            }
        }
        Ok(out)
    }

    /// Removes objects not in `keep`; returns (count, bytes) removed.
    pub fn remove_except(&self, keep: &BTreeSet<String>, dry_run: bool) -> anyhow::Result<(usize, u64)> {
        let (mut count, mut bytes) = (0, 0);
        for sha in self.list_objects()? {
            if keep.contains(&sha) {
                continue;
            }
            let path = self.object_path(&sha);
            bytes += fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            count += 1;
            if !dry_run {
                fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))?;
                self.digests.forget(&path);
            }
        }
        Ok((count, bytes))
    }
}
