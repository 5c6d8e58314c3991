//! Leading eigenpairs of a symmetric matrix: subspace iteration with a
//! Rayleigh-Ritz step (cyclic Jacobi on the small projected matrix).
//! Deterministic: seeded start, fixed reduction order.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

/// The `k` largest eigenvalues (descending) and their eigenvectors as the
/// columns of a row-major [m x k] matrix, for symmetric `a` ([m x m]).
pub fn top_eigen(a: &[f64], m: usize, k: usize, seed: u64) -> (Vec<f64>, Vec<f64>) {
    let k = k.min(m);
    if m <= 128 {
        let (values, vectors) = jacobi(a.to_vec(), m);
        return take(values, vectors, m, m, k);
    }
    let p = (2 * k).max(k + 10).min(m);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut q: Vec<f64> = (0..m * p).map(|_| normal(&mut rng)).collect();
    orthonormalize(&mut q, m, p);
    let mut last: Vec<f64> = Vec::new();
    for iteration in 1..=300 {
        q = multiply(a, &q, m, p);
        orthonormalize(&mut q, m, p);
        if iteration % 5 == 0 {
            let (values, _) = ritz(a, &q, m, p);
            let converged = !last.is_empty() && values[..k].iter().zip(&last).all(|(v, l)| (v - l).abs() <= 1e-10 * v.abs().max(1e-300));
            last = values[..k].to_vec();
            if converged {
                break;
            }
        }
    }
    let (values, small) = ritz(a, &q, m, p);
    // Ritz vectors: Q W.
    let vectors = matmul(&q, &small, m, p, p);
    take(values, vectors, m, p, k)
}

/// A standard normal draw (Box-Muller).
fn normal(rng: &mut impl Rng) -> f64 {
    let (u, v): (f64, f64) = (rng.random_range(1e-12..1.0), rng.random_range(0.0..1.0));
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

/// Eigenpairs of Q^T A Q, sorted by descending eigenvalue.
fn ritz(a: &[f64], q: &[f64], m: usize, p: usize) -> (Vec<f64>, Vec<f64>) {
    let aq = multiply(a, q, m, p);
    let mut b = vec![0f64; p * p];
    for i in 0..p {
        for j in 0..p {
            b[i * p + j] = (0..m).map(|r| q[r * p + i] * aq[r * p + j]).sum();
        }
    }
    for i in 0..p {
        for j in 0..i {
            let s = 0.5 * (b[i * p + j] + b[j * p + i]);
            b[i * p + j] = s;
            b[j * p + i] = s;
        }
    }
    jacobi(b, p)
}

/// The first `k` of `cols` eigen-columns, as [m x k].
fn take(values: Vec<f64>, vectors: Vec<f64>, m: usize, cols: usize, k: usize) -> (Vec<f64>, Vec<f64>) {
    let mut out = vec![0f64; m * k];
    for r in 0..m {
        out[r * k..(r + 1) * k].copy_from_slice(&vectors[r * cols..r * cols + k]);
    }
    (values[..k].to_vec(), out)
}

/// A ([m x m]) times Q ([m x p]), rows in parallel.
fn multiply(a: &[f64], q: &[f64], m: usize, p: usize) -> Vec<f64> {
    matmul(a, q, m, m, p)
}

fn matmul(a: &[f64], b: &[f64], rows: usize, inner: usize, cols: usize) -> Vec<f64> {
    let mut out = vec![0f64; rows * cols];
    out.par_chunks_mut(cols).enumerate().for_each(|(r, row)| {
        for (t, &x) in a[r * inner..(r + 1) * inner].iter().enumerate() {
            if x != 0.0 {
                for (o, &y) in row.iter_mut().zip(&b[t * cols..(t + 1) * cols]) {
                    *o += x * y;
                }
            }
        }
    });
    out
}

/// Modified Gram-Schmidt on the columns of row-major [m x p] `q`.
fn orthonormalize(q: &mut [f64], m: usize, p: usize) {
    for j in 0..p {
        for i in 0..j {
            let dot: f64 = (0..m).map(|r| q[r * p + i] * q[r * p + j]).sum();
            for r in 0..m {
                q[r * p + j] -= dot * q[r * p + i];
            }
        }
        let norm = (0..m).map(|r| q[r * p + j] * q[r * p + j]).sum::<f64>().sqrt();
        let norm = if norm > 1e-300 { norm } else { 1.0 };
        for r in 0..m {
            q[r * p + j] /= norm;
        }
    }
}

/// All eigenpairs of a small symmetric matrix by cyclic Jacobi rotations;
/// eigenvectors are the columns of the returned [n x n] matrix, sorted by
/// descending eigenvalue.
pub fn jacobi(mut a: Vec<f64>, n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut v = vec![0f64; n * n];
    (0..n).for_each(|i| v[i * n + i] = 1.0);
    for _sweep in 0..100 {
        let off: f64 = (0..n).flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j))).map(|(i, j)| a[i * n + j].powi(2)).sum();
        let scale: f64 = (0..n).map(|i| a[i * n + i].powi(2)).sum::<f64>().max(1e-300);
        if off <= 1e-30 * scale {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                rotate(&mut a, &mut v, n, p, q);
            }
        }
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&x, &y| a[y * n + y].total_cmp(&a[x * n + x]).then(x.cmp(&y)));
    let values = order.iter().map(|&i| a[i * n + i]).collect();
    let mut vectors = vec![0f64; n * n];
    for r in 0..n {
        for (c, &i) in order.iter().enumerate() {
            vectors[r * n + c] = v[r * n + i];
        }
    }
    (values, vectors)
}

