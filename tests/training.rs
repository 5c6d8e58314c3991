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
use std::process::{Command, Stdio};

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
    let record: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("artifacts/records/tiny.lock.json")).unwrap()).unwrap();
    let out = &record["stages"]["train"]["outputs"];
    let object = |name: &str| {
        let sha = out[name]["sha256"].as_str().unwrap();
        dir.join("artifacts/objects").join(&sha[..2]).join(&sha[2..])
    };
    let history = std::fs::read_to_string(object("history.csv")).unwrap();
    let rows = history.lines().map(|l| l.rsplit_once(',').unwrap().0.to_string()).collect();
    (out["model.weights"]["sha256"].as_str().unwrap().to_string(), rows)
}

fn build(dir: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_repro")).current_dir(dir).args(["--threads", "2", "build"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{err}");
    err
}

#[test]
fn killed_training_resumes_to_the_same_result() {
    let reference = tiny_project();
    build(reference.path());
    let expected = train_result(reference.path());
    assert_eq!(expected.1.len(), 4, "header and three epochs: {:?}", expected.1);

    let p = tiny_project();
    let mut child = Command::new(env!("CARGO_BIN_EXE_repro"))
        .current_dir(p.path())
        .args(["--threads", "2", "build"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    for line in BufReader::new(child.stderr.take().unwrap()).lines() {
        if line.unwrap().contains("epoch   2") {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let log = build(p.path());
    assert!(log.contains("resuming after epoch"), "{log}");
    assert_eq!(train_result(p.path()), expected, "a resumed run equals an uninterrupted one");
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
    let loaded = checkpoint::load(dir.path(), &s, &device).unwrap().unwrap();
    assert_eq!(stats(&loaded.model), before);
    let valid = loaded.model.valid();
    assert_eq!(stats(&valid), before, "inference mode sees the same statistics");
}
