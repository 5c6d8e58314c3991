//! `repro bench hash`: sha256 throughput of the store's digests.

use crate::terminal::say;
use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

pub fn hash(file: Option<PathBuf>, size_mb: usize) -> anyhow::Result<()> {
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
    repro_engine::hashing::sha256_file(&path)?; // warm the page cache
    let mut rates = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        repro_engine::hashing::sha256_file(&path)?;
        rates.push(size / t.elapsed().as_secs_f64() / 1e9);
    }
    rates.sort_by(f64::total_cmp);
    say!("sha256 of {:.0} MB: median {:.2} GB/s, best {:.2} GB/s (5 runs, page cache warm)", size / 1e6, rates[2], rates[4]);
    Ok(())
}
