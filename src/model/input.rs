//! Turning dataset images and labels into model inputs.

use crate::data::augment::Augment;
use crate::data::dataset::{IMAGE_BYTES, SIDE, Split};
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand_chacha::ChaCha8Rng;

/// Images `indices` of `split` as a [N, 3, H, W] tensor in 0..1 (optionally augmented).
pub fn batch_images(split: &Split, indices: &[usize], augment: Option<(&Augment, &mut ChaCha8Rng)>, device: &Device) -> Tensor<4> {
    let plane = SIDE * SIDE;
    let mut chw = vec![0f32; indices.len() * IMAGE_BYTES];
    let mut aug = augment;
    for (n, &i) in indices.iter().enumerate() {
        let mut hwc: Vec<f32> = split.image(i).iter().map(|&v| v as f32 / 255.0).collect();
        if let Some((a, rng)) = aug.as_mut() {
            hwc = a.apply(hwc, *rng);
        }
        let out = &mut chw[n * IMAGE_BYTES..(n + 1) * IMAGE_BYTES];
        for p in 0..plane {
            for c in 0..3 {
                out[c * plane + p] = hwc[p * 3 + c];
            }
        }
    }
    Tensor::from_data(TensorData::new(chw, [indices.len(), 3, SIDE, SIDE]), device)
}

pub fn batch_labels(split: &Split, indices: &[usize], device: &Device) -> Tensor<1, Int> {
    let labels: Vec<i64> = indices.iter().map(|&i| split.labels[i] as i64).collect();
    Tensor::from_data(TensorData::new(labels, [indices.len()]), device)
}
