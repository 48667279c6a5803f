//! From an analysed recording to the pictures: the `--html`, `--plot`,
//! `--png` and `--flame` options of `analyze`, and the inputs of each
//! picture filled from the observations and the verdict.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use leakwatch_profile::{Limits, Profile};

use super::flame::FlameDiff;
use super::goroutine_plot::{GoroutinePlot, GoroutineStack};
use super::html::{EventRow, GoroutineRow, Report, SiteRow};
use super::memory_plot::{
    Limit, MemoryPlot, MemorySeries, PlotEvent, PlotEventKind, SeriesKind, Trend,
};
use super::{sparkline::sparkline, write_output, Exporter, Html, Png, Svg};
use crate::analysis::series::Series;
use crate::analysis::verdict::{LimitSource, VerdictEventKind};
use crate::analysis::{stats, Observations, Verdict};
use crate::recording::Recording;
use crate::units::{format_bytes, format_bytes_f64, format_duration};

/// Characters of the report's RSS sparkline.
const SPARK_WIDTH: usize = 60;

/// The pictures `analyze` can write besides its verdict.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct PictureArgs {
    /// Write a self-contained HTML report (verdict, charts, growing sites,
    /// flame graph, diff, events) to FILE; it opens offline.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Write the memory-over-time chart as SVG to FILE.
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,
    /// Write the memory-over-time chart as PNG to FILE.
    #[arg(long, value_name = "FILE")]
    pub png: Option<PathBuf>,
    /// Write the differential flame graph of the first and last heap
    /// profiles as SVG to FILE.
    #[arg(long, value_name = "FILE")]
    pub flame: Option<PathBuf>,
}

impl PictureArgs {
    /// Whether any picture was asked for.
    pub fn any(&self) -> bool {
        self.html.is_some() || self.plot.is_some() || self.png.is_some() || self.flame.is_some()
    }

    /// Draws and writes every picture asked for.
    pub fn write(&self, rec: &Recording, obs: &Observations, v: &Verdict) -> anyhow::Result<()> {
        if !self.any() {
            return Ok(());
        }
        let plot = memory_plot(rec, obs, v);
        if let Some(path) = &self.plot {
            write_output(path, "--plot", &Svg.export(&plot)?)?;
        }
        if let Some(path) = &self.png {
            write_output(path, "--png", &Png.export(&plot)?)?;
        }
        if let Some(path) = &self.flame {
            let (base, new) = first_last_heap(obs)?.ok_or_else(|| {
                anyhow::anyhow!(
                    "--flame needs two readable heap profiles in {}; record with --pprof",
                    rec.dir.display()
                )
            })?;
            let svg = flame_svg(&base, &new, v)?;
            write_output(path, "--flame", &svg)?;
        }
        if let Some(path) = &self.html {
            let report = report(rec, obs, v, plot)?;
            write_output(path, "--html", &Html.export(&report)?)?;
        }
        Ok(())
    }
}

/// What the report calls the target: its command line and pid.
fn target_name(rec: &Recording) -> String {
    let t = &rec.meta.target;
    match t.command.as_deref() {
        Some(cmd) if !cmd.is_empty() => format!("{} (pid {})", cmd.join(" "), t.pid),
        _ => format!("pid {}", t.pid),
    }
}

/// The memory-over-time chart of a recording.
pub fn memory_plot(rec: &Recording, obs: &Observations, v: &Verdict) -> MemoryPlot {
    let t0 = obs.window.start.unix_seconds();
    let points = |s: &Series| -> Vec<(f64, f64)> {
        s.t.iter().zip(&s.y).map(|(&t, &y)| (t0 + t, y)).collect()
    };
    let series = vec![
        MemorySeries {
            kind: SeriesKind::Rss,
            points: points(&obs.rss),
        },
        MemorySeries {
            kind: SeriesKind::Cgroup,
            points: points(&obs.cgroup),
        },
        MemorySeries {
            kind: SeriesKind::Heap,
            points: points(&obs.heap),
        },
    ];
    let limit = v.limit.as_ref().map(|l| Limit {
        bytes: l.bytes as f64,
        source: l.source.to_string(),
    });
    // The line is fitted to the series the limit applies to, and pinned at
    // its last value as the verdict's time-to-limit is, so the chart's
    // crossing and the summary's figure agree.
    let (of, against) = match &v.limit {
        Some(l) if l.source == LimitSource::Cgroup && obs.cgroup.len() >= 3 => {
            (SeriesKind::Cgroup, &obs.cgroup)
        }
        _ => (SeriesKind::Rss, &obs.rss),
    };
    let trend = trend_of(of, against, t0, v.limit.is_some());
    let events = v
        .events
        .iter()
        .filter_map(|e| {
            let kind = match e.kind {
                VerdictEventKind::Restart => PlotEventKind::Restart,
                VerdictEventKind::OomKill => PlotEventKind::OomKill,
                _ => return None,
            };
            Some(PlotEvent {
                time: e.time.unix_seconds(),
                kind,
            })
        })
        .collect();
    MemoryPlot {
        title: target_name(rec),
        series,
        trend,
        limit,
        events,
    }
}

