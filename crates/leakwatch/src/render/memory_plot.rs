//! Memory over time: RSS, cgroup usage and heap in use against wall-clock
//! time, with the fitted trend and its confidence band, the limit and the
//! projected crossing, and restarts and OOM kills marked.
//!
//! The input is plain numbers ([`MemoryPlot`]) so the analysis fills it
//! without this module knowing about recordings or verdicts.

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::chart::{encode_png, encode_svg, plot_error};
use super::font;
use super::time_axis::{rfc3339, TimeAxis, MIN_SPAN};
use super::{Exporter, Png, Svg};
use crate::units::format_bytes;

/// Size of the drawing in pixels (SVG user units).
pub const SIZE: (u32, u32) = (1000, 520);

/// Everything the memory plot draws. Times are Unix seconds (UTC), sizes
/// bytes.
#[derive(Debug, Clone, Default)]
pub struct MemoryPlot {
    /// The caption, e.g. the target's name and pid.
    pub title: String,
    /// One line per measured quantity; an empty series is left out.
    pub series: Vec<MemorySeries>,
    /// The fitted trend of one of the series.
    pub trend: Option<Trend>,
    /// The memory limit the target runs under.
    pub limit: Option<Limit>,
    /// Restarts and OOM kills.
    pub events: Vec<PlotEvent>,
}

/// What a series measures; decides its name and colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeriesKind {
    /// Resident set size of the process.
    Rss,
    /// Memory charged to the process's cgroup.
    Cgroup,
    /// Heap in use according to the heap profiles.
    Heap,
}

impl SeriesKind {
    fn name(self) -> &'static str {
        match self {
            SeriesKind::Rss => "RSS",
            SeriesKind::Cgroup => "cgroup usage",
            SeriesKind::Heap => "heap in use",
        }
    }

    fn color(self) -> RGBColor {
        match self {
            SeriesKind::Rss => RGBColor(31, 119, 180),
            SeriesKind::Cgroup => RGBColor(44, 160, 44),
            SeriesKind::Heap => RGBColor(148, 103, 189),
        }
    }
}

/// Samples of one quantity: `(unix seconds, bytes)`, in time order.
#[derive(Debug, Clone)]
pub struct MemorySeries {
    /// What is measured.
    pub kind: SeriesKind,
    /// The samples.
    pub points: Vec<(f64, f64)>,
}

/// A fitted straight line `bytes = intercept + slope × hours since start`,
/// with the confidence interval of the slope.
#[derive(Debug, Clone, Copy)]
pub struct Trend {
    /// The series the line was fitted to.
    pub of: SeriesKind,
    /// Where `hours since start` is zero, Unix seconds.
    pub start: f64,
    /// Bytes at `start`.
    pub intercept_bytes: f64,
    /// The fitted slope, bytes per hour.
    pub slope_bytes_per_hour: f64,
    /// Lower end of the slope's confidence interval, bytes per hour.
    pub slope_low: f64,
    /// Upper end of the slope's confidence interval, bytes per hour.
    pub slope_high: f64,
}

impl Trend {
    fn at(&self, t: f64) -> f64 {
        self.intercept_bytes + self.slope_bytes_per_hour * (t - self.start) / 3600.0
    }

    /// When the line reaches `bytes`, if it ever does after `start`.
    pub fn crossing(&self, bytes: f64) -> Option<f64> {
        if self.slope_bytes_per_hour <= 0.0 || !self.slope_bytes_per_hour.is_finite() {
            return None;
        }
        let hours = (bytes - self.intercept_bytes) / self.slope_bytes_per_hour;
        (hours >= 0.0).then_some(self.start + hours * 3600.0)
    }
}

/// A memory limit drawn as a horizontal line.
#[derive(Debug, Clone)]
pub struct Limit {
    /// The limit in bytes.
    pub bytes: f64,
    /// Where it came from, e.g. `cgroup` or `--limit`.
    pub source: String,
}

/// A moment worth a vertical marker.
#[derive(Debug, Clone)]
pub struct PlotEvent {
    /// Unix seconds.
    pub time: f64,
    /// What happened.
    pub kind: PlotEventKind,
}

/// The kinds of marked events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlotEventKind {
    /// The target was restarted (a new pid).
    Restart,
    /// The kernel's OOM killer ended the target.
    OomKill,
}

