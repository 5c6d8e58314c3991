//! The training loop on burn autodiff: seeded shuffling and augmentation,
//! the LR schedule, early stopping, per-epoch checkpoints that resume to
//! the same result as an uninterrupted run.

use super::augment::Augment;
use super::checkpoint::{self, Checkpoint};
use super::history::EpochRow;
use super::optimizer::OptimizerParams;
use super::schedule::{EarlyStopping, learning_rate};
use crate::data::dataset::{IMAGE_BYTES, SIDE, Split};
use crate::model::{Cnn, CnnConfig};
use anyhow::{Context, bail};
use burn::module::Module;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Int, Tensor, TensorData};
use indicatif::ProgressBar;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use std::path::Path;
use std::time::Instant;

/// Everything the loop needs to know, from the stage's parameters.
#[derive(Clone, Debug)]
pub struct TrainSettings {
    pub model: CnnConfig,
    pub optimizer: OptimizerParams,
    pub epochs: usize,
    pub batch_size: usize,
    pub eval_batch_size: usize,
    pub lr: f64,
    pub lr_schedule: Vec<(usize, f64)>,
    pub patience: usize,
    pub augment: Option<Augment>,
    pub seed: u64,
}

/// Where the loop reports progress.
pub struct Reporter<'a> {
    pub bar: &'a dyn Fn(u64, &str) -> ProgressBar,
    pub log: &'a dyn Fn(String),
}

pub struct Trained {
    pub model: Cnn,
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

/// Images `indices` of `split` as a [N, 3, H, W] tensor in 0..1 (optionally augmented).
pub fn batch_images(split: &Split, indices: &[usize], augment: Option<(&Augment, &mut ChaCha8Rng)>, device: &Device) -> Tensor<4> {
    let plane = SIDE * SIDE;
    let mut chw = vec![0f32; indices.len() * IMAGE_BYTES];
    let mut aug = augment;
    for (n, &i) in indices.iter().enumerate() {
        let mut hwc: Vec<f32> = split.image(i).iter().map(|&v| v as f32 / 255.0).collect();
        if let Some((a, rng)) = aug.as_mut() {
            hwc = a.apply(hwc, *rng);
        }
        let out = &mut chw[n * IMAGE_BYTES..(n + 1) * IMAGE_BYTES];
        for p in 0..plane {
            for c in 0..3 {
                out[c * plane + p] = hwc[p * 3 + c];
            }
        }
    }
    Tensor::from_data(TensorData::new(chw, [indices.len(), 3, SIDE, SIDE]), device)
}

pub fn batch_labels(split: &Split, indices: &[usize], device: &Device) -> Tensor<1, Int> {
    let labels: Vec<i64> = indices.iter().map(|&i| split.labels[i] as i64).collect();
    Tensor::from_data(TensorData::new(labels, [indices.len()]), device)
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
    let Checkpoint { mut model, mut optimizer, mut history, mut stopping, mut stopped_early } =
        match checkpoint::load(checkpoint_dir, settings, &train_device)? {
            Some(ckpt) => {
                (report.log)(format!("resuming after epoch {} from its checkpoint", ckpt.history.len()));
                ckpt
            }
            None => {
                train_device.seed(settings.seed);
                Checkpoint {
                    model: Cnn::new(&settings.model, &train_device),
                    optimizer: settings.optimizer.build(),
                    history: Vec::new(),
                    stopping: EarlyStopping::new(settings.patience),
                    stopped_early: false,
                }
            }
        };
    let loss_fn = CrossEntropyLossConfig::new().init(&train_device);
    for epoch in history.len()..settings.epochs {
        if stopped_early {
            break;
        }
        let started = Instant::now();
        let lr = learning_rate(settings.lr, &settings.lr_schedule, epoch);
        train_device.seed(derive_seed(settings.seed, epoch, 1));
        let mut order: Vec<usize> = (0..train.len()).collect();
        order.shuffle(&mut ChaCha8Rng::seed_from_u64(derive_seed(settings.seed, epoch, 2)));
        let mut aug_rng = ChaCha8Rng::seed_from_u64(derive_seed(settings.seed, epoch, 3));
        let batches = order.len().div_ceil(settings.batch_size);
        let bar = (report.bar)(batches as u64, &format!("epoch {}/{}", epoch + 1, settings.epochs));
        let (mut loss_sum, mut correct, mut seen) = (0.0f64, 0i64, 0usize);
        for (b, chunk) in order.chunks(settings.batch_size).enumerate() {
            let x = batch_images(train, chunk, settings.augment.as_ref().map(|a| (a, &mut aug_rng)), &train_device);
            let y = batch_labels(train, chunk, &train_device);
            let logits = model.forward(x);
            let loss = loss_fn.forward(logits.clone(), y.clone());
            let batch_loss = loss.clone().into_scalar::<f32>() as f64;
            if !batch_loss.is_finite() {
                bail!("non-finite loss {batch_loss} at epoch {} batch {}; lower the learning rate", epoch + 1, b + 1);
            }
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optimizer.step(lr, model, grads);
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
            seconds: started.elapsed().as_secs_f64(),
        };
        (report.log)(row.to_string());
        history.push(row);
        stopped_early = stopping.update(epoch, val.loss) && epoch + 1 < settings.epochs;
        checkpoint::save(checkpoint_dir, &Checkpoint { model, optimizer, history, stopping, stopped_early })?;
        // Continue from what was saved, so a resumed run and an
        // uninterrupted one take the same path (a reloaded tensor can differ
        // in layout, and so in float summation order, from the live one).
        Checkpoint { model, optimizer, history, stopping, stopped_early } =
            checkpoint::load(checkpoint_dir, settings, &train_device)?.context("the checkpoint just written is unreadable")?;
    }
    let last = history.last().cloned().ok_or_else(|| anyhow::anyhow!("no epoch was run (epochs = 0)"))?;
    Ok(Trained {
        model: model.valid(),
        test_loss: last.val_loss,
        test_accuracy: last.val_accuracy,
        stopped_early,
        best_epoch: stopping.best_epoch.map(|e| e + 1),
        history,
    })
}
