//! `repro bench layers`: where a training step's time goes, layer by layer
//! (forward and backward), at the model's real shapes.

use crate::model::cnn::{Layer, Value};
use crate::model::{Cnn, CnnConfig};
use crate::terminal::say;
use burn::tensor::{Device, Distribution, Tensor};
use std::time::Instant;

/// Median milliseconds of forward and of backward for one layer.
struct Timing {
    name: String,
    input: Vec<usize>,
    forward_ms: f64,
    backward_ms: f64,
}

pub fn layers(batch: usize, rounds: usize) -> anyhow::Result<()> {
    let device = Device::flex().autodiff();
    device.seed(0);
    let model = Cnn::new(&CnnConfig::default(), &device);
    let mut x = Value::Maps(Tensor::<4>::random([batch, 3, 32, 32], Distribution::Uniform(0.0, 1.0), &device));
    let mut timings = Vec::new();
    for (name, layer) in model.layers() {
        timings.push(time_layer(&name, &layer, &x, rounds.max(1), &device));
        x = layer.apply(x);
    }
    print_table(&timings, batch);
    Ok(())
}

fn time_layer(name: &str, layer: &Layer, x: &Value, rounds: usize, device: &Device) -> Timing {
    let (mut forward, mut backward) = (Vec::new(), Vec::new());
    for _ in 0..rounds + 1 {
        let input = tracked(x);
        let t = Instant::now();
        let out = layer.apply(input);
        let f = t.elapsed().as_secs_f64();
        let loss = weighted_sum(out, device);
        let t = Instant::now();
        let _ = loss.backward();
        forward.push(f * 1e3);
        backward.push(t.elapsed().as_secs_f64() * 1e3);
    }
    // The first round warms allocations and is dropped.
    Timing {
        name: name.to_string(),
        input: x.dims(),
        forward_ms: super::median(&mut forward[1..]),
        backward_ms: super::median(&mut backward[1..]),
    }
}

/// A fresh leaf with the same values, so each round's graph is the layer alone.
fn tracked(x: &Value) -> Value {
    match x {
        Value::Maps(t) => Value::Maps(leaf(t)),
        Value::Flat(t) => Value::Flat(leaf(t)),
    }
}

fn leaf<const D: usize>(t: &Tensor<D>) -> Tensor<D> {
    Tensor::from_data(t.to_data(), &t.device()).require_grad()
}

/// sum(out * r) with a random r, whose gradient reaches every output.
fn weighted_sum(out: Value, device: &Device) -> Tensor<1> {
    match out {
        Value::Maps(t) => weighted(t, device),
        Value::Flat(t) => weighted(t, device),
    }
}

fn weighted<const D: usize>(t: Tensor<D>, device: &Device) -> Tensor<1> {
    let r = Tensor::random(t.dims(), Distribution::Default, device);
    (t * r).sum()
}

fn print_table(timings: &[Timing], batch: usize) {
    let total: f64 = timings.iter().map(|t| t.forward_ms + t.backward_ms).sum();
    say!("batch {batch}, median of rounds; backward includes the product with a random cotangent");
    say!("{:<26} {:<18} {:>11} {:>12} {:>7}", "layer", "input", "forward ms", "backward ms", "share");
    for t in timings {
        let share = 100.0 * (t.forward_ms + t.backward_ms) / total;
        say!("{:<26} {:<18} {:>11.2} {:>12.2} {:>6.1}%", t.name, format!("{:?}", t.input), t.forward_ms, t.backward_ms, share);
    }
    let (f, b): (f64, f64) = (timings.iter().map(|t| t.forward_ms).sum(), timings.iter().map(|t| t.backward_ms).sum());
    say!("{:<26} {:<18} {:>11.2} {:>12.2}  ({:.0} images/s for the layers alone)", "total", "", f, b, batch as f64 / (total / 1e3));
}