/// The Theil–Sen line of `s` (times relative to `t0`) with its interval;
/// `None` for fewer than three points or no estimate.
fn trend_of(of: SeriesKind, s: &Series, t0: f64, pin_to_last: bool) -> Option<Trend> {
    if s.len() < 3 {
        return None;
    }
    let fit = stats::trend(&s.t, &s.y, &s.segments())?;
    // The slope is per second of the series' time axis.
    let per_hour = 3600.0;
    let (anchor_t, anchor_y) = if pin_to_last {
        (*s.t.last()?, *s.y.last()?)
    } else {
        // Theil–Sen's intercept: the median residual, over the last
        // lifetime (a restart resets the level, not the rate).
        let last = s.segments().pop()?;
        let tl = s.t[last.end - 1];
        let mut residuals: Vec<f64> = last
            .clone()
            .map(|i| s.y[i] - fit.slope * (s.t[i] - tl))
            .collect();
        (tl, stats::median(&mut residuals)?)
    };
    Some(Trend {
        of,
        start: t0 + anchor_t,
        intercept_bytes: anchor_y,
        slope_bytes_per_hour: fit.slope * per_hour,
        slope_low: fit.slope_low * per_hour,
        slope_high: fit.slope_high * per_hour,
    })
}

/// The goroutine chart, when goroutines grow.
pub fn goroutine_plot(obs: &Observations, v: &Verdict) -> Option<GoroutinePlot> {
    let growing = v.goroutines.as_ref().is_some_and(|g| g.growing) || !v.goroutine_sites.is_empty();
    if !growing || obs.goroutines.is_empty() {
        return None;
    }
    let t0 = obs.window.start.unix_seconds();
    let at = |t: &[f64], y: &[f64]| -> Vec<(f64, f64)> {
        t.iter().zip(y).map(|(&t, &y)| (t0 + t, y)).collect()
    };
    let stacks = v
        .goroutine_sites
        .iter()
        .filter_map(|site| {
            let s = obs
                .goroutine_sites
                .iter()
                .find(|s| s.function == site.function)?;
            Some(GoroutineStack {
                label: chain(&site.stack, 3),
                points: at(&obs.goroutines.t, &s.values),
            })
        })
        .collect();
    Some(GoroutinePlot {
        title: "Goroutines over time".into(),
        total: at(&obs.goroutines.t, &obs.goroutines.y),
        stacks,
    })
}

/// The first `n` frames of a leaf-first stack, joined as a call chain.
fn chain(stack: &[String], n: usize) -> String {
    let mut s = stack
        .iter()
        .take(n)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(" ← ");
    if stack.len() > n {
        s.push_str(" ← …");
    }
    s
}

/// The first and last readable heap profiles, decoded.
fn first_last_heap(obs: &Observations) -> anyhow::Result<Option<(Profile, Profile)>> {
    let Some((first, last)) = &obs.first_last_heap else {
        return Ok(None);
    };
    Ok(Some((read_profile(first)?, read_profile(last)?)))
}

fn read_profile(path: &Path) -> anyhow::Result<Profile> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    leakwatch_profile::decode(&bytes, &Limits::default())
        .with_context(|| format!("cannot decode the heap profile {}", path.display()))
}

fn flame_svg(base: &Profile, new: &Profile, v: &Verdict) -> anyhow::Result<Vec<u8>> {
    let sample_type = v.heap.as_ref().map(|h| h.sample_type);
    Svg.export(&FlameDiff {
        title: "Heap: first versus last profile",
        base,
        new,
        sample_type,
    })
}

