//! Figures drawn with plotters, each as PNG and SVG. Fonts are embedded
//! (DejaVu Sans), so drawing needs nothing from the system.

pub mod curves;
pub mod curves_view;
pub mod gradcam_grid;
pub mod model_graph;
pub mod sample_grid;
pub mod scatter;
pub mod scatter_view;
pub mod sweep_plot;

use plotters::prelude::*;
use std::path::Path;
use std::sync::Once;

pub const FONT: &str = "sans-serif";

/// Registers the embedded fonts once per process.
pub fn init_fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = plotters::style::register_font(FONT, FontStyle::Normal, dejavu::sans::regular());
        let _ = plotters::style::register_font(FONT, FontStyle::Bold, dejavu::sans::bold());
    });
}

/// Draws the same figure to `<stem>.png` and `<stem>.svg` in `dir`.
pub fn draw_both(
    dir: &Path,
    stem: &str,
    size: (u32, u32),
    draw_png: impl Fn(DrawingArea<BitMapBackend, plotters::coord::Shift>) -> anyhow::Result<()>,
    draw_svg: impl Fn(DrawingArea<SVGBackend, plotters::coord::Shift>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    init_fonts();
    std::fs::create_dir_all(dir)?;
    let png = dir.join(format!("{stem}.png"));
    let root = BitMapBackend::new(&png, size).into_drawing_area();
    draw_png(root.clone())?;
    root.present().map_err(|e| anyhow::anyhow!("cannot write {}: {e}", png.display()))?;
    drop(root);
    let svg = dir.join(format!("{stem}.svg"));
    let root = SVGBackend::new(&svg, size).into_drawing_area();
    draw_svg(root.clone())?;
    root.present().map_err(|e| anyhow::anyhow!("cannot write {}: {e}", svg.display()))?;
    drop(root);
    fix_svg_data_uris(&svg)
}

/// plotters-svg embeds bitmaps as `data:png;base64,…`, which browsers
/// reject; the media type must be `image/png`.
fn fix_svg_data_uris(path: &Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path)?;
    if text.contains("\"data:png;base64,") {
        std::fs::write(path, text.replace("\"data:png;base64,", "\"data:image/png;base64,"))?;
    }
    Ok(())
}

/// A plotters error as anyhow (their error types are backend-generic).
/// The legend every figure uses: upper right, on a translucent white box.
pub fn draw_legend<'a, DB: DrawingBackend + 'a, CT: plotters::coord::CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    font_size: u32,
) -> anyhow::Result<()> {
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font((FONT, font_size))
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(plot_err)
}

pub fn plot_err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow::anyhow!("drawing failed: {e:?}")
}

/// Ten distinguishable class colours (tab10).
pub const CLASS_COLOURS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];
