//! The framing shared by repro's binary files: an 8-byte magic, a u64
//! length and a JSON header, then the payload.

use anyhow::{Context, bail};
use std::io::{Read, Write};
use std::path::Path;

pub fn write_header<T: serde::Serialize>(out: &mut impl Write, magic: &[u8; 8], header: &T) -> anyhow::Result<()> {
    let json = serde_json::to_vec(header)?;
    out.write_all(magic)?;
    out.write_all(&(json.len() as u64).to_le_bytes())?;
    out.write_all(&json)?;
    Ok(())
}

/// Reads and parses the header; `what` names the file kind in errors.
pub fn read_header<T: serde::de::DeserializeOwned>(input: &mut impl Read, magic: &[u8; 8], path: &Path, what: &str) -> anyhow::Result<T> {
    let mut found = [0u8; 8];
    input.read_exact(&mut found).with_context(|| format!("{}: truncated", path.display()))?;
    if &found != magic {
        bail!("{} is not a repro {what} (bad magic)", path.display());
    }
    let mut len = [0u8; 8];
    input.read_exact(&mut len)?;
    let mut json = vec![0u8; u64::from_le_bytes(len) as usize];
    input.read_exact(&mut json).with_context(|| format!("{}: truncated", path.display()))?;
    serde_json::from_slice(&json).with_context(|| format!("{}: bad {what} header", path.display()))
}
