//! Content digests of files and folders, with a cache keyed by
//! (size, mtime, inode) so unchanged large files are not read again.

use anyhow::Context;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// sha256 of a byte string, hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// sha256 of a file's content, hex. sha2 picks the CPU's SHA extensions
/// at run time; a large buffer keeps syscalls out of the profile.
pub fn sha256_file(path: &Path) -> anyhow::Result<String> {
    let mut file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// A file's identity for the cache (i64 nanoseconds last until 2262).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct StatKey {
    size: u64,
    mtime_ns: i64,
    inode: u64,
}

impl StatKey {
    fn of(meta: &fs::Metadata) -> StatKey {
        StatKey { size: meta.len(), mtime_ns: meta.mtime() * 1_000_000_000 + meta.mtime_nsec(), inode: meta.ino() }
    }
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct CachedDigest {
    stat: StatKey,
    sha256: String,
}

/// Remembers digests by file identity; persisted as JSON.
pub struct DigestCache {
    path: PathBuf,
    entries: Mutex<BTreeMap<String, CachedDigest>>,
    dirty: Mutex<bool>,
}

impl DigestCache {
    /// Loads the cache at `path`; a missing or unreadable cache starts empty
    /// (it only saves work, it is never trusted over a changed stat).
    pub fn open(path: PathBuf) -> DigestCache {
        let entries = fs::read(&path).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
        DigestCache { path, entries: Mutex::new(entries), dirty: Mutex::new(false) }
    }

    /// Digest of a file, read again only when its size, mtime or inode moved.
    pub fn file(&self, path: &Path) -> anyhow::Result<String> {
        let meta = fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
        let stat = StatKey::of(&meta);
        let key = path.to_string_lossy().into_owned();
        if let Some(hit) = self.entries.lock().unwrap().get(&key)
            && hit.stat == stat
        {
            return Ok(hit.sha256.clone());
        }
        let sha256 = sha256_file(path)?;
        self.entries.lock().unwrap().insert(key, CachedDigest { stat, sha256: sha256.clone() });
        *self.dirty.lock().unwrap() = true;
        Ok(sha256)
    }

    /// Digest of a file or a folder (sorted relative paths and their digests).
    pub fn path(&self, path: &Path) -> anyhow::Result<String> {
        if !path.is_dir() {
            return self.file(path);
        }
        let mut listing = String::new();
        for (rel, file) in files_under(path)? {
            listing.push_str(&format!("{rel}\t{}\n", self.file(&file)?));
        }
        Ok(sha256_hex(listing.as_bytes()))
    }

    /// Forgets a path (after the file behind it was found corrupt).
    pub fn forget(&self, path: &Path) {
        self.entries.lock().unwrap().remove(path.to_string_lossy().as_ref());
    }

    /// Writes the cache if it changed (atomically; losing it costs only time).
    pub fn save(&self) -> anyhow::Result<()> {
        if !*self.dirty.lock().unwrap() {
            return Ok(());
        }
        let bytes = serde_json::to_vec(&*self.entries.lock().unwrap())?;
        super::atomic::write(&self.path, &bytes)?;
        *self.dirty.lock().unwrap() = false;
        Ok(())
    }
}

/// The regular files under the folder `root` as `(a/b/c, path)`, sorted,
/// following symbolic links that stay inside it (their content is what a
/// reader sees, so it is what a digest covers); a link leading outside, or
/// a loop, is an error naming it.
pub fn files_under(root: &Path) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let real_root = root.canonicalize().with_context(|| format!("cannot open {}", root.display()))?;
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(root).follow_links(true).sort_by_file_name() {
        let entry = entry.with_context(|| format!("cannot list {} (a symbolic link loop?)", root.display()))?;
        if !entry.file_type().is_file() {
            continue;
        }
        let rel = entry.path().strip_prefix(root).expect("walk stays under root").to_string_lossy().replace('\\', "/");
        let real = entry.path().canonicalize().with_context(|| format!("cannot resolve {}", entry.path().display()))?;
        if !real.starts_with(&real_root) {
            anyhow::bail!(
                "{}: {rel} is a symbolic link to {}, outside the folder; copy the file in, or link within {}",
                root.display(),
                real.display(),
                root.display()
            );
        }
        out.push((rel, entry.into_path()));
    }
    Ok(out)
}
