//! Accuracy and loss curves over epochs, train and validation, side by side
//! (the report's Figures 2, 4-1..4-6, 7-1, 7-2).

use super::{FONT, draw_legend, plot_err};
use crate::training::history::EpochRow;
use plotters::coord::Shift;
use plotters::prelude::*;

pub const SIZE: (u32, u32) = (960, 380);

pub fn draw<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, title: &str, rows: &[EpochRow]) -> anyhow::Result<()> {
    let series = |pick: fn(&EpochRow) -> (f64, f64)| {
        vec![
            Series { name: "train".into(), colour: BLUE, points: rows.iter().map(|r| (r.epoch as f64, pick(r).0)).collect() },
            Series { name: "validation".into(), colour: RED, points: rows.iter().map(|r| (r.epoch as f64, pick(r).1)).collect() },
        ]
    };
    two_panels(area, title, &series(|r| (r.train_accuracy, r.val_accuracy)), &series(|r| (r.train_loss, r.val_loss)))
}

/// Validation accuracy and loss of several runs on shared axes (Figure 3-2).
pub fn draw_compare<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    runs: &[(String, Vec<EpochRow>)],
) -> anyhow::Result<()> {
    let colours = [BLUE, RED, RGBColor(44, 160, 44), RGBColor(148, 103, 189)];
    let series = |pick: fn(&EpochRow) -> f64| -> Vec<Series> {
        runs.iter()
            .zip(colours.iter().cycle())
            .map(|((name, rows), &colour)| Series {
                name: format!("{name} (validation)"),
                colour,
                points: rows.iter().map(|r| (r.epoch as f64, pick(r))).collect(),
            })
            .collect()
    };
    two_panels(area, title, &series(|r| r.val_accuracy), &series(|r| r.val_loss))
}

/// One line of a panel.
pub struct Series {
    pub name: String,
    pub colour: RGBColor,
    pub points: Vec<(f64, f64)>,
}

fn two_panels<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, title: &str, accuracy: &[Series], loss: &[Series]) -> anyhow::Result<()> {
    area.fill(&WHITE).map_err(plot_err)?;
    let area = area.titled(title, (FONT, 20)).map_err(plot_err)?;
    let (left, right) = area.split_horizontally(SIZE.0 / 2);
    panel(&left, "accuracy", accuracy)?;
    panel(&right, "loss", loss)?;
    Ok(())
}

fn panel<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, what: &str, series: &[Series]) -> anyhow::Result<()> {
    let last = series.iter().flat_map(|s| s.points.iter().map(|p| p.0)).fold(2.0, f64::max);
    let values: Vec<f64> = series.iter().flat_map(|s| s.points.iter().map(|p| p.1)).filter(|v| v.is_finite()).collect();
    let (lo, hi) = values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) };
    let pad = ((hi - lo) * 0.08).max(1e-3);
    let mut chart = ChartBuilder::on(area)
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(52)
        .build_cartesian_2d(1.0..last, (lo - pad)..(hi + pad))
        .map_err(plot_err)?;
    chart
        .configure_mesh()
        .x_labels((last as usize).clamp(2, 10))
        .x_label_formatter(&|x| format!("{x:.0}"))
        .x_desc("epoch")
        .y_desc(what)
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 14))
        .draw()
        .map_err(plot_err)?;
    for s in series {
        let colour = s.colour;
        chart
            .draw_series(LineSeries::new(s.points.clone(), colour.stroke_width(2)))
            .map_err(plot_err)?
            .label(s.name.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2)));
        chart.draw_series(s.points.iter().map(|&p| Circle::new(p, 2, colour.filled()))).map_err(plot_err)?;
    }
    draw_legend(&mut chart, 13)?;
    Ok(())
}
