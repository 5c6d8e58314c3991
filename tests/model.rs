//! The CNN against SPEC section 2, and the optimizers' first steps against
//! hand-computed (Keras) updates.

use burn::module::{Module, Param};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};
use repro::model::summary::summarise;
use repro::model::{Cnn, CnnConfig};
use repro::training::optimizer::{OptimizerKind, OptimizerParams};

/// burn's device RNG is process-wide: tests that initialise models take
/// turns, so a seeded one is not disturbed by another thread.
static RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn parameter_counts_match_the_report() {
    let _rng = RNG.lock().unwrap();
    let device = Device::flex();
    let s = summarise(&Cnn::new(&CnnConfig::default(), &device), &device);
    assert_eq!((s.total, s.trainable, s.non_trainable), (693_834, 692_938, 896));
    let a = summarise(&Cnn::new(&CnnConfig { batch_norm: false, ..CnnConfig::default() }, &device), &device);
    assert_eq!(a.total, 692_042);
}

#[test]
fn summary_rows_match_figure_1() {
    let _rng = RNG.lock().unwrap();
    let device = Device::flex();
    let s = summarise(&Cnn::new(&CnnConfig::default(), &device), &device);
    let rows: Vec<(&str, &str, usize)> = s.rows.iter().map(|r| (r.layer.as_str(), r.output.as_str(), r.params)).collect();
    let expected = [
        ("conv2d", "32x32x64", 1_792),
        ("batch_normalization", "32x32x64", 256),
        ("conv2d_1", "32x32x64", 36_928),
        ("max_pooling2d", "16x16x64", 0),
        ("dropout", "16x16x64", 0),
        ("conv2d_2", "16x16x128", 73_856),
        ("batch_normalization_1", "16x16x128", 512),
        ("conv2d_3", "16x16x128", 147_584),
        ("max_pooling2d_1", "8x8x128", 0),
        ("dropout_1", "8x8x128", 0),
        ("conv2d_4", "8x8x256", 295_168),
        ("batch_normalization_2", "8x8x256", 1_024),
        ("max_pooling2d_2", "4x4x256", 0),
        ("dropout_2", "4x4x256", 0),
        ("global_average_pooling2d", "256", 0),
        ("dense", "512", 131_584),
        ("dropout_3", "512", 0),
        ("dense_1", "10", 5_130),
    ];
    assert_eq!(rows, expected);
}

#[test]
fn forward_gives_ten_scores_and_named_activations() {
    let _rng = RNG.lock().unwrap();
    let device = Device::flex();
    let model = Cnn::new(&CnnConfig::default(), &device);
    let a = model.activations(Tensor::ones([2, 3, 32, 32], &device));
    assert_eq!(a.logits.dims(), [2, 10]);
    assert_eq!(a.first_conv.dims(), [2, 64, 32, 32]);
    assert_eq!(a.last_conv.dims(), [2, 256, 8, 8]);
    assert_eq!(a.dense.dims(), [2, 512]);
}

/// Two parameters, loss = w . c, so the gradient is c at every step.
#[derive(Module, Debug)]
struct Two {
    w: Param<Tensor<1>>,
}

const W0: [f64; 2] = [1.0, -2.0];
const C: [f64; 2] = [0.5, -3.0];

fn burn_steps(kind: OptimizerKind, lr: f64, steps: usize) -> Vec<f64> {
    let device = Device::flex().autodiff();
    let mut model = Two { w: Param::from_tensor(Tensor::from_data(TensorData::new(W0.map(|v| v as f32).to_vec(), [2]), &device)) };
    let mut optim = OptimizerParams { kind, ..OptimizerParams::default() }.build();
    let c = Tensor::<1>::from_data(TensorData::new(C.map(|v| v as f32).to_vec(), [2]), &device);
    for _ in 0..steps {
        let loss = model.w.val().mul(c.clone()).sum();
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(lr, model, grads);
    }
    model.w.val().into_data().try_to_vec::<f32>().unwrap().into_iter().map(|v| v as f64).collect()
}

