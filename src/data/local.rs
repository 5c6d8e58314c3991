//! A local source (the official binary archive or folder, or an
//! image-folder tree or archive) loaded into a dataset; kept apart from
//! the dataset type so that what reads a dataset does not depend on the
//! loaders (nor does its key).

use super::dataset::{Dataset, Provenance};
use super::{archive, cifar_binary, image_folder};
use std::path::Path;

/// Loads a local source: the official binary archive or folder, or an
/// image-folder tree or archive. The format is told by the members found.
pub fn load(source: &Path, sha256: &str) -> anyhow::Result<Dataset> {
    let max = (cifar_binary::RECORDS_PER_BATCH * cifar_binary::RECORD_BYTES) as u64;
    let members = archive::read_members(source, max, |p| cifar_binary::batch_name(p).is_some() || image_folder::parse_path(p).is_some())?;
    let name = source.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    if members.iter().any(|m| cifar_binary::batch_name(&m.path).is_some()) {
        return cifar_binary::from_members(source, &members, binary_provenance(&name, sha256));
    }
    let provenance = Provenance {
        kind: "image-folder".into(),
        description: format!("image folder {name}"),
        sha256: sha256.into(),
        label: if members.iter().any(|m| m.path.ends_with(".jpg") || m.path.ends_with(".jpeg")) {
            format!("CIFAR-10 JPEG copy {name} (lossy re-encoding, not the official pixels)")
        } else {
            format!("CIFAR-10 image folder {name}")
        },
    };
    image_folder::from_members(source, members, provenance)
}

/// Official only with the release's checksum; any other file in the
/// binary layout is named as such, with its own digest.
pub fn binary_provenance(name: &str, sha256: &str) -> Provenance {
    if sha256.eq_ignore_ascii_case(cifar_binary::OFFICIAL_SHA256) {
        return Provenance {
            kind: "official".into(),
            description: format!("CIFAR-10 binary release ({name})"),
            sha256: sha256.into(),
            label: "CIFAR-10 (official binary release)".into(),
        };
    }
    Provenance {
        kind: "binary-layout".into(),
        description: format!("CIFAR-10 binary layout ({name}, sha256 {sha256})"),
        sha256: sha256.into(),
        label: format!("CIFAR-10 binary layout (not the official checksum; sha256 {sha256})"),
    }
}
