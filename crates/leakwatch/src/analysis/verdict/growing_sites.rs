//! The growing sites: the heap allocation sites and goroutine stacks whose
//! own series rise, with their share of the total growth, steepest first.

use super::rules::raw_trend;
use super::{GoroutineSite, Site};
use crate::analysis::series::{Series, SiteSeries};
use crate::analysis::stats::{self, Trend};

/// Sites reported at most.
const MAX_SITES: usize = 10;
/// Sites whose trend is computed at most (the largest risers first).
const MAX_SITE_CANDIDATES: usize = 50;
/// Significance of a single site's own trend.
const SITE_ALPHA: f64 = 0.05;
/// A site must carry at least this share of the heap growth to be named.
const MIN_SITE_SHARE: f64 = 0.01;

/// The sites whose own series rise, steepest first.
///
/// `heap` holds the totals of the very profiles the sites were read from:
/// a share must divide like by like. Against the exact `HeapAlloc` series a
/// site estimated from sampled allocations would read low or high by the
/// sampling error alone.
pub(super) fn heap(heap: &Series, sites: &[SiteSeries]) -> Vec<Site> {
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

/// The goroutine sites whose own counts rise, steepest first.
pub(super) fn goroutines(goroutines: &Series, sites: &[SiteSeries]) -> Vec<GoroutineSite> {
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
