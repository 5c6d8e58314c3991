//! A seeded 10-class image generator for tests and offline demos. Each
//! class is a shape; position, size, colour, background and noise vary,
//! and colour only weakly hints at the class, so a model must learn shape.
//! Shapes are large and stand out from a dim background, so that the smoke
//! profile's few steps visibly learn them (v2; v1 kept every model at chance).

use super::dataset::{CHANNELS, Dataset, IMAGE_BYTES, Provenance, SIDE, Split};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

pub const SHAPES: [&str; 10] = ["disc", "square", "triangle", "plus", "ring", "h-bars", "v-bars", "x-cross", "checker", "two-dots"];

/// `train` and `test` images; image i of a split depends only on (seed, split, i).
pub fn generate(train: usize, test: usize, seed: u64) -> Dataset {
    Dataset {
        classes: SHAPES.iter().map(|s| s.to_string()).collect(),
        provenance: Provenance {
            kind: "synthetic".into(),
            description: format!("synthetic shapes, seed {seed}, {train} train / {test} test"),
            sha256: repro_engine::hashing::sha256_hex(format!("synthetic-v2 {seed} {train} {test}").as_bytes()),
            label: "synthetic data (not CIFAR-10)".into(),
        },
        train: split(seed, 0, train),
        test: split(seed, 1, test),
    }
}

fn split(seed: u64, which: u64, n: usize) -> Split {
    let images: Vec<(Vec<u8>, u8)> = (0..n).into_par_iter().map(|i| image(seed, which, i as u64)).collect();
    let mut out = Split::default();
    for (img, label) in images {
        out.push(&img, label);
    }
    out
}

/// One image and its label.
pub fn image(seed: u64, which: u64, index: u64) -> (Vec<u8>, u8) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ which.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ index.wrapping_mul(0xD1B5_4A32_D192_ED03));
    let label = (index % 10) as u8;
    let mut px = background(&mut rng);
    let colour = shape_colour(&mut rng, label);
    let cx = rng.random_range(12.0..20.0);
    let cy = rng.random_range(12.0..20.0);
    let r = rng.random_range(8.0..11.0);
    for y in 0..SIDE {
        for x in 0..SIDE {
            let (dx, dy) = (x as f32 + 0.5 - cx, y as f32 + 0.5 - cy);
            if inside(label, dx, dy, r) {
                let p = (y * SIDE + x) * CHANNELS;
                px[p..p + 3].copy_from_slice(&colour);
            }
        }
    }
    for v in px.iter_mut() {
        let noise: f32 = rng.random_range(-10.0..10.0);
        *v = (*v as f32 + noise).clamp(0.0, 255.0) as u8;
    }
    (px, label)
}

/// A smooth two-colour gradient in a random direction.
fn background(rng: &mut ChaCha8Rng) -> Vec<u8> {
    let a: [f32; 3] = std::array::from_fn(|_| rng.random_range(0.0..90.0));
    let b: [f32; 3] = std::array::from_fn(|_| rng.random_range(0.0..90.0));
    let angle: f32 = rng.random_range(0.0..std::f32::consts::TAU);
    let (s, c) = angle.sin_cos();
    let mut px = vec![0u8; IMAGE_BYTES];
    for y in 0..SIDE {
        for x in 0..SIDE {
            let t = (((x as f32 - 16.0) * c + (y as f32 - 16.0) * s) / 45.0 + 0.5).clamp(0.0, 1.0);
            for ch in 0..3 {
                px[(y * SIDE + x) * CHANNELS + ch] = (a[ch] * (1.0 - t) + b[ch] * t) as u8;
            }
        }
    }
    px
}

/// Bright colour; half the time near the class's hue, else any hue.
fn shape_colour(rng: &mut ChaCha8Rng, label: u8) -> [u8; 3] {
    let hue = if rng.random_bool(0.5) { label as f32 / 10.0 + rng.random_range(-0.05..0.05) } else { rng.random_range(0.0..1.0) };
    let h = hue.rem_euclid(1.0) * 6.0;
    let x = 1.0 - ((h % 2.0) - 1.0).abs();
    let (r, g, b) = match h as u32 {
        0 => (1.0, x, 0.0),
        1 => (x, 1.0, 0.0),
        2 => (0.0, 1.0, x),
        3 => (0.0, x, 1.0),
        4 => (x, 0.0, 1.0),
        _ => (1.0, 0.0, x),
    };
    let v = rng.random_range(180.0..255.0);
    [(r * v) as u8 + 40, (g * v) as u8 + 40, (b * v) as u8 + 40].map(|c: u8| c.max(60))
}

/// Whether offset (dx, dy) from the centre lies in class `label`'s shape of radius r.
fn inside(label: u8, dx: f32, dy: f32, r: f32) -> bool {
    let d = (dx * dx + dy * dy).sqrt();
    match label {
        0 => d <= r,
        1 => dx.abs() <= r * 0.8 && dy.abs() <= r * 0.8,
        2 => dy <= r * 0.8 && dy >= -r && dx.abs() <= (dy + r) * 0.55,
        3 => (dx.abs() <= r * 0.3 && dy.abs() <= r) || (dy.abs() <= r * 0.3 && dx.abs() <= r),
        4 => d <= r && d >= r * 0.55,
        5 => dx.abs() <= r && dy.abs() <= r && ((dy + r) as i32 / 2) % 2 == 0,
        6 => dx.abs() <= r && dy.abs() <= r && ((dx + r) as i32 / 2) % 2 == 0,
        7 => dx.abs() <= r && dy.abs() <= r && ((dx - dy).abs() <= 1.6 || (dx + dy).abs() <= 1.6),
        8 => dx.abs() <= r && dy.abs() <= r && (((dx + r) / 3.0) as i32 + ((dy + r) / 3.0) as i32) % 2 == 0,
        _ => ((dx - r * 0.5).powi(2) + dy * dy).sqrt() <= r * 0.4 || ((dx + r * 0.5).powi(2) + dy * dy).sqrt() <= r * 0.4,
    }
}
