//! PCA to a few dimensions: covariance (d <= n) or Gram matrix (d > n, e.g.
//! 65,536-d conv maps), leading eigenvectors, and a sign convention that
//! makes the output deterministic: each component's largest-magnitude
//! score is positive.

use super::distances::{center, gram, scatter};
use super::eigen::top_eigen;

pub struct Pca {
    /// Row-major [n x k] projections.
    pub scores: Vec<f32>,
    pub k: usize,
    /// Variance along each component, descending.
    pub variances: Vec<f64>,
    /// Fraction of the total variance each component explains.
    pub explained: Vec<f64>,
}

/// The first `k` principal components of the rows of `x` ([n x d]).
pub fn pca(x: &[f32], n: usize, d: usize, k: usize, seed: u64) -> Pca {
    let k = k.min(d).min(n.saturating_sub(1)).max(1);
    let xc = center(x, n, d);
    let total: f64 = xc.iter().map(|&v| (v as f64) * (v as f64)).sum::<f64>() / (n.max(2) - 1) as f64;
    let mut scores = vec![0f32; n * k];
    let values = if d <= n {
        let cov: Vec<f64> = scatter(&xc, n, d).into_iter().map(|v| v as f64).collect();
        let (values, vectors) = top_eigen(&cov, d, k, seed);
        for (row, out) in xc.chunks_exact(d).zip(scores.chunks_exact_mut(k)) {
            for (c, o) in out.iter_mut().enumerate() {
                *o = row.iter().enumerate().map(|(t, &v)| v as f64 * vectors[t * k + c]).sum::<f64>() as f32;
            }
        }
        values
    } else {
        // X X^T = U S^2 U^T; scores = U S.
        let g: Vec<f64> = gram(&xc, n, d).into_iter().map(|v| v as f64).collect();
        let (values, vectors) = top_eigen(&g, n, k, seed);
        for r in 0..n {
            for c in 0..k {
                scores[r * k + c] = (vectors[r * k + c] * values[c].max(0.0).sqrt()) as f32;
            }
        }
        values
    };
    fix_signs(&mut scores, n, k);
    let variances: Vec<f64> = values.iter().map(|v| v.max(0.0) / (n.max(2) - 1) as f64).collect();
    let explained = variances.iter().map(|v| if total > 0.0 { v / total } else { 0.0 }).collect();
    Pca { scores, k, variances, explained }
}

fn fix_signs(scores: &mut [f32], n: usize, k: usize) {
    for c in 0..k {
        let biggest = (0..n).map(|r| scores[r * k + c]).fold(0f32, |best, v| if v.abs() > best.abs() { v } else { best });
        if biggest < 0.0 {
            (0..n).for_each(|r| scores[r * k + c] = -scores[r * k + c]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rank-2 data in 30 dimensions: two components explain everything and
    /// reproduce the latent coordinates up to rotation.
    fn low_rank(n: usize, d: usize) -> (Vec<f32>, Vec<[f64; 2]>) {
        let latent: Vec<[f64; 2]> = (0..n).map(|i| [((i * 7) % 13) as f64 * 3.0, ((i * 5) % 11) as f64]).collect();
        let a: Vec<[f64; 2]> = (0..d).map(|j| [((j % 3) as f64 - 1.0) / 2.0, ((j % 4) as f64 - 1.5) / 3.0]).collect();
        let x = latent.iter().flat_map(|l| a.iter().map(move |c| (l[0] * c[0] + l[1] * c[1] + 5.0) as f32)).collect();
        (x, latent)
    }

    #[test]
    fn recovers_a_known_low_rank_structure_both_ways() {
        for (n, d) in [(200, 30), (20, 30)] {
            let (x, _) = low_rank(n, d);
            let p = pca(&x, n, d, 5, 3);
            let two: f64 = p.explained[..2].iter().sum();
            assert!(two > 0.999_99, "n {n} d {d}: first two explain {two}");
            assert!(p.variances[2] < 1e-6 * p.variances[0], "{:?}", p.variances);
            // Distances between points survive projection onto 2 components.
            let dist =
                |v: &[f32], w: usize, i: usize, j: usize| (0..w).map(|k| ((v[i * w + k] - v[j * w + k]) as f64).powi(2)).sum::<f64>();
            let xc = crate::embedding::distances::center(&x, n, d);
            for (i, j) in [(0, 1), (3, 17), (5, n - 1)] {
                let (orig, proj) = (dist(&xc, d, i, j), dist(&p.scores, p.k, i, j));
                assert!((orig - proj).abs() <= 1e-3 * orig.max(1.0), "n {n}: {orig} vs {proj}");
            }
        }
    }

    #[test]
    fn signs_are_fixed() {
        let (x, _) = low_rank(50, 8);
        let a = pca(&x, 50, 8, 2, 1);
        let b = pca(&x, 50, 8, 2, 99);
        for (u, v) in a.scores.iter().zip(&b.scores) {
            assert!((u - v).abs() < 1e-3, "different seeds, same components: {u} vs {v}");
        }
    }
}
