//! The `gradcam` kind's output: one heatmap a class (Figure 6).

pub const GRADCAM: &str = "gradcam.json";

/// One row of Figure 6.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct CamRow {
    pub class: u8,
    pub name: String,
    /// Index into the test split.
    pub index: usize,
    pub predicted: u8,
    /// The 8x8 map before upsampling.
    pub cam: Vec<f32>,
    /// 32x32, scaled to 0..1.
    pub heat: Vec<f32>,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct GradcamFile {
    pub model: String,
    pub rows: Vec<CamRow>,
}
