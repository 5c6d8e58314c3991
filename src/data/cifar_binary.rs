//! The official CIFAR-10 binary release: six batch files of 10,000 records,
//! each a label byte then 1024 R, 1024 G, 1024 B bytes (row-major).

use super::archive::{self, Member};
use super::dataset::{CIFAR10_CLASSES, Dataset, IMAGE_BYTES, Provenance, SIDE, Split};
use anyhow::bail;
use std::path::Path;

/// The official release and its published checksums: only a file with
/// these may be called the official CIFAR-10.
pub const OFFICIAL_URL: &str = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz";
pub const OFFICIAL_MD5: &str = "c32a1d4ab5d03f1284b67883e8d87530";
pub const OFFICIAL_SHA256: &str = "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd";
pub const RECORDS_PER_BATCH: usize = 10_000;
pub const RECORD_BYTES: usize = 1 + IMAGE_BYTES;
pub const TRAIN_BATCHES: [&str; 5] = ["data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"];
pub const TEST_BATCH: &str = "test_batch.bin";

/// Whether a member path is one of the six batches (inside
/// `cifar-10-batches-bin/` in the archive, or at a folder's top).
pub fn batch_name(path: &str) -> Option<&str> {
    let name = path.strip_prefix("cifar-10-batches-bin/").unwrap_or(path);
    (TRAIN_BATCHES.contains(&name) || name == TEST_BATCH).then_some(name)
}

/// Reads the six batches of the official archive or its extracted folder.
pub fn load(source: &Path, provenance: Provenance) -> anyhow::Result<Dataset> {
    let size = (RECORDS_PER_BATCH * RECORD_BYTES) as u64;
    let members = archive::read_members(source, size, |p| batch_name(p).is_some())?;
    from_members(source, &members, provenance)
}

/// The dataset from already-read members (other members are ignored).
pub fn from_members(source: &Path, members: &[Member], provenance: Provenance) -> anyhow::Result<Dataset> {
    let find = |name: &str| -> anyhow::Result<&Member> {
        let found: Vec<&Member> = members.iter().filter(|m| batch_name(&m.path) == Some(name)).collect();
        match found.as_slice() {
            [one] => Ok(one),
            [] => bail!("{}: missing {name}; the CIFAR-10 binary release has data_batch_1..5.bin and test_batch.bin", source.display()),
            _ => bail!("{}: {name} appears more than once", source.display()),
        }
    };
    let mut train = Split::default();
    for name in TRAIN_BATCHES {
        parse_batch(source, find(name)?, &mut train)?;
    }
    let mut test = Split::default();
    parse_batch(source, find(TEST_BATCH)?, &mut test)?;
    Ok(Dataset { classes: CIFAR10_CLASSES.iter().map(|s| s.to_string()).collect(), provenance, train, test })
}

/// Appends one batch's records (planar RGB) to `split` as interleaved RGB.
fn parse_batch(source: &Path, member: &Member, split: &mut Split) -> anyhow::Result<()> {
    if member.bytes.len() != RECORDS_PER_BATCH * RECORD_BYTES {
        bail!(
            "{}: {} has {} bytes; a batch is exactly {RECORDS_PER_BATCH} records of {RECORD_BYTES} bytes",
            source.display(),
            member.path,
            member.bytes.len()
        );
    }
    let plane = SIDE * SIDE;
    let mut image = vec![0u8; IMAGE_BYTES];
    for (r, record) in member.bytes.chunks_exact(RECORD_BYTES).enumerate() {
        let label = record[0];
        if label as usize >= CIFAR10_CLASSES.len() {
            bail!("{}: {} record {r} has label {label}; labels are 0..9", source.display(), member.path);
        }
        for p in 0..plane {
            for c in 0..3 {
                image[p * 3 + c] = record[1 + c * plane + p];
            }
        }
        split.push(&image, label);
    }
    Ok(())
}

/// Encodes records in the official format (for tests and local mirrors).
pub fn encode_batch(images: &[u8], labels: &[u8]) -> Vec<u8> {
    let plane = SIDE * SIDE;
    let mut out = Vec::with_capacity(labels.len() * RECORD_BYTES);
    for (i, &label) in labels.iter().enumerate() {
        out.push(label);
        let img = &images[i * IMAGE_BYTES..(i + 1) * IMAGE_BYTES];
        for c in 0..3 {
            out.extend((0..plane).map(|p| img[p * 3 + c]));
        }
    }
    out
}
