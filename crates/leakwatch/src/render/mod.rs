//! Output formats: one exporter per format behind one small trait, as
//! hyperfine's `export/` does.
//!
//! Each input (a memory plot, a flame graph, the report) implements
//! [`Exporter`] for every format it can be written in, so a caller writes
//! `Svg.export(&plot)` or `Png.export(&plot)` and a new format is a new
//! `impl`, not a new code path through the commands.

mod chart;
pub mod flame;
pub mod fleet_page;
pub mod font;
#[cfg(test)]
mod golden_tests;
pub mod goroutine_plot;
pub mod html;
pub mod live;
pub mod memory_plot;
pub mod report;
pub mod sparkline;
pub mod table;
pub mod time_axis;
pub mod verdict_output;
pub mod verdict_text;

/// Writes `T` as the bytes of one file in one format.
pub trait Exporter<T: ?Sized> {
    /// Renders `input` completely in memory; the caller decides where the
    /// bytes go, so a failed render never leaves half a file behind.
    fn export(&self, input: &T) -> anyhow::Result<Vec<u8>>;
}

/// Scalable vector graphics.
#[derive(Debug, Clone, Copy, Default)]
pub struct Svg;

/// A PNG bitmap.
#[derive(Debug, Clone, Copy, Default)]
pub struct Png;

/// One self-contained HTML document.
#[derive(Debug, Clone, Copy, Default)]
pub struct Html;

/// Writes `bytes` to `path`, naming the path and the flag in the error.
pub fn write_output(path: &std::path::Path, flag: &str, bytes: &[u8]) -> anyhow::Result<()> {
    std::fs::write(path, bytes).map_err(|e| {
        anyhow::anyhow!(
            "cannot write {flag} output to {}: {e} (check that the directory exists and is writable)",
            path.display()
        )
    })
}
