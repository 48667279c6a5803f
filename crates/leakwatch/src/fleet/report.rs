//! The fleet's verdicts ranked by urgency, as the `leakwatch.fleet/1` JSON
//! (docs/json.md) and as a text table.

use std::time::Duration;

use serde::Serialize;

use super::chains::Chain;
use super::prometheus::Labels;
use super::Request;
use crate::analysis::verdict::{Decision, LeakKind, Limit, Site, Verdict};
use crate::render::sparkline::sparkline;
use crate::render::time_axis::rfc3339;
use crate::units::{format_bytes_f64, format_duration};

/// The `schema` value of the JSON.
pub const SCHEMA: &str = "leakwatch.fleet/1";

/// Each series keeps this many values (bucket means) for its sparkline
/// and plot, whatever its length.
pub const SPARK_POINTS: usize = 120;
/// ...and this many of its points for its plot.
pub const PLOT_POINTS: usize = 400;
/// ...and the times of this many restarts.
pub const PLOT_RESTARTS: usize = 100;

/// The whole answer.
#[derive(Debug, Clone, Serialize)]
pub struct Fleet {
    /// [`SCHEMA`].
    pub schema: &'static str,
    /// The API base asked (`…/api/v1/`).
    pub prometheus: String,
    /// The memory query.
    pub query: String,
    /// The time range and step.
    pub window: FleetWindow,
    /// Every series, most urgent first.
    pub series: Vec<Entry>,
    /// How many series got each verdict.
    pub counts: Counts,
}

/// The range asked for.
#[derive(Debug, Clone, Serialize)]
pub struct FleetWindow {
    /// RFC 3339.
    pub start: String,
    /// RFC 3339.
    pub end: String,
    /// The query step.
    pub step_seconds: i64,
}

/// Verdict counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Series that leak.
    pub leak: usize,
    /// Series that do not.
    pub no_leak: usize,
    /// Series too short to say.
    pub inconclusive: usize,
}

/// One instance (or `--group-by` workload) and its verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    /// Its labels (those all its series share, without `__name__`).
    pub labels: Labels,
    /// The decision.
    pub verdict: Decision,
    /// What leaks: `["rss"]` for a memory series that leaks, else empty.
    pub kind: Vec<LeakKind>,
    /// The verdict's paragraph.
    pub summary: String,
    /// The last value, bytes.
    pub level_bytes: u64,
    /// Theil–Sen slope, bytes per hour (`null` with too few points).
    pub slope_bytes_per_hour: Option<f64>,
    /// Lower end of its 95% interval.
    pub slope_low: Option<f64>,
    /// Upper end of its 95% interval.
    pub slope_high: Option<f64>,
    /// Mann–Kendall p-value (Hamed–Rao corrected).
    pub p_value: Option<f64>,
    /// Process lifetimes that ended inside the window.
    pub restarts: usize,
    /// Whether lifetimes grew and died (a leak a restarting supervisor
    /// hides).
    pub sawtooth: bool,
    /// The limit and when it is reached, as in the verdict.
    pub limit: Option<Limit>,
    /// Points judged.
    pub points: usize,
    /// The growing heap sites of a drill-down, `null` when not drilled.
    pub drill: Option<Vec<Site>>,
    /// A significant rise the method did not call a leak (a plateau, or
    /// growth too small to matter yet): ranked after the leaks.
    #[serde(skip)]
    pub borderline: bool,
    /// The series in [`SPARK_POINTS`] bucket means.
    #[serde(skip)]
    pub spark: Vec<f64>,
    /// At most [`PLOT_POINTS`] of its points, `(Unix seconds, bytes)`,
    /// for `--html`.
    #[serde(skip)]
    pub plot: Vec<(f64, f64)>,
    /// When its lifetimes after the first began, Unix seconds (at most
    /// [`PLOT_RESTARTS`]).
    #[serde(skip)]
    pub restart_times: Vec<f64>,
}

