//! The verdict: leak or not, what kind, where, how fast, and when the limit
//! is reached — the `leakwatch.verdict/1` JSON of GUIDE.md and the rules
//! that fill it (written up in `docs/method.md`).

use std::time::Duration;

use serde::Serialize;

use super::growth::{assess, Assessment, Shape, Thresholds, TooFew};
use super::series::{Lifetime, Observations, Series, SiteSeries};
use super::sites::is_runtime_frame;
use super::stats::{self, Trend};
use crate::recording::{Event, Timestamp, Window};
use crate::units::{format_bytes, format_bytes_f64, format_duration};

/// The `schema` value of the JSON.
pub const SCHEMA: &str = "leakwatch.verdict/1";

/// Sites reported at most.
const MAX_SITES: usize = 10;
/// Sites whose trend is computed at most (the largest risers first).
const MAX_SITE_CANDIDATES: usize = 50;
/// Significance of a single site's own trend.
const SITE_ALPHA: f64 = 0.05;
/// A site must carry at least this share of the heap growth to be named.
const MIN_SITE_SHARE: f64 = 0.01;
/// RSS growth is "native" when at least this fraction of it is not
/// explained by what Go's runtime accounts for.
const NATIVE_UNEXPLAINED: f64 = 0.5;
/// Unexplained RSS growth over the window must reach this many bytes: RSS
/// moves by a few MiB as a process warms up (allocator arenas, thread
/// stacks) in ways no profile accounts for, so the bar is higher than the
/// heap's.
const NATIVE_MIN_BYTES: f64 = 4.0 * 1024.0 * 1024.0;
/// Without the runtime's statistics, Go's heap may grow to this multiple of
/// the live heap before a collection (GOGC=100), so RSS growth up to this
/// multiple of the heap's growth counts as explained.
const HEAP_TO_RSS: f64 = 2.0;
/// Bytes of memory a goroutine costs outside the heap profile (its minimum
/// stack plus bookkeeping), for explaining RSS growth without MemStats.
const GOROUTINE_BYTES: f64 = 8192.0;

/// What was decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// The target leaks.
    Leak,
    /// The target does not leak over this window.
    NoLeak,
    /// Not enough data to say.
    Inconclusive,
}

/// What leaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LeakKind {
    /// Go (or jemalloc) heap.
    Heap,
    /// Goroutines.
    Goroutines,
    /// RSS grows beyond what the heap profile and the runtime explain.
    Native,
    /// RSS grows and there is no profile to say more.
    Rss,
}

/// The verdict JSON.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    /// [`SCHEMA`].
    pub schema: &'static str,
    /// The decision.
    pub verdict: Decision,
    /// What leaks (empty unless `verdict` is `leak`).
    pub kind: Vec<LeakKind>,
    /// One paragraph for people.
    pub summary: String,
    /// What the recording covers.
    pub window: Window,
    /// RSS figures, `null` without samples.
    pub rss: Option<MemoryTrend>,
    /// Heap figures, `null` without heap profiles.
    pub heap: Option<HeapTrend>,
    /// Goroutine figures, `null` without goroutine profiles.
    pub goroutines: Option<GoroutineTrend>,
    /// The memory limit, `null` when none is known.
    pub limit: Option<Limit>,
    /// Growing heap sites, steepest first.
    pub sites: Vec<Site>,
    /// Growing goroutine sites, steepest first.
    pub goroutine_sites: Vec<GoroutineSite>,
    /// What happened during the window.
    pub events: Vec<VerdictEvent>,
}

/// A byte series' trend. Slopes in bytes per hour.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MemoryTrend {
    /// First value, bytes.
    pub first_bytes: u64,
    /// Last value, bytes.
    pub last_bytes: u64,
    /// Theil–Sen slope.
    pub slope_bytes_per_hour: f64,
    /// Lower end of its 95% interval.
    pub slope_low: f64,
    /// Upper end of its 95% interval.
    pub slope_high: f64,
    /// Mann–Kendall p-value (Hamed–Rao corrected).
    pub p_value: f64,
    /// Whether the series leaks.
    pub growing: bool,
}

/// The heap's trend.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HeapTrend {
    /// The profile value read (`inuse_space`).
    pub sample_type: &'static str,
    /// The trend.
    #[serde(flatten)]
    pub trend: MemoryTrend,
}

/// The goroutine count's trend.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GoroutineTrend {
    /// Goroutines in the first profile.
    pub first: u64,
    /// Goroutines in the last profile.
    pub last: u64,
    /// Theil–Sen slope, goroutines per hour.
    pub slope_per_hour: f64,
    /// Mann–Kendall p-value.
    pub p_value: f64,
    /// Whether the count leaks.
    pub growing: bool,
}

/// The memory limit and when it will be reached.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Limit {
    /// The limit.
    pub bytes: u64,
    /// `flag` (`--limit`) or `cgroup` (`memory.max`).
    pub source: &'static str,
    /// Seconds from the end of the window to the limit at the estimated
    /// rate; `null` when nothing grows.
    pub time_to_limit_seconds: Option<f64>,
    /// The same at the highest rate the slope's 95% interval allows.
    pub time_to_limit_low_seconds: Option<f64>,
    /// The same at the lowest rate; `null` when that rate is not positive
    /// (the limit may never be reached).
    pub time_to_limit_high_seconds: Option<f64>,
}

/// A growing heap site.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Site {
    /// The site's function.
    pub function: String,
    /// Its source file, when known.
    pub file: Option<String>,
    /// The line of the allocation in it, when known.
    pub line: Option<i64>,
    /// The heaviest call chain, leaf first, runtime frames left out.
    pub stack: Vec<String>,
    /// Bytes in the first profile.
    pub first_bytes: u64,
    /// Bytes in the last profile.
    pub last_bytes: u64,
    /// Theil–Sen slope, bytes per hour.
    pub slope_bytes_per_hour: f64,
    /// Its part of the total heap growth, 0–1.
    pub share: f64,
    /// Mann–Kendall p-value of the site's own series.
    pub p_value: f64,
}

