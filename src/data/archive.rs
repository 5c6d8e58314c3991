//! Reading members of a `.tar.gz` (or a folder) into memory, without ever
//! writing them to disk, and refusing paths that try to leave the archive.

use anyhow::{Context, bail};
use std::fs::File;
use std::io::Read;
use std::path::{Component, Path};

/// A regular file of an archive or folder: its relative path and content.
pub struct Member {
    pub path: String,
    pub bytes: Vec<u8>,
}

/// Calls `keep` with each member's relative path; reads the members it
/// accepts (up to `max_size` bytes each).
pub fn read_members(source: &Path, max_size: u64, keep: impl Fn(&str) -> bool) -> anyhow::Result<Vec<Member>> {
    if source.is_dir() { read_folder(source, max_size, keep) } else { read_tar_gz(source, max_size, keep) }
}

fn read_tar_gz(source: &Path, max_size: u64, keep: impl Fn(&str) -> bool) -> anyhow::Result<Vec<Member>> {
    let file = File::open(source).with_context(|| format!("cannot open {}", source.display()))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(std::io::BufReader::with_capacity(1 << 20, file)));
    let mut out = Vec::new();
    let entries = archive.entries().with_context(|| format!("{}: not a tar.gz archive", source.display()))?;
    for entry in entries {
        let mut entry = entry.with_context(|| format!("{}: damaged archive", source.display()))?;
        let raw = entry.path().with_context(|| format!("{}: unreadable member name", source.display()))?.into_owned();
        let path = safe_relative(&raw).with_context(|| format!("{}: unsafe member path {}", source.display(), raw.display()))?;
        if !entry.header().entry_type().is_file() || !keep(&path) {
            continue;
        }
        let size = entry.size();
        if size > max_size {
            bail!("{}: member {path} is {size} bytes, more than the {max_size} expected", source.display());
        }
        let mut bytes = Vec::with_capacity(size as usize);
        entry.read_to_end(&mut bytes).with_context(|| format!("{}: cannot read member {path}", source.display()))?;
        out.push(Member { path, bytes });
    }
    Ok(out)
}

fn read_folder(source: &Path, max_size: u64, keep: impl Fn(&str) -> bool) -> anyhow::Result<Vec<Member>> {
    let mut out = Vec::new();
    // The same files (symbolic links inside the folder followed) as the
    // folder's digest covers.
    for (rel, path) in repro_engine::hashing::files_under(source)? {
        if !keep(&rel) {
            continue;
        }
        let size = std::fs::metadata(&path)?.len();
        if size > max_size {
            bail!("{}: {rel} is {size} bytes, more than the {max_size} expected", source.display());
        }
        let bytes = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        out.push(Member { path: rel, bytes });
    }
    Ok(out)
}

/// The member path as `a/b/c`, or an error for absolute paths and `..`.
pub fn safe_relative(path: &Path) -> anyhow::Result<String> {
    let mut parts = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
            Component::CurDir => {}
            _ => bail!("absolute paths and `..` are not allowed in an archive"),
        }
    }
    Ok(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_escaping_paths() {
        assert!(safe_relative(Path::new("../etc/passwd")).is_err());
        assert!(safe_relative(Path::new("/etc/passwd")).is_err());
        assert!(safe_relative(Path::new("a/../../b")).is_err());
        assert_eq!(safe_relative(Path::new("./a/b.bin")).unwrap(), "a/b.bin");
    }
}
