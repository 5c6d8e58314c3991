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
}

pub fn run(what: &BenchWhat, cli: &Cli, _threads: usize) -> anyhow::Result<()> {
    match what {
        BenchWhat::Hash { file, size_mb } => hash(file.clone(), *size_mb),
        BenchWhat::Noop { profile, runs } => noop(cli, profile, *runs),
        BenchWhat::Data { source } => data(source),
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
