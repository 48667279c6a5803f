//! The series a verdict is drawn from, extracted from a recording: RSS and
//! cgroup usage per sample, heap totals and per-site bytes per heap profile,
//! the Go runtime's own accounting per profile round, goroutine counts total
//! and per site, and the process lifetimes that split them into segments.
//!
//! Profiles are decoded in parallel and each is reduced to its per-site
//! totals at once, so memory holds one decoded profile per thread, not one
//! per file.

use std::collections::HashMap;
use std::ops::Range;
use std::path::PathBuf;

use rayon::prelude::*;

use super::sites::{self, Frame, ProfileKind as SiteKind, Reduced};
use crate::recording::{
    window, Event, EventLine, ProfileEntry, ProfileKind, Recording, Timestamp, Window,
};

/// A time series: seconds since the window's start, a value, and the index
/// ranges of its segments (one per process lifetime that has points).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series {
    /// Seconds since the start of the window, increasing.
    pub t: Vec<f64>,
    /// The values.
    pub y: Vec<f64>,
    /// Lifetime index of each point.
    pub lifetime: Vec<usize>,
}

impl Series {
    /// Number of points.
    pub fn len(&self) -> usize {
        self.t.len()
    }

    /// Whether there are no points.
    pub fn is_empty(&self) -> bool {
        self.t.is_empty()
    }

    fn push(&mut self, t: f64, y: f64, lifetime: usize) {
        self.t.push(t);
        self.y.push(y);
        self.lifetime.push(lifetime);
    }

    /// Consecutive runs of points of the same lifetime.
    pub fn segments(&self) -> Vec<Range<usize>> {
        let mut out = Vec::new();
        let mut start = 0;
        for i in 1..=self.lifetime.len() {
            if i == self.lifetime.len() || self.lifetime[i] != self.lifetime[start] {
                out.push(start..i);
                start = i;
            }
        }
        out
    }

    /// The first value, if any.
    pub fn first(&self) -> Option<f64> {
        self.y.first().copied()
    }

    /// The last value, if any.
    pub fn last(&self) -> Option<f64> {
        self.y.last().copied()
    }
}

/// One site's values, aligned with the points of its parent series (0 where
/// the site was absent from a profile).
#[derive(Debug, Clone, PartialEq)]
pub struct SiteSeries {
    /// The site's function.
    pub function: String,
    /// Bytes (heap) or goroutines, one per profile.
    pub values: Vec<f64>,
    /// Objects, one per profile (heap only; zeros otherwise).
    pub objects: Vec<f64>,
    /// The site's heaviest call chain in the last profile (empty when the
    /// site is absent from it).
    pub chain: Vec<Frame>,
}

/// One process lifetime within the window.
#[derive(Debug, Clone, PartialEq)]
pub struct Lifetime {
    /// Its process id.
    pub pid: u32,
    /// Seconds since the window start of its first sample.
    pub start: f64,
    /// Seconds since the window start of its last sample.
    pub end: f64,
    /// Whether it ended inside the window (it died or was restarted), as
    /// opposed to still running or being stopped by the watcher.
    pub died: bool,
    /// Whether the cgroup recorded an OOM kill at its end.
    pub oom_killed: bool,
}

/// Everything a verdict is drawn from.
#[derive(Debug, Clone)]
pub struct Observations {
    /// The span and evidence counts.
    pub window: Window,
    /// Whether the recording is finished (it has its `end` event); a verdict
    /// on an unfinished one is interim.
    pub complete: bool,
    /// `VmRSS`, bytes.
    pub rss: Series,
    /// `RssAnon`, bytes: RSS without the file-backed pages.
    pub rss_anon: Series,
    /// cgroup `memory.current`, bytes.
    pub cgroup: Series,
    /// Heap in use per heap profile, bytes (the profile's `inuse_space`).
    pub heap: Series,
    /// Heap objects in use per heap profile.
    pub heap_objects: Series,
    /// Per-site heap bytes, aligned with `heap_site_points`.
    pub heap_sites: Vec<SiteSeries>,
    /// The heap profiles the sites were read from (at most
    /// [`MAX_DECODED_PROFILES`], spread evenly), with their totals.
    pub heap_site_points: Series,
    /// The memory Go's runtime has mapped and not returned (MemStats `Sys −
    /// HeapReleased`), per profile round, bytes.
    pub go_mapped: Series,
    /// The Go runtime's `HeapAlloc` per profile round, bytes: with `gc=1`
    /// it is read just after a forced collection, so it is the live heap,
    /// counted exactly rather than estimated from sampled allocations.
    pub heap_alloc: Series,
    /// Whether heap profiles were taken after a forced GC (`gc=1`).
    pub gc_forced: bool,
    /// Goroutines per goroutine profile.
    pub goroutines: Series,
    /// Per-site goroutine counts, aligned with `goroutine_site_points`.
    pub goroutine_sites: Vec<SiteSeries>,
    /// The goroutine profiles the sites were read from, with their totals.
    pub goroutine_site_points: Series,
    /// Go's goroutine leak profile, the latest one, when the endpoint
    /// served it.
    pub goroutine_leak: Option<super::leak_proof::LeakProof>,
    /// Process lifetimes, oldest first.
    pub lifetimes: Vec<Lifetime>,
    /// The recording's events, as written.
    pub events: Vec<EventLine>,
    /// cgroup `memory.max` (the last one recorded), bytes.
    pub cgroup_limit: Option<u64>,
    /// The first and last readable heap profiles, for the diff.
    pub first_last_heap: Option<(PathBuf, PathBuf)>,
    /// Profiles that could not be read, with why (file: error).
    pub unreadable: Vec<String>,
}

