//! Downloads against a local HTTP server: success, checksum mismatch,
//! interruption then resume (HTTP Range), and the official binary format
//! end to end through `repro build`.

mod common;

use common::FileServer;
use md5::Digest;
use repro::data::download::{Checksums, fetch};
use std::io::Write;

fn blob(len: usize) -> Vec<u8> {
    let mut x: u32 = 12345;
    (0..len)
        .map(|_| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (x >> 24) as u8
        })
        .collect()
}

fn sums(bytes: &[u8]) -> Checksums {
    Checksums { md5: hex::encode(md5::Md5::digest(bytes)), sha256: hex::encode(sha2::Sha256::digest(bytes)) }
}

/// No test server pauses this long unless it stalls on purpose.
const STALL: std::time::Duration = std::time::Duration::from_secs(20);

fn no_bar(_: u64) -> repro_engine::events::Progress {
    repro_engine::events::Progress::hidden()
}

#[test]
fn downloads_and_verifies() {
    let body = blob(3_000_000);
    let server = FileServer::start(body.clone(), None);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("archive.tar.gz");
    fetch(&server.url, &dest, &sums(&body), STALL, no_bar).unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), body);
    // A verified file is reused without asking the server again.
    fetch(&server.url, &dest, &sums(&body), STALL, no_bar).unwrap();
    assert_eq!(server.ranges.lock().unwrap().len(), 1);
}

#[test]
fn checksum_mismatch_removes_the_file() {
    let body = blob(500_000);
    let server = FileServer::start(body.clone(), None);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("archive.tar.gz");
    let mut wrong = sums(&body);
    wrong.sha256 = "0".repeat(64);
    let err = format!("{:#}", fetch(&server.url, &dest, &wrong, STALL, no_bar).unwrap_err());
    assert!(err.contains("checksum mismatch") && err.contains("sha256"), "{err}");
    assert!(!dest.exists() && !dest.with_extension("part").exists(), "nothing half-trusted is left");
}

#[test]
fn interrupted_download_resumes_with_range() {
    let body = blob(2_000_000);
    let server = FileServer::start(body.clone(), Some(700_000));
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("archive.tar.gz");
    let err = format!("{:#}", fetch(&server.url, &dest, &sums(&body), STALL, no_bar).unwrap_err());
    assert!(err.contains("interrupted"), "{err}");
    assert!(!dest.exists());
    let partial = std::fs::metadata(dest.with_extension("part")).unwrap().len();
    assert!(partial > 0 && partial <= 700_000, "{partial}");
    fetch(&server.url, &dest, &sums(&body), STALL, no_bar).unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), body);
    let ranges = server.ranges.lock().unwrap().clone();
    assert_eq!(ranges, vec![String::new(), format!("bytes={partial}-")]);
}

/// A small archive in the official layout, written byte by byte from the
/// format description: label, then 1024 R, 1024 G, 1024 B bytes.
/// R varies with the pixel and record, G = 100, B = 200.
fn official_archive() -> Vec<u8> {
    use repro::data::cifar_binary::{RECORDS_PER_BATCH, TEST_BATCH, TRAIN_BATCHES};
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
    for name in TRAIN_BATCHES.iter().chain([&TEST_BATCH]) {
        let mut data = Vec::with_capacity(RECORDS_PER_BATCH * 3073);
        for r in 0..RECORDS_PER_BATCH {
            data.push((r % 10) as u8);
            data.extend((0..1024).map(|p| ((p + r) % 256) as u8));
            data.extend([100u8; 1024]);
            data.extend([200u8; 1024]);
        }
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, format!("cifar-10-batches-bin/{name}"), data.as_slice()).unwrap();
    }
    let mut header = tar::Header::new_gnu();
    header.set_size(5);
    header.set_cksum();
    builder.append_data(&mut header, "cifar-10-batches-bin/readme.html", &b"hello"[..]).unwrap();
    let mut gz = builder.into_inner().unwrap();
    gz.flush().unwrap();
    gz.finish().unwrap()
}

