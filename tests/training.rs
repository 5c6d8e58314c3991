//! The training loop: it learns, it is deterministic, and a killed run
//! resumes from its checkpoint to the same result.

mod common;

use burn::tensor::Device;
use repro::data::synthetic;
use repro::model::CnnConfig;
use repro::training::optimizer::OptimizerParams;
use repro::training::{Reporter, TrainSettings, train};
use repro_engine::events::Progress;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;

fn settings(epochs: usize) -> TrainSettings {
    TrainSettings {
        // Faster-moving BN statistics, so a 3-epoch run validates sensibly.
        model: CnnConfig { bn_momentum: 0.9, ..CnnConfig::default() },
        optimizer: OptimizerParams::default(),
        epochs,
        batch_size: 64,
        eval_batch_size: 256,
        lr: 1e-3,
        lr_schedule: Vec::new(),
        patience: 100,
        augment: None,
        seed: 11,
        center: None,
    }
}

fn quiet() -> (impl Fn(u64, &str) -> Progress, impl Fn(String)) {
    (|_: u64, _: &str| Progress::hidden(), |line: String| println!("{line}"))
}

#[test]
fn loss_falls_and_accuracy_beats_chance_on_synthetic_data() {
    let data = synthetic::generate(2000, 400, 1);
    let ckpt = tempfile::tempdir().unwrap();
    let (bar, log) = quiet();
    let trained = train(&settings(3), &data.train, &data.test, &Device::flex(), ckpt.path(), &Reporter { bar: &bar, log: &log }).unwrap();
    let h = &trained.history;
    assert_eq!(h.len(), 3);
    assert!(h[2].train_loss < h[0].train_loss * 0.8, "training loss must fall: {h:?}");
    assert!(trained.test_accuracy > 0.3, "3x chance (0.1) or better: {}", trained.test_accuracy);
}

fn tiny_project() -> tempfile::TempDir {
    common::project_with("tests/fixtures/tiny-train.toml")
}

/// The train stage's outputs, with wall-clock columns left out.
fn train_result(dir: &Path) -> (String, Vec<String>) {
    let record = common::lock_record(dir, "tiny");
    let history = std::fs::read_to_string(common::stage_output(dir, "tiny", "train", "history.csv")).unwrap();
    let rows = history.lines().map(|l| l.rsplit_once(',').unwrap().0.to_string()).collect();
    (record["stages"]["train"]["outputs"]["model.weights"]["sha256"].as_str().unwrap().to_string(), rows)
}

fn build(dir: &Path) -> String {
    common::ok(dir, &["--threads", "2", "build"])
}

/// The tiny project's uninterrupted result.
fn reference_result() -> (String, Vec<String>) {
    let reference = tiny_project();
    build(reference.path());
    let expected = train_result(reference.path());
    assert_eq!(expected.1.len(), 4, "header and three epochs: {:?}", expected.1);
    expected
}

