//! Decides which stages are stale and why, runs them in order, records
//! their outputs, and exports finished outputs where the pipeline asks.

use super::behaviour::{self, BehaviourKeys, KeyScheme};
use super::code_version::{Closure, SourceTree};
use super::dag;
use super::events::{Event, Reporter};
use super::fingerprint::{self, Fingerprint, FingerprintInput};
use super::lock::StoreLock;
use super::provenance;
use super::reason::Reason;
use super::record::{self, BuildRecord, Environment, StageRecord};
use super::remote::{self, RemoteCache};
use super::stage::{KindRegistry, ParamError, StageContext, Upstream, UpstreamInfo};
use super::store::{ObjectRef, Store};
use crate::pipeline::Pipeline;
use anyhow::Context;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// The engine bound to one pipeline, profile and set of stage kinds:
/// [`Engine::new`], then the builder methods for what differs from the
/// defaults (one thread, no overrides, no remote).
pub struct Engine<'a> {
    pub(crate) pipeline: &'a Pipeline,
    pub(crate) kinds: &'a KindRegistry,
    /// The code that was compiled, for derived code versions.
    pub(crate) sources: SourceTree<'a>,
    pub(crate) profile: String,
    pub(crate) threads: usize,
    /// Extra `stage -> key -> value` overrides from the command line.
    pub(crate) overrides: BTreeMap<String, toml::Table>,
    /// Where events and progress go; the engine prints nothing.
    pub(crate) reporter: Arc<dyn Reporter>,
    /// A remote cache consulted before running a stale stage.
    pub(crate) remote: Option<Arc<dyn RemoteCache>>,
    /// Each kind's code, derived once per engine (it depends only on the
    /// binary, the kind and its compute path).
    code: std::sync::Mutex<BTreeMap<String, Arc<KindCode>>>,
    /// Keys kernels by what they compute (`behaviour.rs`); none: by tokens.
    pub(crate) behaviour: Option<Arc<dyn BehaviourKeys>>,
}

/// What a kind's code is made of, and the environment it enters keys with.
struct KindCode {
    version: String,
    files: BTreeMap<String, String>,
    environment: Environment,
    /// The version and files without those keyed by behaviour, when the
    /// closure reaches any.
    by_behaviour: Option<(String, BTreeMap<String, String>)>,
}

impl<'a> Engine<'a> {
    pub fn new(
        pipeline: &'a Pipeline,
        kinds: &'a KindRegistry,
        sources: SourceTree<'a>,
        profile: &str,
        reporter: Arc<dyn Reporter>,
    ) -> Engine<'a> {
        let (threads, overrides, remote) = (1, BTreeMap::new(), None);
        let (code, behaviour) = (Default::default(), None);
        Engine { pipeline, kinds, sources, profile: profile.to_string(), threads, overrides, reporter, remote, code, behaviour }
    }

    /// Keys the files under `keys.prefix()` by their outputs on a battery.
    pub fn behaviour(self, keys: Arc<dyn BehaviourKeys>) -> Engine<'a> {
        Engine { behaviour: Some(keys), code: Default::default(), ..self }
    }

    /// Threads a stage may use (shared by the stages of `--jobs`).
    pub fn threads(self, threads: usize) -> Engine<'a> {
        Engine { threads: threads.max(1), ..self }
    }

    /// `stage -> key -> value` set on the command line.
    pub fn overrides(self, overrides: BTreeMap<String, toml::Table>) -> Engine<'a> {
        Engine { overrides, ..self }
    }

    pub fn remote(self, remote: Option<Arc<dyn RemoteCache>>) -> Engine<'a> {
        Engine { remote, ..self }
    }

    pub fn pipeline(&self) -> &'a Pipeline {
        self.pipeline
    }

    pub fn profile(&self) -> &str {
        &self.profile
    }

    pub fn sources(&self) -> &SourceTree<'a> {
        &self.sources
    }

    pub fn remote_cache(&self) -> Option<&Arc<dyn RemoteCache>> {
        self.remote.as_ref()
    }
}

