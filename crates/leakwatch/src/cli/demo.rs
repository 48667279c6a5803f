//! `leakwatch demo`: the seed's story in one command — a Rust service with a
//! cache that only grows, watched until leakwatch names the cache.
//!
//! The service is `leakwatch-demo`'s code running in a child process of this
//! very executable (`leakwatch __demo-service`): `cargo run` builds only the
//! `leakwatch` binary, and the demo must work from a fresh clone with nothing
//! compiled at run time. The child allocates with jemalloc, heap profiling
//! on; see `leakwatch_demo::alloc` for how one executable has two allocators.
//! Everything after the start is the ordinary pipeline: `watch --pid` with
//! fast intervals (which symbolizes the profiles from /proc/PID/exe), then
//! `analyze` with an HTML report.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;

use crate::cli::analyze;
use crate::cli::watch::{self, WatchArgs};
use crate::cli::Outcome;
use crate::render::report::PictureArgs;
use crate::units;

/// The name of the hidden subcommand that runs the demo service.
pub const SERVICE_SUBCOMMAND: &str = "__demo-service";

/// How long the service gets to print its address.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// Run the demo: start a Rust service whose per-request cache leaks (or,
/// with --fixed, is a bounded LRU), drive load at it, watch it, and print
/// the verdict with the leaking function's file and line, plus an HTML
/// report.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Run the fixed service (a bounded LRU): the verdict should be no leak.
    #[arg(long)]
    pub fixed: bool,

    /// How long to watch the service.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = positive_duration)]
    pub duration: Duration,

    /// Print the verdict as JSON (schema `leakwatch.verdict/1`).
    #[arg(long)]
    pub json: bool,

    /// Where to write the HTML report [default: report.html in the
    /// recording directory].
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,

    /// Requests per second sent to the service (each leaks ~1 KiB unless
    /// --fixed).
    #[arg(long, value_name = "N", default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..))]
    pub rate: u32,

    /// The recording directory (new or empty) [default: a new directory
    /// under ./leakwatch-recordings/].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

fn positive_duration(s: &str) -> Result<Duration, String> {
    let d = units::parse_duration(s)?;
    if d < Duration::from_secs(5) {
        return Err(format!(
            "`{s}`: the demo needs at least 5s to see a trend (60s is the default)"
        ));
    }
    Ok(d)
}

/// Runs the demo service in this process: the hidden `__demo-service`
/// subcommand that `leakwatch demo` starts.
pub fn run_service(args: leakwatch_demo::ServiceArgs) -> anyhow::Result<Outcome> {
    leakwatch_demo::run(args)?;
    Ok(Outcome::Ok)
}

/// Runs `demo`.
pub fn run(args: DemoArgs) -> anyhow::Result<Outcome> {
    let mode = if args.fixed {
        "fixed (bounded LRU)"
    } else {
        "leaky (unbounded map)"
    };
    let mut service = Service::start(&args)?;
    eprintln!(
        "leakwatch demo: {mode} service, pid {}, at {}; {} requests/s, each caching ~1 KiB under a new request id",
        service.child.id(),
        service.url,
        args.rate
    );
    eprintln!(
        "leakwatch demo: watching it for {} (memory every {}, a heap profile every {})…",
        units::format_duration(args.duration),
        units::format_duration(sample_interval(args.duration)),
        units::format_duration(profile_interval(args.duration)),
    );

    let watched = watch::record(&watch_args(&args, &service)?);
    service.stop();
    let summary = watched?;

    let html = args
        .html
        .clone()
        .unwrap_or_else(|| summary.dir.join("report.html"));
    let pictures = PictureArgs {
        html: Some(html.clone()),
        ..PictureArgs::default()
    };
    let outcome = analyze::analyze(&summary.dir, None, args.json, &pictures)?;
    eprintln!(
        "leakwatch demo: report {}; recording {}",
        html.display(),
        summary.dir.display()
    );
    let expected = if args.fixed {
        Outcome::Ok
    } else {
        Outcome::Leak
    };
    if outcome == expected {
        if !args.fixed {
            eprintln!("leakwatch demo: now the fix: leakwatch demo --fixed");
        }
        // The demo did what it shows; a leak verdict is its success.
        Ok(Outcome::Ok)
    } else {
        eprintln!(
            "leakwatch demo: expected {}, but the verdict differs (a very busy machine? try a longer --duration)",
            if args.fixed { "no leak" } else { "a leak" }
        );
        Ok(outcome)
    }
}

/// Time between memory samples: a few hundred over the demo.
fn sample_interval(duration: Duration) -> Duration {
    (duration / 120).clamp(Duration::from_millis(250), Duration::from_secs(5))
}