/// A growing goroutine site.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GoroutineSite {
    /// The function the goroutines are blocked in.
    pub function: String,
    /// The call chain, leaf first, runtime frames left out.
    pub stack: Vec<String>,
    /// Goroutines there in the first profile.
    pub first: u64,
    /// Goroutines there in the last profile.
    pub last: u64,
    /// Theil–Sen slope, goroutines per hour.
    pub slope_per_hour: f64,
    /// Its part of the total goroutine growth, 0–1.
    pub share: f64,
}

/// An event of the window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VerdictEvent {
    /// When.
    pub time: Timestamp,
    /// What: the recording's event kinds, plus `sawtooth`.
    pub kind: String,
    /// One sentence.
    pub detail: String,
}

/// Settings of [`decide`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Options {
    /// `--limit`, overriding the cgroup's.
    pub limit: Option<u64>,
}

/// Decides from `obs`.
pub fn decide(obs: &Observations, opts: &Options) -> Verdict {
    let rss_a = assess_series(&obs.rss, &Thresholds::BYTES);
    let heap_a = assess_series(obs.heap_signal(), &Thresholds::BYTES);
    let gr_a = assess_series(&obs.goroutines, &Thresholds::COUNT);
    let have_profiles = !obs.heap.is_empty();

    let heap_growing = heap_a.as_ref().is_ok_and(Assessment::growing);
    let gr_growing = gr_a.as_ref().is_ok_and(Assessment::growing);
    let rss_growing = rss_a.as_ref().is_ok_and(Assessment::growing);

    let native = match &rss_a {
        Ok(r) if rss_growing && have_profiles => {
            unexplained_rss(obs, r, heap_a.as_ref().ok(), gr_growing)
        }
        _ => None,
    };

    let mut kind = Vec::new();
    if heap_growing {
        kind.push(LeakKind::Heap);
    }
    if gr_growing {
        kind.push(LeakKind::Goroutines);
    }
    if native.is_some() {
        kind.push(LeakKind::Native);
    }
    if rss_growing && !have_profiles && obs.goroutines.is_empty() {
        kind.push(LeakKind::Rss);
    }

    // The primary signal decides whether there is enough data: the heap when
    // profiles exist, else RSS.
    let primary: Result<&Assessment, TooFew> = if have_profiles {
        heap_a.as_ref().map_err(|e| *e)
    } else {
        rss_a.as_ref().map_err(|e| *e)
    };
    let verdict = if !kind.is_empty() && primary.is_ok() {
        Decision::Leak
    } else if primary.is_ok() {
        Decision::NoLeak
    } else {
        Decision::Inconclusive
    };
    if verdict != Decision::Leak {
        kind.clear();
    }

    let mut sites = if kind.contains(&LeakKind::Heap) {
        growing_sites(&obs.heap_site_points, &obs.heap_sites)
    } else {
        Vec::new()
    };
    let goroutine_sites = if kind.contains(&LeakKind::Goroutines) {
        growing_goroutine_sites(&obs.goroutine_site_points, &obs.goroutine_sites)
    } else {
        Vec::new()
    };

    // Leaked goroutines take heap with them (their `g` structures are
    // allocated in runtime.malg, and whatever they hold). When most of the
    // heap growth is at runtime frames or at the goroutines' own sites, the
    // heap is not a second leak but the same one.
    let mut heap_follows_goroutines = false;
    if kind.contains(&LeakKind::Heap) && kind.contains(&LeakKind::Goroutines) {
        let explained: f64 = sites
            .iter()
            .filter(|s| {
                is_runtime_frame(&s.function)
                    || goroutine_sites.iter().any(|g| g.function == s.function)
            })
            .map(|s| s.share)
            .sum();
        if explained >= 0.5 {
            kind.retain(|k| *k != LeakKind::Heap);
            sites.clear();
            heap_follows_goroutines = true;
        }
    }

    let limit = limit(obs, opts, verdict, &rss_a, &heap_a);
    let sawtooth = sawtooth(obs);
    let events = events(obs, sawtooth.as_ref());

    let facts = Facts {
        obs,
        rss_a: &rss_a,
        heap_a: &heap_a,
        gr_a: &gr_a,
        native,
        sites: &sites,
        goroutine_sites: &goroutine_sites,
        limit: limit.as_ref(),
        sawtooth: sawtooth.as_ref(),
        heap_follows_goroutines,
    };
    let summary = summary(verdict, &kind, &facts);

    Verdict {
        schema: SCHEMA,
        verdict,
        kind,
        summary,
        window: obs.window.clone(),
        rss: memory_trend(&obs.rss, &rss_a),
        heap: memory_trend(obs.heap_signal(), &heap_a).map(|trend| HeapTrend {
            sample_type: "inuse_space",
            trend,
        }),
        goroutines: goroutine_trend(&obs.goroutines, &gr_a),
        limit,
        sites,
        goroutine_sites,
        events,
    }
}

fn assess_series(s: &Series, th: &Thresholds) -> Result<Assessment, TooFew> {
    assess(&s.t, &s.y, &s.segments(), th)
}

/// The trend of a series too short to assess, still worth reporting.
fn raw_trend(s: &Series) -> Option<Trend> {
    stats::trend(&s.t, &s.y, &s.segments())
}

fn memory_trend(s: &Series, a: &Result<Assessment, TooFew>) -> Option<MemoryTrend> {
    let trend = match a {
        Ok(a) => a.whole.clone(),
        Err(_) => raw_trend(s)?,
    };
    Some(MemoryTrend {
        first_bytes: s.first()? as u64,
        last_bytes: s.last()? as u64,
        slope_bytes_per_hour: trend.slope * 3600.0,
        slope_low: trend.slope_low * 3600.0,
        slope_high: trend.slope_high * 3600.0,
        p_value: trend.p_value,
        growing: a.as_ref().is_ok_and(Assessment::growing),
    })
}

