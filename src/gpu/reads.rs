//! Reads from the device to the host, counted: each one waits for the GPU
//! to finish everything queued before it, so a loop that reads once per
//! step keeps the GPU idle for a round trip every step.

use burn::tensor::{Int, Tensor};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Every device-to-host read of a training loop goes through here.
#[derive(Debug, Default)]
pub struct HostReads {
    count: AtomicUsize,
}

impl HostReads {
    /// Reads a float tensor to the host.
    pub fn floats<const D: usize>(&self, tensor: Tensor<D>) -> Vec<f32> {
        self.add(1);
        tensor.into_data().try_into_vec_as::<f32>().expect("a float tensor reads as f32")
    }

    /// Reads an integer tensor to the host.
    pub fn ints<const D: usize>(&self, tensor: Tensor<D, Int>) -> Vec<i64> {
        self.add(1);
        tensor.into_data().try_into_vec_as::<i64>().expect("an integer tensor reads as i64")
    }

    /// Counts `n` reads made inside a library call (a checkpoint's records).
    pub fn add(&self, n: usize) {
        self.count.fetch_add(n, Ordering::Relaxed);
    }

    /// Reads so far.
    pub fn so_far(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }
}
