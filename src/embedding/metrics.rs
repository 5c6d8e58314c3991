//! How well labelled points separate, in any space: leave-one-out k-NN
//! accuracy, silhouette score, the intra/inter class-center distance ratio;
//! and t-SNE's exact KL(P || Q), the quality measure every implementation
//! is judged by against one fixed P.

use super::affinities::Sparse;
use crate::clustering::separation::center_distance_ratio;
use rayon::prelude::*;

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Separation {
    pub knn_accuracy: f64,
    pub silhouette: f64,
    pub center_ratio: f64,
}

/// Squared distances between rows of `x` ([n x d]): directly for few
/// dimensions, through the Gram matrix for many.
pub fn squared_distances(x: &[f32], n: usize, d: usize) -> Vec<f32> {
    if d > 64 {
        return super::distances::squared(x, n, d);
    }
    let mut out = vec![0f32; n * n];
    out.par_chunks_mut(n).enumerate().for_each(|(i, row)| {
        let xi = &x[i * d..(i + 1) * d];
        for (j, o) in row.iter_mut().enumerate() {
            *o = xi.iter().zip(&x[j * d..(j + 1) * d]).map(|(a, b)| (a - b) * (a - b)).sum();
        }
    });
    out
}

pub fn separation(x: &[f32], n: usize, d: usize, labels: &[u8], classes: usize) -> Separation {
    let dist = squared_distances(x, n, d);
    Separation {
        knn_accuracy: knn_accuracy(&dist, n, labels, 10, classes),
        silhouette: silhouette(&dist, n, labels, classes),
        center_ratio: center_distance_ratio(x, labels, d, classes),
    }
}

/// Fraction of points whose k nearest others (ties by index) vote their
/// label; a tied vote goes to the label of the nearest tied neighbour.
pub fn knn_accuracy(dist: &[f32], n: usize, labels: &[u8], k: usize, classes: usize) -> f64 {
    let k = k.min(n.saturating_sub(1));
    let correct: usize = (0..n)
        .into_par_iter()
        .map(|i| {
            let row = &dist[i * n..(i + 1) * n];
            let mut others: Vec<usize> = (0..n).filter(|&j| j != i).collect();
            let by = |a: &usize, b: &usize| row[*a].total_cmp(&row[*b]).then(a.cmp(b));
            if k < others.len() {
                others.select_nth_unstable_by(k, by);
                others.truncate(k);
            }
            others.sort_by(by);
            let mut votes = vec![0usize; classes];
            others.iter().for_each(|&j| votes[labels[j] as usize] += 1);
            let best = *votes.iter().max().unwrap_or(&0);
            let winner = others.iter().map(|&j| labels[j]).find(|&l| votes[l as usize] == best);
            usize::from(winner == Some(labels[i]))
        })
        .sum();
    correct as f64 / n.max(1) as f64
}

/// Mean silhouette (Euclidean); points alone in their class score 0.
pub fn silhouette(dist: &[f32], n: usize, labels: &[u8], classes: usize) -> f64 {
    let counts = labels.iter().fold(vec![0usize; classes], |mut c, &l| {
        c[l as usize] += 1;
        c
    });
    let scores: Vec<f64> = (0..n)
        .into_par_iter()
        .map(|i| {
            let mut sums = vec![0f64; classes];
            for j in (0..n).filter(|&j| j != i) {
                sums[labels[j] as usize] += (dist[i * n + j].max(0.0) as f64).sqrt();
            }
            let own = labels[i] as usize;
            if counts[own] < 2 {
                return 0.0;
            }
            let a = sums[own] / (counts[own] - 1) as f64;
            let b = (0..classes).filter(|&c| c != own && counts[c] > 0).map(|c| sums[c] / counts[c] as f64).fold(f64::INFINITY, f64::min);
            if !b.is_finite() || a.max(b) == 0.0 { 0.0 } else { (b - a) / a.max(b) }
        })
        .collect();
    scores.iter().sum::<f64>() / n.max(1) as f64
}

/// KL(P || Q) with Q from the embedding `y` ([n x dims]) over all pairs.
pub fn kl_divergence(p: &Sparse, y: &[f64], dims: usize) -> f64 {
    let n = p.n;
    let w = |i: usize, j: usize| 1.0 / (1.0 + (0..dims).map(|k| (y[i * dims + k] - y[j * dims + k]).powi(2)).sum::<f64>());
    let row_z: Vec<f64> = (0..n).into_par_iter().map(|i| (0..n).filter(|&j| j != i).map(|j| w(i, j)).sum()).collect();
    let z: f64 = row_z.iter().sum();
    let terms: Vec<f64> =
        (0..n).into_par_iter().map(|i| p.row(i).filter(|&(_, v)| v > 0.0).map(|(j, v)| v * (v / (w(i, j) / z)).ln()).sum()).collect();
    terms.iter().sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfectly_separated_classes_score_one() {
        // Two groups of 15 on a line, 10 apart.
        let x: Vec<f32> = (0..30).map(|i| (i / 15) as f32 * 10.0 + (i % 15) as f32 * 0.01).collect();
        let labels: Vec<u8> = (0..30).map(|i| (i / 15) as u8).collect();
        let s = separation(&x, 30, 1, &labels, 2);
        assert_eq!(s.knn_accuracy, 1.0);
        assert!(s.silhouette > 0.95, "{s:?}");
        let mixed: Vec<u8> = (0..30).map(|i| (i % 2) as u8).collect();
        let m = separation(&x, 30, 1, &mixed, 2);
        assert!(m.knn_accuracy < 0.5 && m.silhouette < 0.1, "{m:?}");
    }
}
