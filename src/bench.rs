//! `repro bench …`: speed figures, printed (never asserted).

use crate::cli::Cli;
use clap::Subcommand;
use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

#[derive(Subcommand, Debug)]
pub enum BenchWhat {
    /// sha256 throughput on a large file (made in a temp folder when not given).
    Hash {
        #[arg(long)]
        file: Option<PathBuf>,
        #[arg(long, default_value_t = 170)]
        size_mb: usize,
    },
    /// Wall time of a no-op `repro build` and of `repro status` on a fresh profile.
    Noop {
        #[arg(long, default_value = "smoke")]
        profile: String,
        #[arg(long, default_value_t = 20)]
        runs: usize,
    },
    /// Time to load and decode a local CIFAR-10 source (e.g. the JPEG copy).
    Data { source: PathBuf },
    /// Training images/s at batch 64 and inference images/s at batch 256 of
    /// the report's CNN, beside PyTorch CPU's (bench/torch_speed.py) when torch is installed.
    Train {
        #[arg(long, default_value_t = 20)]
        steps: usize,
    },
    /// Forward and backward milliseconds of each layer of the report's CNN
    /// (conv rows include their ReLU), to see where a training step goes.
    Layers {
        #[arg(long, default_value_t = 64)]
        batch: usize,
        #[arg(long, default_value_t = 5)]
        rounds: usize,
    },
    /// The model's convolutions through both kernel paths (direct AVX-512,
    /// im2col + gemm): forward, weight- and input-gradient ms and GFLOP/s.
    Conv {
        #[arg(long, default_value_t = 64)]
        batch: usize,
        #[arg(long, default_value_t = 5)]
        rounds: usize,
    },
    /// t-SNE against openTSNE (bench/opentsne_bench.py, when installed) on
    /// labelled Gaussian clusters in 50-D: time, 10-NN accuracy and exact
    /// KL(P || Q) against one fixed P (perplexity 30, exact neighbours).
    Tsne {
        #[arg(long, value_delimiter = ',', default_value = "2000,5000,10000")]
        sizes: Vec<usize>,
        #[arg(long, value_delimiter = ',', default_value = "2,3")]
        dims: Vec<usize>,
    },
    /// PCA of N x 512 to 50 dimensions.
    Pca {
        #[arg(long, default_value_t = 10000)]
        n: usize,
    },
}

pub fn run(what: &BenchWhat, cli: &Cli, _threads: usize) -> anyhow::Result<()> {
    match what {
        BenchWhat::Hash { file, size_mb } => hash(file.clone(), *size_mb),
        BenchWhat::Noop { profile, runs } => noop(cli, profile, *runs),
        BenchWhat::Data { source } => data(source),
        BenchWhat::Train { steps } => train(*steps, _threads),
        BenchWhat::Layers { batch, rounds } => crate::bench_layers::layers(*batch, *rounds),
        BenchWhat::Conv { batch, rounds } => crate::bench_conv::conv(*batch, *rounds),
        BenchWhat::Tsne { sizes, dims } => crate::bench_tsne::tsne(sizes, dims, _threads),
        BenchWhat::Pca { n } => crate::bench_tsne::pca(*n),
    }
}

fn hash(file: Option<PathBuf>, size_mb: usize) -> anyhow::Result<()> {
    let tmp = tempfile::tempdir()?;
    let path = match file {
        Some(f) => f,
        None => {
            let p = tmp.path().join("blob");
            let mut out = std::io::BufWriter::new(std::fs::File::create(&p)?);
            let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
            let mut block = vec![0u8; 1 << 20];
            for _ in 0..size_mb {
                for chunk in block.chunks_exact_mut(8) {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    chunk.copy_from_slice(&x.to_le_bytes());
                }
                out.write_all(&block)?;
            }
            out.flush()?;
            p
        }
    };
    let size = std::fs::metadata(&path)?.len() as f64;
    crate::pipeline::hashing::sha256_file(&path)?; // warm the page cache
    let mut rates = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        crate::pipeline::hashing::sha256_file(&path)?;
        rates.push(size / t.elapsed().as_secs_f64() / 1e9);
    }
    rates.sort_by(f64::total_cmp);
    println!("sha256 of {:.0} MB: median {:.2} GB/s, best {:.2} GB/s (5 runs, page cache warm)", size / 1e6, rates[2], rates[4]);
    Ok(())
}

