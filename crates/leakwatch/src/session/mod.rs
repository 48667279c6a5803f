//! The watch engine: record a process's memory and profiles over time,
//! through every fault, into a recording directory. `watch`, `check` and
//! `demo` all run it through [`record`].
//!
//! One loop on the calling thread owns the recording ([`journal`]) and
//! takes the samples when the [`schedule`] says so; profile rounds run on a
//! scraping thread ([`scrape`]) and signals arrive from a signal thread,
//! both as messages to the loop. Nothing the loop keeps grows with the
//! watch: samples go straight to disk, and the writer keeps at most
//! `max_profiles` rounds in its thinning list.

pub mod dumps;
mod journal;
pub mod progress;
pub mod remote;
pub mod schedule;
mod scrape;
pub mod target;

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Context;
use signal_hook::consts::{SIGCHLD, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::probe::cgroup::CgroupMounts;
use crate::probe::http::{FetchOptions, PprofEndpoints};
use crate::probe::proc;
use crate::recording::format::{
    self, CgroupMeta, DumpsMeta, PprofMeta, Settings, TargetMeta, FORMAT,
};
use crate::recording::{Meta, RecordingWriter, Timestamp};

use journal::Journal;
use progress::Progress;
use remote::{MemorySource, Remote};
use schedule::{Schedule, Task};
use scrape::{Job, ProfileSource, ScrapeConfig, Scraper};
use target::Target;

/// What to watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetSpec {
    /// A running process, left running at the end.
    Pid(u32),
    /// A command to spawn (program and arguments), stopped at the end.
    Spawn(Vec<String>),
    /// No PID: only the pprof endpoint (and its Prometheus metrics, when
    /// served) are watched, e.g. a service on another host.
    Remote,
}

/// Everything a watch needs to know: what, how often, for how long, where.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The process.
    pub target: TargetSpec,
    /// Its pprof endpoints, if it has any.
    pub pprof: Option<PprofEndpoints>,
    /// Its Prometheus metrics for a remote target (`--metrics`); `None`:
    /// `/metrics` beside the pprof endpoint, if served.
    pub metrics: Option<String>,
    /// Allocator heap dump files read as the heap profiles, instead of an
    /// endpoint.
    pub dumps: Option<DumpsPlan>,
    /// Ask the endpoint for a GC before each heap profile.
    pub gc: bool,
    /// Time between memory samples.
    pub interval: Duration,
    /// Time between profile rounds.
    pub profile_interval: Duration,
    /// Stop after this long; `None`: at a signal or the target's exit.
    pub duration: Option<Duration>,
    /// The recording directory; `None`: a new timestamped one under
    /// `./leakwatch-recordings/`.
    pub out: Option<PathBuf>,
    /// Most profile rounds kept before thinning.
    pub max_profiles: u32,
    /// Largest profile body accepted.
    pub max_body: u64,
    /// Deadline of each profile fetch.
    pub scrape_timeout: Duration,
    /// Restart a spawned command when it dies.
    pub restart: bool,
    /// Time a spawned command gets after SIGTERM before SIGKILL.
    pub stop_grace: Duration,
    /// No progress line.
    pub quiet: bool,
}

/// `--dumps GLOB [--remove-dumps]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DumpsPlan {
    /// The glob as given, for the recording's metadata.
    pub glob: String,
    /// The parsed pattern.
    pub pattern: dumps::DumpPattern,
    /// Delete each dump once it is copied into the recording.
    pub remove: bool,
}

impl Plan {
    /// A watch of `target` with `leakwatch watch`'s defaults: a sample a
    /// minute, a profile round every ten minutes, no profiles until
    /// [`Plan::pprof`] is set, until a signal or the target's exit.
    pub fn new(target: TargetSpec) -> Plan {
        Plan {
            target,
            pprof: None,
            metrics: None,
            dumps: None,
            gc: true,
            interval: Duration::from_secs(60),
            profile_interval: Duration::from_secs(600),
            duration: None,
            out: None,
            max_profiles: 500,
            max_body: 64 << 20,
            scrape_timeout: Duration::from_secs(30),
            restart: false,
            stop_grace: Duration::from_secs(5),
            quiet: false,
        }
    }
}

