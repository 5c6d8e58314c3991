//! The engine on its own, with tiny test stage kinds: staleness reasons,
//! fingerprints, the store, records, locks and gc.

mod common;

use repro_engine::code_version::{SourceRow, SourceTree};
use repro_engine::{BuildOptions, Engine, KindRegistry, ParamError, Pipeline, StageContext, StageKind, State, typed_params};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

/// Writes `text` (its `value` param) to `out.txt`; `note` does not reach the output.
struct Emit;
impl StageKind for Emit {
    fn name(&self) -> &'static str {
        "emit"
    }
    fn entry_modules(&self) -> &'static [&'static str] {
        &["emit"]
    }
    fn check_params(&self, params: &toml::Table) -> Result<(), ParamError> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct P {
            value: i64,
            note: Option<String>,
            file: Option<String>,
        }
        typed_params::<P>(params).map(|_| ())
    }
    fn param_help(&self) -> String {
        "value, note, file".into()
    }
    fn file_params(&self, params: &toml::Table) -> Vec<String> {
        params.contains_key("file").then(|| "file".to_string()).into_iter().collect()
    }
    fn run(&self, ctx: &StageContext) -> anyhow::Result<()> {
        let value = ctx.params["value"].as_integer().unwrap();
        let extra = ctx.files.get("file").map(|p| fs::read_to_string(p).unwrap()).unwrap_or_default();
        fs::write(ctx.out_dir.join("out.txt"), format!("{value}{extra}"))?;
        // A timing: differs on every run, and must reach no fingerprint.
        ctx.measure("nanos", std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.subsec_nanos() as f64);
        Ok(())
    }
}

/// Concatenates every input's `out.txt` into its own `out.txt`.
struct Concat;
impl StageKind for Concat {
    fn name(&self) -> &'static str {
        "concat"
    }
    fn entry_modules(&self) -> &'static [&'static str] {
        &["concat"]
    }
    fn check_params(&self, _params: &toml::Table) -> Result<(), ParamError> {
        Ok(())
    }
    fn param_help(&self) -> String {
        String::new()
    }
    fn run(&self, ctx: &StageContext) -> anyhow::Result<()> {
        let mut text = String::new();
        for outs in ctx.inputs.values() {
            text.push_str(&fs::read_to_string(&outs["out.txt"])?);
            text.push('+');
        }
        fs::write(ctx.out_dir.join("out.txt"), text)?;
        Ok(())
    }
}

/// Emit with a display parameter `label`: a name dependents show.
struct Named;
impl StageKind for Named {
    fn name(&self) -> &'static str {
        "named"
    }
    fn entry_modules(&self) -> &'static [&'static str] {
        &["emit"]
    }
    fn display_params(&self) -> &'static [&'static str] {
        &["label"]
    }
    fn check_params(&self, _params: &toml::Table) -> Result<(), ParamError> {
        Ok(())
    }
    fn param_help(&self) -> String {
        "value, label".into()
    }
    fn run(&self, ctx: &StageContext) -> anyhow::Result<()> {
        Emit.run(ctx)
    }
}

fn kinds() -> KindRegistry {
    let mut k = KindRegistry::default();
    k.register(Box::new(Emit));
    k.register(Box::new(Concat));
    k.register(Box::new(Named));
    k
}

const SOURCES: &[SourceRow] =
    &[SourceRow::module_file("src/emit.rs", "emit", "e1"), SourceRow::module_file("src/concat.rs", "concat", "c1")];
const SOURCES_CONCAT_CHANGED: &[SourceRow] =
    &[SourceRow::module_file("src/emit.rs", "emit", "e1"), SourceRow::module_file("src/concat.rs", "concat", "c2")];

fn tree(rows: &'static [SourceRow], rustc: &'static str) -> SourceTree<'static> {
    SourceTree { sources: rows, direct_deps: &[], locked: &[], backends: &[], package_version: "0.1.0", rustc }
}

fn write_pipeline(dir: &Path, a_value: i64, note: &str) -> Pipeline {
    let text = format!(
        r#"
[stages.a]
kind = "emit"
params = {{ value = {a_value}, note = "{note}" }}

[stages.b]
kind = "concat"
depends_on = ["a"]

[profiles.main]
[profiles.other]
[profiles.other.stages.a]
value = 99
"#
    );
    let file = dir.join("pipeline.toml");
    fs::write(&file, text).unwrap();
    Pipeline::load(&file, &kinds()).unwrap()
}