/// A tiny project whose training was killed after its second epoch.
fn killed_after_epoch_2() -> tempfile::TempDir {
    let p = tiny_project();
    let mut child =
        common::repro_command(p.path()).args(["--threads", "2", "build"]).stderr(Stdio::piped()).stdout(Stdio::null()).spawn().unwrap();
    for line in BufReader::new(child.stderr.take().unwrap()).lines() {
        if line.unwrap().contains("epoch   2") {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    p
}

/// Every file called `name` under the project's checkpoints.
fn checkpoint_files(dir: &Path, name: &str) -> Vec<std::path::PathBuf> {
    walkdir::WalkDir::new(dir.join("artifacts/checkpoints"))
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name() == name)
        .map(|e| e.into_path())
        .collect()
}

#[test]
fn killed_training_resumes_to_the_same_result() {
    let expected = reference_result();
    let p = killed_after_epoch_2();
    let log = build(p.path());
    assert!(log.contains("resuming after epoch"), "{log}");
    assert_eq!(train_result(p.path()), expected, "a resumed run equals an uninterrupted one");
}

/// Threads change the speed, never a byte: a run on one thread, and one
/// killed on two threads and resumed on three, equal the two-thread run
/// (the full models were trained so, across sessions).
#[test]
fn the_thread_count_changes_no_byte_of_a_training() {
    let expected = reference_result();
    let one = tiny_project();
    common::ok(one.path(), &["--threads", "1", "build"]);
    assert_eq!(train_result(one.path()), expected, "one thread = two");
    let p = killed_after_epoch_2();
    let log = common::ok(p.path(), &["--threads", "3", "build"]);
    assert!(log.contains("resuming after epoch"), "the checkpoint's key does not hold the thread count: {log}");
    assert_eq!(train_result(p.path()), expected, "two threads, then three = two");
}

#[test]
fn damaged_checkpoints_are_discarded_and_training_still_ends_right() {
    let expected = reference_result();
    let p = killed_after_epoch_2();
    let models = checkpoint_files(p.path(), "model.bpk");
    assert!(!models.is_empty(), "the killed run left a checkpoint");
    for model in &models {
        let len = std::fs::metadata(model).unwrap().len();
        std::fs::OpenOptions::new().write(true).open(model).unwrap().set_len(len / 2).unwrap();
    }
    let log = build(p.path());
    assert!(log.contains("is damaged (model.bpk does not match its sha256); discarded"), "{log}");
    assert!(log.contains("training starts from the beginning"), "{log}");
    assert_eq!(train_result(p.path()), expected, "a run after damaged checkpoints equals an uninterrupted one");
}

#[test]
fn forced_training_ignores_its_checkpoint() {
    let p = killed_after_epoch_2();
    assert!(!checkpoint_files(p.path(), "digests.json").is_empty(), "the killed run left a checkpoint");
    let out = common::repro_command(p.path()).args(["--threads", "2", "build", "--force", "train"]).output().unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(!log.contains("resuming after epoch"), "--force trains from scratch: {log}");
}

#[test]
fn a_damaged_newest_checkpoint_falls_back_to_the_one_before() {
    use repro::training::checkpoint::{self, Checkpoint};
    use repro::training::history::EpochRow;
    use repro::training::schedule::EarlyStopping;
    let s = settings(3);
    let device = Device::flex().autodiff();
    let dir = tempfile::tempdir().unwrap();
    let row = |epoch| EpochRow { epoch, lr: 1e-3, train_loss: 1.0, train_accuracy: 0.5, val_loss: 1.0, val_accuracy: 0.5, seconds: None };
    for epochs in 1..=3 {
        let ckpt = Checkpoint {
            model: repro::model::Cnn::new(&s.model, &device),
            centers: None,
            optimizer: s.optimizer.build(),
            history: (1..=epochs).map(row).collect(),
            stopping: EarlyStopping::new(5),
            stopped_early: false,
        };
        checkpoint::save(dir.path(), &ckpt).unwrap();
    }
    assert!(!dir.path().join("epoch-1").exists(), "two slots are kept");
    std::fs::write(dir.path().join("epoch-3/state.json"), b"{}").unwrap();
    let warnings = std::cell::RefCell::new(Vec::new());
    let loaded = checkpoint::load(dir.path(), &s, &device, &|w| warnings.borrow_mut().push(w)).unwrap().unwrap();
    assert_eq!(loaded.history.len(), 2, "the epoch-2 checkpoint");
    let warnings = warnings.into_inner();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("epoch-3 is damaged (state.json does not match its sha256)"), "{warnings:?}");
    assert!(!dir.path().join("epoch-3").exists(), "a damaged slot is removed");
}

#[test]
fn checkpoints_keep_batch_norm_running_statistics() {
    use burn::module::Module;
    use repro::training::checkpoint::{self, Checkpoint};
    use repro::training::schedule::EarlyStopping;
    let data = synthetic::generate(64, 10, 4);
    let s = settings(1);
    let device = Device::flex().autodiff();
    let model = repro::model::Cnn::new(&s.model, &device);
    for _ in 0..3 {
        let x = repro::training::trainer::batch_images(&data.train, &(0..64).collect::<Vec<_>>(), None, &device);
        let _ = model.forward(x);
    }
    model.sync_running_stats();
    let stats = |m: &repro::model::Cnn| -> Vec<f32> {
        let bn = m.bn2.as_ref().unwrap();
        let mut v = bn.running_mean.value().into_data().try_to_vec::<f32>().unwrap();
        v.extend(bn.running_var.value().into_data().try_to_vec::<f32>().unwrap());
        v
    };
    let before = stats(&model);
    assert!(before.iter().any(|&v| v != 0.0 && v != 1.0), "three training passes moved the statistics");
    let dir = tempfile::tempdir().unwrap();
    let ckpt = Checkpoint {
        model,
        centers: None,
        optimizer: s.optimizer.build(),
        history: Vec::new(),
        stopping: EarlyStopping::new(5),
        stopped_early: false,
    };
    checkpoint::save(dir.path(), &ckpt).unwrap();
    let loaded = checkpoint::load(dir.path(), &s, &device, &|w| panic!("{w}")).unwrap().unwrap();
    assert_eq!(stats(&loaded.model), before);
    let valid = loaded.model.valid();
    assert_eq!(stats(&valid), before, "inference mode sees the same statistics");
}