/// A stage's state before a build.
#[derive(Clone, Debug, PartialEq)]
pub enum State {
    Fresh,
    /// Outputs can be restored from an earlier run with this fingerprint.
    Cached,
    /// Outputs can be fetched from the remote cache at this URL.
    Remote(String),
    Stale(Vec<Reason>),
    /// Fresh by its own record, but an upstream stage will rerun first.
    Waiting(Vec<String>),
    /// The same computation (fingerprint) as this earlier stale stage:
    /// restored from its run once it has run, never run twice.
    SameAs(String),
}

impl State {
    /// Whether the stage runs in a build (rather than being fresh or
    /// restored).
    pub fn will_run(&self) -> bool {
        matches!(self, State::Stale(_) | State::Waiting(_))
    }
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            State::Fresh => write!(f, "fresh"),
            State::Cached => write!(f, "stale (restorable from the run cache)"),
            State::Remote(url) => write!(f, "stale (restorable from the remote {url})"),
            State::Stale(reasons) => write!(f, "stale ({})", crate::reason::list(reasons)),
            State::SameAs(other) => write!(f, "stale (the same computation as {other}: restored from it, not run again)"),
            State::Waiting(deps) => {
                write!(f, "stale if {} change{} (rebuilt first)", deps.join(", "), if deps.len() == 1 { "s" } else { "" })
            }
        }
    }
}

/// What a stage would be built from.
#[derive(Clone)]
pub(crate) struct Planned {
    pub(crate) fingerprint: Fingerprint,
    pub(crate) code_version: String,
    pub(crate) code_files: BTreeMap<String, String>,
    pub(crate) environment: Environment,
    pub(crate) params: serde_json::Value,
    pub(crate) inputs: BTreeMap<String, BTreeMap<String, String>>,
    input_names: BTreeMap<String, toml::Table>,
    pub(crate) table: toml::Table,
    files: BTreeMap<String, PathBuf>,
    file_digests: BTreeMap<String, String>,
}

/// A stage's key as planned (`Engine::keys`).
#[derive(Clone, Debug)]
pub struct PlannedKey {
    pub stage: String,
    pub fingerprint: Fingerprint,
    pub environment: Environment,
}

/// A stage as the survey found it.
pub(crate) struct Surveyed {
    pub(crate) name: String,
    pub(crate) plan: Planned,
    pub(crate) state: State,
}

pub(crate) fn outcomes(surveyed: Vec<Surveyed>) -> Vec<StageOutcome> {
    surveyed.into_iter().map(|s| StageOutcome { stage: s.name, state: s.state, ran: false }).collect()
}

/// Outcome of one stage in a build.
#[derive(Clone, Debug)]
pub struct StageOutcome {
    pub stage: String,
    pub state: State,
    pub ran: bool,
}