fn engine<'a>(p: &'a Pipeline, k: &'a KindRegistry, sources: &'static [SourceRow], profile: &str) -> Engine<'a> {
    Engine::new(p, k, tree(sources, "rustc 1.95.0 (59807616e 2026-04-14)"), profile, std::sync::Arc::new(repro_engine::events::Quiet))
}

fn states(e: &Engine) -> BTreeMap<String, State> {
    e.status(&[], &BTreeSet::new()).unwrap().into_iter().map(|o| (o.stage, o.state)).collect()
}

fn build(e: &Engine) -> Vec<String> {
    e.build(&BuildOptions::default()).unwrap().into_iter().filter(|o| o.ran).map(|o| o.stage).collect()
}

fn reasons(state: &State) -> String {
    match state {
        State::Stale(r) => repro_engine::reason::list(r),
        other => format!("{other:?}"),
    }
}

#[test]
fn never_built_then_fresh() {
    let dir = tempfile::tempdir().unwrap();
    let (p, k) = (write_pipeline(dir.path(), 1, "x"), kinds());
    let e = engine(&p, &k, SOURCES, "main");
    assert_eq!(reasons(&states(&e)["a"]), "never built");
    assert_eq!(build(&e), vec!["a", "b"]);
    assert!(states(&e).values().all(|s| *s == State::Fresh));
    assert!(build(&e).is_empty(), "a second build runs nothing");
}

/// A no-op build decides from the record and writes nothing (it once
/// saved the whole record after every fresh stage, half its time).
#[test]
fn a_no_op_build_leaves_the_record_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let (p, k) = (write_pipeline(dir.path(), 1, "x"), kinds());
    build(&engine(&p, &k, SOURCES, "main"));
    let file = common::record_file(dir.path(), "main");
    let stamp = |f: &Path| fs::metadata(f).unwrap().modified().unwrap();
    let before = stamp(&file);
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert!(build(&engine(&p, &k, SOURCES, "main")).is_empty());
    assert_eq!(stamp(&file), before, "the record was rewritten by a build with nothing to do");
}

#[test]
fn params_change_is_named_with_old_and_new_value() {
    let dir = tempfile::tempdir().unwrap();
    let k = kinds();
    let p = write_pipeline(dir.path(), 1, "x");
    build(&engine(&p, &k, SOURCES, "main"));
    let p2 = write_pipeline(dir.path(), 2, "x");
    let e = engine(&p2, &k, SOURCES, "main");
    let s = states(&e);
    assert_eq!(reasons(&s["a"]), "params changed: a.value 1 -> 2");
    assert_eq!(s["b"], State::Waiting(vec!["a".into()]));
    e.build(&BuildOptions { targets: vec!["a".into()], ..Default::default() }).unwrap();
    assert_eq!(reasons(&states(&e)["b"]), "input changed: a");
}

#[test]
fn identical_outputs_keep_dependents_fresh() {
    let dir = tempfile::tempdir().unwrap();
    let k = kinds();
    build(&engine(&write_pipeline(dir.path(), 1, "x"), &k, SOURCES, "main"));
    let p = write_pipeline(dir.path(), 1, "a new note");
    let ran = build(&engine(&p, &k, SOURCES, "main"));
    assert_eq!(ran, vec!["a"], "b's input bytes did not change");
}

#[test]
fn code_change_affects_only_its_kind() {
    let dir = tempfile::tempdir().unwrap();
    let (p, k) = (write_pipeline(dir.path(), 1, "x"), kinds());
    build(&engine(&p, &k, SOURCES, "main"));
    let s = states(&engine(&p, &k, SOURCES_CONCAT_CHANGED, "main"));
    assert_eq!(s["a"], State::Fresh);
    assert_eq!(reasons(&s["b"]), "code changed: src/concat.rs");
}

