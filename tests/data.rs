//! Data sources: synthetic generator, image folders (and the offline JPEG
//! copy when ../shared is present), the dataset artifact.

mod common;

use repro::data::{self, Dataset, synthetic};
use std::path::Path;

#[test]
fn synthetic_is_identical_for_the_same_seed() {
    let a = synthetic::generate(300, 100, 5);
    let b = synthetic::generate(300, 100, 5);
    let c = synthetic::generate(300, 100, 6);
    assert_eq!(a, b);
    assert_ne!(a.train.images, c.train.images);
    assert_eq!(a.train.class_counts(10), vec![30; 10]);
}

#[test]
fn synthetic_classes_are_not_separable_by_mean_colour() {
    // A nearest-class-mean classifier on average colour should do far
    // worse than a model that sees shape: the classes are not trivial.
    let d = synthetic::generate(2000, 1000, 1);
    let mean = |img: &[u8]| -> [f64; 3] {
        let mut m = [0.0; 3];
        for px in img.chunks_exact(3) {
            for c in 0..3 {
                m[c] += px[c] as f64 / 1024.0;
            }
        }
        m
    };
    let mut centres = [[0.0f64; 3]; 10];
    for i in 0..d.train.len() {
        let m = mean(d.train.image(i));
        for c in 0..3 {
            centres[d.train.labels[i] as usize][c] += m[c] / 200.0;
        }
    }
    let correct = (0..d.test.len())
        .filter(|&i| {
            let m = mean(d.test.image(i));
            let dist = |k: usize| (0..3).map(|c| (m[c] - centres[k][c]).powi(2)).sum::<f64>();
            (0..10).min_by(|&a, &b| dist(a).total_cmp(&dist(b))).unwrap() == d.test.labels[i] as usize
        })
        .count();
    assert!(correct < 400, "mean colour alone classifies {correct}/1000");
}

#[test]
fn dataset_artifact_round_trips() {
    let d = synthetic::generate(50, 20, 2);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("d.bin");
    d.write(&path).unwrap();
    assert_eq!(Dataset::read(&path).unwrap(), d);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 10]).unwrap();
    assert!(format!("{:#}", Dataset::read(&path).unwrap_err()).contains("truncated"));
}

fn write_png(path: &Path, w: u32, h: u32) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    image::RgbImage::from_fn(w, h, |x, y| image::Rgb([x as u8 * 8, y as u8 * 8, 77])).save(path).unwrap();
}

/// One 32x32 image of each class in each split, but `except`'s.
fn every_class(dir: &Path, except: &[&str]) {
    for split in ["train", "test"] {
        for class in data::CIFAR10_CLASSES.iter().rev().filter(|c| !except.contains(&format!("{split}/{c}").as_str())) {
            write_png(&dir.join(format!("{split}/{class}/0.png")), 32, 32);
        }
    }
}

#[test]
fn image_folder_loads_in_label_order() {
    let dir = tempfile::tempdir().unwrap();
    every_class(dir.path(), &[]);
    let d = data::local::load(dir.path(), "x").unwrap();
    assert_eq!(d.train.labels, (0..10).collect::<Vec<u8>>(), "airplane is label 0, truck 9");
    assert_eq!(&d.train.image(0)[..6], &[0, 0, 77, 8, 0, 77]);
}

#[test]
fn an_image_folder_without_a_class_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    every_class(dir.path(), &["train/truck", "test/truck"]);
    let e = format!("{:#}", data::local::load(dir.path(), "x").unwrap_err());
    assert!(e.contains("train/ has no images of truck;"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    every_class(dir.path(), &["test/cat", "test/dog"]);
    let e = format!("{:#}", data::local::load(dir.path(), "x").unwrap_err());
    assert!(e.contains(&dir.path().display().to_string()) && e.contains("test/ has no images of cat, dog;"), "{e}");
}

#[test]
fn image_folder_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    every_class(dir.path(), &[]);
    write_png(&dir.path().join("test/cat/big.png"), 33, 32);
    let e = format!("{:#}", data::local::load(dir.path(), "x").unwrap_err());
    assert!(e.contains("test/cat/big.png") && e.contains("33x32"), "{e}");
    std::fs::remove_file(dir.path().join("test/cat/big.png")).unwrap();
    write_png(&dir.path().join("test/kitten/a.png"), 32, 32);
    let e = format!("{:#}", data::local::load(dir.path(), "x").unwrap_err());
    assert!(e.contains("test/kitten/a.png") && e.contains("not a CIFAR-10 class"), "{e}");
}

#[test]
fn the_offline_jpeg_copy_loads() {
    let Some(path) = common::shared_jpeg_copy() else { return };
    let d = data::local::load(&path, "x").unwrap();
    assert_eq!((d.train.len(), d.test.len()), (50_000, 10_000));
    assert_eq!(d.train.class_counts(10), vec![5_000; 10]);
    assert_eq!(d.test.class_counts(10), vec![1_000; 10]);
    let summary = repro::stages::data::summarise(&d);
    let published = [0.4913, 0.4821, 0.4465];
    for (mean, want) in summary.channel_means.iter().zip(published) {
        assert!((mean - want).abs() < 0.002, "{:?}", summary.channel_means);
    }
}

