//! The records of a recording, exactly as they appear on disk (one JSON
//! object per line). `docs/recording.md` is the prose form of this file;
//! change both together.
//!
//! Optional figures are omitted from a line when they could not be read:
//! absent means "unknown", never 0.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The value of `meta.json` `format` this code writes. Readers accept any
/// `leakwatch.recording/1` file and ignore fields they do not know.
pub const FORMAT: &str = "leakwatch.recording/1";
/// The format family; the number after the slash is the major version.
pub const FORMAT_PREFIX: &str = "leakwatch.recording/";
/// The major version this code reads and writes.
pub const FORMAT_MAJOR: u32 = 1;

/// Written once, at the start.
pub const META_FILE: &str = "meta.json";
/// One [`Sample`] per line.
pub const SAMPLES_FILE: &str = "samples.jsonl";
/// One [`EventLine`] per line; the last one of a finished watch is `end`.
pub const EVENTS_FILE: &str = "events.jsonl";
/// One [`IndexLine`] per line: profiles added and removed.
pub const PROFILES_INDEX_FILE: &str = "profiles.jsonl";
/// One [`RuntimeLine`] per line: Go runtime statistics per profile round.
pub const RUNTIME_FILE: &str = "runtime.jsonl";
/// The directory holding the profile files.
pub const PROFILES_DIR: &str = "profiles";
/// Prefix of files being written; readers ignore them.
pub const TEMP_PREFIX: &str = ".tmp-";

/// A wall-clock instant, written as RFC 3339 in UTC with microseconds
/// (`2026-11-26T14:00:00.123456Z`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub SystemTime);

impl Timestamp {
    /// The current time.
    pub fn now() -> Self {
        Timestamp(SystemTime::now())
    }

    /// Seconds since the Unix epoch.
    pub fn unix_seconds(&self) -> f64 {
        match self.0.duration_since(UNIX_EPOCH) {
            Ok(d) => d.as_secs_f64(),
            Err(e) => -e.duration().as_secs_f64(),
        }
    }

    /// Seconds from `earlier` to `self` (negative when `self` is earlier).
    pub fn seconds_since(&self, earlier: Timestamp) -> f64 {
        match self.0.duration_since(earlier.0) {
            Ok(d) => d.as_secs_f64(),
            Err(e) => -e.duration().as_secs_f64(),
        }
    }

    /// Parses the RFC 3339 form this module writes (`Z` offset, any number
    /// of fractional digits up to nanoseconds).
    pub fn parse(s: &str) -> Result<Self, String> {
        humantime::parse_rfc3339(s)
            .map(Timestamp)
            .map_err(|e| format!("`{s}` is not an RFC 3339 UTC time: {e}"))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_rfc3339_micros(self.0))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Timestamp::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// `meta.json`: what was watched, how, by whom.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Meta {
    /// [`FORMAT`].
    pub format: String,
    /// The version of leakwatch that wrote the recording.
    pub leakwatch_version: String,
    /// When the watch started.
    pub start: Timestamp,
    /// The host name, when readable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// leakwatch's own command line.
    pub command_line: Vec<String>,
    /// The watched process at the start.
    pub target: TargetMeta,
    /// The pprof endpoint; `null` when none was given.
    pub pprof: Option<PprofMeta>,
    /// The heap dump files taken as profiles (`--dumps`); absent when none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dumps: Option<DumpsMeta>,
    /// The watch's settings.
    pub settings: Settings,
}

/// `--dumps GLOB`: allocator heap dumps read as the heap profiles.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DumpsMeta {
    /// The glob, as given.
    pub pattern: String,
    /// Whether each dump is deleted once copied (`--remove-dumps`).
    pub remove: bool,
}

/// How the target was chosen and what it was at the start.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TargetMeta {
    /// `pid` (an existing process), `spawn` (started by leakwatch) or
    /// `remote` (known only by what its endpoints serve).
    pub mode: String,
    /// The process id at the start; 0 when `remote`.
    pub pid: u32,
    /// Its start time in clock ticks since boot (`/proc/PID/stat` field 22).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_ticks: Option<u64>,
    /// Its command line (the spawned command, or `/proc/PID/cmdline`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// Its memory cgroup at the start; `null` when none is readable.
    pub cgroup: Option<CgroupMeta>,
    /// Where a `remote` target's memory samples come from: `metrics`
    /// (`process_resident_memory_bytes` of its Prometheus metrics, each
    /// sample) or `runtime_stats` (Go's `Sys − HeapReleased` from the
    /// `debug=1` heap profile, each profile round). Absent for a local
    /// target, whose memory is read from `/proc`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_source: Option<String>,
    /// The Prometheus metrics URL a `remote` target's samples are read
    /// from, when `memory_source` is `metrics`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_url: Option<String>,
}

/// The target's memory cgroup.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CgroupMeta {
    /// 2 (unified) or 1 (v1 memory controller).
    pub version: u8,
    /// The cgroup directory.
    pub dir: String,
    /// Its memory limit in bytes at the start; `null` when unlimited.
    pub max: Option<u64>,
}

