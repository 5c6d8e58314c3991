//! How well classes separate in a feature space: mean distance of a sample
//! to its class centroid over mean distance between class centroids
//! (lower: tighter, further-apart classes).

/// Class centroids, row-major [classes x d]; a class without samples gets zeros.
pub fn class_means(features: &[f32], labels: &[u8], d: usize, classes: usize) -> (Vec<f64>, Vec<usize>) {
    let mut sums = vec![0f64; classes * d];
    let mut counts = vec![0usize; classes];
    for (f, &y) in features.chunks_exact(d).zip(labels) {
        let y = y as usize;
        counts[y] += 1;
        for (s, &v) in sums[y * d..(y + 1) * d].iter_mut().zip(f) {
            *s += v as f64;
        }
    }
    for (row, &n) in sums.chunks_exact_mut(d).zip(&counts) {
        row.iter_mut().for_each(|s| *s /= n.max(1) as f64);
    }
    (sums, counts)
}

fn distance(a: impl Iterator<Item = f64>, b: impl Iterator<Item = f64>) -> f64 {
    a.zip(b).map(|(x, y)| (x - y) * (x - y)).sum::<f64>().sqrt()
}

/// Mean intra-class distance (sample to its centroid) over mean
/// inter-class distance (between centroids of classes present).
pub fn center_distance_ratio(features: &[f32], labels: &[u8], d: usize, classes: usize) -> f64 {
    let (means, counts) = class_means(features, labels, d, classes);
    let intra: f64 = features
        .chunks_exact(d)
        .zip(labels)
        .map(|(f, &y)| distance(f.iter().map(|&v| v as f64), means[y as usize * d..(y as usize + 1) * d].iter().copied()))
        .sum::<f64>()
        / labels.len().max(1) as f64;
    let present: Vec<usize> = (0..classes).filter(|&k| counts[k] > 0).collect();
    let (mut inter, mut pairs) = (0.0, 0usize);
    for (i, &a) in present.iter().enumerate() {
        for &b in &present[i + 1..] {
            inter += distance(means[a * d..(a + 1) * d].iter().copied(), means[b * d..(b + 1) * d].iter().copied());
            pairs += 1;
        }
    }
    if pairs == 0 || inter == 0.0 { f64::NAN } else { intra / (inter / pairs as f64) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tighter_classes_give_a_lower_ratio() {
        // Two classes at x = 0 and x = 10; spread 1 vs spread 3.
        let labels = [0u8, 0, 1, 1];
        let tight = [-1.0f32, 1.0, 9.0, 11.0];
        let loose = [-3.0f32, 3.0, 7.0, 13.0];
        assert!((center_distance_ratio(&tight, &labels, 1, 2) - 0.1).abs() < 1e-12);
        assert!((center_distance_ratio(&loose, &labels, 1, 2) - 0.3).abs() < 1e-12);
    }
}
