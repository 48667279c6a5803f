//! When the watch does what: memory samples and profile rounds on fixed
//! grids, a liveness check of the target every second, the end of the
//! watch, and a pending restart — one type instead of loose deadlines, so
//! the loop asks "what is due now?" and "when do I wake?" and nothing else.

use std::time::{Duration, Instant};

/// How often the target's liveness is checked when no SIGCHLD says so
/// sooner (a `--pid` target is not our child and sends none).
const LIVENESS_EVERY: Duration = Duration::from_secs(1);

/// One thing the watch has to do now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    /// Check whether the target still runs.
    Liveness,
    /// Start the spawned command again.
    Restart,
    /// The watch's `--duration` is over.
    End,
    /// Take a memory sample.
    Sample,
    /// Start a profile round.
    Profile,
}

/// The watch's deadlines.
#[derive(Debug, Clone)]
pub struct Schedule {
    interval: Duration,
    profile_interval: Duration,
    next_liveness: Instant,
    next_sample: Instant,
    /// `None` when there is nothing to profile.
    next_profile: Option<Instant>,
    end_at: Option<Instant>,
    restart_at: Option<Instant>,
    /// A round is running; the next starts only after it reports back, so a
    /// slow endpoint never has two rounds piled on it.
    round_in_flight: bool,
    /// Profile rounds wait while the target is down (between its death and
    /// its restart) instead of failing against a dead endpoint.
    target_running: bool,
}

impl Schedule {
    /// A schedule starting at `start`: the first sample, liveness check and
    /// profile round are due at once.
    pub fn new(
        start: Instant,
        interval: Duration,
        profile_interval: Duration,
        profiles: bool,
        duration: Option<Duration>,
    ) -> Schedule {
        Schedule {
            interval,
            profile_interval,
            next_liveness: start,
            next_sample: start,
            next_profile: profiles.then_some(start),
            end_at: duration.map(|d| start + d),
            restart_at: None,
            round_in_flight: false,
            target_running: true,
        }
    }

    /// The most urgent task due at `now`, its deadline moved on; `None`
    /// when nothing is due. Call until `None`.
    pub fn next_due(&mut self, now: Instant) -> Option<Task> {
        if now >= self.next_liveness {
            self.next_liveness = now + LIVENESS_EVERY;
            return Some(Task::Liveness);
        }
        if self.restart_at.is_some_and(|t| now >= t) {
            self.restart_at = None;
            return Some(Task::Restart);
        }
        if self.end_at.is_some_and(|t| now >= t) {
            // Stays due: the watch ends, whatever else the loop does.
            return Some(Task::End);
        }
        if now >= self.next_sample {
            self.next_sample = advance(self.next_sample, self.interval, now);
            return Some(Task::Sample);
        }
        if let Some(next) = self.next_profile {
            if !self.round_in_flight && self.target_running && now >= next {
                self.next_profile = Some(advance(next, self.profile_interval, now));
                self.round_in_flight = true;
                return Some(Task::Profile);
            }
        }
        None
    }

    /// When the loop must wake next, whatever arrives meanwhile.
    pub fn wake_at(&self) -> Instant {
        let mut at = self.next_sample.min(self.next_liveness);
        if let Some(p) = self.next_profile.filter(|_| self.profiles_waiting()) {
            at = at.min(p);
        }
        for t in [self.end_at, self.restart_at].into_iter().flatten() {
            at = at.min(t);
        }
        at
    }

    fn profiles_waiting(&self) -> bool {
        !self.round_in_flight && self.target_running
    }

    /// The round started by the last [`Task::Profile`] reported back.
    pub fn round_done(&mut self) {
        self.round_in_flight = false;
    }

    /// Whether a profile round is running.
    pub fn round_in_flight(&self) -> bool {
        self.round_in_flight
    }

    /// Checks liveness at once (a SIGCHLD arrived).
    pub fn check_liveness_now(&mut self, now: Instant) {
        self.next_liveness = now;
    }

    /// The target died; if it is to be restarted, at `at`.
    pub fn target_died(&mut self, restart_at: Option<Instant>) {
        self.target_running = false;
        self.restart_at = restart_at;
    }

