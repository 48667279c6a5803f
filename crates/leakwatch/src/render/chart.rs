//! What every chart shares: the embedded font, drawing into SVG or PNG
//! bytes, and turning plotters' errors into messages.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::font;

/// Draws a chart of `size` pixels into an SVG document's bytes.
pub fn encode_svg(
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> anyhow::Result<()>,
) -> anyhow::Result<Vec<u8>> {
    font::ensure_registered()?;
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, size).into_drawing_area();
        draw(&root)?;
        root.present().map_err(plot_error)?;
    }
    Ok(out.into_bytes())
}

/// Draws onto an RGB buffer of `size` and encodes it as PNG.
pub fn encode_png(
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<BitMapBackend<'_>, Shift>) -> anyhow::Result<()>,
) -> anyhow::Result<Vec<u8>> {
    use image::ImageEncoder;
    font::ensure_registered()?;
    let mut rgb = vec![0u8; size.0 as usize * size.1 as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, size).into_drawing_area();
        draw(&root)?;
        root.present().map_err(plot_error)?;
    }
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(&rgb, size.0, size.1, image::ColorType::Rgb8)
        .map_err(|e| anyhow::anyhow!("cannot encode the PNG: {e}"))?;
    Ok(png)
}

/// Plotters errors carry the backend's error type; the message is all a
/// user can act on.
pub fn plot_error(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("cannot draw the chart: {e}")
}
