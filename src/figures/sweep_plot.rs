//! The center-loss sweep: test accuracy and feature ratio against w, mean
//! and standard deviation over seeds, one point a weight.

use super::{FONT, plot_err};
use crate::artifacts::sweep::SweepPoint;
use plotters::coord::Shift;
use plotters::prelude::*;

pub const SIZE: (u32, u32) = (960, 400);

pub fn draw<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, points: &[SweepPoint]) -> anyhow::Result<()> {
    area.fill(&WHITE).map_err(plot_err)?;
    let area = area.titled("Center-loss weight w: mean ± std over seeds", (FONT, 20)).map_err(plot_err)?;
    let (left, right) = area.split_horizontally(SIZE.0 / 2);
    panel(&left, "test accuracy (%)", points, |p| (p.accuracy_mean * 100.0, p.accuracy_std * 100.0))?;
    panel(&right, "intra/inter class distance ratio", points, |p| (p.ratio_mean, p.ratio_std))?;
    Ok(())
}

fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    what: &str,
    points: &[SweepPoint],
    pick: fn(&SweepPoint) -> (f64, f64),
) -> anyhow::Result<()> {
    let values: Vec<(f64, f64)> = points.iter().map(pick).collect();
    let lo = values.iter().map(|(m, s)| m - s).fold(f64::INFINITY, f64::min);
    let hi = values.iter().map(|(m, s)| m + s).fold(f64::NEG_INFINITY, f64::max);
    let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) };
    let pad = ((hi - lo) * 0.15).max(1e-3);
    let n = points.len();
    let mut chart = ChartBuilder::on(area)
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(56)
        .build_cartesian_2d(-0.5..(n as f64 - 0.5), (lo - pad)..(hi + pad))
        .map_err(plot_err)?;
    let labels: Vec<String> = points.iter().map(|p| format!("{}", p.weight)).collect();
    chart
        .configure_mesh()
        .x_labels(n)
        .x_label_formatter(&|x| labels.get(x.round() as usize).cloned().unwrap_or_default())
        .x_desc("w")
        .y_desc(what)
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 14))
        .draw()
        .map_err(plot_err)?;
    chart
        .draw_series(
            values.iter().enumerate().map(|(i, &(m, s))| ErrorBar::new_vertical(i as f64, m - s, m, m + s, BLUE.stroke_width(2), 10)),
        )
        .map_err(plot_err)?;
    chart.draw_series(LineSeries::new(values.iter().enumerate().map(|(i, &(m, _))| (i as f64, m)), BLUE.mix(0.5))).map_err(plot_err)?;
    Ok(())
}
