//! The data of a curves figure's hover view in the HTML report
//! (`templates/viewer.js`): each panel's plotting area in the PNG's
//! pixels, its axes' ranges, and every line's values by epoch.

use super::curves::{Panel, SIZE, geometry};

/// `<stem>.curves.json` beside the figure's PNG and SVG.
pub fn file_name(stem: &str) -> String {
    format!("{stem}.curves.json")
}

#[derive(serde::Serialize)]
struct View<'a> {
    /// The PNG's size in pixels, which the view's canvas takes.
    size: [u32; 2],
    panels: Vec<PanelView<'a>>,
}

#[derive(serde::Serialize)]
struct PanelView<'a> {
    what: &'a str,
    /// `[left, top, right, bottom]` in the PNG's pixels.
    plot: [i32; 4],
    x: [f64; 2],
    y: [f64; 2],
    lines: Vec<Line<'a>>,
}

#[derive(serde::Serialize)]
struct Line<'a> {
    name: &'a str,
    /// `#rrggbb`, as drawn.
    colour: String,
    /// `[epoch, value]` pairs, in epoch order.
    points: &'a [(f64, f64)],
}

/// The view of the curves figure titled `title`, as JSON.
pub fn json(title: &str, panels: &[Panel; 2]) -> anyhow::Result<Vec<u8>> {
    let placed = geometry(title, panels)?;
    let panels = panels
        .iter()
        .zip(placed)
        .map(|(panel, placed)| PanelView {
            what: panel.what,
            plot: placed.plot,
            x: [placed.x.start, placed.x.end],
            y: [placed.y.start, placed.y.end],
            lines: panel
                .series
                .iter()
                .map(|s| Line {
                    name: &s.name,
                    colour: format!("#{:02x}{:02x}{:02x}", s.colour.0, s.colour.1, s.colour.2),
                    points: &s.points,
                })
                .collect(),
        })
        .collect();
    Ok(serde_json::to_vec(&View { size: [SIZE.0, SIZE.1], panels })?)
}

#[cfg(test)]
mod tests {
    use super::super::curves::{self, Panel, SIZE, Series};
    use plotters::prelude::*;

    fn panels() -> [Panel; 2] {
        let line = |name: &str, colour, values: &[f64]| Series {
            name: name.into(),
            colour,
            points: values.iter().enumerate().map(|(i, &v)| (i as f64 + 1.0, v)).collect(),
        };
        [
            Panel {
                what: "accuracy",
                series: vec![line("train", BLUE, &[0.1, 0.4, 0.6, 0.7]), line("validation", RED, &[0.2, 0.3, 0.5, 0.55])],
            },
            Panel {
                what: "loss",
                series: vec![line("train", BLUE, &[2.0, 1.5, 1.1, 0.9]), line("validation", RED, &[1.9, 1.7, 1.4, 1.3])],
            },
        ]
    }

    /// Where the view puts each point, the drawn PNG has that line's dot.
    #[test]
    fn the_view_finds_each_point_where_the_figure_draws_it() {
        let panels = panels();
        let mut pixels = vec![0u8; (SIZE.0 * SIZE.1 * 3) as usize];
        {
            let area = BitMapBackend::with_buffer(&mut pixels, SIZE).into_drawing_area();
            super::super::init_fonts();
            curves::draw(&area, "test", &panels).unwrap();
            area.present().unwrap();
        }
        let rgb = |x: i32, y: i32| {
            let at = ((y as u32 * SIZE.0 + x as u32) * 3) as usize;
            (pixels[at], pixels[at + 1], pixels[at + 2])
        };
        for (panel, placed) in panels.iter().zip(curves::geometry("test", &panels).unwrap()) {
            let ([l, t, r, b], xs, ys) = (placed.plot, placed.x, placed.y);
            for s in &panel.series {
                for &(epoch, value) in &s.points {
                    let x = l as f64 + (epoch - xs.start) / (xs.end - xs.start) * (r - l) as f64;
                    let y = b as f64 - (value - ys.start) / (ys.end - ys.start) * (b - t) as f64;
                    let near = (-2..=2).flat_map(|dx| (-2..=2).map(move |dy| (dx, dy)));
                    let hit = near.clone().any(|(dx, dy)| rgb(x.round() as i32 + dx, y.round() as i32 + dy) == s.colour.rgb());
                    assert!(hit, "{} {} at epoch {epoch}: no {:?} pixel near ({x:.1}, {y:.1})", panel.what, s.name, s.colour);
                }
            }
        }
    }
}
