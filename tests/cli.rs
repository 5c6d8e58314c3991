//! The `repro` binary end to end on the smoke profile: build, status
//! reasons, crash recovery after SIGKILL, errors, dag, gc.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

/// data -> figures -> report, no training: engine behaviour in seconds.
fn light() -> tempfile::TempDir {
    common::project_with("tests/fixtures/light.toml")
}

fn outputs(dir: &Path, profile: &str) -> serde_json::Value {
    let r = common::lock_record(dir, profile);
    let stages = r["stages"].as_object().unwrap();
    stages.iter().map(|(k, v)| (k.clone(), v["outputs"].clone())).collect()
}

#[test]
fn smoke_build_renders_the_report_then_is_a_no_op() {
    let p = light();
    let text = common::ok(p.path(), &["build", "--profile", "smoke"]);
    assert!(text.contains("never built"), "{text}");
    let md = std::fs::read_to_string(p.path().join("out/smoke/report.md")).unwrap();
    assert!(md.contains("| disc | 200 | 50 |"), "class table from synthetic data:\n{md}");
    assert!(md.contains("synthetic data (not CIFAR-10)"));
    let html = std::fs::read_to_string(p.path().join("out/smoke/report.html")).unwrap();
    assert!(html.contains("<img src=\"figures/samples.png\""));
    let png = image::open(p.path().join("out/smoke/figures/samples.png")).unwrap();
    assert!(png.width() > 300 && png.height() > 300);
    assert!(std::fs::read_to_string(p.path().join("out/smoke/figures/samples.svg")).unwrap().contains("data:image/png;base64"));
    let again = common::ok(p.path(), &["build", "--profile", "smoke"]);
    assert!(again.contains("0 ran, 0 restored, 3 fresh"), "{again}");
}

#[test]
fn status_and_dry_run_say_why() {
    let p = light();
    common::ok(p.path(), &["build", "--profile", "smoke"]);
    let status = common::ok(p.path(), &["status", "--profile", "smoke", "--set", "data.train_size=1000"]);
    assert!(status.contains("params changed: data.train_size 2000 -> 1000"), "{status}");
    assert!(status.contains("figures") && status.contains("stale if data changes"), "{status}");
    let dry = common::ok(p.path(), &["build", "--profile", "smoke", "--dry-run", "--force", "figures"]);
    assert!(dry.contains("forced"), "{dry}");
    assert!(common::ok(p.path(), &["status", "--profile", "smoke"]).matches("fresh").count() == 3, "dry run ran nothing");
}

#[test]
fn sigkill_at_any_point_then_build_recovers() {
    let reference = light();
    common::ok(reference.path(), &["build", "--profile", "smoke"]);
    let expected = outputs(reference.path(), "smoke");
    let p = light();
    // Kill as each stage starts, and at fixed delays.
    type Kill = Box<dyn Fn(&mut std::process::Child)>;
    let points: Vec<Kill> = vec![
        Box::new(|c| kill_on_line(c, "data stale")),
        Box::new(|c| kill_on_line(c, "figures stale")),
        Box::new(|c| kill_on_line(c, "report stale")),
        Box::new(|c| kill_after(c, 5)),
        Box::new(|c| kill_after(c, 40)),
        Box::new(|c| kill_after(c, 150)),
    ];
    for (n, kill) in points.iter().enumerate() {
        let _ = std::fs::remove_dir_all(p.path().join("artifacts"));
        if n % 2 == 1 {
            // Also interrupt a rebuild over an existing store.
            common::ok(p.path(), &["build", "--profile", "smoke"]);
            let _ = std::fs::remove_dir_all(p.path().join("artifacts/records"));
            let _ = std::fs::remove_dir_all(p.path().join("artifacts/runs"));
        }
        let mut child = common::repro_command(p.path())
            .args(["build", "--profile", "smoke"])
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        kill(&mut child);
        let _ = child.wait();
        common::ok(p.path(), &["build", "--profile", "smoke"]);
        assert_eq!(outputs(p.path(), "smoke"), expected, "kill point {n}");
        let status = common::ok(p.path(), &["status", "--profile", "smoke"]);
        assert_eq!(status.matches("fresh").count(), 3, "kill point {n}: {status}");
    }
}

fn kill_on_line(child: &mut std::process::Child, needle: &str) {
    let stderr = child.stderr.take().unwrap();
    for line in BufReader::new(stderr).lines() {
        if line.unwrap_or_default().contains(needle) {
            break;
        }
    }
    let _ = child.kill();
}

fn kill_after(child: &mut std::process::Child, ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
    let _ = child.kill();
}

