//! Prints computed once per binary, compute path, runner and probe: a
//! JSON map per (binary, compute path, runner) under the user's cache
//! folder, so `repro status` after the first call reads them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// `$REPRO_KERNEL_CACHE`, else `$XDG_CACHE_HOME/repro/kernels`, else
/// `~/.cache/repro/kernels`; none when no home is known.
pub fn default_dir() -> Option<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    var("REPRO_KERNEL_CACHE")
        .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("repro/kernels")))
        .or_else(|| var("HOME").map(|d| d.join(".cache/repro/kernels")))
}

/// What one (binary, compute path, runner) has computed: each probe's
/// print, and each workload's probe names (deriving them builds the
/// model, the larger part of a cached plan's cost).
#[derive(Default, serde::Serialize, serde::Deserialize)]
pub struct Cached {
    pub prints: BTreeMap<String, String>,
    pub workloads: BTreeMap<String, Vec<String>>,
}

/// `Cached`, in memory and on disk; read on first use (a command that
/// plans no model stage never reads it).
pub struct PrintCache {
    dir: Option<PathBuf>,
    runner: String,
    loaded: OnceLock<Loaded>,
}

struct Loaded {
    file: Option<PathBuf>,
    cached: Mutex<Cached>,
}

impl PrintCache {
    /// The cache of this binary on this machine's compute path for
    /// `runner` in `dir` (an unreadable file is recomputed, never trusted
    /// in part).
    pub fn open(dir: Option<PathBuf>, runner: &str) -> PrintCache {
        PrintCache { dir, runner: runner.to_string(), loaded: OnceLock::new() }
    }

    fn loaded(&self) -> &Loaded {
        self.loaded.get_or_init(|| {
            let file = self.dir.as_ref().and_then(|dir| Some(dir.join(format!("{}.json", identity(&self.runner)?))));
            let cached = file.as_deref().and_then(read).unwrap_or_default();
            Loaded { file, cached: Mutex::new(cached) }
        })
    }

    /// The cached entries, locked.
    pub fn lock(&self) -> std::sync::MutexGuard<'_, Cached> {
        self.loaded().cached.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes the cache (whole, atomically). A cache that cannot be
    /// written only costs recomputing it next time.
    pub fn save(&self) -> anyhow::Result<()> {
        let Some(file) = &self.loaded().file else { return Ok(()) };
        let bytes = serde_json::to_vec_pretty(&*self.lock())?;
        if let Err(e) = repro_engine::atomic::write(file, &bytes) {
            eprintln!("warning: kernel fingerprints not cached in {}: {e:#}", file.display());
        }
        Ok(())
    }
}

fn read(file: &Path) -> Option<Cached> {
    serde_json::from_slice(&std::fs::read(file).ok()?).ok()
}

/// sha256 of (this executable's identity, the compute path, the runner):
/// another build, CPU level or kernel implementation reads other prints.
fn identity(runner: &str) -> Option<String> {
    let compute = serde_json::to_string(&crate::kernels::cpu::compute_path()).ok()?;
    Some(repro_engine::hashing::sha256_hex(format!("{}\n{compute}\n{runner}", executable()?).as_bytes()))
}

/// The running binary as its path, size, inode and modification time:
/// a rebuilt or replaced binary differs in them, and reading them costs
/// nothing, where hashing the binary's bytes took 0.2 s of every `repro
/// status` (180 MB, measured).
fn executable() -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let path = std::env::current_exe().ok()?;
    let meta = std::fs::metadata(&path).ok()?;
    Some(format!("{} {} {} {} {}.{}", path.display(), meta.len(), meta.dev(), meta.ino(), meta.mtime(), meta.mtime_nsec()))
}
