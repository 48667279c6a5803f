//! Profile rounds, on their own thread: a slow or hanging endpoint must not
//! delay the memory samples, which the main loop keeps taking meanwhile.
//!
//! From a pprof endpoint, a round fetches the heap profile, the goroutine
//! profile, Go's goroutine leak profile where the endpoint serves one, and
//! the Go runtime statistics; from heap dump files
//! ([`super::dumps`]), it takes every new dump, each as a round of its own.
//! Either way it stores the profiles (temporary file, sync, rename) and
//! reports back; the main loop lists them in the index. One round runs at a
//! time.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use leakwatch_profile::symbolize::symbolize_encoded;
use leakwatch_profile::{Limits, Profile};

use super::dumps::{self, Cursor, DumpPattern};
use crate::probe::http::{fetch_profile, FetchError, FetchOptions, PprofEndpoints};
use crate::recording::{store_profile, ProfileEntry, ProfileKind, RuntimeLine, Timestamp};

/// A request for one round.
#[derive(Debug)]
pub struct Job {
    /// The round number, from 1.
    pub seq: u64,
    /// The target's PID, recorded with the runtime statistics.
    pub pid: u32,
    /// While before this instant, "connection refused" is retried: a freshly
    /// spawned service needs a moment before it listens.
    pub retry_refused_until: Option<Instant>,
}

