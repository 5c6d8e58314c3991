//! t-SNE's input similarities P: for each point, a Gaussian over its
//! 3 x perplexity nearest neighbours with the bandwidth that gives the
//! wanted perplexity; then symmetrised and normalised to sum 1.

use rayon::prelude::*;

/// A symmetric sparse matrix in CSR form.
pub struct Sparse {
    pub n: usize,
    pub row_start: Vec<usize>,
    pub cols: Vec<u32>,
    pub values: Vec<f64>,
}

impl Sparse {
    pub fn row(&self, i: usize) -> impl Iterator<Item = (usize, f64)> + '_ {
        let r = self.row_start[i]..self.row_start[i + 1];
        self.cols[r.clone()].iter().map(|&c| c as usize).zip(self.values[r].iter().copied())
    }
}

/// The `k` nearest other rows of each row of `x` ([n x d]) as (index,
/// squared distance), nearest first, ties by index. Exact (brute force).
pub fn nearest(x: &[f32], n: usize, d: usize, k: usize) -> Vec<Vec<(u32, f32)>> {
    let k = k.min(n.saturating_sub(1));
    (0..n)
        .into_par_iter()
        .map(|i| {
            let xi = &x[i * d..(i + 1) * d];
            let mut all: Vec<(u32, f32)> = (0..n)
                .filter(|&j| j != i)
                .map(|j| {
                    let xj = &x[j * d..(j + 1) * d];
                    (j as u32, xi.iter().zip(xj).map(|(a, b)| (a - b) * (a - b)).sum::<f32>())
                })
                .collect();
            let by = |a: &(u32, f32), b: &(u32, f32)| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0));
            if k < all.len() {
                all.select_nth_unstable_by(k, by);
                all.truncate(k);
            }
            all.sort_by(by);
            all
        })
        .collect()
}

/// Row-conditional probabilities for one point's neighbour distances
/// (binary search on the Gaussian precision for entropy = ln perplexity).
fn conditional(distances: &[f32], perplexity: f64) -> Vec<f64> {
    let target = perplexity.ln();
    let d0 = distances.first().copied().unwrap_or(0.0) as f64;
    let (mut beta, mut lo, mut hi) = (1.0f64, 0.0f64, f64::INFINITY);
    let mut p = vec![0f64; distances.len()];
    for _ in 0..200 {
        // Shift by the nearest distance: same P, no underflow.
        let mut sum = 0.0;
        for (pj, &dj) in p.iter_mut().zip(distances) {
            *pj = (-(dj as f64 - d0) * beta).exp();
            sum += *pj;
        }
        let sum = sum.max(1e-300);
        let mean_d: f64 = p.iter().zip(distances).map(|(pj, &dj)| pj * (dj as f64 - d0)).sum::<f64>() / sum;
        let entropy = sum.ln() + beta * mean_d;
        p.iter_mut().for_each(|v| *v /= sum);
        let gap = entropy - target;
        if gap.abs() < 1e-5 {
            break;
        }
        if gap > 0.0 {
            lo = beta;
            beta = if hi.is_finite() { (beta + hi) / 2.0 } else { beta * 2.0 };
        } else {
            hi = beta;
            beta = (beta + lo) / 2.0;
        }
    }
    p
}

/// Symmetric P = (P_cond + P_cond^T) / 2n over 3 x perplexity neighbours.
pub fn joint(x: &[f32], n: usize, d: usize, perplexity: f64) -> Sparse {
    let k = ((3.0 * perplexity).floor() as usize).max(1);
    let neighbours = nearest(x, n, d, k);
    let rows: Vec<Vec<f64>> =
        neighbours.par_iter().map(|nb| conditional(&nb.iter().map(|&(_, dist)| dist).collect::<Vec<_>>(), perplexity)).collect();
    let mut triples: Vec<(u32, u32, f64)> = Vec::with_capacity(2 * n * k);
    for (i, (nb, p)) in neighbours.iter().zip(&rows).enumerate() {
        for (&(j, _), &v) in nb.iter().zip(p) {
            triples.push((i as u32, j, v));
            triples.push((j, i as u32, v));
        }
    }
    triples.sort_by_key(|t| (t.0, t.1));
    let mut sparse = Sparse { n, row_start: vec![0; n + 1], cols: Vec::new(), values: Vec::new() };
    let mut last: Option<(u32, u32)> = None;
    for (i, j, v) in triples {
        if last == Some((i, j)) {
            *sparse.values.last_mut().expect("a previous entry") += v;
            continue;
        }
        last = Some((i, j));
        sparse.cols.push(j);
        sparse.values.push(v);
        sparse.row_start[i as usize + 1] += 1;
    }
    for i in 0..n {
        sparse.row_start[i + 1] += sparse.row_start[i];
    }
    let total: f64 = sparse.values.iter().sum();
    sparse.values.iter_mut().for_each(|v| *v /= total);
    sparse
}

#[cfg(test)]
mod tests {
    #[test]
    fn p_is_symmetric_normalised_and_hits_the_perplexity() {
        let x: Vec<f32> = (0..60).map(|i| ((i * 37) % 17) as f32).collect();
        let p = super::joint(&x, 30, 2, 5.0);
        let total: f64 = p.values.iter().sum();
        assert!((total - 1.0).abs() < 1e-12);
        for i in 0..30 {
            for (j, v) in p.row(i) {
                let back = p.row(j).find(|&(c, _)| c == i).map(|(_, w)| w).unwrap();
                assert!((v - back).abs() < 1e-15, "P[{i},{j}] = {v} vs {back}");
            }
        }
        let dist = [0.0f32, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0];
        let c = super::conditional(&dist, 4.0);
        let entropy: f64 = -c.iter().filter(|&&v| v > 0.0).map(|v| v * v.ln()).sum::<f64>();
        assert!((entropy.exp() - 4.0).abs() < 1e-3, "perplexity {}", entropy.exp());
    }
}
