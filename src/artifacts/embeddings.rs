//! The `tsne` kind's output: each layer's PCA and t-SNE embeddings with
//! their separation metrics.

use crate::embedding::metrics::Separation;
use crate::model::extract::Tap;

pub const EMBEDDINGS: &str = "embeddings.json";

/// One embedding of one layer.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Embedding {
    pub dims: usize,
    /// Row-major [n x dims].
    pub points: Vec<f32>,
    pub separation: Separation,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct LayerEmbeddings {
    pub layer: Tap,
    pub width: usize,
    pub raw: Separation,
    pub pca_dims: usize,
    pub pca_explained: f64,
    pub pca: Separation,
    pub embeddings: Vec<Embedding>,
}

/// The stage's output, `embeddings.json`.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct EmbeddingsFile {
    pub model: String,
    pub classes: Vec<String>,
    pub labels: Vec<u8>,
    /// Test-set index and predicted class of each point (the report's
    /// interactive views show them); absent in files made before.
    #[serde(default)]
    pub indices: Vec<usize>,
    #[serde(default)]
    pub predictions: Option<Vec<u8>>,
    pub layers: Vec<LayerEmbeddings>,
}
