//! The normalised dataset artifact: u8 HWC images, labels, class names and
//! where the data came from, in one compact binary file.

use anyhow::{Context, bail};
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::Path;

/// CIFAR-10's classes in its label order.
pub const CIFAR10_CLASSES: [&str; 10] = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];
pub const SIDE: usize = 32;
pub const CHANNELS: usize = 3;
pub const IMAGE_BYTES: usize = SIDE * SIDE * CHANNELS;
const MAGIC: &[u8; 8] = b"REPRODS1";

/// Images (row-major, interleaved RGB) and their labels.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Split {
    pub images: Vec<u8>,
    pub labels: Vec<u8>,
}

impl Split {
    pub fn len(&self) -> usize {
        self.labels.len()
    }
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
    pub fn image(&self, i: usize) -> &[u8] {
        &self.images[i * IMAGE_BYTES..(i + 1) * IMAGE_BYTES]
    }
    pub fn push(&mut self, image: &[u8], label: u8) {
        debug_assert_eq!(image.len(), IMAGE_BYTES);
        self.images.extend_from_slice(image);
        self.labels.push(label);
    }
    /// The images at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> Split {
        let mut out = Split { images: Vec::with_capacity(indices.len() * IMAGE_BYTES), labels: Vec::with_capacity(indices.len()) };
        for &i in indices {
            out.push(self.image(i), self.labels[i]);
        }
        out
    }
    /// Images per class, indexed by label.
    pub fn class_counts(&self, classes: usize) -> Vec<usize> {
        let mut counts = vec![0; classes];
        for &l in &self.labels {
            counts[l as usize] += 1;
        }
        counts
    }
}

/// Where the data came from, carried into every report.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Provenance {
    /// `synthetic`, `official` or `image-folder`.
    pub kind: String,
    /// Human description (file name, URL or generator settings).
    pub description: String,
    /// sha256 of the source archive or folder listing (or generator params).
    pub sha256: String,
    /// A label the report must show next to numbers from this data.
    pub label: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Dataset {
    pub classes: Vec<String>,
    pub provenance: Provenance,
    pub train: Split,
    pub test: Split,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Header {
    classes: Vec<String>,
    provenance: Provenance,
    side: usize,
    channels: usize,
    train: usize,
    test: usize,
}

impl Dataset {
    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        let header = Header {
            classes: self.classes.clone(),
            provenance: self.provenance.clone(),
            side: SIDE,
            channels: CHANNELS,
            train: self.train.len(),
            test: self.test.len(),
        };
        let mut out = BufWriter::new(File::create(path).with_context(|| format!("cannot create {}", path.display()))?);
        crate::framed::write_header(&mut out, MAGIC, &header)?;
        for split in [&self.train, &self.test] {
            out.write_all(&split.images)?;
            out.write_all(&split.labels)?;
        }
        out.flush()?;
        Ok(())
    }

    pub fn read(path: &Path) -> anyhow::Result<Dataset> {
        let mut input = BufReader::new(File::open(path).with_context(|| format!("cannot open dataset {}", path.display()))?);
        let header: Header = crate::framed::read_header(&mut input, MAGIC, path, "dataset")?;
        if header.side != SIDE || header.channels != CHANNELS {
            bail!("{}: images are {}x{}x{}, expected 32x32x3", path.display(), header.side, header.side, header.channels);
        }
        let mut read_split = |n: usize| -> anyhow::Result<Split> {
            let mut split = Split { images: vec![0; n * IMAGE_BYTES], labels: vec![0; n] };
            input.read_exact(&mut split.images)?;
            input.read_exact(&mut split.labels)?;
            Ok(split)
        };
        let train = read_split(header.train).with_context(|| format!("{}: truncated", path.display()))?;
        let test = read_split(header.test).with_context(|| format!("{}: truncated", path.display()))?;
        Ok(Dataset { classes: header.classes, provenance: header.provenance, train, test })
    }
}