/// What a round produced.
#[derive(Debug)]
pub struct Outcome {
    /// The last round number it used: the job's, or for a dump round that
    /// stored several dumps (each a round of its own, numbered from the
    /// job's on) the last of them.
    pub last_seq: u64,
    /// Profiles stored, to be listed.
    pub stored: Vec<ProfileEntry>,
    /// Fetches that failed: which profile, and why.
    pub failures: Vec<(&'static str, FetchError)>,
    /// Failures of storing a profile (the disk, not the endpoint).
    pub store_errors: Vec<std::io::Error>,
    /// Go runtime statistics, when fetched.
    pub runtime: Option<RuntimeLine>,
    /// Endpoints that turned out not to exist (`goroutine`,
    /// `goroutineleak`, `runtime_stats`), each reported once: which, the URL
    /// and why.
    pub unavailable: Vec<(&'static str, String, String)>,
}

/// The scraping thread's handle.
#[derive(Debug)]
pub struct Scraper {
    jobs: Option<Sender<Job>>,
}

/// Where profiles come from.
#[derive(Debug, Clone)]
pub enum ProfileSource {
    /// A pprof endpoint over HTTP.
    Pprof {
        /// The endpoints.
        endpoints: PprofEndpoints,
        /// Whether heap profiles are fetched with `gc=1`.
        gc: bool,
        /// Fetch bounds.
        fetch: FetchOptions,
    },
    /// Heap dump files an allocator writes.
    Dumps {
        /// Which files.
        pattern: DumpPattern,
        /// Delete each once it is copied into the recording.
        remove: bool,
        /// Largest dump read.
        max_bytes: u64,
        /// Dumps written before this are not the watch's.
        since: SystemTime,
    },
}

/// What the scraper needs to know.
#[derive(Debug, Clone)]
pub struct ScrapeConfig {
    /// Where the profiles come from.
    pub source: ProfileSource,
    /// The recording directory.
    pub dir: PathBuf,
}

/// Most dumps taken in one round: an allocator that dumped a burst is
/// caught up with over a few rounds rather than in one long one.
const MAX_DUMPS_PER_ROUND: usize = 16;

impl Scraper {
    /// Starts the thread; each finished round is passed to `report`.
    pub fn start<F>(config: ScrapeConfig, report: F) -> std::io::Result<Scraper>
    where
        F: Fn(Outcome) -> bool + Send + 'static,
    {
        let (tx, rx) = mpsc::channel::<Job>();
        thread::Builder::new()
            .name("leakwatch-scrape".into())
            .spawn(move || run(config, rx, report))?;
        Ok(Scraper { jobs: Some(tx) })
    }

    /// Asks for a round.
    pub fn request(&self, job: Job) {
        if let Some(tx) = &self.jobs {
            // A send fails only when the thread is gone, which `report`
            // returning false causes at shutdown; nothing to do then.
            let _ = tx.send(job);
        }
    }
}

impl Drop for Scraper {
    fn drop(&mut self) {
        // Closing the channel ends the thread after its current round; it is
        // not joined, so that a hanging fetch cannot delay leakwatch's exit.
        self.jobs.take();
    }
}

fn run<F>(config: ScrapeConfig, jobs: Receiver<Job>, report: F)
where
    F: Fn(Outcome) -> bool,
{
    let mut states = Availability {
        goroutine: Served::Unknown,
        goroutineleak: Served::Unknown,
        runtime: Served::Unknown,
    };
    let mut cursor = match &config.source {
        ProfileSource::Dumps { since, .. } => Cursor::from(*since),
        ProfileSource::Pprof { .. } => Cursor::from(SystemTime::UNIX_EPOCH),
    };
    while let Ok(job) = jobs.recv() {
        let outcome = match &config.source {
            ProfileSource::Pprof {
                endpoints,
                gc,
                fetch,
            } => round(&config.dir, endpoints, *gc, fetch, &job, &mut states),
            ProfileSource::Dumps {
                pattern,
                remove,
                max_bytes,
                ..
            } => dump_round(&config.dir, pattern, *remove, *max_bytes, &job, &mut cursor),
        };
        if !report(outcome) {
            break;
        }
    }
}

/// Whether the endpoint serves a kind of profile. The heap profile is what
/// `--pprof` names, so it is always asked for; the others are optional.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Served {
    /// Not yet known: no response has been seen.
    Unknown,
    /// It does.
    Yes,
    /// It does not (404, or not that kind of profile); stop asking.
    No,
}

/// What the endpoint turned out to serve, for the optional profiles.
#[derive(Debug)]
struct Availability {
    goroutine: Served,
    goroutineleak: Served,
    runtime: Served,
}

impl Availability {
    /// The state of an optional profile kind; the heap has none.
    fn of(&mut self, kind: ProfileKind) -> Option<&mut Served> {
        match kind {
            ProfileKind::Heap => None,
            ProfileKind::Goroutine => Some(&mut self.goroutine),
            ProfileKind::GoroutineLeak => Some(&mut self.goroutineleak),
        }
    }
}

/// Whether a failed first fetch means the page does not exist, rather than a
/// passing fault worth retrying next round.
fn is_absent(state: Served, e: &FetchError) -> bool {
    state == Served::Unknown
        && matches!(
            e,
            FetchError::Status { status: 404, .. }
                | FetchError::NotAProfile { .. }
                | FetchError::Html { .. }
        )
}

impl Outcome {
    fn empty(seq: u64) -> Outcome {
        Outcome {
            last_seq: seq,
            stored: Vec::new(),
            failures: Vec::new(),
            store_errors: Vec::new(),
            runtime: None,
            unavailable: Vec::new(),
        }
    }
}

/// Takes the dumps written since `cursor`, each stored as a heap profile
/// round of its own (numbered from the job's), timed by the file.
fn dump_round(
    dir: &std::path::Path,
    pattern: &DumpPattern,
    remove: bool,
    max_bytes: u64,
    job: &Job,
    cursor: &mut Cursor,
) -> Outcome {
    let mut out = Outcome::empty(job.seq);
    let found = match dumps::new_dumps(pattern, *cursor, SystemTime::now(), MAX_DUMPS_PER_ROUND) {
        Ok(found) => found,
        Err(e) => {
            out.failures.push((
                "heap",
                FetchError::NotAProfile {
                    url: pattern.dir().display().to_string(),
                    detail: format!("cannot list the --dumps directory: {e}"),
                },
            ));
            return out;
        }
    };
    let mut seq = job.seq;
    for dump in found {
        // The cursor moves past a dump even when it cannot be read: a
        // broken file is reported once, not every round.
        *cursor = dump.cursor();
        let name = dump.path.display().to_string();
        let not_a_profile = |detail: String| FetchError::NotAProfile {
            url: name.clone(),
            detail,
        };
        let bytes = match read_bounded(&dump.path, max_bytes) {
            Ok(b) => b,
            Err(detail) => {
                out.failures.push(("heap", not_a_profile(detail)));
                continue;
            }
        };
        // Dumps are text; a gzipped one may expand, but not without bound.
        let limits = Limits {
            max_decompressed: max_bytes.saturating_mul(8),
        };
        let mut profile = match leakwatch_profile::decode(&bytes, &limits) {
            Ok(p) => p,
            Err(e) => {
                out.failures.push(("heap", not_a_profile(e.to_string())));
                continue;
            }
        };
        // Named now, while the binary that ran is at /proc/PID/exe.
        let exe = running_binary(job.pid);
        let bytes = symbolize_encoded(bytes, &mut profile, exe.as_deref()).0;
        match store_profile(dir, ProfileKind::Heap, seq, &bytes) {
            Ok(file) => {
                out.stored.push(ProfileEntry {
                    seq,
                    kind: ProfileKind::Heap,
                    time: Timestamp(dump.modified),
                    file,
                    bytes: bytes.len() as u64,
                    url: name.clone(),
                    totals: totals(&profile),
                });
                out.last_seq = seq;
                seq += 1;
                if remove {
                    if let Err(e) = std::fs::remove_file(&dump.path) {
                        out.failures.push((
                            "heap",
                            not_a_profile(format!(
                                "copied, but cannot remove it (--remove-dumps): {e}"
                            )),
                        ));
                    }
                }
            }
            Err(e) => out.store_errors.push(e),
        }
    }
    out
}

/// The file's bytes, refused past `max` without reading them all.
fn read_bounded(path: &std::path::Path, max: u64) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read it: {e}"))?;
    let mut bytes = Vec::new();
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read it: {e}"))?;
    if bytes.len() as u64 > max {
        return Err(format!(
            "larger than the {} cap (raise it with --max-body)",
            crate::units::format_bytes(max as i64)
        ));
    }
    Ok(bytes)
}

