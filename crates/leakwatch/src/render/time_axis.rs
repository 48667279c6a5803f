//! Wall-clock time on a chart's x axis.
//!
//! Charts plot time in a unit chosen from the window's length (minutes,
//! hours or days since midnight UTC of the first day), so the "round" tick
//! positions plotters picks fall on round clock times (14:00, 14:30) rather
//! than on round numbers of Unix seconds (14:33:20).

use std::time::{Duration, UNIX_EPOCH};

const DAY: f64 = 86_400.0;

/// The shortest span an axis shows, in seconds: a single sample or a test's
/// few seconds still get whole-second ticks.
pub const MIN_SPAN: f64 = 10.0;

/// Maps Unix seconds to chart coordinates and back, and labels ticks.
#[derive(Debug, Clone, Copy)]
pub struct TimeAxis {
    origin: f64,
    unit: f64,
    span: f64,
}

impl TimeAxis {
    /// An axis for a window from `start` to `end`, both Unix seconds.
    pub fn new(start: f64, end: f64) -> TimeAxis {
        let span = (end - start).max(0.0);
        let origin = (start / DAY).floor() * DAY;
        let unit = if span < 120.0 {
            1.0
        } else if span < 2.0 * 3600.0 {
            60.0
        } else if span < 2.0 * DAY {
            3600.0
        } else {
            DAY
        };
        TimeAxis { origin, unit, span }
    }

    /// Chart coordinate of Unix time `t`.
    pub fn to_x(self, t: f64) -> f64 {
        (t - self.origin) / self.unit
    }

    /// Unix time of chart coordinate `x`.
    pub fn to_time(self, x: f64) -> f64 {
        self.origin + x * self.unit
    }

    /// The tick label for chart coordinate `x`: seconds only when the window
    /// is a few minutes long, the date only when it spans days.
    pub fn label(&self, x: f64) -> String {
        let stamp = rfc3339(self.to_time(x));
        // "2026-11-26T14:05:09Z": month-day at 5..10, clock at 11..19.
        if self.span < 300.0 {
            stamp[11..19].to_owned()
        } else if self.span < 1.5 * DAY {
            stamp[11..16].to_owned()
        } else {
            format!("{} {}", &stamp[5..10], &stamp[11..16])
        }
    }

    /// The axis caption.
    pub fn caption(&self) -> &'static str {
        if self.span < 1.5 * DAY {
            "time (UTC)"
        } else {
            "date and time (UTC)"
        }
    }
}

/// Unix seconds as an RFC 3339 UTC timestamp with whole seconds; times before
/// the epoch (never produced by a recording) are shown as the epoch.
pub fn rfc3339(t: f64) -> String {
    let t = if t.is_finite() { t.max(0.0) } else { 0.0 };
    let at = UNIX_EPOCH + Duration::from_secs_f64(t.round());
    humantime::format_rfc3339_seconds(at).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    // 2026-11-26T14:00:00Z
    const T0: f64 = 1_795_701_600.0;

    #[test]
    fn labels_follow_the_window_length() {
        let short = TimeAxis::new(T0, T0 + 60.0);
        assert_eq!(short.label(short.to_x(T0 + 5.0)), "14:00:05");
        // Seconds are the unit of a short axis: tick 3.0 is three seconds in.
        let seconds = TimeAxis::new(T0, T0 + 10.0);
        assert_eq!(seconds.label(seconds.to_x(T0) + 3.0), "14:00:03");
        let hours = TimeAxis::new(T0, T0 + 6.0 * 3600.0);
        assert_eq!(hours.label(hours.to_x(T0 + 1800.0)), "14:30");
        assert_eq!(hours.caption(), "time (UTC)");
        let days = TimeAxis::new(T0, T0 + 4.0 * DAY);
        assert_eq!(days.label(days.to_x(T0 + DAY)), "11-27 14:00");
        assert_eq!(days.caption(), "date and time (UTC)");
    }

    #[test]
    fn round_ticks_are_round_clock_times() {
        let hours = TimeAxis::new(T0 + 1234.0, T0 + 5.0 * 3600.0);
        // One unit is one hour since midnight: x = 15.0 is 15:00.
        assert_eq!(hours.label(15.0), "15:00");
        assert!((hours.to_time(hours.to_x(T0 + 77.0)) - (T0 + 77.0)).abs() < 1e-6);
    }
}
