//! The events of the window the verdict lists: the recording's own, the
//! profiles that could not be read, and the sawtooth.

use std::time::Duration;

use super::sawtooth::Sawtooth;
use super::summary::sawtooth_sentence;
use super::{VerdictEvent, VerdictEventKind};
use crate::analysis::series::Observations;
use crate::recording::{Event, Timestamp};

/// The recording's events worth showing (see [`shown_kind`]), the profiles
/// that could not be read, and the sawtooth when there is one.
pub(super) fn of_window(obs: &Observations, sawtooth: Option<&Sawtooth>) -> Vec<VerdictEvent> {
    const MAX_EVENTS: usize = 50;
    let mut out: Vec<VerdictEvent> = obs
        .events
        .iter()
        .filter_map(|e| {
            Some(VerdictEvent {
                time: e.time,
                kind: shown_kind(&e.event)?,
                detail: e.detail.clone(),
            })
        })
        .take(MAX_EVENTS)
        .collect();
    for u in obs.unreadable.iter().take(MAX_EVENTS) {
        out.push(VerdictEvent {
            time: obs.window.end,
            kind: VerdictEventKind::UnreadableProfile,
            detail: format!("skipped: {u}"),
        });
    }
    if let Some(s) = sawtooth {
        out.push(VerdictEvent {
            time: Timestamp(obs.window.start.0 + Duration::from_secs_f64(s.last_death.max(0.0))),
            kind: VerdictEventKind::Sawtooth,
            detail: sawtooth_sentence(s),
        });
    }
    out.sort_by_key(|e| e.time);
    out
}

/// The verdict's kind for a recorded event, or `None` for those it leaves
/// out: the watcher's own doings (the bookkeeping `end`, the signals it
/// forwarded) and kinds from a newer leakwatch.
fn shown_kind(event: &Event) -> Option<VerdictEventKind> {
    Some(match event {
        Event::TargetExit { .. } => VerdictEventKind::TargetExit,
        Event::Restart { .. } => VerdictEventKind::Restart,
        Event::OomKill { .. } => VerdictEventKind::OomKill,
        Event::ScrapeError { .. } => VerdictEventKind::ScrapeError,
        Event::EndpointUnavailable { .. } => VerdictEventKind::EndpointUnavailable,
        Event::End { .. } | Event::Signal { .. } | Event::Unknown => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A recorded event keeps the `kind` tag the recording writes.
    #[test]
    fn shown_events_keep_the_recordings_kind() {
        let events = [
            Event::TargetExit {
                pid: 1,
                code: Some(0),
                signal: None,
                stopped_by_watcher: false,
            },
            Event::Restart {
                old_pid: 1,
                new_pid: 2,
                start_ticks: None,
                restarts: 1,
            },
            Event::OomKill {
                count: 1,
                increase: 1,
            },
            Event::ScrapeError {
                profile: "heap".into(),
                url: "http://localhost/debug/pprof/heap".into(),
                error: "timeout".into(),
                status: None,
            },
            Event::EndpointUnavailable {
                profile: "goroutine".into(),
                url: "http://localhost/debug/pprof/goroutine".into(),
            },
        ];
        for e in &events {
            let kind = shown_kind(e).unwrap_or_else(|| panic!("{e:?} is not shown"));
            let written = serde_json::to_value(e).unwrap();
            assert_eq!(written["kind"], kind.as_str(), "{written}");
        }
        let signal = Event::Signal {
            signal: 2,
            name: "SIGINT".into(),
        };
        assert_eq!(shown_kind(&signal), None);
        assert_eq!(shown_kind(&Event::Unknown), None);
    }
}