#[test]
fn corrupt_or_missing_output_is_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let (p, k) = (write_pipeline(dir.path(), 7, "x"), kinds());
    let e = engine(&p, &k, SOURCES, "main");
    build(&e);
    let object = common::stage_output(dir.path(), "main", "a", "out.txt");
    fs::set_permissions(&object, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    fs::write(&object, "8").unwrap();
    assert_eq!(reasons(&states(&e)["a"]), "output missing or corrupt: out.txt");
    assert_eq!(build(&e), vec!["a"]);
    assert_eq!(fs::read_to_string(&object).unwrap(), "7");
    fs::remove_file(&object).unwrap();
    assert_eq!(reasons(&states(&e)["a"]), "output missing or corrupt: out.txt");
}

#[test]
fn fingerprints_do_not_depend_on_checkout_location() {
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let k = kinds();
    for d in [&d1, &d2] {
        fs::write(d.path().join("input.txt"), "hello").unwrap();
    }
    let fp = |d: &tempfile::TempDir| {
        let p = write_pipeline(d.path(), 3, "x");
        let e = engine(&p, &k, SOURCES, "main").overrides(BTreeMap::from([("a".into(), toml::toml! { file = "input.txt" })]));
        build(&e);
        let r = common::lock_record(d.path(), "main");
        (r["stages"]["a"]["fingerprint"].clone(), r["stages"]["b"]["fingerprint"].clone())
    };
    assert_eq!(fp(&d1), fp(&d2));
}

#[test]
fn file_params_are_fingerprinted_by_content() {
    let dir = tempfile::tempdir().unwrap();
    let (p, k) = (write_pipeline(dir.path(), 1, "x"), kinds());
    fs::write(dir.path().join("one.txt"), "same").unwrap();
    fs::write(dir.path().join("two.txt"), "same").unwrap();
    let with_file = |name: &str| {
        let file = toml::Table::from_iter([("file".to_string(), toml::Value::String(name.into()))]);
        engine(&p, &k, SOURCES, "main").overrides(BTreeMap::from([("a".into(), file)]))
    };
    build(&with_file("one.txt"));
    assert_eq!(states(&with_file("two.txt"))["a"], State::Fresh, "a moved file with equal content is not a change");
    fs::write(dir.path().join("two.txt"), "different").unwrap();
    assert_eq!(reasons(&states(&with_file("two.txt"))["a"]), "input file changed: a.file");
}

#[test]
fn switching_profiles_restores_from_the_run_cache() {
    let dir = tempfile::tempdir().unwrap();
    let (p, k) = (write_pipeline(dir.path(), 1, "x"), kinds());
    build(&engine(&p, &k, SOURCES, "main"));
    assert_eq!(build(&engine(&p, &k, SOURCES, "other")), vec!["a", "b"]);
    let e = engine(&p, &k, SOURCES, "main");
    fs::remove_file(common::record_file(dir.path(), "main")).unwrap();
    assert_eq!(states(&e)["a"], State::Cached);
    assert!(build(&e).is_empty(), "restored, not rerun");
}

#[test]
fn gc_removes_only_unreferenced_objects() {
    let dir = tempfile::tempdir().unwrap();
    let k = kinds();
    build(&engine(&write_pipeline(dir.path(), 1, "x"), &k, SOURCES, "main"));
    let p = write_pipeline(dir.path(), 2, "x");
    let e = engine(&p, &k, SOURCES, "main");
    build(&e);
    let (removed, _) = e.gc(false).unwrap();
    assert_eq!(removed, 2, "a's and b's outputs for value 1");
    assert!(states(&e).values().all(|s| *s == State::Fresh));
    assert_eq!(e.gc(false).unwrap().0, 0);
}

#[test]
fn a_held_lock_names_its_holder() {
    let dir = tempfile::tempdir().unwrap();
    let (p, k) = (write_pipeline(dir.path(), 1, "x"), kinds());
    let store = dir.path().join("artifacts");
    fs::create_dir_all(&store).unwrap();
    let _held = repro_engine::lock::StoreLock::acquire(&store, false, &|_| {}).unwrap();
    let e = engine(&p, &k, SOURCES, "main");
    // flock is per open file, so a second open in this process conflicts.
    let err = e.build(&BuildOptions { wait_for_lock: false, ..Default::default() }).unwrap_err();
    assert!(format!("{err:#}").contains(&format!("pid {}", std::process::id())), "{err:#}");
}

