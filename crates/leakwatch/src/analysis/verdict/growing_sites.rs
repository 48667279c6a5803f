//! The growing sites: the heap allocation sites and goroutine stacks whose
//! own series rise, with their share of the total growth, steepest first.

use super::rules::raw_trend;
use super::{GoroutineSite, Site};
use crate::analysis::leak_proof::LeakProof;
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
    named_sites(heap, sites)
        .into_iter()
        .map(|(s, t, share)| {
            let leaf = s.chain.first();
            Site {
                function: s.function.clone(),
                file: leaf.map(|f| f.file.clone()).filter(|f| !f.is_empty()),
                line: leaf.map(|f| f.line).filter(|l| *l > 0),
                stack: stack_names(s),
                first_bytes: s.values.first().copied().unwrap_or(0.0) as u64,
                last_bytes: s.values.last().copied().unwrap_or(0.0) as u64,
                slope_bytes_per_hour: t.slope * 3600.0,
                share,
                p_value: t.p_value,
            }
        })
        .collect()
}

/// The goroutine sites whose own counts rise, steepest first.
pub(super) fn goroutines(goroutines: &Series, sites: &[SiteSeries]) -> Vec<GoroutineSite> {
    named_sites(goroutines, sites)
        .into_iter()
        .map(|(s, t, share)| GoroutineSite {
            function: s.function.clone(),
            stack: stack_names(s),
            first: s.values.first().copied().unwrap_or(0.0) as u64,
            last: s.values.last().copied().unwrap_or(0.0) as u64,
            slope_per_hour: t.slope * 3600.0,
            share,
            proven_leaked: None,
        })
        .collect()
}

/// The sites of Go's goroutine leak profile, most leaked goroutines first,
/// ahead of the rising sites (`rising`) it does not name. A site both name
/// keeps its trend figures.
pub(super) fn proven(
    proof: &LeakProof,
    sites: &[SiteSeries],
    rising: Vec<GoroutineSite>,
) -> Vec<GoroutineSite> {
    let mut rising = rising;
    let mut out: Vec<GoroutineSite> = proof
        .sites
        .iter()
        .take(MAX_SITES)
        .map(|(function, leaked, chain)| {
            let share = share(*leaked as f64, proof.total as f64);
            if let Some(i) = rising.iter().position(|s| s.function == *function) {
                let mut s = rising.remove(i);
                s.proven_leaked = Some(*leaked);
                s.share = share;
                return s;
            }
            let series = sites.iter().find(|s| s.function == *function);
            let stack = if chain.is_empty() {
                vec![function.clone()]
            } else {
                chain.iter().map(|f| f.function.clone()).collect()
            };
            GoroutineSite {
                function: function.clone(),
                stack,
                first: series
                    .and_then(|s| s.values.first())
                    .map_or(0, |v| *v as u64),
                last: series
                    .and_then(|s| s.values.last())
                    .map_or(*leaked, |v| *v as u64),
                slope_per_hour: 0.0,
                share,
                proven_leaked: Some(*leaked),
            }
        })
        .collect();
    out.extend(rising);
    out.truncate(MAX_SITES);
    out
}

/// The rising sites worth naming, with their trend and their share of the
/// growth, steepest first: at most [`MAX_SITES`], each with at least
/// [`MIN_SITE_SHARE`]. A share is of the total's slope, or of the risers'
/// summed slopes when those are larger, so the shares add up to at most 1.
fn named_sites<'a>(parent: &Series, sites: &'a [SiteSeries]) -> Vec<(&'a SiteSeries, Trend, f64)> {
    let total_slope = raw_trend(parent).map_or(0.0, |t| t.slope);
    let rising = rising_sites(parent, sites, &parent.segments());
    let positive: f64 = rising.iter().map(|(_, t)| t.slope).sum();
    let denominator = total_slope.max(positive);
    rising
        .into_iter()
        .map(|(s, t)| {
            let share = share(t.slope, denominator);
            (s, t, share)
        })
        .filter(|(_, _, share)| *share >= MIN_SITE_SHARE)
        .take(MAX_SITES)
        .collect()
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
/// Only the largest risers from the first to the last third of each
/// lifetime are tested, which bounds the work on profiles with thousands of
/// sites.
fn rising_sites<'a>(
    parent: &Series,
    sites: &'a [SiteSeries],
    segments: &[std::ops::Range<usize>],
) -> Vec<(&'a SiteSeries, Trend)> {
    let mut candidates: Vec<(&SiteSeries, f64)> = sites
        .iter()
        .filter(|s| s.values.len() == parent.len())
        .map(|s| {
            // Within each lifetime: across a restart, a young process's
            // last third can sit below an old one's first.
            let rise = segments
                .iter()
                .filter(|g| !g.is_empty())
                .map(|g| {
                    let v = &s.values[g.clone()];
                    let third = (v.len() / 3).max(1);
                    let early: f64 = v[..third].iter().sum::<f64>() / third as f64;
                    let late: f64 = v[v.len() - third..].iter().sum::<f64>() / third as f64;
                    late - early
                })
                .sum::<f64>();
            (s, rise)
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