impl PlotEventKind {
    fn name(self) -> &'static str {
        match self {
            PlotEventKind::Restart => "restart",
            PlotEventKind::OomKill => "OOM kill",
        }
    }

    fn color(self) -> RGBColor {
        match self {
            PlotEventKind::Restart => RGBColor(255, 127, 14),
            PlotEventKind::OomKill => RGBColor(140, 20, 20),
        }
    }
}

impl Exporter<MemoryPlot> for Svg {
    fn export(&self, plot: &MemoryPlot) -> anyhow::Result<Vec<u8>> {
        encode_svg(SIZE, |root| draw(root, plot))
    }
}

impl Exporter<MemoryPlot> for Png {
    fn export(&self, plot: &MemoryPlot) -> anyhow::Result<Vec<u8>> {
        encode_png(SIZE, |root| draw(root, plot))
    }
}

/// How far past the last sample the x axis may stretch to show the
/// projected limit crossing, in multiples of the window. Further out the
/// samples would be squeezed into a corner; the crossing is then named in
/// the caption instead.
const MAX_PROJECTION: f64 = 2.0;

/// A cgroup series peaking above this multiple of the process's own series
/// is not drawn (see [`draw`]).
const OFF_SCALE: f64 = 3.0;

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    plot: &MemoryPlot,
) -> anyhow::Result<()> {
    root.fill(&WHITE).map_err(plot_error)?;
    let series: Vec<&MemorySeries> = plot
        .series
        .iter()
        .filter(|s| !s.points.is_empty())
        .collect();
    // A cgroup that holds more than the process (a whole container, a
    // systemd slice) would flatten the process's own lines: it is left off
    // the scale and named in the legend, unless the trend is its own.
    let peak = |s: &MemorySeries| s.points.iter().map(|p| p.1).fold(0.0f64, f64::max);
    let process_peak = series
        .iter()
        .filter(|s| s.kind != SeriesKind::Cgroup)
        .map(|s| peak(s))
        .fold(0.0f64, f64::max);
    let cgroup_needed = plot.trend.is_some_and(|t| t.of == SeriesKind::Cgroup);
    let (series, off_scale): (Vec<&MemorySeries>, Vec<&MemorySeries>) =
        series.into_iter().partition(|s| {
            s.kind != SeriesKind::Cgroup
                || cgroup_needed
                || process_peak == 0.0
                || peak(s) <= OFF_SCALE * process_peak
        });
    let times = series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
    let (mut t0, mut t1) = times.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), t| {
        (lo.min(t), hi.max(t))
    });
    if series.is_empty() {
        return draw_empty(root, &plot.title);
    }
    let data_end = t1;
    if t1 - t0 < MIN_SPAN {
        // A single sample or a very short run still gets a readable axis.
        t1 = t0 + MIN_SPAN;
    }
    let window = t1 - t0;

    let crossing = match (&plot.trend, &plot.limit) {
        (Some(trend), Some(limit)) => trend.crossing(limit.bytes),
        _ => None,
    };
    let shown_crossing = crossing.filter(|&c| c > t1 && c <= t1 + MAX_PROJECTION * window);
    if let Some(c) = shown_crossing {
        t1 = c + 0.05 * window;
    }
    t0 = t0.min(t1);

    let data_max = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .fold(0.0f64, f64::max);
    // The trend spans the samples, and reaches on to the limit only when
    // the crossing is drawn.
    let trend_end = if shown_crossing.is_some() {
        t1
    } else {
        data_end
    };
    let band_max = plot.trend.map_or(0.0, |tr| {
        band_at(&tr, t0, trend_end, trend_end)
            .1
            .max(band_at(&tr, t0, trend_end, t0).1)
    });
    let mut y_max = data_max.max(band_max.min(data_max * 1.5));
    // The limit sets the scale only when it is close enough to matter;
    // a 64 GiB limit over a 50 MiB process would flatten every line.
    let limit_shown = plot
        .limit
        .as_ref()
        .filter(|l| shown_crossing.is_some() || l.bytes <= data_max * 4.0);
    if let Some(l) = limit_shown {
        y_max = y_max.max(l.bytes);
    }
    let y_max = if y_max > 0.0 { y_max * 1.08 } else { 1024.0 };
    // Plotters puts ticks on round numbers of the coordinate, so the chart
    // is drawn in the unit its labels use: ticks at 100 MiB, 200 MiB rather
    // than at round byte counts (95.4 MiB, 191 MiB).
    let u = label_unit(y_max);

    let axis = TimeAxis::new(t0, t1);
    let caption = caption(
        plot,
        crossing,
        shown_crossing.is_some(),
        limit_shown.is_some(),
    );
    let mut chart = ChartBuilder::on(root)
        .caption(caption, (font::FAMILY, 18))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(84)
        .build_cartesian_2d(axis.to_x(t0)..axis.to_x(t1), 0.0..y_max / u)
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .light_line_style(RGBColor(238, 238, 238))
        .x_labels(8)
        .y_labels(8)
        .x_label_formatter(&|x| axis.label(*x))
        .y_label_formatter(&|y| format_bytes((y * u).round() as i64))
        .x_desc(axis.caption())
        .label_style((font::FAMILY, 13))
        .axis_desc_style((font::FAMILY, 14))
        .draw()
        .map_err(plot_error)?;

    if let Some(trend) = &plot.trend {
        draw_trend(&mut chart, &axis, trend, (t0, trend_end), y_max, u)?;
    }

    for s in &series {
        let color = s.kind.color();
        chart
            .draw_series(LineSeries::new(
                s.points
                    .iter()
                    .map(|&(t, b)| (axis.to_x(t), b.clamp(0.0, y_max) / u)),
                color.stroke_width(2),
            ))
            .map_err(plot_error)?
            .label(s.kind.name())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
    }

    if let Some(limit) = limit_shown {
        let red = RGBColor(214, 39, 40);
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![
                    (axis.to_x(t0), limit.bytes / u),
                    (axis.to_x(t1), limit.bytes / u),
                ],
                red.stroke_width(2),
            )))
            .map_err(plot_error)?
            .label(format!(
                "limit {} ({})",
                format_bytes(limit.bytes as i64),
                limit.source
            ))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], red.stroke_width(2)));
        if let Some(c) = shown_crossing {
            let x = axis.to_x(c);
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(x, 0.0), (x, limit.bytes / u)],
                    6,
                    4,
                    red.stroke_width(1),
                ))
                .map_err(plot_error)?;
            chart
                .draw_series(std::iter::once(Circle::new(
                    (x, limit.bytes / u),
                    5,
                    red.filled(),
                )))
                .map_err(plot_error)?;
        }
    }

    for ev in plot.events.iter().filter(|e| e.time >= t0 && e.time <= t1) {
        let color = ev.kind.color();
        let x = axis.to_x(ev.time);
        chart
            .draw_series(std::iter::once(PathElement::new(
                vec![(x, 0.0), (x, y_max / u)],
                color.stroke_width(2),
            )))
            .map_err(plot_error)?;
        chart
            .draw_series(std::iter::once(Text::new(
                ev.kind.name(),
                (x, y_max * 0.97 / u),
                (font::FAMILY, 12).into_font().color(&color),
            )))
            .map_err(plot_error)?;
    }
    for s in &off_scale {
        let label = format!(
            "{} up to {}: off the scale",
            s.kind.name(),
            format_bytes(peak(s) as i64)
        );
        let color = s.kind.color();
        chart
            .draw_series(std::iter::empty::<PathElement<(f64, f64)>>())
            .map_err(plot_error)?
            .label(label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.mix(0.4).stroke_width(2))
            });
    }
    for kind in [PlotEventKind::Restart, PlotEventKind::OomKill] {
        if plot.events.iter().any(|e| e.kind == kind) {
            let color = kind.color();
            // An empty series only to put the marker's meaning in the legend.
            chart
                .draw_series(std::iter::empty::<PathElement<(f64, f64)>>())
                .map_err(plot_error)?
                .label(kind.name())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x + 9, y - 6), (x + 9, y + 6)], color.stroke_width(2))
                });
        }
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