fn goroutine_trend(s: &Series, a: &Result<Assessment, TooFew>) -> Option<GoroutineTrend> {
    let trend = match a {
        Ok(a) => a.whole.clone(),
        Err(_) => raw_trend(s)?,
    };
    Some(GoroutineTrend {
        first: s.first()? as u64,
        last: s.last()? as u64,
        slope_per_hour: trend.slope * 3600.0,
        p_value: trend.p_value,
        growing: a.as_ref().is_ok_and(Assessment::growing),
    })
}

/// How much of the RSS growth (bytes per second) nothing Go accounts for
/// explains, when that is most of it; `None` when Go explains the growth.
fn unexplained_rss(
    obs: &Observations,
    rss: &Assessment,
    heap: Option<&Assessment>,
    goroutines_grow: bool,
) -> Option<f64> {
    // Anonymous memory is what malloc and Go's heap take; the file-backed
    // part of RSS is the binary and libraries being paged in, which grows
    // as code paths are first run and says nothing about leaks.
    let anon = (obs.rss_anon.len() >= Thresholds::BYTES.min_points)
        .then(|| raw_trend(&obs.rss_anon))
        .flatten();
    let rss_slope = anon.map_or(rss.whole.slope, |a| a.slope);
    // The runtime's own accounting is the better witness: it covers the
    // heap with its garbage, stacks and runtime structures.
    let explained = match raw_trend(&obs.go_mapped) {
        Some(go) if obs.go_mapped.len() >= Thresholds::BYTES.min_points => go.slope.max(0.0),
        _ => {
            let heap_slope = heap.map_or(0.0, |h| h.whole.slope.max(0.0));
            let stacks = if goroutines_grow {
                raw_trend(&obs.goroutines).map_or(0.0, |g| g.slope.max(0.0) * GOROUTINE_BYTES)
            } else {
                0.0
            };
            HEAP_TO_RSS * heap_slope + stacks
        }
    };
    let unexplained = rss_slope - explained;
    let material = unexplained * rss.span;
    let th = Thresholds::BYTES;
    (unexplained >= NATIVE_UNEXPLAINED * rss_slope
        && material >= NATIVE_MIN_BYTES
        && material >= th.min_relative_change * rss.level)
        .then_some(unexplained)
}

/// The sites whose own series rise, steepest first.
///
/// `heap` holds the totals of the very profiles the sites were read from:
/// a share must divide like by like. Against the exact `HeapAlloc` series a
/// site estimated from sampled allocations would read low or high by the
/// sampling error alone.
fn growing_sites(heap: &Series, sites: &[SiteSeries]) -> Vec<Site> {
    let segments = heap.segments();
    let total_slope = raw_trend(heap).map_or(0.0, |t| t.slope);
    let rising = rising_sites(heap, sites, &segments);
    let positive: f64 = rising.iter().map(|(_, t)| t.slope).sum();
    let denominator = total_slope.max(positive);
    let mut out: Vec<Site> = rising
        .into_iter()
        .map(|(s, t)| {
            let leaf = s.chain.first();
            Site {
                function: s.function.clone(),
                file: leaf.map(|f| f.file.clone()).filter(|f| !f.is_empty()),
                line: leaf.map(|f| f.line).filter(|l| *l > 0),
                stack: stack_names(s),
                first_bytes: s.values.first().copied().unwrap_or(0.0) as u64,
                last_bytes: s.values.last().copied().unwrap_or(0.0) as u64,
                slope_bytes_per_hour: t.slope * 3600.0,
                share: share(t.slope, denominator),
                p_value: t.p_value,
            }
        })
        .filter(|s| s.share >= MIN_SITE_SHARE)
        .collect();
    out.truncate(MAX_SITES);
    out
}

fn growing_goroutine_sites(goroutines: &Series, sites: &[SiteSeries]) -> Vec<GoroutineSite> {
    let segments = goroutines.segments();
    let total_slope = raw_trend(goroutines).map_or(0.0, |t| t.slope);
    let rising = rising_sites(goroutines, sites, &segments);
    let positive: f64 = rising.iter().map(|(_, t)| t.slope).sum();
    let denominator = total_slope.max(positive);
    let mut out: Vec<GoroutineSite> = rising
        .into_iter()
        .map(|(s, t)| GoroutineSite {
            function: s.function.clone(),
            stack: stack_names(s),
            first: s.values.first().copied().unwrap_or(0.0) as u64,
            last: s.values.last().copied().unwrap_or(0.0) as u64,
            slope_per_hour: t.slope * 3600.0,
            share: share(t.slope, denominator),
        })
        .filter(|s| s.share >= MIN_SITE_SHARE)
        .collect();
    out.truncate(MAX_SITES);
    out
}

fn share(slope: f64, denominator: f64) -> f64 {
    if denominator > 0.0 {
        ((slope / denominator).clamp(0.0, 1.0) * 1000.0).round() / 1000.0
    } else {
        0.0
    }
}

fn stack_names(s: &SiteSeries) -> Vec<String> {
    if s.chain.is_empty() {
        vec![s.function.clone()]
    } else {
        s.chain.iter().map(|f| f.function.clone()).collect()
    }
}

