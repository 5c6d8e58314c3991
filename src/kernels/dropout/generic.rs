//! Dropout for backends without the own kernels (Vulkan): the same mask as
//! on flex (the hash of seed and element index, computed on the host),
//! uploaded and multiplied in, so burn differentiates it.
//!
//! A training loop may hash a step's masks ahead, on another thread
//! ([`MadeMask::make`]), and hand them to the stepping thread
//! ([`provide`]): a call then only uploads. It takes a made mask only when
//! its seed, probability and shape are exactly the call's, so a plan that
//! went wrong costs time, never a different mask.

use burn::tensor::{Tensor, TensorData};
use std::cell::RefCell;
use std::collections::VecDeque;

/// One dropout call's mask (`keep / (1 - prob)` per element), hashed ahead.
pub struct MadeMask {
    seed: u64,
    prob: f64,
    dims: Vec<usize>,
    scale: Vec<f32>,
}

impl MadeMask {
    /// The mask a call with `seed` and `prob` on a tensor of `dims` uses.
    pub fn make(seed: u64, prob: f64, dims: Vec<usize>) -> MadeMask {
        let scale = super::apply_mask(&vec![1.0; dims.iter().product()], prob, seed);
        MadeMask { seed, prob, dims, scale }
    }
}

/// How this thread's dropout calls got their masks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MaskCounts {
    /// Made ahead and used.
    pub ahead: usize,
    /// Hashed in the call (none made, or the one made did not match).
    pub in_step: usize,
}

#[derive(Default)]
struct Ahead {
    masks: VecDeque<MadeMask>,
    counts: MaskCounts,
}

thread_local! {
    static AHEAD: RefCell<Ahead> = RefCell::new(Ahead::default());
}

/// Queues masks for this thread's next dropout calls, in call order.
pub fn provide(masks: Vec<MadeMask>) {
    AHEAD.with(|a| a.borrow_mut().masks.extend(masks));
}

/// This thread's counts since the last call; masks left unused are dropped.
pub fn take_counts() -> MaskCounts {
    AHEAD.with(|a| {
        let mut a = a.borrow_mut();
        a.masks.clear();
        std::mem::take(&mut a.counts)
    })
}

impl Ahead {
    /// The next made mask if it is this call's; otherwise none is trusted.
    fn take(&mut self, seed: u64, prob: f64, dims: &[usize]) -> Option<Vec<f32>> {
        match self.masks.pop_front() {
            Some(m) if m.seed == seed && m.prob == prob && m.dims == dims => {
                self.counts.ahead += 1;
                Some(m.scale)
            }
            other => {
                if other.is_some() {
                    self.masks.clear();
                }
                self.counts.in_step += 1;
                None
            }
        }
    }
}

pub fn dropout<const D: usize>(x: Tensor<D>, prob: f64, seed: u64) -> Tensor<D> {
    let made = AHEAD.with(|a| a.borrow_mut().take(seed, prob, &x.dims()));
    let shape = x.shape();
    let scale = made.unwrap_or_else(|| super::apply_mask(&vec![1.0; shape.num_elements()], prob, seed));
    let mask = Tensor::<D>::from_data(TensorData::new(scale, shape), &x.device());
    x * mask
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_made_mask_is_taken_only_by_its_own_call() {
        let mut ahead = Ahead::default();
        ahead.masks.extend([MadeMask::make(7, 0.25, vec![2, 3]), MadeMask::make(8, 0.5, vec![4])]);
        let inline = super::super::apply_mask(&[1.0; 6], 0.25, 7);
        assert_eq!(ahead.take(7, 0.25, &[2, 3]), Some(inline), "the mask the call would hash");
        assert_eq!(ahead.take(9, 0.5, &[4]), None, "another seed: hashed in the step");
        assert!(ahead.masks.is_empty(), "after a mismatch no made mask is trusted");
        assert_eq!(ahead.counts, MaskCounts { ahead: 1, in_step: 1 });
        ahead.masks.push_back(MadeMask::make(1, 0.5, vec![4]));
        assert_eq!(ahead.take(1, 0.5, &[2, 2]), None, "another shape");
        ahead.masks.push_back(MadeMask::make(1, 0.5, vec![4]));
        assert_eq!(ahead.take(1, 0.25, &[4]), None, "another probability");
    }
}
