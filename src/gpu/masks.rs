//! Dropout masks hashed ahead of the steps on a host thread, so a step
//! only uploads them. The thread replays the epoch's dropout seed stream
//! in the order the forward draws it: for each batch, the model's dropout
//! layers in layer order at that batch's shape (the battery's walk of the
//! layers, `kernel_prints::probe`). The step's own forward (`forward`)
//! draws its seeds as flex's dropout does and takes a made mask only when
//! its seed, probability and shape are exactly the call's; otherwise it
//! hashes its own, so a plan that went wrong costs time, never a mask.
//!
//! Here rather than in `kernels::dropout`: those files are in every flex
//! training's key by their tokens until the quick models are carried to
//! kernel prints (issue 33), so they stay as they are.

use crate::kernel_prints::probe::{Mode, Probe, probes};
use crate::kernels::dropout::{apply_mask, next_seed, seed_stream};
use crate::model::Cnn;
use burn::nn::Dropout;
use burn::tensor::{Tensor, TensorData};
use std::collections::{BTreeMap, VecDeque};
use std::sync::mpsc::{Receiver, sync_channel};

/// Steps whose masks the thread may hash ahead.
const AHEAD: usize = 8;

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
        let scale = apply_mask(&vec![1.0; dims.iter().product()], prob, seed);
        MadeMask { seed, prob, dims, scale }
    }
}

/// How dropout calls got their masks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MaskCounts {
    /// Made ahead and used.
    pub ahead: usize,
    /// Hashed in the step (none made, or the one made was another call's).
    pub in_step: usize,
}

impl std::ops::Add for MaskCounts {
    type Output = MaskCounts;
    fn add(self, other: MaskCounts) -> MaskCounts {
        MaskCounts { ahead: self.ahead + other.ahead, in_step: self.in_step + other.in_step }
    }
}

/// The masks made for the step being run, in call order.
#[derive(Default)]
pub struct StepMasks {
    masks: VecDeque<MadeMask>,
    pub counts: MaskCounts,
}

impl StepMasks {
    /// Queues a step's masks (none: its calls hash their own).
    pub fn provide(&mut self, masks: Vec<MadeMask>) {
        self.masks.clear();
        self.masks.extend(masks);
    }

    /// `layer` on `x` as `kernels::dropout::dropout` computes it off flex
    /// (the identity outside training, on a device without autodiff, or at
    /// prob 0; else `x` times the mask of the next seed), the mask made
    /// ahead when it is this call's.
    pub fn dropout<const D: usize>(&mut self, layer: &Dropout, x: Tensor<D>) -> Tensor<D> {
        if !layer.training.is_enabled() || !x.device().is_autodiff() || layer.prob == 0.0 {
            return x;
        }
        let seed = next_seed();
        let scale =
            self.take(seed, layer.prob, &x.dims()).unwrap_or_else(|| apply_mask(&vec![1.0; x.shape().num_elements()], layer.prob, seed));
        let mask = Tensor::<D>::from_data(TensorData::new(scale, x.shape()), &x.device());
        x * mask
    }

    /// The next made mask if it is this call's; after a mismatch none is trusted.
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

/// `(shape, prob)` of each dropout call a training step on `n` images makes.
fn calls(model: &Cnn, n: usize) -> Vec<(Vec<usize>, f64)> {
    let dropout = |p: Probe| match p {
        Probe::Dropout { input, prob } => Some((input, prob)),
        _ => None,
    };
    probes(model, n, Mode::Train).into_iter().filter_map(dropout).collect()
}

/// Starts hashing the masks of steps on `sizes` images (one per batch, in
/// order) from the epoch's dropout seed; receive one step's masks before
/// its forward.
pub fn start<'s>(scope: &'s std::thread::Scope<'s, '_>, model: &Cnn, sizes: Vec<usize>, epoch_seed: u64) -> Receiver<Vec<MadeMask>> {
    let plans: BTreeMap<usize, Vec<(Vec<usize>, f64)>> = sizes.iter().map(|&n| (n, calls(model, n))).collect();
    let (tx, rx) = sync_channel(AHEAD);
    scope.spawn(move || {
        seed_stream(epoch_seed);
        for n in sizes {
            let masks = plans[&n].iter().map(|(dims, prob)| MadeMask::make(next_seed(), *prob, dims.clone())).collect();
            // The receiver is gone only when the epoch ended early.
            if tx.send(masks).is_err() {
                return;
            }
        }
    });
    rx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_made_mask_is_taken_only_by_its_own_call() {
        let mut step = StepMasks::default();
        step.provide(vec![MadeMask::make(7, 0.25, vec![2, 3]), MadeMask::make(8, 0.5, vec![4])]);
        assert_eq!(step.take(7, 0.25, &[2, 3]), Some(apply_mask(&[1.0; 6], 0.25, 7)), "the mask the call would hash");
        assert_eq!(step.take(9, 0.5, &[4]), None, "another seed: hashed in the step");
        assert!(step.masks.is_empty(), "after a mismatch no made mask is trusted");
        assert_eq!(step.counts, MaskCounts { ahead: 1, in_step: 1 });
        step.provide(vec![MadeMask::make(1, 0.5, vec![4])]);
        assert_eq!(step.take(1, 0.5, &[2, 2]), None, "another shape");
        step.provide(vec![MadeMask::make(1, 0.5, vec![4])]);
        assert_eq!(step.take(1, 0.25, &[4]), None, "another probability");
    }
}