impl Engine<'_> {
    pub(crate) fn open_store(&self) -> anyhow::Result<Store> {
        Store::open(&self.pipeline.store_dir)
    }

    pub(crate) fn stages_for(&self, targets: &[String]) -> anyhow::Result<Vec<String>> {
        for t in targets {
            if self.pipeline.stage(t).is_none() {
                let names: Vec<&str> = self.pipeline.stages.iter().map(|s| s.name.as_str()).collect();
                anyhow::bail!("unknown stage `{t}`; stages: {}", names.join(", "));
            }
        }
        Ok(if targets.is_empty() { dag::topological_order(self.pipeline) } else { dag::closure(self.pipeline, targets) })
    }

    /// Effective parameters including command-line overrides.
    pub fn params_of(&self, name: &str) -> toml::Table {
        let stage = self.pipeline.stage(name).expect("stage names are checked");
        let mut table = self.pipeline.resolve_params(stage, Some(&self.profile)).table;
        if let Some(extra) = self.overrides.get(name) {
            table.extend(extra.clone());
        }
        table
    }

    pub(crate) fn plan(&self, store: &Store, name: &str, outputs: &BTreeMap<String, BTreeMap<String, String>>) -> anyhow::Result<Planned> {
        self.plan_in(store, name, outputs, KeyScheme::Behaviour)
    }

    pub(crate) fn plan_in(
        &self,
        store: &Store,
        name: &str,
        outputs: &BTreeMap<String, BTreeMap<String, String>>,
        scheme: KeyScheme,
    ) -> anyhow::Result<Planned> {
        let stage = self.pipeline.stage(name).expect("stage names are checked");
        let kind = self.kinds.get(&stage.kind).expect("kinds are checked at load");
        let table = self.params_of(name);
        let mut files = BTreeMap::new();
        let mut file_digests = BTreeMap::new();
        for key in kind.file_params(&table) {
            let Some(rel) = table.get(&key).and_then(|v| v.as_str()) else { continue };
            let path = self.pipeline.root.join(rel);
            let digest = store
                .digests()
                .path(&path)
                .with_context(|| format!("stage `{name}`: params.{key} = \"{rel}\" does not name a readable file or folder"))?;
            file_digests.insert(key.clone(), digest);
            files.insert(key, path);
        }
        let mut keyed = table.clone();
        keyed.retain(|k, _| !kind.display_params().contains(&k));
        let params = fingerprint::canonical_params(&keyed, &file_digests);
        let inputs: BTreeMap<_, _> = stage.depends_on.iter().map(|d| (d.clone(), outputs.get(d).cloned().unwrap_or_default())).collect();
        let input_names: BTreeMap<_, _> =
            stage.depends_on.iter().map(|d| (d.clone(), self.display_of(d))).filter(|(_, t)| !t.is_empty()).collect();
        let code = self.kind_code(&stage.kind)?;
        let (code_version, code_files, environment) = self.keyed_code(name, &code, &table, scheme)?;
        let profile = kind.uses_profile_name().then_some(self.profile.as_str());
        let fp = fingerprint::fingerprint(&FingerprintInput {
            kind: &stage.kind,
            code_version: &code_version,
            environment: &environment,
            params: &params,
            inputs: &inputs,
            input_names: &input_names,
            profile,
        });
        Ok(Planned { fingerprint: fp, code_version, code_files, environment, params, inputs, input_names, table, files, file_digests })
    }

    /// The code version, closure files and environment of `kind`.
    fn kind_code(&self, name: &str) -> anyhow::Result<Arc<KindCode>> {
        if let Some(code) = self.code.lock().expect("code cache").get(name) {
            return Ok(code.clone());
        }
        let kind = self.kinds.get(name).expect("kinds are checked at load");
        let compute = kind.compute_path();
        let backend = compute.get("backend").map(String::as_str);
        let sources = self.sources.for_backend(backend);
        let closure = sources.closure_on(kind.entry_modules(), backend).map_err(|e| anyhow::anyhow!("kind `{name}`: {e}"))?;
        let environment = Environment {
            rustc: self.sources.rustc.to_string(),
            crates: sources.crate_versions(&closure),
            compute,
            kernels: Default::default(),
        };
        let by_behaviour =
            self.behaviour.as_ref().map(|b| b.prefix()).filter(|p| closure.files.keys().any(|f| f.starts_with(p))).map(|p| {
                let files = behaviour::without_prefix(&closure.files, p);
                (Closure { files: files.clone(), ..Default::default() }.version(name), files)
            });
        let code = Arc::new(KindCode { version: closure.version(name), files: closure.files, environment, by_behaviour });
        self.code.lock().expect("code cache").insert(name.to_string(), code.clone());
        Ok(code)
    }

    /// Stage `name`'s code version, closure files and environment under
    /// `scheme`: by behaviour where the battery covers the stage (files
    /// under the prefix out, their prints in), else by tokens.
    fn keyed_code(
        &self,
        name: &str,
        code: &KindCode,
        table: &toml::Table,
        scheme: KeyScheme,
    ) -> anyhow::Result<(String, BTreeMap<String, String>, Environment)> {
        let tokens = || Ok((code.version.clone(), code.files.clone(), code.environment.clone()));
        let (Some(keys), Some((version, files)), KeyScheme::Behaviour) = (&self.behaviour, &code.by_behaviour, scheme) else {
            return tokens();
        };
        let stage = self.pipeline.stage(name).expect("stage names are checked");
        let tables = dag::upstream_tables(self.pipeline, name, |decl| self.params_of(&decl.name));
        let upstream: Vec<Upstream> = tables.iter().map(|(s, k, p)| Upstream { stage: s, kind: k, params: p }).collect();
        let prints = keys.prints(&stage.kind, table, &upstream).with_context(|| format!("stage `{name}`: kernel fingerprints"))?;
        let Some(kernels) = prints else { return tokens() };
        Ok((version.clone(), files.clone(), Environment { kernels, ..code.environment.clone() }))
    }

    /// Every stage's effective parameters (command-line overrides
    /// included) checked by its kind, alone and against its ancestors';
    /// the first problem as `(stage, error)`.
    pub fn check_params(&self) -> Result<(), (String, ParamError)> {
        for stage in &self.pipeline.stages {
            let kind = self.kinds.get(&stage.kind).expect("kinds are checked at load");
            let tables = dag::upstream_tables(self.pipeline, &stage.name, |decl| self.params_of(&decl.name));
            let upstream: Vec<Upstream> = tables.iter().map(|(s, k, p)| Upstream { stage: s, kind: k, params: p }).collect();
            let params = self.params_of(&stage.name);
            kind.check_params(&params).and_then(|()| kind.check_upstream(&params, &upstream)).map_err(|e| (stage.name.clone(), e))?;
        }
        Ok(())
    }

    /// Stage `name`'s display parameters (`StageKind::display_params`).
    fn display_of(&self, name: &str) -> toml::Table {
        let stage = self.pipeline.stage(name).expect("stage names are checked");
        let kind = self.kinds.get(&stage.kind).expect("kinds are checked at load");
        let mut table = self.params_of(name);
        table.retain(|k, _| kind.display_params().contains(&k));
        table
    }

    /// Why a stage is stale; empty when fresh.
    pub(crate) fn reasons(&self, store: &Store, name: &str, old: Option<&StageRecord>, plan: &Planned) -> Vec<Reason> {
        let Some(old) = old else { return vec![Reason::NeverBuilt] };
        if old.fingerprint == plan.fingerprint {
            let bad: Vec<String> = old.outputs.iter().filter(|(_, o)| !store.verify(o)).map(|(n, _)| n.clone()).collect();
            return if bad.is_empty() { Vec::new() } else { vec![Reason::OutputsDamaged(bad)] };
        }
        let mut reasons = Vec::new();
        if old.code_version != plan.code_version {
            // Files keyed by behaviour are told by their prints, not as code.
            let prefix = self.behaviour.as_ref().map(|b| b.prefix()).filter(|_| !plan.environment.kernels.is_empty());
            let files = |f: &BTreeMap<String, String>| prefix.map_or_else(|| f.clone(), |p| behaviour::without_prefix(f, p));
            match fingerprint::code_reason(&files(&old.code_files), &files(&plan.code_files)) {
                Reason::CodeChanged(changed) if changed.is_empty() && prefix.is_some() => {}
                reason => reasons.push(reason),
            }
        }
        reasons.extend(fingerprint::environment_reasons(&old.environment, &plan.environment));
        reasons.extend(fingerprint::param_reasons(name, &old.params, &plan.params));
        let differ = |d: &&String| old.inputs.get(*d) != plan.inputs.get(*d);
        let deps: Vec<String> = plan.inputs.keys().filter(differ).cloned().collect();
        if !deps.is_empty() {
            reasons.push(Reason::InputChanged(deps));
        }
        let renamed: Vec<String> = plan.inputs.keys().filter(|d| old.input_names.get(*d) != plan.input_names.get(*d)).cloned().collect();
        if !renamed.is_empty() {
            reasons.push(Reason::InputRenamed(renamed));
        }
        if reasons.is_empty() {
            reasons.push(Reason::FingerprintChanged);
        }
        reasons
    }

    /// Each stage's plan and state, without running anything: the one
    /// planner behind status, dry runs, the estimate and build.
    pub(crate) fn survey(
        &self,
        store: &Store,
        record: &BuildRecord,
        targets: &[String],
        force: &BTreeSet<String>,
    ) -> anyhow::Result<Vec<Surveyed>> {
        let mut outputs: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        let mut rerun: BTreeSet<String> = BTreeSet::new();
        let mut to_run: BTreeMap<Fingerprint, String> = BTreeMap::new();
        let mut result = Vec::new();
        for name in self.stages_for(targets)? {
            let plan = self.plan(store, &name, &outputs)?;
            let old = record.stages.get(&name);
            let mut reasons = self.reasons(store, &name, old, &plan);
            if force.contains(&name) {
                reasons.insert(0, Reason::Forced);
            }
            let stage = self.pipeline.stage(&name).expect("known stage");
            let waiting: Vec<String> = stage.depends_on.iter().filter(|d| rerun.contains(*d)).cloned().collect();
            // A run entry (local or remote) says what the stage will
            // produce, so its dependents can be planned exactly.
            let entry = if reasons.is_empty() || force.contains(&name) { None } else { self.entry(store, &name, &plan)? };
            let state = if !reasons.is_empty() {
                if !force.contains(&name) && self.restore(store, &plan).is_some() {
                    State::Cached
                } else if let Some(first) = to_run.get(&plan.fingerprint).filter(|_| !force.contains(&name)) {
                    State::SameAs(first.clone())
                } else if let (Some(_), Some(url)) = (&entry, self.pullable(stage)) {
                    State::Remote(url)
                } else {
                    to_run.insert(plan.fingerprint.clone(), name.clone());
                    State::Stale(reasons)
                }
            } else if !waiting.is_empty() {
                State::Waiting(waiting)
            } else {
                State::Fresh
            };
            // Without an entry, a rerun's outputs are unknown: dependents wait.
            if state != State::Fresh && entry.is_none() {
                rerun.insert(name.clone());
            }
            if let Some(outs) = entry.as_ref().or(old).map(|r| &r.outputs) {
                outputs.insert(name.clone(), record::digests_of(outs));
            }
            result.push(Surveyed { name, plan, state });
        }
        Ok(result)
    }

    /// Each stage's key and environment as planned now, in build order
    /// (for stages whose upstream is not built, its recorded or cached
    /// outputs stand in, as in `status`).
    pub fn keys(&self, targets: &[String]) -> anyhow::Result<Vec<PlannedKey>> {
        let store = self.open_store()?;
        let record = BuildRecord::load(store.root(), &self.profile)?;
        let surveyed = self.survey(&store, &record, targets, &BTreeSet::new())?;
        let _ = store.digests().save();
        Ok(surveyed
            .into_iter()
            .map(|s| PlannedKey { stage: s.name, fingerprint: s.plan.fingerprint, environment: s.plan.environment })
            .collect())
    }

    /// Each stage's state, without running anything (status, dry run).
    pub fn status(&self, targets: &[String], force: &BTreeSet<String>) -> anyhow::Result<Vec<StageOutcome>> {
        self.status_in(&self.open_store()?, targets, force)
    }

    /// `status`, rehashing every recorded output instead of trusting
    /// cached digests; a changed object is removed, its stage stale.
    /// Also returns the objects found missing or corrupt (removed, so
    /// their stages are stale).
    pub fn status_rehashing(&self, targets: &[String], force: &BTreeSet<String>) -> anyhow::Result<(Vec<StageOutcome>, Vec<String>)> {
        let store = Store::open_rehashing(&self.pipeline.store_dir)?;
        let outcomes = self.status_in(&store, targets, force)?;
        Ok((outcomes, store.failed()))
    }

    fn status_in(&self, store: &Store, targets: &[String], force: &BTreeSet<String>) -> anyhow::Result<Vec<StageOutcome>> {
        self.check_remote()?;
        let record = BuildRecord::load(store.root(), &self.profile)?;
        let surveyed = self.survey(store, &record, targets, force)?;
        // Digests just computed (a data archive's) spare the next status
        // hashing them again; a store it may not write only loses that.
        let _ = store.digests().save();
        Ok(outcomes(surveyed))
    }

    /// A configured remote that cannot be used is an error before any work.
    pub(crate) fn check_remote(&self) -> anyhow::Result<()> {
        self.remote.as_ref().map_or(Ok(()), |r| r.check())
    }

    /// The run entry for `plan`'s fingerprint: the local run cache's, else
    /// the remote's (whose objects may not all be here).
    fn entry(&self, store: &Store, name: &str, plan: &Planned) -> anyhow::Result<Option<StageRecord>> {
        if let Some(local) = record::cached_run(store.root(), &plan.fingerprint) {
            return Ok(Some(local));
        }
        match &self.remote {
            Some(r) => remote::remote_run(r.as_ref(), &plan.fingerprint, &mut self.on_damaged(name)),
            None => Ok(None),
        }
    }

    /// Reports a damaged remote entry of `stage`, once per process (a
    /// build surveys its stages more than once).
    pub(crate) fn on_damaged(&self, stage: &str) -> impl FnMut(remote::Damage) + '_ {
        static SAID: std::sync::Mutex<BTreeSet<String>> = std::sync::Mutex::new(BTreeSet::new());
        let stage = stage.to_string();
        move |damage| {
            let problem = damage.to_string();
            if SAID.lock().unwrap_or_else(|p| p.into_inner()).insert(problem.clone()) {
                self.reporter.event(Event::RemoteEntryIgnored { stage: stage.clone(), problem });
            }
        }
    }

    /// The remote's URL when `stage`'s outputs are fetched from it (not for
    /// stages marked `push = false`: rebuilding them is cheaper).
    fn pullable(&self, stage: &crate::pipeline::StageDecl) -> Option<String> {
        self.remote.as_ref().filter(|_| stage.push).map(|r| r.url().to_string())
    }

    /// Fetches `plan`'s run from the remote, if it has it; on a failure
    /// (say a corrupt object) the stage is reported and will run instead.
    pub(crate) fn pull_stage(&self, store: &Store, name: &str, plan: &Planned) -> Option<StageRecord> {
        let stage = self.pipeline.stage(name).expect("known stage");
        let (url, remote) = (self.pullable(stage)?, self.remote.as_ref()?);
        let fetched = remote::remote_run(remote.as_ref(), &plan.fingerprint, &mut self.on_damaged(name))
            .and_then(|entry| entry.map(|e| remote::pull_run(store, remote.as_ref(), &e).map(|t| (e, t))).transpose());
        match fetched {
            Ok(Some((entry, moved))) => {
                let _ = remote::pin(store.root(), &entry.fingerprint);
                self.reporter.event(Event::Pulled { stage: name.to_string(), remote: url, objects: moved.objects, bytes: moved.bytes });
                Some(entry)
            }
            Ok(None) => None,
            Err(e) => {
                self.reporter.event(Event::RemoteFailed { stage: name.to_string(), error: format!("{e:#}") });
                None
            }
        }
    }

    /// Before a stage runs with an empty checkpoint folder: another
    /// machine's checkpoint of it from the remote, if there is one. A
    /// failure is reported and the stage starts from the beginning.
    pub(crate) fn resume_from_remote(&self, store: &Store, name: &str, fingerprint: &Fingerprint) {
        let stage = self.pipeline.stage(name).expect("known stage");
        let (Some(url), Some(remote)) = (self.pullable(stage), self.remote.as_ref()) else { return };
        match crate::carry::fetch_unless_present(store, remote.as_ref(), name, fingerprint) {
            Ok(Some((entry, _))) => {
                let (files, bytes) = (entry.files.len(), entry.bytes());
                self.reporter.event(Event::CheckpointPulled { stage: name.to_string(), remote: url, files, bytes });
            }
            Ok(None) => {}
            Err(e) => self.reporter.event(Event::RemoteFailed { stage: name.to_string(), error: format!("checkpoint: {e:#}") }),
        }
    }

    pub(crate) fn restore(&self, store: &Store, plan: &Planned) -> Option<StageRecord> {
        let cached = record::cached_run(store.root(), &plan.fingerprint)?;
        cached.outputs.values().all(|o| store.verify(o)).then_some(cached)
    }

    /// The plan made by the survey, unless an upstream stage's outputs
    /// have changed since (it reran): then the stage is planned again.
    pub(crate) fn replan(
        &self,
        store: &Store,
        name: &str,
        surveyed: Option<Planned>,
        outputs: &BTreeMap<String, BTreeMap<String, String>>,
    ) -> anyhow::Result<Planned> {
        match surveyed {
            Some(plan) if plan.inputs.iter().all(|(dep, outs)| outputs.get(dep).is_some_and(|o| o == outs)) => Ok(plan),
            _ => self.plan(store, name, outputs),
        }
    }

    pub(crate) fn run_stage(
        &self,
        store: &Store,
        name: &str,
        plan: &Planned,
        record: &BuildRecord,
        threads: usize,
    ) -> anyhow::Result<StageRecord> {
        let stage = self.pipeline.stage(name).expect("known stage");
        let kind = self.kinds.get(&stage.kind).expect("known kind");
        let started = Instant::now();
        let mut inputs = BTreeMap::new();
        for (dep, outs) in &plan.inputs {
            let mut paths = BTreeMap::new();
            for (out, sha) in outs {
                let path = store.object_path(sha);
                let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
                let object = record.stages.get(dep).and_then(|r| r.outputs.get(out)).cloned();
                if !store.verify_bytes(&object.unwrap_or(ObjectRef { sha256: sha.clone(), size })) {
                    anyhow::bail!(
                        "input {dep}/{out} (object {}) no longer matches its sha256, so it was removed from the store; run the build again to rebuild `{dep}`",
                        &sha[..12]
                    );
                }
                paths.insert(out.clone(), path);
            }
            inputs.insert(dep.clone(), paths);
        }
        let ctx = StageContext {
            stage: name.to_string(),
            profile: self.profile.clone(),
            fingerprint: plan.fingerprint.to_string(),
            params: plan.table.clone(),
            inputs,
            files: plan.files.clone(),
            file_digests: plan.file_digests.clone(),
            upstream: self.upstream_info(name, record),
            dag_text: dag::render_text(self.pipeline),
            out_dir: store.scratch_dir(name)?,
            checkpoint_dir: store.checkpoint_dir(name, &plan.fingerprint),
            downloads_dir: store.downloads_dir(),
            threads,
            reporter: self.reporter.clone(),
            measurements: Default::default(),
        };
        kind.run(&ctx).map_err(|e| naming_the_folder(e, name, &ctx.out_dir))?;
        let mut outputs = BTreeMap::new();
        for entry in walkdir::WalkDir::new(&ctx.out_dir).sort_by_file_name() {
            let entry = entry?;
            if entry.file_type().is_file() {
                let rel = entry.path().strip_prefix(&ctx.out_dir).expect("under out_dir").to_string_lossy().into_owned();
                let object: ObjectRef = store
                    .put(entry.path())
                    .with_context(|| format!("stage `{name}`: cannot store its output {}", entry.path().display()))?;
                outputs.insert(rel, object);
            }
        }
        anyhow::ensure!(!outputs.is_empty(), "stage `{name}` produced no output");
        let _ = std::fs::remove_dir_all(&ctx.out_dir);
        let done = StageRecord {
            kind: stage.kind.clone(),
            fingerprint: plan.fingerprint.clone(),
            code_version: plan.code_version.clone(),
            params: plan.params.clone(),
            inputs: plan.inputs.clone(),
            input_names: plan.input_names.clone(),
            outputs,
            seconds: started.elapsed().as_secs_f64(),
            code_files: plan.code_files.clone(),
            environment: plan.environment.clone(),
            measurements: ctx.measurements.into_inner().unwrap_or_default(),
            carried: None,
        };
        record::remember_run(store.root(), &done)?;
        let _ = std::fs::remove_dir_all(&ctx.checkpoint_dir);
        self.reporter.event(Event::Done { stage: name.to_string(), seconds: done.seconds });
        Ok(done)
    }

    /// Fingerprints of every stage `name` depends on (already built), with
    /// the compute path and kernel prints their records hold.
    fn upstream_info(&self, name: &str, record: &BuildRecord) -> BTreeMap<String, UpstreamInfo> {
        dag::ancestors(self.pipeline, name)
            .into_iter()
            .filter_map(|dep| {
                let r = record.stages.get(&dep)?;
                let mut display = self.display_of(&dep);
                provenance::annotate(&mut display, &r.environment);
                Some((dep, UpstreamInfo { kind: r.kind.clone(), fingerprint: r.fingerprint.to_string(), display }))
            })
            .collect()
    }

    /// Removes objects that no build record references.
    pub fn gc(&self, dry_run: bool) -> anyhow::Result<(usize, u64)> {
        let store = self.open_store()?;
        let _lock = StoreLock::acquire(store.root(), false, &|_| {})?;
        let mut keep = BTreeSet::new();
        for r in BuildRecord::load_all(store.root())? {
            keep.extend(r.stages.values().flat_map(|s| s.outputs.values().map(|o| o.sha256.clone())));
        }
        // Runs that went to or came from a remote keep their objects.
        for fingerprint in remote::pinned(store.root()) {
            if let Some(run) = record::cached_run(store.root(), &fingerprint) {
                keep.extend(run.outputs.values().map(|o| o.sha256.clone()));
            }
        }
        let removed = store.remove_except(&keep, dry_run)?;
        if !dry_run {
            record::prune_runs(store.root(), |sha| keep.contains(sha))?;
            store.digests().save()?;
        }
        Ok(removed)
    }
}

