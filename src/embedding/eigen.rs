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
    if m <= DENSE_UP_TO {
        let (values, vectors) = tridiagonal_ql(a, m);
        return take(values, vectors, m, m, k);
    }
    subspace(a, m, k, seed)
}

/// Subspace iteration for the `k` leading eigenpairs of a large `a`.
pub fn subspace(a: &[f64], m: usize, k: usize, seed: u64) -> (Vec<f64>, Vec<f64>) {
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

/// Up to this size all eigenpairs are computed directly (Householder
/// tridiagonalisation + implicit QL, O(m^3)), which does not slow down on
/// nearly equal eigenvalues as subspace iteration does.
const DENSE_UP_TO: usize = 2500;

/// All eigenpairs of symmetric `a` ([m x m]) as in EISPACK's tred2/tql2;
/// eigenvectors are the columns of the returned matrix, sorted by
/// descending eigenvalue.
pub fn tridiagonal_ql(a: &[f64], n: usize) -> (Vec<f64>, Vec<f64>) {
    let (mut v, mut d, mut e) = (a.to_vec(), vec![0f64; n], vec![0f64; n]);
    householder(&mut v, &mut d, &mut e, n);
    // QL works on rows of the transpose: contiguous rotation updates.
    let mut w = vec![0f64; n * n];
    for i in 0..n {
        for k in 0..n {
            w[i * n + k] = v[k * n + i];
        }
    }
    implicit_ql(&mut w, &mut d, &mut e, n);
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&x, &y| d[y].total_cmp(&d[x]).then(x.cmp(&y)));
    let mut vectors = vec![0f64; n * n];
    for (c, &j) in order.iter().enumerate() {
        for r in 0..n {
            vectors[r * n + c] = w[j * n + r];
        }
    }
    (order.iter().map(|&j| d[j]).collect(), vectors)
}

/// Householder reduction to tridiagonal form (diagonal `d`, off-diagonal
/// `e`), accumulating the transformation in `v`.
fn householder(v: &mut [f64], d: &mut [f64], e: &mut [f64], n: usize) {
    d.copy_from_slice(&v[(n - 1) * n..n * n]);
    for i in (1..n).rev() {
        let scale: f64 = d[..i].iter().map(|x| x.abs()).sum();
        let mut h = 0.0;
        if scale == 0.0 {
            e[i] = d[i - 1];
            for j in 0..i {
                d[j] = v[(i - 1) * n + j];
                v[i * n + j] = 0.0;
                v[j * n + i] = 0.0;
            }
        } else {
            for x in d[..i].iter_mut() {
                *x /= scale;
                h += *x * *x;
            }
            let f = d[i - 1];
            let g = if f > 0.0 { -h.sqrt() } else { h.sqrt() };
            e[i] = scale * g;
            h -= f * g;
            d[i - 1] = f - g;
            // e = A d (A symmetric, lower triangle stored), row by row.
            e[..i].iter_mut().for_each(|x| *x = 0.0);
            for j in 0..i {
                v[j * n + i] = d[j];
            }
            for k in 0..i {
                let row = &v[k * n..k * n + k];
                e[k] += row.iter().zip(&d[..k]).map(|(a, b)| a * b).sum::<f64>() + v[k * n + k] * d[k];
                let dk = d[k];
                for (ej, a) in e[..k].iter_mut().zip(row) {
                    *ej += a * dk;
                }
            }
            let mut f = 0.0;
            for j in 0..i {
                e[j] /= h;
                f += e[j] * d[j];
            }
            let hh = f / (h + h);
            for j in 0..i {
                e[j] -= hh * d[j];
            }
            // A -= d e^T + e d^T on the lower triangle.
            for k in 0..i {
                let (ek, dk) = (e[k], d[k]);
                for (a, (dj, ej)) in v[k * n..k * n + k + 1].iter_mut().zip(d.iter().zip(e.iter())) {
                    *a -= dj * ek + ej * dk;
                }
            }
            for j in 0..i {
                d[j] = v[(i - 1) * n + j];
                v[i * n + j] = 0.0;
            }
        }
        d[i] = h;
    }
    for i in 0..n - 1 {
        v[(n - 1) * n + i] = v[i * n + i];
        v[i * n + i] = 1.0;
        let h = d[i + 1];
        if h != 0.0 {
            let u: Vec<f64> = (0..=i).map(|k| v[k * n + i + 1]).collect();
            let mut g = vec![0f64; i + 1];
            for (k, &uk) in u.iter().enumerate() {
                for (gj, a) in g.iter_mut().zip(&v[k * n..k * n + i + 1]) {
                    *gj += uk * a;
                }
            }
            for (k, &uk) in u.iter().enumerate() {
                let dk = uk / h;
                for (a, gj) in v[k * n..k * n + i + 1].iter_mut().zip(&g) {
                    *a -= gj * dk;
                }
            }
        }
        for k in 0..=i {
            v[k * n + i + 1] = 0.0;
        }
    }
    for j in 0..n {
        d[j] = v[(n - 1) * n + j];
        v[(n - 1) * n + j] = 0.0;
    }
    v[(n - 1) * n + n - 1] = 1.0;
    e[0] = 0.0;
}