/// Everything the HTML report shows.
pub fn report(
    rec: &Recording,
    obs: &Observations,
    v: &Verdict,
    plot: MemoryPlot,
) -> anyhow::Result<Report> {
    let mut report = report_without_evidence(rec, obs, v, plot)?;
    match first_last_heap(obs) {
        Ok(Some((base, new))) => {
            match flame_svg(&base, &new, v) {
                Ok(svg) => report.flame_svg = Some(svg),
                Err(e) => report.flame_note = Some(format!("No flame graph: {e:#}")),
            }
            report.diff_top = obs
                .first_last_heap
                .as_ref()
                .and_then(|(first, last)| super::verdict_text::first_last_diff(first, last).ok());
        }
        Ok(None) => {
            report.flame_note =
                Some("The recording has fewer than two readable heap profiles.".into())
        }
        Err(e) => report.flame_note = Some(format!("No flame graph: {e:#}")),
    }
    Ok(report)
}

/// The report without the flame graph and the first-versus-last diff,
/// which need the first and last heap profiles decoded whole: what the live
/// view re-renders every few seconds.
pub fn report_without_evidence(
    rec: &Recording,
    obs: &Observations,
    v: &Verdict,
    plot: MemoryPlot,
) -> anyhow::Result<Report> {
    let memory_svg = Some(Svg.export(&plot)?);
    let goroutine_svg = goroutine_plot(obs, v).map(|p| Svg.export(&p)).transpose()?;
    Ok(Report {
        target: target_name(rec),
        verdict: serde_plain(&v.verdict),
        kinds: v.kind.iter().map(serde_plain).collect(),
        summary: v.summary.clone(),
        facts: facts(v),
        sparkline: (!obs.rss.is_empty()).then(|| sparkline(&obs.rss.y, SPARK_WIDTH)),
        memory_svg,
        goroutine_svg,
        flame_svg: None,
        flame_note: None,
        sites: v
            .sites
            .iter()
            .map(|s| SiteRow {
                function: s.function.clone(),
                file: s.file.clone(),
                line: s.line,
                stack: s.stack.clone(),
                first: format_bytes(s.first_bytes as i64),
                last: format_bytes(s.last_bytes as i64),
                slope: format_bytes_f64(s.slope_bytes_per_hour),
                share: s.share,
            })
            .collect(),
        goroutine_sites: v
            .goroutine_sites
            .iter()
            .map(|g| GoroutineRow {
                stack: g.stack.clone(),
                first: g.first as i64,
                last: g.last as i64,
                slope: format!("{:.0}", g.slope_per_hour),
            })
            .collect(),
        diff_top: None,
        events: v
            .events
            .iter()
            .map(|e| EventRow {
                time: e.time.to_string(),
                kind: e.kind.to_string(),
                detail: e.detail.clone(),
            })
            .collect(),
    })
}

/// An enum's JSON spelling (`no_leak`), so the report says what `--json`
/// says.
fn serde_plain<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

fn facts(v: &Verdict) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let w = &v.window;
    out.push(("window".to_owned(), w.describe()));
    let trend = |first: u64, last: u64, slope: f64, p: f64| {
        format!(
            "{} → {}, {}/h (p = {:.2})",
            format_bytes(first as i64),
            format_bytes(last as i64),
            format_bytes_f64(slope),
            p
        )
    };
    if let Some(r) = &v.rss {
        out.push((
            "RSS".into(),
            trend(
                r.first_bytes,
                r.last_bytes,
                r.slope_bytes_per_hour,
                r.p_value,
            ),
        ));
    }
    if let Some(h) = &v.heap {
        let t = &h.trend;
        out.push((
            format!("heap ({})", h.sample_type),
            trend(
                t.first_bytes,
                t.last_bytes,
                t.slope_bytes_per_hour,
                t.p_value,
            ),
        ));
    }
    if let Some(g) = &v.goroutines {
        out.push((
            "goroutines".into(),
            format!(
                "{} → {}, {:.0}/h (p = {:.2})",
                g.first, g.last, g.slope_per_hour, g.p_value
            ),
        ));
    }
    if let Some(l) = &v.limit {
        let when = match l.time_to_limit_seconds {
            Some(s) => format!(
                ", reached in {}",
                format_duration(Duration::from_secs_f64(s.max(0.0)))
            ),
            None => String::new(),
        };
        out.push((
            "limit".into(),
            format!("{} ({}){when}", format_bytes(l.bytes as i64), l.source),
        ));
    }
    out
}
