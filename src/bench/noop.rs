//! `repro bench noop`: a build and a status with nothing to do.

use crate::terminal::say;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

pub fn noop(pipeline: &Path, profile: &str, runs: usize) -> anyhow::Result<()> {
    let exe = std::env::current_exe()?;
    let base = |args: &[&str]| {
        let mut c = Command::new(&exe);
        c.arg("--pipeline").arg(pipeline).args(args).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null());
        c
    };
    anyhow::ensure!(base(&["build", "--profile", profile]).status()?.success(), "the first build of `{profile}` failed");
    for (label, args) in [("build", vec!["build", "--profile", profile]), ("status", vec!["status", "--profile", profile])] {
        let mut ms = Vec::new();
        for _ in 0..runs {
            let t = Instant::now();
            anyhow::ensure!(base(&args).status()?.success(), "repro {label} failed");
            ms.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        ms.sort_by(f64::total_cmp);
        say!("no-op repro {label} --profile {profile}: median {:.1} ms, min {:.1} ms ({runs} runs)", ms[runs / 2], ms[0]);
    }
    Ok(())
}
