//! Goroutines over time: the total count and the stacks that grow, one line
//! each, so a goroutine leak shows which blocked call is piling up.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::chart::{encode_png, encode_svg, plot_error};
use super::font;
use super::time_axis::{TimeAxis, MIN_SPAN};
use super::{Exporter, Png, Svg};

/// Size of the drawing in pixels (SVG user units).
pub const SIZE: (u32, u32) = (1000, 420);

/// How many growing stacks get their own line; more would be unreadable.
pub const MAX_STACKS: usize = 5;

/// Everything the goroutine plot draws. Times are Unix seconds (UTC).
#[derive(Debug, Clone, Default)]
pub struct GoroutinePlot {
    /// The caption.
    pub title: String,
    /// `(unix seconds, goroutines)` for the whole process.
    pub total: Vec<(f64, f64)>,
    /// The growing stacks, steepest first; only the first [`MAX_STACKS`]
    /// are drawn.
    pub stacks: Vec<GoroutineStack>,
}

/// One goroutine stack's count over time.
#[derive(Debug, Clone)]
pub struct GoroutineStack {
    /// How the legend names it, e.g. `main.awaitReply ← main.handle`.
    pub label: String,
    /// `(unix seconds, goroutines)`.
    pub points: Vec<(f64, f64)>,
}

/// Legend labels longer than this are cut, so one C++ template name cannot
/// push the legend off the chart.
const MAX_LABEL_CHARS: usize = 70;

const PALETTE: [RGBColor; MAX_STACKS] = [
    RGBColor(214, 39, 40),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
];

impl Exporter<GoroutinePlot> for Svg {
    fn export(&self, plot: &GoroutinePlot) -> anyhow::Result<Vec<u8>> {
        encode_svg(SIZE, |root| draw(root, plot))
    }
}

impl Exporter<GoroutinePlot> for Png {
    fn export(&self, plot: &GoroutinePlot) -> anyhow::Result<Vec<u8>> {
        encode_png(SIZE, |root| draw(root, plot))
    }
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    plot: &GoroutinePlot,
) -> anyhow::Result<()> {
    root.fill(&WHITE).map_err(plot_error)?;
    let stacks = &plot.stacks[..plot.stacks.len().min(MAX_STACKS)];
    let all = plot
        .total
        .iter()
        .chain(stacks.iter().flat_map(|s| s.points.iter()));
    let (t0, t1, y) = all.fold(
        (f64::INFINITY, f64::NEG_INFINITY, 0.0f64),
        |(lo, hi, y), &(t, n)| (lo.min(t), hi.max(t), y.max(n)),
    );
    let title = if plot.title.is_empty() {
        "Goroutines over time"
    } else {
        &plot.title
    };
    if !t0.is_finite() {
        root.draw(&Text::new(
            format!("{title}: no goroutine profiles to plot"),
            (40, 40),
            (font::FAMILY, 18),
        ))
        .map_err(plot_error)?;
        return Ok(());
    }
    let t1 = t1.max(t0 + MIN_SPAN);
    let y_max = (y * 1.08).max(4.0);
    let axis = TimeAxis::new(t0, t1);
    let mut chart = ChartBuilder::on(root)
        .caption(title, (font::FAMILY, 18))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(axis.to_x(t0)..axis.to_x(t1), 0.0..y_max)
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .light_line_style(RGBColor(238, 238, 238))
        .x_labels(8)
        .y_labels(6)
        .x_label_formatter(&|x| axis.label(*x))
        .y_label_formatter(&|y| format!("{:.0}", y))
        .x_desc(axis.caption())
        .y_desc("goroutines")
        .label_style((font::FAMILY, 13))
        .axis_desc_style((font::FAMILY, 14))
        .draw()
        .map_err(plot_error)?;

    let total_color = RGBColor(31, 119, 180);
    chart
        .draw_series(LineSeries::new(
            plot.total.iter().map(|&(t, n)| (axis.to_x(t), n)),
            total_color.stroke_width(2),
        ))
        .map_err(plot_error)?
        .label("all goroutines")
        .legend(move |(x, y)| {
            PathElement::new(vec![(x, y), (x + 18, y)], total_color.stroke_width(2))
        });
    for (stack, color) in stacks.iter().zip(PALETTE) {
        chart
            .draw_series(LineSeries::new(
                stack.points.iter().map(|&(t, n)| (axis.to_x(t), n)),
                color.stroke_width(2),
            ))
            .map_err(plot_error)?
            .label(shorten(&stack.label))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(200, 200, 200))
        .label_font((font::FAMILY, 13))
        .draw()
        .map_err(plot_error)?;
    Ok(())
}

fn shorten(label: &str) -> String {
    if label.chars().count() <= MAX_LABEL_CHARS {
        label.to_owned()
    } else {
        let mut s: String = label.chars().take(MAX_LABEL_CHARS - 1).collect();
        s.push('…');
        s
    }
}
