//! Helpers shared by integration tests.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::thread;

// Where a test project's build record and stored outputs are: the
// engine's own tests' helpers, one copy for both.
#[path = "../../crates/engine/tests/common/mod.rs"]
mod engine;
#[allow(unused_imports)]
pub use engine::{lock_record, record_file, stage_output};

/// The built `repro`, to be run in `dir`; add arguments and environment.
pub fn repro_command(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_repro"));
    command.current_dir(dir);
    command
}

/// `repro ARGS` run in `dir`, whatever its exit status.
pub fn repro(dir: &Path, args: &[&str]) -> Output {
    repro_command(dir).args(args).output().expect("the repro binary starts")
}

/// What a run printed: stdout, then stderr.
pub fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// `repro ARGS` run in `dir`, which must succeed: what it printed.
pub fn ok(dir: &Path, args: &[&str]) -> String {
    checked(repro(dir, args), args)
}

/// `out`'s text, after asserting that `repro ARGS` succeeded.
pub fn checked(out: Output, args: &[&str]) -> String {
    let said = text(&out);
    assert!(out.status.success(), "repro {args:?} failed:\n{said}");
    said
}

/// A one-file HTTP server on 127.0.0.1 that honours `Range: bytes=N-`
/// and can cut its first response short to simulate a dropped connection,
/// or stop sending mid-body while keeping the connection open (a stall).
pub struct FileServer {
    pub url: String,
    /// The Range header of each request ("" when absent).
    pub ranges: Arc<Mutex<Vec<String>>>,
}

impl FileServer {
    pub fn start(body: Vec<u8>, cut_first_after: Option<usize>) -> FileServer {
        FileServer::serving(body, cut_first_after, false)
    }

    /// Sends `after` bytes of the first response, then nothing for 30 s.
    pub fn stalling(body: Vec<u8>, after: usize) -> FileServer {
        FileServer::serving(body, Some(after), true)
    }

    fn serving(body: Vec<u8>, cut_first_after: Option<usize>, stall: bool) -> FileServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/cifar-10-binary.tar.gz", listener.local_addr().unwrap());
        let ranges = Arc::new(Mutex::new(Vec::new()));
        let seen = ranges.clone();
        let body = Arc::new(body);
        thread::spawn(move || {
            // Bounded: a test makes at most a handful of requests.
            for (n, stream) in listener.incoming().take(16).enumerate() {
                let Ok(stream) = stream else { break };
                let cut = if n == 0 { cut_first_after } else { None };
                let (body, seen) = (body.clone(), seen.clone());
                // A thread a connection, so a stalled one blocks no other.
                thread::spawn(move || {
                    serve(stream, &body, cut, &seen, stall && cut.is_some());
                });
            }
        });
        FileServer { url, ranges }
    }
}

fn serve(mut stream: TcpStream, body: &[u8], cut: Option<usize>, seen: &Mutex<Vec<String>>, stall: bool) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut range = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("range:") {
            range = v.trim().to_string();
        }
    }
    seen.lock().unwrap().push(range.clone());
    let start: usize = range.strip_prefix("bytes=").and_then(|r| r.trim_end_matches('-').parse().ok()).unwrap_or(0);
    let (status, part) = if start > 0 { ("206 Partial Content", &body[start..]) } else { ("200 OK", body) };
    let header = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", part.len());
    let _ = stream.write_all(header.as_bytes());
    let sent = cut.map_or(part.len(), |c| c.min(part.len()));
    let _ = stream.write_all(&part[..sent]);
    let _ = stream.flush();
    if stall {
        thread::sleep(std::time::Duration::from_secs(30));
    }
    let _ = stream.shutdown(std::net::Shutdown::Both);
    let _ = reader.read(&mut [0u8; 1]);
}

/// The file of object `sha256` under `root`: a store (`<project>/artifacts`)
/// or a folder remote, which keep the engine's one layout.
pub fn object_file(root: &Path, sha256: &str) -> PathBuf {
    root.join(repro_engine::remote::object_key(sha256))
}

/// `../shared/data/cifar10-jpeg.tar.gz` beside the checkout, if present.
pub fn shared_jpeg_copy() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/cifar10-jpeg.tar.gz");
    if p.exists() {
        Some(p)
    } else {
        println!("skipped: {} is absent (the offline CIFAR-10 copy lives in ../shared)", p.display());
        None
    }
}

/// A copy of the repository's pipeline.toml and templates in a temp dir.
pub fn project_copy() -> tempfile::TempDir {
    project_with("pipeline.toml")
}

/// The templates and `pipeline` (relative to the repository) as pipeline.toml.
pub fn project_with(pipeline: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::copy(root.join(pipeline), dir.path().join("pipeline.toml")).unwrap();
    // pipeline.toml's [remote], empty: a clone has it, and a missing folder remote is refused.
    std::fs::create_dir_all(dir.path().join("artifacts/published/remote")).unwrap();
    for entry in walkdir::WalkDir::new(root.join("templates")) {
        let entry = entry.unwrap();
        let dest = dir.path().join(entry.path().strip_prefix(root).unwrap());
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(dest).unwrap();
        } else {
            std::fs::copy(entry.path(), dest).unwrap();
        }
    }
    dir
}

/// A copy of the project with the published smoke numbers beside it.
pub fn smoke_project() -> tempfile::TempDir {
    let dir = project_copy();
    let published = Path::new(env!("CARGO_MANIFEST_DIR")).join("artifacts/published");
    std::fs::create_dir_all(dir.path().join("artifacts/published")).unwrap();
    for entry in std::fs::read_dir(&published).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("smoke") && name.ends_with(".json") {
            std::fs::copy(entry.path(), dir.path().join("artifacts/published").join(&name)).unwrap();
        }
    }
    dir
}

/// Waits until a checkpoint of `stage` exists under the store in `dir`.
pub fn wait_for_checkpoint(dir: &Path, stage: &str, limit: std::time::Duration) -> bool {
    let started = std::time::Instant::now();
    while started.elapsed() < limit {
        let found = std::fs::read_dir(dir.join("artifacts/checkpoints")).into_iter().flatten().flatten().any(|e| {
            e.file_name().to_string_lossy().starts_with(&format!("{stage}-"))
                && walkdir::WalkDir::new(e.path()).into_iter().flatten().any(|f| f.file_type().is_file())
        });
        if found {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    false
}

/// `n` values uniform in [-1, 1), the same for the same seed.
pub fn random(n: usize, seed: u64) -> Vec<f32> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect()
}

pub fn tensor<const D: usize>(data: &[f32], shape: [usize; D], device: &burn::tensor::Device) -> burn::tensor::Tensor<D> {
    burn::tensor::Tensor::from_data(burn::tensor::TensorData::new(data.to_vec(), shape), device)
}

pub fn values<const D: usize>(t: burn::tensor::Tensor<D>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().unwrap()
}
