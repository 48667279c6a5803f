//! What every chart shares: turning plotters' errors into messages and a
//! bitmap into PNG bytes.

use plotters::coord::Shift;
use plotters::prelude::*;

/// Draws onto an RGB buffer of `size` and encodes it as PNG.
pub fn encode_png(
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<BitMapBackend<'_>, Shift>) -> anyhow::Result<()>,
) -> anyhow::Result<Vec<u8>> {
    use image::ImageEncoder;
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
