//! The Barnes-Hut space-partitioning tree of t-SNE's repulsive forces: a
//! quadtree in 2-D, an octree in 3-D. Built by inserting points in index
//! order and walked in a fixed child order, so forces do not depend on
//! thread scheduling.

const NONE: u32 = u32::MAX;
/// Past this depth points share a leaf (duplicates would split forever).
const MAX_DEPTH: usize = 48;

struct Node<const D: usize> {
    center: [f64; D],
    half: f64,
    sum: [f64; D],
    count: u32,
    /// Index of the first of 2^D children; 0 for a leaf.
    first_child: u32,
    /// A leaf's single point, NONE when empty or shared.
    point: u32,
}

pub struct Tree<const D: usize> {
    nodes: Vec<Node<D>>,
}

impl<const D: usize> Node<D> {
    fn new(center: [f64; D], half: f64) -> Self {
        Node { center, half, sum: [0.0; D], count: 0, first_child: 0, point: NONE }
    }
    fn child_of(&self, y: &[f64]) -> usize {
        (0..D).filter(|&k| y[k] >= self.center[k]).map(|k| 1 << k).sum()
    }
    fn contains(&self, y: &[f64]) -> bool {
        (0..D).all(|k| (y[k] - self.center[k]).abs() <= self.half)
    }
}

impl<const D: usize> Tree<D> {
    /// A tree over the rows of `y` ([n x D]).
    pub fn build(y: &[f64]) -> Tree<D> {
        let mut tree = Self::insert_all(y);
        // From here on `sum` holds the centre of mass.
        for node in tree.nodes.iter_mut().filter(|n| n.count > 0) {
            let inv = 1.0 / node.count as f64;
            node.sum.iter_mut().for_each(|s| *s *= inv);
        }
        tree
    }

    fn insert_all(y: &[f64]) -> Tree<D> {
        let (mut lo, mut hi) = ([f64::INFINITY; D], [f64::NEG_INFINITY; D]);
        for p in y.chunks_exact(D) {
            for k in 0..D {
                lo[k] = lo[k].min(p[k]);
                hi[k] = hi[k].max(p[k]);
            }
        }
        let center: [f64; D] = std::array::from_fn(|k| (lo[k] + hi[k]) / 2.0);
        let half = (0..D).map(|k| (hi[k] - lo[k]) / 2.0).fold(1e-9, f64::max) * (1.0 + 1e-9);
        let mut tree = Tree { nodes: vec![Node::new(center, half)] };
        for (i, p) in y.chunks_exact(D).enumerate() {
            tree.insert(i as u32, p, y);
        }
        tree
    }

    fn insert(&mut self, i: u32, p: &[f64], y: &[f64]) {
        let mut node = 0usize;
        for depth in 0.. {
            let n = &mut self.nodes[node];
            n.count += 1;
            (0..D).for_each(|k| n.sum[k] += p[k]);
            if n.first_child == 0 {
                if n.count == 1 {
                    n.point = i;
                    return;
                }
                if depth >= MAX_DEPTH {
                    n.point = NONE;
                    return;
                }
                let old = n.point;
                self.split(node);
                let old_p = &y[old as usize * D..(old as usize + 1) * D];
                let child = self.nodes[node].first_child as usize + self.nodes[node].child_of(old_p);
                let c = &mut self.nodes[child];
                c.count = 1;
                c.point = old;
                (0..D).for_each(|k| c.sum[k] = old_p[k]);
                self.nodes[node].point = NONE;
            }
            node = self.nodes[node].first_child as usize + self.nodes[node].child_of(p);
        }
    }

    fn split(&mut self, node: usize) {
        let first = self.nodes.len() as u32;
        let (center, half) = (self.nodes[node].center, self.nodes[node].half / 2.0);
        for c in 0..1usize << D {
            let cc: [f64; D] = std::array::from_fn(|k| if c >> k & 1 == 1 { center[k] + half } else { center[k] - half });
            self.nodes.push(Node::new(cc, half));
        }
        self.nodes[node].first_child = first;
    }

    /// Point i's unnormalised repulsion sum_j w_ij^2 (y_i - y_j) into
    /// `force`, returning its share of Z = sum_j w_ij, w = 1 / (1 + d^2).
    pub fn repulsion(&self, i: usize, yi: &[f64], theta: f64, force: &mut [f64; D]) -> f64 {
        let mut z = 0.0;
        *force = [0.0; D];
        // Depth-first with a fixed stack: at most (2^D - 1) entries a level.
        let mut stack = [0u32; (MAX_DEPTH + 2) * 8];
        let mut top = 1usize;
        while top > 0 {
            top -= 1;
            let node = &self.nodes[stack[top] as usize];
            if node.count == 0 {
                continue;
            }
            let diff: [f64; D] = std::array::from_fn(|k| yi[k] - node.sum[k]);
            let d2: f64 = diff.iter().map(|v| v * v).sum();
            let width = 2.0 * node.half;
            let leaf = node.first_child == 0;
            if leaf || width * width < theta * theta * d2 {
                if leaf && node.point == i as u32 {
                    continue;
                }
                let own = leaf && node.point == NONE && node.contains(yi);
                let count = node.count as f64 - if own { 1.0 } else { 0.0 };
                let w = 1.0 / (1.0 + d2);
                z += count * w;
                (0..D).for_each(|k| force[k] += count * w * w * diff[k]);
            } else {
                let first = node.first_child;
                for c in (0..1u32 << D).rev() {
                    stack[top] = first + c;
                    top += 1;
                }
            }
        }
        z
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn theta_zero_gives_exact_forces() {
        let y: Vec<f64> = (0..40).map(|i| ((i * 7919) % 101) as f64 / 10.0).collect();
        let tree = Tree::<2>::build(&y);
        for i in 0..20 {
            let mut f = [0.0; 2];
            let z = tree.repulsion(i, &y[i * 2..i * 2 + 2], 0.0, &mut f);
            let (mut ez, mut ef) = (0.0, [0.0; 2]);
            for j in (0..20).filter(|&j| j != i) {
                let d = [y[i * 2] - y[j * 2], y[i * 2 + 1] - y[j * 2 + 1]];
                let w = 1.0 / (1.0 + d[0] * d[0] + d[1] * d[1]);
                ez += w;
                ef[0] += w * w * d[0];
                ef[1] += w * w * d[1];
            }
            assert!((z - ez).abs() < 1e-9 && (f[0] - ef[0]).abs() < 1e-9 && (f[1] - ef[1]).abs() < 1e-9);
        }
    }
}
