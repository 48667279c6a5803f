//! A recording as it stood at an earlier moment (`analyze --until`): what
//! the verdict would have been then, for instance whether the time to the
//! limit predicted halfway through a recording came true. Only the copy in
//! memory is cut; the directory is never written.

use std::fmt;
use std::time::Duration;

use super::format::Timestamp;
use super::reader::Recording;
use crate::units::{format_duration, parse_duration};

/// Where `--until` ends the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    /// An instant, written in RFC 3339 (`2026-11-26T14:05:00Z`).
    At(Timestamp),
    /// This long after the recording's start, written `+90s`, `+1h30m`.
    AfterStart(Duration),
}

impl Until {
    /// Parses `--until`: an RFC 3339 time, or `+DURATION` from the start.
    pub fn parse(s: &str) -> Result<Until, String> {
        let s = s.trim();
        match s.strip_prefix('+') {
            Some(d) => parse_duration(d).map(Until::AfterStart),
            None => Timestamp::parse(s).map(Until::At).map_err(|e| {
                format!("{e}; give a time such as 2026-11-26T14:05:00Z, or +90s for 90 seconds after the recording's start")
            }),
        }
    }

    /// The instant, for a recording that started at `start`.
    pub fn resolve(self, start: Timestamp) -> Timestamp {
        match self {
            Until::At(t) => t,
            Until::AfterStart(d) => Timestamp(start.0 + d),
        }
    }
}

impl fmt::Display for Until {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Until::At(t) => write!(f, "{t}"),
            Until::AfterStart(d) => write!(f, "+{}", format_duration(*d)),
        }
    }
}

/// `--until` names a moment before the recording started.
#[derive(Debug, thiserror::Error)]
#[error("--until {until} is before the recording's start ({start})")]
pub struct BeforeStart {
    /// The flag's value.
    pub until: Until,
    /// The recording's start.
    pub start: Timestamp,
}

impl Recording {
    /// Leaves out every sample, event, profile and runtime line recorded
    /// after `until`. A cut before the `end` event drops it too, so the
    /// verdict on what is left is interim: the watch went on.
    pub fn cut(&mut self, until: Until) -> Result<(), BeforeStart> {
        let start = self.meta.start;
        let at = until.resolve(start);
        if at < start {
            return Err(BeforeStart { until, start });
        }
        self.samples.retain(|s| s.time <= at);
        self.events.retain(|e| e.time <= at);
        self.profiles.retain(|p| p.time <= at);
        self.runtime.retain(|r| r.time <= at);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn until_reads_a_time_or_an_offset_from_the_start() {
        let start = Timestamp::parse("2026-11-26T14:00:00Z").unwrap();
        let at = Until::parse("2026-11-26T14:05:00.5Z").unwrap();
        assert_eq!(at.resolve(start).seconds_since(start), 300.5);
        let after = Until::parse("+1m30s").unwrap();
        assert_eq!(after, Until::AfterStart(Duration::from_secs(90)));
        assert_eq!(after.resolve(start).seconds_since(start), 90.0);
        assert_eq!(after.to_string(), "+1m 30s");
        for bad in ["90s", "+soon", "yesterday", ""] {
            let e = Until::parse(bad).unwrap_err();
            assert!(e.contains(bad.trim_start_matches('+')), "{bad}: {e}");
        }
    }
}
