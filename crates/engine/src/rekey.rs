//! Carrying a remote's runs and checkpoints from token keys to behaviour
//! keys (`behaviour.rs`), once, with proof. For each stage of the profile
//! this binary recomputes the key the entry was published under, in the
//! old scheme (every file's tokens, crates, compiler, compute path,
//! params, inputs); only an entry found under exactly that key, whose
//! recorded code version and environment are those recomputed, is written
//! again under the stage's new key, with that evidence (`Carried`). The
//! old entry stays, for binaries that still compute the old key.

use super::behaviour::KeyScheme;
use super::carry::{self, CheckpointEntry};
use super::key::Fingerprint;
use super::record::{self, Carried, StageRecord};
use super::remote::{self, RemoteCache};
use super::runner::{Engine, Planned};
use std::collections::BTreeMap;

/// What a rekey found for one stage entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rekeyed {
    pub stage: String,
    pub entry: EntryKind,
    pub from: Fingerprint,
    pub to: Fingerprint,
    pub outcome: Outcome,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    Run,
    Checkpoint,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Carried,
    /// The new key already holds an entry.
    AlreadyThere,
    /// `--dry-run`: would be carried.
    WouldCarry,
}

impl std::fmt::Display for Rekeyed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match self.entry {
            EntryKind::Run => "run",
            EntryKind::Checkpoint => "checkpoint",
        };
        let outcome = match self.outcome {
            Outcome::Carried => "carried",
            Outcome::AlreadyThere => "already under its new key",
            Outcome::WouldCarry => "would be carried",
        };
        write!(f, "{} {what} {} -> {}: {outcome}", self.stage, self.from.short(), self.to.short())
    }
}

type Outputs = BTreeMap<String, BTreeMap<String, String>>;

impl Engine<'_> {
    /// Carries every run and checkpoint entry of this profile's stages on
    /// `remote` from its token key to its behaviour key (see the module).
    pub fn rekey(&self, remote: &dyn RemoteCache, dry_run: bool) -> anyhow::Result<Vec<Rekeyed>> {
        let store = self.open_store()?;
        let mut outputs: Outputs = BTreeMap::new();
        let mut done = Vec::new();
        for name in self.stages_for(&[])? {
            let old = self.plan_in(&store, &name, &outputs, KeyScheme::Tokens)?;
            let new = self.plan_in(&store, &name, &outputs, KeyScheme::Behaviour)?;
            let run = remote::remote_run(remote, &old.fingerprint, &mut self.on_damaged(&name))?;
            let known = match &run {
                Some(run) => Some(run.clone()),
                None => remote::remote_run(remote, &new.fingerprint, &mut self.on_damaged(&name))?,
            };
            if let Some(known) = known.or_else(|| record::cached_run(store.root(), &new.fingerprint)) {
                outputs.insert(name.clone(), known.output_digests());
            }
            if old.fingerprint == new.fingerprint {
                continue;
            }
            if let Some(run) = run {
                done.push(self.carry_run(remote, &name, &old, &new, run, dry_run)?);
            }
            if let Some(entry) = carry::remote_checkpoint(remote, &old.fingerprint)? {
                done.push(carry_checkpoint(remote, &name, &old, &new, entry, dry_run)?);
            }
        }
        Ok(done)
    }

    fn carry_run(
        &self,
        remote: &dyn RemoteCache,
        name: &str,
        old: &Planned,
        new: &Planned,
        run: StageRecord,
        dry_run: bool,
    ) -> anyhow::Result<Rekeyed> {
        check_evidence(name, remote, &run.code_version, &run.environment, old)?;
        anyhow::ensure!(
            run.params == new.params && run.inputs == new.inputs,
            "{name}: the run under {} has other parameters or inputs than this profile's stage; not carried",
            old.fingerprint.short()
        );
        let mut report = Rekeyed {
            stage: name.to_string(),
            entry: EntryKind::Run,
            from: old.fingerprint.clone(),
            to: new.fingerprint.clone(),
            outcome: Outcome::Carried,
        };
        if remote::remote_run(remote, &new.fingerprint, &mut self.on_damaged(name))?.is_some() {
            report.outcome = Outcome::AlreadyThere;
        } else if dry_run {
            report.outcome = Outcome::WouldCarry;
        } else {
            let carried = StageRecord {
                fingerprint: new.fingerprint.clone(),
                code_version: new.code_version.clone(),
                code_files: new.code_files.clone(),
                environment: new.environment.clone(),
                carried: Some(evidence(old)),
                ..run
            };
            remote.put(&remote::run_key(&new.fingerprint), serde_json::to_vec_pretty(&carried)?)?;
        }
        Ok(report)
    }
}

fn carry_checkpoint(
    remote: &dyn RemoteCache,
    name: &str,
    old: &Planned,
    new: &Planned,
    entry: CheckpointEntry,
    dry_run: bool,
) -> anyhow::Result<Rekeyed> {
    let mut report = Rekeyed {
        stage: name.to_string(),
        entry: EntryKind::Checkpoint,
        from: old.fingerprint.clone(),
        to: new.fingerprint.clone(),
        outcome: Outcome::Carried,
    };
    let there = carry::remote_checkpoint(remote, &new.fingerprint)?;
    // A checkpoint carried before, whose old key has moved on since (its
    // training went on under the old binary), is carried again.
    let stale = there.as_ref().is_some_and(|t| t.carried.as_ref().is_some_and(|c| c.from == old.fingerprint) && t.files != entry.files);
    if there.is_some() && !stale {
        report.outcome = Outcome::AlreadyThere;
    } else if dry_run {
        report.outcome = Outcome::WouldCarry;
    } else {
        let carried = CheckpointEntry { fingerprint: new.fingerprint.clone(), carried: Some(evidence(old)), ..entry };
        remote.put(&carry::checkpoint_key(&new.fingerprint), serde_json::to_vec_pretty(&carried)?)?;
    }
    Ok(report)
}

/// The old key matched (the entry was found under it); its recorded code
/// version and environment must be the ones recomputed here as well.
fn check_evidence(
    name: &str,
    remote: &dyn RemoteCache,
    code_version: &str,
    environment: &super::record::Environment,
    old: &Planned,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        code_version == old.code_version && *environment == old.environment,
        "{}: the run of {name} under {} records another code version or environment than this binary recomputes for that key; not carried",
        remote.url(),
        old.fingerprint.short()
    );
    Ok(())
}

fn evidence(old: &Planned) -> Carried {
    Carried {
        from: old.fingerprint.clone(),
        code_version: old.code_version.clone(),
        environment: old.environment.clone(),
        by: env!("CARGO_PKG_VERSION").to_string(),
    }
}
