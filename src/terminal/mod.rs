//! Renders the engine's events and progress counters on the terminal:
//! one line per stage event, indicatif bars with rate and ETA for work in
//! progress (plain lines only, without a terminal); and the commands' own
//! lines on stdout ([`say`]).

mod stdout;

pub(crate) use stdout::say;
pub use stdout::say_line;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use repro_engine::events::{Event, Progress, ProgressSink, Reporter, Unit};
use repro_engine::runner::human_duration;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct Terminal {
    bars: MultiProgress,
}

impl Default for Terminal {
    fn default() -> Terminal {
        Terminal { bars: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()) }
    }
}

impl Terminal {
    fn line(&self, text: String) {
        if self.bars.is_hidden() {
            eprintln!("{text}");
        } else {
            let _ = self.bars.println(text);
        }
    }
}

/// The text of an event, as `repro build` prints it.
pub fn describe(event: &Event) -> String {
    match event {
        Event::Estimate { profile, stages, seconds, threads } => {
            format!("profile `{profile}`: {stages} stage(s) to run, estimated {} on {threads} thread(s)", human_duration(*seconds))
        }
        Event::WaitingForLock { holder } => format!("waiting for the store lock held by {holder} ..."),
        Event::Fresh { stage } => format!("{stage:>12} fresh"),
        Event::Restored { stage, reasons } => format!("{stage:>12} restored from an earlier run ({})", repro_engine::reason::list(reasons)),
        Event::Pulled { stage, remote, objects, bytes } => {
            format!("{stage:>12} pulled from the remote {remote} ({objects} object(s), {:.1} MB, verified)", *bytes as f64 / 1e6)
        }
        Event::CheckpointPulled { stage, remote, files, bytes } => {
            format!(
                "{stage:>12} checkpoint pulled from the remote {remote} ({files} file(s), {:.1} MB, verified): it resumes",
                *bytes as f64 / 1e6
            )
        }
        Event::RemoteFailed { stage, error } => format!("{stage:>12} not restored from the remote, so it runs: {error}"),
        Event::RemoteEntryIgnored { stage, problem } => format!("{stage:>12} warning: {problem}"),
        Event::Running { stage, reasons } => format!("{stage:>12} stale: {}", repro_engine::reason::list(reasons)),
        Event::Done { stage, seconds } => format!("{stage:>12} done in {}", human_duration(*seconds)),
        Event::Log { stage, line } => format!("{stage:>12} {line}"),
    }
}

impl Reporter for Terminal {
    fn event(&self, event: Event) {
        self.line(describe(&event));
    }

    fn progress(&self, stage: &str, len: u64, what: &str, unit: Unit) -> Progress {
        if self.bars.is_hidden() {
            return Progress::new(Arc::new(PlainBar::new(stage, len, what)));
        }
        let template = match unit {
            Unit::Items => "{prefix:>12} {msg} [{bar:30}] {pos}/{len} {per_sec} ETA {eta}",
            Unit::Bytes => "{prefix:>12} {msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
        };
        let style = ProgressStyle::with_template(template).expect("valid template").progress_chars("=> ");
        let bar = self.bars.add(ProgressBar::new(len));
        bar.set_style(style);
        bar.set_prefix(stage.to_string());
        bar.set_message(what.to_string());
        bar.enable_steady_tick(Duration::from_millis(250));
        Progress::new(Arc::new(Bar(bar)))
    }
}

struct Bar(ProgressBar);

impl ProgressSink for Bar {
    fn set_position(&self, position: u64) {
        self.0.set_position(position);
    }
    fn set_message(&self, message: String) {
        self.0.set_message(message);
    }
    fn finish(&self) {
        self.0.finish_and_clear();
    }
}

/// Progress without a terminal (a log file, a cluster job's output): a
/// line every 10 seconds at most, with the rate and the time left.
struct PlainBar {
    prefix: String,
    len: u64,
    started: Instant,
    state: Mutex<(String, Instant)>,
}

impl PlainBar {
    fn new(stage: &str, len: u64, what: &str) -> PlainBar {
        let now = Instant::now();
        PlainBar { prefix: format!("{stage:>12}"), len, started: now, state: Mutex::new((what.to_string(), now)) }
    }
}

impl ProgressSink for PlainBar {
    fn set_position(&self, position: u64) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if state.1.elapsed() < Duration::from_secs(10) || position == 0 {
            return;
        }
        state.1 = Instant::now();
        let seconds = self.started.elapsed().as_secs_f64();
        let left = seconds / position as f64 * self.len.saturating_sub(position) as f64;
        eprintln!("{} {} {position}/{} ({:.1}/s, ETA {})", self.prefix, state.0, self.len, position as f64 / seconds, human_duration(left));
    }
    fn set_message(&self, message: String) {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).0 = message;
    }
    fn finish(&self) {}
}