fn noop(cli: &Cli, profile: &str, runs: usize) -> anyhow::Result<()> {
    let exe = std::env::current_exe()?;
    let base = |args: &[&str]| {
        let mut c = Command::new(&exe);
        c.arg("--pipeline").arg(&cli.pipeline).args(args).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
        c
    };
    anyhow::ensure!(base(&["build", "--profile", profile]).status()?.success(), "the first build of `{profile}` failed");
    for (label, args) in [("build", vec!["build", "--profile", profile]), ("status", vec!["status", "--profile", profile])] {
        let mut ms = Vec::new();
        for _ in 0..runs {
            let t = Instant::now();
            anyhow::ensure!(base(&args).status()?.success(), "repro {label} failed");
            ms.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        ms.sort_by(f64::total_cmp);
        println!("no-op repro {label} --profile {profile}: median {:.1} ms, min {:.1} ms ({runs} runs)", ms[runs / 2], ms[0]);
    }
    Ok(())
}

fn data(source: &std::path::Path) -> anyhow::Result<()> {
    let t = Instant::now();
    let dataset = crate::data::load_local(source, "")?;
    let secs = t.elapsed().as_secs_f64();
    let n = dataset.train.len() + dataset.test.len();
    println!("loaded {n} images from {} in {secs:.2} s ({:.0} images/s)", source.display(), n as f64 / secs);
    Ok(())
}

fn train(steps: usize, threads: usize) -> anyhow::Result<()> {
    use crate::model::{Cnn, CnnConfig};
    use burn::module::Module;
    use burn::optim::GradientsParams;
    use burn::tensor::{Device, Distribution, Int, Tensor};
    let device = Device::flex().autodiff();
    device.seed(0);
    let mut model = Cnn::new(&CnnConfig::default(), &device);
    let mut optim = crate::training::optimizer::OptimizerParams::default().build();
    let loss_fn = burn::nn::loss::CrossEntropyLossConfig::new().init(&device);
    let x = Tensor::<4>::random([64, 3, 32, 32], Distribution::Uniform(0.0, 1.0), &device);
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
    let train_rate = (64 * steps) as f64 / t.elapsed().as_secs_f64();
    let infer_device = Device::flex();
    let eval = model.valid();
    let xi = Tensor::<4>::random([256, 3, 32, 32], Distribution::Uniform(0.0, 1.0), &infer_device);
    let _ = eval.forward(xi.clone()).into_data();
    let t = Instant::now();
    let rounds = (steps / 4).max(3);
    for _ in 0..rounds {
        let _ = eval.forward(xi.clone()).into_data();
    }
    let infer_rate = (256 * rounds) as f64 / t.elapsed().as_secs_f64();
    println!(
        "burn-flex with the model's own kernels, {threads} thread(s): train {train_rate:.1} images/s (batch 64), inference {infer_rate:.1} images/s (batch 256)"
    );
    match torch_rates(threads, steps) {
        Some((tt, ti)) => println!(
            "PyTorch CPU (channels-last), {threads} thread(s): train {tt:.1} images/s, inference {ti:.1} images/s\nratio burn/PyTorch: train {:.2}x, inference {:.2}x",
            train_rate / tt,
            infer_rate / ti
        ),
        None => println!(
            "PyTorch not measured: bench/torch_speed.py needs a python with torch (pip install torch; set REPRO_PYTHON to that python)"
        ),
    }
    Ok(())
}

/// Runs bench/torch_speed.py with `$REPRO_PYTHON` (default `python3`, e.g.
/// a virtual environment's that has torch); its last line is "train_rate infer_rate".
fn torch_rates(threads: usize, steps: usize) -> Option<(f64, f64)> {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/torch_speed.py");
    let python = std::env::var("REPRO_PYTHON").unwrap_or_else(|_| "python3".into());
    let out = Command::new(python).arg(script).args(["--threads", &threads.to_string(), "--steps", &steps.to_string()]).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut parts = text.lines().last()?.split_whitespace().map(|v| v.parse::<f64>().ok());
    Some((parts.next()??, parts.next()??))
}
