//! `repro bench tsne`: our t-SNE beside openTSNE, measured in one run on
//! the same points.

use crate::embedding::affinities::joint;
use crate::embedding::metrics::{kl_divergence, knn_accuracy, squared_distances};
use crate::embedding::tsne::{self as ours, TsneParams};
use crate::terminal::say;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::process::Command;
use std::time::Instant;

const D: usize = 50;
const CLASSES: usize = 10;

/// `n` points in `d` dimensions: 10 Gaussian clusters with different
/// spreads and partly overlapping centres, and their labels.
pub fn clusters(n: usize, d: usize, seed: u64) -> (Vec<f32>, Vec<u8>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut normal = move || {
        let (u, v): (f64, f64) = (rng.random_range(1e-12..1.0), rng.random_range(0.0..1.0));
        ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()) as f32
    };
    let centres: Vec<f32> = (0..CLASSES * d).map(|_| normal() * 4.0).collect();
    let spreads: Vec<f32> = (0..CLASSES).map(|c| 1.0 + 0.25 * c as f32).collect();
    let (mut x, mut labels) = (Vec::with_capacity(n * d), Vec::with_capacity(n));
    for i in 0..n {
        let c = i % CLASSES;
        for j in 0..d {
            x.push(centres[c * d + j] + spreads[c] * normal());
        }
        labels.push(c as u8);
    }
    (x, labels)
}

struct Quality {
    seconds: f64,
    knn: f64,
    kl: f64,
}

fn quality(seconds: f64, y: &[f64], dims: usize, labels: &[u8], p: &crate::embedding::affinities::Sparse) -> Quality {
    let yf: Vec<f32> = y.iter().map(|&v| v as f32).collect();
    let dist = squared_distances(&yf, labels.len(), dims);
    Quality { seconds, knn: knn_accuracy(&dist, labels.len(), labels, 10, CLASSES), kl: kl_divergence(p, y, dims) }
}

fn opentsne(x: &[f32], n: usize, dims: usize, threads: usize) -> anyhow::Result<Option<(f64, Vec<f64>)>> {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/opentsne_bench.py");
    let tmp = tempfile::tempdir()?;
    let (input, output) = (tmp.path().join("x.f32"), tmp.path().join("y.f64"));
    std::fs::write(&input, x.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>())?;
    let out = Command::new(super::python())
        .arg(&script)
        .args([
            input.to_str().unwrap_or_default(),
            &n.to_string(),
            &D.to_string(),
            &dims.to_string(),
            output.to_str().unwrap_or_default(),
            &threads.to_string(),
        ])
        .env("OMP_WAIT_POLICY", "PASSIVE")
        .env("OMP_NUM_THREADS", threads.to_string())
        .output();
    let out = match out {
        Ok(o) if o.status.success() => o,
        Ok(o) => {
            eprintln!("openTSNE not run: {}", String::from_utf8_lossy(&o.stderr).lines().last().unwrap_or("failed"));
            return Ok(None);
        }
        Err(e) => {
            eprintln!("openTSNE not run: {}: {e} (set REPRO_PYTHON to a python with openTSNE)", super::python());
            return Ok(None);
        }
    };
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let bytes = std::fs::read(&output)?;
    let y = bytes.chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes"))).collect();
    Ok(Some((report["seconds"].as_f64().unwrap_or(f64::NAN), y)))
}

pub fn tsne(sizes: &[usize], dims: &[usize], threads: usize) -> anyhow::Result<()> {
    say!("t-SNE on 10 Gaussian clusters in {D}-D, {threads} thread(s); KL against one P (perplexity 30, exact neighbours)");
    say!(
        "{:>6} {:>4} {:>10} {:>10} {:>8} {:>8} {:>9} {:>9} {:>8}",
        "N",
        "dims",
        "ours s",
        "openTSNE s",
        "ours kNN",
        "oTSNE kNN",
        "ours KL",
        "oTSNE KL",
        "speed-up"
    );
    for &n in sizes {
        let (x, labels) = clusters(n, D, 7);
        let p = joint(&x, n, D, 30.0);
        for &d in dims {
            let started = Instant::now();
            let y = ours::tsne(&x, n, D, &TsneParams { dims: d, ..TsneParams::default() }, &|_, _| {});
            let ours = quality(started.elapsed().as_secs_f64(), &y, d, &labels, &p);
            let theirs = opentsne(&x, n, d, threads)?.map(|(s, y)| quality(s, &y, d, &labels, &p));
            let cell =
                |f: &dyn Fn(&Quality) -> f64, digits: usize| theirs.as_ref().map_or("-".to_string(), |q| format!("{:.*}", digits, f(q)));
            say!(
                "{n:>6} {d:>4} {:>10.2} {:>10} {:>8.4} {:>9} {:>9.4} {:>9} {:>8}",
                ours.seconds,
                cell(&|q| q.seconds, 2),
                ours.knn,
                cell(&|q| q.knn, 4),
                ours.kl,
                cell(&|q| q.kl, 4),
                theirs.as_ref().map_or("-".to_string(), |q| format!("{:.2}x", q.seconds / ours.seconds)),
            );
        }
    }
    Ok(())
}
