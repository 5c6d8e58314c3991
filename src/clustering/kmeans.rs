//! K-means with k-means++ seeding and Lloyd iterations, seeded and
//! deterministic (sequential sums in index order).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Result of a K-means run on `n` points of dimension `d`.
#[derive(Clone, Debug, PartialEq)]
pub struct KMeans {
    /// `k` centers, each `d` long, row-major.
    pub centers: Vec<f32>,
    pub assignments: Vec<usize>,
    pub iterations: usize,
    pub converged: bool,
}

fn distance2(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// Index of the nearest center (ties to the lower index).
pub fn nearest(point: &[f32], centers: &[f32], d: usize) -> usize {
    let mut best = (0, f32::INFINITY);
    for (j, c) in centers.chunks_exact(d).enumerate() {
        let dist = distance2(point, c);
        if dist < best.1 {
            best = (j, dist);
        }
    }
    best.0
}

/// k-means++: the first center uniformly, each next one with probability
/// proportional to the squared distance to the nearest chosen center.
fn seed_centers(points: &[f32], d: usize, k: usize, rng: &mut ChaCha8Rng) -> Vec<f32> {
    let n = points.len() / d;
    let mut centers = Vec::with_capacity(k * d);
    let first = rng.random_range(0..n);
    centers.extend_from_slice(&points[first * d..(first + 1) * d]);
    let mut nearest2: Vec<f32> = points.chunks_exact(d).map(|p| distance2(p, &centers[..d])).collect();
    while centers.len() < k * d {
        let total: f64 = nearest2.iter().map(|&v| v as f64).sum();
        let pick = if total > 0.0 {
            let mut target = rng.random_range(0.0..total);
            nearest2.iter().position(|&v| {
                target -= v as f64;
                target < 0.0
            })
        } else {
            None
        }
        .unwrap_or_else(|| rng.random_range(0..n));
        let start = centers.len();
        centers.extend_from_slice(&points[pick * d..(pick + 1) * d]);
        for (i, p) in points.chunks_exact(d).enumerate() {
            nearest2[i] = nearest2[i].min(distance2(p, &centers[start..start + d]));
        }
    }
    centers
}

/// Clusters `points` (row-major, `d` wide) into `k` groups.
pub fn kmeans(points: &[f32], d: usize, k: usize, max_iter: usize, seed: u64) -> KMeans {
    let n = points.len() / d;
    assert!(n >= k && k > 0, "k-means needs at least k = {k} points, got {n}");
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut centers = seed_centers(points, d, k, &mut rng);
    let mut assignments = vec![usize::MAX; n];
    for iteration in 1..=max_iter {
        let next: Vec<usize> = points.chunks_exact(d).map(|p| nearest(p, &centers, d)).collect();
        if next == assignments {
            return KMeans { centers, assignments, iterations: iteration, converged: true };
        }
        assignments = next;
        centers = update(points, d, k, &assignments, &centers);
    }
    KMeans { centers, assignments, iterations: max_iter, converged: false }
}

/// Mean of each cluster; an empty cluster keeps its previous center.
fn update(points: &[f32], d: usize, k: usize, assignments: &[usize], previous: &[f32]) -> Vec<f32> {
    let mut sums = vec![0f64; k * d];
    let mut counts = vec![0usize; k];
    for (p, &a) in points.chunks_exact(d).zip(assignments) {
        counts[a] += 1;
        for (s, &v) in sums[a * d..(a + 1) * d].iter_mut().zip(p) {
            *s += v as f64;
        }
    }
    (0..k * d).map(|i| if counts[i / d] == 0 { previous[i] } else { (sums[i] / counts[i / d] as f64) as f32 }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_distr_free_normal as normal;

    /// Box-Muller normal samples, so the test needs no extra crate.
    mod rand_distr_free_normal {
        use rand::Rng;
        pub fn sample(rng: &mut impl Rng) -> f32 {
            let (u, v): (f32, f32) = (rng.random_range(1e-7..1.0), rng.random_range(0.0..1.0));
            (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
        }
    }

    fn blobs(centers: &[[f32; 2]], per: usize, spread: f32, seed: u64) -> Vec<f32> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut out = Vec::new();
        for c in centers {
            for _ in 0..per {
                out.push(c[0] + spread * normal::sample(&mut rng));
                out.push(c[1] + spread * normal::sample(&mut rng));
            }
        }
        out
    }

    #[test]
    fn recovers_known_centers() {
        let truth = [[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0], [5.0, 20.0]];
        let points = blobs(&truth, 200, 0.5, 1);
        let result = kmeans(&points, 2, 5, 100, 7);
        assert!(result.converged);
        for t in truth {
            let j = nearest(&t, &result.centers, 2);
            let c = &result.centers[j * 2..j * 2 + 2];
            assert!(distance2(&t, c).sqrt() < 0.15, "center {t:?} recovered as {c:?}");
        }
        let mut sizes = vec![0; 5];
        for &a in &result.assignments {
            sizes[a] += 1;
        }
        assert!(sizes.iter().all(|&s| s == 200), "{sizes:?}");
    }

    #[test]
    fn seeded_and_deterministic() {
        let points = blobs(&[[0.0, 0.0], [3.0, 3.0], [6.0, 0.0]], 100, 1.5, 2);
        assert_eq!(kmeans(&points, 2, 3, 50, 1), kmeans(&points, 2, 3, 50, 1));
    }
}