/// Implicit QL iterations on the tridiagonal matrix; `w` holds the
/// eigenvectors as rows.
fn implicit_ql(w: &mut [f64], d: &mut [f64], e: &mut [f64], n: usize) {
    for i in 1..n {
        e[i - 1] = e[i];
    }
    e[n - 1] = 0.0;
    let (mut f, mut tst1) = (0.0f64, 0.0f64);
    let eps = f64::EPSILON;
    for l in 0..n {
        tst1 = tst1.max(d[l].abs() + e[l].abs());
        let mut m = l;
        while m < n - 1 && e[m].abs() > eps * tst1 {
            m += 1;
        }
        if m > l {
            for _ in 0..100 {
                let g = d[l];
                let mut p = (d[l + 1] - g) / (2.0 * e[l]);
                let r = p.hypot(1.0).copysign(if p < 0.0 { -1.0 } else { 1.0 });
                d[l] = e[l] / (p + r);
                d[l + 1] = e[l] * (p + r);
                let dl1 = d[l + 1];
                let h = g - d[l];
                for x in d[l + 2..n].iter_mut() {
                    *x -= h;
                }
                f += h;
                p = d[m];
                let (mut c, mut c2, mut c3) = (1.0f64, 1.0f64, 1.0f64);
                let el1 = e[l + 1];
                let (mut s, mut s2) = (0.0f64, 0.0f64);
                for i in (l..m).rev() {
                    c3 = c2;
                    c2 = c;
                    s2 = s;
                    let g = c * e[i];
                    let h = c * p;
                    let r = p.hypot(e[i]);
                    e[i + 1] = s * r;
                    s = e[i] / r;
                    c = p / r;
                    p = c * d[i] - s * g;
                    d[i + 1] = h + s * (c * g + s * d[i]);
                    let (lo, hi) = w.split_at_mut((i + 1) * n);
                    for (a, b) in lo[i * n..].iter_mut().zip(hi[..n].iter_mut()) {
                        let h = *b;
                        *b = s * *a + c * h;
                        *a = c * *a - s * h;
                    }
                }
                p = -s * s2 * c3 * el1 * e[l] / dl1;
                e[l] = s * p;
                d[l] = c * p;
                if e[l].abs() <= eps * tst1 {
                    break;
                }
            }
        }
        d[l] += f;
        e[l] = 0.0;
    }
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

    type Solver = fn(&[f64], usize, usize, u64) -> (Vec<f64>, Vec<f64>);

    fn check(m: usize, k: usize, solve: Solver) {
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
        let (got, vectors) = solve(&a, m, k, 1);
        for t in 0..k {
            assert!((got[t] - values[t]).abs() < 1e-8, "eigenvalue {t}: {} vs {}", got[t], values[t]);
            let dot: f64 = (0..m).map(|r| vectors[r * k + t] * basis[r * m + t]).sum();
            assert!((dot.abs() - 1.0).abs() < 1e-6, "eigenvector {t}: |cos| = {}", dot.abs());
        }
    }

    #[test]
    fn recovers_a_known_spectrum_small_and_large() {
        check(20, 5, top_eigen);
        check(300, 10, top_eigen);
        check(200, 10, subspace);
    }
}
