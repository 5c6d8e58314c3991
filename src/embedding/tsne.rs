//! t-SNE to 2-D or 3-D with openTSNE's optimisation schedule: PCA
//! initialisation scaled to std 1e-4, early exaggeration (12, 250
//! iterations), then the main phase (500 iterations); learning rate
//! N / exaggeration; momentum 0.8; delta-bar-delta gains. Repulsion is
//! exact for small N and Barnes-Hut otherwise. Per-point work runs in
//! parallel but every sum is taken in index order, so the result is the
//! same for the same input whatever the thread count.

use super::affinities::{Sparse, joint};
use super::pca::pca;
use super::tree::Tree;
use rayon::prelude::*;

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TsneParams {
    pub dims: usize,
    pub perplexity: f64,
    /// None: N / exaggeration in each phase (openTSNE's "auto").
    pub learning_rate: Option<f64>,
    pub early_exaggeration: f64,
    pub early_iterations: usize,
    pub iterations: usize,
    pub momentum: f64,
    /// Barnes-Hut opening angle (at most 0.5).
    pub theta: f64,
    /// Exact repulsion for N up to this.
    pub exact_up_to: usize,
    pub seed: u64,
}

impl Default for TsneParams {
    fn default() -> Self {
        TsneParams {
            dims: 2,
            perplexity: 30.0,
            learning_rate: None,
            early_exaggeration: 12.0,
            early_iterations: 250,
            iterations: 500,
            momentum: 0.8,
            theta: 0.5,
            exact_up_to: 1000,
            seed: 0,
        }
    }
}

/// Affinities from `x` ([n x d]), then the embedding; `progress` gets
/// (iterations done, total).
pub fn tsne(x: &[f32], n: usize, d: usize, params: &TsneParams, progress: &(dyn Fn(usize, usize) + Sync)) -> Vec<f64> {
    let perplexity = params.perplexity.min((n.saturating_sub(1)) as f64 / 3.0).max(1.0);
    let p = joint(x, n, d, perplexity);
    let init = initial(x, n, d, params.dims, params.seed);
    optimise(&p, init, params, progress)
}

/// PCA to `dims`, scaled so the first coordinate has std 1e-4.
pub fn initial(x: &[f32], n: usize, d: usize, dims: usize, seed: u64) -> Vec<f64> {
    let proj = pca(x, n, d, dims, seed);
    let mut y: Vec<f64> = vec![0.0; n * dims];
    for r in 0..n {
        for c in 0..proj.k.min(dims) {
            y[r * dims + c] = proj.scores[r * proj.k + c] as f64;
        }
    }
    let mean0 = (0..n).map(|r| y[r * dims]).sum::<f64>() / n as f64;
    let std0 = ((0..n).map(|r| (y[r * dims] - mean0).powi(2)).sum::<f64>() / n as f64).sqrt();
    let scale = if std0 > 0.0 { 1e-4 / std0 } else { 1.0 };
    y.iter_mut().for_each(|v| *v *= scale);
    y
}

/// Gradient descent from `y` on fixed affinities `p`.
pub fn optimise(p: &Sparse, mut y: Vec<f64>, params: &TsneParams, progress: &(dyn Fn(usize, usize) + Sync)) -> Vec<f64> {
    let total = params.early_iterations + params.iterations;
    let phases = [(params.early_exaggeration, params.early_iterations), (1.0, params.iterations)];
    let mut done = 0;
    for (exaggeration, iterations) in phases {
        let lr = params.learning_rate.unwrap_or((p.n as f64 / exaggeration).max(50.0));
        let mut update = vec![0f64; y.len()];
        let mut gains = vec![1f64; y.len()];
        for _ in 0..iterations {
            let grad = gradient(p, &y, params, exaggeration);
            for ((g, u), (gain, yv)) in grad.iter().zip(update.iter_mut()).zip(gains.iter_mut().zip(y.iter_mut())) {
                *gain = if g.signum() != u.signum() { *gain + 0.2 } else { *gain * 0.8 + 0.01 };
                *u = params.momentum * *u - lr * *gain * g;
                *yv += *u;
            }
            done += 1;
            if done % 10 == 0 || done == total {
                progress(done, total);
            }
        }
    }
    y
}

