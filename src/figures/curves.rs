//! Accuracy and loss curves over epochs, train and validation, side by side
//! (the report's Figures 2, 4-1..4-6, 7-1, 7-2).

use super::{FONT, plot_err};
use crate::training::history::EpochRow;
use plotters::coord::Shift;
use plotters::prelude::*;

pub const SIZE: (u32, u32) = (960, 380);

pub fn draw<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, title: &str, rows: &[EpochRow]) -> anyhow::Result<()> {
    area.fill(&WHITE).map_err(plot_err)?;
    let area = area.titled(title, (FONT, 20)).map_err(plot_err)?;
    let (left, right) = area.split_horizontally(SIZE.0 / 2);
    panel(&left, "accuracy", rows, |r| (r.train_accuracy, r.val_accuracy))?;
    panel(&right, "loss", rows, |r| (r.train_loss, r.val_loss))?;
    Ok(())
}

fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    what: &str,
    rows: &[EpochRow],
    pick: impl Fn(&EpochRow) -> (f64, f64),
) -> anyhow::Result<()> {
    let last = rows.last().map_or(1, |r| r.epoch).max(2) as f64;
    let values: Vec<f64> = rows
        .iter()
        .flat_map(|r| {
            let (a, b) = pick(r);
            [a, b]
        })
        .filter(|v| v.is_finite())
        .collect();
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
    let series = [("train", BLUE, true), ("validation", RED, false)];
    for (name, colour, first) in series {
        let points: Vec<(f64, f64)> = rows
            .iter()
            .map(|r| {
                let (a, b) = pick(r);
                (r.epoch as f64, if first { a } else { b })
            })
            .collect();
        chart
            .draw_series(LineSeries::new(points.clone(), colour.stroke_width(2)))
            .map_err(plot_err)?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2)));
        chart.draw_series(points.iter().map(|&p| Circle::new(p, 2, colour.filled()))).map_err(plot_err)?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font((FONT, 13))
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(plot_err)?;
    Ok(())
}
