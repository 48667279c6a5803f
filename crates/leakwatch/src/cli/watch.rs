//! `leakwatch watch`: record a process's memory and profiles over time into
//! a recording directory. The flags become a [`Plan`] for the watch engine
//! ([`crate::session`]), which does the work.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::analysis::Options;
use crate::cli::Outcome;
use crate::probe::http::PprofEndpoints;
use crate::serve::{self, LiveView};
use crate::session::dumps::DumpPattern;
use crate::session::{self, DumpsPlan, Plan, TargetSpec};
use crate::units;

/// Record a process's memory (RSS, PSS, cgroup) and its heap and goroutine
/// profiles over time into a recording directory, for `leakwatch analyze`.
#[derive(Debug, Clone, clap::Args)]
pub struct WatchArgs {
    /// Watch this running process. Without it (and without a command) the
    /// watch is remote: only what `--pprof`'s service serves is read.
    #[arg(
        long,
        value_name = "PID",
        conflicts_with = "command",
        required_unless_present_any = ["command", "pprof"]
    )]
    pub pid: Option<u32>,

    /// Its pprof endpoint: a base such as http://127.0.0.1:6060 (the
    /// standard /debug/pprof/heap and /debug/pprof/goroutine are used) or
    /// the full URL of a heap profile.
    #[arg(long, value_name = "URL")]
    pub pprof: Option<String>,

    /// A remote target's Prometheus metrics (no --pid, no command): its
    /// memory samples are `process_resident_memory_bytes`, its restarts a
    /// new `process_start_time_seconds` [default: /metrics on --pprof's
    /// host and port, when served; else Go's runtime statistics each
    /// profile round].
    #[arg(long, value_name = "URL", requires = "pprof", conflicts_with_all = ["pid", "command"])]
    pub metrics: Option<String>,

    /// Heap dump files the target's allocator writes, read as its heap
    /// profiles instead of an endpoint's: a glob with wildcards in the file
    /// name, e.g. '/var/tmp/prof/app.*.heap' (jemalloc with
    /// MALLOC_CONF=prof:true,lg_prof_interval:26,prof_prefix:/var/tmp/prof/app;
    /// gperftools with HEAPPROFILE=/var/tmp/prof/app). Each new dump is a
    /// profile round; the files are copied, not moved.
    #[arg(long, value_name = "GLOB", conflicts_with = "pprof")]
    pub dumps: Option<String>,

    /// Delete each dump once it is copied into the recording.
    #[arg(long, requires = "dumps")]
    pub remove_dumps: bool,

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

    /// Serve a live view of the watch at ADDR (e.g. 127.0.0.1:8080; :8080
    /// means this machine only; port 0 picks a free one): memory and the
    /// verdict forming, in a browser. `watch` keeps serving the final
    /// state until Ctrl-C; the API is described in docs/json.md.
    #[arg(long, value_name = "ADDR", value_parser = serve::parse_addr)]
    pub serve: Option<SocketAddr>,

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
    let mut plan = args.plan()?;
    let live = args.live_view(&mut plan, Options::default())?;
    let summary = session::record(&plan)?;
    if !args.quiet {
        eprintln!(
            "leakwatch: watch ended ({}): {} samples, {} profiles ({} failed) in {}",
            summary.reason.as_str(),
            summary.samples,
            summary.profiles_stored,
            summary.profiles_failed,
            summary.dir.display()
        );
    }
    // Ctrl-C during the watch means "stop", not "stop watching, keep
    // serving": only a watch that ran its course keeps its page up.
    let ended_by_signal = matches!(
        summary.reason,
        session::EndReason::Interrupted | session::EndReason::Terminated
    );
    if let Some(live) = live.filter(|_| !ended_by_signal) {
        live.finish();
        eprintln!(
            "leakwatch: the live view at {} shows the final state; Ctrl-C to stop serving it",
            live.url()
        );
        let mut signals =
            Signals::new([SIGINT, SIGTERM]).context("cannot install signal handlers")?;
        signals.forever().next();
    }
    Ok(Outcome::Ok)
}

