//! Writes that are either complete or absent: temp file, fsync, rename,
//! fsync of the folder. A crash at any point leaves the old file or none.

use anyhow::Context;
use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

/// Replaces `path` with `bytes` atomically.
pub fn write(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = parent_of(path);
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).with_context(|| format!("cannot write in {}", dir.display()))?;
    tmp.write_all(bytes).with_context(|| format!("cannot write {}", path.display()))?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).with_context(|| format!("cannot replace {}", path.display()))?;
    sync_dir(dir)
}

/// Moves a finished file into place atomically (same filesystem), after
/// flushing its content.
pub fn install(src: &Path, dest: &Path) -> anyhow::Result<()> {
    File::open(src).and_then(|f| f.sync_all()).with_context(|| format!("cannot flush {}", src.display()))?;
    let dir = parent_of(dest);
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    fs::rename(src, dest).with_context(|| format!("cannot move {} to {}", src.display(), dest.display()))?;
    sync_dir(dir)
}

/// Makes a rename durable.
pub fn sync_dir(dir: &Path) -> anyhow::Result<()> {
    File::open(dir).and_then(|d| d.sync_all()).with_context(|| format!("cannot flush folder {}", dir.display()))
}

fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}
