//! What a hostile but fair user tried (issue 16): wrong parameters, a
//! changed stored byte, a closed pipe, group names. Each test failed on
//! the main of the day the issue was filed.

mod common;

use std::path::Path;
use std::process::{Output, Stdio};

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `repro args` fails before anything runs, saying each of `needles`.
fn refused(dir: &Path, args: &[&str], needles: &[&str]) {
    let out = common::repro(dir, args);
    let err = stderr(&out);
    assert!(!out.status.success(), "repro {args:?} was accepted:\n{err}");
    for needle in needles {
        assert!(err.contains(needle), "repro {args:?}: expected `{needle}` in:\n{err}");
    }
    assert!(!dir.join("artifacts/records").exists(), "nothing ran: {err}");
}

#[test]
fn parameters_are_checked_against_each_other_before_anything_runs() {
    let p = common::project_copy();
    let build = ["build", "--profile", "smoke", "--set"];
    refused(p.path(), &[&build[..], &["data.train_size=0"]].concat(), &["data.train_size", "at least 10"]);
    refused(p.path(), &[&build[..], &["data.test_size=3"]].concat(), &["data.test_size", "one image of each class"]);
    refused(
        p.path(),
        &[&build[..], &["tsne_final.perplexity=500"]].concat(),
        &["tsne_final.perplexity", "200 points (features_final.sample_size = 200)", "(N - 1) / 3 = 66.3"],
    );
    // Changing the data changes what a perplexity allows.
    refused(
        p.path(),
        &[&build[..], &["data.test_size=60"]].concat(),
        &["with --set: tsne_final.perplexity", "60 points (data.test_size = 60)"],
    );
}

#[test]
fn a_pipeline_file_with_a_too_large_perplexity_is_refused_with_its_line() {
    let p = common::project_copy();
    let file = p.path().join("pipeline.toml");
    let text = std::fs::read_to_string(&file).unwrap().replace("params = { dims = [3] }", "params = { dims = [3], perplexity = 90.0 }");
    std::fs::write(&file, text).unwrap();
    let out = common::repro(p.path(), &["status", "--profile", "smoke"]);
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("pipeline.toml:") && err.contains("stage `tsne_center` (profile `smoke`): params.perplexity: 90 is too large"),
        "{err}"
    );
}

/// Flips one byte of a read-only stored object and puts its mtime back.
fn flip_a_byte(path: &Path) {
    let mtime = std::fs::metadata(path).unwrap().modified().unwrap();
    let mut perms = std::fs::metadata(path).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(path, perms).unwrap();
    let mut bytes = std::fs::read(path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(path, &bytes).unwrap();
    std::fs::File::options().write(true).open(path).unwrap().set_modified(mtime).unwrap();
}

#[test]
fn a_changed_stored_byte_is_caught_when_read_and_by_status_verify() {
    let p = common::project_with("tests/fixtures/light.toml");
    common::ok(p.path(), &["build"]);
    common::ok(p.path(), &["build"]); // a no-op build caches every output's digest with its stat
    let dataset = common::stage_output(p.path(), "smoke", "data", "dataset.bin");
    flip_a_byte(&dataset);
    // Size and mtime are unchanged: the cheap check cannot see it...
    assert!(common::ok(p.path(), &["status"]).contains("figures  fresh"));
    // ...but a stage reading it rehashes it first.
    let out = common::repro(p.path(), &["build", "--force", "figures"]);
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("input data/dataset.bin") && err.contains("no longer matches its sha256"), "{err}");
    assert!(err.contains("run the build again to rebuild `data`"), "{err}");
    let log = common::ok(p.path(), &["build"]);
    assert!(log.contains("data stale: output missing or corrupt: dataset.bin"), "{log}");

    common::ok(p.path(), &["build"]);
    flip_a_byte(&common::stage_output(p.path(), "smoke", "figures", "samples.png"));
    assert!(common::ok(p.path(), &["status"]).contains("figures  fresh"));
    // A health check: damage found exits non-zero (issue 36).
    let out = common::repro(p.path(), &["status", "--verify"]);
    let verified = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert!(!out.status.success(), "{verified}");
    assert!(verified.contains("figures  stale (output missing or corrupt: samples.png)"), "{verified}");
    assert!(verified.contains("data     fresh") && verified.contains("1 stored output(s) missing or corrupt"), "{verified}");
    common::ok(p.path(), &["build"]);
    common::ok(p.path(), &["status", "--verify"]);
}

/// `repro ARGS` with its stdout a pipe whose reader is gone.
fn into_closed_pipe(dir: &Path, args: &[&str]) -> Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut command = common::repro_command(dir);
    command.args(args).stdout(Stdio::from(writer)).stderr(Stdio::piped());
    command.output().unwrap()
}

