//! `--jobs N`: independent stages run at once, each with its share of the
//! threads; a failure starts nothing new and lets the running finish; one
//! computation never runs twice at once. The test kind meets its peers:
//! it waits (up to a few seconds) until `meet` stages of its group run, so
//! a sequential build cannot pass for a concurrent one.

mod common;

use repro_engine::code_version::{SourceRow, SourceTree};
use repro_engine::{BuildOptions, Engine, KindRegistry, ParamError, Pipeline, StageContext, StageKind, State};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// group -> (running now, most at once).
static GROUPS: Mutex<BTreeMap<String, (usize, usize)>> = Mutex::new(BTreeMap::new());

fn enter(group: &str) {
    let mut groups = GROUPS.lock().unwrap();
    let entry = groups.entry(group.to_string()).or_default();
    entry.0 += 1;
    entry.1 = entry.1.max(entry.0);
}

fn leave(group: &str) {
    GROUPS.lock().unwrap().get_mut(group).unwrap().0 -= 1;
}

fn running(group: &str) -> usize {
    GROUPS.lock().unwrap()[group].0
}

fn most_at_once(group: &str) -> usize {
    GROUPS.lock().unwrap().get(group).map_or(0, |g| g.1)
}

/// Waits until `meet` stages of its group run (or 3 s), then writes its
/// value and thread share; fails when `fail`, after a further `linger` ms.
struct Meet;
impl StageKind for Meet {
    fn name(&self) -> &'static str {
        "meet"
    }
    fn entry_modules(&self) -> &'static [&'static str] {
        &["meet"]
    }
    fn check_params(&self, _params: &toml::Table) -> Result<(), ParamError> {
        Ok(())
    }
    fn param_help(&self) -> String {
        "group, meet, value, fail, linger".into()
    }
    fn run(&self, ctx: &StageContext) -> anyhow::Result<()> {
        let p = &ctx.params;
        let group = p["group"].as_str().unwrap();
        let meet = p.get("meet").and_then(|v| v.as_integer()).unwrap_or(1) as usize;
        enter(group);
        let started = Instant::now();
        while running(group) < meet && started.elapsed() < Duration::from_secs(3) {
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(p.get("linger").and_then(|v| v.as_integer()).unwrap_or(0) as u64));
        leave(group);
        if p.get("fail").and_then(|v| v.as_bool()) == Some(true) {
            anyhow::bail!("told to fail");
        }
        fs::write(ctx.out_dir.join("out.txt"), format!("{} on {} thread(s)", p["value"], ctx.threads))?;
        Ok(())
    }
}

fn kinds() -> KindRegistry {
    let mut k = KindRegistry::default();
    k.register(Box::new(Meet));
    k
}

const SOURCES: &[SourceRow] = &[SourceRow::module_file("src/meet.rs", "meet", "m1")];

fn pipeline(dir: &Path, stages: &str) -> Pipeline {
    let file = dir.join("pipeline.toml");
    fs::write(&file, format!("{stages}\n[profiles.main]\n")).unwrap();
    Pipeline::load(&file, &kinds()).unwrap()
}

fn engine<'a>(p: &'a Pipeline, k: &'a KindRegistry, threads: usize) -> Engine<'a> {
    let sources =
        SourceTree { sources: SOURCES, direct_deps: &[], locked: &[], backends: &[], package_version: "0.1.0", rustc: "rustc 1.95.0" };
    Engine::new(p, k, sources, "main", std::sync::Arc::new(repro_engine::events::Quiet)).threads(threads)
}

fn jobs(n: usize) -> BuildOptions {
    BuildOptions { executor: std::sync::Arc::new(repro_engine::Local { jobs: n }), ..Default::default() }
}

fn output(dir: &Path, stage: &str) -> Option<String> {
    fs::read_to_string(common::stage_output(dir, "main", stage, "out.txt")).ok()
}

fn three_and_a_join(group: &str, meet: usize) -> String {
    let stage =
        |n: &str, v: i64| format!("[stages.{n}]\nkind = \"meet\"\nparams = {{ group = \"{group}\", meet = {meet}, value = {v} }}\n");
    format!(
        "{}{}{}[stages.join]\nkind = \"meet\"\ndepends_on = [\"a\", \"b\", \"c\"]\nparams = {{ group = \"{group}-join\", value = 4 }}\n",
        stage("a", 1),
        stage("b", 2),
        stage("c", 3)
    )
}

#[test]
fn independent_stages_run_at_once_sharing_the_threads() {
    let dir = tempfile::tempdir().unwrap();
    let p = pipeline(dir.path(), &three_and_a_join("two", 2));
    let k = kinds();
    let outcomes = engine(&p, &k, 4).build(&jobs(2)).unwrap();
    assert_eq!(most_at_once("two"), 2, "two of the three ran at once, never three");
    assert_eq!(outcomes.iter().filter(|o| o.ran).count(), 4);
    assert_eq!(outcomes.last().unwrap().stage, "join", "the join waits for all three");
    assert_eq!(output(dir.path(), "a").unwrap(), "1 on 2 thread(s)", "4 threads shared by 2 jobs");
}

#[test]
fn one_job_runs_one_stage_at_a_time_with_every_thread() {
    let dir = tempfile::tempdir().unwrap();
    let p = pipeline(dir.path(), &three_and_a_join("one", 1));
    let k = kinds();
    engine(&p, &k, 4).build(&jobs(1)).unwrap();
    assert_eq!(most_at_once("one"), 1);
    assert_eq!(output(dir.path(), "b").unwrap(), "2 on 4 thread(s)");
}

#[test]
fn a_failure_starts_nothing_new_and_the_running_stage_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let stages = r#"
[stages.a_bad]
kind = "meet"
params = { group = "fail", meet = 2, value = 1, fail = true }
[stages.b_slow]
kind = "meet"
params = { group = "fail", meet = 2, value = 2, linger = 300 }
[stages.c_later]
kind = "meet"
params = { group = "fail-later", value = 3 }
"#;
    let p = pipeline(dir.path(), stages);
    let k = kinds();
    let err = format!("{:#}", engine(&p, &k, 2).build(&jobs(2)).unwrap_err());
    assert!(err.contains("stage `a_bad` failed") && err.contains("told to fail"), "{err}");
    assert_eq!(output(dir.path(), "b_slow").as_deref(), Some("2 on 1 thread(s)"), "the running stage finished and was recorded");
    assert_eq!(most_at_once("fail-later"), 0, "no stage started after the failure");
    let again = engine(&p, &k, 2).status(&[], &BTreeSet::new()).unwrap();
    let state = |n: &str| again.iter().find(|o| o.stage == n).unwrap().state.clone();
    assert_eq!(state("b_slow"), State::Fresh);
    assert!(matches!(state("c_later"), State::Stale(_)));
}

#[test]
fn one_computation_is_not_run_twice_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let stages = r#"
[stages.first]
kind = "meet"
params = { group = "same", meet = 2, value = 7 }
[stages.second]
kind = "meet"
params = { group = "same", meet = 2, value = 7 }
"#;
    let p = pipeline(dir.path(), stages);
    let k = kinds();
    let outcomes = engine(&p, &k, 2).build(&jobs(2)).unwrap();
    assert_eq!(most_at_once("same"), 1, "the second waited for the first");
    let states: Vec<(String, State)> = outcomes.into_iter().map(|o| (o.stage, o.state)).collect();
    assert!(states.iter().any(|(n, s)| n == "second" && *s == State::Cached), "restored from the first's run: {states:?}");
}