/// The endpoints scraped.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PprofMeta {
    /// The heap profile URL (without `gc=1`).
    pub heap_url: String,
    /// The goroutine profile URL; `null` when it could not be derived.
    pub goroutine_url: Option<String>,
    /// Go's goroutine leak profile URL, asked for where the endpoint serves
    /// it; `null` when it could not be derived. (Absent from recordings of
    /// older leakwatch versions.)
    #[serde(default)]
    pub goroutineleak_url: Option<String>,
    /// The `debug=1` heap URL whose trailer gives Go runtime statistics.
    pub runtime_stats_url: String,
    /// Whether heap profiles were fetched with `gc=1` (a forced GC first).
    pub gc: bool,
}

/// The watch's settings, durations in seconds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Settings {
    /// Time between samples.
    pub interval_seconds: f64,
    /// Time between profile rounds.
    pub profile_interval_seconds: f64,
    /// How long the watch was asked to run; `null` for "until stopped".
    pub duration_seconds: Option<f64>,
    /// Most profile rounds kept before thinning.
    pub max_profiles: u32,
    /// Largest profile body accepted.
    pub max_body_bytes: u64,
    /// Deadline of each fetch.
    pub scrape_timeout_seconds: f64,
    /// Whether a spawned target is restarted when it dies.
    pub restart: bool,
    /// Time between SIGTERM and SIGKILL when stopping a spawned target.
    pub stop_grace_seconds: f64,
}

/// One line of `samples.jsonl`: the target's memory at one moment, bytes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// When it was read.
    pub time: Timestamp,
    /// The process read.
    pub pid: u32,
    /// `VmRSS` of `/proc/PID/status`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vm_rss: Option<u64>,
    /// `RssAnon`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rss_anon: Option<u64>,
    /// `RssFile`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rss_file: Option<u64>,
    /// `RssShmem`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rss_shmem: Option<u64>,
    /// `VmSwap`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vm_swap: Option<u64>,
    /// `Pss` of `/proc/PID/smaps_rollup`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pss: Option<u64>,
    /// cgroup `memory.current` (v1: `memory.usage_in_bytes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup_current: Option<u64>,
    /// cgroup `memory.max`; absent when unlimited or unreadable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup_max: Option<u64>,
    /// cgroup `memory.stat` `anon`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup_anon: Option<u64>,
    /// cgroup `memory.stat` `file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup_file: Option<u64>,
    /// cgroup `memory.events` `oom` (a count).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup_oom: Option<u64>,
    /// cgroup `memory.events` `oom_kill` (a count).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup_oom_kill: Option<u64>,
    /// The target's `process_start_time_seconds` (seconds since the Unix
    /// epoch), in a remote watch's samples: a new value is a new process,
    /// as a new `pid` is for a local one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process_start: Option<f64>,
}

impl Default for Timestamp {
    fn default() -> Self {
        Timestamp(UNIX_EPOCH)
    }
}

/// One line of `events.jsonl`: something happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventLine {
    /// When.
    pub time: Timestamp,
    /// What, with the kind-specific fields.
    #[serde(flatten)]
    pub event: Event,
    /// One human-readable sentence.
    pub detail: String,
}

/// The kinds of event, tagged by `kind`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// The target exited or disappeared.
    TargetExit {
        /// Its process id.
        pid: u32,
        /// Its exit code, when it exited normally and was our child.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<i32>,
        /// The signal that killed it, when it was our child.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signal: Option<i32>,
        /// True when leakwatch stopped it at the end of the watch.
        #[serde(default)]
        stopped_by_watcher: bool,
    },
    /// A spawned target was started again after it died.
    Restart {
        /// The previous process id.
        old_pid: u32,
        /// The new process id.
        new_pid: u32,
        /// The new process's start time in clock ticks since boot.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        start_ticks: Option<u64>,
        /// Restarts so far in this watch, this one included.
        restarts: u32,
    },
    /// The cgroup's `oom_kill` counter went up.
    OomKill {
        /// The counter now.
        count: u64,
        /// By how much it rose since the previous sample.
        increase: u64,
    },
    /// A profile could not be fetched or was not a profile.
    ScrapeError {
        /// `heap`, `goroutine` or `runtime_stats`.
        profile: String,
        /// The URL fetched.
        url: String,
        /// The failure: `status`, `timeout`, `oversize`, `truncated`,
        /// `html`, `not_a_profile`, `connection_refused`, `connect`,
        /// `invalid_url` or `other`.
        error: String,
        /// The HTTP status, for `status`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        status: Option<u16>,
    },
    /// The endpoint does not serve one kind of profile (goroutine profiles
    /// from a Rust service, Go runtime statistics from a non-Go one); it is
    /// not fetched again in this watch.
    EndpointUnavailable {
        /// `goroutine` or `runtime_stats`.
        profile: String,
        /// The URL tried.
        url: String,
    },
    /// leakwatch received a signal and forwarded it to a spawned target.
    Signal {
        /// The signal number.
        signal: i32,
        /// Its name, e.g. `SIGINT`.
        name: String,
    },
    /// The watch ended; the recording is complete.
    End {
        /// `duration`, `interrupted` (SIGINT), `terminated` (SIGTERM),
        /// `target_exit` or `error`.
        reason: String,
        /// Samples written.
        samples: u64,
        /// Profiles stored.
        profiles_stored: u64,
        /// Profile fetches that failed.
        profiles_failed: u64,
        /// Profiles removed by thinning.
        profiles_thinned: u64,
        /// leakwatch's own RSS at the end, bytes.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        watcher_rss: Option<u64>,
        /// leakwatch's own peak RSS (`VmHWM`), bytes.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        watcher_hwm: Option<u64>,
    },
    /// A kind written by a newer leakwatch; its fields are ignored.
    #[serde(other)]
    Unknown,
}