#[test]
fn official_format_end_to_end() {
    let archive = official_archive();
    let server = FileServer::start(archive.clone(), None);
    let project = common::project_copy();
    let s = sums(&archive);
    let out = common::repro_command(project.path())
        .args(["run", "stage", "data", "--profile", "paper", "--set"])
        .arg(format!("data.url=\"{}\"", server.url))
        .args(["--set", &format!("data.md5=\"{}\"", s.md5), "--set", &format!("data.sha256=\"{}\"", s.sha256)])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let object = common::stage_output(project.path(), "paper", "data", "dataset.bin");
    let dataset = repro::data::Dataset::read(&object).unwrap();
    assert_eq!((dataset.train.len(), dataset.test.len()), (50_000, 10_000));
    assert_eq!(dataset.train.class_counts(10), vec![5_000; 10]);
    // The stage shuffles; find record 0 by content: pixel p is (p % 256, 100, 200).
    let expected: Vec<u8> = (0..1024).flat_map(|p| [(p % 256) as u8, 100, 200]).collect();
    assert!((0..dataset.train.len()).any(|i| dataset.train.image(i) == expected.as_slice()), "planar RGB became interleaved RGB");
    // Its layout is the official one, its checksum is not.
    assert_eq!(dataset.provenance.kind, "binary-layout");
    assert_eq!(dataset.provenance.label, format!("CIFAR-10 binary layout (not the official checksum; sha256 {})", s.sha256));
    assert!(!dataset.provenance.description.contains("official"), "{}", dataset.provenance.description);
}

#[test]
fn a_stalled_download_ends_with_a_message_and_resumes() {
    let body = blob(1_500_000);
    let server = FileServer::stalling(body.clone(), 400_000);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("archive.tar.gz");
    let started = std::time::Instant::now();
    let err = format!("{:#}", fetch(&server.url, &dest, &sums(&body), std::time::Duration::from_secs(1), no_bar).unwrap_err());
    assert!(started.elapsed().as_secs() < 15, "gave up after the stall limit, not the server's 30 s");
    assert!(err.contains("stalled after 400000 bytes") && err.contains("run again to resume"), "{err}");
    assert_eq!(std::fs::metadata(dest.with_extension("part")).unwrap().len(), 400_000, "the partial file is kept");
    fetch(&server.url, &dest, &sums(&body), STALL, no_bar).unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), body);
    assert_eq!(server.ranges.lock().unwrap().last().unwrap(), "bytes=400000-");
}

#[test]
fn a_stalled_download_in_a_build_fails_and_releases_the_store() {
    let body = blob(900_000);
    let server = FileServer::stalling(body.clone(), 300_000);
    let project = common::project_copy();
    let s = sums(&body);
    let run = || {
        common::repro_command(project.path())
            .env("REPRO_DOWNLOAD_STALL_SECONDS", "1")
            .args(["run", "stage", "data", "--profile", "paper", "--no-wait", "--set"])
            .arg(format!("data.url=\"{}\"", server.url))
            .args(["--set", &format!("data.md5=\"{}\"", s.md5), "--set", &format!("data.sha256=\"{}\"", s.sha256)])
            .output()
            .unwrap()
    };
    let started = std::time::Instant::now();
    let first = run();
    let err = String::from_utf8_lossy(&first.stderr);
    assert!(!first.status.success() && err.contains("stalled after 300000 bytes; run again to resume"), "{err}");
    assert!(started.elapsed().as_secs() < 20, "no hang: {:?}", started.elapsed());
    // The lock is free (--no-wait would fail at once otherwise) and the
    // download resumes; this body is not an archive, so the stage then
    // fails on its content, past the download.
    let second = run();
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(!err.contains("is in use by") && !err.contains("stalled"), "{err}");
    assert_eq!(server.ranges.lock().unwrap().last().unwrap(), "bytes=300000-", "{err}");
}

#[test]
fn only_the_official_checksum_is_called_official() {
    use repro::data::local::binary_provenance;
    let official = binary_provenance("cifar-10-binary.tar.gz", repro::data::cifar_binary::OFFICIAL_SHA256);
    assert_eq!(official.label, "CIFAR-10 (official binary release)");
    let other = binary_provenance("cifar-10-binary.tar.gz", &"ab".repeat(32));
    assert!(other.label.starts_with("CIFAR-10 binary layout (not the official checksum; sha256 abab"), "{}", other.label);
}
