//! The one-line progress display on stderr, drawn only for a person at a
//! terminal: elapsed time, samples, current RSS, profiles, and whether RSS
//! is rising.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::units::{format_bytes, format_bytes_f64, format_duration};

/// Recent RSS readings kept for the trend hint; a fixed ring, so the display
/// costs the same on day ten as in minute one.
const TREND_POINTS: usize = 32;

/// The progress line.
#[derive(Debug)]
pub struct Progress {
    bar: Option<ProgressBar>,
    show_profiles: bool,
    started: Instant,
    last_draw: Option<Instant>,
    samples: u64,
    rss: Option<u64>,
    profiles_ok: u64,
    profiles_failed: u64,
    trend: [(f64, f64); TREND_POINTS],
    trend_len: usize,
    trend_next: usize,
}

impl Progress {
    /// A display that draws only when stderr is a terminal and not `quiet`;
    /// profile counts are shown when there is an endpoint to scrape.
    pub fn new(quiet: bool, show_profiles: bool) -> Self {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar
        });
        Progress {
            bar,
            show_profiles,
            started: Instant::now(),
            last_draw: None,
            samples: 0,
            rss: None,
            profiles_ok: 0,
            profiles_failed: 0,
            trend: [(0.0, 0.0); TREND_POINTS],
            trend_len: 0,
            trend_next: 0,
        }
    }

    /// Records a sample.
    pub fn sample(&mut self, rss: Option<u64>) {
        self.samples += 1;
        if let Some(r) = rss {
            self.rss = Some(r);
            // Spread the ring over the watch: keep a point at most every
            // 1/32 of the elapsed time, so the hint covers the whole watch.
            let t = self.started.elapsed().as_secs_f64();
            let newest = self.trend_newest().map(|p| p.0);
            if newest.is_none_or(|n| t - n >= t / TREND_POINTS as f64) {
                self.trend[self.trend_next] = (t, r as f64);
                self.trend_next = (self.trend_next + 1) % TREND_POINTS;
                self.trend_len = (self.trend_len + 1).min(TREND_POINTS);
            }
        }
        self.draw();
    }

    /// Records a profile round's result.
    pub fn profiles(&mut self, ok: u64, failed: u64) {
        self.profiles_ok += ok;
        self.profiles_failed += failed;
        self.draw();
    }

    /// Removes the line.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    fn trend_newest(&self) -> Option<(f64, f64)> {
        (self.trend_len > 0)
            .then(|| self.trend[(self.trend_next + TREND_POINTS - 1) % TREND_POINTS])
    }

    fn trend_oldest(&self) -> Option<(f64, f64)> {
        (self.trend_len > 0).then(|| {
            if self.trend_len < TREND_POINTS {
                self.trend[0]
            } else {
                self.trend[self.trend_next]
            }
        })
    }

    /// `↑ 1.2 MiB/min`, `↓ …`, `flat`, or nothing yet.
    fn trend_hint(&self) -> String {
        let (Some((t0, r0)), Some((t1, r1))) = (self.trend_oldest(), self.trend_newest()) else {
            return String::new();
        };
        let dt = t1 - t0;
        if dt < 1.0 {
            return String::new();
        }
        let change = r1 - r0;
        // Within 2% is noise for RSS.
        if change.abs() < r0.max(1.0) * 0.02 {
            return "  flat".into();
        }
        let per_min = change / dt * 60.0;
        let arrow = if change > 0.0 { '↑' } else { '↓' };
        format!("  {arrow} {}/min", format_bytes_f64(per_min.abs()))
    }

    fn draw(&mut self) {
        let Some(bar) = &self.bar else {
            return;
        };
        let now = Instant::now();
        if self
            .last_draw
            .is_some_and(|t| now.duration_since(t) < Duration::from_millis(200))
        {
            return;
        }
        self.last_draw = Some(now);
        let rss = self
            .rss
            .map_or_else(|| "?".to_owned(), |r| format_bytes(r as i64));
        let secs = self.started.elapsed().as_secs();
        let elapsed = if secs == 0 {
            "0s".to_owned()
        } else {
            format_duration(Duration::from_secs(secs))
        };
        let profiles = if self.show_profiles {
            format!(
                "  profiles {} ok, {} failed",
                self.profiles_ok, self.profiles_failed
            )
        } else {
            String::new()
        };
        bar.set_message(format!(
            "watching {elapsed}  samples {}  RSS {rss}{}{profiles}",
            self.samples,
            self.trend_hint(),
        ));
        bar.tick();
    }
}
