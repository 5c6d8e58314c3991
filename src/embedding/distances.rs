//! Pairwise squared Euclidean distances, via one matrix product (burn's
//! CPU matmul), for the metrics and neighbour searches that need them all.

use burn::tensor::{Device, Tensor, TensorData};

/// Row-major [n x n] squared distances between the rows of `x` ([n x d]).
/// The Gram-matrix identity |a-b|^2 = |a|^2 + |b|^2 - 2 a.b is computed on
/// centered data (smaller numbers, less cancellation) and clamped at 0.
pub fn squared(x: &[f32], n: usize, d: usize) -> Vec<f32> {
    let gram = gram(&center(x, n, d), n, d);
    let diag: Vec<f32> = (0..n).map(|i| gram[i * n + i]).collect();
    let mut out = gram;
    for i in 0..n {
        for j in 0..n {
            let v = diag[i] + diag[j] - 2.0 * out[i * n + j];
            out[i * n + j] = if i == j { 0.0 } else { v.max(0.0) };
        }
    }
    out
}

/// Columns minus their means (means accumulated in f64).
pub fn center(x: &[f32], n: usize, d: usize) -> Vec<f32> {
    let mut means = vec![0f64; d];
    for row in x.chunks_exact(d) {
        for (m, &v) in means.iter_mut().zip(row) {
            *m += v as f64;
        }
    }
    let means: Vec<f32> = means.iter().map(|m| (m / n.max(1) as f64) as f32).collect();
    x.chunks_exact(d).flat_map(|row| row.iter().zip(&means).map(|(v, m)| v - m)).collect()
}

/// X X^T, [n x n].
pub fn gram(x: &[f32], n: usize, d: usize) -> Vec<f32> {
    let device = Device::flex();
    let t = Tensor::<2>::from_data(TensorData::new(x.to_vec(), [n, d]), &device);
    t.clone().matmul(t.transpose()).into_data().try_into_vec::<f32>().expect("f32 matmul")
}

/// X^T X, [d x d].
pub fn scatter(x: &[f32], n: usize, d: usize) -> Vec<f32> {
    let device = Device::flex();
    let t = Tensor::<2>::from_data(TensorData::new(x.to_vec(), [n, d]), &device);
    t.clone().transpose().matmul(t).into_data().try_into_vec::<f32>().expect("f32 matmul")
}

#[cfg(test)]
mod tests {
    #[test]
    fn distances_match_direct_computation() {
        let x = [0.0f32, 0.0, 3.0, 4.0, 1.0, 1.0];
        let d = super::squared(&x, 3, 2);
        let want = [0.0, 25.0, 2.0, 25.0, 0.0, 13.0, 2.0, 13.0, 0.0];
        for (a, b) in d.iter().zip(want) {
            assert!((a - b).abs() < 1e-4, "{d:?}");
        }
    }
}