#[test]
fn unchanged_files_are_not_rehashed() {
    let dir = tempfile::tempdir().unwrap();
    let (p, k) = (write_pipeline(dir.path(), 1, "x"), kinds());
    let input = dir.path().join("big.bin");
    fs::write(&input, vec![7u8; 1 << 20]).unwrap();
    let e = engine(&p, &k, SOURCES, "main").overrides(BTreeMap::from([("a".into(), toml::toml! { file = "big.bin" })]));
    build(&e);
    // Poison the cached digest: while size, mtime and inode stay, it is trusted.
    let cache_path = dir.path().join("artifacts/cache/digests.json");
    let key = input.canonicalize().unwrap().to_string_lossy().into_owned();
    let mut cache: serde_json::Value = serde_json::from_slice(&fs::read(&cache_path).unwrap()).unwrap();
    let entry = cache.as_object_mut().unwrap().iter_mut().find(|(k2, _)| k2.ends_with("big.bin")).map(|(_, v)| v).unwrap();
    entry["sha256"] = serde_json::json!("0".repeat(64));
    fs::write(&cache_path, serde_json::to_vec(&cache).unwrap()).unwrap();
    assert_eq!(reasons(&states(&e)["a"]), "input file changed: a.file", "the cached digest was used, not a re-read ({key})");
    // A new mtime makes it read the file again.
    let f = fs::File::options().write(true).open(&input).unwrap();
    f.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(5)).unwrap();
    drop(f);
    assert_eq!(states(&e)["a"], State::Fresh);
}

#[test]
fn toolchain_change_reaches_every_stage() {
    let dir = tempfile::tempdir().unwrap();
    let (p, k) = (write_pipeline(dir.path(), 1, "x"), kinds());
    build(&engine(&p, &k, SOURCES, "main"));
    let newer = tree(SOURCES, "rustc 1.96.0 (0123456ab 2026-06-01)");
    let e = Engine::new(&p, &k, newer, "main", std::sync::Arc::new(repro_engine::events::Quiet));
    let s = states(&e);
    assert_eq!(reasons(&s["a"]), "toolchain changed: rustc 1.95.0 -> 1.96.0");
    assert_eq!(reasons(&s["b"]), "toolchain changed: rustc 1.95.0 -> 1.96.0");
}

#[test]
fn timings_stay_out_of_fingerprints() {
    let dir = tempfile::tempdir().unwrap();
    let (p, k) = (write_pipeline(dir.path(), 1, "x"), kinds());
    build(&engine(&p, &k, SOURCES, "main"));
    let e = engine(&p, &k, SOURCES, "main");
    let record = || repro_engine::record::BuildRecord::load(&dir.path().join("artifacts"), "main").unwrap();
    let before = record().stages["a"].measurements["nanos"];
    let options = BuildOptions { force: ["a".to_string()].into(), ..Default::default() };
    let ran: Vec<String> = e.build(&options).unwrap().into_iter().filter(|o| o.ran).map(|o| o.stage).collect();
    assert_eq!(ran, vec!["a"], "a reruns with identical output; b stays fresh");
    assert_ne!(record().stages["a"].measurements["nanos"], before, "the new timing is recorded");
}

/// Counts how often the engine plans a stage of its kind.
struct Counted(std::sync::Arc<std::sync::atomic::AtomicUsize>);
impl StageKind for Counted {
    fn name(&self) -> &'static str {
        "emit"
    }
    fn entry_modules(&self) -> &'static [&'static str] {
        &["emit"]
    }
    /// Asked once per plan of a stage (its code, once per kind and engine).
    fn file_params(&self, _params: &toml::Table) -> Vec<String> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Vec::new()
    }
    fn check_params(&self, params: &toml::Table) -> Result<(), ParamError> {
        Emit.check_params(params)
    }
    fn param_help(&self) -> String {
        Emit.param_help()
    }
    fn run(&self, ctx: &StageContext) -> anyhow::Result<()> {
        Emit.run(ctx)
    }
}