/// `42 ms`, `3.1 s`, `12 min`, `5 h 20 min`, `2 d 3 h`.
pub fn human_duration(seconds: f64) -> String {
    if seconds < 1.0 {
        format!("{:.0} ms", seconds * 1000.0)
    } else if seconds < 60.0 {
        format!("{seconds:.1} s")
    } else if seconds < 3600.0 {
        format!("{:.0} min", seconds / 60.0)
    } else if seconds < 86400.0 {
        format!("{} h {} min", (seconds / 3600.0) as u64, ((seconds % 3600.0) / 60.0) as u64)
    } else {
        format!("{} d {} h", (seconds / 86400.0) as u64, ((seconds % 86400.0) / 3600.0) as u64)
    }
}

/// A stage's error that is a full (or read-only) disk, whose message may
/// name no file (a library's write, a flush), with the folder the stage
/// was writing its outputs to.
fn naming_the_folder(error: anyhow::Error, stage: &str, dir: &Path) -> anyhow::Error {
    use std::io::ErrorKind::{ReadOnlyFilesystem, StorageFull};
    const EDQUOT: i32 = 122;
    let io = error.chain().find_map(|c| c.downcast_ref::<std::io::Error>());
    let full = io.is_some_and(|io| matches!(io.kind(), StorageFull | ReadOnlyFilesystem) || io.raw_os_error() == Some(EDQUOT));
    match full {
        true => error.context(format!("stage `{stage}` cannot write its outputs in {}; free space there and build again", dir.display())),
        false => error,
    }
}

#[cfg(test)]
mod full_disk_tests {
    use super::naming_the_folder;
    use std::path::Path;

    #[test]
    fn a_full_disk_names_the_folder_the_stage_was_writing() {
        // /dev/full fails every write with ENOSPC, as a full disk does, and
        // the error (from a library's write) names no file.
        let Err(e) = std::fs::write("/dev/full", b"x") else { panic!("/dev/full accepted a write") };
        let said = format!("{:#}", naming_the_folder(anyhow::Error::from(e), "report", Path::new("/store/tmp/report-1")));
        assert!(said.starts_with("stage `report` cannot write its outputs in /store/tmp/report-1"), "{said}");
        assert!(said.contains("No space left on device"), "{said}");
        let other = naming_the_folder(anyhow::anyhow!("bad input"), "report", Path::new("/x"));
        assert_eq!(format!("{other:#}"), "bad input");
    }
}
