//! Kernel fingerprints: the model stages' keys cover what `src/kernels/`
//! computes, not how its source reads (`repro_engine::behaviour`). Each
//! kernel a stage runs, at each shape it runs it (`workload`, `probe`), is
//! run here on seeded inputs (`values`) and its outputs hashed (`runner`);
//! the digests are cached per binary, compute path and probe (`cache`).

pub mod cache;
pub mod probe;
pub mod runner;
pub mod values;
pub mod workload;

use probe::Probe;
use repro_engine::behaviour::{BehaviourKeys, KernelPrints};
use repro_engine::events::{Progress, Reporter, Unit};
use repro_engine::stage::Upstream;
use runner::ProbeRunner;
use std::sync::Arc;

/// The files keyed by behaviour.
pub const KERNEL_SOURCES: &str = "src/kernels/";

/// Runs the probes of each stage's workload (or reads their cached prints).
pub struct KernelBattery {
    runner: Arc<dyn ProbeRunner>,
    cache: cache::PrintCache,
    /// Shows probes being computed (a new binary's first plan takes
    /// seconds); none in tests and benchmarks.
    reporter: Option<Arc<dyn Reporter>>,
}

impl KernelBattery {
    /// The model's own kernels on this machine's flex path, cached under
    /// the user's cache folder (`cache::default_dir`).
    pub fn flex() -> KernelBattery {
        KernelBattery::new(Arc::new(runner::FlexKernels), cache::default_dir())
    }

    /// `runner`'s prints, cached in `dir` (none: not kept between processes).
    pub fn new(runner: Arc<dyn ProbeRunner>, dir: Option<std::path::PathBuf>) -> KernelBattery {
        let cache = cache::PrintCache::open(dir, &runner.id());
        KernelBattery { runner, cache, reporter: None }
    }

    /// Shows the probes it has to compute as a progress line on `reporter`.
    pub fn reporting(self, reporter: Arc<dyn Reporter>) -> KernelBattery {
        KernelBattery { reporter: Some(reporter), ..self }
    }

    /// `probe -> sha256 of its outputs`, each computed once.
    pub fn prints_of(&self, probes: &[Probe]) -> anyhow::Result<KernelPrints> {
        let missing: Vec<&Probe> = {
            let cache = self.cache.lock();
            probes.iter().filter(|p| !cache.prints.contains_key(&p.to_string())).collect()
        };
        if !missing.is_empty() {
            let progress = self.progress(missing.len());
            for probe in missing {
                let digest = runner::digest(&self.runner.run(probe));
                self.cache.lock().prints.insert(probe.to_string(), digest);
                progress.inc(1);
            }
            progress.finish_and_clear();
            self.cache.save()?;
        }
        let cache = self.cache.lock();
        Ok(probes.iter().map(|p| (p.to_string(), cache.prints[&p.to_string()].clone())).collect())
    }

    fn progress(&self, probes: usize) -> Progress {
        let show = |r: &Arc<dyn Reporter>| r.progress("kernel prints", probes as u64, "probes (once per binary)", Unit::Items);
        self.reporter.as_ref().map_or_else(Progress::hidden, show)
    }

    /// The prints of `workload`'s probes; its probe names from the cache
    /// when this binary derived them before.
    pub fn prints_of_workload(&self, workload: &workload::Workload) -> anyhow::Result<KernelPrints> {
        let key = format!("{workload:?}");
        let names = self.cache.lock().workloads.get(&key).cloned();
        if let Some(names) = names {
            let cache = self.cache.lock();
            let known: Option<KernelPrints> = names.iter().map(|n| Some((n.clone(), cache.prints.get(n)?.clone()))).collect();
            if let Some(prints) = known {
                return Ok(prints);
            }
        }
        let probes = workload.probes();
        self.cache.lock().workloads.insert(key, probes.iter().map(Probe::to_string).collect());
        let prints = self.prints_of(&probes)?;
        self.cache.save()?;
        Ok(prints)
    }
}

impl BehaviourKeys for KernelBattery {
    fn prefix(&self) -> &str {
        KERNEL_SOURCES
    }

    fn prints(&self, kind: &str, params: &toml::Table, upstream: &[Upstream]) -> anyhow::Result<Option<KernelPrints>> {
        let Some(workload) = workload::Workload::of(kind, params, upstream)? else { return Ok(None) };
        self.prints_of_workload(&workload).map(Some)
    }
}
