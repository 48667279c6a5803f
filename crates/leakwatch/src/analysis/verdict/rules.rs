//! The decision rules: which series grow, what kind of leak that makes,
//! whether there is enough data to say, and when a heap leak is only the
//! goroutine leak's shadow. Fills the [`Verdict`] from the parts the
//! sibling modules compute.

use super::summary::{self, Facts};
use super::{events, growing_sites, limit, sawtooth};
use super::{
    Decision, GoroutineTrend, HeapTrend, LeakKind, LimitSource, MemoryTrend, Verdict, SCHEMA,
};
use crate::analysis::growth::{assess, detectable_slope, Assessment, Thresholds, TooFew};
use crate::analysis::leak_proof::LeakProof;
use crate::analysis::series::{Observations, Series};
use crate::analysis::sites::is_runtime_frame;
use crate::analysis::stats::{self, Trend};

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

/// Settings of [`decide`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Options {
    /// `--limit`, overriding the cgroup's.
    pub limit: Option<u64>,
    /// Where `limit` comes from (`--limit` unless said otherwise).
    pub limit_source: LimitSource,
}

/// Decides from `obs`.
pub fn decide(obs: &Observations, opts: &Options) -> Verdict {
    let rss_a = assess_series(&obs.rss, &Thresholds::BYTES);
    let heap_a = assess_series(obs.heap_signal(), &Thresholds::BYTES);
    let gr_a = assess_series(&obs.goroutines, &Thresholds::COUNT);
    let have_profiles = !obs.heap.is_empty();

    let heap_growing = heap_a.as_ref().is_ok_and(Assessment::growing);
    let gr_growing = gr_a.as_ref().is_ok_and(Assessment::growing);
    // Go's leak detector proves what a trend can only suggest: a goroutine
    // it lists can never run again, however short the window.
    let proof = obs.goroutine_leak.as_ref().filter(|p| p.total > 0);
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
    if gr_growing || proof.is_some() {
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
    let verdict = if !kind.is_empty() && (primary.is_ok() || proof.is_some()) {
        Decision::Leak
    } else if primary.is_ok() {
        Decision::NoLeak
    } else {
        Decision::Inconclusive
    };
    if verdict != Decision::Leak {
        kind.clear();
    } else if primary.is_err() {
        // Only the proof decided: the trends of a window too short to
        // judge (a young process's RSS climbing as it warms up) add nothing.
        kind.retain(|k| *k == LeakKind::Goroutines);
    }

    let mut sites = if kind.contains(&LeakKind::Heap) {
        growing_sites::heap(&obs.heap_site_points, &obs.heap_sites)
    } else {
        Vec::new()
    };
    let mut goroutine_sites = if kind.contains(&LeakKind::Goroutines) && gr_growing {
        growing_sites::goroutines(&obs.goroutine_site_points, &obs.goroutine_sites)
    } else {
        Vec::new()
    };
    if let Some(proof) = proof {
        goroutine_sites = growing_sites::proven(proof, &obs.goroutine_sites, goroutine_sites);
    }

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

    let limit = limit::estimate(obs, opts, verdict, &rss_a, &heap_a);
    let sawtooth = leaking_series(obs, &kind).and_then(|s| sawtooth::detect(obs, s));
    let events = events::of_window(obs, sawtooth.as_ref());

    // The power search assesses a series a score of times: once per series,
    // for the JSON and the summary alike.
    let rss_detectable = detectable(&obs.rss, &rss_a, &Thresholds::BYTES);
    let heap_detectable = detectable(obs.heap_signal(), &heap_a, &Thresholds::BYTES);
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
        rss_detectable,
        heap_detectable,
    };
    let summary = summary::paragraph(verdict, &kind, &facts);

    Verdict {
        schema: SCHEMA,
        verdict,
        interim: !obs.complete,
        kind,
        summary,
        window: obs.window.clone(),
        rss: memory_trend(&obs.rss, &rss_a, rss_detectable),
        heap: memory_trend(obs.heap_signal(), &heap_a, heap_detectable).map(|trend| HeapTrend {
            sample_type: "inuse_space",
            trend,
        }),
        goroutines: goroutine_trend(&obs.goroutines, &gr_a, obs.goroutine_leak.as_ref()),
        limit,
        sites,
        goroutine_sites,
        events,
    }
}