impl WatchArgs {
    /// Starts the live view when `--serve` asks for one, on the recording
    /// directory `plan` will write (chosen now if `--out` did not say).
    pub fn live_view(&self, plan: &mut Plan, opts: Options) -> anyhow::Result<Option<LiveView>> {
        let Some(addr) = self.serve else {
            return Ok(None);
        };
        let dir = session::recording_dir(plan)?;
        plan.out = Some(dir.clone());
        let live = LiveView::start(addr, &dir, opts)?;
        eprintln!("leakwatch: live view at {}", live.url());
        Ok(Some(live))
    }

    /// The watch these flags ask for.
    pub fn plan(&self) -> anyhow::Result<Plan> {
        let pprof = self
            .pprof
            .as_deref()
            .map(PprofEndpoints::from_arg)
            .transpose()
            .map_err(anyhow::Error::msg)?;
        let target = match (self.pid, self.command.is_empty()) {
            (Some(pid), _) => TargetSpec::Pid(pid),
            (None, false) => TargetSpec::Spawn(self.command.clone()),
            (None, true) if pprof.is_some() => TargetSpec::Remote,
            (None, true) => {
                anyhow::bail!(
                    "nothing to watch: give --pid PID, a command after `--`, or --pprof URL"
                )
            }
        };
        if target == TargetSpec::Remote && self.dumps.is_some() {
            anyhow::bail!("--dumps needs --pid or a command: the dumps are this host's files");
        }
        let dumps = self
            .dumps
            .as_deref()
            .map(|glob| {
                DumpPattern::parse(glob).map(|pattern| DumpsPlan {
                    glob: glob.to_owned(),
                    pattern,
                    remove: self.remove_dumps,
                })
            })
            .transpose()
            .map_err(anyhow::Error::msg)?;
        Ok(Plan {
            target,
            pprof,
            metrics: self.metrics.clone(),
            dumps,
            gc: !self.no_gc,
            interval: self.interval,
            profile_interval: self.profile_interval,
            duration: self.duration,
            out: self.out.clone(),
            max_profiles: self.max_profiles,
            max_body: self.max_body,
            scrape_timeout: self.scrape_timeout,
            restart: self.restart,
            stop_grace: self.stop_grace,
            quiet: self.quiet,
        })
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Watch {
        #[command(flatten)]
        args: WatchArgs,
    }

    fn plan(argv: &[&str]) -> Plan {
        let argv = std::iter::once("watch").chain(argv.iter().copied());
        Watch::try_parse_from(argv).unwrap().args.plan().unwrap()
    }

    #[test]
    fn the_flags_defaults_are_the_engines() {
        // `demo` and the tests build plans with `Plan::new`; a default
        // changed on one side only would make them watch differently.
        assert_eq!(
            format!("{:?}", plan(&["--pid", "7"])),
            format!("{:?}", Plan::new(TargetSpec::Pid(7)))
        );
    }

    #[test]
    fn flags_reach_the_plan() {
        let p = plan(&[
            "--interval",
            "2s",
            "--no-gc",
            "--restart",
            "--pprof",
            "http://127.0.0.1:1",
            "--",
            "./svc",
            "-x",
        ]);
        assert_eq!(
            p.target,
            TargetSpec::Spawn(vec!["./svc".into(), "-x".into()])
        );
        assert_eq!(p.interval, Duration::from_secs(2));
        assert!(!p.gc && p.restart);
        assert_eq!(p.pprof.unwrap().heap, "http://127.0.0.1:1/debug/pprof/heap");
    }

    #[test]
    fn pprof_alone_is_a_remote_watch() {
        let p = plan(&[
            "--pprof",
            "http://10.0.0.7:6060",
            "--metrics",
            "http://10.0.0.7:9100/metrics",
        ]);
        assert_eq!(p.target, TargetSpec::Remote);
        assert_eq!(p.metrics.as_deref(), Some("http://10.0.0.7:9100/metrics"));
        let argv = ["watch", "--pid", "7", "--metrics", "http://x/metrics"];
        assert!(
            Watch::try_parse_from(argv).is_err(),
            "--metrics is for remote watches"
        );
        assert!(
            Watch::try_parse_from(["watch"]).is_err(),
            "nothing to watch"
        );
    }
}
