//! The command line: one file per command.

pub mod analyze;
pub mod check;
pub mod demo;
pub mod diff;
pub mod top;
pub mod watch;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// What a command ends with, as the exit-code contract in GUIDE.md spells it.
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

impl From<Outcome> for ExitCode {
    fn from(o: Outcome) -> ExitCode {
        ExitCode::from(o as u8)
    }
}

/// Find the memory that grows until a service dies.
#[derive(Debug, Parser)]
#[command(name = "leakwatch", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Top(top::TopArgs),
    Diff(diff::DiffArgs),
    Watch(watch::WatchArgs),
    Analyze(analyze::AnalyzeArgs),
    Check(check::CheckArgs),
    Demo(demo::DemoArgs),
    /// Runs the demo service (started by `leakwatch demo`).
    #[command(name = "__demo-service", hide = true)]
    DemoService(leakwatch_demo::ServiceArgs),
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
        Command::DemoService(a) => demo::run_service(a),
    }
}
