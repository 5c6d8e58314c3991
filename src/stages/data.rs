//! Stage kind `dataset`: fetches or reads CIFAR-10 (or makes synthetic
//! data), takes the profile's stratified subset and writes one artifact.

use crate::artifacts::dataset::{DATASET, DataSummary, SUMMARY};
use crate::data::{self, Dataset, download};
use anyhow::Context;
use repro_engine::{ParamError, StageContext, StageKind, typed_params};

pub use crate::data::cifar_binary::{OFFICIAL_MD5, OFFICIAL_SHA256, OFFICIAL_URL};

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataParams {
    /// `synthetic`, `official` (download), or a path to an archive or folder.
    pub source: String,
    #[serde(default = "default_url")]
    pub url: String,
    #[serde(default = "default_md5")]
    pub md5: String,
    #[serde(default = "default_sha256")]
    pub sha256: String,
    /// Images kept (stratified); all when absent. Required for synthetic.
    pub train_size: Option<usize>,
    pub test_size: Option<usize>,
    #[serde(default)]
    pub seed: u64,
}

fn default_url() -> String {
    OFFICIAL_URL.into()
}
fn default_md5() -> String {
    OFFICIAL_MD5.into()
}
fn default_sha256() -> String {
    OFFICIAL_SHA256.into()
}

impl DataParams {
    fn is_path(&self) -> bool {
        self.source != "synthetic" && self.source != "official"
    }
}

pub struct DatasetKind;

impl StageKind for DatasetKind {
    fn name(&self) -> &'static str {
        "dataset"
    }
    fn entry_modules(&self) -> &'static [&'static str] {
        &["stages::data"]
    }
    fn check_params(&self, params: &toml::Table) -> Result<(), ParamError> {
        let p: DataParams = typed_params(params)?;
        if p.source == "synthetic" && (p.train_size.is_none() || p.test_size.is_none()) {
            return Err(ParamError { key: Some("source".into()), message: "synthetic data needs train_size and test_size".into() });
        }
        let classes = data::dataset::CIFAR10_CLASSES.len();
        for (key, size) in [("train_size", p.train_size), ("test_size", p.test_size)] {
            if size.is_some_and(|n| n < classes) {
                let message = format!("must be at least {classes}, one image of each class (or left out for the whole split)");
                return Err(ParamError { key: Some(key.into()), message });
            }
        }
        Ok(())
    }
    fn param_help(&self) -> String {
        "source (\"synthetic\" | \"official\" | path to an archive or folder), train_size, test_size, seed, url, md5, sha256".into()
    }
    fn file_params(&self, params: &toml::Table) -> Vec<String> {
        match typed_params::<DataParams>(params) {
            Ok(p) if p.is_path() => vec!["source".into()],
            _ => Vec::new(),
        }
    }
    fn estimate_seconds(&self, params: &toml::Table, _upstream: &[&toml::Table], _threads: usize) -> f64 {
        match typed_params::<DataParams>(params) {
            Ok(p) if p.source == "synthetic" => 1.0 + (p.train_size.unwrap_or(0) + p.test_size.unwrap_or(0)) as f64 / 20_000.0,
            Ok(p) if p.source == "official" => 60.0,
            _ => 10.0,
        }
    }
    fn run(&self, ctx: &StageContext) -> anyhow::Result<()> {
        let p: DataParams = ctx.params()?;
        let full = load(ctx, &p)?;
        let dataset = subset(full, &p);
        ctx.log(format!("{} train / {} test images from {}", dataset.train.len(), dataset.test.len(), dataset.provenance.description));
        dataset.write(&ctx.out_dir.join(DATASET))?;
        let summary = summarise(&dataset);
        std::fs::write(ctx.out_dir.join(SUMMARY), serde_json::to_vec_pretty(&summary)?)?;
        Ok(())
    }
}

fn load(ctx: &StageContext, p: &DataParams) -> anyhow::Result<Dataset> {
    match p.source.as_str() {
        "synthetic" => Ok(data::synthetic::generate(p.train_size.unwrap_or(0), p.test_size.unwrap_or(0), p.seed)),
        "official" => {
            let dest = ctx.downloads_dir.join("cifar-10-binary.tar.gz");
            let expected = download::Checksums { md5: p.md5.clone(), sha256: p.sha256.clone() };
            let file = download::fetch(&p.url, &dest, &expected, download::stall_limit(), |total| ctx.byte_bar(total, "download"))?;
            let mut dataset = data::local::load(&file, &p.sha256)?;
            dataset.provenance.description = format!("{} from {}", dataset.provenance.description, p.url);
            Ok(dataset)
        }
        _ => {
            let path = ctx.files.get("source").context("source path was not resolved")?;
            let digest = ctx.file_digests.get("source").cloned().unwrap_or_default();
            data::local::load(path, &digest)
        }
    }
}

fn subset(mut dataset: Dataset, p: &DataParams) -> Dataset {
    let train = data::subset::stratified(&dataset.train.labels, p.train_size.unwrap_or(usize::MAX), p.seed);
    let test = data::subset::stratified(&dataset.test.labels, p.test_size.unwrap_or(usize::MAX), p.seed.wrapping_add(1));
    dataset.train = dataset.train.select(&train);
    dataset.test = dataset.test.select(&test);
    dataset
}

pub fn summarise(dataset: &Dataset) -> DataSummary {
    let mut sums = [0u64; 3];
    for px in dataset.train.images.chunks_exact(3) {
        for c in 0..3 {
            sums[c] += px[c] as u64;
        }
    }
    let n = (dataset.train.images.len() / 3).max(1) as f64;
    DataSummary {
        classes: dataset.classes.clone(),
        provenance: dataset.provenance.clone(),
        train_counts: dataset.train.class_counts(dataset.classes.len()),
        test_counts: dataset.test.class_counts(dataset.classes.len()),
        channel_means: sums.map(|s| s as f64 / n / 255.0),
    }
}