#[test]
fn a_closed_pipe_ends_repro_quietly() {
    let p = common::project_with("tests/fixtures/light.toml");
    let out = into_closed_pipe(p.path(), &["status"]);
    let err = stderr(&out);
    assert!(!err.contains("panicked") && !err.contains("Broken pipe"), "{err}");
    assert_ne!(out.status.code(), Some(101), "no panic exit: {:?}", out.status);
}

/// A command that reaches remotes keeps SIGPIPE ignored: a closed stdout
/// silences it, and its work is done and recorded all the same.
#[test]
fn a_build_into_a_closed_pipe_finishes_its_work() {
    let p = common::project_with("tests/fixtures/light.toml");
    let out = into_closed_pipe(p.path(), &["build"]);
    let err = stderr(&out);
    assert!(out.status.success(), "{:?}:\n{err}", out.status);
    assert!(!err.contains("panicked") && !err.contains("Broken pipe"), "{err}");
    assert!(common::ok(p.path(), &["status"]).contains("report   fresh"), "the build was recorded");
}

/// A benchmark prints its figures at the end: a closed stdout drops them,
/// and it still finishes (the old binary panicked with exit 101).
#[test]
fn a_benchmark_into_a_closed_pipe_finishes() {
    let p = common::project_with("tests/fixtures/light.toml");
    let out = into_closed_pipe(p.path(), &["bench", "pca", "--n", "300"]);
    let err = stderr(&out);
    assert!(out.status.success(), "{:?}:\n{err}", out.status);
    assert!(!err.contains("panicked") && !err.contains("Broken pipe"), "{err}");
}

#[test]
fn a_kind_names_its_stages_on_the_command_line() {
    let p = common::project_copy();
    let plan = common::ok(p.path(), &["run", "stage", "tsne", "--profile", "smoke", "--dry-run"]);
    for stage in ["tsne_final", "tsne_center", "features_final", "features_center", "train_final", "train_center", "data"] {
        assert!(plan.contains(&format!("{stage} ")), "{stage} is planned:\n{plan}");
    }
    assert!(!plan.contains("train_a") && !plan.contains("report"), "only what tsne needs:\n{plan}");
    let plan = common::ok(p.path(), &["run", "stage", "train", "gradcam", "--profile", "smoke", "--dry-run"]);
    assert!(plan.contains("train_a ") && plan.contains("train_center ") && plan.contains("gradcam "), "{plan}");
    let out = common::repro(p.path(), &["run", "stage", "tnse", "--profile", "smoke", "--dry-run"]);
    let err = stderr(&out);
    assert!(
        !out.status.success() && err.contains("unknown stage `tnse`") && err.contains("groups (every stage of a kind or a matrix): "),
        "{err}"
    );
}

#[test]
fn diff_shows_two_builds_side_by_side() {
    let p = common::project_with("tests/fixtures/two-sizes.toml");
    common::ok(p.path(), &["build", "--profile", "smoke"]);
    common::ok(p.path(), &["build", "--profile", "small"]);
    let table = common::ok(p.path(), &["diff", "smoke", "small"]);
    let line = |key: &str| table.lines().find(|l| l.starts_with(key)).unwrap_or_else(|| panic!("{key} in:\n{table}")).to_string();
    assert!(line("data.train_size").split_whitespace().eq(["data.train_size", "2000", "1000"]), "{table}");
    assert!(line("data.train_images").split_whitespace().eq(["data.train_images", "2000.0000", "1000.0000", "-1000.0000"]), "{table}");
    assert!(!table.contains("data.test_size"), "only what differs: {table}");
    let json: serde_json::Value = serde_json::from_str(&common::ok(p.path(), &["diff", "smoke", "small", "--json"])).unwrap();
    assert_eq!(json["params"][0]["key"], "data.train_size");
    assert_eq!((json["params"][0]["a"].as_str(), json["params"][0]["b"].as_str()), (Some("2000"), Some("1000")));
    common::ok(p.path(), &["verify", "--profile", "small", "--update"]);
    let same = common::ok(p.path(), &["diff", "small"]);
    assert_eq!(same.trim(), "no number differs", "published:small against small");
    let out = common::repro(p.path(), &["diff", "smoke", "nosuch"]);
    assert!(!out.status.success() && stderr(&out).contains("unknown profile `nosuch`"), "{}", stderr(&out));
}

#[cfg(not(feature = "vulkan"))]
#[test]
fn a_backend_that_was_not_compiled_in_names_the_feature() {
    let dir = common::project_copy();
    refused(
        dir.path(),
        &["--backend", "vulkan", "build", "--profile", "smoke"],
        &["built without the Vulkan backend", "--features vulkan"],
    );
    assert!(!common::record_file(dir.path(), "smoke").exists(), "nothing was built");
}

