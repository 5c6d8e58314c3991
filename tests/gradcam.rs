//! Grad-CAM: the rebuilt tail of the model reproduces its logits, its
//! gradients match finite differences, and on a model trained to find a
//! coloured patch the heatmap's peak falls on the patch.

use burn::tensor::{Device, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use repro::data::Split;
use repro::gradcam::{Tail, cam, upsample};
use repro::model::extract::{Tap, extract};
use repro::model::{Cnn, CnnConfig};
use repro::training::optimizer::OptimizerParams;
use repro::training::{Reporter, TrainSettings, train};
use repro_engine::events::Progress;
use std::sync::Mutex;

/// burn's device RNG is process-wide: tests that initialise models take turns.
static RNG: Mutex<()> = Mutex::new(());

const COLOURS: [[u8; 3]; 4] = [[230, 30, 30], [30, 220, 30], [40, 40, 240], [230, 230, 30]];

/// Grey-noise images with one 8x8 patch whose colour is the class; the
/// patch's top-left corner is returned with each image.
fn patches(n: usize, seed: u64) -> (Split, Vec<(usize, usize)>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (mut split, mut corners) = (Split::default(), Vec::new());
    for i in 0..n {
        let label = i % 4;
        let (x0, y0) = (rng.random_range(0..24usize), rng.random_range(0..24usize));
        let mut img = vec![0u8; 32 * 32 * 3];
        for y in 0..32 {
            for x in 0..32 {
                let inside = (x0..x0 + 8).contains(&x) && (y0..y0 + 8).contains(&y);
                for c in 0..3 {
                    img[(y * 32 + x) * 3 + c] = if inside { COLOURS[label][c] } else { rng.random_range(90..160) };
                }
            }
        }
        split.push(&img, label as u8);
        corners.push((x0, y0));
    }
    (split, corners)
}

fn random_model(batch_norm: bool) -> Cnn {
    let device = Device::flex();
    device.seed(3);
    Cnn::new(&CnnConfig { batch_norm, ..CnnConfig::default() }, &device)
}

#[test]
fn the_rebuilt_tail_reproduces_the_model_logits() {
    let _guard = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let device = Device::flex();
    let (split, _) = patches(6, 1);
    for batch_norm in [true, false] {
        let model = random_model(batch_norm);
        let idx: Vec<usize> = (0..6).collect();
        let mut out = extract(&model, &split, &idx, &[Tap::LastConv, Tap::Logits], 6, &device);
        let logits = out.pop().unwrap();
        let maps = out.pop().unwrap();
        let tail = Tail::new(&model, &device);
        let ad = device.clone().autodiff();
        let again = tail.forward(Tensor::from_data(TensorData::new(maps, [6, 256, 8, 8]), &ad)).into_data().try_into_vec::<f32>().unwrap();
        for (a, b) in logits.iter().zip(&again) {
            assert!((a - b).abs() <= 1e-4 * a.abs().max(1.0), "batch_norm {batch_norm}: {a} vs {b}");
        }
    }
}

#[test]
fn gradients_match_finite_differences() {
    let _guard = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let device = Device::flex();
    let ad = device.clone().autodiff();
    let (split, _) = patches(1, 2);
    let model = random_model(true);
    let maps = extract(&model, &split, &[0], &[Tap::LastConv], 1, &device).remove(0);
    let tail = Tail::new(&model, &device);
    let class = 3;
    let grad = tail.gradient(&maps, class);
    let score = |m: &[f32]| -> f64 {
        let logits = tail.forward(Tensor::from_data(TensorData::new(m.to_vec(), [1, 256, 8, 8]), &ad));
        logits.into_data().try_into_vec::<f32>().unwrap()[class] as f64
    };
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let base = score(&maps);
    // (forward, backward) one-sided differences.
    let sided = |k: usize, eps: f32| {
        let (mut plus, mut minus) = (maps.clone(), maps.clone());
        plus[k] += eps;
        minus[k] -= eps;
        ((score(&plus) - base) / eps as f64, (base - score(&minus)) / eps as f64)
    };
    let (mut checked, mut nonzero, mut kinks) = (0, 0, 0);
    for _ in 0..150 {
        let k = rng.random_range(0..maps.len());
        let (forward, backward) = sided(k, 2e-3);
        if (forward - backward).abs() > 1e-3 {
            // A max-pool tie (e.g. an all-zero window after ReLU) or a ReLU
            // switch: one-sided slopes differ, so there is no derivative.
            kinks += 1;
            continue;
        }
        let narrow = (forward + backward) / 2.0;
        let analytic = grad[k] as f64;
        assert!((narrow - analytic).abs() <= 1e-3 + 1e-2 * analytic.abs(), "entry {k}: numeric {narrow} vs analytic {analytic}");
        checked += 1;
        nonzero += usize::from(analytic != 0.0);
    }
    assert!(checked >= 40, "too few smooth entries: {kinks} kinks, {checked} checked");
    assert!(nonzero >= 10, "entries with non-zero gradient checked: {nonzero}");
}

#[test]
fn the_heatmap_peak_falls_on_the_patch_that_carries_the_class() {
    let _guard = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let device = Device::flex();
    let (train_split, _) = patches(1200, 5);
    let (test_split, corners) = patches(80, 6);
    let settings = TrainSettings {
        model: CnnConfig { bn_momentum: 0.9, ..CnnConfig::default() },
        optimizer: OptimizerParams::default(),
        epochs: 2,
        batch_size: 32,
        eval_batch_size: 80,
        lr: 1e-3,
        lr_schedule: Vec::new(),
        patience: 100,
        augment: None,
        seed: 1,
        center: None,
    };
    let ckpt = tempfile::tempdir().unwrap();
    let (bar, log) = (|_: u64, _: &str| Progress::hidden(), |line: String| println!("{line}"));
    let trained = train(&settings, &train_split, &test_split, &device, ckpt.path(), &Reporter { bar: &bar, log: &log }).unwrap();
    assert!(trained.test_accuracy > 0.9, "the patch colour is easy to learn: {}", trained.test_accuracy);
    let tail = Tail::new(&trained.model, &device);
    let (mut on_patch, mut total) = (0, 0);
    for (i, &(x0, y0)) in corners.iter().enumerate() {
        let maps = extract(&trained.model, &test_split, &[i], &[Tap::LastConv], 1, &device).remove(0);
        let heat = upsample(&cam(&maps, &tail.gradient(&maps, test_split.labels[i] as usize), 256, 8), 8, 32);
        let peak = heat.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0;
        let (px, py) = (peak % 32, peak / 32);
        // The 8x8 maps have 4-pixel cells: allow one cell around the patch.
        let near = |p: usize, lo: usize| p + 4 >= lo && p < lo + 8 + 4;
        on_patch += usize::from(near(px, x0) && near(py, y0));
        total += 1;
    }
    assert!(on_patch * 10 >= total * 8, "heatmap peak on the patch for {on_patch} of {total} images");
}
