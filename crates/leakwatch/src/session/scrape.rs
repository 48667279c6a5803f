//! Profile rounds, on their own thread: a slow or hanging endpoint must not
//! delay the memory samples, which the main loop keeps taking meanwhile.
//!
//! A round fetches the heap profile, the goroutine profile and the Go
//! runtime statistics, stores the profiles (temporary file, sync, rename)
//! and reports back; the main loop lists them in the index. One round runs
//! at a time.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread;
use std::time::{Duration, Instant};

use leakwatch_profile::symbolize::symbolize_encoded;
use leakwatch_profile::Profile;

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
    /// The round number.
    pub seq: u64,
    /// Profiles stored, to be listed.
    pub stored: Vec<ProfileEntry>,
    /// Fetches that failed: which profile, and why.
    pub failures: Vec<(&'static str, FetchError)>,
    /// Failures of storing a profile (the disk, not the endpoint).
    pub store_errors: Vec<std::io::Error>,
    /// Go runtime statistics, when fetched.
    pub runtime: Option<RuntimeLine>,
    /// Endpoints that turned out not to exist (`goroutine`,
    /// `runtime_stats`), each reported once: which, the URL and why.
    pub unavailable: Vec<(&'static str, String, String)>,
}

/// The scraping thread's handle.
#[derive(Debug)]
pub struct Scraper {
    jobs: Option<Sender<Job>>,
}

/// What the scraper needs to know.
#[derive(Debug, Clone)]
pub struct ScrapeConfig {
    /// The endpoints.
    pub endpoints: PprofEndpoints,
    /// Whether heap profiles are fetched with `gc=1`.
    pub gc: bool,
    /// Fetch bounds.
    pub fetch: FetchOptions,
    /// The recording directory.
    pub dir: PathBuf,
}

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
        runtime: Served::Unknown,
    };
    while let Ok(job) = jobs.recv() {
        let outcome = round(&config, &job, &mut states);
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
    runtime: Served,
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

fn round(config: &ScrapeConfig, job: &Job, states: &mut Availability) -> Outcome {
    let mut out = Outcome {
        seq: job.seq,
        stored: Vec::new(),
        failures: Vec::new(),
        store_errors: Vec::new(),
        runtime: None,
        unavailable: Vec::new(),
    };
    let heap_url = config.endpoints.heap_url(config.gc);
    let mut targets = vec![(ProfileKind::Heap, heap_url)];
    if let Some(g) = &config.endpoints.goroutine {
        if states.goroutine != Served::No {
            targets.push((ProfileKind::Goroutine, g.clone()));
        }
    }
    for (kind, url) in targets {
        let time = Timestamp::now();
        match fetch_retrying(&url, &config.fetch, job.retry_refused_until) {
            Ok((bytes, mut profile)) => {
                if kind == ProfileKind::Goroutine {
                    states.goroutine = Served::Yes;
                }
                // Address-only profiles (Rust with jemalloc, C/C++) are named
                // now, while the binary that ran is at /proc/PID/exe.
                let exe = PathBuf::from(format!("/proc/{}/exe", job.pid));
                let bytes = symbolize_encoded(bytes, &mut profile, Some(&exe)).0;
                match store_profile(&config.dir, kind, job.seq, &bytes) {
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
            // A service without goroutine profiles (a Rust one) answers
            // 404: asking every round would only fill the event log.
            Err(e) if kind == ProfileKind::Goroutine && is_absent(states.goroutine, &e) => {
                states.goroutine = Served::No;
                out.unavailable.push(("goroutine", url, e.to_string()));
            }
            Err(e) => out.failures.push((kind.as_str(), e)),
        }
    }

    if states.runtime != Served::No {
        let url = &config.endpoints.runtime_stats;
        let time = Timestamp::now();
        match fetch_retrying(url, &config.fetch, job.retry_refused_until) {
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
