//! On-the-fly augmentation as Keras's ImageDataGenerator does it: random
//! rotation (bilinear, nearest-edge fill) and random horizontal flip.

use crate::data::dataset::SIDE;
use rand::Rng;

/// Rotates an interleaved-RGB 32x32 image by `degrees` about its centre;
/// samples outside the image take the nearest edge pixel.
pub fn rotate(image: &[f32], degrees: f32) -> Vec<f32> {
    if degrees == 0.0 {
        return image.to_vec();
    }
    let (s, c) = degrees.to_radians().sin_cos();
    let centre = (SIDE as f32 - 1.0) / 2.0;
    let mut out = vec![0.0; image.len()];
    for y in 0..SIDE {
        for x in 0..SIDE {
            let (dx, dy) = (x as f32 - centre, y as f32 - centre);
            // Inverse mapping: where in the source does this pixel come from.
            let sx = c * dx + s * dy + centre;
            let sy = -s * dx + c * dy + centre;
            let px = bilinear(image, sx, sy);
            out[(y * SIDE + x) * 3..(y * SIDE + x) * 3 + 3].copy_from_slice(&px);
        }
    }
    out
}

fn bilinear(image: &[f32], x: f32, y: f32) -> [f32; 3] {
    let max = (SIDE - 1) as f32;
    let (x, y) = (x.clamp(0.0, max), y.clamp(0.0, max));
    let (x0, y0) = (x.floor() as usize, y.floor() as usize);
    let (x1, y1) = ((x0 + 1).min(SIDE - 1), (y0 + 1).min(SIDE - 1));
    let (fx, fy) = (x - x0 as f32, y - y0 as f32);
    let at = |xx: usize, yy: usize, ch: usize| image[(yy * SIDE + xx) * 3 + ch];
    std::array::from_fn(|ch| {
        let top = at(x0, y0, ch) * (1.0 - fx) + at(x1, y0, ch) * fx;
        let bottom = at(x0, y1, ch) * (1.0 - fx) + at(x1, y1, ch) * fx;
        top * (1.0 - fy) + bottom * fy
    })
}

/// Mirrors an interleaved-RGB image left to right.
pub fn flip(image: &[f32]) -> Vec<f32> {
    let mut out = vec![0.0; image.len()];
    for y in 0..SIDE {
        for x in 0..SIDE {
            let (src, dst) = ((y * SIDE + x) * 3, (y * SIDE + SIDE - 1 - x) * 3);
            out[dst..dst + 3].copy_from_slice(&image[src..src + 3]);
        }
    }
    out
}

/// Augmentation settings (a pipeline parameter each).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Augment {
    pub rotation_degrees: f32,
    pub horizontal_flip: bool,
}

impl Augment {
    /// A random rotation in [-r, r] and a coin-flip mirror.
    pub fn apply(&self, image: Vec<f32>, rng: &mut impl Rng) -> Vec<f32> {
        let angle = if self.rotation_degrees > 0.0 { rng.random_range(-self.rotation_degrees..=self.rotation_degrees) } else { 0.0 };
        let mut out = rotate(&image, angle);
        if self.horizontal_flip && rng.random_bool(0.5) {
            out = flip(&out);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image() -> Vec<f32> {
        (0..SIDE * SIDE * 3).map(|i| (i % 97) as f32 / 97.0).collect()
    }

    #[test]
    fn zero_rotation_and_double_flip_are_identity() {
        let img = image();
        assert_eq!(rotate(&img, 0.0), img);
        assert_eq!(flip(&flip(&img)), img);
        assert_ne!(flip(&img), img);
    }

    #[test]
    fn quarter_turn_moves_corners() {
        let mut img = vec![0.0; SIDE * SIDE * 3];
        img[0] = 1.0; // top-left, red
        let r = rotate(&img, 90.0);
        let idx = |x: usize, y: usize| (y * SIDE + x) * 3;
        // A 90-degree counter-clockwise turn (Keras's sign) sends top-left to bottom-left
        // or top-right depending on orientation; exactly one corner holds the pixel.
        let corners = [idx(0, 0), idx(SIDE - 1, 0), idx(0, SIDE - 1), idx(SIDE - 1, SIDE - 1)];
        let lit: Vec<usize> = corners.iter().copied().filter(|&i| r[i] > 0.99).collect();
        assert_eq!(lit.len(), 1);
        assert_ne!(lit[0], idx(0, 0));
    }

    #[test]
    fn rotation_fills_from_the_nearest_edge() {
        let img: Vec<f32> = vec![0.5; SIDE * SIDE * 3];
        let r = rotate(&img, 15.0);
        assert!(r.iter().all(|&v| (v - 0.5).abs() < 1e-6), "no black corners with nearest fill");
    }
}
