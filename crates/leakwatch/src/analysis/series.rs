//! The series a verdict is drawn from, extracted from a recording: RSS and
//! cgroup usage per sample, heap totals and per-site bytes per heap profile,
//! the Go runtime's own accounting per profile round, goroutine counts total
//! and per site, and the process lifetimes that split them into segments.
//!
//! Every profile is read, in parallel, through the scan path (its samples
//! are read straight from the protobuf, never built into a model) and
//! reduced to its per-site totals at once: memory holds one profile's bytes
//! per thread, and the per-site series, whose number of sites is bounded
//! (the `site_table` module).

use std::collections::HashMap;
use std::ops::Range;
use std::path::PathBuf;

use rayon::prelude::*;

use super::site_table::SiteTable;
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

    /// Appends a point.
    pub fn push(&mut self, t: f64, y: f64, lifetime: usize) {
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
    /// The heap profiles the sites were read from (every readable one),
    /// with their totals.
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
    let first_last_heap = match heap_side.ends {
        Some((a, b)) if !std::ptr::eq(a, b) => Some((rec.profile_path(a), rec.profile_path(b))),
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

impl Observations {
    /// Observations of a plain memory series, such as one read from
    /// Prometheus: `t` in seconds since `start`, `y` in bytes, split into
    /// `lifetimes` (oldest first, each point in the last one that started
    /// at or before it). The series is taken as RSS, so the verdict is the
    /// one `analyze` gives a recording without profiles; a lifetime marked
    /// `died` feeds the sawtooth detection and the segment-aware trend.
    /// The window is closed: the history is complete up to `end`.
    pub fn from_memory(
        start: Timestamp,
        end: Timestamp,
        t: &[f64],
        y: &[f64],
        lifetimes: Vec<Lifetime>,
    ) -> Observations {
        let starts: Vec<f64> = lifetimes.iter().map(|l| l.start).collect();
        let mut rss = Series::default();
        for (&t, &y) in t.iter().zip(y) {
            rss.push(t, y, starts.partition_point(|&s| s <= t).saturating_sub(1));
        }
        Observations {
            window: Window {
                start,
                end,
                duration_seconds: end.seconds_since(start).max(0.0),
                rss_samples: rss.len(),
                heap_profiles: 0,
                goroutine_profiles: 0,
            },
            complete: true,
            rss,
            rss_anon: Series::default(),
            cgroup: Series::default(),
            heap: Series::default(),
            heap_objects: Series::default(),
            heap_sites: Vec::new(),
            heap_site_points: Series::default(),
            go_mapped: Series::default(),
            heap_alloc: Series::default(),
            gc_forced: false,
            goroutines: Series::default(),
            goroutine_sites: Vec::new(),
            goroutine_site_points: Series::default(),
            goroutine_leak: None,
            lifetimes,
            events: Vec::new(),
            cgroup_limit: None,
            first_last_heap: None,
            unreadable: Vec::new(),
        }
    }
}

/// Profiles read side by side and folded into the site table together:
/// enough to keep both cores busy, few enough that their per-site totals
/// (a few kilobytes each) stay small whatever the recording's length.
const CHUNK: usize = 64;

/// The series drawn from the profiles of one kind.
struct ProfileSide<'a> {
    totals: Series,
    objects: Series,
    sites: Vec<SiteSeries>,
    site_points: Series,
    /// The first and last readable profiles.
    ends: Option<(&'a ProfileEntry, &'a ProfileEntry)>,
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
    let mut side = ProfileSide {
        totals: Series::default(),
        objects: Series::default(),
        sites: Vec::new(),
        site_points: Series::default(),
        ends: None,
    };
    let mut objects = Series::default();
    let mut table = SiteTable::new(entries.len());
    let mut last_chains: Option<(&ProfileEntry, Reduced)> = None;
    let last = entries.len().saturating_sub(1);
    for (c, chunk) in entries.chunks(CHUNK).enumerate() {
        let results: Vec<Result<Reduced, String>> = chunk
            .par_iter()
            .enumerate()
            .map(|(i, e)| read_reduced(rec, e, kind, c * CHUNK + i == last))
            .collect();
        for (entry, r) in chunk.iter().zip(results) {
            match r {
                Ok(mut r) => {
                    let t = entry.time.seconds_since(start);
                    side.site_points.push(t, r.total as f64, lifetime_at(t));
                    objects.push(t, r.total_objects as f64, lifetime_at(t));
                    table.push(&r.sites);
                    side.ends = Some((side.ends.map_or(*entry, |(first, _)| first), *entry));
                    if !r.chains.is_empty() {
                        r.sites = HashMap::new();
                        last_chains = Some((*entry, r));
                    }
                }
                Err(e) => unreadable.push(e),
            }
        }
    }
    // Chains come from the last profile only (keeping every profile's
    // stacks would cost memory for nothing); when it was unreadable, the
    // last readable one is read again for them.
    let chains = match (side.ends, last_chains) {
        (Some((_, end)), Some((e, r))) if std::ptr::eq(end, e) => r.chains,
        (Some((_, end)), _) => read_reduced(rec, end, kind, true)
            .map(|r| r.chains)
            .unwrap_or_default(),
        _ => HashMap::new(),
    };
    side.sites = table.into_series(chains);

    // Totals from the index when every entry has them (the same numbers,
    // and the points of unreadable profiles too).
    let indexed = !entries.is_empty() && entries.iter().all(|e| e.totals.contains_key(value_key));
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
        side.objects = objects;
    }
    side
}

