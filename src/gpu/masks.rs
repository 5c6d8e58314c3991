//! Dropout masks hashed ahead of the steps on a host thread, so a step
//! only uploads them (`kernels::dropout::generic`). The thread replays the
//! epoch's dropout seed stream in the order the forward draws it: for each
//! batch, the model's dropout layers in layer order at that batch's shape
//! (the battery's walk of the layers, `kernel_prints::probe`).

use crate::kernel_prints::probe::{Mode, Probe, probes};
use crate::kernels::dropout::generic::MadeMask;
use crate::kernels::dropout::{next_seed, seed_stream};
use crate::model::Cnn;
use std::collections::BTreeMap;
use std::sync::mpsc::{Receiver, sync_channel};

/// Steps whose masks the thread may hash ahead.
const AHEAD: usize = 8;

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
