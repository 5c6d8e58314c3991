//! Every stage's output files in one place: their names as constants and
//! typed readers, so a stage that consumes another's outputs imports the
//! artifact, never the stage that wrote it.

pub mod dataset;
pub mod embeddings;
pub mod features;
pub mod gradcam;
pub mod sweep;
pub mod train;

use anyhow::Context;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One upstream stage's outputs as a stage sees them: file name -> path.
pub type Outputs = BTreeMap<String, PathBuf>;

/// Every upstream stage's outputs: stage name -> its outputs.
pub type Inputs = BTreeMap<String, Outputs>;

/// A JSON artifact, the error naming the file.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> anyhow::Result<T> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("{}: not a valid {}", path.display(), file_name(path)))
}

/// The first upstream output called `name`, with the stage that made it.
pub fn find<'a>(inputs: &'a Inputs, name: &str) -> Option<(&'a str, &'a Path)> {
    inputs.iter().find_map(|(stage, outs)| outs.get(name).map(|p| (stage.as_str(), p.as_path())))
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}
