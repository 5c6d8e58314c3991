//! The training loop on a GPU: the epochs of `training::trainer` (the same
//! seeds, shuffles, augmentation, dropout masks, schedule, early stopping
//! and checkpoints) without a host round trip per step. Both splits live
//! on the device, uploaded once; a batch is gathered there by index, or,
//! when augmented, built on the host by a second thread ahead of the step
//! exactly as flex builds it; its dropout masks are hashed ahead by
//! another (`masks`, taken by the loop's own forward walk, `forward`);
//! each step's loss and correct count stay on
//! the device and are read once per epoch, as is the evaluation. A
//! non-finite loss is caught then: the stage fails naming the epoch and
//! its first such batch, and nothing of that epoch is saved.
//!
//! A copy of the flex loop's structure rather than a change to it: that
//! file is in every flex training's key, and the published models are
//! keyed to it.

use super::checkpoint;
use super::masks::{MaskCounts, StepMasks};
use super::reads::HostReads;
use super::resident::Resident;
use crate::data::augment::Augment;
use crate::data::dataset::Split;
use crate::model::Cnn;
use crate::model::input::batch_images;
use crate::training::center_loss::{CenterUpdate, Centers, initial_centers};
use crate::training::checkpoint::{self as saved, Checkpoint};
use crate::training::history::EpochRow;
use crate::training::schedule::{EarlyStopping, learning_rate};
use crate::training::{Metrics, Reporter, TrainSettings, Trained};
use anyhow::{Context, bail};
use burn::module::{Module, ModuleVisitor, Param};
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use std::path::Path;
use std::time::Instant;

/// Augmented batches the host thread may build ahead of the steps.
const AHEAD: usize = 8;

/// A finished training and the device reads each epoch made.
pub struct GpuTrained {
    pub trained: Trained,
    pub reads_per_epoch: Vec<usize>,
    /// How the run's dropout calls got their masks (all made ahead, unless
    /// a plan went wrong).
    pub masks: MaskCounts,
}

/// The flex loop's seed derivation, unchanged: the same (seed, epoch,
/// purpose) gives the same shuffle, augmentation and dropout on both loops.
fn derive_seed(seed: u64, epoch: usize, purpose: u64) -> u64 {
    let mut x = seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ purpose.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 31;
    x.wrapping_mul(0x94D0_49BB_1331_11EB)
}

/// Mean cross-entropy and accuracy of `model` (inference mode) on a
/// resident split: two reads, whatever its size.
pub fn evaluate(model: &Cnn, split: &Resident, batch_size: usize, reads: &HostReads) -> Metrics {
    let device = split.device();
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    let (mut losses, mut correct) = (Vec::new(), Vec::new());
    for start in (0..split.len()).step_by(batch_size.max(1)) {
        let n = batch_size.min(split.len() - start);
        let (x, y) = split.range(start, n);
        let logits = model.forward(x);
        losses.push(loss_fn.forward(logits.clone(), y.clone()).mul_scalar(n as f64).reshape([1]));
        correct.push(logits.argmax(1).reshape([n]).equal(y).int().sum().reshape([1]));
    }
    if losses.is_empty() {
        return Metrics { loss: 0.0, accuracy: 0.0 };
    }
    let loss_sum: f64 = reads.floats(Tensor::cat(losses, 0)).iter().map(|&l| l as f64).sum();
    let correct: i64 = reads.ints(Tensor::cat(correct, 0)).iter().sum();
    let n = split.len() as f64;
    Metrics { loss: loss_sum / n, accuracy: correct as f64 / n }
}

/// Reads every float parameter, which initialises the lazy ones.
struct Materialize;

impl ModuleVisitor for Materialize {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let _ = param.val();
    }
}

/// A new model, initialised on flex from the run seed as the flex loop
/// does and forked to the device, and its K-means centers, if any.
fn fresh_start(settings: &TrainSettings, train: &Split, device: &Device, train_device: &Device, report: &Reporter) -> Checkpoint {
    let rng_device = crate::compute::rng_device();
    let model = {
        let _turn = crate::compute::RNG_TURN.lock().unwrap_or_else(|e| e.into_inner());
        rng_device.seed(settings.seed);
        let model = Cnn::new(&settings.model, &rng_device.clone().autodiff());
        model.visit(&mut Materialize);
        model
    };
    let model = model.fork(train_device);
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

/// An epoch's data: the host split, its device copy, the augmentation.
struct Source<'a> {
    split: &'a Split,
    resident: &'a Resident,
    augment: Option<&'a Augment>,
}

/// The batches of one epoch in order: gathered on the device, or, when
/// augmented, built by a host thread ahead of the steps from the epoch's
/// augmentation seed with flex's own batch builder (the same images as on
/// flex), its labels gathered on the device.
enum Batches<'a> {
    Resident { chunks: std::slice::Chunks<'a, usize>, data: &'a Resident },
    Host { chunks: std::slice::Chunks<'a, usize>, images: std::sync::mpsc::Receiver<TensorData>, labels: &'a Resident, device: Device },
}

