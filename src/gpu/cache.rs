//! Where cubecl keeps what it learns about a device (autotune results,
//! compiled kernels): one named directory for every stage and run of this
//! user, instead of `target/environment` of whichever cargo project
//! encloses the working directory, or `~/.cache/cubecl` outside one.

use anyhow::Context;
use cubecl_runtime::config::cache::CacheConfig;
use cubecl_runtime::config::{CubeClRuntimeConfig, RuntimeConfig};
use std::path::PathBuf;

/// `REPRO_GPU_CACHE`, else `$XDG_CACHE_HOME/repro/gpu`, else
/// `~/.cache/repro/gpu`.
pub fn directory() -> PathBuf {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(dir) = var("REPRO_GPU_CACHE") {
        return dir;
    }
    let base = var("XDG_CACHE_HOME").or_else(|| var("HOME").map(|home| home.join(".cache"))).unwrap_or_else(std::env::temp_dir);
    base.join("repro").join("gpu")
}

/// Points cubecl at `directory()`, keeping any other setting of a
/// `cubecl.toml` and cubecl's environment variables. Must run before any
/// GPU device opens: it fails once cubecl has read its configuration.
pub fn configure() -> anyhow::Result<PathBuf> {
    let dir = directory();
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create the GPU cache {} (set REPRO_GPU_CACHE to another directory)", dir.display()))?;
    let mut config = CubeClRuntimeConfig::from_current_dir().override_from_env();
    config.environment.path = CacheConfig::Directory(dir.clone());
    anyhow::ensure!(CubeClRuntimeConfig::try_set(config), "the GPU cache is configured after a device opened");
    Ok(dir)
}

/// Files and bytes under the cache, for the log: a first run's is empty.
pub fn size() -> (usize, u64) {
    walkdir::WalkDir::new(directory())
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .fold((0, 0), |(n, bytes), e| (n + 1, bytes + e.metadata().map_or(0, |m| m.len())))
}