/// `root/pool/{split}-{class}.png`, each a colour of its own, and a
/// tree `tree/{split}/{class}/0.png` of symbolic links to them.
fn linked_tree(root: &Path, tree: &Path) {
    std::fs::create_dir_all(root.join("pool")).unwrap();
    for (s, split) in ["train", "test"].iter().enumerate() {
        for (c, class) in data::CIFAR10_CLASSES.iter().enumerate() {
            let file = root.join(format!("pool/{split}-{class}.png"));
            image::RgbImage::from_pixel(32, 32, image::Rgb([c as u8 * 20, s as u8 * 100, 7])).save(&file).unwrap();
            std::fs::create_dir_all(tree.join(format!("{split}/{class}"))).unwrap();
            std::os::unix::fs::symlink(&file, tree.join(format!("{split}/{class}/0.png"))).unwrap();
        }
    }
}

#[test]
fn symlinked_files_inside_the_folder_are_followed_and_outside_refused() {
    let root = tempfile::tempdir().unwrap();
    linked_tree(root.path(), root.path());
    let d = data::local::load(root.path(), "x").unwrap();
    assert_eq!((d.train.len(), d.test.len()), (10, 10), "each linked image once (the pool is no split)");
    assert_eq!(&d.train.image(3)[..3], &[60, 0, 7], "class 3 reads the file behind its link");

    let digests = repro_engine::hashing::DigestCache::open(root.path().join("digests.json"));
    let before = digests.path(root.path()).unwrap();
    let link = root.path().join("train/cat/0.png");
    std::fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink(root.path().join("pool/train-dog.png"), &link).unwrap();
    assert_ne!(digests.path(root.path()).unwrap(), before, "the folder's digest follows its links");

    let outside = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    linked_tree(elsewhere.path(), outside.path());
    let e = format!("{:#}", data::local::load(outside.path(), "x").unwrap_err());
    assert!(e.contains("is a symbolic link to") && e.contains("outside the folder"), "{e}");
}

/// A `.tar.gz` at `path` holding `pool/{split}-{class}.png` and, for each
/// class of each split, `{split}/{class}/0.png` as a link made by `link`
/// (the header's type and target).
fn linked_archive(path: &Path, link: impl Fn(&str, &str) -> (tar::EntryType, String)) {
    let file = std::fs::File::create(path).unwrap();
    let mut archive = tar::Builder::new(flate2::write::GzEncoder::new(file, flate2::Compression::fast()));
    for (s, split) in ["train", "test"].iter().enumerate() {
        for (c, class) in data::CIFAR10_CLASSES.iter().enumerate() {
            let mut png = Vec::new();
            let image = image::RgbImage::from_pixel(32, 32, image::Rgb([c as u8 * 20, s as u8 * 100, 7]));
            image.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
            let mut header = tar::Header::new_gnu();
            header.set_size(png.len() as u64);
            header.set_mode(0o644);
            archive.append_data(&mut header, format!("pool/{split}-{class}.png"), png.as_slice()).unwrap();
            let (kind, target) = link(split, class);
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(kind);
            header.set_size(0);
            archive.append_link(&mut header, format!("{split}/{class}/0.png"), target).unwrap();
        }
    }
    archive.into_inner().unwrap().finish().unwrap();
}

#[test]
fn links_inside_an_archive_are_followed_as_in_a_folder_and_outside_refused() {
    let dir = tempfile::tempdir().unwrap();
    let symbolic = dir.path().join("symbolic.tar.gz");
    linked_archive(&symbolic, |split, class| (tar::EntryType::Symlink, format!("../../pool/{split}-{class}.png")));
    let d = data::local::load(&symbolic, "x").unwrap();
    assert_eq!((d.train.len(), d.test.len()), (10, 10), "each linked image once (the pool is no split)");
    assert_eq!(&d.train.image(3)[..3], &[60, 0, 7], "class 3 reads the member behind its link");

    let hard = dir.path().join("hard.tar.gz");
    linked_archive(&hard, |split, class| (tar::EntryType::Link, format!("pool/{split}-{class}.png")));
    let h = data::local::load(&hard, "x").unwrap();
    assert_eq!((h.train.len(), &h.test.image(9)[..3]), (10, &[180, 100, 7][..]));

    let escaping = dir.path().join("escaping.tar.gz");
    linked_archive(&escaping, |split, class| match (split, class) {
        ("test", "cat") => (tar::EntryType::Symlink, "../../../../etc/passwd".into()),
        _ => (tar::EntryType::Symlink, format!("../../pool/{split}-{class}.png")),
    });
    let e = format!("{:#}", data::local::load(&escaping, "x").unwrap_err());
    assert!(e.contains("test/cat/0.png") && e.contains("outside the archive"), "{e}");
}