type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// The binary unit (KiB, MiB …) the y axis of a chart reaching `y_max`
/// bytes is labelled in.
fn label_unit(y_max: f64) -> f64 {
    [1u64 << 40, 1 << 30, 1 << 20, 1 << 10]
        .into_iter()
        .map(|u| u as f64)
        .find(|&u| y_max >= 2.0 * u)
        .unwrap_or(1.0)
}

/// The trend line across the whole x range and its confidence band: a bow
/// tie pinned at the window's middle, because the slope's interval says how
/// much the line may tilt, and tilt matters most far from the centre.
fn draw_trend<DB: DrawingBackend>(
    chart: &mut Chart<'_, DB>,
    axis: &TimeAxis,
    trend: &Trend,
    (t0, t1): (f64, f64),
    y_max: f64,
    u: f64,
) -> anyhow::Result<()> {
    let color = trend.of.color();
    let mid = (t0 + t1) / 2.0;
    let ym = trend.at(mid).clamp(0.0, y_max) / u;
    let (lo0, hi0) = band_at(trend, t0, t1, t0);
    let (lo1, hi1) = band_at(trend, t0, t1, t1);
    let clamp = |y: f64| y.clamp(0.0, y_max) / u;
    for triangle in [
        vec![(t0, clamp(lo0)), (mid, ym), (t0, clamp(hi0))],
        vec![(mid, ym), (t1, clamp(lo1)), (t1, clamp(hi1))],
    ] {
        let pts: Vec<(f64, f64)> = triangle
            .into_iter()
            .map(|(t, y)| (axis.to_x(t), y))
            .collect();
        chart
            .draw_series(std::iter::once(Polygon::new(pts, color.mix(0.15).filled())))
            .map_err(plot_error)?;
    }
    let line = clip_line(trend, t0, t1, y_max);
    chart
        .draw_series(DashedLineSeries::new(
            line.into_iter().map(|(t, y)| (axis.to_x(t), y / u)),
            8,
            5,
            color.mix(0.9).stroke_width(2),
        ))
        .map_err(plot_error)?
        .label(format!(
            "trend {}/h (95%: {} … {})",
            format_bytes(trend.slope_bytes_per_hour.round() as i64),
            format_bytes(trend.slope_low.round() as i64),
            format_bytes(trend.slope_high.round() as i64)
        ))
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
    Ok(())
}