fn rotate(a: &mut [f64], v: &mut [f64], n: usize, p: usize, q: usize) {
    let apq = a[p * n + q];
    if apq.abs() < 1e-300 {
        return;
    }
    let theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
    let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
    let t = if theta == 0.0 { 1.0 } else { t };
    let c = 1.0 / (t * t + 1.0).sqrt();
    let s = t * c;
    for k in 0..n {
        let (akp, akq) = (a[k * n + p], a[k * n + q]);
        a[k * n + p] = c * akp - s * akq;
        a[k * n + q] = s * akp + c * akq;
    }
    for k in 0..n {
        let (apk, aqk) = (a[p * n + k], a[q * n + k]);
        a[p * n + k] = c * apk - s * aqk;
        a[q * n + k] = s * apk + c * aqk;
    }
    for k in 0..n {
        let (vkp, vkq) = (v[k * n + p], v[k * n + q]);
        v[k * n + p] = c * vkp - s * vkq;
        v[k * n + q] = s * vkp + c * vkq;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(m: usize, k: usize) {
        // A = sum_i lambda_i e_i e_i^T in a rotated basis: known spectrum.
        let values: Vec<f64> = (0..m).map(|i| 1.0 / (1.0 + i as f64)).collect();
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let mut basis: Vec<f64> = (0..m * m).map(|_| normal(&mut rng)).collect();
        orthonormalize(&mut basis, m, m);
        let mut a = vec![0f64; m * m];
        for i in 0..m {
            for j in 0..m {
                a[i * m + j] = (0..m).map(|t| basis[i * m + t] * values[t] * basis[j * m + t]).sum();
            }
        }
        let (got, vectors) = top_eigen(&a, m, k, 1);
        for t in 0..k {
            assert!((got[t] - values[t]).abs() < 1e-8, "eigenvalue {t}: {} vs {}", got[t], values[t]);
            let dot: f64 = (0..m).map(|r| vectors[r * k + t] * basis[r * m + t]).sum();
            assert!((dot.abs() - 1.0).abs() < 1e-6, "eigenvector {t}: |cos| = {}", dot.abs());
        }
    }

    #[test]
    fn recovers_a_known_spectrum_small_and_large() {
        check(20, 5);
        check(200, 10);
    }
}
