//! The model on burn's Vulkan backend against flex, on whatever Vulkan
//! device the loader finds (in CI: Mesa's llvmpipe, a CPU device): each
//! layer's value and gradients, 20 training steps of the real model, the
//! training, features and Grad-CAM stages through the binary, and a smoke
//! build through it. Built only with `--features vulkan`;
//! without a Vulkan driver the tests skip, saying so, unless
//! REPRO_REQUIRE_VULKAN is set (CI sets it).
#![cfg(feature = "vulkan")]

mod common;

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Int, Tensor, TensorData};
use common::{random, tensor, values};
use repro::compute::{BackendKind, Compute, rng_device};
use repro::model::{Cnn, CnnConfig};
use std::path::{Path, PathBuf};

/// The Vulkan device, or None (printed) when the loader finds none and
/// REPRO_REQUIRE_VULKAN is unset: `.ci/run` sets it, so CI cannot skip.
fn vulkan() -> Option<Device> {
    match Compute::open(BackendKind::Vulkan) {
        Ok(compute) => {
            println!("Vulkan device: {:?}", compute.path());
            Some(compute.device())
        }
        Err(e) if std::env::var_os("REPRO_REQUIRE_VULKAN").is_none() => {
            println!("skipped: {e:#} (set REPRO_REQUIRE_VULKAN=1 to fail instead)");
            None
        }
        Err(e) => panic!("REPRO_REQUIRE_VULKAN is set but: {e:#}"),
    }
}

/// Largest difference relative to the reference's largest magnitude.
fn largest_difference(ours: &[f32], flex: &[f32]) -> f32 {
    let scale = flex.iter().fold(1e-6f32, |m, v| m.max(v.abs()));
    ours.iter().zip(flex).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max) / scale
}

fn assert_close(name: &str, ours: &[f32], flex: &[f32], tolerance: f32) {
    assert_eq!(ours.len(), flex.len(), "{name}: lengths differ");
    let worst = largest_difference(ours, flex);
    println!("{name}: largest difference {worst:.2e} of the largest value");
    assert!(worst <= tolerance, "{name}: vulkan and flex differ by {worst:.2e} of the largest value (tolerance {tolerance:.0e})");
}

/// Runs `op` on flex and on Vulkan (both with autodiff) and compares every
/// returned vector: outputs and gradients.
fn compare(name: &str, tolerance: f32, op: impl Fn(&Device) -> Vec<Vec<f32>>) {
    let Some(device) = vulkan() else { return };
    let flex = op(&Device::flex().autodiff());
    let ours = op(&device.autodiff());
    for (i, (a, b)) in ours.iter().zip(&flex).enumerate() {
        assert_close(&format!("{name} #{i}"), a, b, tolerance);
    }
}

#[test]
fn each_layer_matches_flex_in_value_and_gradient() {
    use repro::kernels::{conv::conv3x3, norm, pool::max_pool2x2};
    let [n, c_in, c_out, h, w] = [4, 8, 16, 12, 12];
    for relu in [false, true] {
        compare(&format!("conv3x3 relu {relu}"), 1e-5, |d| {
            let x = tensor(&random(n * c_in * h * w, 1), [n, c_in, h, w], d).require_grad();
            let k = tensor(&random(c_out * c_in * 9, 2), [c_out, c_in, 3, 3], d).require_grad();
            let b = tensor(&random(c_out, 3), [c_out], d).require_grad();
            let r = tensor(&random(n * c_out * h * w, 4), [n, c_out, h, w], d);
            let out = conv3x3(x.clone(), k.clone(), b.clone(), relu);
            let g = (out.clone() * r).sum().backward();
            vec![values(out), values(x.grad(&g).unwrap()), values(k.grad(&g).unwrap()), values(b.grad(&g).unwrap())]
        });
    }
    compare("max_pool2x2", 1e-6, |d| {
        let x = tensor(&random(n * c_in * h * w, 5), [n, c_in, h, w], d).require_grad();
        let r = tensor(&random(n * c_in * h * w / 4, 6), [n, c_in, h / 2, w / 2], d);
        let out = max_pool2x2(x.clone());
        let g = (out.clone() * r).sum().backward();
        vec![values(out), values(x.grad(&g).unwrap())]
    });
    compare("batch_norm_train", 1e-4, |d| {
        let x = tensor(&random(n * c_in * h * w, 7), [n, c_in, h, w], d).require_grad();
        let gamma = tensor(&random(c_in, 8), [c_in], d).require_grad();
        let beta = tensor(&random(c_in, 9), [c_in], d).require_grad();
        let r = tensor(&random(n * c_in * h * w, 10), [n, c_in, h, w], d);
        let (out, mean, var) = norm::batch_norm_train(x.clone(), gamma.clone(), beta.clone(), 1e-3);
        let g = (out.clone() * r).sum().backward();
        let grads = [x.grad(&g).unwrap().into_data(), gamma.grad(&g).unwrap().into_data(), beta.grad(&g).unwrap().into_data()];
        let mut all = vec![values(out), values(mean), values(var)];
        all.extend(grads.into_iter().map(|t| t.try_to_vec::<f32>().unwrap()));
        all
    });
    compare("batch_norm_eval", 1e-5, |d| {
        let x = tensor(&random(n * c_in * h * w, 11), [n, c_in, h, w], d);
        let stats: Vec<Tensor<1>> = (12..16).map(|s| tensor(&random(c_in, s), [c_in], d)).collect();
        let variance = stats[3].clone().abs() + 0.1;
        vec![values(norm::batch_norm_eval(x, stats[0].clone(), stats[1].clone(), stats[2].clone(), variance, 1e-3))]
    });
}

