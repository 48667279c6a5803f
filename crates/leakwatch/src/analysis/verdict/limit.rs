//! The memory limit and the estimate of when the process reaches it.

use super::rules::{assess_series, raw_trend, Options};
use super::{Decision, Limit, LimitSource};
use crate::analysis::growth::{Assessment, Thresholds, TooFew};
use crate::analysis::series::Observations;
use crate::analysis::stats::Trend;

/// The limit and the time to reach it: from the series the limit applies
/// to (cgroup usage for a cgroup limit, else RSS), at its Theil–Sen rate,
/// with the range the 95% intervals of that rate and of its recent part's
/// allow.
pub(super) fn estimate(
    obs: &Observations,
    opts: &Options,
    verdict: Decision,
    rss_a: &Result<Assessment, TooFew>,
    heap_a: &Result<Assessment, TooFew>,
) -> Option<Limit> {
    let (bytes, source) = match (opts.limit, obs.cgroup_limit) {
        (Some(b), _) => (b, opts.limit_source),
        (None, Some(b)) => (b, LimitSource::Cgroup),
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
    // RSS is already assessed; only cgroup usage needs its own assessment.
    let cgroup_a;
    let (against, against_a) =
        if source == LimitSource::Cgroup && obs.cgroup.len() >= Thresholds::BYTES.min_points() {
            cgroup_a = assess_series(&obs.cgroup, &Thresholds::BYTES);
            (&obs.cgroup, &cgroup_a)
        } else {
            (&obs.rss, rss_a)
        };
    let level = against.last().or_else(|| obs.heap.last()).unwrap_or(0.0);
    // The rate: the limited series' own when it rises, else RSS's, else
    // the heap's (a leak the process's memory has not shown yet).
    let own = match against_a {
        Ok(a) => rising(a),
        Err(_) => raw_trend(against)
            .filter(|t| t.slope > 0.0)
            .map(|t| (t, None)),
    };
    let assessed = |a: &Result<Assessment, TooFew>| a.as_ref().ok().and_then(rising);
    let Some((whole, recent)) = own.or_else(|| assessed(rss_a)).or_else(|| assessed(heap_a)) else {
        return Some(out);
    };
    // The range spans the 95% intervals of the window's rate and of its
    // recent part's: a rate that changed over the window (a process's
    // start-up inflating the early growth, a leak that speeds up) widens
    // the range instead of being averaged into a narrow, wrong one.
    let fastest = recent
        .as_ref()
        .map_or(whole.slope_high, |r| r.slope_high.max(whole.slope_high))
        .max(whole.slope);
    let slowest = recent
        .as_ref()
        .map_or(whole.slope_low, |r| r.slope_low.min(whole.slope_low));
    let room = (bytes as f64 - level).max(0.0);
    let at = |slope: f64| (slope > 0.0).then(|| (room / slope).round());
    out.time_to_limit_seconds = at(whole.slope);
    out.time_to_limit_low_seconds = at(fastest);
    out.time_to_limit_high_seconds = at(slowest);
    Some(out)
}

/// A rising series' trend and its recent part's, for the time to the limit.
fn rising(a: &Assessment) -> Option<(Trend, Option<Trend>)> {
    (a.whole.slope > 0.0).then(|| (a.whole.clone(), a.recent.clone()))
}