impl Entry {
    /// The entry of `chain` judged `v`.
    pub fn new(chain: &Chain, origin: f64, v: Verdict, sawtooth: bool) -> Entry {
        let n = chain.t.len();
        let k = n.min(PLOT_POINTS);
        let plot = (0..k)
            .map(|i| if k < 2 { 0 } else { i * (n - 1) / (k - 1) })
            .map(|i| (origin + chain.t[i], chain.y[i]))
            .collect();
        let restart_times = chain
            .lifetimes
            .iter()
            .skip(1)
            .take(PLOT_RESTARTS)
            .map(|l| origin + l.start)
            .collect();
        let rss = v.rss.as_ref();
        let borderline = v.verdict == Decision::NoLeak
            && rss.is_some_and(|r| r.slope_bytes_per_hour > 0.0 && r.p_value < 0.05);
        Entry {
            labels: chain.labels.clone(),
            verdict: v.verdict,
            kind: v.kind,
            summary: v.summary,
            level_bytes: chain.y.last().copied().unwrap_or(0.0).max(0.0) as u64,
            slope_bytes_per_hour: rss.map(|r| r.slope_bytes_per_hour),
            slope_low: rss.map(|r| r.slope_low),
            slope_high: rss.map(|r| r.slope_high),
            p_value: rss.map(|r| r.p_value),
            restarts: chain.restarts(),
            sawtooth,
            limit: v.limit,
            points: chain.t.len(),
            drill: None,
            borderline,
            spark: buckets(&chain.y, SPARK_POINTS),
            plot,
            restart_times,
        }
    }

    fn urgency(&self) -> u8 {
        match (self.verdict, self.borderline) {
            (Decision::Leak, _) => 0,
            (Decision::NoLeak, true) => 1,
            (Decision::NoLeak, false) => 2,
            (Decision::Inconclusive, _) => 3,
        }
    }

    fn time_to_limit(&self) -> f64 {
        self.limit
            .as_ref()
            .and_then(|l| l.time_to_limit_seconds)
            .unwrap_or(f64::INFINITY)
    }
}

/// Sorts most urgent first: leaks (soonest at their limit, then fastest),
/// then borderline, then the rest, each fastest-growing first.
pub fn rank(entries: &mut [Entry]) {
    entries.sort_by(|a, b| {
        let slope = |e: &Entry| e.slope_bytes_per_hour.unwrap_or(f64::NEG_INFINITY);
        a.urgency()
            .cmp(&b.urgency())
            .then_with(|| a.time_to_limit().total_cmp(&b.time_to_limit()))
            .then_with(|| slope(b).total_cmp(&slope(a)))
            .then_with(|| a.labels.cmp(&b.labels))
    });
}

impl Fleet {
    /// The answer for `req` with `entries` ranked.
    pub fn new(prometheus: String, req: &Request, step: i64, series: Vec<Entry>) -> Fleet {
        let mut counts = Counts::default();
        for e in &series {
            match e.verdict {
                Decision::Leak => counts.leak += 1,
                Decision::NoLeak => counts.no_leak += 1,
                Decision::Inconclusive => counts.inconclusive += 1,
            }
        }
        Fleet {
            schema: SCHEMA,
            prometheus,
            query: req.query.clone(),
            window: FleetWindow {
                start: rfc3339(req.start as f64),
                end: rfc3339(req.end as f64),
                step_seconds: step,
            },
            series,
            counts,
        }
    }

