//! The sawtooth: process lifetimes whose RSS rose until they died, the
//! pattern of a leak that a restarting supervisor hides.

use crate::analysis::series::{Lifetime, Observations};
use crate::analysis::stats;

/// A pattern of lifetimes that grew and then died.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Sawtooth {
    /// Lifetimes that grew and died.
    pub(super) teeth: usize,
    /// Median peak RSS before dying, bytes.
    pub(super) peak: f64,
    /// Median lifetime, seconds.
    pub(super) period: f64,
    /// How many of the deaths were OOM kills.
    pub(super) oom_kills: usize,
    /// When the last one died (seconds since the window start).
    pub(super) last_death: f64,
}

/// Lifetimes that died after their RSS rose: the "OOM-killed every four
/// days" of the seed. Each is judged on its own samples (Mann–Kendall,
/// 5%); a lifetime too short to judge does not count.
pub(super) fn detect(obs: &Observations) -> Option<Sawtooth> {
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