impl<'a> Batches<'a> {
    fn start<'s>(
        scope: &'s std::thread::Scope<'s, 'a>,
        source: &Source<'a>,
        order: &'a [usize],
        size: usize,
        aug_seed: u64,
        device: &Device,
    ) -> Batches<'a> {
        let Some(augment) = source.augment else {
            return Batches::Resident { chunks: order.chunks(size), data: source.resident };
        };
        let (tx, rx) = std::sync::mpsc::sync_channel::<TensorData>(AHEAD);
        let split = source.split;
        scope.spawn(move || {
            let mut rng = ChaCha8Rng::seed_from_u64(aug_seed);
            let host = crate::compute::rng_device();
            for chunk in order.chunks(size) {
                // The receiver is gone only when the epoch ended early.
                if tx.send(batch_images(split, chunk, Some((augment, &mut rng)), &host).into_data()).is_err() {
                    return;
                }
            }
        });
        Batches::Host { chunks: order.chunks(size), images: rx, labels: source.resident, device: device.clone() }
    }
}

impl<'a> Iterator for Batches<'a> {
    type Item = (&'a [usize], Tensor<4>, Tensor<1, Int>);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Batches::Resident { chunks, data } => {
                let chunk = chunks.next()?;
                let (x, y) = data.gather(chunk);
                Some((chunk, x, y))
            }
            Batches::Host { chunks, images, labels, device } => {
                let chunk = chunks.next()?;
                let x = Tensor::from_data(images.recv().expect("the batch thread makes every batch"), &*device);
                Some((chunk, x, labels.labels_at(chunk)))
            }
        }
    }
}

/// The model, centers and optimizer between steps.
struct Weights {
    model: Cnn,
    centers: Option<Centers>,
    optimizer: burn::optim::ModuleOptimizer,
}

/// What one epoch's steps leave on the host, after its single read.
struct EpochSteps {
    lr: f64,
    loss_sum: f64,
    correct: i64,
    seen: usize,
    masks: MaskCounts,
}

/// One epoch of steps; the losses and correct counts are read at its end,
/// and a non-finite one fails the epoch.
fn epoch_steps(
    w: Weights,
    settings: &TrainSettings,
    source: &Source,
    epoch: usize,
    device: &Device,
    report: &Reporter,
    reads: &HostReads,
) -> anyhow::Result<(Weights, EpochSteps)> {
    let lr = learning_rate(settings.lr, &settings.lr_schedule, epoch);
    let dropout_seed = derive_seed(settings.seed, epoch, 1);
    crate::kernels::dropout::seed_stream(dropout_seed);
    let mut order: Vec<usize> = (0..source.split.len()).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(derive_seed(settings.seed, epoch, 2)));
    let bar = (report.bar)(order.len().div_ceil(settings.batch_size) as u64, &format!("epoch {}/{}", epoch + 1, settings.epochs));
    let loss_fn = CrossEntropyLossConfig::new().init(device);
    let (mut losses, mut corrects, mut sizes) = (Vec::new(), Vec::new(), Vec::new());
    let batch_sizes: Vec<usize> = order.chunks(settings.batch_size).map(<[usize]>::len).collect();
    let mut step_masks = StepMasks::default();
    let w = std::thread::scope(|scope| {
        let mut w = w;
        let made = super::masks::start(scope, &w.model, batch_sizes, dropout_seed);
        for (chunk, x, y) in Batches::start(scope, source, &order, settings.batch_size, derive_seed(settings.seed, epoch, 3), device) {
            // A missing step's masks are hashed in the step instead.
            step_masks.provide(made.recv().unwrap_or_default());
            let acts = super::forward::forward(&w.model, x, &mut step_masks);
            let mut loss = loss_fn.forward(acts.logits.clone(), y.clone());
            if let (Some(c), Some(cs)) = (&w.centers, &settings.center) {
                loss = loss + c.loss(acts.dense.clone(), y.clone(), cs.update == CenterUpdate::Learned).mul_scalar(cs.weight);
            }
            losses.push(loss.clone().detach().reshape([1]));
            corrects.push(acts.logits.clone().detach().argmax(1).reshape([chunk.len()]).equal(y).int().sum().reshape([1]));
            sizes.push(chunk.len());
            let mut grads = loss.backward();
            let model_grads = GradientsParams::from_module(&mut grads, &w.model);
            w.model = w.optimizer.step(lr, w.model, model_grads);
            if let (Some(c), Some(cs)) = (w.centers.take(), &settings.center) {
                w.centers = Some(match cs.update {
                    CenterUpdate::Learned => {
                        let center_grads = GradientsParams::from_module(&mut grads, &c);
                        w.optimizer.step(lr, c, center_grads)
                    }
                    // Wen et al.'s rule runs on the host: a read every step.
                    CenterUpdate::MovingAverage => {
                        let labels: Vec<u8> = chunk.iter().map(|&i| source.split.labels[i]).collect();
                        c.moving_average_step(&reads.floats(acts.dense.clone().detach()), &labels, cs.alpha)
                    }
                });
            }
            bar.inc(1);
        }
        w
    });
    let masks = step_masks.counts;
    bar.finish_and_clear();
    let losses = reads.floats(Tensor::cat(losses, 0));
    let correct: i64 = reads.ints(Tensor::cat(corrects, 0)).iter().sum();
    if let Some(b) = losses.iter().position(|l| !l.is_finite()) {
        bail!(
            "non-finite loss {} at epoch {} batch {}; the epoch was discarded (nothing of it was saved); lower the learning rate or center_weight",
            losses[b],
            epoch + 1,
            b + 1
        );
    }
    let loss_sum = losses.iter().zip(&sizes).map(|(&l, &n)| l as f64 * n as f64).sum();
    Ok((w, EpochSteps { lr, loss_sum, correct, seen: sizes.iter().sum(), masks }))
}

