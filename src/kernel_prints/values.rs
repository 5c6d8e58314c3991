//! The battery's inputs: seeded by the probe's name, and chosen so that a
//! kernel computing differently shows in its output bits. Both signs,
//! magnitudes over 2^-8..2^4 (so a changed summation order rounds
//! differently), exact zeros (the ReLU's and max-pool's boundary, a
//! dropped unit's gradient) and runs of equal values (ties inside a
//! max-pool window, which one takes the gradient).

use repro_engine::hashing::sha256_hex;

/// A SplitMix64 stream: fixed across platforms and crate versions.
pub struct Stream(u64);

impl Stream {
    /// The stream of `label` (a probe's name and an input's role).
    pub fn of(label: &str) -> Stream {
        let digest = sha256_hex(label.as_bytes());
        Stream(u64::from_str_radix(&digest[..16], 16).expect("hex digits"))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// `len` values for input `role` of probe `probe`, scaled by `scale`.
pub fn values(probe: &str, role: &str, len: usize, scale: f32) -> Vec<f32> {
    let mut stream = Stream::of(&format!("{probe} / {role}"));
    let mut out: Vec<f32> = Vec::with_capacity(len);
    for _ in 0..len {
        let r = stream.next_u64();
        let previous = out.last().copied().unwrap_or(0.0);
        let value = match r % 16 {
            0 => 0.0,
            1 => previous,
            2 => -previous,
            _ => {
                let sign = if r & 16 == 0 { 1.0 } else { -1.0 };
                let exponent = ((r >> 5) % 13) as i32 - 8;
                let mantissa = 1.0 + ((r >> 12) & 0x7F_FFFF) as f32 / (1u32 << 23) as f32;
                sign * mantissa * 2f32.powi(exponent) * scale
            }
        };
        out.push(value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::values;

    #[test]
    fn inputs_hold_zeros_ties_both_signs_and_wide_magnitudes() {
        let v = values("conv forward at 2x3x8x8->4", "x", 4096, 1.0);
        assert_eq!(v, values("conv forward at 2x3x8x8->4", "x", 4096, 1.0), "seeded");
        assert_ne!(v, values("conv forward at 2x3x8x8->4", "weight", 4096, 1.0), "each role its own stream");
        assert!(v.iter().filter(|x| **x == 0.0).count() > 100);
        assert!(v.windows(2).filter(|w| w[0] == w[1] && w[0] != 0.0).count() > 100);
        assert!(v.iter().any(|x| *x < 0.0) && v.iter().any(|x| *x > 0.0));
        let magnitudes: Vec<f32> = v.iter().filter(|x| **x != 0.0).map(|x| x.abs()).collect();
        assert!(magnitudes.iter().any(|m| *m < 0.01) && magnitudes.iter().any(|m| *m > 8.0));
    }
}