/// Extracts the observations from `rec`.
pub fn observe(rec: &Recording) -> Observations {
    let window = window(rec);
    let start = window.start;
    let since = |t: Timestamp| t.seconds_since(start);

    let lifetimes = lifetimes(rec, start);
    let starts: Vec<f64> = lifetimes.iter().map(|l| l.start).collect();
    let lifetime_at = |t: f64| starts.partition_point(|&s| s <= t).saturating_sub(1);

    let mut rss = Series::default();
    let mut rss_anon = Series::default();
    let mut cgroup = Series::default();
    let mut cgroup_limit = None;
    let mut pid_lifetime: HashMap<u32, usize> = HashMap::new();
    for (i, l) in lifetimes.iter().enumerate() {
        pid_lifetime.entry(l.pid).or_insert(i);
    }
    for s in &rec.samples {
        let t = since(s.time);
        let lt = lifetime_at(t);
        if let Some(v) = s.vm_rss {
            rss.push(t, v as f64, lt);
        }
        if let Some(v) = s.rss_anon {
            rss_anon.push(t, v as f64, lt);
        }
        if let Some(v) = s.cgroup_current {
            cgroup.push(t, v as f64, lt);
        }
        if s.cgroup_max.is_some() {
            cgroup_limit = s.cgroup_max;
        }
    }
    if cgroup_limit.is_none() {
        cgroup_limit = rec.meta.target.cgroup.as_ref().and_then(|c| c.max);
    }

    let mut go_mapped = Series::default();
    let mut heap_alloc = Series::default();
    for r in &rec.runtime {
        let t = since(r.time);
        heap_alloc.push(t, r.stats.heap_alloc as f64, lifetime_at(t));
        go_mapped.push(
            t,
            r.stats.sys.saturating_sub(r.stats.heap_released) as f64,
            lifetime_at(t),
        );
    }

    let mut unreadable = Vec::new();
    let heap_entries: Vec<&ProfileEntry> = rec.profiles_of(ProfileKind::Heap).collect();
    let heap_side = profile_series(
        rec,
        &heap_entries,
        SiteKind::Heap,
        &mut unreadable,
        &lifetime_at,
    );
    let first_last_heap = match (heap_side.decoded.first(), heap_side.decoded.last()) {
        (Some(a), Some(b)) if heap_side.decoded.len() >= 2 => {
            Some((rec.profile_path(a), rec.profile_path(b)))
        }
        _ => None,
    };
    let gr_entries: Vec<&ProfileEntry> = rec.profiles_of(ProfileKind::Goroutine).collect();
    let gr_side = profile_series(
        rec,
        &gr_entries,
        SiteKind::Goroutine,
        &mut unreadable,
        &lifetime_at,
    );
    let goroutine_leak = super::leak_proof::observe(rec, &mut unreadable);

    Observations {
        window,
        complete: rec.is_complete(),
        rss,
        rss_anon,
        cgroup,
        heap: heap_side.totals,
        heap_objects: heap_side.objects,
        heap_sites: heap_side.sites,
        heap_site_points: heap_side.site_points,
        go_mapped,
        heap_alloc,
        gc_forced: rec.meta.pprof.as_ref().is_some_and(|p| p.gc),
        goroutines: gr_side.totals,
        goroutine_sites: gr_side.sites,
        goroutine_site_points: gr_side.site_points,
        goroutine_leak,
        lifetimes,
        events: rec.events.clone(),
        cgroup_limit,
        first_last_heap,
        unreadable,
    }
}

