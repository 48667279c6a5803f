//! `leakwatch watch`: record a process's memory and profiles over time,
//! through every fault, into a recording directory.
//!
//! One loop on the main thread owns the recording and takes the samples;
//! profile rounds run on a scraping thread ([`scrape`]) and signals arrive
//! from a signal thread, both as messages to the loop. Nothing the loop keeps
//! grows with the watch: samples go straight to disk, and the writer keeps at
//! most `--max-profiles` rounds in its thinning list.

mod progress;
mod scrape;
mod target;

use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Context;
use signal_hook::consts::{SIGCHLD, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::cli::Outcome;
use crate::probe::cgroup::{self, CgroupMounts};
use crate::probe::http::{FetchOptions, PprofEndpoints};
use crate::probe::proc;
use crate::recording::format::{self, CgroupMeta, PprofMeta, Settings, TargetMeta, FORMAT};
use crate::recording::{Event, EventLine, Meta, RecordingWriter, Sample, Timestamp};
use crate::units;

use progress::Progress;
use scrape::{Job, ScrapeConfig, Scraper};
use target::{signal_name, Exit, Target};

/// Record a process's memory (RSS, PSS, cgroup) and its heap and goroutine
/// profiles over time into a recording directory, for `leakwatch analyze`.
#[derive(Debug, Clone, clap::Args)]
pub struct WatchArgs {
    /// Watch this running process.
    #[arg(
        long,
        value_name = "PID",
        conflicts_with = "command",
        required_unless_present = "command"
    )]
    pub pid: Option<u32>,

    /// Its pprof endpoint: a base such as http://127.0.0.1:6060 (the
    /// standard /debug/pprof/heap and /debug/pprof/goroutine are used) or
    /// the full URL of a heap profile.
    #[arg(long, value_name = "URL")]
    pub pprof: Option<String>,

    /// Time between memory samples.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_positive_duration)]
    pub interval: Duration,

    /// Time between profile rounds (heap, goroutine, runtime statistics);
    /// the first is taken at the start.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_positive_duration)]
    pub profile_interval: Duration,

    /// Stop after this long (default: until Ctrl-C, SIGTERM or the target's
    /// exit).
    #[arg(long, value_name = "DURATION", value_parser = parse_positive_duration)]
    pub duration: Option<Duration>,

    /// Fetch heap profiles without forcing a GC first (`gc=1` is the
    /// default, so each profile shows the live heap at that moment).
    #[arg(long)]
    pub no_gc: bool,

    /// The recording directory (new or empty) [default: a new timestamped
    /// directory under ./leakwatch-recordings/].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// Most profile rounds kept; past it older rounds are thinned (the first
    /// and last stay, the rest spread evenly over time).
    #[arg(long, value_name = "N", default_value_t = 500, value_parser = clap::value_parser!(u32).range(2..))]
    pub max_profiles: u32,

    /// Largest profile body accepted from the endpoint.
    #[arg(long, value_name = "SIZE", default_value = "64MiB", value_parser = units::parse_bytes)]
    pub max_body: u64,

    /// Deadline of each profile fetch (connection, response and body).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_positive_duration)]
    pub scrape_timeout: Duration,

    /// Restart a spawned command when it dies (recorded as an event).
    #[arg(long, requires = "command")]
    pub restart: bool,

    /// Time a spawned command gets to exit after SIGTERM at the end of the
    /// watch, before SIGKILL.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = units::parse_duration)]
    pub stop_grace: Duration,

    /// No progress line.
    #[arg(long, short)]
    pub quiet: bool,

    /// The command to spawn and watch, after `--`.
    #[arg(last = true, value_name = "CMD")]
    pub command: Vec<String>,
}

fn parse_positive_duration(s: &str) -> Result<Duration, String> {
    let d = units::parse_duration(s)?;
    if d.is_zero() {
        return Err(format!("`{s}`: must be longer than zero"));
    }
    Ok(d)
}

/// Runs `watch`.
pub fn run(args: WatchArgs) -> anyhow::Result<Outcome> {
    let summary = record(&args)?;
    if !args.quiet {
        eprintln!(
            "leakwatch: watch ended ({}): {} samples, {} profiles ({} failed) in {}",
            summary.reason,
            summary.samples,
            summary.profiles_stored,
            summary.profiles_failed,
            summary.dir.display()
        );
    }
    Ok(Outcome::Ok)
}

