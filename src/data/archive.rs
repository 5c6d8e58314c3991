//! Reading members of a `.tar.gz` (or a folder) into memory, without ever
//! writing them to disk, and refusing paths that try to leave the archive.

use anyhow::{Context, bail};
use std::collections::{BTreeMap, BTreeSet};
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

/// A `.tar.gz` read as the folder it unpacks to: regular members, and
/// symbolic and hard links followed when they point inside the archive (a
/// link to a folder stands for the files under it); a link that points
/// outside is refused, naming it.
fn read_tar_gz(source: &Path, max_size: u64, keep: impl Fn(&str) -> bool) -> anyhow::Result<Vec<Member>> {
    let mut links = BTreeMap::new();
    let mut files = BTreeSet::new();
    let mut out = Vec::new();
    for_each_member(source, |path, entry| {
        let kind = entry.header().entry_type();
        if kind.is_symlink() || kind.is_hard_link() {
            links.insert(path.to_string(), link_target(source, path, entry)?);
        } else if kind.is_file() {
            files.insert(path.to_string());
            if keep(path) {
                out.push(Member { path: path.to_string(), bytes: read_entry(source, path, entry, max_size)? });
            }
        }
        Ok(())
    })?;
    if links.is_empty() {
        return Ok(out);
    }
    let aliases = link_aliases(source, &links, &files, &keep)?;
    let wanted: BTreeSet<&str> = aliases.values().map(String::as_str).collect();
    let mut targets = BTreeMap::new();
    for_each_member(source, |path, entry| {
        if wanted.contains(path) && entry.header().entry_type().is_file() {
            targets.insert(path.to_string(), read_entry(source, path, entry, max_size)?);
        }
        Ok(())
    })?;
    out.extend(aliases.into_iter().map(|(alias, target)| Member { path: alias, bytes: targets[&target].clone() }));
    Ok(out)
}

type Entry<'a> = tar::Entry<'a, flate2::read::GzDecoder<std::io::BufReader<File>>>;

/// Calls `each` with every member's safe relative path, in archive order.
fn for_each_member(source: &Path, mut each: impl FnMut(&str, &mut Entry) -> anyhow::Result<()>) -> anyhow::Result<()> {
    let file = File::open(source).with_context(|| format!("cannot open {}", source.display()))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(std::io::BufReader::with_capacity(1 << 20, file)));
    let entries = archive.entries().with_context(|| format!("{}: not a tar.gz archive", source.display()))?;
    for entry in entries {
        let mut entry = entry.with_context(|| format!("{}: damaged archive", source.display()))?;
        let raw = entry.path().with_context(|| format!("{}: unreadable member name", source.display()))?.into_owned();
        let path = safe_relative(&raw).with_context(|| format!("{}: unsafe member path {}", source.display(), raw.display()))?;
        each(&path, &mut entry)?;
    }
    Ok(())
}

fn read_entry(source: &Path, path: &str, entry: &mut Entry, max_size: u64) -> anyhow::Result<Vec<u8>> {
    let size = entry.size();
    if size > max_size {
        bail!("{}: member {path} is {size} bytes, more than the {max_size} expected", source.display());
    }
    let mut bytes = Vec::with_capacity(size as usize);
    entry.read_to_end(&mut bytes).with_context(|| format!("{}: cannot read member {path}", source.display()))?;
    Ok(bytes)
}

/// Where the link member `path` points, as an archive path: a symbolic
/// link from its own folder, a hard link from the archive's root.
fn link_target(source: &Path, path: &str, entry: &Entry) -> anyhow::Result<String> {
    let name = entry.link_name().ok().flatten().with_context(|| format!("{}: link member {path} names no target", source.display()))?;
    let base = match entry.header().entry_type().is_symlink() {
        true => Path::new(path).parent().unwrap_or(Path::new("")).to_path_buf(),
        false => Default::default(),
    };
    normalized(&base.join(&name)).with_context(|| {
        format!(
            "{}: member {path} is a link to {}, outside the archive; refused (links must stay inside it)",
            source.display(),
            name.display()
        )
    })
}

/// `a/./b/../c` as `a/c`; `None` when it climbs above the root or is absolute.
fn normalized(path: &Path) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            _ => return None,
        }
    }
    Some(parts.join("/"))
}

/// Every kept path that a link makes (the link itself, or a file under a
/// linked folder) with the regular member it reads.
fn link_aliases(
    source: &Path,
    links: &BTreeMap<String, String>,
    files: &BTreeSet<String>,
    keep: &impl Fn(&str) -> bool,
) -> anyhow::Result<BTreeMap<String, String>> {
    let mut aliases = BTreeMap::new();
    for link in links.keys() {
        let target = resolve(source, link, links)?;
        if files.contains(&target) {
            aliases.insert(link.clone(), target);
            continue;
        }
        let folder = format!("{target}/");
        let under: Vec<&String> = files.range(folder.clone()..).take_while(|f| f.starts_with(&folder)).collect();
        if under.is_empty() && keep(link) {
            bail!("{}: member {link} is a link to {target}, which the archive does not hold", source.display());
        }
        for file in under {
            aliases.insert(format!("{link}/{}", &file[folder.len()..]), file.clone());
        }
    }
    aliases.retain(|alias, _| keep(alias));
    Ok(aliases)
}

/// `path` with every link among its folders and itself replaced by its
/// target, until none is left; a cycle is refused.
fn resolve(source: &Path, path: &str, links: &BTreeMap<String, String>) -> anyhow::Result<String> {
    let mut current = path.to_string();
    for _ in 0..40 {
        let parts: Vec<&str> = current.split('/').collect();
        let hop = (1..=parts.len()).find_map(|n| links.get(&parts[..n].join("/")).map(|t| (n, t)));
        let Some((n, target)) = hop else { return Ok(current) };
        current =
            std::iter::once(target.as_str()).chain(parts[n..].iter().copied()).filter(|p| !p.is_empty()).collect::<Vec<_>>().join("/");
    }
    bail!("{}: member {path} is a link that leads to itself (a cycle of links); refused", source.display())
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

    #[test]
    fn links_resolve_inside_the_archive_and_cycles_are_refused() {
        assert_eq!(normalized(Path::new("a/b/../c/./d")).as_deref(), Some("a/c/d"));
        assert_eq!(normalized(Path::new("a/../../x")), None);
        let links: BTreeMap<String, String> =
            [("x/l", "x/y"), ("d", "real"), ("c1", "c2"), ("c2", "c1")].map(|(a, b)| (a.to_string(), b.to_string())).into();
        let src = Path::new("t.tar.gz");
        assert_eq!(resolve(src, "x/l", &links).unwrap(), "x/y");
        assert_eq!(resolve(src, "d/f.png", &links).unwrap(), "real/f.png");
        assert!(resolve(src, "c1", &links).is_err());
    }
}