/// Why a watch ended: the `end` event's `reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// `--duration` ran out.
    Duration,
    /// The target exited and was not to be restarted.
    TargetExit,
    /// SIGINT (Ctrl-C).
    Interrupted,
    /// SIGTERM.
    Terminated,
}

impl EndReason {
    /// The name written in the recording.
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Duration => "duration",
            EndReason::TargetExit => "target_exit",
            EndReason::Interrupted => "interrupted",
            EndReason::Terminated => "terminated",
        }
    }
}

/// What a finished watch produced.
#[derive(Debug, Clone)]
pub struct Summary {
    /// The recording directory.
    pub dir: PathBuf,
    /// Why the watch ended.
    pub reason: EndReason,
    /// Samples written.
    pub samples: u64,
    /// Profiles stored.
    pub profiles_stored: u64,
    /// Profile fetches that failed.
    pub profiles_failed: u64,
}

/// Messages to the main loop.
enum Wake {
    Signal(i32),
    Scraped(Box<scrape::Outcome>),
}

/// Watches the target of `plan` until the watch ends and returns where the
/// recording is. A spawned target never outlives the watch, whatever
/// happens; SIGINT and SIGTERM end it cleanly with the recording complete.
pub fn record(plan: &Plan) -> anyhow::Result<Summary> {
    let (tx, rx) = mpsc::channel::<Wake>();
    // Signals are caught before the child exists, so that a Ctrl-C at any
    // moment ends the watch cleanly instead of killing leakwatch mid-write.
    let mut signals =
        Signals::new([SIGINT, SIGTERM, SIGCHLD]).context("cannot install signal handlers")?;
    let signal_handle = signals.handle();
    {
        let tx = tx.clone();
        thread::Builder::new()
            .name("leakwatch-signals".into())
            .spawn(move || {
                for s in signals.forever() {
                    if tx.send(Wake::Signal(s)).is_err() {
                        break;
                    }
                }
            })
            .context("cannot start the signal thread")?;
    }

    let dir = recording_dir(plan)?;
    let mut remote = None;
    let mut target = match &plan.target {
        TargetSpec::Pid(pid) => Target::attach(*pid)?,
        TargetSpec::Spawn(command) => Target::spawn(command.clone())?,
        TargetSpec::Remote => {
            let endpoints = plan
                .pprof
                .as_ref()
                .context("a watch without a PID needs --pprof URL")?;
            remote = Some(Remote::connect(
                endpoints,
                plan.metrics.as_deref(),
                plan.scrape_timeout,
                plan.max_body,
                // A sample is taken on the watch's own thread: it must not
                // hold up the next one.
                plan.scrape_timeout.min(plan.interval),
                plan.quiet,
            )?);
            Target::Remote
        }
    };

    let result = watch_loop(plan, &dir, &mut target, remote.as_mut(), &tx, &rx);
    // Whatever happened, a spawned child does not outlive the watch.
    target.stop(plan.stop_grace, false);
    signal_handle.close();
    result
}

/// The directory `plan` records into: `--out`, or a new timestamped one
/// under `./leakwatch-recordings/`.
pub fn recording_dir(plan: &Plan) -> anyhow::Result<PathBuf> {
    match &plan.out {
        Some(d) => Ok(d.clone()),
        None => default_dir(&plan.target),
    }
}

fn default_dir(target: &TargetSpec) -> anyhow::Result<PathBuf> {
    let stamp: String = Timestamp::now()
        .to_string()
        .chars()
        .take(19)
        .filter(|c| c.is_ascii_digit() || *c == 'T')
        .collect();
    let what = match target {
        TargetSpec::Pid(pid) => format!("pid{pid}"),
        TargetSpec::Spawn(command) => command
            .first()
            .and_then(|c| Path::new(c).file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "cmd".into()),
        TargetSpec::Remote => "remote".into(),
    };
    let base = PathBuf::from("leakwatch-recordings");
    for n in 1..1000 {
        let name = if n == 1 {
            format!("{stamp}-{what}")
        } else {
            format!("{stamp}-{what}-{n}")
        };
        let candidate = base.join(name);
        if !candidate.exists() {
            return Ok(candidate);
        }
    }
    anyhow::bail!(
        "cannot find a free directory name under {}; pass --out DIR",
        base.display()
    )
}

