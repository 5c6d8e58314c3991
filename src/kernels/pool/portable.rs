//! The portable kernels: one output row at a time, scalar.

/// One output row from its two input rows; the first maximum in row-major
/// order wins.
pub fn pool_row((top, bottom): (&[f32], &[f32]), out: &mut [f32], win: &mut [u8]) {
    for (ox, (out, win)) in out.iter_mut().zip(win.iter_mut()).enumerate() {
        let window = [top[2 * ox], top[2 * ox + 1], bottom[2 * ox], bottom[2 * ox + 1]];
        let best = (1..4).fold(0, |best, i| if window[i] > window[best] { i } else { best });
        *out = window[best];
        *win = best as u8;
    }
}

/// Writes each gradient of an output row at its window's winner in the
/// two input rows (which start zeroed).
pub fn unpool_row(g: &[f32], win: &[u8], top: &mut [f32], bottom: &mut [f32]) {
    for (ox, (g, k)) in g.iter().zip(win).enumerate() {
        let row = if *k < 2 { &mut *top } else { &mut *bottom };
        row[2 * ox + (*k as usize) % 2] = *g;
    }
}
