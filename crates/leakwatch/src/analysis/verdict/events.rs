//! The events of the window the verdict lists: the recording's own, the
//! profiles that could not be read, and the sawtooth.

use std::time::Duration;

use super::sawtooth::Sawtooth;
use super::summary::sawtooth_sentence;
use super::VerdictEvent;
use crate::analysis::series::Observations;
use crate::recording::{Event, Timestamp};

/// The recording's events worth showing (not the bookkeeping `end`), plus
/// the sawtooth when there is one.
pub(super) fn of_window(obs: &Observations, sawtooth: Option<&Sawtooth>) -> Vec<VerdictEvent> {
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