/// The sites with a significant rising trend of their own, steepest first.
/// Only the largest risers between the first and last profile are tested,
/// which bounds the work on profiles with thousands of sites.
fn rising_sites<'a>(
    parent: &Series,
    sites: &'a [SiteSeries],
    segments: &[std::ops::Range<usize>],
) -> Vec<(&'a SiteSeries, Trend)> {
    let mut candidates: Vec<(&SiteSeries, f64)> = sites
        .iter()
        .filter(|s| s.values.len() == parent.len())
        .map(|s| {
            let n = s.values.len();
            let third = (n / 3).max(1);
            let early: f64 = s.values[..third].iter().sum::<f64>() / third as f64;
            let late: f64 = s.values[n - third..].iter().sum::<f64>() / third as f64;
            (s, late - early)
        })
        .filter(|(_, rise)| *rise > 0.0)
        .collect();
    candidates.sort_by(|a, b| {
        b.1.total_cmp(&a.1)
            .then_with(|| a.0.function.cmp(&b.0.function))
    });
    candidates.truncate(MAX_SITE_CANDIDATES);
    let mut out: Vec<(&SiteSeries, Trend)> = candidates
        .into_iter()
        .filter_map(|(s, _)| {
            let (t, y, segs) = (&parent.t, &s.values, segments);
            let tr = stats::trend(t, y, segs)?;
            tr.rising(SITE_ALPHA).then_some((s, tr))
        })
        .collect();
    out.sort_by(|a, b| {
        b.1.slope
            .total_cmp(&a.1.slope)
            .then_with(|| a.0.function.cmp(&b.0.function))
    });
    out
}

/// The limit and the time to reach it: from the series the limit applies
/// to (cgroup usage for a cgroup limit, else RSS), at its Theil–Sen rate,
/// with the range its 95% interval allows.
fn limit(
    obs: &Observations,
    opts: &Options,
    verdict: Decision,
    rss_a: &Result<Assessment, TooFew>,
    heap_a: &Result<Assessment, TooFew>,
) -> Option<Limit> {
    let (bytes, source) = match (opts.limit, obs.cgroup_limit) {
        (Some(b), _) => (b, "flag"),
        (None, Some(b)) => (b, "cgroup"),
        (None, None) => return None,
    };
    let mut out = Limit {
        bytes,
        source,
        time_to_limit_seconds: None,
        time_to_limit_low_seconds: None,
        time_to_limit_high_seconds: None,
    };
    if verdict != Decision::Leak {
        return Some(out);
    }
    let against = if source == "cgroup" && obs.cgroup.len() >= Thresholds::BYTES.min_points {
        &obs.cgroup
    } else {
        &obs.rss
    };
    let level = against.last().or_else(|| obs.heap.last()).unwrap_or(0.0);
    // The rate: the limited series' own when it rises, else RSS's, else
    // the heap's (a leak the process's memory has not shown yet).
    let own = raw_trend(against).filter(|t| t.slope > 0.0);
    let rate = own
        .or_else(|| {
            rss_a
                .as_ref()
                .ok()
                .map(|a| a.whole.clone())
                .filter(|t| t.slope > 0.0)
        })
        .or_else(|| {
            heap_a
                .as_ref()
                .ok()
                .map(|a| a.whole.clone())
                .filter(|t| t.slope > 0.0)
        });
    let Some(rate) = rate else {
        return Some(out);
    };
    let room = (bytes as f64 - level).max(0.0);
    let at = |slope: f64| (slope > 0.0).then(|| (room / slope).round());
    out.time_to_limit_seconds = at(rate.slope);
    out.time_to_limit_low_seconds = at(rate.slope_high.max(rate.slope));
    out.time_to_limit_high_seconds = at(rate.slope_low);
    Some(out)
}

/// A pattern of lifetimes that grew and then died.
#[derive(Debug, Clone, PartialEq)]
struct Sawtooth {
    /// Lifetimes that grew and died.
    teeth: usize,
    /// Median peak RSS before dying, bytes.
    peak: f64,
    /// Median lifetime, seconds.
    period: f64,
    /// How many of the deaths were OOM kills.
    oom_kills: usize,
    /// When the last one died (seconds since the window start).
    last_death: f64,
}

/// Lifetimes that died after their RSS rose: the "OOM-killed every four
/// days" of the seed. Each is judged on its own samples (Mann–Kendall,
/// 5%); a lifetime too short to judge does not count.
fn sawtooth(obs: &Observations) -> Option<Sawtooth> {
    let died: Vec<(usize, &Lifetime)> = obs
        .lifetimes
        .iter()
        .enumerate()
        .filter(|(_, l)| l.died)
        .collect();
    if died.is_empty() {
        return None;
    }
    let segments = obs.rss.segments();
    let mut peaks = Vec::new();
    let mut periods = Vec::new();
    let mut oom_kills = 0;
    let mut last_death = 0.0;
    for (i, l) in &died {
        let Some(seg) = segments.iter().find(|s| obs.rss.lifetime[s.start] == *i) else {
            continue;
        };
        if seg.len() < 6 {
            continue;
        }
        let (t, y) = (&obs.rss.t[seg.clone()], &obs.rss.y[seg.clone()]);
        let Some(tr) = stats::trend_single(t, y) else {
            continue;
        };
        if !tr.rising(0.05) {
            continue;
        }
        peaks.push(y.iter().copied().fold(0.0, f64::max));
        periods.push(l.end - l.start);
        oom_kills += usize::from(l.oom_killed);
        last_death = l.end;
    }
    if peaks.is_empty() {
        return None;
    }
    Some(Sawtooth {
        teeth: peaks.len(),
        peak: stats::median(&mut peaks).unwrap_or(0.0),
        period: stats::median(&mut periods).unwrap_or(0.0),
        oom_kills,
        last_death,
    })
}

