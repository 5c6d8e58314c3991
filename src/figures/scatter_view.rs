//! The data of an embedding's interactive view in the HTML report
//! (`templates/viewer.js`): the points quantised to 16 bits an axis over
//! the static figure's ranges, each point's class, predicted class and
//! test-set index, the class colours and the static figure's angle.

use super::CLASS_COLOURS;
use super::scatter::{PITCH, SCALE, YAW, plot_area_2d, range};
use crate::artifacts::embeddings::{Embedding, EmbeddingsFile};

/// `<stem>.view.json` beside the figure's PNG and SVG.
pub fn file_name(stem: &str) -> String {
    format!("{stem}.view.json")
}

#[derive(serde::Serialize)]
struct View<'a> {
    title: &'a str,
    dims: usize,
    classes: &'a [String],
    /// `#rrggbb`, the static figure's colour of each class.
    colours: Vec<String>,
    /// Each axis's plotted range (the static figure's).
    ranges: Vec<[f64; 2]>,
    /// Row-major [n x dims], each value as 4 hex digits: 0 = the axis's
    /// low end, ffff its high end.
    points: String,
    /// Each point's class, two hex digits.
    labels: String,
    /// Each point's predicted class, two hex digits (absent: not recorded).
    predictions: Option<String>,
    indices: &'a [usize],
    /// A 2-D figure's plotting area in its pixels, `[left, top, right, bottom]`.
    plot: Option<[i32; 4]>,
    yaw: f64,
    pitch: f64,
    scale: f64,
}

/// The view of one embedding of `file`, as JSON.
pub fn json(title: &str, file: &EmbeddingsFile, e: &Embedding) -> anyhow::Result<Vec<u8>> {
    let ranges: Vec<[f64; 2]> = (0..e.dims).map(|k| range(&e.points, e.dims, k)).map(|r| [r.start, r.end]).collect();
    let quantised = e.points.chunks_exact(e.dims).flat_map(|p| p.iter().zip(&ranges).map(|(&v, [lo, hi])| quantise(v as f64, *lo, *hi)));
    let points: String = quantised.map(|q| format!("{q:04x}")).collect();
    let bytes = |values: &[u8]| values.iter().map(|v| format!("{v:02x}")).collect::<String>();
    let view = View {
        title,
        dims: e.dims,
        classes: &file.classes,
        colours: CLASS_COLOURS.iter().map(|c| format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)).collect(),
        ranges,
        points,
        labels: bytes(&file.labels),
        predictions: file.predictions.as_deref().map(bytes),
        indices: &file.indices,
        plot: if e.dims == 2 { Some(plot_area_2d(title, &e.points)?) } else { None },
        yaw: YAW,
        pitch: PITCH,
        scale: SCALE,
    };
    Ok(serde_json::to_vec(&view)?)
}

fn quantise(v: f64, lo: f64, hi: f64) -> u16 {
    (((v - lo) / (hi - lo)).clamp(0.0, 1.0) * 65535.0).round() as u16
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_ends_of_a_range_are_the_ends_of_sixteen_bits() {
        assert_eq!(super::quantise(-2.0, -2.0, 6.0), 0);
        assert_eq!(super::quantise(6.0, -2.0, 6.0), 65535);
        assert_eq!(super::quantise(2.0, -2.0, 6.0), 32768);
    }
}
