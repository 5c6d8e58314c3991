//! Garbage collection on a remote cache. A push writes objects first and
//! its run entry last, so a push that stopped halfway leaves objects that
//! no entry names, and a checkpoint entry is dead weight once its run is
//! there. A shared cache would keep both forever; this removes them. Run
//! entries are never removed: whether another machine (another CPU path,
//! another code version) still wants one cannot be known from here.

use super::carry::{self, named_objects};
use super::key::Fingerprint;
use super::remote::{RemoteCache, run_key};
use std::time::{Duration, SystemTime};

/// What one collection removed (or, in a dry run, would remove) and kept.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Collected {
    /// Checkpoint entries of runs that are on the remote.
    pub checkpoints: usize,
    pub objects: usize,
    pub bytes: u64,
    /// Objects an entry names.
    pub named: usize,
    /// Unnamed objects younger than the minimum age: a push may be under way.
    pub young: usize,
    /// Entries that do not parse: while there are any, every unnamed
    /// object is kept (it may be theirs); a push of the stage replaces them.
    pub damaged: Vec<String>,
    /// Unnamed objects kept because of `damaged`.
    pub kept_for_damaged: usize,
}

/// Retires the checkpoints of finished runs, then removes the objects no
/// run or checkpoint entry names that are older than `min_age`. While an
/// entry does not parse, no unnamed object is removed (it may be that
/// entry's); the entry is reported in `damaged`.
pub fn collect(remote: &dyn RemoteCache, min_age: Duration, dry_run: bool) -> anyhow::Result<Collected> {
    let mut done = retire_finished_checkpoints(remote, dry_run)?;
    // Listed before the entries are read: an object written after this
    // listing is not touched, whatever entry comes to name it.
    let objects = remote.list_meta("objects")?;
    let named = named_objects(remote, "")?;
    done.damaged = named.damaged;
    let now = SystemTime::now();
    let mut doomed = Vec::new();
    for object in objects {
        let Some(sha) = object_sha(&object.key) else { continue };
        if named.objects.contains(&sha) {
            done.named += 1;
        } else if !done.damaged.is_empty() {
            done.kept_for_damaged += 1;
        } else if now.duration_since(object.modified).unwrap_or_default() < min_age {
            done.young += 1;
        } else {
            doomed.push((object, sha));
        }
    }
    if !dry_run && !doomed.is_empty() {
        // A push skips objects already there, so an entry written since the
        // first reading may name an old unnamed object: read them again
        // just before removing. (A remote has no lock; this narrows the
        // window, and gc is best run when no push is under way.)
        let named = named_objects(remote, "")?;
        doomed.retain(|(_, sha)| named.damaged.is_empty() && !named.objects.contains(sha));
    }
    for (object, _) in doomed {
        if !dry_run {
            remote.delete(&object.key)?;
        }
        done.objects += 1;
        done.bytes += object.size;
    }
    Ok(done)
}

/// Checkpoint entries whose finished run is on the remote, retired with
/// the objects only they name (see `carry::retire_checkpoint`).
fn retire_finished_checkpoints(remote: &dyn RemoteCache, dry_run: bool) -> anyhow::Result<Collected> {
    let mut done = Collected::default();
    for key in remote.list("checkpoints")? {
        let named = key.strip_prefix("checkpoints/").and_then(|k| k.strip_suffix(".json"));
        let Some(fingerprint) = named.and_then(Fingerprint::parse) else { continue };
        if !remote.exists(&run_key(&fingerprint))? {
            continue;
        }
        if let Some(freed) = carry::retire_checkpoint(remote, &fingerprint, dry_run)? {
            done.checkpoints += 1;
            done.objects += freed.objects;
            done.bytes += freed.bytes;
        }
    }
    Ok(done)
}

/// `objects/ab/cdef…` -> `abcdef…`; `None` for a key the store's layout
/// does not make (left alone).
fn object_sha(key: &str) -> Option<String> {
    let (head, tail) = key.strip_prefix("objects/")?.split_once('/')?;
    let sha = format!("{head}{tail}");
    let valid = head.len() == 2 && sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
    valid.then_some(sha)
}

#[cfg(test)]
mod tests {
    use super::object_sha;

    #[test]
    fn only_the_store_layout_names_an_object() {
        let sha = "ab".repeat(32);
        assert_eq!(object_sha(&format!("objects/ab/{}", &sha[2..])), Some(sha.clone()));
        assert_eq!(object_sha(&format!("objects/{sha}")), None);
        assert_eq!(object_sha(&format!("objects/abc/{}", &sha[3..])), None);
        assert_eq!(object_sha(&format!("objects/AB/{}", &sha[2..])), None);
        assert_eq!(object_sha("objects/ab/cd#1"), None);
        assert_eq!(object_sha("runs/x.json"), None);
    }
}
