//! Copies a stage's outputs to a plain folder for people to open. A marker
//! file lists what was exported with each file's stat as written (size,
//! mtime, and ctime, which no one can set back): a file whose stat still
//! matches is trusted, any other is rehashed and rewritten if its bytes
//! differ. Every copy is hashed before
//! it replaces the exported file, so a corrupt object is never exported.

use super::hashing::sha256_file;
use super::store::{ObjectRef, Store};
use anyhow::Context;
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

const MARKER: &str = ".repro-export.json";

/// One exported file: its content, and its stat right after it was written.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Exported {
    sha256: String,
    size: u64,
    mtime_ns: i128,
    /// Changes with any write or `touch`, and cannot be put back.
    ctime_ns: i128,
    inode: u64,
}

impl Exported {
    /// `sha256` at `path`, with the file's current stat.
    fn stat(path: &Path, sha256: &str) -> anyhow::Result<Exported> {
        let meta = fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
        let ns = |s: i64, n: i64| s as i128 * 1_000_000_000 + n as i128;
        Ok(Exported {
            sha256: sha256.to_string(),
            size: meta.len(),
            mtime_ns: ns(meta.mtime(), meta.mtime_nsec()),
            ctime_ns: ns(meta.ctime(), meta.ctime_nsec()),
            inode: meta.ino(),
        })
    }
}

/// Makes `dest` hold exactly `outputs` (by name); files it exported before
/// and no longer has are removed, anything else in `dest` is left alone.
pub fn sync(store: &Store, outputs: &BTreeMap<String, ObjectRef>, dest: &Path) -> anyhow::Result<()> {
    let marker = dest.join(MARKER);
    // An unreadable (or older) marker trusts nothing: every file is rehashed.
    let previous: BTreeMap<String, Exported> = fs::read(&marker).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default();
    for name in previous.keys().filter(|k| !outputs.contains_key(*k)) {
        let _ = fs::remove_file(dest.join(name));
    }
    let mut exported = BTreeMap::new();
    for (name, object) in outputs {
        let target = dest.join(name);
        let done = match previous.get(name) {
            Some(was) if was.sha256 == object.sha256 && Exported::stat(&target, &object.sha256).ok().as_ref() == Some(was) => was.clone(),
            _ if sha256_file(&target).is_ok_and(|d| d == object.sha256) => Exported::stat(&target, &object.sha256)?,
            _ => copy_verified(store, name, object, &target)?,
        };
        exported.insert(name.clone(), done);
    }
    if exported != previous {
        super::atomic::write(&marker, &serde_json::to_vec_pretty(&exported)?)?;
    }
    Ok(())
}

/// Copies `object` to `target` through a scratch file beside it, hashed
/// before it replaces `target`. A corrupt object is removed from the store
/// (the next build reruns its stage) and nothing is exported for it.
fn copy_verified(store: &Store, name: &str, object: &ObjectRef, target: &Path) -> anyhow::Result<Exported> {
    let parent = target.parent().context("an export path has a parent")?;
    fs::create_dir_all(parent).with_context(|| format!("cannot create {}", parent.display()))?;
    let scratch = tempfile::NamedTempFile::new_in(parent).with_context(|| format!("cannot write in {}", parent.display()))?;
    fs::copy(store.object_path(&object.sha256), scratch.path()).with_context(|| format!("cannot export {}", target.display()))?;
    let copied = sha256_file(scratch.path())?;
    if copied != object.sha256 {
        store.verify_bytes(object);
        anyhow::bail!(
            "cannot export {}: the stored output `{name}` (object {}) is corrupt (its bytes hash to {}); it was removed from the store, so the next build reruns its stage",
            target.display(),
            &object.sha256[..12],
            &copied[..12]
        );
    }
    fs::set_permissions(scratch.path(), fs::Permissions::from_mode(0o644))?;
    scratch.persist(target).with_context(|| format!("cannot export {}", target.display()))?;
    Exported::stat(target, &object.sha256)
}