/// The recording's events worth showing (not the bookkeeping `end`), plus
/// the sawtooth when there is one.
fn events(obs: &Observations, sawtooth: Option<&Sawtooth>) -> Vec<VerdictEvent> {
    const MAX_EVENTS: usize = 50;
    let mut out: Vec<VerdictEvent> = obs
        .events
        .iter()
        .filter(|e| {
            !matches!(
                e.event,
                Event::End { .. } | Event::Unknown | Event::Signal { .. }
            )
        })
        .take(MAX_EVENTS)
        .map(|e| VerdictEvent {
            time: e.time,
            kind: e.event.kind().to_owned(),
            detail: e.detail.clone(),
        })
        .collect();
    for u in obs.unreadable.iter().take(MAX_EVENTS) {
        out.push(VerdictEvent {
            time: obs.window.end,
            kind: "unreadable_profile".into(),
            detail: format!("skipped: {u}"),
        });
    }
    if let Some(s) = sawtooth {
        out.push(VerdictEvent {
            time: Timestamp(obs.window.start.0 + Duration::from_secs_f64(s.last_death.max(0.0))),
            kind: "sawtooth".into(),
            detail: sawtooth_sentence(s),
        });
    }
    out.sort_by_key(|e| e.time);
    out
}

fn sawtooth_sentence(s: &Sawtooth) -> String {
    let times = if s.teeth == 1 {
        "once".to_owned()
    } else {
        format!("{} times", s.teeth)
    };
    let how = if s.oom_kills > 0 {
        format!(" ({} OOM-killed)", s.oom_kills)
    } else {
        String::new()
    };
    format!(
        "the process died {times}{how} after growing to about {} each time, every {} or so",
        format_bytes_f64(s.peak),
        human_secs(s.period)
    )
}

/// Everything the summary draws on.
struct Facts<'a> {
    obs: &'a Observations,
    rss_a: &'a Result<Assessment, TooFew>,
    heap_a: &'a Result<Assessment, TooFew>,
    gr_a: &'a Result<Assessment, TooFew>,
    native: Option<f64>,
    sites: &'a [Site],
    goroutine_sites: &'a [GoroutineSite],
    limit: Option<&'a Limit>,
    sawtooth: Option<&'a Sawtooth>,
    heap_follows_goroutines: bool,
}

fn human_secs(s: f64) -> String {
    format_duration(Duration::from_secs_f64(s.max(0.0)))
}

fn rate(slope_per_s: f64) -> String {
    format!("{}/h", format_bytes_f64(slope_per_s * 3600.0))
}

fn rate_with_interval(t: &Trend) -> String {
    format!(
        "{} (95% CI {} – {})",
        rate(t.slope),
        format_bytes_f64(t.slope_low * 3600.0),
        rate(t.slope_high)
    )
}

/// A count in thousands or millions past 10 000, for reading at a glance.
fn count(n: f64) -> String {
    if n >= 1e7 {
        format!("{:.1}M", n / 1e6)
    } else if n >= 1e4 {
        format!("{:.0}k", n / 1e3)
    } else {
        format!("{n:.0}")
    }
}

fn count_rate(slope_per_s: f64) -> String {
    let per_hour = slope_per_s * 3600.0;
    if per_hour >= 100.0 {
        format!("{}/h", count(per_hour))
    } else {
        format!("{per_hour:.1}/h")
    }
}

fn site_phrase(site: &Site) -> String {
    let mut s = site.function.clone();
    if let Some(caller) = site.stack.get(1) {
        s.push_str(" ← ");
        s.push_str(caller);
    }
    if let (Some(file), Some(line)) = (&site.file, site.line) {
        let base = file.rsplit('/').next().unwrap_or(file);
        s.push_str(&format!(" ({base}:{line})"));
    }
    s
}

fn percent(share: f64) -> String {
    format!("{:.0}%", share * 100.0)
}

fn summary(verdict: Decision, kind: &[LeakKind], f: &Facts) -> String {
    let mut parts: Vec<String> = Vec::new();
    match verdict {
        Decision::Inconclusive => parts.push(inconclusive_sentence(f)),
        Decision::NoLeak => parts.push(no_leak_sentence(f)),
        Decision::Leak => {
            if kind.contains(&LeakKind::Heap) {
                let a = f.heap_a.as_ref().expect("heap leak has an assessment");
                let mut s = format!(
                    "Heap grows {} from {} to {} over {}",
                    rate_with_interval(&a.whole),
                    format_bytes_f64(f.obs.heap_signal().first().unwrap_or(0.0)),
                    format_bytes_f64(f.obs.heap_signal().last().unwrap_or(0.0)),
                    human_secs(a.span)
                );
                // Objects tell many small allocations from a few growing
                // buffers (a slice that doubles adds bytes, not objects).
                if let (Some(first), Some(last)) =
                    (f.obs.heap_objects.first(), f.obs.heap_objects.last())
                {
                    if last > first {
                        s.push_str(&format!(
                            " ({} → {} live objects)",
                            count(first),
                            count(last)
                        ));
                    }
                }
                match f.sites.first() {
                    Some(site) => s.push_str(&format!(
                        "; {} of it is {}",
                        percent(site.share),
                        site_phrase(site)
                    )),
                    None => s.push_str("; no single site stands out"),
                }
                parts.push(s + ".");
            }
            if kind.contains(&LeakKind::Goroutines) {
                let a = f.gr_a.as_ref().expect("goroutine leak has an assessment");
                let mut s = format!(
                    "Goroutines grow {} ({} → {})",
                    count_rate(a.whole.slope),
                    f.obs.goroutines.first().unwrap_or(0.0),
                    f.obs.goroutines.last().unwrap_or(0.0)
                );
                if let Some(site) = f.goroutine_sites.first() {
                    s.push_str(&format!(
                        "; {} of them are blocked in {}",
                        percent(site.share),
                        site.function
                    ));
                    if let Some(caller) = site.stack.get(1) {
                        s.push_str(&format!(" ← {caller}"));
                    }
                }
                if f.heap_follows_goroutines {
                    if let Ok(h) = f.heap_a {
                        s.push_str(&format!(
                            "; the heap grows {} with them (their runtime bookkeeping and what they hold)",
                            rate(h.whole.slope)
                        ));
                    }
                }
                parts.push(s + ".");
            }
            if let Some(unexplained) = f.native {
                let r = f.rss_a.as_ref().expect("native leak has an RSS assessment");
                parts.push(format!(
                    "RSS grows {} but the Go heap and runtime account for little of it: about {} is allocated outside Go's heap (cgo or C libraries).",
                    rate_with_interval(&r.whole),
                    rate(unexplained)
                ));
            }
            if kind.contains(&LeakKind::Rss) {
                let r = f.rss_a.as_ref().expect("rss leak has an assessment");
                parts.push(format!(
                    "RSS grows {} from {} to {} over {}; there are no heap profiles to say where (watch with --pprof to find the site).",
                    rate_with_interval(&r.whole),
                    format_bytes_f64(f.obs.rss.first().unwrap_or(0.0)),
                    format_bytes_f64(f.obs.rss.last().unwrap_or(0.0)),
                    human_secs(r.span)
                ));
            }
            if let Some(l) = f.limit {
                parts.push(limit_sentence(l));
            }
        }
    }
    if let Some(s) = f.sawtooth {
        let mut sentence = sawtooth_sentence(s);
        if let Some(c) = sentence.get_mut(0..1) {
            c.make_ascii_uppercase();
        }
        parts.push(format!("Sawtooth: {sentence}."));
    }
    if !f.obs.unreadable.is_empty() {
        parts.push(format!(
            "{} profile(s) could not be read and were skipped.",
            f.obs.unreadable.len()
        ));
    }
    parts.join(" ")
}

