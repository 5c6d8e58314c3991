//! `repro bench data`: decoding a local CIFAR-10 archive or folder.

use crate::terminal::say;
use std::time::Instant;

pub fn data(source: &std::path::Path) -> anyhow::Result<()> {
    let t = Instant::now();
    let dataset = crate::data::local::load(source, "")?;
    let secs = t.elapsed().as_secs_f64();
    let n = dataset.train.len() + dataset.test.len();
    say!("loaded {n} images from {} in {secs:.2} s ({:.0} images/s)", source.display(), n as f64 / secs);
    Ok(())
}
