//! Per-thread reusable f32 buffers for the kernels' temporaries (padded
//! planes, blocked gradients, tile rows): allocating and zeroing them
//! afresh every call cost several percent of a training step.

use std::cell::RefCell;

thread_local! {
    static FREE: RefCell<Vec<Vec<f32>>> = const { RefCell::new(Vec::new()) };
}

/// A buffer of `len` values from this thread's free list, or a new one.
/// Its values are left over from earlier use: write before reading.
pub fn take(len: usize) -> Vec<f32> {
    let mut buffer = FREE.with(|free| free.borrow_mut().pop()).unwrap_or_default();
    buffer.resize(len, 0.0);
    buffer
}

/// Returns a buffer from `take` for reuse on this thread.
pub fn give(buffer: Vec<f32>) {
    FREE.with(|free| free.borrow_mut().push(buffer));
}
