//! The per-site series of one kind of profile, built profile by profile
//! with a bounded number of sites.
//!
//! Every profile adds a point to every tracked site (0 where the site is
//! absent). A long recording of a program with many sites would hold
//! sites × profiles values, so at most [`max_sites`] sites are tracked: past
//! that, a site is kept when its values have moved more than the least
//! moving tracked site's (the range of its values so far, absences counting
//! as 0: a site must move to grow, and a steady site carries no growth), and
//! the other is dropped. A dropped site is never tracked again, since its
//! series would lack the points it missed; only its name is remembered, so
//! that memory is bounded by the program's distinct sites, not by time.

use std::collections::{HashMap, HashSet};

use super::series::SiteSeries;
use super::sites::{Frame, SiteTotals};

/// Values (two per site and profile) the table aims to hold at most:
/// 32 MiB of `f64`s.
const SITE_POINT_BUDGET: usize = 1 << 21;
/// Sites tracked at most, however short the recording.
pub const MAX_TRACKED_SITES: usize = 1000;
/// Sites tracked at least, however long the recording: the verdict tests
/// the trend of the 50 largest risers.
pub const MIN_TRACKED_SITES: usize = 50;

/// Sites tracked for a recording of `profiles` profiles of a kind: as many
/// as the budget allows, within [`MIN_TRACKED_SITES`] and
/// [`MAX_TRACKED_SITES`].
pub fn max_sites(profiles: usize) -> usize {
    (SITE_POINT_BUDGET / profiles.max(1)).clamp(MIN_TRACKED_SITES, MAX_TRACKED_SITES)
}

/// One tracked site.
#[derive(Debug, Default)]
struct Track {
    values: Vec<f64>,
    objects: Vec<f64>,
    low: f64,
    high: f64,
}

impl Track {
    /// Sets point `i` (the next one), filling the points it missed with 0.
    fn set(&mut self, i: usize, t: SiteTotals) {
        if self.values.len() < i {
            self.low = self.low.min(0.0);
            self.values.resize(i, 0.0);
            self.objects.resize(i, 0.0);
        }
        let v = t.value as f64;
        if self.values.is_empty() {
            (self.low, self.high) = (v, v);
        }
        self.low = self.low.min(v);
        self.high = self.high.max(v);
        self.values.push(v);
        self.objects.push(t.objects as f64);
    }

    /// What ranks sites when some must be dropped: how far the values
    /// moved, then how high they went.
    fn rank(&self) -> (f64, f64) {
        (self.high - self.low, self.high)
    }
}

/// The per-site series being built (see the module docs).
#[derive(Debug)]
pub struct SiteTable {
    max: usize,
    points: usize,
    tracked: HashMap<String, Track>,
    dropped: HashSet<String>,
}

impl SiteTable {
    /// A table for a recording of `profiles` profiles of a kind.
    pub fn new(profiles: usize) -> Self {
        Self::with_max(max_sites(profiles))
    }

    fn with_max(max: usize) -> Self {
        SiteTable {
            max,
            points: 0,
            tracked: HashMap::new(),
            dropped: HashSet::new(),
        }
    }

    /// Adds the next profile's per-site totals.
    pub fn push(&mut self, sites: &HashMap<String, SiteTotals>) {
        let i = self.points;
        let mut newcomers: Vec<(&String, Track)> = Vec::new();
        for (name, totals) in sites {
            if let Some(track) = self.tracked.get_mut(name) {
                track.set(i, *totals);
            } else if !self.dropped.contains(name) {
                let mut track = Track::default();
                track.set(i, *totals);
                newcomers.push((name, track));
            }
        }
        // Strongest first, and by name, so that which sites are kept does
        // not depend on hash order.
        newcomers.sort_by(|a, b| {
            let (ra, rb) = (a.1.rank(), b.1.rank());
            rb.0.total_cmp(&ra.0)
                .then(rb.1.total_cmp(&ra.1))
                .then_with(|| a.0.cmp(b.0))
        });
        for (name, track) in newcomers {
            self.admit(name, track);
        }
        self.points += 1;
    }