/// Lower and upper band edge at `t` for the band pinned at the middle of
/// `t0..t1`.
fn band_at(trend: &Trend, t0: f64, t1: f64, t: f64) -> (f64, f64) {
    let mid = (t0 + t1) / 2.0;
    let hours = (t - mid) / 3600.0;
    let a = trend.at(mid) + trend.slope_low * hours;
    let b = trend.at(mid) + trend.slope_high * hours;
    (a.min(b), a.max(b))
}

/// The trend line's end points within the plot: a line that leaves through
/// the top or bottom ends there instead of being drawn outside the chart.
fn clip_line(trend: &Trend, t0: f64, t1: f64, y_max: f64) -> Vec<(f64, f64)> {
    let mut a = (t0, trend.at(t0));
    let mut b = (t1, trend.at(t1));
    let slope = trend.slope_bytes_per_hour / 3600.0;
    for p in [&mut a, &mut b] {
        for edge in [0.0, y_max] {
            let beyond = if edge == 0.0 { p.1 < 0.0 } else { p.1 > y_max };
            if beyond && slope != 0.0 {
                p.0 = trend.start + (edge - trend.intercept_bytes) / slope;
                p.1 = edge;
            }
        }
    }
    vec![a, b]
}

fn caption(
    plot: &MemoryPlot,
    crossing: Option<f64>,
    crossing_shown: bool,
    limit_shown: bool,
) -> String {
    let mut caption = if plot.title.is_empty() {
        "Memory over time".to_owned()
    } else {
        plot.title.clone()
    };
    match (&plot.limit, crossing) {
        (Some(limit), Some(c)) => {
            let when = rfc3339(c).replace('T', " ").replace('Z', " UTC");
            let tail = if crossing_shown {
                ""
            } else {
                ", beyond this chart"
            };
            caption.push_str(&format!(
                " — {} limit reached ≈ {when}{tail}",
                format_bytes(limit.bytes as i64)
            ));
        }
        (Some(limit), None) if !limit_shown => {
            caption.push_str(&format!(
                " — limit {} (off the scale)",
                format_bytes(limit.bytes as i64)
            ));
        }
        _ => {}
    }
    caption
}

fn draw_empty<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
) -> anyhow::Result<()> {
    let text = if title.is_empty() {
        "No memory samples to plot".to_owned()
    } else {
        format!("{title}: no memory samples to plot")
    };
    root.draw(&Text::new(text, (40, 40), (font::FAMILY, 18)))
        .map_err(plot_error)?;
    Ok(())
}
