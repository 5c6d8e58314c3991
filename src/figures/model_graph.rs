//! Figure 3-1: the model with its center-loss branch, drawn from the
//! trained model's summary (one box a layer) plus the branch: inputs image
//! and label, outputs class and center loss.

use super::{FONT, plot_err};
use crate::model::summary::SummaryRow;
use plotters::coord::Shift;
use plotters::prelude::*;

const BOX_W: i32 = 330;
const BOX_H: i32 = 26;
const STEP: i32 = 36;
const LEFT: i32 = 40;
const TOP: i32 = 70;

pub fn size(layers: usize) -> (u32, u32) {
    (900, (TOP + STEP * (layers as i32 + 2) + 40) as u32)
}

fn node<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, x: i32, y: i32, w: i32, text: &str, fill: RGBColor) -> anyhow::Result<()> {
    area.draw(&Rectangle::new([(x, y), (x + w, y + BOX_H)], fill.filled())).map_err(plot_err)?;
    area.draw(&Rectangle::new([(x, y), (x + w, y + BOX_H)], BLACK.stroke_width(1))).map_err(plot_err)?;
    area.draw(&Text::new(text.to_string(), (x + 8, y + 6), (FONT, 14))).map_err(plot_err)?;
    Ok(())
}

fn arrow<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, from: (i32, i32), to: (i32, i32)) -> anyhow::Result<()> {
    area.draw(&PathElement::new(vec![from, to], BLACK.stroke_width(1))).map_err(plot_err)?;
    let (dx, dy) = ((to.0 - from.0) as f64, (to.1 - from.1) as f64);
    let len = (dx * dx + dy * dy).sqrt().max(1.0);
    let (ux, uy) = (dx / len, dy / len);
    let head = |side: f64| (to.0 - (8.0 * ux - side * 4.0 * uy) as i32, to.1 - (8.0 * uy + side * 4.0 * ux) as i32);
    area.draw(&Polygon::new(vec![to, head(1.0), head(-1.0)], BLACK.filled())).map_err(plot_err)?;
    Ok(())
}

pub fn draw<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, rows: &[SummaryRow], weight: f64) -> anyhow::Result<()> {
    area.fill(&WHITE).map_err(plot_err)?;
    area.draw(&Text::new("Model with the center-loss branch", (LEFT, 16), (FONT, 20))).map_err(plot_err)?;
    let input = RGBColor(255, 236, 179);
    let layer = RGBColor(220, 232, 245);
    let branch = RGBColor(252, 213, 206);
    let y_of = |i: usize| TOP + STEP * i as i32;
    node(area, LEFT, y_of(0), BOX_W, "input: image 32 x 32 x 3", input)?;
    let mut feature_y = y_of(0);
    for (i, r) in rows.iter().enumerate() {
        let y = y_of(i + 1);
        arrow(area, (LEFT + BOX_W / 2, y - STEP + BOX_H), (LEFT + BOX_W / 2, y))?;
        node(area, LEFT, y, BOX_W, &format!("{}  ->  {}", r.layer, r.output), layer)?;
        if r.layer == "dense" {
            feature_y = y;
        }
    }
    let out_y = y_of(rows.len() + 1);
    arrow(area, (LEFT + BOX_W / 2, out_y - STEP + BOX_H), (LEFT + BOX_W / 2, out_y))?;
    node(area, LEFT, out_y, BOX_W, "output 1: class (softmax, cross-entropy)", input)?;

    // The branch, beside the feature layer.
    let bx = LEFT + BOX_W + 120;
    let bw = 380;
    node(area, bx, feature_y - 2 * STEP, bw, "input: label y", input)?;
    node(area, bx, feature_y - STEP, bw, "centers c (10 x 512), K-means initialised", branch)?;
    arrow(area, (bx + bw / 2, feature_y - 2 * STEP + BOX_H), (bx + bw / 2, feature_y - STEP))?;
    node(area, bx, feature_y + STEP, bw, "center loss: mean ||f - c_y||^2 / 2", branch)?;
    arrow(area, (bx + bw / 2, feature_y - STEP + BOX_H), (bx + bw / 2, feature_y + STEP))?;
    arrow(area, (LEFT + BOX_W, feature_y + BOX_H / 2), (bx, feature_y + STEP + BOX_H / 2))?;
    area.draw(&Text::new("f (512-d feature)", (LEFT + BOX_W + 8, feature_y - 4), (FONT, 13))).map_err(plot_err)?;
    node(area, bx, feature_y + 3 * STEP, bw, "output 2: center loss", input)?;
    arrow(area, (bx + bw / 2, feature_y + STEP + BOX_H), (bx + bw / 2, feature_y + 3 * STEP))?;
    let total = format!("total loss = cross-entropy + {weight} x center loss");
    area.draw(&Text::new(total, (bx, feature_y + 4 * STEP + 8), (FONT, 14))).map_err(plot_err)?;
    Ok(())
}