/// Which profile a file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProfileKind {
    /// `/debug/pprof/heap`.
    Heap,
    /// `/debug/pprof/goroutine`.
    Goroutine,
    /// `/debug/pprof/goroutineleak` (Go 1.26+ built with
    /// `GOEXPERIMENT=goroutineleakprofile`): the goroutines the garbage
    /// collector proved can never run again.
    #[serde(rename = "goroutineleak")]
    GoroutineLeak,
}

impl ProfileKind {
    /// The name used in file names and events.
    pub fn as_str(&self) -> &'static str {
        match self {
            ProfileKind::Heap => "heap",
            ProfileKind::Goroutine => "goroutine",
            ProfileKind::GoroutineLeak => "goroutineleak",
        }
    }
}

/// One line of `profiles.jsonl`, tagged by `op`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum IndexLine {
    /// A profile file is complete and may be read.
    Add(ProfileEntry),
    /// A profile file was removed by thinning (or is about to be: the line
    /// is written before the file is deleted).
    Remove {
        /// The round it belonged to.
        seq: u64,
        /// Which profile.
        kind: ProfileKind,
        /// Its path relative to the recording.
        file: String,
        /// When it was removed.
        time: Timestamp,
        /// Why: `thinned`.
        reason: String,
    },
}

/// A stored profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfileEntry {
    /// The profile round, from 1; a heap and a goroutine profile of the same
    /// round share it.
    pub seq: u64,
    /// Which profile.
    pub kind: ProfileKind,
    /// When the request was sent.
    pub time: Timestamp,
    /// Path relative to the recording, e.g. `profiles/heap-000001.pb.gz`.
    pub file: String,
    /// Size of the file, bytes.
    pub bytes: u64,
    /// The URL it was fetched from.
    pub url: String,
    /// Sum of each sample type's values over all samples, e.g.
    /// `{"inuse_space": 12345, ...}`: cheap totals without decoding.
    #[serde(default)]
    pub totals: BTreeMap<String, i64>,
}

/// One line of `runtime.jsonl`: the Go runtime's `runtime.MemStats` from the
/// `debug=1` heap profile fetched in a profile round, its fields flattened
/// into the line.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeLine {
    /// When the request was sent.
    pub time: Timestamp,
    /// The profile round.
    pub seq: u64,
    /// The target's process id.
    pub pid: u32,
    /// The statistics, as the profile library parsed them (fields in
    /// docs/recording.md).
    #[serde(flatten)]
    pub stats: leakwatch_profile::MemStats,
}

/// Seconds as written in [`Settings`].
pub fn seconds(d: Duration) -> f64 {
    d.as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_with_microseconds() {
        let t = Timestamp(UNIX_EPOCH + Duration::from_micros(1_764_165_600_123_456));
        let s = t.to_string();
        assert_eq!(s, "2025-11-26T14:00:00.123456Z");
        assert_eq!(Timestamp::parse(&s).unwrap(), t);
        assert!(Timestamp::parse("2025-11-26 14:00").is_err());
    }

    #[test]
    fn absent_figures_are_omitted_not_zero() {
        let s = Sample {
            pid: 7,
            vm_rss: Some(0),
            ..Sample::default()
        };
        let line = serde_json::to_string(&s).unwrap();
        assert!(line.contains("\"vm_rss\":0"), "{line}");
        assert!(!line.contains("pss"), "{line}");
        let back: Sample = serde_json::from_str(&line).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn events_are_flat_objects_and_unknown_kinds_read() {
        let e = EventLine {
            time: Timestamp::default(),
            event: Event::Restart {
                old_pid: 311,
                new_pid: 342,
                start_ticks: None,
                restarts: 1,
            },
            detail: "pid 311 → 342".into(),
        };
        let line = serde_json::to_string(&e).unwrap();
        assert!(line.contains("\"kind\":\"restart\""), "{line}");
        assert_eq!(serde_json::from_str::<EventLine>(&line).unwrap(), e);
        let future = r#"{"time":"2026-01-01T00:00:00Z","kind":"solar_flare","x":1,"detail":"?"}"#;
        let read: EventLine = serde_json::from_str(future).unwrap();
        assert_eq!(read.event, Event::Unknown);
    }
}
