//! The time span a recording covers and how much evidence it holds: the
//! verdict's `window` object.

use std::time::Duration;

use serde::Serialize;

use super::format::{Event, ProfileKind, Timestamp};
use super::reader::Recording;
use crate::units::format_duration;

/// The verdict JSON's `window`: when the recording starts and ends and what
/// it holds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Window {
    /// When the watch started (`meta.json` `start`).
    pub start: Timestamp,
    /// When it ended (the `end` event), or for an unfinished recording the
    /// latest time anything was recorded.
    pub end: Timestamp,
    /// `end - start` in seconds.
    pub duration_seconds: f64,
    /// Samples with an RSS figure.
    pub rss_samples: usize,
    /// Heap profiles present (after thinning).
    pub heap_profiles: usize,
    /// Goroutine profiles present (after thinning).
    pub goroutine_profiles: usize,
}

impl Window {
    /// One line for people: `START → END (1m 30s; 90 RSS samples, 30 heap
    /// and 30 goroutine profiles)`, as the text verdict and the report show
    /// it.
    pub fn describe(&self) -> String {
        format!(
            "{} → {} ({}; {} RSS samples, {} heap and {} goroutine profiles)",
            self.start,
            self.end,
            format_duration(Duration::from_secs_f64(self.duration_seconds.max(0.0))),
            self.rss_samples,
            self.heap_profiles,
            self.goroutine_profiles
        )
    }
}

/// Computes the window of `rec`.
pub fn window(rec: &Recording) -> Window {
    let start = rec.meta.start;
    let end = match rec.end() {
        Some(e) => e.time,
        None => latest_time(rec).unwrap_or(start),
    }
    .max(start);
    Window {
        start,
        end,
        // Millisecond precision: the fraction beyond it is clock noise.
        duration_seconds: (end.seconds_since(start) * 1000.0).round() / 1000.0,
        rss_samples: rec.samples.iter().filter(|s| s.vm_rss.is_some()).count(),
        heap_profiles: rec.profiles_of(ProfileKind::Heap).count(),
        goroutine_profiles: rec.profiles_of(ProfileKind::Goroutine).count(),
    }
}

fn latest_time(rec: &Recording) -> Option<Timestamp> {
    let samples = rec.samples.last().map(|s| s.time);
    let events = rec
        .events
        .iter()
        .filter(|e| !matches!(e.event, Event::Unknown))
        .map(|e| e.time)
        .max();
    let profiles = rec.profiles.iter().map(|p| p.time).max();
    let runtime = rec.runtime.last().map(|r| r.time);
    [samples, events, profiles, runtime]
        .into_iter()
        .flatten()
        .max()
}
