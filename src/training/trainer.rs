//! The training loop on burn autodiff: seeded shuffling and augmentation,
//! the LR schedule, early stopping, per-epoch checkpoints that resume to
//! the same result as an uninterrupted run.

use super::center_loss::{CenterUpdate, Centers, initial_centers};
use super::checkpoint::{self, Checkpoint};
use super::history::EpochRow;
use super::schedule::{EarlyStopping, learning_rate};
pub use super::settings::TrainSettings;
use crate::data::dataset::Split;
use crate::model::Cnn;
pub use crate::model::input::{batch_images, batch_labels};
use anyhow::{Context, bail};
use burn::module::{Module, ModuleVisitor, Param};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use repro_engine::events::Progress;
use std::path::Path;
use std::time::Instant;

/// Where the loop reports progress.
pub struct Reporter<'a> {
    pub bar: &'a dyn Fn(u64, &str) -> Progress,
    pub log: &'a dyn Fn(String),
}

pub struct Trained {
    pub model: Cnn,
    /// Final class centers, [classes x 512] row-major, for center-loss runs.
    pub centers: Option<Vec<f32>>,
    pub history: Vec<EpochRow>,
    pub test_loss: f64,
    pub test_accuracy: f64,
    pub stopped_early: bool,
    pub best_epoch: Option<usize>,
}

/// Loss and accuracy over a split.
#[derive(Clone, Copy, Debug)]
pub struct Metrics {
    pub loss: f64,
    pub accuracy: f64,
}

/// A seed for (run seed, epoch, purpose) that no other pair shares.
fn derive_seed(seed: u64, epoch: usize, purpose: u64) -> u64 {
    let mut x = seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ purpose.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 31;
    x.wrapping_mul(0x94D0_49BB_1331_11EB)
}

/// Mean cross-entropy and accuracy of `model` (inference mode) on `split`.
pub fn evaluate(model: &Cnn, split: &Split, batch_size: usize, device: &Device) -> Metrics {
    let loss_fn = CrossEntropyLossConfig::new().init(device);
    let (mut loss_sum, mut correct) = (0.0f64, 0i64);
    let all: Vec<usize> = (0..split.len()).collect();
    for chunk in all.chunks(batch_size) {
        let x = batch_images(split, chunk, None, device);
        let y = batch_labels(split, chunk, device);
        let logits = model.forward(x);
        loss_sum += loss_fn.forward(logits.clone(), y.clone()).into_scalar::<f32>() as f64 * chunk.len() as f64;
        correct += logits.argmax(1).reshape([chunk.len()]).equal(y).int().sum().into_scalar::<i64>();
    }
    let n = split.len().max(1) as f64;
    Metrics { loss: loss_sum / n, accuracy: correct as f64 / n }
}

/// A new model whose lazily initialised parameters take their values now,
/// from the run seed alone, so nothing drawn later (dropout, the center
/// initialisation) can shift them; and its initial centers, if any.
fn fresh_start(settings: &TrainSettings, train: &Split, device: &Device, train_device: &Device, report: &Reporter) -> Checkpoint {
    // Initialised on flex whatever the backend, then forked to the training
    // device, so every backend starts from the same weights.
    let rng_device = crate::compute::rng_device();
    let mut model = {
        // flex's RNG is one per process: concurrent stages take turns.
        let _turn = crate::compute::RNG_TURN.lock().unwrap_or_else(|e| e.into_inner());
        rng_device.seed(settings.seed);
        let model = Cnn::new(&settings.model, &rng_device.clone().autodiff());
        model.visit(&mut Materialize);
        model
    };
    if !crate::compute::on_flex(train_device) {
        model = model.fork(train_device);
    }
    let centers = settings.center.as_ref().map(|cs| {
        let rows = initial_centers(&model.valid(), train, cs, derive_seed(settings.seed, 0, 4), settings.eval_batch_size, device);
        (report.log)(format!("class centers initialised by K-means on {} training images", cs.init_sample.min(train.len())));
        Centers::from_rows(rows, train_device)
    });
    Checkpoint {
        model,
        centers,
        optimizer: settings.optimizer.build(),
        history: Vec::new(),
        stopping: EarlyStopping::new(settings.patience),
        stopped_early: false,
    }
}

/// Reads every float parameter, which initialises the lazy ones.
struct Materialize;

impl ModuleVisitor for Materialize {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let _ = param.val();
    }
}

