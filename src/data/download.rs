//! Downloads with resume (HTTP Range), progress and checksum checks. A
//! file only gets its final name once both checksums match.

use anyhow::{Context, bail};
use md5::Md5;
use repro_engine::events::Progress;
use sha2::{Digest, Sha256};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Expected checksums (lowercase hex).
#[derive(Clone, Debug)]
pub struct Checksums {
    pub md5: String,
    pub sha256: String,
}

/// How long a download may go without a byte before it is given up
/// (`REPRO_DOWNLOAD_STALL_SECONDS` overrides it).
pub fn stall_limit() -> Duration {
    let seconds = std::env::var("REPRO_DOWNLOAD_STALL_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(60.0f64);
    Duration::from_secs_f64(seconds.max(0.001))
}

/// Fetches `url` to `dest`. An interrupted or stalled download continues
/// from its `.part` file; a finished file with the right checksums is
/// reused. `make_bar` receives the total size when known; `stall` is the
/// longest wait for a byte.
pub fn fetch(
    url: &str,
    dest: &Path,
    expected: &Checksums,
    stall: Duration,
    make_bar: impl FnOnce(u64) -> Progress,
) -> anyhow::Result<PathBuf> {
    if dest.exists() && verify(dest, expected).is_ok() {
        return Ok(dest.to_path_buf());
    }
    if let Some(dir) = dest.parent() {
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let part = dest.with_extension("part");
    let mut offset = fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_recv_response(Some(Duration::from_secs(60)))
        .http_status_as_error(false)
        .build()
        .into();
    let mut request = agent.get(url);
    if offset > 0 {
        request = request.header("Range", format!("bytes={offset}-"));
    }
    let response = request.call().with_context(|| format!("cannot reach {url}; check the network or use a local copy (README: data)"))?;
    let status = response.status().as_u16();
    match status {
        206 => {}
        200 => offset = 0,
        416 if offset > 0 => return finish(&part, dest, expected),
        _ => bail!("{url}: server answered HTTP {status}"),
    }
    let length: Option<u64> = response.headers().get("content-length").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    let mut file = OpenOptions::new().create(true).write(true).append(offset > 0).truncate(offset == 0).open(&part)?;
    let bar = make_bar(length.map_or(0, |l| l + offset));
    bar.set_position(offset);
    let chunks = read_in_background(response.into_body().into_reader());
    loop {
        let chunk = match chunks.recv_timeout(stall) {
            Ok(chunk) => {
                chunk.with_context(|| format!("download of {url} interrupted after {} bytes; run again to resume", bar.position()))?
            }
            Err(_) => {
                file.sync_all()?;
                bail!("download of {url} stalled after {} bytes; run again to resume (nothing came for {stall:?})", bar.position());
            }
        };
        if chunk.is_empty() {
            break;
        }
        file.write_all(&chunk)?;
        bar.inc(chunk.len() as u64);
    }
    file.sync_all()?;
    bar.finish_and_clear();
    finish(&part, dest, expected)
}

/// The body's chunks, read on a thread of their own so that a server
/// that stops sending is noticed (`recv_timeout`); an empty chunk ends it.
/// After a stall the thread stays blocked on the dead socket until the
/// process exits, holding nothing else.
fn read_in_background(mut body: impl Read + Send + 'static) -> std::sync::mpsc::Receiver<std::io::Result<Vec<u8>>> {
    let (send, receive) = std::sync::mpsc::sync_channel(4);
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let read = body.read(&mut buf).map(|n| buf[..n].to_vec());
            let last = !matches!(&read, Ok(chunk) if !chunk.is_empty());
            if send.send(read).is_err() || last {
                break;
            }
        }
    });
    receive
}

/// Checks a completed `.part` and renames it; a mismatch removes it.
fn finish(part: &Path, dest: &Path, expected: &Checksums) -> anyhow::Result<PathBuf> {
    if let Err(e) = verify(part, expected) {
        let _ = fs::remove_file(part);
        return Err(e.context(format!("{} removed; run again to download afresh", part.display())));
    }
    repro_engine::atomic::install(part, dest)?;
    Ok(dest.to_path_buf())
}

/// Both checksums of `path` against `expected`.
pub fn verify(path: &Path, expected: &Checksums) -> anyhow::Result<()> {
    let mut file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let (mut md5, mut sha) = (Md5::new(), Sha256::new());
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        md5.update(&buf[..n]);
        sha.update(&buf[..n]);
    }
    let (md5, sha) = (hex::encode(md5.finalize()), hex::encode(sha.finalize()));
    if md5 != expected.md5.to_lowercase() {
        bail!("checksum mismatch for {}: md5 is {md5}, expected {}", path.display(), expected.md5);
    }
    if sha != expected.sha256.to_lowercase() {
        bail!("checksum mismatch for {}: sha256 is {sha}, expected {}", path.display(), expected.sha256);
    }
    Ok(())
}
