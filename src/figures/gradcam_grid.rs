//! Figure 6: one row a class: original | heatmap | overlay.

use super::sample_grid::upscale;
use super::{FONT, plot_err};
use crate::artifacts::gradcam::CamRow;
use crate::data::dataset::SIDE;
use crate::gradcam::heatmap::{colour, overlay};
use plotters::coord::Shift;
use plotters::prelude::*;

const SCALE: usize = 3;
const LABEL: u32 = 170;
const GAP: u32 = 6;
const HEAD: u32 = 30;

pub fn size(rows: usize) -> (u32, u32) {
    let cell = (SIDE * SCALE) as u32 + GAP;
    (LABEL + 3 * cell + GAP, HEAD + rows as u32 * cell + GAP)
}

/// `image(i)` gives test image i (HWC u8).
pub fn draw<'a, DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    rows: &[CamRow],
    classes: &[String],
    image: impl Fn(usize) -> &'a [u8],
) -> anyhow::Result<()> {
    area.fill(&WHITE).map_err(plot_err)?;
    let cell = (SIDE * SCALE) as u32 + GAP;
    for (c, head) in ["original", "heatmap", "overlay"].iter().enumerate() {
        area.draw(&Text::new(head.to_string(), ((LABEL + c as u32 * cell) as i32, 8), (FONT, 14))).map_err(plot_err)?;
    }
    for (r, row) in rows.iter().enumerate() {
        let y = (HEAD + r as u32 * cell) as i32;
        let predicted = classes.get(row.predicted as usize).map_or("?", String::as_str);
        let text = if row.predicted == row.class { row.name.clone() } else { format!("{} (as {predicted})", row.name) };
        area.draw(&Text::new(text, (6, y + 38), (FONT, 13))).map_err(plot_err)?;
        let img = image(row.index);
        for (c, pixels) in [img.to_vec(), colour(&row.heat), overlay(img, &row.heat, 0.45)].into_iter().enumerate() {
            let x = (LABEL + c as u32 * cell) as i32;
            let side = (SIDE * SCALE) as u32;
            let element = BitMapElement::with_owned_buffer((x, y), (side, side), upscale(&pixels, SCALE)).expect("buffer matches size");
            area.draw(&element).map_err(plot_err)?;
        }
    }
    Ok(())
}