/// What a finished watch produced.
#[derive(Debug, Clone)]
pub struct WatchSummary {
    /// The recording directory.
    pub dir: PathBuf,
    /// Why the watch ended (the `end` event's `reason`).
    pub reason: &'static str,
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

/// Watches the target described by `args` until the watch ends and returns
/// where the recording is. `check` calls this before analysing.
pub fn record(args: &WatchArgs) -> anyhow::Result<WatchSummary> {
    let endpoints = args
        .pprof
        .as_deref()
        .map(PprofEndpoints::from_arg)
        .transpose()
        .map_err(anyhow::Error::msg)?;
    if args.pid.is_none() && args.command.is_empty() {
        anyhow::bail!("nothing to watch: give --pid PID or a command after `--`");
    }

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

    let dir = match &args.out {
        Some(d) => d.clone(),
        None => default_dir(args)?,
    };
    let mut target = if let Some(pid) = args.pid {
        Target::attach(pid)?
    } else {
        Target::spawn(args.command.clone())?
    };

    let result = watch_loop(args, endpoints, &dir, &mut target, &tx, &rx);
    // Whatever happened, a spawned child does not outlive the watch.
    target.stop(args.stop_grace, false);
    signal_handle.close();
    result
}

fn default_dir(args: &WatchArgs) -> anyhow::Result<PathBuf> {
    let stamp: String = Timestamp::now()
        .to_string()
        .chars()
        .take(19)
        .filter(|c| c.is_ascii_digit() || *c == 'T')
        .collect();
    let what = match args.pid {
        Some(pid) => format!("pid{pid}"),
        None => args
            .command
            .first()
            .and_then(|c| Path::new(c).file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "cmd".into()),
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

/// Main-loop state that is not the writer.
struct Counters {
    samples: u64,
    profiles_stored: u64,
    profiles_failed: u64,
    last_oom_kill: Option<u64>,
    /// The target's cgroup as last read, to check its OOM counter once more
    /// when the target dies.
    last_cgroup: Option<(PathBuf, u8)>,
}

fn watch_loop(
    args: &WatchArgs,
    endpoints: Option<PprofEndpoints>,
    dir: &Path,
    target: &mut Target,
    tx: &Sender<Wake>,
    rx: &mpsc::Receiver<Wake>,
) -> anyhow::Result<WatchSummary> {
    let cgroups = CgroupMounts::discover();
    let start = Timestamp::now();
    let started = Instant::now();
    let pid = target.pid();
    let cgroup = cgroups.read_for(pid);
    let meta = Meta {
        format: FORMAT.into(),
        leakwatch_version: env!("CARGO_PKG_VERSION").into(),
        start,
        host: host_name(),
        command_line: std::env::args().collect(),
        target: TargetMeta {
            mode: if args.pid.is_some() { "pid" } else { "spawn" }.into(),
            pid,
            start_ticks: target.start_ticks(),
            command: if args.command.is_empty() {
                proc::cmdline(pid)
            } else {
                Some(args.command.clone())
            },
            cgroup: cgroup.as_ref().map(|c| CgroupMeta {
                version: c.version,
                dir: c.dir.display().to_string(),
                max: c.max,
            }),
        },
        pprof: endpoints.as_ref().map(|e| PprofMeta {
            heap_url: e.heap.clone(),
            goroutine_url: e.goroutine.clone(),
            runtime_stats_url: e.runtime_stats.clone(),
            gc: !args.no_gc,
        }),
        settings: Settings {
            interval_seconds: format::seconds(args.interval),
            profile_interval_seconds: format::seconds(args.profile_interval),
            duration_seconds: args.duration.map(format::seconds),
            max_profiles: args.max_profiles,
            max_body_bytes: args.max_body,
            scrape_timeout_seconds: format::seconds(args.scrape_timeout),
            restart: args.restart,
            stop_grace_seconds: format::seconds(args.stop_grace),
        },
    };
    let mut writer = RecordingWriter::create(dir, &meta, args.max_profiles as usize)
        .with_context(|| format!("cannot create the recording (--out {})", dir.display()))?;

    let scraper = match &endpoints {
        Some(e) => {
            let tx = tx.clone();
            let config = ScrapeConfig {
                endpoints: e.clone(),
                gc: !args.no_gc,
                fetch: FetchOptions::with_deadline(args.scrape_timeout, args.max_body),
                dir: dir.to_owned(),
            };
            Some(
                Scraper::start(config, move |o| tx.send(Wake::Scraped(Box::new(o))).is_ok())
                    .context("cannot start the scraping thread")?,
            )
        }
        None => None,
    };

    let mut progress = Progress::new(args.quiet, scraper.is_some());
    let mut counters = Counters {
        samples: 0,
        profiles_stored: 0,
        profiles_failed: 0,
        last_oom_kill: cgroup.as_ref().and_then(|c| c.oom_kill),
        last_cgroup: cgroup.map(|c| (c.dir, c.version)),
    };
    let end_at = args.duration.map(|d| started + d);
    let mut next_sample = started;
    let mut next_profile = started;
    let mut next_liveness = started;
    let mut seq = 0u64;
    let mut in_flight = false;
    let mut restart_at: Option<Instant> = None;
    let mut restarts = 0u32;
    let mut forwarded = false;
    // After a (re)start the service may not listen yet; its first round
    // retries "connection refused" for a while instead of failing.
    let startup_grace = args.profile_interval.min(Duration::from_secs(10));

    let reason: &'static str = loop {
        let now = Instant::now();
        if now >= next_liveness {
            next_liveness = now + Duration::from_secs(1);
            if let Some(exit) = target.poll_exit() {
                // An OOM kill is usually the reason of the death: record it
                // first, from the cgroup that outlives the process.
                if let Some((dir, version)) = &counters.last_cgroup {
                    let oom_kill = cgroup::read_dir(dir, *version).and_then(|c| c.oom_kill);
                    record_oom_kill(&mut writer, Timestamp::now(), oom_kill, &mut counters)?;
                }
                record_exit(&mut writer, exit, false)?;
                if args.restart {
                    let earliest = target.started().map_or(now, |s| s + Duration::from_secs(1));
                    restart_at = Some(earliest.max(now));
                } else {
                    break "target_exit";
                }
            }
        }
        if restart_at.is_some_and(|t| now >= t) {
            restart_at = None;
            let old_pid = target.respawn()?;
            restarts += 1;
            writer.event(&EventLine {
                time: Timestamp::now(),
                detail: format!("pid {old_pid} → {}", target.pid()),
                event: Event::Restart {
                    old_pid,
                    new_pid: target.pid(),
                    start_ticks: target.start_ticks(),
                    restarts,
                },
            })?;
            counters.last_oom_kill = cgroups.read_for(target.pid()).and_then(|c| c.oom_kill);
            next_profile = now;
        }
        if end_at.is_some_and(|t| now >= t) {
            break "duration";
        }
        if now >= next_sample {
            next_sample = advance(next_sample, args.interval, now);
            if target.is_running() {
                take_sample(
                    &mut writer,
                    &cgroups,
                    target.pid(),
                    &mut counters,
                    &mut progress,
                )?;
            }
        }
        if let Some(s) = &scraper {
            if !in_flight && now >= next_profile && target.is_running() {
                next_profile = advance(next_profile, args.profile_interval, now);
                seq += 1;
                in_flight = true;
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

        let mut wake_at = next_sample.min(next_liveness);
        if scraper.is_some() && !in_flight {
            wake_at = wake_at.min(next_profile);
        }
        if let Some(t) = end_at {
            wake_at = wake_at.min(t);
        }
        if let Some(t) = restart_at {
            wake_at = wake_at.min(t);
        }
        match rx.recv_timeout(wake_at.saturating_duration_since(Instant::now())) {
            Ok(Wake::Signal(SIGCHLD)) => next_liveness = Instant::now(),
            Ok(Wake::Signal(sig)) => {
                target.forward(sig);
                forwarded = target.is_running();
                writer.event(&EventLine {
                    time: Timestamp::now(),
                    detail: if forwarded {
                        format!(
                            "received {}; forwarded to process {}",
                            signal_name(sig),
                            target.pid()
                        )
                    } else {
                        format!("received {}", signal_name(sig))
                    },
                    event: Event::Signal {
                        signal: sig,
                        name: signal_name(sig),
                    },
                })?;
                break if sig == SIGINT {
                    "interrupted"
                } else {
                    "terminated"
                };
            }
            Ok(Wake::Scraped(outcome)) => {
                in_flight = false;
                record_round(&mut writer, *outcome, &mut counters, &mut progress)?;
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                anyhow::bail!("internal: the event channel closed")
            }
        }
    };

    // A round still running gets a short while to finish, so that a watch
    // ended by --duration keeps the profiles it was fetching.
    if in_flight {
        let deadline = Instant::now() + Duration::from_secs(2);
        while let Ok(w) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            if let Wake::Scraped(outcome) = w {
                record_round(&mut writer, *outcome, &mut counters, &mut progress)?;
                break;
            }
        }
    }
    drop(scraper);

    if let Some(exit) = target.stop(args.stop_grace, forwarded) {
        record_exit(&mut writer, exit, true)?;
    }

    let me = proc::read_status(std::process::id()).unwrap_or_default();
    writer.event(&EventLine {
        time: Timestamp::now(),
        detail: format!(
            "watch ended ({reason}) after {}: {} samples, {} profiles stored, {} failed, {} thinned",
            units::format_duration(started.elapsed()),
            counters.samples,
            counters.profiles_stored,
            counters.profiles_failed,
            writer.thinned()
        ),
        event: Event::End {
            reason: reason.into(),
            samples: counters.samples,
            profiles_stored: counters.profiles_stored,
            profiles_failed: counters.profiles_failed,
            profiles_thinned: writer.thinned(),
            watcher_rss: me.vm_rss,
            watcher_hwm: me.vm_hwm,
        },
    })?;
    progress.finish();
    Ok(WatchSummary {
        dir: dir.to_owned(),
        reason,
        samples: counters.samples,
        profiles_stored: counters.profiles_stored,
        profiles_failed: counters.profiles_failed,
    })
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

fn take_sample(
    writer: &mut RecordingWriter,
    cgroups: &CgroupMounts,
    pid: u32,
    counters: &mut Counters,
    progress: &mut Progress,
) -> anyhow::Result<()> {
    // A process that just exited reads as an error here; its exit is
    // recorded by the liveness check, so the sample is simply skipped.
    let Ok(mem) = proc::read_status(pid) else {
        return Ok(());
    };
    let time = Timestamp::now();
    let cg = cgroups.read_for(pid);
    let sample = Sample {
        time,
        pid,
        vm_rss: mem.vm_rss,
        rss_anon: mem.rss_anon,
        rss_file: mem.rss_file,
        rss_shmem: mem.rss_shmem,
        vm_swap: mem.vm_swap,
        pss: proc::read_pss(pid),
        cgroup_current: cg.as_ref().and_then(|c| c.current),
        cgroup_max: cg.as_ref().and_then(|c| c.max),
        cgroup_anon: cg.as_ref().and_then(|c| c.anon),
        cgroup_file: cg.as_ref().and_then(|c| c.file),
        cgroup_oom: cg.as_ref().and_then(|c| c.oom),
        cgroup_oom_kill: cg.as_ref().and_then(|c| c.oom_kill),
    };
    writer.sample(&sample)?;
    counters.samples += 1;
    progress.sample(mem.vm_rss);
    if let Some(c) = cg {
        counters.last_cgroup = Some((c.dir, c.version));
    }
    record_oom_kill(writer, time, sample.cgroup_oom_kill, counters)
}

/// Records an `oom_kill` event when the counter rose since the last reading.
fn record_oom_kill(
    writer: &mut RecordingWriter,
    time: Timestamp,
    oom_kill: Option<u64>,
    counters: &mut Counters,
) -> anyhow::Result<()> {
    let Some(now) = oom_kill else {
        return Ok(());
    };
    if let Some(before) = counters.last_oom_kill.filter(|b| now > *b) {
        writer.event(&EventLine {
            time,
            detail: format!(
                "the cgroup's OOM killer struck {} time(s) (oom_kill {before} → {now})",
                now - before
            ),
            event: Event::OomKill {
                count: now,
                increase: now - before,
            },
        })?;
    }
    counters.last_oom_kill = Some(now);
    Ok(())
}

fn record_exit(writer: &mut RecordingWriter, exit: Exit, stopped: bool) -> anyhow::Result<()> {
    let mut detail = exit.describe();
    if stopped {
        detail.push_str(" (stopped by leakwatch at the end of the watch)");
    }
    writer.event(&EventLine {
        time: Timestamp::now(),
        detail,
        event: Event::TargetExit {
            pid: exit.pid,
            code: exit.code,
            signal: exit.signal,
            stopped_by_watcher: stopped,
        },
    })?;
    Ok(())
}

fn record_round(
    writer: &mut RecordingWriter,
    outcome: scrape::Outcome,
    counters: &mut Counters,
    progress: &mut Progress,
) -> anyhow::Result<()> {
    let time = Timestamp::now();
    if let Some(e) = outcome.store_errors.into_iter().next() {
        // The disk failed, not the endpoint: the recording cannot be kept
        // complete, so the watch stops with the error.
        return Err(e).context("cannot store a profile");
    }
    for (profile, err) in &outcome.failures {
        let url = err.url().to_owned();
        writer.event(&EventLine {
            time,
            detail: err.to_string(),
            event: Event::ScrapeError {
                profile: (*profile).to_owned(),
                url,
                error: err.kind().to_owned(),
                status: err.status(),
            },
        })?;
    }
    for (profile, url, why) in outcome.unavailable {
        writer.event(&EventLine {
            time,
            detail: format!("no {profile} from this endpoint ({why}); not asking again"),
            event: Event::EndpointUnavailable {
                profile: profile.to_owned(),
                url,
            },
        })?;
    }
    if let Some(r) = &outcome.runtime {
        writer.runtime(r)?;
    }
    let stored = outcome.stored.len() as u64;
    let failed = outcome
        .failures
        .iter()
        .filter(|(p, _)| *p != "runtime_stats")
        .count() as u64;
    writer.add_round(outcome.seq, &outcome.stored)?;
    counters.profiles_stored += stored;
    counters.profiles_failed += failed;
    progress.profiles(stored, failed);
    Ok(())
}