fn host_name() -> Option<String> {
    let h = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let h = h.trim();
    (!h.is_empty()).then(|| h.to_owned())
}

fn meta(plan: &Plan, target: &Target, remote: Option<&Remote>, cgroup: Option<CgroupMeta>) -> Meta {
    let pid = target.pid();
    Meta {
        format: FORMAT.into(),
        leakwatch_version: env!("CARGO_PKG_VERSION").into(),
        start: Timestamp::now(),
        host: host_name(),
        command_line: std::env::args().collect(),
        target: TargetMeta {
            mode: match plan.target {
                TargetSpec::Pid(_) => "pid",
                TargetSpec::Spawn(_) => "spawn",
                TargetSpec::Remote => "remote",
            }
            .into(),
            pid,
            start_ticks: target.start_ticks(),
            command: match &plan.target {
                TargetSpec::Pid(_) => proc::cmdline(pid),
                TargetSpec::Spawn(command) => Some(command.clone()),
                TargetSpec::Remote => None,
            },
            cgroup,
            memory_source: remote.map(|r| r.source.as_str().to_owned()),
            metrics_url: remote
                .filter(|r| r.source == MemorySource::Metrics)
                .map(|r| r.metrics_url.clone()),
        },
        pprof: plan.pprof.as_ref().map(|e| PprofMeta {
            heap_url: e.heap.clone(),
            goroutine_url: e.goroutine.clone(),
            goroutineleak_url: e.goroutineleak.clone(),
            runtime_stats_url: e.runtime_stats.clone(),
            gc: plan.gc,
        }),
        dumps: plan.dumps.as_ref().map(|d| DumpsMeta {
            pattern: d.glob.clone(),
            remove: d.remove,
        }),
        settings: Settings {
            interval_seconds: format::seconds(plan.interval),
            profile_interval_seconds: format::seconds(plan.profile_interval),
            duration_seconds: plan.duration.map(format::seconds),
            max_profiles: plan.max_profiles,
            max_body_bytes: plan.max_body,
            scrape_timeout_seconds: format::seconds(plan.scrape_timeout),
            restart: plan.restart,
            stop_grace_seconds: format::seconds(plan.stop_grace),
        },
    }
}

