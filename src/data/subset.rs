//! Stratified, seeded subsets: each class keeps its share of the sample,
//! and the result is shuffled (sources such as the JPEG copy are sorted
//! by class, so any head-of-file sample would miss classes).

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

/// Indices of `n` items of `labels` (all when `n` ≥ len), shares per class
/// proportional to class sizes (largest remainder), order shuffled.
pub fn stratified(labels: &[u8], n: usize, seed: u64) -> Vec<usize> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let classes = labels.iter().map(|&l| l as usize + 1).max().unwrap_or(0);
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); classes];
    for (i, &l) in labels.iter().enumerate() {
        by_class[l as usize].push(i);
    }
    let n = n.min(labels.len());
    let quotas = quotas(&by_class.iter().map(Vec::len).collect::<Vec<_>>(), n);
    let mut chosen = Vec::with_capacity(n);
    for (members, quota) in by_class.iter_mut().zip(quotas) {
        members.shuffle(&mut rng);
        chosen.extend_from_slice(&members[..quota]);
    }
    chosen.shuffle(&mut rng);
    chosen
}

/// Largest-remainder apportionment of `n` over classes of `sizes`.
fn quotas(sizes: &[usize], n: usize) -> Vec<usize> {
    let total: usize = sizes.iter().sum();
    if total == 0 {
        return vec![0; sizes.len()];
    }
    let mut q: Vec<usize> = sizes.iter().map(|&s| s * n / total).collect();
    let mut order: Vec<usize> = (0..sizes.len()).collect();
    // Largest remainder first; ties go to the lower label for determinism.
    order.sort_by_key(|&i| (std::cmp::Reverse((sizes[i] * n) % total), i));
    let mut left = n - q.iter().sum::<usize>();
    for i in order {
        if left == 0 {
            break;
        }
        if q[i] < sizes[i] {
            q[i] += 1;
            left -= 1;
        }
    }
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_class_shares_and_is_seeded() {
        let labels: Vec<u8> = (0..1000).map(|i| (i / 100) as u8).collect();
        let pick = stratified(&labels, 95, 7);
        assert_eq!(pick.len(), 95);
        let mut counts = [0; 10];
        for &i in &pick {
            counts[labels[i] as usize] += 1;
        }
        assert!(counts.iter().all(|&c| c == 9 || c == 10), "{counts:?}");
        assert_eq!(pick, stratified(&labels, 95, 7));
        assert_ne!(pick, stratified(&labels, 95, 8));
        let mut sorted = pick.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 95, "no index twice");
    }

    #[test]
    fn all_when_asked_for_more() {
        let labels = vec![0u8, 1, 1, 2];
        let mut pick = stratified(&labels, 10, 1);
        pick.sort();
        assert_eq!(pick, vec![0, 1, 2, 3]);
    }
}