/// Issue 36, item 2: the exported report is checked by its bytes, and a
/// corrupt object is never exported.
#[test]
fn the_exported_report_is_checked_by_content_and_never_exported_corrupt() {
    let p = common::project_with("tests/fixtures/light.toml");
    common::ok(p.path(), &["build"]);
    let exported = p.path().join("out/smoke/report.md");
    let good = std::fs::read(&exported).unwrap();
    // Appended to: the next build puts the report back.
    std::fs::write(&exported, [good.as_slice(), b"tampered"].concat()).unwrap();
    common::ok(p.path(), &["build"]);
    assert_eq!(std::fs::read(&exported).unwrap(), good, "an edited export is rewritten");
    // Same size and mtime, one byte changed: caught as well.
    let mtime = std::fs::metadata(&exported).unwrap().modified().unwrap();
    let mut bytes = good.clone();
    bytes[10] ^= 0x20;
    std::fs::write(&exported, &bytes).unwrap();
    std::fs::File::options().write(true).open(&exported).unwrap().set_modified(mtime).unwrap();
    common::ok(p.path(), &["build"]);
    assert_eq!(std::fs::read(&exported).unwrap(), good, "a byte flipped with the stat put back is rewritten");

    // The stored report corrupted (stat kept) and the export deleted: the
    // build refuses to export it, and the next one rebuilds and exports it.
    flip_a_byte(&common::stage_output(p.path(), "smoke", "report", "report.md"));
    std::fs::remove_dir_all(p.path().join("out")).unwrap();
    let out = common::repro(p.path(), &["build"]);
    let err = stderr(&out);
    assert!(!out.status.success() && err.contains("report.md") && err.contains("is corrupt"), "{err}");
    assert!(!exported.exists() || std::fs::read(&exported).unwrap() == good, "no corrupt byte exported");
    common::ok(p.path(), &["build"]);
    assert_eq!(std::fs::read(&exported).unwrap(), good);
}

/// Issue 36, item 3: a stage wired to the wrong kind is refused at load,
/// at its `depends_on`, before anything runs.
#[test]
fn a_stage_wired_to_the_wrong_kind_is_refused_with_its_line() {
    let p = common::project_copy();
    let file = p.path().join("pipeline.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    let wrong = text.replace("depends_on = [\"features_final\"]", "depends_on = [\"train_a\"]");
    assert_ne!(wrong, text);
    std::fs::write(&file, &wrong).unwrap();
    let line = wrong.lines().position(|l| l.contains("depends_on = [\"train_a\"]")).unwrap() + 1;
    refused(
        p.path(),
        &["build", "--profile", "smoke", "--dry-run"],
        &[&format!("pipeline.toml:{line}:"), "stage `tsne_final`", "cannot take a `train` stage", "exactly one `features` stage"],
    );
    let none = text.replace(
        "depends_on = [\"data\", \"train_final\"]\nparams = { layers = [\"logits\"]",
        "depends_on = [\"data\"]\nparams = { layers = [\"logits\"]",
    );
    assert_ne!(none, text);
    std::fs::write(&file, none).unwrap();
    refused(p.path(), &["status", "--profile", "smoke"], &["stage `features_final`", "exactly one `train` stage", "it has 0"]);
}

/// Issue 36, items 9 and 10: `--threads 0`, a missing pipeline file, and
/// a `--set` of the wrong type are refused on one clear line.
#[test]
fn bad_arguments_are_refused_clearly() {
    let p = common::project_copy();
    refused(p.path(), &["--threads", "0", "build", "--profile", "smoke"], &["--threads", "0 is not in 1.."]);
    let out = common::repro(p.path(), &["--pipeline", "nonexist.toml", "status"]);
    let err = stderr(&out);
    assert!(!out.status.success() && err.contains("nonexist.toml: no such pipeline file") && !err.contains(":0:0"), "{err}");
    let out = common::repro(p.path(), &["status", "--profile", "smoke", "--set", "train_a.epochs=\"x\""]);
    let err = stderr(&out);
    let first = err.lines().next().unwrap_or_default();
    assert!(!out.status.success() && first.contains("train_a.epochs") && first.contains("parameters of `train`"), "{err}");
}

/// `bench epoch` runs the real training loop and states the loop's cost
/// beside pure steps (figures printed, nothing about speed asserted).
#[test]
fn bench_epoch_times_the_training_loop_beside_pure_steps() {
    let dir = tempfile::tempdir().unwrap();
    let out = common::ok(dir.path(), &["--threads", "1", "bench", "epoch", "--batches", "2", "--eval-images", "40", "--epochs", "1"]);
    assert!(out.contains("pure steps: train") && out.contains("epoch 1: ") && out.contains("the loop costs"), "{out}");
    assert!(out.contains("128 training + 40 evaluation images"), "{out}");
}
