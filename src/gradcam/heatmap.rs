//! Heatmap colours (jet: blue = least, red = most contribution) and the
//! overlay of a heatmap on its image.

/// Jet colour of t in 0..1.
pub fn jet(t: f32) -> [u8; 3] {
    let t = t.clamp(0.0, 1.0);
    let channel = |centre: f32| ((1.5 - (4.0 * t - centre).abs()).clamp(0.0, 1.0) * 255.0).round() as u8;
    [channel(3.0), channel(2.0), channel(1.0)]
}

/// RGB (HWC) picture of a heatmap.
pub fn colour(heat: &[f32]) -> Vec<u8> {
    heat.iter().flat_map(|&t| jet(t)).collect()
}

/// The image (HWC u8) blended with the heatmap's colours.
pub fn overlay(image: &[u8], heat: &[f32], opacity: f32) -> Vec<u8> {
    image
        .chunks_exact(3)
        .zip(heat)
        .flat_map(|(px, &t)| {
            let c = jet(t);
            std::array::from_fn::<u8, 3, _>(|k| ((1.0 - opacity) * px[k] as f32 + opacity * c[k] as f32).round() as u8)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn jet_runs_blue_to_red() {
        assert_eq!(super::jet(0.0), [0, 0, 128]);
        assert_eq!(super::jet(1.0), [128, 0, 0]);
        assert_eq!(super::jet(0.5), [128, 255, 128]);
    }
}
