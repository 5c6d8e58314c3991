//! Per-epoch training history, written as CSV and Parquet with polars.

use anyhow::Context;
use polars::prelude::*;
use std::fs::File;
use std::path::Path;

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EpochRow {
    /// 1-based, as Keras prints it.
    pub epoch: usize,
    pub lr: f64,
    pub train_loss: f64,
    pub train_accuracy: f64,
    pub val_loss: f64,
    pub val_accuracy: f64,
    /// Wall-clock time of the epoch: logged and kept in checkpoints, never
    /// written to the history files (a timing, so no output may hold it);
    /// `None` when read back from one.
    #[serde(default)]
    pub seconds: Option<f64>,
}

impl std::fmt::Display for EpochRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "epoch {:>3}  lr {:.1e}  loss {:.4}  acc {:.4}  val_loss {:.4}  val_acc {:.4}",
            self.epoch, self.lr, self.train_loss, self.train_accuracy, self.val_loss, self.val_accuracy
        )?;
        match self.seconds {
            Some(s) => write!(f, "  {s:.1} s"),
            None => Ok(()),
        }
    }
}

pub fn to_frame(rows: &[EpochRow]) -> PolarsResult<DataFrame> {
    let col = |name: &str, f: &dyn Fn(&EpochRow) -> f64| Column::new(name.into(), rows.iter().map(f).collect::<Vec<f64>>());
    DataFrame::new(
        rows.len(),
        vec![
            Column::new("epoch".into(), rows.iter().map(|r| r.epoch as u32).collect::<Vec<u32>>()),
            col("lr", &|r| r.lr),
            col("train_loss", &|r| r.train_loss),
            col("train_accuracy", &|r| r.train_accuracy),
            col("val_loss", &|r| r.val_loss),
            col("val_accuracy", &|r| r.val_accuracy),
        ],
    )
}

/// The history files' names.
pub const CSV: &str = "history.csv";
pub const PARQUET: &str = "history.parquet";

/// Writes `history.csv` and `history.parquet` into `dir`.
pub fn write(rows: &[EpochRow], dir: &Path) -> anyhow::Result<()> {
    let mut frame = to_frame(rows)?;
    let csv = dir.join(CSV);
    CsvWriter::new(File::create(&csv).with_context(|| format!("cannot create {}", csv.display()))?).finish(&mut frame)?;
    let parquet = dir.join(PARQUET);
    ParquetWriter::new(File::create(&parquet).with_context(|| format!("cannot create {}", parquet.display()))?).finish(&mut frame)?;
    Ok(())
}

/// Reads `history.csv` back (for figures and reports).
pub fn read_csv(path: &Path) -> anyhow::Result<Vec<EpochRow>> {
    let frame = CsvReadOptions::default().with_has_header(true).try_into_reader_with_file_path(Some(path.into()))?.finish()?;
    let f =
        |name: &str| -> anyhow::Result<Vec<f64>> { Ok(frame.column(name)?.cast(&DataType::Float64)?.f64()?.into_no_null_iter().collect()) };
    let (epoch, lr, tl, ta, vl, va) = (f("epoch")?, f("lr")?, f("train_loss")?, f("train_accuracy")?, f("val_loss")?, f("val_accuracy")?);
    Ok((0..epoch.len())
        .map(|i| EpochRow {
            epoch: epoch[i] as usize,
            lr: lr[i],
            train_loss: tl[i],
            train_accuracy: ta[i],
            val_loss: vl[i],
            val_accuracy: va[i],
            seconds: None,
        })
        .collect())
}