#[test]
fn a_build_plans_each_stage_once_unless_an_upstream_reran() {
    let dir = tempfile::tempdir().unwrap();
    let text =
        "[stages.a]\nkind = \"emit\"\nparams = { value = 1 }\n[stages.b]\nkind = \"emit\"\ndepends_on = [\"a\"]\nparams = { value = 2 }\n";
    fs::write(dir.path().join("pipeline.toml"), text).unwrap();
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut k = KindRegistry::default();
    k.register(Box::new(Counted(calls.clone())));
    let p = Pipeline::load(&dir.path().join("pipeline.toml"), &k).unwrap();
    let count = || calls.swap(0, std::sync::atomic::Ordering::SeqCst);
    build(&engine(&p, &k, SOURCES, "main"));
    assert_eq!(count(), 3, "first build: a and b surveyed, b planned again once a's outputs exist");
    build(&engine(&p, &k, SOURCES, "main"));
    assert_eq!(count(), 2, "a no-op build plans each stage once (estimate and build share the survey)");
    let forced = engine(&p, &k, SOURCES, "main").build(&BuildOptions { force: ["a".to_string()].into(), ..Default::default() }).unwrap();
    assert_eq!(forced.iter().filter(|o| o.ran).count(), 1);
    assert_eq!(count(), 2, "a reran with the same output, so b's plan still holds");
}

#[test]
fn the_published_numbers_folder_comes_from_the_pipeline_file() {
    let dir = tempfile::tempdir().unwrap();
    let text = "[pipeline]\npublished = \"numbers\"\n[stages.a]\nkind = \"emit\"\nparams = { value = 1 }\n";
    fs::write(dir.path().join("pipeline.toml"), text).unwrap();
    let p = Pipeline::load(&dir.path().join("pipeline.toml"), &kinds()).unwrap();
    assert_eq!(repro_engine::verify::published_path(&p, "ci"), dir.path().join("numbers/ci.json"));
}

#[test]
fn published_numbers_are_chosen_by_compute_path() {
    use repro_engine::verify::{publish, record_for};
    let dir = tempfile::tempdir().unwrap();
    let p = write_pipeline(dir.path(), 1, "x");
    let path_of = |conv: &str| BTreeMap::from([("conv".to_string(), conv.to_string())]);
    let now = BTreeMap::from([("a.acc".to_string(), 0.5)]);
    let (first, found) = record_for(&p, "main", &path_of("direct-avx512")).unwrap();
    assert!(found.is_none() && first.ends_with("artifacts/published/main.json"), "the first record is <profile>.json");
    fs::create_dir_all(first.parent().unwrap()).unwrap();
    fs::write(&first, serde_json::to_vec(&publish("main", &path_of("direct-avx512"), &now, |_| 0.0)).unwrap()).unwrap();
    let (other, found) = record_for(&p, "main", &path_of("im2col-gemm")).unwrap();
    assert!(found.is_none(), "numbers of another compute path are never compared");
    assert!(other.ends_with("artifacts/published/main.im2col-gemm.json"), "{}", other.display());
    fs::write(&other, serde_json::to_vec(&publish("main", &path_of("im2col-gemm"), &now, |_| 0.0)).unwrap()).unwrap();
    let (chosen, found) = record_for(&p, "main", &path_of("direct-avx512")).unwrap();
    assert_eq!((chosen, found.unwrap().compute), (first, path_of("direct-avx512")));
}

fn named_pipeline(dir: &Path, second_label: &str) -> Pipeline {
    let text = format!(
        r#"
[stages.first]
kind = "named"
params = {{ value = 7, label = "c" }}
[stages.second]
kind = "named"
params = {{ value = 7, label = "{second_label}" }}
[stages.both]
kind = "concat"
depends_on = ["first", "second"]
[profiles.main]
"#
    );
    let file = dir.join("pipeline.toml");
    fs::write(&file, text).unwrap();
    Pipeline::load(&file, &kinds()).unwrap()
}

#[test]
fn stages_differing_only_in_a_label_are_one_computation() {
    let dir = tempfile::tempdir().unwrap();
    let k = kinds();
    let p = named_pipeline(dir.path(), "final");
    let s = states(&engine(&p, &k, SOURCES, "main"));
    assert_eq!(s["second"], State::SameAs("first".into()));
    let ran = build(&engine(&p, &k, SOURCES, "main"));
    assert_eq!(ran, vec!["first", "both"], "second is restored from first's run");
    let p = named_pipeline(dir.path(), "renamed");
    let s = states(&engine(&p, &k, SOURCES, "main"));
    assert_eq!(s["second"], State::Fresh, "a label is outside its own key");
    assert_eq!(reasons(&s["both"]), "input renamed: second (a label it shows)", "and inside its dependents'");
}
