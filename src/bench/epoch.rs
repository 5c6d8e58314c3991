//! `repro bench epoch`: epochs of the real training loops on synthetic
//! images (shuffling, batches, dropout seeds, the evaluation and the
//! checkpoint), beside pure steps on one fixed batch in the same run, so
//! each loop's own cost is a number: flex's loop (batches built on the
//! host, the loss read each step) and, on a GPU, the device-resident loop
//! a Vulkan train stage runs (`gpu::trainer`).

use crate::compute::Compute;
use crate::stages::train::TrainParams;
use crate::terminal::say;
use repro_engine::events::Progress;

pub fn epoch(batches: usize, eval_images: usize, epochs: usize, compute: &Compute) -> anyhow::Result<()> {
    anyhow::ensure!(batches > 0 && eval_images > 0 && epochs > 0, "--batches, --eval-images and --epochs must be at least 1");
    let table = toml::from_str(&format!("label = \"bench\"\nepochs = {epochs}"))?;
    let params: TrainParams = repro_engine::typed_params(&table).map_err(|e| anyhow::anyhow!("{}", e.message))?;
    let settings = params.settings();
    let data = crate::data::synthetic::generate(batches * settings.batch_size, eval_images, 0);
    let bar = |_: u64, _: &str| Progress::hidden();
    let log = |_: String| {};
    let report = crate::training::Reporter { bar: &bar, log: &log };
    let scratch = tempfile::tempdir()?;
    let host = crate::training::train(&settings, &data.train, &data.test, &compute.device(), scratch.path(), &report)?;
    let mut loops = vec![("flex's loop", host.history)];
    #[cfg(feature = "vulkan")]
    if compute.kind == crate::compute::BackendKind::Vulkan {
        let scratch = tempfile::tempdir()?;
        let gpu = crate::gpu::trainer::train(&settings, &data.train, &data.test, &compute.device(), scratch.path(), &report)?;
        say!("GPU loop: {:?} device reads an epoch", gpu.reads_per_epoch);
        loops.push(("GPU loop", gpu.trained.history));
    }
    let (train_rate, infer_rate) = super::train::step_rates(20, compute)?;
    let path: Vec<String> = crate::stages::with_gpu_software(compute.path()).into_iter().map(|(k, v)| format!("{k} {v}")).collect();
    say!("{}", path.join(", "));
    say!("pure steps: train {train_rate:.1} images/s (batch 64), inference {infer_rate:.1} images/s (batch 256)");
    let (n_train, n_eval) = (data.train.len() as f64, data.test.len() as f64);
    let steps_alone = n_train / train_rate + n_eval / infer_rate;
    for (name, row) in loops.iter().flat_map(|(name, rows)| rows.iter().map(move |row| (name, row))) {
        let seconds = row.seconds.unwrap_or_default();
        say!(
            "{name}, epoch {}: {seconds:.2} s for {n_train} training + {n_eval} evaluation images ({:.1} training images/s); the same work as pure steps {steps_alone:.2} s: the loop costs {:.2} s ({:.0}%)",
            row.epoch,
            n_train / seconds,
            seconds - steps_alone,
            100.0 * (seconds - steps_alone) / seconds
        );
    }
    Ok(())
}