#[test]
fn dropout_drops_the_same_units_as_on_flex() {
    use burn::nn::DropoutConfig;
    compare("dropout", 0.0, |d| {
        repro::kernels::dropout::seed_stream(42);
        let x = tensor(&random(4096, 17), [16, 256], d).require_grad();
        let out = repro::kernels::dropout::dropout(&DropoutConfig::new(0.25).init(), x.clone());
        let g = out.clone().sum().backward();
        vec![values(out), values(x.grad(&g).unwrap())]
    });
}

/// The model of seed 7, initialised on flex, then forked to `device`: burn's
/// parameters are lazy, and forked unread they would draw their values
/// from the target device's RNG.
fn seeded_model(device: &Device) -> Cnn {
    let rng = rng_device();
    rng.seed(7);
    repro::kernels::dropout::seed_stream(7);
    let model = Cnn::new(&CnnConfig::default(), &rng.clone().autodiff());
    repro::bench::fork::materialized_fork(model, device)
}

/// The small batch of the training comparison (llvmpipe is slow).
const BATCH: usize = 4;

/// Losses of `steps` Adam steps of the real model on one batch, from the
/// weights and dropout draws of seed 7.
fn trajectory(device: &Device, steps: usize) -> Vec<f32> {
    let mut model = seeded_model(device);
    let mut optim = repro::training::optimizer::OptimizerParams::default().build();
    let loss_fn = burn::nn::loss::CrossEntropyLossConfig::new().init(device);
    let x = tensor(&random(BATCH * 3 * 32 * 32, 18), [BATCH, 3, 32, 32], device);
    let y = Tensor::<1, Int>::from_data(TensorData::new((0..BATCH).map(|i| i as i64 % 10).collect::<Vec<i64>>(), [BATCH]), device);
    let mut losses = Vec::new();
    let started = std::time::Instant::now();
    for step in 0..steps {
        println!("step {step} at {:.1} s", started.elapsed().as_secs_f64());
        let loss = loss_fn.forward(model.forward(x.clone()), y.clone());
        losses.push(values(loss.clone())[0]);
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        model = optim.step(1e-3, model, grads);
    }
    losses
}