/// At most this many profiles of a kind are decoded for the per-site
/// series, spread evenly over the window with the first and last always
/// among them. The totals come from every profile (the recording's index
/// carries them), so the trend of the whole uses all the data; a site's
/// trend needs far fewer points, and decoding is what costs: a 1 MB Go
/// heap profile takes about 100 ms of CPU to decode and reduce.
pub const MAX_DECODED_PROFILES: usize = 60;

/// The series drawn from the profiles of one kind.
struct ProfileSide<'a> {
    totals: Series,
    objects: Series,
    sites: Vec<SiteSeries>,
    site_points: Series,
    decoded: Vec<&'a ProfileEntry>,
}

/// Indices `0..n` thinned to at most `k`, evenly, first and last kept.
fn evenly(n: usize, k: usize) -> Vec<usize> {
    if n <= k || k < 2 {
        return (0..n).collect();
    }
    let mut out: Vec<usize> = (0..k)
        .map(|i| ((i as f64) * (n - 1) as f64 / (k - 1) as f64).round() as usize)
        .collect();
    out.dedup();
    out
}

fn profile_series<'a>(
    rec: &Recording,
    entries: &[&'a ProfileEntry],
    kind: SiteKind,
    unreadable: &mut Vec<String>,
    lifetime_at: &dyn Fn(f64) -> usize,
) -> ProfileSide<'a> {
    let start = rec.meta.start;
    let (value_key, objects_key) = match kind {
        SiteKind::Heap => ("inuse_space", Some("inuse_objects")),
        SiteKind::Goroutine => ("goroutine", None),
    };
    // Totals from the index when every entry has them; else every profile
    // must be decoded.
    let indexed = !entries.is_empty() && entries.iter().all(|e| e.totals.contains_key(value_key));
    let picks = if indexed {
        evenly(entries.len(), MAX_DECODED_PROFILES)
    } else {
        (0..entries.len()).collect()
    };
    let chosen: Vec<&'a ProfileEntry> = picks.iter().map(|&i| entries[i]).collect();
    let reduced = reduce_all(rec, &chosen, kind, unreadable);

    let mut side = ProfileSide {
        totals: Series::default(),
        objects: Series::default(),
        sites: site_series(&reduced),
        site_points: Series::default(),
        decoded: reduced.iter().map(|(e, _)| *e).collect(),
    };
    for (entry, r) in &reduced {
        let t = entry.time.seconds_since(start);
        side.site_points.push(t, r.total as f64, lifetime_at(t));
    }
    if indexed {
        for e in entries {
            let t = e.time.seconds_since(start);
            side.totals
                .push(t, e.totals[value_key] as f64, lifetime_at(t));
            if let Some(v) = objects_key.and_then(|k| e.totals.get(k)) {
                side.objects.push(t, *v as f64, lifetime_at(t));
            }
        }
    } else {
        side.totals = side.site_points.clone();
        for (entry, r) in &reduced {
            let t = entry.time.seconds_since(start);
            side.objects.push(t, r.total_objects as f64, lifetime_at(t));
        }
    }
    side
}

impl Observations {
    /// The series that says whether the heap grows: the runtime's exact
    /// `HeapAlloc` when every profile round after a forced GC has it (a Go
    /// heap profile's `inuse_space` is estimated from allocations sampled
    /// every 512 KiB on average, so it moves in noisy steps), else the
    /// profiles' `inuse_space`.
    pub fn heap_signal(&self) -> &Series {
        if self.gc_forced
            && !self.heap.is_empty()
            && self.heap_alloc.len() * 10 >= self.heap.len() * 9
        {
            &self.heap_alloc
        } else {
            &self.heap
        }
    }
}