/// Two "machines" sharing a folder remote: the first is killed after two
/// epochs and pushes its checkpoint, the second resumes from it to the
/// uninterrupted result; a corrupt checkpoint object is refused, naming
/// it, and a third machine trains from the beginning to the same result.
#[test]
fn a_killed_training_resumes_on_another_machine_from_the_remotes_checkpoint() {
    let expected = reference_result();
    let remote = tempfile::tempdir().unwrap();
    let url = remote.path().to_str().unwrap();
    let first = killed_after_epoch_2();
    let pushed = common::ok(first.path(), &["push", "--remote", url]);
    assert!(pushed.contains("not built; its checkpoint:"), "{pushed}");

    let second = tiny_project();
    let log = common::ok(second.path(), &["--threads", "2", "build", "--remote", url]);
    assert!(log.contains("checkpoint pulled from the remote"), "{log}");
    assert!(log.contains("resuming after epoch"), "{log}");
    assert_eq!(train_result(second.path()), expected, "resumed on another machine = uninterrupted");

    let entry: serde_json::Value = serde_json::from_slice(&std::fs::read(checkpoint_entry(remote.path())).unwrap()).unwrap();
    let (name, object) = entry["files"].as_object().unwrap().iter().find(|(n, _)| n.ends_with("model.bpk")).unwrap();
    let sha = object["sha256"].as_str().unwrap();
    let path = common::object_file(remote.path(), sha);
    std::fs::write(&path, b"not the checkpoint").unwrap();
    let third = tiny_project();
    let log = common::ok(third.path(), &["--threads", "2", "build", "--remote", url]);
    assert!(log.contains(&format!("checkpoint file {name}) is corrupt on the remote")), "{log}");
    assert!(!log.contains("resuming after epoch"), "{log}");
    assert_eq!(train_result(third.path()), expected, "trained from the beginning after a refused checkpoint");
}

/// Pushing a finished run retires the remote's checkpoint of it: the entry
/// goes, and its objects with it, but one that another entry still names.
#[test]
fn pushing_the_finished_run_retires_the_remotes_checkpoint() {
    let remote = tempfile::tempdir().unwrap();
    let url = remote.path().to_str().unwrap();
    let first = killed_after_epoch_2();
    common::ok(first.path(), &["push", "--remote", url]);
    let retired = checkpoint_entry(remote.path());
    let entry: serde_json::Value = serde_json::from_slice(&std::fs::read(&retired).unwrap()).unwrap();
    let files = entry["files"].as_object().unwrap().clone();
    let shared = files["latest"]["sha256"].as_str().unwrap().to_string();
    let other = serde_json::json!({ "stage": "train_x", "fingerprint": "f".repeat(64), "files": { "latest": files["latest"] } });
    let other_path = remote.path().join("checkpoints").join(format!("{}.json", "f".repeat(64)));
    std::fs::write(&other_path, serde_json::to_vec(&other).unwrap()).unwrap();

    let second = tiny_project();
    let log = common::ok(second.path(), &["--threads", "2", "build", "--remote", url]);
    assert!(log.contains("resuming after epoch"), "{log}");
    let pushed = common::ok(second.path(), &["push", "--remote", url]);
    let removed = format!("{} object(s)", files.len() - 1);
    assert!(pushed.contains(&format!("its checkpoint there retired: {removed}")) && pushed.contains("1 kept"), "{pushed}");
    assert!(!retired.exists() && other_path.exists(), "the finished run's checkpoint entry alone is gone");
    for (name, object) in &files {
        let sha = object["sha256"].as_str().unwrap();
        let present = common::object_file(remote.path(), sha).exists();
        assert_eq!(present, sha == shared, "checkpoint file {name}: present {present}");
    }
    let third = tiny_project();
    let log = common::ok(third.path(), &["build", "--remote", url]);
    assert!(!log.contains("epoch   1"), "the finished run restores, nothing trains: {log}");
}

/// The one checkpoint entry on a folder remote.
fn checkpoint_entry(remote: &Path) -> std::path::PathBuf {
    let entries: Vec<_> = std::fs::read_dir(remote.join("checkpoints")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    entries[0].clone()
}
