//! The one font every picture is drawn with, compiled into the binary.
//!
//! DejaVu Sans (Bitstream Vera licence, see `LICENSE-DejaVu.txt` beside this
//! file) is handed to plotters through its `ab_glyph` backend, so neither text
//! layout in SVGs nor glyphs in PNGs ever consult fontconfig or the fonts
//! installed on the machine: the same input draws the same picture anywhere.

use std::sync::OnceLock;

use plotters::style::FontStyle;

/// The family name charts ask for. Registering DejaVu under the generic name
/// means an SVG says `font-family="sans-serif"`, which every viewer can
/// satisfy, while the layout was measured with DejaVu's metrics.
pub const FAMILY: &str = "sans-serif";

static DEJAVU_SANS: &[u8] = include_bytes!("DejaVuSans.ttf");

/// Registers the embedded font with plotters; cheap after the first call.
pub fn ensure_registered() -> anyhow::Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font(FAMILY, FontStyle::Normal, DEJAVU_SANS).is_ok()
    });
    if ok {
        Ok(())
    } else {
        anyhow::bail!("the embedded DejaVu Sans font could not be loaded (the binary is damaged)")
    }
}