fn limit_sentence(l: &Limit) -> String {
    let what = match l.source {
        "cgroup" => format!("the {} cgroup limit", format_bytes(l.bytes as i64)),
        _ => format!("the {} limit", format_bytes(l.bytes as i64)),
    };
    match (l.time_to_limit_seconds, l.time_to_limit_low_seconds, l.time_to_limit_high_seconds) {
        (Some(0.0), _, _) => format!("The process is already at {what}."),
        (Some(t), Some(lo), Some(hi)) => format!(
            "At this rate {what} is reached in {} ({} – {}).",
            human_secs(t),
            human_secs(lo),
            human_secs(hi)
        ),
        (Some(t), Some(lo), None) => format!(
            "At this rate {what} is reached in {} (at the soonest {}; the slowest rate the data allow never reaches it).",
            human_secs(t),
            human_secs(lo)
        ),
        _ => format!("The growth does not show in the memory {what} applies to yet."),
    }
}

fn no_leak_sentence(f: &Facts) -> String {
    let mut s = String::from("No leak: ");
    let (name, a, series) = match f.heap_a {
        Ok(a) => ("heap", a, f.obs.heap_signal()),
        Err(_) => (
            "RSS",
            f.rss_a.as_ref().expect("no_leak has a primary series"),
            &f.obs.rss,
        ),
    };
    let level = format_bytes_f64(a.level);
    // A step up early in the window followed by a flat stretch reads as
    // Flat when the step is too short for the trend test, and as Plateaued
    // when it is long enough; either way it is a warm-up.
    let rise = a.level - series.first().unwrap_or(a.level);
    let warmed_up = rise >= Thresholds::BYTES.min_absolute_change
        && rise >= Thresholds::BYTES.min_relative_change * a.level;
    match a.shape {
        Shape::Plateaued | Shape::Flat if warmed_up => {
            let recent_span = a
                .recent
                .as_ref()
                .map_or(0.0, |_| a.span * Thresholds::BYTES.recent_fraction);
            s.push_str(&format!(
                "{name} grew from {} to {} early in the {} window and then held flat for its last {} — a warm-up, then a plateau",
                format_bytes_f64(series.first().unwrap_or(0.0)),
                level,
                human_secs(a.span),
                human_secs(recent_span)
            ));
        }
        Shape::Slight => s.push_str(&format!(
            "{name} drifts up {} around {level}, {} over {} — too little to matter yet",
            rate(a.whole.slope),
            format_bytes_f64(a.change),
            human_secs(a.span)
        )),
        _ => s.push_str(&format!(
            "{name} stays around {level} over {} (trend {}, p = {:.2})",
            human_secs(a.span),
            rate(a.whole.slope),
            a.whole.p_value
        )),
    }
    if name == "heap" {
        if let Ok(r) = f.rss_a {
            let what = match r.shape {
                Shape::Growing => "rises, but Go's runtime accounts for the rise (garbage awaiting collection, not a leak)",
                Shape::Plateaued => "rose and levelled off",
                _ => "has no sustained growth",
            };
            s.push_str(&format!("; RSS ({}) {what}", format_bytes_f64(r.level)));
        }
    }
    if let Ok(g) = f.gr_a {
        if g.shape != Shape::Growing {
            s.push_str(&format!("; goroutines steady around {:.0}", g.level));
        }
    }
    s.push('.');
    s
}