/// Reads one profile through the scan path and reduces it to its sites;
/// `chains`: also its sites' heaviest stacks.
fn read_reduced(
    rec: &Recording,
    entry: &ProfileEntry,
    kind: SiteKind,
    chains: bool,
) -> Result<Reduced, String> {
    let path = rec.profile_path(entry);
    let fail = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let bytes = std::fs::read(&path).map_err(|e| fail(&e))?;
    let profile = leakwatch_profile::scan(bytes, &leakwatch_profile::Limits::default())
        .map_err(|e| fail(&e))?;
    sites::reduce(&profile, kind, chains).map_err(|e| fail(&e))
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

/// The process lifetimes: a new one starts wherever the sampled pid
/// changes, or (a remote target, whose pid is unknown) its process start
/// time.
fn lifetimes(rec: &Recording, start: Timestamp) -> Vec<Lifetime> {
    let mut out: Vec<Lifetime> = Vec::new();
    let mut process_start = None;
    for s in &rec.samples {
        let t = s.time.seconds_since(start);
        let same_start = s.process_start.is_none() || s.process_start == process_start;
        if s.process_start.is_some() {
            process_start = s.process_start;
        }
        match out.last_mut() {
            Some(l) if l.pid == s.pid && same_start => l.end = t,
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

/// Per-profile site totals as one aligned series per site, tracked as
/// `analyze` tracks them; the last profile's chains become the sites'
/// chains.
pub fn site_series(reduced: &[&Reduced]) -> Vec<SiteSeries> {
    let mut table = SiteTable::new(reduced.len());
    for r in reduced {
        table.push(&r.sites);
    }
    table.into_series(reduced.last().map(|r| r.chains.clone()).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn a_new_process_start_time_is_a_new_lifetime_when_the_pid_is_unknown() {
        let start = Timestamp::now();
        use crate::recording::Sample;
        let at = |secs: u64, process_start: f64| Sample {
            time: Timestamp(start.0 + std::time::Duration::from_secs(secs)),
            vm_rss: Some(1),
            process_start: Some(process_start),
            ..Sample::default()
        };
        let rec = Recording {
            dir: std::path::PathBuf::new(),
            meta: crate::recording::reader::tests::meta(),
            samples: vec![at(0, 100.0), at(1, 100.0), at(2, 205.5), at(3, 205.5)],
            events: Vec::new(),
            profiles: Vec::new(),
            runtime: Vec::new(),
        };
        let l = lifetimes(&rec, start);
        assert_eq!(l.len(), 2, "{l:?}");
        assert_eq!((l[0].start, l[0].end, l[0].died), (0.0, 1.0, true));
        assert_eq!((l[1].start, l[1].end, l[1].died), (2.0, 3.0, false));
    }
}