/// d KL / d y (openTSNE's scale, without the factor 4).
pub fn gradient(p: &Sparse, y: &[f64], params: &TsneParams, exaggeration: f64) -> Vec<f64> {
    match params.dims {
        2 => gradient_d::<2>(p, y, params, exaggeration),
        3 => gradient_d::<3>(p, y, params, exaggeration),
        d => panic!("t-SNE embeds in 2 or 3 dimensions, not {d}"),
    }
}

fn gradient_d<const D: usize>(p: &Sparse, y: &[f64], params: &TsneParams, exaggeration: f64) -> Vec<f64> {
    let n = p.n;
    let exact = n <= params.exact_up_to;
    let tree = (!exact).then(|| Tree::<D>::build(y));
    // Per point: (z_i, repulsion_i), computed independently.
    let per_point: Vec<(f64, [f64; D])> = (0..n)
        .into_par_iter()
        .map(|i| {
            let yi = &y[i * D..(i + 1) * D];
            let mut force = [0.0; D];
            let z = match &tree {
                Some(t) => t.repulsion(i, yi, params.theta, &mut force),
                None => exact_repulsion::<D>(i, y, &mut force),
            };
            (z, force)
        })
        .collect();
    let z: f64 = per_point.iter().map(|(z, _)| z).sum::<f64>().max(1e-300);
    let mut grad = vec![0f64; n * D];
    grad.par_chunks_mut(D).enumerate().for_each(|(i, g)| {
        let yi = &y[i * D..(i + 1) * D];
        let mut attract = [0.0; D];
        for (j, pij) in p.row(i) {
            let yj = &y[j * D..(j + 1) * D];
            let d2: f64 = (0..D).map(|k| (yi[k] - yj[k]).powi(2)).sum();
            let w = pij / (1.0 + d2);
            (0..D).for_each(|k| attract[k] += w * (yi[k] - yj[k]));
        }
        let rep = &per_point[i].1;
        (0..D).for_each(|k| g[k] = exaggeration * attract[k] - rep[k] / z);
    });
    grad
}

fn exact_repulsion<const D: usize>(i: usize, y: &[f64], force: &mut [f64; D]) -> f64 {
    let yi = &y[i * D..(i + 1) * D];
    let mut z = 0.0;
    for (j, yj) in y.chunks_exact(D).enumerate() {
        if j == i {
            continue;
        }
        let diff: [f64; D] = std::array::from_fn(|k| yi[k] - yj[k]);
        let w = 1.0 / (1.0 + diff.iter().map(|v| v * v).sum::<f64>());
        z += w;
        (0..D).for_each(|k| force[k] += w * w * diff[k]);
    }
    z
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embedding::metrics::separation;

    /// `k` Gaussian blobs in 20-D, well apart.
    fn blobs(per: usize, k: usize) -> (Vec<f32>, Vec<u8>) {
        let mut state = 12345u64;
        let mut noise = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((state >> 33) as f64 / (1u64 << 31) as f64 - 0.5) as f32
        };
        let (mut x, mut labels) = (Vec::new(), Vec::new());
        for c in 0..k {
            for _ in 0..per {
                for j in 0..20 {
                    x.push(if j % k == c { 10.0 } else { 0.0 } + noise());
                }
                labels.push(c as u8);
            }
        }
        (x, labels)
    }

    fn run(n_per: usize, dims: usize, exact_up_to: usize) -> (Vec<f64>, f64) {
        let (x, labels) = blobs(n_per, 4);
        let n = labels.len();
        let params = TsneParams { dims, perplexity: 10.0, exact_up_to, early_iterations: 100, iterations: 200, ..TsneParams::default() };
        let y = tsne(&x, n, 20, &params, &|_, _| {});
        let yf: Vec<f32> = y.iter().map(|&v| v as f32).collect();
        (y, separation(&yf, n, dims, &labels, 4).knn_accuracy)
    }

    #[test]
    fn separates_blobs_exactly_and_with_barnes_hut_in_2d_and_3d() {
        for (dims, exact_up_to) in [(2, 10_000), (2, 0), (3, 0)] {
            let (_, knn) = run(60, dims, exact_up_to);
            assert!(knn > 0.99, "dims {dims}, exact_up_to {exact_up_to}: kNN accuracy {knn}");
        }
    }

    #[test]
    fn same_input_same_embedding() {
        let (a, _) = run(30, 3, 0);
        let (b, _) = run(30, 3, 0);
        assert!(a == b, "bitwise identical");
    }
}
