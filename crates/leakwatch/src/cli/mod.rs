//! The command line: one file per command.

pub mod analyze;
pub mod check;
pub mod demo;
pub mod diff;
pub mod fleet;
pub mod top;
pub mod watch;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// What a command ends with: its exit code (docs/json.md states the
/// contract).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Success, or "no leak" for `check`.
    Ok = 0,
    /// `check` found a leak.
    Leak = 1,
    /// The command failed.
    Error = 2,
    /// `check` could not decide.
    Inconclusive = 3,
}

impl Outcome {
    /// The exit code of a verdict: 0 no leak, 1 leak, 3 inconclusive.
    pub fn of(decision: crate::analysis::Decision) -> Outcome {
        use crate::analysis::Decision;
        match decision {
            Decision::Leak => Outcome::Leak,
            Decision::NoLeak => Outcome::Ok,
            Decision::Inconclusive => Outcome::Inconclusive,
        }
    }
}

impl From<Outcome> for ExitCode {
    fn from(o: Outcome) -> ExitCode {
        ExitCode::from(o as u8)
    }
}

/// Find the memory that grows until a service dies.
#[derive(Debug, Parser)]
#[command(
    name = "leakwatch",
    version,
    about,
    long_about = None,
    after_help = "\
Typical use:
  leakwatch diff heap.0900.pb.gz heap.1500.pb.gz      what grew between two profiles
  leakwatch diff http://localhost:6060/debug/pprof/heap --wait 10m
  leakwatch watch --pid 311 --pprof http://localhost:6060 --out rec/
  leakwatch analyze rec/ --html report.html          leak or not, where, how fast, when
  leakwatch check --duration 5m --pprof http://127.0.0.1:6060 -- ./service
                                                     a CI gate on the exit code
  leakwatch demo                                     the whole story in a minute
  leakwatch fleet --prometheus http://prometheus:9090  which instances leak, from history

Durations are written 500ms, 10s, 5m, 1h; sizes 512MiB, 2GiB.
Exit codes: 0 success / no leak, 1 leak, 2 error, 3 inconclusive."
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Top(top::TopArgs),
    Diff(diff::DiffArgs),
    #[command(after_help = "\
Examples:
  leakwatch watch --pid 311 --pprof http://localhost:6060
  leakwatch watch --interval 10s --profile-interval 1m --duration 6h \\
      --pprof http://127.0.0.1:6060 --out rec/ -- ./service --port 6060
  leakwatch watch --restart --pprof http://127.0.0.1:6060 -- ./service
  leakwatch watch --pprof http://10.0.0.7:6060 --duration 1h   no PID: remote,
      memory from its /metrics (or Go's runtime statistics)

Ctrl-C ends the watch with the recording complete. The recording format is
described in docs/recording.md; `leakwatch analyze DIR` reads it, even while
the watch is still writing it.")]
    Watch(watch::WatchArgs),
    #[command(after_help = "\
Examples:
  leakwatch analyze leakwatch-recordings/2026-11-26T14-00-00Z
  leakwatch analyze rec/ --limit 2GiB --json
  leakwatch analyze rec/ --html report.html
  leakwatch analyze rec/ --until +30m
  leakwatch analyze rec/ --until 2026-11-26T14:05:00Z --json

How the verdict is reached: docs/method.md.")]
    Analyze(analyze::AnalyzeArgs),
    #[command(after_help = "\
Examples:
  leakwatch check --duration 5m --interval 1s --profile-interval 10s \\
      --pprof http://127.0.0.1:6060 -- ./service --port 6060
  leakwatch check --pid 311 --pprof http://localhost:6060 --duration 10m --json
  leakwatch check --pprof http://10.0.0.7:6060 --duration 30m --limit 2GiB
      (no PID: a remote service, judged from what it serves)

Exit codes: 0 no leak, 1 leak, 2 error, 3 inconclusive (watch longer).")]
    Check(check::CheckArgs),
    #[command(after_help = "\
Examples:
  cargo run --release -- demo
  leakwatch demo --fixed
  leakwatch demo --duration 2m --json")]
    Demo(demo::DemoArgs),
    #[command(after_help = "\
Examples:
  leakwatch fleet --prometheus http://prometheus:9090
  leakwatch fleet --prometheus http://prometheus:9090 --since 14d --top 20 \\
      --query 'process_resident_memory_bytes{job=\"api\"}' --limit 2GiB
  leakwatch fleet --prometheus https://mimir.example/prometheus \\
      --header-file ~/.mimir-headers --ca-cert corp-ca.pem \\
      --query container_memory_working_set_bytes --group-by namespace,container \\
      --limit-query container_spec_memory_limit_bytes --json
  leakwatch fleet --prometheus http://prometheus:9090 --html fleet.html \\
      --pprof-template 'http://{instance}/debug/pprof' --drill 3

Restarts come from process_start_time_seconds with the memory series' labels
when Prometheus has it, else from sudden drops. --header-file (or the
LEAKWATCH_HEADER_FILE environment variable) names a file of `Name: value`
lines, so a token need not appear on the command line.
Exit codes: 0 no leak, 1 some instance leaks, 2 error, 3 all inconclusive.")]
    Fleet(fleet::FleetArgs),
}

/// Runs the parsed command.
pub fn run(cli: Cli) -> anyhow::Result<Outcome> {
    match cli.command {
        Command::Top(a) => top::run(a),
        Command::Diff(a) => diff::run(a),
        Command::Watch(a) => watch::run(a),
        Command::Analyze(a) => analyze::run(a),
        Command::Check(a) => check::run(a),
        Command::Demo(a) => demo::run(a),
        Command::Fleet(a) => fleet::run(a),
    }
}
