//! A grid of sample images: one row a class, its name at the left.

use super::{FONT, plot_err};
use crate::data::{Dataset, dataset::SIDE};
use plotters::coord::Shift;
use plotters::prelude::*;

const SCALE: u32 = 2;
const LABEL_WIDTH: u32 = 110;
const GAP: u32 = 4;

/// First `per_class` training images of each class (the split is already
/// shuffled, so these are a seeded random sample).
pub fn pick(dataset: &Dataset, per_class: usize) -> Vec<Vec<usize>> {
    let mut rows = vec![Vec::new(); dataset.classes.len()];
    for (i, &l) in dataset.train.labels.iter().enumerate() {
        if rows[l as usize].len() < per_class {
            rows[l as usize].push(i);
        }
    }
    rows
}

pub fn size(classes: usize, per_class: usize) -> (u32, u32) {
    let cell = SIDE as u32 * SCALE + GAP;
    (LABEL_WIDTH + per_class as u32 * cell + GAP, classes as u32 * cell + GAP)
}

pub fn draw<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, dataset: &Dataset, rows: &[Vec<usize>]) -> anyhow::Result<()> {
    area.fill(&WHITE).map_err(plot_err)?;
    let cell = SIDE as u32 * SCALE + GAP;
    for (class, indices) in rows.iter().enumerate() {
        let y = (class as u32 * cell + GAP) as i32;
        let name = &dataset.classes[class];
        area.draw(&Text::new(name.clone(), (6, y + 24), (FONT, 15).into_font())).map_err(plot_err)?;
        for (col, &i) in indices.iter().enumerate() {
            let x = (LABEL_WIDTH + col as u32 * cell) as i32;
            let pixels = upscale(dataset.train.image(i), SCALE as usize);
            let side = SIDE as u32 * SCALE;
            let element = BitMapElement::with_owned_buffer((x, y), (side, side), pixels).expect("buffer matches size");
            area.draw(&element).map_err(plot_err)?;
        }
    }
    Ok(())
}

/// Nearest-neighbour upscaling of a SIDE x SIDE RGB image by `s`, so small
/// images stay crisp.
pub fn upscale(image: &[u8], s: usize) -> Vec<u8> {
    let side = SIDE * s;
    let mut out = vec![0u8; side * side * 3];
    for y in 0..side {
        for x in 0..side {
            let src = ((y / s) * SIDE + x / s) * 3;
            out[(y * side + x) * 3..(y * side + x) * 3 + 3].copy_from_slice(&image[src..src + 3]);
        }
    }
    out
}
