//! `repro bench pca`: PCA of clustered 512-d points to 50 dimensions.

use super::tsne::clusters;
use crate::embedding::pca;
use crate::terminal::say;
use std::time::Instant;

pub fn pca(n: usize) -> anyhow::Result<()> {
    let (x, _) = clusters(n, 512, 3);
    let mut times = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let p = pca::pca(&x, n, 512, 50, 0);
        times.push(started.elapsed().as_secs_f64());
        std::hint::black_box(p.scores);
    }
    times.sort_by(f64::total_cmp);
    say!("PCA {n} x 512 -> 50: median {:.3} s, min {:.3} s (5 runs)", times[2], times[0]);
    Ok(())
}