/// Keras's update rules, written out.
fn keras_steps(kind: OptimizerKind, lr: f64, steps: usize) -> Vec<f64> {
    let (b1, b2, eps, momentum, rho) = (0.9f64, 0.999f64, 1e-7f64, 0.9f64, 0.9f64);
    (0..2)
        .map(|i| {
            let (mut w, g) = (W0[i], C[i]);
            let (mut m, mut v) = (0.0, 0.0);
            for t in 1..=steps as i32 {
                match kind {
                    OptimizerKind::Adam => {
                        m = b1 * m + (1.0 - b1) * g;
                        v = b2 * v + (1.0 - b2) * g * g;
                        let lr_t = lr * (1.0 - b2.powi(t)).sqrt() / (1.0 - b1.powi(t));
                        w -= lr_t * m / (v.sqrt() + eps);
                    }
                    OptimizerKind::Sgd => {
                        m = momentum * m - lr * g;
                        w += m;
                    }
                    OptimizerKind::Rmsprop => {
                        v = rho * v + (1.0 - rho) * g * g;
                        w -= lr * g / (v.sqrt() + eps);
                    }
                }
            }
            w
        })
        .collect()
}

fn assert_close(kind: OptimizerKind, lr: f64) {
    for steps in 1..=3 {
        let (got, want) = (burn_steps(kind.clone(), lr, steps), keras_steps(kind.clone(), lr, steps));
        for i in 0..2 {
            // Moves are about lr per step; f32 and the epsilon placement allow 1e-5 of it.
            assert!((got[i] - want[i]).abs() < lr * 1e-3 + 1e-6, "{kind:?} step {steps}: burn {got:?}, keras {want:?}");
        }
        let moved: f64 = (0..2).map(|i| (got[i] - W0[i]).abs()).sum();
        assert!(moved > lr * 0.5, "{kind:?}: parameters must move");
    }
}

#[test]
fn adam_matches_keras() {
    assert_close(OptimizerKind::Adam, 1e-3);
}

#[test]
fn sgd_with_momentum_matches_keras() {
    assert_close(OptimizerKind::Sgd, 1e-2);
}

#[test]
fn rmsprop_matches_keras() {
    assert_close(OptimizerKind::Rmsprop, 1e-3);
}

#[test]
fn weights_file_round_trips_and_is_deterministic() {
    let _rng = RNG.lock().unwrap();
    let device = Device::flex();
    let dir = tempfile::tempdir().unwrap();
    let (pa, pb) = (dir.path().join("a.weights"), dir.path().join("b.weights"));
    // Parameters initialise lazily, so each model is saved before the next is made.
    device.seed(3);
    let a = Cnn::new(&CnnConfig::default(), &device);
    repro::model::weights::save(&a, &pa).unwrap();
    device.seed(3);
    repro::model::weights::save(&Cnn::new(&CnnConfig::default(), &device), &pb).unwrap();
    let digest = |p: &std::path::Path| repro_engine::hashing::sha256_file(p).unwrap();
    assert_eq!(digest(&pa), digest(&pb), "same seed, same bytes (no random ids)");
    device.seed(4);
    let c = repro::model::weights::load(Cnn::new(&CnnConfig::default(), &device), &pa).unwrap();
    let x = Tensor::<4>::ones([1, 3, 32, 32], &device);
    assert!(a.forward(x.clone()).into_data() == c.forward(x).into_data(), "loaded weights give the same scores");
    let no_bn = Cnn::new(&CnnConfig { batch_norm: false, ..CnnConfig::default() }, &device);
    assert!(repro::model::weights::load(no_bn, &pa).is_err(), "a different architecture is refused");
}

#[test]
fn biases_start_at_zero_and_kernels_are_glorot_uniform() {
    let _rng = RNG.lock().unwrap();
    let device = Device::flex();
    let m = Cnn::new(&CnnConfig::default(), &device);
    let max_abs = |t: Tensor<1>| t.abs().max().into_scalar::<f32>();
    for (name, conv) in [("conv1", &m.conv1), ("conv3", &m.conv3), ("conv5", &m.conv5)] {
        assert_eq!(max_abs(conv.bias.as_ref().unwrap().val()), 0.0, "{name} bias (Keras: zeros)");
    }
    for (name, dense) in [("dense", &m.dense), ("classifier", &m.classifier)] {
        assert_eq!(max_abs(dense.bias.as_ref().unwrap().val()), 0.0, "{name} bias (Keras: zeros)");
    }
    // Glorot uniform for conv5: limit sqrt(6 / (fan_in + fan_out)), fans 128*9 and 256*9.
    let limit = (6.0f32 / ((128 + 256) * 9) as f32).sqrt();
    let w = m.conv5.weight.val();
    let (lo, hi) = (w.clone().min().into_scalar::<f32>(), w.max().into_scalar::<f32>());
    assert!(lo >= -limit && hi <= limit && hi > 0.9 * limit && lo < -0.9 * limit, "conv5 kernel in [{lo}, {hi}], limit {limit}");
}
