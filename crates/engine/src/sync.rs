//! `push` and `pull`: the profile's built stages to a remote cache, and
//! what a build can restore from it back into the store.

use super::carry;
use super::events::Event;
use super::key::Fingerprint;
use super::lock::StoreLock;
use super::record::BuildRecord;
use super::remote::{self, RemoteCache};
use super::runner::{Engine, State};
use super::store::Store;
use anyhow::Context;
use std::collections::BTreeSet;

/// What `push` did with one stage.
#[derive(Clone, Debug, PartialEq)]
pub enum Pushed {
    Sent {
        moved: remote::Transfer,
        with_objects: bool,
        /// Its checkpoint on the remote, removed now that the run is there:
        /// the objects removed (`present`: kept, other entries name them).
        retired: Option<remote::Transfer>,
    },
    /// Not built, but its checkpoint (unfinished work) was sent.
    Checkpoint(remote::Transfer),
    /// Not pushed: not built, or stale (a push sends only what is fresh).
    NotBuilt(State),
}

/// What `pull` did with one stage.
#[derive(Clone, Debug, PartialEq)]
pub enum Pulled {
    Fetched(remote::Transfer),
    /// Already fresh or in the local run cache.
    Here,
    /// Its run entry is known but it is cheap to rebuild: the next build runs it.
    Rebuild,
    /// Not built anywhere, but another machine's checkpoint was fetched:
    /// the next build resumes from it.
    Checkpoint(remote::Transfer),
    /// Not on the remote.
    Missing,
}

impl Engine<'_> {
    fn the_remote(&self) -> anyhow::Result<&dyn RemoteCache> {
        let remote = self.remote.as_deref().context("no remote: give --remote URL or add [remote] url = \"...\" to pipeline.toml")?;
        remote.check()?;
        Ok(remote)
    }

    /// Uploads the built stages of the profile (all, or `targets`) that
    /// the remote lacks: objects first, then each run entry. Stages with
    /// `push = false` send their entry only, unless named in `targets`.
    pub fn push(&self, targets: &[String], dry_run: bool) -> anyhow::Result<Vec<(String, Pushed)>> {
        let remote = self.the_remote()?;
        let store = self.open_store()?;
        let record = BuildRecord::load(store.root(), &self.profile)?;
        let mut sent = BTreeSet::new();
        let mut result = Vec::new();
        for s in self.survey(&store, &record, targets, &BTreeSet::new())? {
            let stage = self.pipeline.stage(&s.name).expect("known stage");
            let with_objects = stage.push || targets.contains(&s.name);
            let (Some(built), State::Fresh) = (record.stages.get(&s.name), &s.state) else {
                let unfinished = match with_objects {
                    true => carry::push_checkpoint(&store, remote, &s.name, &s.plan.fingerprint, dry_run)
                        .with_context(|| format!("push of `{}`'s checkpoint", s.name))?,
                    false => None,
                };
                result.push((s.name, unfinished.map_or(Pushed::NotBuilt(s.state), Pushed::Checkpoint)));
                continue;
            };
            let moved = remote::push_run(&store, remote, built, with_objects, dry_run, &mut sent, &mut self.on_damaged(&s.name))
                .with_context(|| format!("push of `{}`", s.name))?;
            if !dry_run {
                remote::pin(store.root(), &built.fingerprint)?;
            }
            let retired = carry::retire_checkpoint(remote, &built.fingerprint, dry_run)
                .with_context(|| format!("retiring `{}`'s checkpoint on the remote", s.name))?;
            result.push((s.name, Pushed::Sent { moved, with_objects, retired }));
        }
        Ok(result)
    }

    /// Fetches, verified, what a build of the profile (or of `targets`) can
    /// restore from the remote; the build then restores instead of running.
    pub fn pull(&self, targets: &[String]) -> anyhow::Result<Vec<(String, Pulled)>> {
        let remote = self.the_remote()?;
        let store = self.open_store()?;
        let wait = |holder: &str| self.reporter.event(Event::WaitingForLock { holder: holder.to_string() });
        let _lock = StoreLock::acquire(store.root(), true, &wait)?;
        let record = BuildRecord::load(store.root(), &self.profile)?;
        let mut result = Vec::new();
        for s in self.survey(&store, &record, targets, &BTreeSet::new())? {
            let outcome = match &s.state {
                State::Fresh | State::Cached | State::SameAs(_) => Pulled::Here,
                State::Remote(_) => {
                    let entry = remote::remote_run(remote, &s.plan.fingerprint, &mut self.on_damaged(&s.name))?
                        .context("the remote entry vanished")?;
                    let moved = remote::pull_run(&store, remote, &entry).with_context(|| format!("pull of `{}`", s.name))?;
                    remote::pin(store.root(), &entry.fingerprint)?;
                    Pulled::Fetched(moved)
                }
                _ if remote::remote_run(remote, &s.plan.fingerprint, &mut self.on_damaged(&s.name))?.is_some() => Pulled::Rebuild,
                _ => self.pull_unfinished(&store, remote, &s.name, &s.plan.fingerprint)?,
            };
            result.push((s.name, outcome));
        }
        Ok(result)
    }

    /// The remote's checkpoint of a stage not built anywhere, unless this
    /// store has one of its own (never overwritten: it may be newer).
    fn pull_unfinished(&self, store: &Store, remote: &dyn RemoteCache, name: &str, fingerprint: &Fingerprint) -> anyhow::Result<Pulled> {
        if carry::has_files(&store.checkpoint_dir(name, fingerprint)) {
            return Ok(Pulled::Here);
        }
        let fetched =
            carry::fetch_unless_present(store, remote, name, fingerprint).with_context(|| format!("pull of `{name}`'s checkpoint"))?;
        Ok(fetched.map_or(Pulled::Missing, |(_, moved)| Pulled::Checkpoint(moved)))
    }
}