/// Trains on `train`, validating on `test` after each epoch (Keras's
/// `validation_data`). Resumes from `checkpoint_dir` when it holds a checkpoint.
pub fn train(
    settings: &TrainSettings,
    train: &Split,
    test: &Split,
    device: &Device,
    checkpoint_dir: &Path,
    report: &Reporter,
) -> anyhow::Result<Trained> {
    let train_device = device.clone().autodiff();
    let Checkpoint { mut model, mut centers, mut optimizer, mut history, mut stopping, mut stopped_early } =
        match checkpoint::load(checkpoint_dir, settings, &train_device, report.log)? {
            Some(ckpt) => {
                (report.log)(format!("resuming after epoch {} from its checkpoint", ckpt.history.len()));
                ckpt
            }
            None => fresh_start(settings, train, device, &train_device, report),
        };
    let loss_fn = CrossEntropyLossConfig::new().init(&train_device);
    for epoch in history.len()..settings.epochs {
        if stopped_early {
            break;
        }
        let started = Instant::now();
        let lr = learning_rate(settings.lr, &settings.lr_schedule, epoch);
        crate::kernels::dropout::seed_stream(derive_seed(settings.seed, epoch, 1));
        let mut order: Vec<usize> = (0..train.len()).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(derive_seed(settings.seed, epoch, 2)));
        let mut aug_rng = ChaCha8Rng::seed_from_u64(derive_seed(settings.seed, epoch, 3));
        let batches = order.len().div_ceil(settings.batch_size);
        let bar = (report.bar)(batches as u64, &format!("epoch {}/{}", epoch + 1, settings.epochs));
        let (mut loss_sum, mut correct, mut seen) = (0.0f64, 0i64, 0usize);
        for (b, chunk) in order.chunks(settings.batch_size).enumerate() {
            let x = batch_images(train, chunk, settings.augment.as_ref().map(|a| (a, &mut aug_rng)), &train_device);
            let y = batch_labels(train, chunk, &train_device);
            let acts = model.activations(x);
            let logits = acts.logits.clone();
            let mut loss = loss_fn.forward(logits.clone(), y.clone());
            if let (Some(c), Some(cs)) = (&centers, &settings.center) {
                loss = loss + c.loss(acts.dense.clone(), y.clone(), cs.update == CenterUpdate::Learned).mul_scalar(cs.weight);
            }
            let batch_loss = loss.clone().into_scalar::<f32>() as f64;
            if !batch_loss.is_finite() {
                bail!("non-finite loss {batch_loss} at epoch {} batch {}; lower the learning rate or center_weight", epoch + 1, b + 1);
            }
            let mut grads = loss.backward();
            let model_grads = GradientsParams::from_module(&mut grads, &model);
            model = optimizer.step(lr, model, model_grads);
            if let (Some(c), Some(cs)) = (centers.take(), &settings.center) {
                centers = Some(match cs.update {
                    CenterUpdate::Learned => {
                        let center_grads = GradientsParams::from_module(&mut grads, &c);
                        optimizer.step(lr, c, center_grads)
                    }
                    CenterUpdate::MovingAverage => {
                        let features = acts.dense.clone().into_data().try_into_vec::<f32>().expect("features are f32");
                        let labels: Vec<u8> = chunk.iter().map(|&i| train.labels[i]).collect();
                        c.moving_average_step(&features, &labels, cs.alpha)
                    }
                });
            }
            loss_sum += batch_loss * chunk.len() as f64;
            correct += logits.argmax(1).reshape([chunk.len()]).equal(y).int().sum().into_scalar::<i64>();
            seen += chunk.len();
            bar.set_message(format!(
                "epoch {}/{} loss {:.4} acc {:.3}",
                epoch + 1,
                settings.epochs,
                loss_sum / seen as f64,
                correct as f64 / seen as f64
            ));
            bar.inc(1);
        }
        bar.finish_and_clear();
        model.sync_running_stats();
        let val = evaluate(&model.valid(), test, settings.eval_batch_size, device);
        let row = EpochRow {
            epoch: epoch + 1,
            lr,
            train_loss: loss_sum / seen.max(1) as f64,
            train_accuracy: correct as f64 / seen.max(1) as f64,
            val_loss: val.loss,
            val_accuracy: val.accuracy,
            seconds: Some(started.elapsed().as_secs_f64()),
        };
        (report.log)(row.to_string());
        history.push(row);
        stopped_early = stopping.update(epoch, val.loss) && epoch + 1 < settings.epochs;
        checkpoint::save(checkpoint_dir, &Checkpoint { model, centers, optimizer, history, stopping, stopped_early })?;
        // Continue from what was saved, so a resumed run and an
        // uninterrupted one take the same path (a reloaded tensor can differ
        // in layout, and so in float summation order, from the live one).
        Checkpoint { model, centers, optimizer, history, stopping, stopped_early } =
            checkpoint::load(checkpoint_dir, settings, &train_device, report.log)?.context("the checkpoint just written is unreadable")?;
    }
    let last = history.last().cloned().ok_or_else(|| anyhow::anyhow!("no epoch was run (epochs = 0)"))?;
    Ok(Trained {
        model: model.valid(),
        centers: centers.map(|c| c.to_rows()),
        test_loss: last.val_loss,
        test_accuracy: last.val_accuracy,
        stopped_early,
        best_epoch: stopping.best_epoch.map(|e| e + 1),
        history,
    })
}
