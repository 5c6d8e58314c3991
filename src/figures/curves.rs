//! Accuracy and loss curves over epochs, train and validation, side by side
//! (the report's Figures 2, 4-1..4-6, 7-1, 7-2).

use super::{FONT, draw_legend, plot_err};
use crate::training::history::EpochRow;
use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use std::ops::Range;

pub const SIZE: (u32, u32) = (960, 380);

/// One line of a panel.
pub struct Series {
    pub name: String,
    pub colour: RGBColor,
    pub points: Vec<(f64, f64)>,
}

/// One of the two panels: what its y axis shows, and its lines.
pub struct Panel {
    pub what: &'static str,
    pub series: Vec<Series>,
}

/// One run's train and validation accuracy, then loss.
pub fn panels(rows: &[EpochRow]) -> [Panel; 2] {
    let series = |pick: fn(&EpochRow) -> (f64, f64)| {
        vec![
            Series { name: "train".into(), colour: BLUE, points: rows.iter().map(|r| (r.epoch as f64, pick(r).0)).collect() },
            Series { name: "validation".into(), colour: RED, points: rows.iter().map(|r| (r.epoch as f64, pick(r).1)).collect() },
        ]
    };
    [
        Panel { what: "accuracy", series: series(|r| (r.train_accuracy, r.val_accuracy)) },
        Panel { what: "loss", series: series(|r| (r.train_loss, r.val_loss)) },
    ]
}

/// Validation accuracy and loss of several runs on shared axes (Figure 3-2).
pub fn compare_panels(runs: &[(String, Vec<EpochRow>)]) -> [Panel; 2] {
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
    [Panel { what: "accuracy", series: series(|r| r.val_accuracy) }, Panel { what: "loss", series: series(|r| r.val_loss) }]
}

pub fn draw<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, title: &str, panels: &[Panel; 2]) -> anyhow::Result<()> {
    area.fill(&WHITE).map_err(plot_err)?;
    for (half, panel) in halves(area, title)?.iter().zip(panels) {
        draw_panel(half, panel)?;
    }
    Ok(())
}

/// Where a panel is drawn: what the interactive view (`curves_view`)
/// needs to find the epoch under the cursor.
pub struct Placed {
    /// The plotting area in the figure's pixels, `[left, top, right, bottom]`.
    pub plot: [i32; 4],
    pub x: Range<f64>,
    pub y: Range<f64>,
}

/// Where each panel of the figure titled `title` is drawn.
pub fn geometry(title: &str, panels: &[Panel; 2]) -> anyhow::Result<Vec<Placed>> {
    super::init_fonts();
    let mut pixels = vec![0u8; (SIZE.0 * SIZE.1 * 3) as usize];
    let area = BitMapBackend::with_buffer(&mut pixels, SIZE).into_drawing_area();
    let mut out = Vec::new();
    for (half, panel) in halves(&area, title)?.iter().zip(panels) {
        let chart = chart(half, panel)?;
        let (x, y) = chart.plotting_area().get_pixel_range();
        let (xs, ys) = axes(panel);
        out.push(Placed { plot: [x.start, y.start, x.end, y.end], x: xs, y: ys });
    }
    Ok(out)
}

/// The title, then the two panels' areas, left and right.
fn halves<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, title: &str) -> anyhow::Result<[DrawingArea<DB, Shift>; 2]> {
    let area = area.titled(title, (FONT, 20)).map_err(plot_err)?;
    let (left, right) = area.split_horizontally(SIZE.0 / 2);
    Ok([left, right])
}

/// A panel's x range (epochs, at least 1 to 2) and its padded y range.
fn axes(panel: &Panel) -> (Range<f64>, Range<f64>) {
    let points = || panel.series.iter().flat_map(|s| s.points.iter());
    let last = points().map(|p| p.0).fold(2.0, f64::max);
    let values: Vec<f64> = points().map(|p| p.1).filter(|v| v.is_finite()).collect();
    let (lo, hi) = values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) };
    let pad = ((hi - lo) * 0.08).max(1e-3);
    (1.0..last, (lo - pad)..(hi + pad))
}

type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

fn chart<'a, DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, panel: &Panel) -> anyhow::Result<Chart<'a, DB>> {
    let (xs, ys) = axes(panel);
    ChartBuilder::on(area).margin(12).x_label_area_size(36).y_label_area_size(52).build_cartesian_2d(xs, ys).map_err(plot_err)
}

fn draw_panel<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, panel: &Panel) -> anyhow::Result<()> {
    let mut chart = chart(area, panel)?;
    let last = axes(panel).0.end;
    chart
        .configure_mesh()
        .x_labels((last as usize).clamp(2, 10))
        .x_label_formatter(&|x| format!("{x:.0}"))
        .x_desc("epoch")
        .y_desc(panel.what)
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 14))
        .draw()
        .map_err(plot_err)?;
    for s in &panel.series {
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