fn watch_loop(
    plan: &Plan,
    dir: &Path,
    target: &mut Target,
    mut remote: Option<&mut Remote>,
    tx: &Sender<Wake>,
    rx: &mpsc::Receiver<Wake>,
) -> anyhow::Result<Summary> {
    let cgroups = CgroupMounts::discover();
    let started = Instant::now();
    // A remote target's cgroup is on another host: PID 0 names nothing here.
    let cgroup = match remote {
        Some(_) => None,
        None => cgroups.read_for(target.pid()),
    };
    let cgroup_meta = cgroup.as_ref().map(|c| CgroupMeta {
        version: c.version,
        dir: c.dir.display().to_string(),
        max: c.max,
    });
    let writer = RecordingWriter::create(
        dir,
        &meta(plan, target, remote.as_deref(), cgroup_meta),
        plan.max_profiles as usize,
    )
    .with_context(|| format!("cannot create the recording (--out {})", dir.display()))?;

    let source = match (&plan.pprof, &plan.dumps) {
        (Some(e), _) => Some(ProfileSource::Pprof {
            endpoints: e.clone(),
            gc: plan.gc,
            fetch: FetchOptions::with_deadline(plan.scrape_timeout, plan.max_body),
        }),
        (None, Some(d)) => Some(ProfileSource::Dumps {
            pattern: d.pattern.clone(),
            remove: d.remove,
            max_bytes: plan.max_body,
            // A second of slack for file systems with coarse timestamps.
            since: std::time::SystemTime::now() - Duration::from_secs(1),
        }),
        (None, None) => None,
    };
    let scraper = match source {
        Some(source) => {
            let tx = tx.clone();
            let config = ScrapeConfig {
                source,
                dir: dir.to_owned(),
            };
            Some(
                Scraper::start(config, move |o| tx.send(Wake::Scraped(Box::new(o))).is_ok())
                    .context("cannot start the scraping thread")?,
            )
        }
        None => None,
    };

    let mut journal = Journal::new(
        writer,
        dir,
        Progress::new(plan.quiet, scraper.is_some()),
        cgroup,
    );
    let mut schedule = Schedule::new(
        started,
        plan.interval,
        plan.profile_interval,
        scraper.is_some(),
        plan.duration,
    );
    let mut seq = 0u64;
    let mut restarts = 0u32;
    let mut forwarded = false;
    // After a (re)start the service may not listen yet; its first round
    // retries "connection refused" for a while instead of failing.
    let startup_grace = plan.profile_interval.min(Duration::from_secs(10));

    let reason = 'watch: loop {
        let now = Instant::now();
        while let Some(task) = schedule.next_due(now) {
            match task {
                Task::Liveness => {
                    if let Some(exit) = target.poll_exit() {
                        journal.died(exit)?;
                        if !plan.restart {
                            break 'watch EndReason::TargetExit;
                        }
                        // A command that dies at once is not restarted in a
                        // tight loop: at most once a second.
                        let earliest = target.started().map_or(now, |s| s + Duration::from_secs(1));
                        schedule.target_died(Some(earliest.max(now)));
                    }
                }
                Task::Restart => {
                    let old_pid = target.respawn()?;
                    restarts += 1;
                    journal.restarted(
                        old_pid,
                        target.pid(),
                        target.start_ticks(),
                        restarts,
                        &cgroups,
                    )?;
                    schedule.target_started(now);
                }
                Task::End => break 'watch EndReason::Duration,
                Task::Sample => match remote.as_deref_mut() {
                    Some(r) if r.source == MemorySource::Metrics => journal.remote_sample(r)?,
                    // Runtime statistics arrive with each profile round.
                    Some(_) => {}
                    None if target.is_running() => journal.sample(&cgroups, target.pid())?,
                    None => {}
                },
                Task::Profile => {
                    if let Some(s) = &scraper {
                        seq += 1;
                        s.request(Job {
                            seq,
                            pid: target.pid(),
                            retry_refused_until: target
                                .started()
                                .map(|t| t + startup_grace)
                                .filter(|t| *t > now),
                        });
                    }
                }
            }
        }

        match rx.recv_timeout(schedule.wake_at().saturating_duration_since(Instant::now())) {
            Ok(Wake::Signal(SIGCHLD)) => schedule.check_liveness_now(Instant::now()),
            Ok(Wake::Signal(sig)) => {
                target.forward(sig);
                forwarded = target.is_running();
                journal.signal(sig, forwarded.then(|| target.pid()))?;
                break if sig == SIGINT {
                    EndReason::Interrupted
                } else {
                    EndReason::Terminated
                };
            }
            Ok(Wake::Scraped(outcome)) => {
                schedule.round_done();
                seq = seq.max(outcome.last_seq);
                journal.round(*outcome)?;
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                anyhow::bail!("internal: the event channel closed")
            }
        }
    };

    // A round still running gets a short while to finish, so that a watch
    // ended by --duration keeps the profiles it was fetching.
    if schedule.round_in_flight() {
        let deadline = Instant::now() + Duration::from_secs(2);
        while let Ok(w) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            if let Wake::Scraped(outcome) = w {
                journal.round(*outcome)?;
                break;
            }
        }
    }
    drop(scraper);

    if let Some(exit) = target.stop(plan.stop_grace, forwarded) {
        journal.exit(exit, true)?;
    }
    journal.end(reason, started.elapsed())
}
