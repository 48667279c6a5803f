//! `leakwatch demo`: the seed's story in one command — a Rust service with a
//! cache that only grows, watched until leakwatch names the cache.
//!
//! The service is its own executable, `leakwatch-demo` (the `demo/`
//! package), allocating with jemalloc and serving heap profiles: leakwatch
//! itself keeps the system allocator and none of the service's web stack.
//! It is found beside the `leakwatch` executable or on PATH; run from the
//! source tree with `cargo run`, it is built first (once; later runs only
//! check it is up to date), so the README's first command works on a fresh
//! clone. Everything after the start is the ordinary pipeline: the watch
//! engine with fast intervals (which symbolizes the profiles from
//! /proc/PID/exe), then the verdict with an HTML report.

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::analysis::{self, Options};
use crate::cli::Outcome;
use crate::probe::http::PprofEndpoints;
use crate::render::report::PictureArgs;
use crate::render::verdict_output;
use crate::session::{self, Plan, TargetSpec};
use crate::units;

/// The demo service's executable.
pub const SERVICE_EXE: &str = "leakwatch-demo";

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

    let watched = session::record(&plan(&args, &service)?);
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
    let judgement = analysis::judge(&summary.dir, &Options::default())?;
    verdict_output::show(&judgement, args.json, &pictures)?;
    let outcome = Outcome::of(judgement.verdict.verdict);
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

/// The watch of the demo service: its heap endpoint, the demo's intervals,
/// the engine's defaults for everything else.
fn plan(args: &DemoArgs, service: &Service) -> anyhow::Result<Plan> {
    let mut plan = Plan::new(TargetSpec::Pid(service.child.id()));
    plan.pprof = Some(
        PprofEndpoints::from_arg(&format!("{}/debug/pprof/heap", service.url))
            .map_err(anyhow::Error::msg)?,
    );
    plan.interval = sample_interval(args.duration);
    plan.profile_interval = profile_interval(args.duration);
    plan.duration = Some(args.duration);
    plan.quiet = args.json;
    plan.out = args.out.clone();
    Ok(plan)
}

/// Finds the demo service's executable: beside this one or on PATH — after
/// building it, when this `leakwatch` was started by `cargo run` or `cargo
/// test` from the source tree, so that it is never missing or stale there.
fn service_exe() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot find the leakwatch executable")?;
    let beside = exe.with_file_name(SERVICE_EXE);
    if let Some((cargo, manifest_dir)) = cargo_checkout() {
        build_service(&cargo, &manifest_dir, &exe)?;
    }
    if beside.is_file() {
        return Ok(beside);
    }
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(SERVICE_EXE))
            .find(|p| p.is_file())
    });
    on_path.ok_or_else(|| {
        anyhow::anyhow!(
            "the demo service `{SERVICE_EXE}` is neither beside {} nor on PATH; install it with \
             `cargo install --path demo` from leakwatch's source, or run the demo there with \
             `cargo run --release -- demo`",
            exe.display()
        )
    })
}

/// Cargo and the package directory, when cargo started this process from
/// leakwatch's source tree (it sets both for `cargo run` and `cargo test`).
fn cargo_checkout() -> Option<(OsString, PathBuf)> {
    let cargo = std::env::var_os("CARGO")?;
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR")?);
    let workspace = manifest_dir
        .ancestors()
        .find(|d| d.join("demo/Cargo.toml").is_file())?;
    Some((cargo, workspace.to_owned()))
}

/// `cargo build -p leakwatch-demo` into the profile and target directory
/// `exe` was built in, so the service lands beside it.
fn build_service(cargo: &OsString, workspace: &Path, exe: &Path) -> anyhow::Result<()> {
    let profile_dir = exe.parent().context("the executable has no directory")?;
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => "dev",
        Some(name) => name,
        None => anyhow::bail!("cannot tell the cargo profile of {}", exe.display()),
    };
    let target_dir = profile_dir
        .parent()
        .context("the executable is not in a cargo target directory")?;
    eprintln!("leakwatch demo: building the demo service (cargo build -p leakwatch-demo)…");
    let status = Command::new(cargo)
        .current_dir(workspace)
        .args([
            "build",
            "-p",
            "leakwatch-demo",
            "--bin",
            SERVICE_EXE,
            "--profile",
            profile,
        ])
        .arg("--target-dir")
        .arg(target_dir)
        .stdin(Stdio::null())
        // Cargo's own messages are progress, not the demo's output.
        .stdout(Stdio::null())
        .status()
        .context("cannot run cargo to build the demo service")?;
    if !status.success() {
        anyhow::bail!("building the demo service failed ({status}); see cargo's messages above");
    }
    Ok(())
}

/// The running demo service, stopped on drop.
struct Service {
    child: Child,
    url: String,
}

impl Service {
    fn start(args: &DemoArgs) -> anyhow::Result<Service> {
        let exe = service_exe()?;
        let mut cmd = Command::new(&exe);
        cmd.args(["--addr", "127.0.0.1:0", "--rate", &args.rate.to_string()])
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
                    "the demo service did not start (first line {:?}, exit status {}); run `{}` to see its error",
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
