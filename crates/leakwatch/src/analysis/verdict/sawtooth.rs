//! The sawtooth: process lifetimes that grew until they died, the pattern
//! of a leak that a restarting supervisor hides.
//!
//! The evidence is pooled, not per lifetime: a process restarted every few
//! seconds, or every few days with hourly profiles, has too few points in
//! any one lifetime for a test of its own. The verdict's assessment of the
//! leaking series already pairs points only within lifetimes (the
//! stratified Kendall test) and asks each lifetime to be still growing at
//! its end (`growth::assess`); once that has found a leak, every lifetime
//! that died after its own points rose is one tooth of it.

use crate::analysis::series::{Observations, Series};
use crate::analysis::stats;

/// A pattern of lifetimes that grew and then died.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Sawtooth {
    /// Lifetimes that grew and died.
    pub(super) teeth: usize,
    /// Median peak RSS before dying (of the leaking series when there are
    /// no RSS samples), bytes.
    pub(super) peak: f64,
    /// Median lifetime, seconds.
    pub(super) period: f64,
    /// How many of the deaths were OOM kills.
    pub(super) oom_kills: usize,
    /// When the last one died (seconds since the window start).
    pub(super) last_death: f64,
}

/// The lifetimes of `leaking` — the series whose growth made the verdict a
/// leak — that died after rising: the "OOM-killed every four days" of the
/// seed. A lifetime rose when its own Theil–Sen slope and Kendall score are
/// positive; it needs two points of the series, no more, because whether
/// the series leaks was decided on all lifetimes together.
pub(super) fn detect(obs: &Observations, leaking: &Series) -> Option<Sawtooth> {
    let mut peaks = Vec::new();
    let mut periods = Vec::new();
    let mut oom_kills = 0;
    let mut last_death = 0.0;
    for seg in leaking.segments() {
        let i = leaking.lifetime[seg.start];
        let Some(l) = obs.lifetimes.get(i).filter(|l| l.died) else {
            continue;
        };
        let (t, y) = (&leaking.t[seg.clone()], &leaking.y[seg.clone()]);
        let Some(tr) = stats::trend_single(t, y) else {
            continue;
        };
        if tr.s <= 0.0 || tr.slope <= 0.0 {
            continue;
        }
        let rss_peak = obs
            .rss
            .lifetime
            .iter()
            .zip(&obs.rss.y)
            .filter(|(lt, _)| **lt == i)
            .map(|(_, y)| *y)
            .reduce(f64::max);
        peaks.push(rss_peak.unwrap_or_else(|| y.iter().copied().fold(0.0, f64::max)));
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
