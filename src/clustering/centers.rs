//! Class centers from K-means clusters (SPEC section 5): each class takes
//! the center of the cluster most of its samples fall into; a class that
//! no cluster represents gets the mean of its own samples.

use super::kmeans::KMeans;

/// `classes` centers (row-major, `d` wide) from a clustering of
/// `features` whose true labels are `labels`.
pub fn class_centers(features: &[f32], labels: &[u8], d: usize, classes: usize, clusters: &KMeans) -> Vec<f32> {
    let k = clusters.centers.len() / d;
    let mut votes = vec![vec![0usize; k]; classes];
    for (&label, &cluster) in labels.iter().zip(&clusters.assignments) {
        votes[label as usize][cluster] += 1;
    }
    let mut out = Vec::with_capacity(classes * d);
    for (class, row) in votes.iter().enumerate() {
        let (best, count) = row.iter().enumerate().max_by_key(|&(j, &c)| (c, std::cmp::Reverse(j))).map(|(j, &c)| (j, c)).unwrap_or((0, 0));
        if count > 0 {
            out.extend_from_slice(&clusters.centers[best * d..(best + 1) * d]);
        } else {
            out.extend(class_mean(features, labels, d, class as u8));
        }
    }
    out
}

/// Mean feature of one class (zeros when it has no sample, so nothing is NaN).
fn class_mean(features: &[f32], labels: &[u8], d: usize, class: u8) -> Vec<f32> {
    let mut sum = vec![0f64; d];
    let mut n = 0usize;
    for (f, &l) in features.chunks_exact(d).zip(labels) {
        if l == class {
            n += 1;
            for (s, &v) in sum.iter_mut().zip(f) {
                *s += v as f64;
            }
        }
    }
    sum.into_iter().map(|s| if n == 0 { 0.0 } else { (s / n as f64) as f32 }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_take_their_majority_cluster_or_their_mean() {
        // Two clusters, three classes: class 2's samples all sit in cluster 0,
        // where class 0 holds the majority; class 2 still votes for cluster 0.
        let features = vec![0.0, 0.0, 1.0, 1.0, 9.0, 9.0, 10.0, 10.0, 0.5, 0.5];
        let labels = vec![0, 0, 1, 1, 2];
        let clusters = KMeans { centers: vec![0.5, 0.5, 9.5, 9.5], assignments: vec![0, 0, 1, 1, 0], iterations: 1, converged: true };
        let c = class_centers(&features, &labels, 2, 4, &clusters);
        assert_eq!(&c[0..2], &[0.5, 0.5]);
        assert_eq!(&c[2..4], &[9.5, 9.5]);
        assert_eq!(&c[4..6], &[0.5, 0.5]);
        assert_eq!(&c[6..8], &[0.0, 0.0], "a class without samples gets zeros, never NaN");
    }
}
