//! What the engine tells its caller, instead of printing: build events and
//! progress counters. The CLI renders them on a terminal; tests and tools
//! may collect or drop them.

use std::sync::Arc;

/// Something that happened in a build.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// Before anything runs: how many stages will run and how long that
    /// should take (`seconds` from each kind's estimate).
    Estimate {
        profile: String,
        stages: usize,
        seconds: f64,
        threads: usize,
    },
    /// Another build holds the store; this one waits.
    WaitingForLock {
        holder: String,
    },
    Fresh {
        stage: String,
    },
    /// Outputs restored from the run cache instead of running.
    Restored {
        stage: String,
        reasons: Vec<crate::reason::Reason>,
    },
    /// Outputs fetched from the remote cache (and verified) instead of running.
    Pulled {
        stage: String,
        remote: String,
        objects: usize,
        bytes: u64,
    },
    /// Another machine's unfinished work on the stage, fetched from the
    /// remote (verified) into its empty checkpoint folder: it resumes.
    CheckpointPulled {
        stage: String,
        remote: String,
        files: usize,
        bytes: u64,
    },
    /// The remote had the stage but could not be used for it; it runs.
    RemoteFailed {
        stage: String,
        error: String,
    },
    /// The remote's run entry for the stage is damaged (does not parse, or
    /// is another stage's): ignored, as if absent; a push replaces it.
    RemoteEntryIgnored {
        stage: String,
        problem: String,
    },
    /// The stage starts running, for these reasons.
    Running {
        stage: String,
        reasons: Vec<crate::reason::Reason>,
    },
    Done {
        stage: String,
        seconds: f64,
    },
    /// A line a running stage wants kept (an epoch's numbers, a result).
    Log {
        stage: String,
        line: String,
    },
}

/// What counts a progress bar shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Batches, images, iterations.
    Items,
    Bytes,
}

/// The caller's side of a build.
pub trait Reporter: Send + Sync {
    fn event(&self, event: Event);
    /// A counter of `len` units of work in `stage`, labelled `what`.
    fn progress(&self, stage: &str, len: u64, what: &str, unit: Unit) -> Progress;
}

/// Where a progress counter's updates go.
pub trait ProgressSink: Send + Sync {
    fn set_position(&self, position: u64);
    fn set_message(&self, message: String);
    fn finish(&self);
}

/// A running stage's progress counter (batches, bytes).
#[derive(Clone)]
pub struct Progress {
    sink: Arc<dyn ProgressSink>,
    position: Arc<std::sync::atomic::AtomicU64>,
}

impl Progress {
    pub fn new(sink: Arc<dyn ProgressSink>) -> Progress {
        Progress { sink, position: Default::default() }
    }

    /// A counter that shows nothing.
    pub fn hidden() -> Progress {
        Progress::new(Arc::new(Hidden))
    }

    pub fn inc(&self, n: u64) {
        let at = self.position.fetch_add(n, std::sync::atomic::Ordering::Relaxed) + n;
        self.sink.set_position(at);
    }

    pub fn set_position(&self, position: u64) {
        self.position.store(position, std::sync::atomic::Ordering::Relaxed);
        self.sink.set_position(position);
    }

    pub fn position(&self) -> u64 {
        self.position.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn set_message(&self, message: impl Into<String>) {
        self.sink.set_message(message.into());
    }

    /// Removes the counter from view.
    pub fn finish_and_clear(&self) {
        self.sink.finish();
    }
}

struct Hidden;

impl ProgressSink for Hidden {
    fn set_position(&self, _: u64) {}
    fn set_message(&self, _: String) {}
    fn finish(&self) {}
}

/// Drops every event and shows no progress (tests, library use).
pub struct Quiet;

impl Reporter for Quiet {
    fn event(&self, _: Event) {}
    fn progress(&self, _: &str, _: u64, _: &str, _: Unit) -> Progress {
        Progress::hidden()
    }
}
