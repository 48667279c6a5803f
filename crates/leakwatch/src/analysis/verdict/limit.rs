//! The memory limit and the estimate of when the process reaches it.

use super::rules::{raw_trend, Options};
use super::{Decision, Limit, LimitSource};
use crate::analysis::growth::{Assessment, Thresholds, TooFew};
use crate::analysis::series::Observations;

/// The limit and the time to reach it: from the series the limit applies
/// to (cgroup usage for a cgroup limit, else RSS), at its Theil–Sen rate,
/// with the range its 95% interval allows.
pub(super) fn estimate(
    obs: &Observations,
    opts: &Options,
    verdict: Decision,
    rss_a: &Result<Assessment, TooFew>,
    heap_a: &Result<Assessment, TooFew>,
) -> Option<Limit> {
    let (bytes, source) = match (opts.limit, obs.cgroup_limit) {
        (Some(b), _) => (b, LimitSource::Flag),
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
    let against =
        if source == LimitSource::Cgroup && obs.cgroup.len() >= Thresholds::BYTES.min_points() {
            &obs.cgroup
        } else {
            &obs.rss
        };
    let level = against.last().or_else(|| obs.heap.last()).unwrap_or(0.0);
    // The rate: the limited series' own when it rises, else RSS's, else
    // the heap's (a leak the process's memory has not shown yet).
    let own = raw_trend(against).filter(|t| t.slope > 0.0);
    let rising = |a: &Result<Assessment, TooFew>| {
        a.as_ref()
            .ok()
            .map(|a| a.whole.clone())
            .filter(|t| t.slope > 0.0)
    };
    let rate = own.or_else(|| rising(rss_a)).or_else(|| rising(heap_a));
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
