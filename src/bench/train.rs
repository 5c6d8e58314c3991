//! `repro bench train`: training and inference images/s of the model,
//! beside PyTorch's in the same run when a python with torch is found.

use crate::terminal::say;
use std::process::Command;
use std::time::Instant;

pub fn train(steps: usize, threads: usize, compute: &crate::compute::Compute) -> anyhow::Result<()> {
    let (train_rate, infer_rate) = step_rates(steps, compute)?;
    if compute.kind != crate::compute::BackendKind::Flex {
        let path: Vec<String> = crate::stages::with_gpu_software(compute.path()).into_iter().map(|(k, v)| format!("{k} {v}")).collect();
        say!("{}: train {train_rate:.1} images/s (batch 64), inference {infer_rate:.1} images/s (batch 256)", path.join(", "));
        return Ok(());
    }
    say!(
        "burn-flex with the model's own kernels, {threads} thread(s): train {train_rate:.1} images/s (batch 64), inference {infer_rate:.1} images/s (batch 256)"
    );
    match torch_rates(threads, steps) {
        Some((tt, ti)) => say!(
            "PyTorch CPU (channels-last), {threads} thread(s): train {tt:.1} images/s, inference {ti:.1} images/s\nratio burn/PyTorch: train {:.2}x, inference {:.2}x",
            train_rate / tt,
            infer_rate / ti
        ),
        None => say!(
            "PyTorch not measured: bench/torch_speed.py needs a python with torch (pip install torch; set REPRO_PYTHON to that python)"
        ),
    }
    Ok(())
}

/// Training images/s of `steps` pure steps (forward, backward, Adam) on one
/// fixed batch of 64, and inference images/s at batch 256, after 3 warm-up
/// steps: the model's speed without a training loop around it.
pub fn step_rates(steps: usize, compute: &crate::compute::Compute) -> anyhow::Result<(f64, f64)> {
    use crate::model::{Cnn, CnnConfig};
    use burn::module::Module;
    use burn::optim::GradientsParams;
    use burn::tensor::{Distribution, Int, Tensor};
    let device = compute.device().autodiff();
    let rng = crate::compute::rng_device();
    rng.seed(0);
    let mut model = super::fork::materialized_fork(Cnn::new(&CnnConfig::default(), &rng.clone().autodiff()), &device);
    let mut optim = crate::training::optimizer::OptimizerParams::default().build();
    let loss_fn = burn::nn::loss::CrossEntropyLossConfig::new().init(&device);
    let x = Tensor::<4>::random([64, 3, 32, 32], Distribution::Uniform(0.0, 1.0), &rng).to_device(&device);
    let y = Tensor::<1, Int>::from_data(burn::tensor::TensorData::new((0..64).map(|i| i % 10).collect::<Vec<i64>>(), [64]), &device);
    let step = |model: Cnn, optim: &mut burn::optim::ModuleOptimizer| {
        let loss = loss_fn.forward(model.forward(x.clone()), y.clone());
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        optim.step(1e-3, model, grads)
    };
    for _ in 0..3 {
        model = step(model, &mut optim);
    }
    let t = Instant::now();
    for _ in 0..steps {
        model = step(model, &mut optim);
    }
    device.sync().map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let train_rate = (64 * steps) as f64 / t.elapsed().as_secs_f64();
    let infer_device = compute.device();
    let eval = model.valid();
    let xi = Tensor::<4>::random([256, 3, 32, 32], Distribution::Uniform(0.0, 1.0), &rng).to_device(&infer_device);
    let _ = eval.forward(xi.clone()).into_data();
    let t = Instant::now();
    let rounds = (steps / 4).max(3);
    for _ in 0..rounds {
        let _ = eval.forward(xi.clone()).into_data();
    }
    let infer_rate = (256 * rounds) as f64 / t.elapsed().as_secs_f64();
    Ok((train_rate, infer_rate))
}

/// Runs bench/torch_speed.py with `$REPRO_PYTHON` (default `python3`, e.g.
/// a virtual environment's that has torch); its last line is "train_rate infer_rate".
fn torch_rates(threads: usize, steps: usize) -> Option<(f64, f64)> {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/torch_speed.py");
    let out =
        Command::new(super::python()).arg(script).args(["--threads", &threads.to_string(), "--steps", &steps.to_string()]).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut parts = text.lines().last()?.split_whitespace().map(|v| v.parse::<f64>().ok());
    Some((parts.next()??, parts.next()??))
}