/// Time between heap profiles: about twenty over the demo.
fn profile_interval(duration: Duration) -> Duration {
    (duration / 20).clamp(Duration::from_secs(1), Duration::from_secs(60))
}

/// `watch --pid … --pprof …` with the demo's intervals, parsed by `watch`'s
/// own argument definition so that its defaults apply to everything else.
fn watch_args(args: &DemoArgs, service: &Service) -> anyhow::Result<WatchArgs> {
    #[derive(Parser)]
    struct Watch {
        #[command(flatten)]
        args: WatchArgs,
    }
    let mut argv: Vec<String> = vec![
        "watch".into(),
        "--pid".into(),
        service.child.id().to_string(),
        "--pprof".into(),
        format!("{}/debug/pprof/heap", service.url),
        "--interval".into(),
        units::format_duration(sample_interval(args.duration)),
        "--profile-interval".into(),
        units::format_duration(profile_interval(args.duration)),
        "--duration".into(),
        units::format_duration(args.duration),
    ];
    if args.json {
        argv.push("--quiet".into());
    }
    if let Some(out) = &args.out {
        argv.push("--out".into());
        argv.push(out.display().to_string());
    }
    Ok(Watch::try_parse_from(argv)
        .context("building the watch arguments for the demo")?
        .args)
}

/// The running demo service, stopped on drop.
struct Service {
    child: Child,
    url: String,
}

impl Service {
    fn start(args: &DemoArgs) -> anyhow::Result<Service> {
        let exe = std::env::current_exe().context("cannot find the leakwatch executable")?;
        let mut cmd = Command::new(&exe);
        cmd.arg(SERVICE_SUBCOMMAND)
            .args(["--addr", "127.0.0.1:0", "--rate", &args.rate.to_string()])
            .env(
                leakwatch_demo::alloc::ALLOCATOR_ENV,
                leakwatch_demo::alloc::USE_JEMALLOC,
            )
            .env(
                leakwatch_demo::MALLOC_CONF_ENV,
                leakwatch_demo::MALLOC_CONF
                    .to_str()
                    .expect("the jemalloc options are ASCII"),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if args.fixed {
            cmd.arg("--fixed");
        }
        // SAFETY: prctl is async-signal-safe and touches no memory of ours.
        // Should leakwatch die without stopping the service, the kernel
        // stops it, so no demo outlives its demonstration.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd
            .spawn()
            .with_context(|| format!("cannot start the demo service ({})", exe.display()))?;
        let stdout = child.stdout.take().expect("stdout is piped");
        // The first line names the port; read it on a thread so that a
        // service that never prints cannot hang the demo.
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let read = BufReader::new(stdout).read_line(&mut line).map(|_| line);
            let _ = tx.send(read);
        });
        let mut service = Service {
            child,
            url: String::new(),
        };
        let started = Instant::now();
        let line = match rx.recv_timeout(START_TIMEOUT) {
            Ok(Ok(line)) => line,
            Ok(Err(e)) => anyhow::bail!("reading the demo service's address: {e}"),
            Err(_) => anyhow::bail!(
                "the demo service printed no address within {}s",
                started.elapsed().as_secs()
            ),
        };
        match line.trim().strip_prefix("listening on ") {
            Some(url) => service.url = url.to_owned(),
            None => {
                let status = service.child.try_wait().ok().flatten();
                anyhow::bail!(
                    "the demo service did not start (first line {:?}, exit status {}); run `{} {SERVICE_SUBCOMMAND}` to see its error",
                    line.trim(),
                    status.map_or("none yet".into(), |s| s.to_string()),
                    exe.display()
                );
            }
        }
        Ok(service)
    }

    /// SIGTERM, a moment to exit, then SIGKILL.
    fn stop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        if let Ok(pid) = libc::pid_t::try_from(self.child.id()) {
            // SAFETY: signalling our own child, which has not been reaped.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_scale_with_the_duration() {
        let minute = Duration::from_secs(60);
        assert_eq!(sample_interval(minute), Duration::from_millis(500));
        assert_eq!(profile_interval(minute), Duration::from_secs(3));
        assert_eq!(
            sample_interval(Duration::from_secs(5)),
            Duration::from_millis(250)
        );
        assert_eq!(
            profile_interval(Duration::from_secs(5)),
            Duration::from_secs(1)
        );
    }

    #[test]
    fn too_short_a_demo_is_refused() {
        assert!(positive_duration("2s").unwrap_err().contains("at least 5s"));
        assert_eq!(positive_duration("60s"), Ok(Duration::from_secs(60)));
    }
}