    /// The target (re)started at `now`: its first profile round is due at
    /// once rather than a whole interval later.
    pub fn target_started(&mut self, now: Instant) {
        self.target_running = true;
        if self.next_profile.is_some() {
            self.next_profile = Some(now);
        }
    }
}

/// The next tick after `prev`: on the fixed grid while we keep up, and from
/// `now` when we fell behind (missed ticks are skipped, not bunched).
fn advance(prev: Instant, every: Duration, now: Instant) -> Instant {
    let next = prev + every;
    if next <= now {
        now + every
    } else {
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn drain(s: &mut Schedule, now: Instant) -> Vec<Task> {
        std::iter::from_fn(|| s.next_due(now))
            .take_while(|t| *t != Task::End)
            .collect()
    }

    #[test]
    fn everything_is_due_at_the_start_then_each_on_its_own_grid() {
        let t0 = Instant::now();
        let mut s = Schedule::new(t0, 2 * S, 10 * S, true, None);
        assert_eq!(
            drain(&mut s, t0),
            [Task::Liveness, Task::Sample, Task::Profile]
        );
        assert_eq!(s.wake_at(), t0 + S, "liveness comes first");
        assert_eq!(drain(&mut s, t0 + S), [Task::Liveness]);
        assert_eq!(drain(&mut s, t0 + 2 * S), [Task::Liveness, Task::Sample]);
        // The round never reported back: no second one, however late.
        assert_eq!(
            drain(&mut s, t0 + 12 * S),
            [Task::Liveness, Task::Sample],
            "one round at a time"
        );
        s.round_done();
        assert_eq!(drain(&mut s, t0 + 12 * S), [Task::Profile]);
    }

    #[test]
    fn a_late_loop_skips_missed_ticks_instead_of_bunching_them() {
        let t0 = Instant::now();
        let mut s = Schedule::new(t0, S, 100 * S, false, None);
        drain(&mut s, t0);
        // Five intervals late: one sample now, the next an interval later.
        assert_eq!(drain(&mut s, t0 + 5 * S), [Task::Liveness, Task::Sample]);
        assert!(drain(&mut s, t0 + 5 * S).is_empty());
        assert_eq!(s.wake_at(), t0 + 6 * S);
    }

    #[test]
    fn the_end_stays_due_and_is_a_wake_up() {
        let t0 = Instant::now();
        let mut s = Schedule::new(t0, 10 * S, 10 * S, false, Some(3 * S));
        drain(&mut s, t0);
        assert_eq!(s.wake_at(), t0 + S);
        s.next_due(t0 + S);
        s.next_due(t0 + 2 * S);
        assert_eq!(s.wake_at(), t0 + 3 * S);
        let mut due = std::iter::from_fn(|| s.next_due(t0 + 3 * S)).take(3);
        assert_eq!(due.next(), Some(Task::Liveness));
        assert_eq!(due.next(), Some(Task::End));
        assert_eq!(due.next(), Some(Task::End));
    }

    #[test]
    fn profiles_wait_for_a_dead_target_and_start_at_once_after_its_restart() {
        let t0 = Instant::now();
        let mut s = Schedule::new(t0, 100 * S, 10 * S, true, None);
        drain(&mut s, t0);
        s.round_done();
        s.target_died(Some(t0 + 15 * S));
        // The profile tick at 10 s passes while the target is down.
        assert_eq!(drain(&mut s, t0 + 11 * S), [Task::Liveness]);
        assert_eq!(s.wake_at(), t0 + 12 * S, "no wake-up for profiles");
        assert_eq!(drain(&mut s, t0 + 15 * S), [Task::Liveness, Task::Restart]);
        s.target_started(t0 + 15 * S);
        assert_eq!(drain(&mut s, t0 + 15 * S), [Task::Profile]);
    }

    #[test]
    fn a_sigchld_brings_the_liveness_check_forward() {
        let t0 = Instant::now();
        let mut s = Schedule::new(t0, 100 * S, 100 * S, false, None);
        drain(&mut s, t0);
        let soon = t0 + Duration::from_millis(300);
        assert!(drain(&mut s, soon).is_empty());
        s.check_liveness_now(soon);
        assert_eq!(s.wake_at(), soon);
        assert_eq!(drain(&mut s, soon), [Task::Liveness]);
    }
}