fn round(
    dir: &std::path::Path,
    endpoints: &PprofEndpoints,
    gc: bool,
    fetch: &FetchOptions,
    job: &Job,
    states: &mut Availability,
) -> Outcome {
    let mut out = Outcome::empty(job.seq);
    let heap_url = endpoints.heap_url(gc);
    let mut targets = vec![(ProfileKind::Heap, heap_url)];
    // Go serves the goroutine leak profile only from 1.26 on, built with
    // GOEXPERIMENT=goroutineleakprofile; anything else answers 404 once.
    let optional = [
        (ProfileKind::Goroutine, &endpoints.goroutine),
        (ProfileKind::GoroutineLeak, &endpoints.goroutineleak),
    ];
    for (kind, url) in optional {
        if let Some(url) = url {
            if states.of(kind).is_some_and(|s| *s != Served::No) {
                targets.push((kind, url.clone()));
            }
        }
    }
    for (kind, url) in targets {
        let time = Timestamp::now();
        match fetch_retrying(&url, fetch, job.retry_refused_until) {
            Ok((bytes, mut profile)) => {
                if let Some(state) = states.of(kind) {
                    *state = Served::Yes;
                }
                // Address-only profiles (Rust with jemalloc, C/C++) are named
                // now, while the binary that ran is at /proc/PID/exe.
                let exe = running_binary(job.pid);
                let bytes = symbolize_encoded(bytes, &mut profile, exe.as_deref()).0;
                match store_profile(dir, kind, job.seq, &bytes) {
                    Ok(file) => out.stored.push(ProfileEntry {
                        seq: job.seq,
                        kind,
                        time,
                        file,
                        bytes: bytes.len() as u64,
                        url,
                        totals: totals(&profile),
                    }),
                    Err(e) => out.store_errors.push(e),
                }
            }
            // A service without goroutine profiles (a Rust one, or a Go
            // without the leak profile) answers 404: asking every round
            // would only fill the event log.
            Err(e) if states.of(kind).is_some_and(|s| is_absent(*s, &e)) => {
                if let Some(state) = states.of(kind) {
                    *state = Served::No;
                }
                out.unavailable.push((kind.as_str(), url, e.to_string()));
            }
            Err(e) => out.failures.push((kind.as_str(), e)),
        }
    }

    if states.runtime != Served::No {
        let url = &endpoints.runtime_stats;
        let time = Timestamp::now();
        match fetch_retrying(url, fetch, job.retry_refused_until) {
            Ok((_, profile)) => match profile.memstats {
                Some(m) => {
                    states.runtime = Served::Yes;
                    out.runtime = Some(RuntimeLine {
                        time,
                        seq: job.seq,
                        pid: job.pid,
                        stats: m,
                    });
                }
                None => {
                    states.runtime = Served::No;
                    out.unavailable.push((
                        "runtime_stats",
                        url.clone(),
                        format!(
                            "{url}: the debug=1 heap profile has no `# runtime.MemStats` block (not a Go program?)"
                        ),
                    ));
                }
            },
            Err(e) if is_absent(states.runtime, &e) => {
                states.runtime = Served::No;
                out.unavailable
                    .push(("runtime_stats", url.clone(), e.to_string()));
            }
            Err(e) => out.failures.push(("runtime_stats", e)),
        }
    }
    out
}

fn fetch_retrying(
    url: &str,
    opts: &FetchOptions,
    retry_refused_until: Option<Instant>,
) -> Result<(Vec<u8>, Profile), FetchError> {
    loop {
        match fetch_profile(url, opts) {
            Err(FetchError::ConnectionRefused { .. })
                if retry_refused_until.is_some_and(|t| Instant::now() < t) =>
            {
                thread::sleep(Duration::from_millis(25));
            }
            other => return other,
        }
    }
}

/// Sum of each sample type over all samples.
fn totals(p: &Profile) -> BTreeMap<String, i64> {
    let mut sums = vec![0i64; p.sample_types.len()];
    for s in &p.samples {
        for (sum, v) in sums.iter_mut().zip(&s.values) {
            *sum = sum.saturating_add(*v);
        }
    }
    p.sample_types
        .iter()
        .zip(sums)
        .map(|(t, sum)| (p.str(t.ty).to_owned(), sum))
        .collect()
}

/// The target's binary, while it runs: `/proc/PID/exe`. A remote target
/// (PID 0) has none here; its profile's mappings are named from their own
/// paths, when a file with the same build id is on this machine.
fn running_binary(pid: u32) -> Option<PathBuf> {
    (pid != 0).then(|| PathBuf::from(format!("/proc/{pid}/exe")))
}