    /// Tracks a new site, dropping it or the weakest tracked site when the
    /// table is full.
    fn admit(&mut self, name: &str, track: Track) {
        if self.tracked.len() < self.max {
            self.tracked.insert(name.to_owned(), track);
            return;
        }
        let weakest = self
            .tracked
            .iter()
            .min_by(|a, b| {
                let (ra, rb) = (a.1.rank(), b.1.rank());
                ra.0.total_cmp(&rb.0)
                    .then(ra.1.total_cmp(&rb.1))
                    .then_with(|| b.0.cmp(a.0))
            })
            .map(|(n, t)| (n.clone(), t.rank()));
        match weakest {
            Some((weak, rank)) if track.rank() > rank => {
                self.tracked.remove(&weak);
                self.dropped.insert(weak);
                self.tracked.insert(name.to_owned(), track);
            }
            _ => {
                self.dropped.insert(name.to_owned());
            }
        }
    }

    /// The series, one per tracked site, sorted by function, each with a
    /// point per profile pushed; `chains` gives their call chains.
    pub fn into_series(self, mut chains: HashMap<String, Vec<Frame>>) -> Vec<SiteSeries> {
        let n = self.points;
        let mut out: Vec<SiteSeries> = self
            .tracked
            .into_iter()
            .map(|(function, mut t)| {
                t.values.resize(n, 0.0);
                t.objects.resize(n, 0.0);
                SiteSeries {
                    chain: chains.remove(&function).unwrap_or_default(),
                    function,
                    values: t.values,
                    objects: t.objects,
                }
            })
            .collect();
        out.sort_by(|a, b| a.function.cmp(&b.function));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(sites: &[(&str, i64)]) -> HashMap<String, SiteTotals> {
        sites
            .iter()
            .map(|(n, v)| {
                let t = SiteTotals {
                    value: *v,
                    objects: v / 8,
                };
                ((*n).to_owned(), t)
            })
            .collect()
    }

    fn values(series: &[SiteSeries], name: &str) -> Option<Vec<f64>> {
        series
            .iter()
            .find(|s| s.function == name)
            .map(|s| s.values.clone())
    }

    #[test]
    fn every_profile_is_a_point_and_absence_is_zero() {
        let mut t = SiteTable::new(3);
        t.push(&profile(&[("a", 10), ("b", 5)]));
        t.push(&profile(&[("a", 20)]));
        t.push(&profile(&[("a", 30), ("c", 7)]));
        let s = t.into_series(HashMap::new());
        assert_eq!(values(&s, "a").unwrap(), [10.0, 20.0, 30.0]);
        assert_eq!(values(&s, "b").unwrap(), [5.0, 0.0, 0.0]);
        assert_eq!(values(&s, "c").unwrap(), [0.0, 0.0, 7.0]);
        assert_eq!(s[0].objects, [1.0, 2.0, 3.0]);
    }

    #[test]
    fn a_full_table_keeps_the_sites_that_move() {
        let mut t = SiteTable::with_max(2);
        // Two steady sites fill the table.
        t.push(&profile(&[("big", 1000), ("small", 100)]));
        t.push(&profile(&[("big", 1000), ("small", 101)]));
        // A newcomer that grows replaces the least moving one...
        t.push(&profile(&[("big", 1000), ("small", 100), ("leak", 50)]));
        t.push(&profile(&[("big", 1000), ("small", 100), ("leak", 90)]));
        // ...and a dropped site is not tracked again.
        t.push(&profile(&[("big", 5000), ("leak", 130)]));
        let s = t.into_series(HashMap::new());
        let names: Vec<&str> = s.iter().map(|s| s.function.as_str()).collect();
        assert_eq!(names, ["leak", "small"]);
        assert_eq!(values(&s, "leak").unwrap(), [0.0, 0.0, 50.0, 90.0, 130.0]);
        assert_eq!(
            values(&s, "small").unwrap(),
            [100.0, 101.0, 100.0, 100.0, 0.0]
        );
    }

    #[test]
    fn the_bound_follows_the_budget() {
        assert_eq!(max_sites(10), MAX_TRACKED_SITES);
        assert_eq!(max_sites(10_000), SITE_POINT_BUDGET / 10_000);
        assert_eq!(max_sites(10_000_000), MIN_TRACKED_SITES);
    }
}
