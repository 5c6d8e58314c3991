//! The center-loss branch: its updates match hand computation, it changes
//! nothing at w = 0, and a non-finite loss stops training before any
//! weights are saved.

mod common;

use burn::tensor::{Device, Int, Tensor, TensorData};
use repro::data::synthetic;
use repro::model::CnnConfig;
use repro::training::center_loss::{CenterSettings, CenterUpdate, Centers, FEATURE_DIM};
use repro::training::optimizer::OptimizerParams;
use repro::training::{Reporter, TrainSettings, train};
use repro_engine::events::Progress;
use std::path::Path;

fn features(rows: &[(usize, f32)]) -> Vec<f32> {
    // Sample n: feature with value v at coordinate 0, zeros elsewhere.
    rows.iter().flat_map(|&(_, v)| std::iter::once(v).chain(std::iter::repeat_n(0.0, FEATURE_DIM - 1))).collect()
}

#[test]
fn center_loss_and_its_gradients_match_hand_computation() {
    let device = Device::flex().autodiff();
    let mut rows = vec![0f32; 10 * FEATURE_DIM];
    rows[FEATURE_DIM] = 1.0; // c_1 = (1, 0, ...)
    let centers = Centers::from_rows(rows, &device);
    // Two samples of class 1 at 3 and 5 on coordinate 0, one of class 0 at 2.
    let f = features(&[(1, 3.0), (1, 5.0), (0, 2.0)]);
    let x = Tensor::<2>::from_data(TensorData::new(f, [3, FEATURE_DIM]), &device).require_grad();
    let y = Tensor::<1, Int>::from_data(TensorData::new(vec![1i64, 1, 0], [3]), &device);
    let loss = centers.loss(x.clone(), y, true);
    // (2^2 + 4^2 + 2^2) / 2 / 3 = 4.
    assert!((loss.clone().into_scalar::<f32>() - 4.0).abs() < 1e-6);
    let grads = loss.backward();
    let gc = centers.value.grad(&grads).unwrap().into_data().try_into_vec::<f32>().unwrap();
    // dL/dc_1 = -(2 + 4) / 3 = -2; dL/dc_0 = -2 / 3; other coordinates and classes 0.
    assert!((gc[FEATURE_DIM] + 2.0).abs() < 1e-6, "{}", gc[FEATURE_DIM]);
    assert!((gc[0] + 2.0 / 3.0).abs() < 1e-6, "{}", gc[0]);
    assert!(gc.iter().enumerate().all(|(i, &g)| i == 0 || i == FEATURE_DIM || g == 0.0));
    let gx = x.grad(&grads).unwrap().into_data().try_into_vec::<f32>().unwrap();
    assert!((gx[0] - 2.0 / 3.0).abs() < 1e-6 && (gx[FEATURE_DIM] - 4.0 / 3.0).abs() < 1e-6);
}

#[test]
fn moving_average_update_follows_wen_et_al() {
    let device = Device::flex();
    let mut rows = vec![0f32; 10 * FEATURE_DIM];
    rows[FEATURE_DIM] = 1.0;
    let centers = Centers::from_rows(rows, &device);
    let f = features(&[(1, 3.0), (1, 5.0)]);
    let moved = centers.moving_average_step(&f, &[1, 1], 0.5).to_rows();
    // delta = ((1 - 3) + (1 - 5)) / (1 + 2) = -2; c = 1 - 0.5 * -2 = 2.
    assert_eq!(moved[FEATURE_DIM], 2.0);
    assert!(moved.iter().enumerate().all(|(i, &v)| i == FEATURE_DIM || v == 0.0), "classes without samples stay put");
}

fn settings(lr: f64, center: Option<CenterSettings>) -> TrainSettings {
    TrainSettings {
        model: CnnConfig::default(),
        optimizer: OptimizerParams::default(),
        epochs: 1,
        batch_size: 32,
        eval_batch_size: 64,
        lr,
        lr_schedule: Vec::new(),
        patience: 100,
        augment: None,
        seed: 5,
        center,
    }
}

#[test]
fn a_non_finite_loss_fails_naming_epoch_and_batch_and_saves_nothing() {
    let data = synthetic::generate(256, 64, 2);
    let ckpt = tempfile::tempdir().unwrap();
    let center = CenterSettings { weight: 1.0, update: CenterUpdate::Learned, alpha: 0.5, init_sample: 100, kmeans_iterations: 20 };
    let (bar, log) = (|_: u64, _: &str| Progress::hidden(), |_: String| {});
    // An absurd learning rate blows the weights up after the first step.
    let result =
        train(&settings(1e30, Some(center)), &data.train, &data.test, &Device::flex(), ckpt.path(), &Reporter { bar: &bar, log: &log });
    let err = format!("{:#}", result.err().expect("training must fail"));
    assert!(err.contains("non-finite loss") && err.contains("at epoch 1 batch 2"), "{err}");
    assert!(!ckpt.path().join("latest").exists(), "no checkpoint holds the poisoned weights");
}

/// (history.csv without its seconds column, weights bytes) of a stage.
fn result_of(dir: &Path, stage: &str) -> (String, Vec<u8>) {
    let object = |name: &str| common::stage_output(dir, "smoke", stage, name);
    let history = std::fs::read_to_string(object("history.csv")).unwrap();
    let without_seconds = history.lines().map(|l| l.rsplit_once(',').unwrap().0.to_string()).collect::<Vec<_>>().join("\n");
    (without_seconds, std::fs::read(object("model.weights")).unwrap())
}

#[test]
fn with_zero_weight_the_center_model_equals_the_final_model() {
    let p = common::project_copy();
    common::ok(p.path(), &["run", "stage", "train_final", "--profile", "smoke"]);
    let final_model = result_of(p.path(), "train_final");
    for update in ["learned", "moving_average"] {
        let update_set = format!("train_center.center_update=\"{update}\"");
        let text = common::ok(
            p.path(),
            &["run", "stage", "train_center", "--profile", "smoke", "--set", "train_center.center_weight=0.0", "--set", &update_set],
        );
        assert!(text.contains("class centers initialised by K-means"), "the branch ran: {text}");
        let center_model = result_of(p.path(), "train_center");
        assert_eq!(center_model.0, final_model.0, "history, rule {update}");
        assert!(center_model.1 == final_model.1, "weights, rule {update}");
    }
    // And the branch is live: w > 0 changes the weights.
    common::ok(p.path(), &["run", "stage", "train_center", "--profile", "smoke", "--set", "train_center.center_weight=0.01"]);
    assert!(result_of(p.path(), "train_center").1 != final_model.1, "w = 0.01 must change training");
}