#[test]
fn failures_exit_non_zero_with_the_cause_first() {
    let p = light();
    let out = common::repro(p.path(), &["build", "--profile", "smoke", "--data", "/no/such/archive.tar.gz"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.lines().next().unwrap().starts_with("error: --data /no/such/archive.tar.gz: no such file"), "{err}");

    let out = common::repro(p.path(), &["build", "--profile", "nope"]);
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("error: unknown profile `nope`"));

    let text = std::fs::read_to_string(p.path().join("pipeline.toml")).unwrap();
    std::fs::write(p.path().join("pipeline.toml"), text.replace("samples_per_class = 8", "samples_per_clas = 8")).unwrap();
    let out = common::repro(p.path(), &["status"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.starts_with("error: pipeline.toml:") && err.contains("samples_per_clas"), "{err}");

    let bad = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(bad.path().join("train/cat")).unwrap();
    std::fs::write(bad.path().join("train/cat/x.png"), b"not a png").unwrap();
    let q = light();
    let out = common::repro(q.path(), &["build", "--profile", "smoke", "--data", bad.path().to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    let line = err.lines().find(|l| l.starts_with("error:")).unwrap_or_default();
    assert!(line.starts_with("error: stage `data` failed:") && line.contains("train/cat/x.png"), "{err}");
}

#[test]
fn dag_text_and_dot() {
    let p = common::project_copy();
    let text = common::ok(p.path(), &["dag"]);
    assert!(text.contains("report (report) <- data, figures, train_a"), "{text}");
    let dot = common::ok(p.path(), &["dag", "--dot"]);
    assert!(dot.starts_with("digraph") && dot.contains("\"data\" -> \"figures\";"), "{dot}");
}

#[test]
fn gc_keeps_what_records_reference() {
    let p = light();
    common::ok(p.path(), &["build", "--profile", "smoke", "--set", "figures.samples_per_class=4"]);
    common::ok(p.path(), &["build", "--profile", "smoke"]);
    let text = common::ok(p.path(), &["gc"]);
    assert!(text.contains("removed 4 object(s)"), "old figures (png, svg) and report (md, html, figures): {text}");
    assert!(common::ok(p.path(), &["status", "--profile", "smoke"]).matches("fresh").count() == 3);
}

#[test]
fn smoke_profile_on_the_offline_jpeg_copy() {
    let Some(copy) = common::shared_jpeg_copy() else { return };
    let p = light();
    common::ok(p.path(), &["build", "--profile", "smoke", "--data", copy.to_str().unwrap()]);
    let md = std::fs::read_to_string(p.path().join("out/smoke/report.md")).unwrap();
    assert!(md.contains("| airplane | 200 | 50 |"), "{md}");
    assert!(md.contains("CIFAR-10 JPEG copy"), "{md}");
    assert!(md.contains("3e4a1564c7d236235c03122357197d9fe6af297275ff9edfcaf4ca9baa86e049"), "{md}");
}

#[test]
fn the_full_smoke_profile_trains_every_model_and_fills_the_report() {
    let p = common::project_copy();
    common::ok(p.path(), &["build", "--profile", "smoke"]);
    let md = std::fs::read_to_string(p.path().join("out/smoke/report.md")).unwrap();
    for label in ["a", "b", "c", "d", "e", "f", "final"] {
        assert!(md.contains(&format!("\n| {label} | ")), "Table 1 has model {label}:\n{md}");
    }
    for label in ["a", "b", "c", "d", "e", "f", "final", "center"] {
        assert!(p.path().join(format!("out/smoke/figures/curves_{label}.png")).exists(), "curves of {label}");
    }
    assert!(md.contains("Total params: 693834 (report: 693,834)"), "{md}");
    for fig in [
        "Figure 2.",
        "Figure 3-1.",
        "Figure 3-2.",
        "Figure 4-1.",
        "Figure 4-6.",
        "Figure 5-1.",
        "Figure 5-2.",
        "Figure 6.",
        "Figure 7-1.",
        "Figure 7-2.",
        "Figure 8-1.",
        "Figure 8-2.",
        "Figure 8-3.",
        "Figure 8-4.",
        "Figure 9-1.",
        "Figure 9-2.",
    ] {
        assert!(md.contains(&format!("**{fig}**")), "{fig} in the report:\n{md}");
    }
    assert!(
        md.contains("**Table 2. The final model with and without center loss**") && md.contains("| center (w = 0.003) | 87.80% |"),
        "{md}"
    );
    assert!(
        md.contains("points after 3 and 3 epochs (fewer than the report's: profile `smoke`)"),
        "Table 2's epochs against the report's 122 and 150:\n{md}"
    );
    assert!(
        md.contains("Models trained on fewer images or epochs than the report's (a, b, c, d, e, f, final, center: profile\n`smoke`)")
            && !md.contains("The variants trained to the report's protocol"),
        "the discussion names the models that lacked the report's protocol:\n{md}"
    );
    assert!(!md.contains("\n| center | final + center loss"), "the center model is not a row of Table 1");
    assert!(md.contains("**Table 3. Class separation**") && md.contains("| center | first_conv | raw (65536-d) |"), "{md}");
    assert!(md.contains("Classes cluster more tightly with depth") && md.contains("Center loss makes classes tighter"), "{md}");
    provenance_names_each_model_stages_compute_path_and_kernels(p.path(), &md);
    // A first impression that learns: model c well above chance (10%).
    let numbers: serde_json::Value = serde_json::from_slice(&std::fs::read(p.path().join("out/smoke/numbers.json")).unwrap()).unwrap();
    let c = numbers["c.test_accuracy"].as_f64().unwrap();
    assert!(c >= 0.6, "model c learns the synthetic shapes: {c}");
    let again = common::ok(p.path(), &["build", "--profile", "smoke"]);
    assert!(again.contains("0 ran, 0 restored, 16 fresh"), "{again}");
    let dry = common::ok(p.path(), &["build", "--profile", "paper", "--dry-run"]);
    assert!(dry.contains("profile `paper`: 16 stage(s) to run, estimated"), "{dry}");
}

/// The report's provenance shows, beside each stage's key, the compute
/// path and kernel fingerprint its build record holds (issue 33).
fn provenance_names_each_model_stages_compute_path_and_kernels(dir: &Path, md: &str) {
    let record = common::lock_record(dir, "smoke");
    let stage = |name: &str| record["stages"][name].clone();
    let env: repro_engine::record::Environment = serde_json::from_value(stage("train_c")["environment"].clone()).unwrap();
    assert!(!env.kernels.is_empty(), "train_c is keyed by its kernels' prints");
    let compute = repro_engine::provenance::compute_line(&env);
    assert!(md.contains(&format!("Compute path `{compute}`: ")), "{md}");
    let key = stage("train_c")["fingerprint"].as_str().unwrap().to_string();
    let row = format!("| train_c | train | `{}` | `{}` ({} shapes) |", &key[..16], &env.kernel_fingerprint()[..12], env.kernels.len());
    assert!(md.contains(&row), "{row} in:\n{md}");
    let data_key = stage("data")["fingerprint"].as_str().unwrap().to_string();
    assert!(md.contains(&format!("| data | dataset | `{}` |  |", &data_key[..16])), "the dataset has no kernels:\n{md}");
    let html = std::fs::read_to_string(dir.join("out/smoke/report.html")).unwrap();
    let cell = format!("<td><code>{}</code> ({} shapes)</td>", &env.kernel_fingerprint()[..12], env.kernels.len());
    assert!(html.contains(&cell), "{cell} in the HTML report");
}

#[test]
fn verify_checks_numbers_against_the_published_file() {
    let p = light();
    let missing = common::repro(p.path(), &["verify"]);
    let said = String::from_utf8_lossy(&missing.stderr);
    assert!(!missing.status.success() && said.contains("no published numbers") && said.contains("--update"), "{said}");
    let text = common::ok(p.path(), &["verify", "--update"]);
    assert!(text.contains("recorded 2 numbers"), "{text}");
    let text = common::ok(p.path(), &["verify"]);
    assert!(text.contains("data.train_images") && text.contains("all 2 numbers reproduce"), "{text}");
    let path = p.path().join("artifacts/published/smoke.json");
    let published = std::fs::read_to_string(&path).unwrap().replace("2000.0", "2001.0");
    std::fs::write(&path, published).unwrap();
    let out = common::repro(p.path(), &["verify"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "drift must fail");
    assert!(stdout.lines().any(|l| l.starts_with("data.train_images") && l.ends_with("NO")), "{stdout}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 of 2 numbers differ"));
}

#[test]
fn the_center_loss_sweep_runs_and_states_a_verdict() {
    let p = common::project_with("sweep.toml");
    common::ok(p.path(), &["build", "--profile", "sweep_smoke"]);
    let md = std::fs::read_to_string(p.path().join("out/sweep_smoke/report.md")).unwrap();
    // sweep.toml's matrix: 5 weights x 3 seeds, each weight a row of 3 runs.
    for w in ["| 0.0 | 3 |", "| 0.001 | 3 |", "| 0.003 | 3 |", "| 0.01 | 3 |", "| 0.03 | 3 |"] {
        assert!(md.contains(w), "Table S-1 has a row {w}:\n{md}");
    }
    assert!(md.contains("**Verdict:** best w = ") && md.contains("at w = 0"), "{md}");
    assert!(p.path().join("out/sweep_smoke/figures/sweep.png").exists());
}
