//! Image-folder trees `[top/]train|test/<class>/<name>.{png,jpg,jpeg}`, as
//! a folder or a `.tar.gz` (such as the JPEG copy of CIFAR-10).

use super::archive::Member;
use super::dataset::{CIFAR10_CLASSES, Dataset, Provenance, SIDE, Split};
use anyhow::{Context, bail};
use rayon::prelude::*;
use std::path::Path;

/// `(split, class, rel)` of an image member path, if it is one.
pub fn parse_path(path: &str) -> Option<(&str, &str)> {
    let lower = path.to_ascii_lowercase();
    if !(lower.ends_with(".png") || lower.ends_with(".jpg") || lower.ends_with(".jpeg")) {
        return None;
    }
    let parts: Vec<&str> = path.split('/').collect();
    let n = parts.len();
    if n < 3 {
        return None;
    }
    let split = parts[n - 3];
    (split == "train" || split == "test").then_some((split, parts[n - 2]))
}

/// Decodes every image member (in parallel; order fixed by path).
pub fn from_members(source: &Path, mut members: Vec<Member>, provenance: Provenance) -> anyhow::Result<Dataset> {
    members.retain(|m| parse_path(&m.path).is_some());
    if members.is_empty() {
        bail!(
            "{}: no images found; expected train/<class>/*.png|jpg and test/<class>/*.png|jpg, or the CIFAR-10 binary release",
            source.display()
        );
    }
    let mut labelled = Vec::with_capacity(members.len());
    for m in &members {
        let (split, class) = parse_path(&m.path).expect("retained above");
        let Some(label) = CIFAR10_CLASSES.iter().position(|c| *c == class) else {
            bail!("{}: {}: class folder `{class}` is not a CIFAR-10 class ({})", source.display(), m.path, CIFAR10_CLASSES.join(", "));
        };
        labelled.push((split == "test", label as u8, m));
    }
    labelled.sort_by(|a, b| (a.0, a.1, &a.2.path).cmp(&(b.0, b.1, &b.2.path)));
    let decoded: Vec<anyhow::Result<Vec<u8>>> = labelled.par_iter().map(|(_, _, m)| decode(source, m)).collect();
    let (mut train, mut test) = (Split::default(), Split::default());
    for ((is_test, label, _), pixels) in labelled.iter().zip(decoded) {
        let split = if *is_test { &mut test } else { &mut train };
        split.push(&pixels?, *label);
    }
    if train.is_empty() || test.is_empty() {
        bail!("{}: found {} train and {} test images; both folders are needed", source.display(), train.len(), test.len());
    }
    check_every_class(source, &labelled)?;
    Ok(Dataset { classes: CIFAR10_CLASSES.iter().map(|s| s.to_string()).collect(), provenance, train, test })
}

/// Refuses a tree where a split lacks a class: a 9-class dataset would
/// train a 10-way classifier on data that cannot fill one of its classes.
fn check_every_class(source: &Path, labelled: &[(bool, u8, &Member)]) -> anyhow::Result<()> {
    for (is_test, split) in [(false, "train"), (true, "test")] {
        let missing: Vec<&str> = CIFAR10_CLASSES
            .iter()
            .enumerate()
            .filter(|(label, _)| !labelled.iter().any(|(t, l, _)| *t == is_test && *l as usize == *label))
            .map(|(_, class)| *class)
            .collect();
        if !missing.is_empty() {
            bail!(
                "{}: {split}/ has no images of {}; every CIFAR-10 class needs a folder {split}/<class>/ with at least one image",
                source.display(),
                missing.join(", ")
            );
        }
    }
    Ok(())
}

/// Interleaved RGB of a 32x32 RGB image, or an error naming the file.
fn decode(source: &Path, member: &Member) -> anyhow::Result<Vec<u8>> {
    let image =
        image::load_from_memory(&member.bytes).with_context(|| format!("{}: {}: cannot decode image", source.display(), member.path))?;
    if image.width() as usize != SIDE || image.height() as usize != SIDE {
        bail!("{}: {}: image is {}x{}; every image must be 32x32", source.display(), member.path, image.width(), image.height());
    }
    match image {
        image::DynamicImage::ImageRgb8(rgb) => Ok(rgb.into_raw()),
        other => bail!("{}: {}: image is {:?}; every image must be 8-bit RGB", source.display(), member.path, other.color()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_layouts() {
        assert_eq!(parse_path("train/cat/0001.jpg"), Some(("train", "cat")));
        assert_eq!(parse_path("cifar10/test/ship/9.PNG"), Some(("test", "ship")));
        assert_eq!(parse_path("train/cat/readme.txt"), None);
        assert_eq!(parse_path("cat/1.png"), None);
    }
}