/// Trains on `train`, validating on `test` after each epoch, on a GPU
/// `device`. Resumes from `checkpoint_dir` when it holds a checkpoint.
pub fn train(
    settings: &TrainSettings,
    train: &Split,
    test: &Split,
    device: &Device,
    checkpoint_dir: &Path,
    report: &Reporter,
) -> anyhow::Result<GpuTrained> {
    let reads = HostReads::default();
    let train_device = device.clone().autodiff();
    let Checkpoint { model, centers, optimizer, mut history, mut stopping, mut stopped_early } =
        match checkpoint::load(checkpoint_dir, settings, &train_device, report.log)? {
            Some(ckpt) => {
                (report.log)(format!("resuming after epoch {} from its checkpoint", ckpt.history.len()));
                ckpt
            }
            None => fresh_start(settings, train, device, &train_device, report),
        };
    let started = Instant::now();
    let train_data = match settings.augment {
        Some(_) => Resident::labels_only(train, &train_device),
        None => Resident::upload(train, &train_device),
    };
    let test_data = Resident::upload(test, device);
    (report.log)(format!("datasets uploaded to the device in {:.1} s", started.elapsed().as_secs_f64()));
    let source = Source { split: train, resident: &train_data, augment: settings.augment.as_ref() };
    let mut w = Weights { model, centers, optimizer };
    let mut reads_per_epoch = Vec::new();
    let mut masks = MaskCounts::default();
    for epoch in history.len()..settings.epochs {
        if stopped_early {
            break;
        }
        let (started, before) = (Instant::now(), reads.so_far());
        let steps;
        (w, steps) = epoch_steps(w, settings, &source, epoch, &train_device, report, &reads)?;
        masks = masks + steps.masks;
        w.model.sync_running_stats();
        let val = evaluate(&w.model.valid(), &test_data, settings.eval_batch_size, &reads);
        let row = EpochRow {
            epoch: epoch + 1,
            lr: steps.lr,
            train_loss: steps.loss_sum / steps.seen.max(1) as f64,
            train_accuracy: steps.correct as f64 / steps.seen.max(1) as f64,
            val_loss: val.loss,
            val_accuracy: val.accuracy,
            seconds: Some(started.elapsed().as_secs_f64()),
        };
        history.push(row);
        stopped_early = stopping.update(epoch, val.loss) && epoch + 1 < settings.epochs;
        let ckpt = Checkpoint { model: w.model, centers: w.centers, optimizer: w.optimizer, history, stopping, stopped_early };
        // Saving reads the model, the centers and the optimizer's state.
        reads.add(2 + ckpt.centers.is_some() as usize);
        saved::save(checkpoint_dir, &ckpt)?;
        // Continue from what was saved, as a resumed run would.
        let Checkpoint { model, centers, optimizer, history: h, stopping: s, stopped_early: e } =
            checkpoint::load(checkpoint_dir, settings, &train_device, report.log)?.context("the checkpoint just written is unreadable")?;
        (w, history, stopping, stopped_early) = (Weights { model, centers, optimizer }, h, s, e);
        reads_per_epoch.push(reads.so_far() - before);
        let (row, made) = (history.last().expect("an epoch was run"), steps.masks);
        (report.log)(format!(
            "{row}  {} device reads, dropout masks {} made ahead, {} in the step",
            reads_per_epoch.last().unwrap(),
            made.ahead,
            made.in_step
        ));
    }
    let last = history.last().cloned().ok_or_else(|| anyhow::anyhow!("no epoch was run (epochs = 0)"))?;
    let trained = Trained {
        model: w.model.valid(),
        centers: w.centers.map(|c| c.to_rows()),
        test_loss: last.val_loss,
        test_accuracy: last.val_accuracy,
        stopped_early,
        best_epoch: stopping.best_epoch.map(|e| e + 1),
        history,
    };
    Ok(GpuTrained { trained, reads_per_epoch, masks })
}