// The first Vulkan step compiles and autotunes every kernel the model
// uses: about 5.6 minutes on llvmpipe with 2 Xeon cores (measured), then
// about 2 s a step; cubecl keeps its autotune results, so a rerun is fast.
#[test]
fn twenty_training_steps_follow_flex() {
    let Some(device) = vulkan() else { return };
    let flex = trajectory(&Device::flex().autodiff(), 20);
    let ours = trajectory(&device.autodiff(), 20);
    println!("step  flex      vulkan    difference");
    for (i, (a, b)) in flex.iter().zip(&ours).enumerate() {
        println!("{i:4}  {a:.6}  {b:.6}  {:.2e}", (a - b).abs());
    }
    let learned = |losses: &[f32]| losses[15..].iter().sum::<f32>() / 5.0 < 0.6 * losses[0];
    assert!(learned(&flex) && learned(&ours), "both learn the batch: flex {flex:?}, vulkan {ours:?}");
    // One whole step (forward, backward, Adam update) agrees to rounding.
    for i in 0..2 {
        assert!((flex[i] - ours[i]).abs() <= 1e-4 * flex[i].abs().max(1.0), "step {i}: flex {}, vulkan {}", flex[i], ours[i]);
    }
    // Adam's first updates are about lr * sign(gradient), so a rounding
    // difference in a near-zero gradient flips a whole update; the curves
    // then move together (the same dropout masks) a little apart: at most
    // 0.11 in 20 steps here (measured).
    for (i, (a, b)) in flex.iter().zip(&ours).enumerate() {
        assert!((a - b).abs() <= 0.15 * a.abs().max(1.0), "step {i}: flex loss {a}, vulkan {b}");
    }
}

/// Each layer's output of the real model on one batch in training mode,
/// from the weights and dropout draws of seed 7.
fn layer_outputs(device: &Device) -> Vec<(String, Vec<f32>)> {
    use repro::model::cnn::Value;
    let model = seeded_model(device);
    let mut x = Value::Maps(tensor(&random(BATCH * 3 * 32 * 32, 18), [BATCH, 3, 32, 32], device));
    let mut out = Vec::new();
    for (name, layer) in model.layers() {
        x = layer.apply(x);
        let v = match &x {
            Value::Maps(t) => values(t.clone()),
            Value::Flat(t) => values(t.clone()),
        };
        out.push((name, v));
    }
    out
}

#[test]
fn each_layer_of_the_real_model_matches_flex() {
    let Some(device) = vulkan() else { return };
    let flex = layer_outputs(&Device::flex().autodiff());
    let ours = layer_outputs(&device.autodiff());
    let mut differ = Vec::new();
    for ((name, a), (_, b)) in ours.iter().zip(&flex) {
        let worst = largest_difference(a, b);
        println!("{name:28} largest difference {worst:.2e} of the largest value");
        if worst > 1e-4 {
            differ.push(name.clone());
        }
    }
    assert!(differ.is_empty(), "layers where vulkan departs from flex: {differ:?}");
}

fn numbers(dir: &Path) -> serde_json::Map<String, serde_json::Value> {
    let text = std::fs::read(dir.join("out/smoke/numbers.json")).unwrap();
    serde_json::from_slice::<serde_json::Value>(&text).unwrap().as_object().unwrap().clone()
}