/// The series whose growth made the verdict a leak, for the sawtooth: the
/// heap's, else RSS's (a native or RSS-only leak), else the goroutine
/// count's; `None` without a leak.
fn leaking_series<'a>(obs: &'a Observations, kind: &[LeakKind]) -> Option<&'a Series> {
    if kind.contains(&LeakKind::Heap) {
        Some(obs.heap_signal())
    } else if kind.contains(&LeakKind::Native) || kind.contains(&LeakKind::Rss) {
        Some(&obs.rss)
    } else if kind.contains(&LeakKind::Goroutines) {
        Some(&obs.goroutines)
    } else {
        None
    }
}

pub(super) fn assess_series(s: &Series, th: &Thresholds) -> Result<Assessment, TooFew> {
    assess(&s.t, &s.y, &s.segments(), th)
}

/// The trend of a series too short to assess, still worth reporting.
pub(super) fn raw_trend(s: &Series) -> Option<Trend> {
    stats::trend(&s.t, &s.y, &s.segments())
}

/// The assessed trend, or the raw one of a series too short to assess.
fn reported_trend(s: &Series, a: &Result<Assessment, TooFew>) -> Option<Trend> {
    match a {
        Ok(a) => Some(a.whole.clone()),
        Err(_) => raw_trend(s),
    }
}

/// [`detectable_slope`] of a series, per second, from its assessment `a`;
/// `None` when it could not be assessed.
pub(super) fn detectable(
    s: &Series,
    a: &Result<Assessment, TooFew>,
    th: &Thresholds,
) -> Option<f64> {
    let a = a.as_ref().ok()?;
    detectable_slope(&s.t, &s.y, &s.segments(), a, th)
}

/// The JSON's trend of `s`; `detectable` is its [`detectable`] slope.
fn memory_trend(
    s: &Series,
    a: &Result<Assessment, TooFew>,
    detectable: Option<f64>,
) -> Option<MemoryTrend> {
    let trend = reported_trend(s, a)?;
    Some(MemoryTrend {
        first_bytes: s.first()? as u64,
        last_bytes: s.last()? as u64,
        slope_bytes_per_hour: trend.slope * 3600.0,
        slope_low: trend.slope_low * 3600.0,
        slope_high: trend.slope_high * 3600.0,
        p_value: trend.p_value,
        growing: a.as_ref().is_ok_and(Assessment::growing),
        detectable_bytes_per_hour: detectable.map(|d| d * 3600.0),
    })
}

fn goroutine_trend(
    s: &Series,
    a: &Result<Assessment, TooFew>,
    proof: Option<&LeakProof>,
) -> Option<GoroutineTrend> {
    let trend = reported_trend(s, a)?;
    Some(GoroutineTrend {
        first: s.first()? as u64,
        last: s.last()? as u64,
        slope_per_hour: trend.slope * 3600.0,
        p_value: trend.p_value,
        growing: a.as_ref().is_ok_and(Assessment::growing),
        detectable_per_hour: detectable(s, a, &Thresholds::COUNT).map(|d| d * 3600.0),
        proven_leaked: proof.map(|p| p.total),
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
    let anon = (obs.rss_anon.len() >= Thresholds::BYTES.min_points())
        .then(|| raw_trend(&obs.rss_anon))
        .flatten();
    let rss_slope = anon.map_or(rss.whole.slope, |a| a.slope);
    // The runtime's own accounting is the better witness: it covers the
    // heap with its garbage, stacks and runtime structures.
    let explained = match raw_trend(&obs.go_mapped) {
        Some(go) if obs.go_mapped.len() >= Thresholds::BYTES.min_points() => go.slope.max(0.0),
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