fn inconclusive_sentence(f: &Facts) -> String {
    let (what, series, need) = if !f.obs.heap.is_empty() {
        ("heap profiles", &f.obs.heap, f.heap_a.as_ref().err())
    } else {
        ("RSS samples", &f.obs.rss, f.rss_a.as_ref().err())
    };
    let mut s = String::from("Inconclusive: too little data for a verdict. ");
    let have = series.len();
    let need = need.map_or(Thresholds::BYTES.min_points, |e| e.need);
    s.push_str(&format!(
        "The window holds {have} {what} over {}; a verdict needs at least {need}",
        human_secs(f.obs.window.duration_seconds)
    ));
    if have >= 2 {
        let interval = (series.t[have - 1] - series.t[0]) / (have - 1) as f64;
        let more = interval * need.saturating_sub(have) as f64;
        s.push_str(&format!(
            " — about {} more at one every {}",
            human_secs(more),
            human_secs(interval)
        ));
    }
    s.push('.');
    if f.obs.heap.is_empty() && f.obs.rss.is_empty() {
        s.push_str(" The recording has neither samples nor profiles: is the target alive and the pprof URL right?");
    } else if f.obs.heap.is_empty() {
        s.push_str(" With --pprof, heap profiles would also say where memory goes.");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::series::Lifetime;
    use crate::analysis::sites::Frame;

    const MIB: f64 = 1024.0 * 1024.0;

    fn series(n: usize, step: f64, f: impl Fn(f64) -> f64) -> Series {
        let t: Vec<f64> = (0..n).map(|i| i as f64 * step).collect();
        Series {
            y: t.iter().map(|&t| f(t)).collect(),
            lifetime: vec![0; n],
            t,
        }
    }

    fn wobble(t: f64) -> f64 {
        // Deterministic noise without a trend.
        ((t * 12.9898).sin() * 43758.5453).fract()
    }

    fn obs(rss: Series, heap: Series, goroutines: Series) -> Observations {
        let end = rss.t.last().copied().unwrap_or(0.0);
        Observations {
            window: Window {
                start: Timestamp::default(),
                end: Timestamp(std::time::UNIX_EPOCH + Duration::from_secs_f64(end)),
                duration_seconds: end,
                rss_samples: rss.len(),
                heap_profiles: heap.len(),
                goroutine_profiles: goroutines.len(),
            },
            rss,
            rss_anon: Series::default(),
            cgroup: Series::default(),
            heap_objects: Series::default(),
            heap_sites: Vec::new(),
            heap_site_points: heap.clone(),
            go_mapped: Series::default(),
            heap_alloc: Series::default(),
            gc_forced: false,
            goroutine_sites: Vec::new(),
            goroutine_site_points: goroutines.clone(),
            heap,
            goroutines,
            lifetimes: vec![Lifetime {
                pid: 1,
                start: 0.0,
                end,
                died: false,
                oom_killed: false,
            }],
            events: Vec::new(),
            cgroup_limit: None,
            first_last_heap: None,
            unreadable: Vec::new(),
        }
    }

    fn site(name: &str, caller: &str, values: Vec<f64>) -> SiteSeries {
        SiteSeries {
            function: name.into(),
            objects: vec![0.0; values.len()],
            values,
            chain: vec![
                Frame {
                    function: name.into(),
                    file: "/src/main.go".into(),
                    line: 27,
                },
                Frame {
                    function: caller.into(),
                    file: "/src/main.go".into(),
                    line: 31,
                },
            ],
        }
    }

    #[test]
    fn heap_leak_names_the_site_and_the_time_to_limit() {
        let rss = series(120, 1.0, |t| {
            20.0 * MIB + 0.5 * MIB * t + 0.2 * MIB * wobble(t)
        });
        let heap = series(40, 3.0, |t| 4.0 * MIB + 0.25 * MIB * t);
        let mut o = obs(rss, heap.clone(), series(40, 3.0, |_| 6.0));
        o.heap_sites = vec![
            site(
                "main.newEntry",
                "main.(*cache).get",
                heap.t.iter().map(|t| 0.24 * MIB * t).collect(),
            ),
            site("main.steady", "main.main", vec![MIB; 40]),
        ];
        o.cgroup_limit = Some(2 << 30);
        let v = decide(&o, &Options::default());
        assert_eq!(v.verdict, Decision::Leak, "{}", v.summary);
        assert_eq!(v.kind, vec![LeakKind::Heap]);
        assert_eq!(v.sites.len(), 1, "{:?}", v.sites);
        assert_eq!(v.sites[0].function, "main.newEntry");
        assert_eq!(v.sites[0].stack, ["main.newEntry", "main.(*cache).get"]);
        assert!(v.sites[0].share > 0.9, "{:?}", v.sites[0]);
        let l = v.limit.as_ref().unwrap();
        assert_eq!(l.source, "cgroup");
        let t = l.time_to_limit_seconds.unwrap();
        // (2 GiB − ~80 MiB) / 0.5 MiB/s ≈ 3935 s.
        assert!((3800.0..4100.0).contains(&t), "{t}");
        assert!(
            l.time_to_limit_low_seconds.unwrap() <= t && t <= l.time_to_limit_high_seconds.unwrap()
        );
        assert!(
            v.summary
                .contains("main.newEntry ← main.(*cache).get (main.go:27)"),
            "{}",
            v.summary
        );
        assert!(
            v.summary.contains("cgroup limit is reached in 1h"),
            "{}",
            v.summary
        );
    }

    #[test]
    fn heap_plateau_is_no_leak_even_when_rss_drifts() {
        let rss = series(60, 1.0, |t| 30.0 * MIB + 0.2 * MIB * t);
        let heap = series(20, 3.0, |t| {
            2.0 * MIB + 3.0 * MIB * (t / 30.0).min(1.0) + 1000.0 * wobble(t)
        });
        let mut o = obs(rss, heap, series(20, 3.0, |_| 5.0));
        // The runtime's mapped memory rises with RSS: garbage, not a leak.
        o.go_mapped = series(20, 3.0, |t| 25.0 * MIB + 0.2 * MIB * t);
        let v = decide(&o, &Options::default());
        assert_eq!(v.verdict, Decision::NoLeak, "{}", v.summary);
        assert!(v.summary.contains("plateau"), "{}", v.summary);
        assert!(v.sites.is_empty());
    }

    #[test]
    fn noisy_flat_heap_is_no_leak() {
        let rss = series(60, 1.0, |t| 30.0 * MIB + MIB * wobble(t));
        let heap = series(20, 3.0, |t| 8.0 * MIB + 0.5 * MIB * wobble(t + 0.5));
        let v = decide(
            &obs(rss, heap, series(20, 3.0, |_| 7.0)),
            &Options::default(),
        );
        assert_eq!(v.verdict, Decision::NoLeak, "{}", v.summary);
        assert!(v.kind.is_empty());
        assert!(v.limit.is_none());
    }

    #[test]
    fn rss_growth_the_heap_does_not_explain_is_native() {
        let rss = series(60, 1.0, |t| 10.0 * MIB + 0.3 * MIB * t);
        let heap = series(20, 3.0, |t| 3.0 * MIB + 0.1 * MIB * wobble(t));
        let mut o = obs(rss, heap, series(20, 3.0, |_| 5.0));
        o.go_mapped = series(20, 3.0, |t| 8.0 * MIB + 1000.0 * wobble(t));
        let v = decide(
            &o,
            &Options {
                limit: Some(1 << 30),
            },
        );
        assert_eq!(v.verdict, Decision::Leak, "{}", v.summary);
        assert_eq!(v.kind, vec![LeakKind::Native]);
        assert!(v.summary.contains("outside Go"), "{}", v.summary);
        assert_eq!(v.limit.unwrap().source, "flag");
    }

    #[test]
    fn rss_only_growth_is_an_rss_leak() {
        let rss = series(200, 60.0, |t| {
            100.0 * MIB + 10.0 * MIB * t / 3600.0 + 2.0 * MIB * wobble(t)
        });
        let v = decide(
            &obs(rss, Series::default(), Series::default()),
            &Options::default(),
        );
        assert_eq!(v.verdict, Decision::Leak, "{}", v.summary);
        assert_eq!(v.kind, vec![LeakKind::Rss]);
        assert!(v.heap.is_none() && v.goroutines.is_none());
        let per_hour = v.rss.unwrap().slope_bytes_per_hour / MIB;
        assert!((9.0..11.0).contains(&per_hour), "{per_hour}");
    }

    #[test]
    fn goroutine_growth_names_the_blocked_function() {
        let rss = series(60, 1.0, |t| 10.0 * MIB + 0.02 * MIB * t);
        let heap = series(20, 3.0, |_| 3.0 * MIB);
        let gr = series(20, 3.0, |t| 4.0 + 200.0 * t);
        let mut o = obs(rss, heap, gr.clone());
        let mut blocked = site(
            "main.awaitReply",
            "main.handle",
            gr.y.iter().map(|g| g - 4.0).collect(),
        );
        blocked.chain.truncate(1);
        o.goroutine_sites = vec![blocked, site("net/http.(*conn).serve", "x", vec![4.0; 20])];
        let v = decide(&o, &Options::default());
        assert_eq!(v.verdict, Decision::Leak, "{}", v.summary);
        assert!(v.kind.contains(&LeakKind::Goroutines), "{:?}", v.kind);
        assert_eq!(v.goroutine_sites[0].function, "main.awaitReply");
        assert!(v.goroutine_sites[0].share > 0.99);
        assert!(
            v.summary.contains("blocked in main.awaitReply"),
            "{}",
            v.summary
        );
    }

    #[test]
    fn three_points_are_inconclusive_and_say_what_is_missing() {
        let rss = series(9, 1.0, |t| 10.0 * MIB + MIB * t);
        let heap = series(3, 3.0, |t| MIB * t);
        let v = decide(&obs(rss, heap, Series::default()), &Options::default());
        assert_eq!(v.verdict, Decision::Inconclusive);
        assert!(v.kind.is_empty());
        assert!(v.summary.contains("3 heap profiles"), "{}", v.summary);
        assert!(v.summary.contains("at least 15"), "{}", v.summary);
        assert!(v.summary.contains("36s more"), "{}", v.summary);
    }

    #[test]
    fn sawtooth_of_restarts_is_a_leak_and_reported() {
        // Four lifetimes of 30 one-minute samples, each growing 20 → 78 MiB.
        let n = 120;
        let t: Vec<f64> = (0..n).map(|i| i as f64 * 60.0).collect();
        let rss = Series {
            y: (0..n)
                .map(|i| 20.0 * MIB + 2.0 * MIB * (i % 30) as f64)
                .collect(),
            lifetime: (0..n).map(|i| i / 30).collect(),
            t: t.clone(),
        };
        let mut o = obs(rss, Series::default(), Series::default());
        o.lifetimes = (0..4)
            .map(|k| Lifetime {
                pid: 100 + k as u32,
                start: t[k * 30],
                end: t[k * 30 + 29],
                died: k < 3,
                oom_killed: k < 3,
            })
            .collect();
        let v = decide(&o, &Options::default());
        assert_eq!(v.verdict, Decision::Leak, "{}", v.summary);
        assert_eq!(v.kind, vec![LeakKind::Rss]);
        assert!(
            v.summary
                .contains("Sawtooth: The process died 3 times (3 OOM-killed)"),
            "{}",
            v.summary
        );
        assert!(v.events.iter().any(|e| e.kind == "sawtooth"));
    }

    #[test]
    fn json_has_the_guide_shape() {
        let rss = series(60, 1.0, |t| 10.0 * MIB + 0.02 * MIB * wobble(t));
        let v = decide(
            &obs(rss, Series::default(), Series::default()),
            &Options::default(),
        );
        let j = serde_json::to_value(&v).unwrap();
        for key in [
            "schema",
            "verdict",
            "kind",
            "summary",
            "window",
            "rss",
            "heap",
            "goroutines",
            "limit",
            "sites",
            "goroutine_sites",
            "events",
        ] {
            assert!(j.get(key).is_some(), "missing {key}: {j}");
        }
        assert_eq!(j["schema"], "leakwatch.verdict/1");
        assert_eq!(j["verdict"], "no_leak");
        assert!(j["heap"].is_null() && j["limit"].is_null());
        for key in [
            "first_bytes",
            "last_bytes",
            "slope_bytes_per_hour",
            "slope_low",
            "slope_high",
            "p_value",
            "growing",
        ] {
            assert!(j["rss"].get(key).is_some(), "rss.{key}: {j}");
        }
    }
}
