//! The `features` artifact: layer outputs for a sample of test images, with
//! their labels and indices, framed like repro's other binary files.

use crate::model::extract::Tap;
use anyhow::Context;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

/// Layer outputs of a sample of test images (this file's format).
pub const FEATURES: &str = "features.bin";

const MAGIC: &[u8; 8] = b"REPROFT1";

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct FeatureHeader {
    /// The model's label (final, center, ...).
    pub model: String,
    pub classes: Vec<String>,
    /// Test-set indices of the sampled images.
    pub indices: Vec<usize>,
    pub labels: Vec<u8>,
    /// The model's predicted class of each image (files written before
    /// it was recorded have none).
    #[serde(default)]
    pub predictions: Option<Vec<u8>>,
    /// Each tap's width; matrices follow in this order.
    pub taps: Vec<(Tap, usize)>,
}

pub struct Features {
    pub header: FeatureHeader,
    /// One row-major [n x width] matrix per tap.
    pub matrices: Vec<Vec<f32>>,
}

impl Features {
    pub fn get(&self, tap: Tap) -> Option<(&[f32], usize)> {
        self.header.taps.iter().position(|(t, _)| *t == tap).map(|i| (self.matrices[i].as_slice(), self.header.taps[i].1))
    }

    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        let mut out = BufWriter::new(std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?);
        crate::framed::write_header(&mut out, MAGIC, &self.header)?;
        for m in &self.matrices {
            for v in m {
                out.write_all(&v.to_le_bytes())?;
            }
        }
        out.flush()?;
        Ok(())
    }

    pub fn read(path: &Path) -> anyhow::Result<Features> {
        let mut input = BufReader::new(std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?);
        let header: FeatureHeader = crate::framed::read_header(&mut input, MAGIC, path, "features file")?;
        let n = header.labels.len();
        let mut matrices = Vec::new();
        for (_, width) in &header.taps {
            let mut bytes = vec![0u8; n * width * 4];
            input.read_exact(&mut bytes).with_context(|| format!("{}: truncated", path.display()))?;
            matrices.push(bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect());
        }
        Ok(Features { header, matrices })
    }
}