#[test]
#[ignore = "slow on a software Vulkan device: run with --ignored"]
fn a_smoke_build_on_vulkan_gives_flex_numbers() {
    if vulkan().is_none() {
        return;
    }
    let flex = common::project_copy();
    let ours = common::project_copy();
    for (dir, backend) in [(&flex, "flex"), (&ours, "vulkan")] {
        let out = common::repro(dir.path(), &["--backend", backend, "build", "--profile", "smoke", "--no-remote"]);
        assert!(out.status.success(), "smoke build on {backend} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    }
    let record = std::fs::read_to_string(common::record_file(ours.path(), "smoke")).unwrap();
    assert!(record.contains("\"backend\": \"vulkan\""), "the build record names the backend");
    let (a, b) = (numbers(flex.path()), numbers(ours.path()));
    let mut differ = Vec::new();
    for (key, value) in &a {
        let (Some(x), Some(y)) = (value.as_f64(), b.get(key).and_then(|v| v.as_f64())) else { continue };
        println!("{key:40} flex {x:<12.6} vulkan {y:<12.6}");
        let tolerance = if key.ends_with("_accuracy") || key.ends_with("_ratio") || key.ends_with("_loss") { 0.02 } else { 0.0 };
        if (x - y).abs() > tolerance * x.abs().max(1.0) && !key.contains("seconds") {
            differ.push(format!("{key}: flex {x}, vulkan {y}"));
        }
    }
    assert!(differ.is_empty(), "numbers beyond tolerance:\n{}", differ.join("\n"));
}

/// The build record of the stage `stage` at `dir`.
fn stage_record(dir: &Path, stage: &str) -> serde_json::Value {
    common::lock_record(dir, "stages")["stages"][stage].clone()
}

/// The stored output `name` of `stage` in the build at `dir`.
fn output(dir: &Path, stage: &str, name: &str) -> std::path::PathBuf {
    common::stage_output(dir, "stages", stage, name)
}

/// Training, features and Grad-CAM through the binary on both backends
/// (tests/fixtures/vulkan-stages.toml), compared output by output.
#[test]
fn the_stages_that_compute_on_vulkan_give_flex_outputs() {
    if vulkan().is_none() {
        return;
    }
    let builds: Vec<_> = ["flex", "vulkan"]
        .into_iter()
        .map(|backend| {
            let dir = common::project_with("tests/fixtures/vulkan-stages.toml");
            let started = std::time::Instant::now();
            let out = common::repro(dir.path(), &["--backend", backend, "build", "--no-remote"]);
            let said = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "build on {backend} failed:\n{said}");
            println!("{backend}: built in {:.1} s", started.elapsed().as_secs_f64());
            dir
        })
        .collect();
    let (flex, ours) = (builds[0].path(), builds[1].path());
    for stage in ["train", "features", "gradcam"] {
        let record = stage_record(ours, stage).to_string();
        assert!(record.contains(r#""backend":"vulkan""#), "{stage}: {record}");
    }
    // Measured on llvmpipe: metrics within 5e-7 (relative), features
    // within 8.4e-7 of the largest value, Grad-CAM maps within 1.6e-5.
    let mut differ = Vec::new();
    let metrics = |dir: &Path| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(output(dir, "train", "metrics.json")).unwrap()).unwrap()
    };
    let (a, b) = (metrics(flex), metrics(ours));
    for key in ["test_loss", "test_accuracy", "feature_distance_ratio"] {
        let (x, y) = (a[key].as_f64().unwrap(), b[key].as_f64().unwrap());
        println!("{key:24} flex {x:.6}  vulkan {y:.6}");
        if (x - y).abs() > 1e-4 * x.abs() {
            differ.push(format!("{key}: flex {x}, vulkan {y}"));
        }
    }
    let features = |dir: &Path| repro::artifacts::features::Features::read(&output(dir, "features", "features.bin")).unwrap();
    let (a, b) = (features(flex), features(ours));
    assert_eq!(a.header.indices, b.header.indices);
    for ((tap, _), (x, y)) in a.header.taps.iter().zip(a.matrices.iter().zip(&b.matrices)) {
        let worst = largest_difference(y, x);
        println!("features {tap:?}: largest difference {worst:.2e} of the largest value");
        if worst > 1e-4 {
            differ.push(format!("features {tap:?}: {worst:.2e}"));
        }
    }
    let cams = |dir: &Path| -> repro::artifacts::gradcam::GradcamFile {
        serde_json::from_slice(&std::fs::read(output(dir, "gradcam", "gradcam.json")).unwrap()).unwrap()
    };
    let (a, b) = (cams(flex), cams(ours));
    assert_eq!(a.rows.len(), b.rows.len());
    for (x, y) in a.rows.iter().zip(&b.rows) {
        let worst = largest_difference(&y.heat, &x.heat);
        println!(
            "Grad-CAM {:12} image {} / {}, predicted {} / {}: largest difference {worst:.2e}",
            x.name, x.index, y.index, x.predicted, y.predicted
        );
        if (x.index, x.predicted) != (y.index, y.predicted) || worst > 1e-3 {
            differ.push(format!("Grad-CAM of {}: {worst:.2e}", x.name));
        }
    }
    assert!(differ.is_empty(), "beyond tolerance: {differ:#?}");
}

/// burn-optim loads a resumed optimizer's state onto burn's default device,
/// a Vulkan one in this build: a training on flex must not open Vulkan (the
/// trainer reloads its checkpoint after every epoch, as a resume would).
#[test]
fn a_training_on_flex_leaves_vulkan_alone() {
    if vulkan().is_none() {
        return;
    }
    let dir = common::project_copy();
    let out = common::repro_command(dir.path())
        .env("VK_LOADER_DEBUG", "info")
        .args(["run", "stage", "train_a", "--profile", "smoke", "--no-remote"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("epoch   2"), "trained past a checkpoint: {said}");
    assert!(!said.contains("Vulkan Loader"), "a flex training opened Vulkan:\n{said}");
}

#[test]
fn a_missing_driver_is_named_before_anything_runs() {
    let dir = common::project_copy();
    let out = common::repro_command(dir.path())
        .env("VK_ICD_FILENAMES", "/nonexistent/icd.json")
        .env("VK_DRIVER_FILES", "/nonexistent/icd.json")
        .args(["--backend", "vulkan", "build", "--profile", "smoke", "--no-remote"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && said.contains("no Vulkan device found") && said.contains("mesa-vulkan-drivers"), "{said}");
    assert!(!common::record_file(dir.path(), "smoke").exists(), "nothing was built");
}

/// The GPU cache these tests' builds share: under the target directory,
/// so reruns find their autotune results.
fn gpu_cache() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("gpu-cache")
}

/// Dropout layers a training step runs: one after each conv block, one
/// after the dense layer (`Cnn::layers`).
const DROPOUT_LAYERS: f64 = 4.0;

/// One epoch of the GPU loop at 3 and at 6 training batches: the device
/// reads an epoch makes are the same few (a read a step would make them
/// differ by 3 or more); every dropout mask was hashed ahead of its step
/// by the mask thread; the compute path names the driver; cubecl keeps
/// its autotune results in the cache repro names, which the second build
/// finds filled.
#[test]
fn an_epoch_reads_the_device_a_fixed_number_of_times() {
    if vulkan().is_none() {
        return;
    }
    let dir = common::project_with("tests/fixtures/vulkan-reads.toml");
    let mut reads = Vec::new();
    for profile in ["three_batches", "six_batches"] {
        let out = common::repro_command(dir.path())
            .env("REPRO_GPU_CACHE", gpu_cache())
            .args(["--backend", "vulkan", "build", "--profile", profile, "--no-remote"])
            .output()
            .unwrap();
        let said = common::text(&out);
        assert!(out.status.success(), "{profile}:\n{said}");
        assert!(said.contains(&format!("GPU cache {}", gpu_cache().display())), "{said}");
        let record = common::lock_record(dir.path(), profile)["stages"]["train"].clone();
        let driver = record["environment"]["compute"]["driver"].as_str().unwrap_or_default().to_string();
        assert!(!driver.is_empty() && driver != "unknown", "no driver in the compute path: {}", record["environment"]["compute"]);
        reads.push(record["measurements"]["device_reads_per_epoch"].as_f64().expect("the GPU loop measures its reads"));
        // Every step's dropout calls took a mask hashed ahead, none in the step.
        let batches = if profile == "three_batches" { 3.0 } else { 6.0 };
        let ahead = record["measurements"]["dropout_masks_ahead"].as_f64().expect("the GPU loop counts its masks");
        assert_eq!(record["measurements"]["dropout_masks_in_step"].as_f64(), Some(0.0), "{profile}: masks hashed in the step");
        assert_eq!(ahead, batches * DROPOUT_LAYERS, "{profile}: masks made ahead");
        println!("{profile}: {} device reads an epoch, driver {driver}", reads.last().unwrap());
    }
    assert_eq!(reads[0], reads[1], "device reads grow with the batches: {reads:?}");
    assert!(reads[0] <= 8.0, "more reads than the loop's fixed ones: {reads:?}");
    let files = walkdir::WalkDir::new(gpu_cache()).into_iter().filter_map(Result::ok).filter(|e| e.file_type().is_file()).count();
    assert!(files > 0, "cubecl kept nothing in {}", gpu_cache().display());
    assert!(!dir.path().join("target").exists(), "cubecl wrote under the project");
}

/// Every float parameter's values, read now.
struct Values(Vec<Vec<f32>>);

impl ModuleVisitor for Values {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0.push(values(param.val()));
    }
}

fn parameter_values(model: &Cnn) -> Vec<Vec<f32>> {
    let mut all = Values(Vec::new());
    model.visit(&mut all);
    all.0
}

/// The largest difference between two models' parameters (0: equal).
fn parameters_apart(a: &Cnn, b: &Cnn) -> f32 {
    let (a, b) = (parameter_values(a), parameter_values(b));
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(&b)
        .flat_map(|(x, y)| x.iter().zip(y).map(|(p, q)| if p == q { 0.0 } else { (p - q).abs().max(f32::MIN_POSITIVE) }))
        .fold(0.0, f32::max)
}

/// A checkpoint the GPU loop resumes from is read whole before any tensor
/// exists: after its files are replaced by another checkpoint's and then
/// removed, every parameter still has the saved values, and its optimizer
/// state steps exactly as that of a copy whose files are still there. On
/// flex and on the Vulkan device.
#[test]
fn a_loaded_checkpoint_outlives_its_files() {
    use repro::training::checkpoint::{self, Checkpoint};
    use repro::training::schedule::EarlyStopping;
    let Some(gpu) = vulkan() else { return };
    let params: repro::stages::train::TrainParams = toml::from_str("label = \"t\"\nepochs = 1").unwrap();
    let settings = params.settings();
    for device in [Device::flex(), gpu] {
        let train_device = device.clone().autodiff();
        let x = tensor(&random(BATCH * 3 * 32 * 32, 18), [BATCH, 3, 32, 32], &train_device);
        let y = Tensor::<1, Int>::from_data(TensorData::new(vec![1i64, 2, 3, 4], [BATCH]), &train_device);
        // The same dropout masks at every step compared.
        let step = |model: Cnn, optim: &mut burn::optim::ModuleOptimizer| {
            repro::kernels::dropout::seed_stream(7);
            let loss = burn::nn::loss::CrossEntropyLossConfig::new().init(&train_device).forward(model.forward(x.clone()), y.clone());
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            optim.step(1e-3, model, grads)
        };
        let at = |model: Cnn, optimizer| Checkpoint {
            model,
            centers: None,
            optimizer,
            history: Vec::new(),
            stopping: EarlyStopping::new(1),
            stopped_early: false,
        };
        let load =
            |dir: &Path| repro::gpu::checkpoint::load(dir, &settings, &train_device, &|w| panic!("{w}")).unwrap().expect("a checkpoint");
        let mut optimizer = settings.optimizer.build();
        let model = step(seeded_model(&train_device), &mut optimizer);
        let saved = at(model, optimizer);
        let (dir, kept) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        checkpoint::save(dir.path(), &saved).unwrap();
        checkpoint::save(kept.path(), &saved).unwrap();
        let (loaded, control) = (load(dir.path()), load(kept.path()));
        // Another model's checkpoint over the same files, then none at all.
        let mut optimizer = settings.optimizer.build();
        let other = step(step(seeded_model(&train_device), &mut optimizer), &mut optimizer);
        checkpoint::save(dir.path(), &at(other, optimizer)).unwrap();
        std::fs::remove_dir_all(dir.path()).unwrap();
        assert_eq!(parameters_apart(&loaded.model, &saved.model), 0.0, "{device:?}: the parameters changed with the files");
        let (mut a, mut b) = (loaded.optimizer, control.optimizer);
        let apart = parameters_apart(&step(loaded.model, &mut a), &step(control.model, &mut b));
        assert_eq!(apart, 0.0, "{device:?}: a step from the optimizer state differs by {apart:e}");
    }
}

/// The GPU loop reads its losses once an epoch, yet a non-finite one still
/// fails the stage naming the epoch and the batch, and nothing of that
/// epoch is saved.
#[test]
fn a_non_finite_loss_on_the_gpu_fails_naming_epoch_and_batch_and_saves_nothing() {
    let Some(device) = vulkan() else { return };
    let params: repro::stages::train::TrainParams = toml::from_str(
        "label = \"t\"\nepochs = 1\nbatch_size = 4\neval_batch_size = 8\nlr = 1e30\nseed = 5\ncenter_weight = 1.0\ncenter_init_sample = 16",
    )
    .unwrap();
    let data = repro::data::synthetic::generate(16, 8, 2);
    let ckpt = tempfile::tempdir().unwrap();
    let (bar, log) = (|_: u64, _: &str| repro_engine::events::Progress::hidden(), |_: String| {});
    let report = repro::training::Reporter { bar: &bar, log: &log };
    // An absurd learning rate blows the weights up after the first step.
    let result = repro::gpu::trainer::train(&params.settings(), &data.train, &data.test, &device, ckpt.path(), &report);
    let err = format!("{:#}", result.err().expect("training must fail"));
    assert!(err.contains("non-finite loss") && err.contains("at epoch 1 batch 2"), "{err}");
    assert!(!ckpt.path().join("latest").exists(), "no checkpoint holds the poisoned weights");
}
