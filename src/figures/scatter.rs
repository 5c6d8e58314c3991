//! Embedding scatter plots coloured by class: 2-D, and 3-D from a fixed
//! view angle (Figures 5-1, 5-2, 8-1..8-4, 9-1, 9-2).

use super::{CLASS_COLOURS, FONT, draw_legend, plot_err};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::ops::Range;

pub const SIZE: (u32, u32) = (760, 640);

/// The 3-D view's angle (radians) and zoom, shared with the interactive
/// view (`scatter_view`), which starts where this figure is drawn from.
pub const YAW: f64 = 0.6;
pub const PITCH: f64 = 0.35;
pub const SCALE: f64 = 0.8;

/// An axis's plotted range: the data's, padded by 5% on each side.
pub fn range(points: &[f32], dims: usize, k: usize) -> Range<f64> {
    let (lo, hi) =
        points.iter().skip(k).step_by(dims).fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| (lo.min(v as f64), hi.max(v as f64)));
    if !lo.is_finite() {
        return -1.0..1.0;
    }
    let pad = ((hi - lo) * 0.05).max(1e-6);
    (lo - pad)..(hi + pad)
}

/// Points of one class, as (x, y[, z]) tuples.
fn of_class<'a>(points: &'a [f32], dims: usize, labels: &'a [u8], class: usize) -> impl Iterator<Item = &'a [f32]> {
    points.chunks_exact(dims).zip(labels).filter(move |(_, l)| **l as usize == class).map(|(p, _)| p)
}

pub fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    points: &[f32],
    dims: usize,
    labels: &[u8],
    classes: &[String],
) -> anyhow::Result<()> {
    area.fill(&WHITE).map_err(plot_err)?;
    let area = area.titled(title, (FONT, 18)).map_err(plot_err)?;
    let (x, y) = (range(points, dims, 0), range(points, dims, 1));
    if dims == 2 {
        let mut chart = chart_2d(&area, x, y)?;
        chart.configure_mesh().label_style((FONT, 12)).draw().map_err(plot_err)?;
        classes_with_legend(&mut chart, points, 2, labels, classes, |p| (p[0] as f64, p[1] as f64))?;
    } else {
        let z = range(points, dims, 2);
        let mut chart = ChartBuilder::on(&area).margin(20).build_cartesian_3d(x, y, z).map_err(plot_err)?;
        chart.with_projection(|mut pb| {
            pb.yaw = YAW;
            pb.pitch = PITCH;
            pb.scale = SCALE;
            pb.into_matrix()
        });
        chart.configure_axes().label_style((FONT, 11)).draw().map_err(plot_err)?;
        classes_with_legend(&mut chart, points, 3, labels, classes, |p| (p[0] as f64, p[1] as f64, p[2] as f64))?;
    }
    Ok(())
}

type Chart2d<'a, DB> = ChartContext<'a, DB, Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>>;

fn chart_2d<'a, DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, x: Range<f64>, y: Range<f64>) -> anyhow::Result<Chart2d<'a, DB>> {
    ChartBuilder::on(area).margin(10).x_label_area_size(30).y_label_area_size(40).build_cartesian_2d(x, y).map_err(plot_err)
}

/// Where a 2-D scatter titled `title` plots its points, in the figure's
/// pixels: `[left, top, right, bottom]` (the interactive view maps the
/// cursor through it). Laid out as `draw` lays it out, in memory.
pub fn plot_area_2d(title: &str, points: &[f32]) -> anyhow::Result<[i32; 4]> {
    let mut pixels = vec![0u8; (SIZE.0 * SIZE.1 * 3) as usize];
    let area = BitMapBackend::with_buffer(&mut pixels, SIZE).into_drawing_area();
    let area = area.titled(title, (FONT, 18)).map_err(plot_err)?;
    let chart = chart_2d(&area, range(points, 2, 0), range(points, 2, 1))?;
    let (x, y) = chart.plotting_area().get_pixel_range();
    Ok([x.start, y.start, x.end, y.end])
}

/// One coloured series a class, and the legend, in 2-D or 3-D alike.
fn classes_with_legend<'a, DB: DrawingBackend + 'a, CT: plotters::coord::CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    points: &[f32],
    dims: usize,
    labels: &[u8],
    classes: &[String],
    at: impl Fn(&[f32]) -> CT::From,
) -> anyhow::Result<()> {
    for (c, name) in classes.iter().enumerate() {
        let colour = CLASS_COLOURS[c % CLASS_COLOURS.len()];
        chart
            .draw_series(of_class(points, dims, labels, c).map(|p| Circle::new(at(p), 3, colour.filled())))
            .map_err(plot_err)?
            .label(name.as_str())
            .legend(move |(x, y)| Circle::new((x + 6, y), 4, colour.filled()));
    }
    draw_legend(chart, 12)
}