    /// The text table, the first `top` rows (all when `None`).
    pub fn text(&self, top: Option<usize>) -> String {
        let mut out = format!(
            "{} series of `{}`, {} → {}, step {}: {} leak, {} no leak, {} inconclusive\n\n",
            self.series.len(),
            self.query,
            self.window.start,
            self.window.end,
            format_duration(Duration::from_secs(self.window.step_seconds.max(0) as u64)),
            self.counts.leak,
            self.counts.no_leak,
            self.counts.inconclusive,
        );
        let rows: Vec<[String; 7]> = self
            .series
            .iter()
            .take(top.unwrap_or(usize::MAX))
            .map(|e| {
                [
                    label_text(&e.labels),
                    verdict_text(e).to_owned(),
                    e.slope_bytes_per_hour
                        .map_or("-".into(), |s| format!("{}/day", signed(s * 24.0))),
                    format_bytes_f64(e.level_bytes as f64),
                    e.restarts.to_string(),
                    limit_text(e.limit.as_ref()),
                    sparkline(&e.spark, 24),
                ]
            })
            .collect();
        let head = [
            "SERIES",
            "VERDICT",
            "RATE",
            "LEVEL",
            "RESTARTS",
            "TIME TO LIMIT",
            "MEMORY",
        ];
        let mut widths: Vec<usize> = head.iter().map(|h| h.chars().count()).collect();
        for r in &rows {
            for (w, c) in widths.iter_mut().zip(r) {
                *w = (*w).max(c.chars().count());
            }
        }
        let line = |cells: Vec<&str>| {
            let mut s = String::new();
            for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
                let pad = w - c.chars().count();
                if i == 2 || i == 3 || i == 4 {
                    s.push_str(&" ".repeat(pad));
                    s.push_str(c);
                } else {
                    s.push_str(c);
                    if i + 1 < cells.len() {
                        s.push_str(&" ".repeat(pad));
                    }
                }
                if i + 1 < cells.len() {
                    s.push_str("  ");
                }
            }
            s.trim_end().to_owned() + "\n"
        };
        out.push_str(&line(head.to_vec()));
        for r in &rows {
            out.push_str(&line(r.iter().map(String::as_str).collect()));
        }
        if rows.len() < self.series.len() {
            out.push_str(&format!(
                "… {} more (--top cuts this table; --json has every series)\n",
                self.series.len() - rows.len()
            ));
        }
        // The drill-down: where each drilled instance's heap grows.
        for e in &self.series {
            let Some(sites) = &e.drill else { continue };
            out.push_str(&format!(
                "\nWhere {} grows (heap profiles, --pprof-template)\n",
                label_text(&e.labels)
            ));
            if sites.is_empty() {
                out.push_str("  no heap site grew between its profiles\n");
            }
            crate::render::verdict_text::heap_sites(&mut out, sites, "  ");
        }
        out
    }
}

fn verdict_text(e: &Entry) -> &'static str {
    match (e.verdict, e.sawtooth, e.borderline) {
        (Decision::Leak, true, _) => "LEAK (sawtooth)",
        (Decision::Leak, false, _) => "LEAK",
        (Decision::NoLeak, _, true) => "borderline",
        (Decision::NoLeak, _, false) => "no leak",
        (Decision::Inconclusive, _, _) => "inconclusive",
    }
}

fn signed(bytes: f64) -> String {
    if bytes > 0.0 {
        format!("+{}", format_bytes_f64(bytes))
    } else {
        format_bytes_f64(bytes)
    }
}

/// `{k="v", …}` as PromQL writes it.
pub fn label_text(labels: &Labels) -> String {
    let parts: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    format!("{{{}}}", parts.join(", "))
}

/// The time to limit as its range: `1d 4h – 2d 1h`, `≥ 3d` when the slow
/// end never reaches it, `-` without a limit or growth.
pub fn limit_text(l: Option<&Limit>) -> String {
    let human = |s: f64| format_duration(Duration::from_secs_f64(s.max(0.0)));
    match l.map(|l| (l.time_to_limit_low_seconds, l.time_to_limit_high_seconds)) {
        Some((Some(lo), Some(hi))) if human(lo) == human(hi) => human(lo),
        Some((Some(lo), Some(hi))) => format!("{} – {}", human(lo), human(hi)),
        Some((Some(lo), None)) => format!("≥ {}", human(lo)),
        _ => "-".into(),
    }
}

/// `values` as `k` bucket means (fewer when shorter).
fn buckets(values: &[f64], k: usize) -> Vec<f64> {
    let n = values.len().min(k);
    (0..n)
        .map(|i| {
            let part = &values[i * values.len() / n..((i + 1) * values.len() / n).max(i + 1)];
            part.iter().sum::<f64>() / part.len() as f64
        })
        .collect()
}
