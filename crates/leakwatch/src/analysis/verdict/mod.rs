//! The verdict: leak or not, what kind, where, how fast, and when the limit
//! is reached — the `leakwatch.verdict/1` JSON documented in `docs/json.md`,
//! and the rules that fill it (written up in `docs/method.md`).
//!
//! This module holds the JSON's types; its submodules fill them: `rules`
//! ([`decide`]) decides, `growing_sites` names where the memory goes,
//! `limit` estimates when the limit is reached, `sawtooth` finds lifetimes
//! that grew and died, `events` lists what happened in the window, and
//! `summary` says it all in English.

use std::fmt;

use serde::Serialize;

use crate::recording::{Timestamp, Window};

mod events;
mod growing_sites;
mod limit;
mod rules;
mod sawtooth;
mod summary;
#[cfg(test)]
mod tests;

pub use rules::{decide, Options};

/// The `schema` value of the JSON.
pub const SCHEMA: &str = "leakwatch.verdict/1";

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
    /// Whether the window is still open (the watch runs, or was killed
    /// before it could end): the verdict covers what was recorded so far
    /// and may change.
    pub interim: bool,
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
    /// The smallest steady growth, bytes per hour, this window would have
    /// called a leak (see [`crate::analysis::growth::detectable_slope`]);
    /// `null` when the series is too short to judge.
    pub detectable_bytes_per_hour: Option<f64>,
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
    /// The smallest steady growth, goroutines per hour, this window would
    /// have called a leak; `null` when the series is too short to judge.
    pub detectable_per_hour: Option<f64>,
    /// Goroutines Go's leak detector (the `goroutineleak` profile) lists in
    /// its latest profile: each is proven leaked. `null` when the endpoint
    /// does not serve that profile.
    pub proven_leaked: Option<u64>,
}

/// The memory limit and when it will be reached.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Limit {
    /// The limit.
    pub bytes: u64,
    /// Where the limit comes from.
    pub source: LimitSource,
    /// Seconds from the end of the window to the limit at the estimated
    /// rate; `null` when nothing grows.
    pub time_to_limit_seconds: Option<f64>,
    /// The same at the highest rate the 95% intervals of the slope and of
    /// the recent part's slope allow.
    pub time_to_limit_low_seconds: Option<f64>,
    /// The same at the lowest rate; `null` when that rate is not positive
    /// (the limit may never be reached).
    pub time_to_limit_high_seconds: Option<f64>,
}

/// Where the memory limit comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitSource {
    /// `--limit`, which overrides the cgroup's.
    Flag,
    /// The cgroup's `memory.max`.
    Cgroup,
}

impl LimitSource {
    /// The name in the JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            LimitSource::Flag => "flag",
            LimitSource::Cgroup => "cgroup",
        }
    }
}

impl fmt::Display for LimitSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
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
    /// Its part of the total goroutine growth, 0–1 (of the proven leaked
    /// goroutines, when Go's leak detector names the site).
    pub share: f64,
    /// Goroutines Go's leak detector lists as leaked here; `null` when it
    /// does not name this site (or does not run).
    pub proven_leaked: Option<u64>,
}

/// An event of the window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VerdictEvent {
    /// When.
    pub time: Timestamp,
    /// What.
    pub kind: VerdictEventKind,
    /// One sentence.
    pub detail: String,
}

/// What an event of the window is: one of the recording's events the
/// verdict shows, or one the analysis adds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VerdictEventKind {
    /// The target exited or disappeared.
    TargetExit,
    /// A spawned target was started again after it died.
    Restart,
    /// The cgroup's OOM-kill counter went up.
    OomKill,
    /// A profile could not be fetched or was not a profile.
    ScrapeError,
    /// The endpoint does not serve one kind of profile.
    EndpointUnavailable,
    /// A recorded profile could not be read and was skipped.
    UnreadableProfile,
    /// Lifetimes grew and died (see the summary).
    Sawtooth,
}

impl VerdictEventKind {
    /// The name in the JSON (for the recording's events, the recording's
    /// own `kind`).
    pub fn as_str(self) -> &'static str {
        match self {
            VerdictEventKind::TargetExit => "target_exit",
            VerdictEventKind::Restart => "restart",
            VerdictEventKind::OomKill => "oom_kill",
            VerdictEventKind::ScrapeError => "scrape_error",
            VerdictEventKind::EndpointUnavailable => "endpoint_unavailable",
            VerdictEventKind::UnreadableProfile => "unreadable_profile",
            VerdictEventKind::Sawtooth => "sawtooth",
        }
    }
}

impl fmt::Display for VerdictEventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