/// The process lifetimes: a new one starts wherever the sampled pid changes.
fn lifetimes(rec: &Recording, start: Timestamp) -> Vec<Lifetime> {
    let mut out: Vec<Lifetime> = Vec::new();
    for s in &rec.samples {
        let t = s.time.seconds_since(start);
        match out.last_mut() {
            Some(l) if l.pid == s.pid => l.end = t,
            _ => {
                if let Some(prev) = out.last_mut() {
                    prev.died = true;
                }
                out.push(Lifetime {
                    pid: s.pid,
                    start: if out.is_empty() { 0.0 } else { t },
                    end: t,
                    died: false,
                    oom_killed: false,
                });
            }
        }
    }
    if out.is_empty() {
        out.push(Lifetime {
            pid: rec.meta.target.pid,
            start: 0.0,
            end: 0.0,
            died: false,
            oom_killed: false,
        });
    }
    // Exits inside the window that the watcher did not cause mark the
    // lifetime as died even without a successor (a target that crashed at
    // the end); an OOM kill is attributed to the lifetime it falls in.
    for e in &rec.events {
        let t = e.time.seconds_since(start);
        match &e.event {
            // A restarted process lives from its spawn, not from its first
            // memory sample: the profile round taken right at the restart
            // comes before that sample, and counted in the dead process's
            // lifetime its fresh, low heap would read as a drop there and
            // be missing from the new lifetime's rise.
            Event::Restart { new_pid, .. } => {
                let i = out.iter().position(|l| l.pid == *new_pid);
                if let Some(i) = i.filter(|&i| i > 0 && out[i - 1].end <= t && t < out[i].start) {
                    out[i].start = t;
                }
            }
            Event::TargetExit {
                pid,
                stopped_by_watcher: false,
                ..
            } => {
                if let Some(l) = out.iter_mut().find(|l| l.pid == *pid) {
                    l.died = true;
                }
            }
            Event::OomKill { .. } => {
                let i = out.partition_point(|l| l.start <= t).saturating_sub(1);
                // The kill lands between the last sample of the old process
                // and the first of the new one: it belongs to the old one.
                let i = if i > 0 && t <= out[i].start + 1e-9 {
                    i - 1
                } else {
                    i
                };
                if let Some(l) = out.get_mut(i) {
                    l.oom_killed = true;
                    l.died = true;
                }
            }
            _ => {}
        }
    }
    out
}

/// Decodes and reduces `entries` in parallel, keeping the readable ones in
/// order; the last readable one also keeps its call chains.
fn reduce_all<'a>(
    rec: &Recording,
    entries: &[&'a ProfileEntry],
    kind: SiteKind,
    unreadable: &mut Vec<String>,
) -> Vec<(&'a ProfileEntry, Reduced)> {
    let read = |entry: &ProfileEntry, chains: bool| -> Result<Reduced, String> {
        let path = rec.profile_path(entry);
        let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let profile = leakwatch_profile::decode(&bytes, &leakwatch_profile::Limits::default())
            .map_err(|e| format!("{}: {e}", path.display()))?;
        sites::reduce(&profile, kind, chains).map_err(|e| format!("{}: {e}", path.display()))
    };
    let last = entries.len().saturating_sub(1);
    let results: Vec<Result<Reduced, String>> = entries
        .par_iter()
        .enumerate()
        .map(|(i, e)| read(e, i == last))
        .collect();
    let mut out = Vec::with_capacity(entries.len());
    let mut last_ok = false;
    for (i, (entry, r)) in entries.iter().zip(results).enumerate() {
        match r {
            Ok(r) => {
                last_ok = i == last;
                out.push((*entry, r));
            }
            Err(e) => unreadable.push(e),
        }
    }
    // Chains come from the last profile only (keeping every profile's
    // stacks would cost memory for nothing); when it was unreadable, the
    // last readable one is read again for them.
    if !last_ok {
        if let Some((entry, reduced)) = out.last_mut() {
            if let Ok(r) = read(entry, true) {
                reduced.chains = r.chains;
            }
        }
    }
    out
}

/// Turns per-profile site totals into one aligned series per site.
fn site_series(reduced: &[(&ProfileEntry, Reduced)]) -> Vec<SiteSeries> {
    let n = reduced.len();
    let mut by_site: HashMap<&str, SiteSeries> = HashMap::new();
    for (i, (_, r)) in reduced.iter().enumerate() {
        for (name, totals) in &r.sites {
            let s = by_site.entry(name).or_insert_with(|| SiteSeries {
                function: name.clone(),
                values: vec![0.0; n],
                objects: vec![0.0; n],
                chain: Vec::new(),
            });
            s.values[i] = totals.value as f64;
            s.objects[i] = totals.objects as f64;
        }
    }
    if let Some((_, last)) = reduced.last() {
        for (name, chain) in &last.chains {
            if let Some(s) = by_site.get_mut(name.as_str()) {
                s.chain = chain.clone();
            }
        }
    }
    let mut out: Vec<SiteSeries> = by_site.into_values().collect();
    out.sort_by(|a, b| a.function.cmp(&b.function));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evenly_keeps_first_and_last() {
        assert_eq!(evenly(5, 10), vec![0, 1, 2, 3, 4]);
        let picks = evenly(500, 120);
        assert_eq!(picks.len(), 120);
        assert_eq!((picks[0], picks[119]), (0, 499));
        assert!(picks.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn segments_follow_lifetimes() {
        let s = Series {
            t: vec![0.0, 1.0, 2.0, 3.0, 4.0],
            y: vec![1.0; 5],
            lifetime: vec![0, 0, 1, 1, 3],
        };
        assert_eq!(s.segments(), vec![0..2, 2..4, 4..5]);
        assert_eq!(Series::default().segments(), Vec::<Range<usize>>::new());
    }
}
