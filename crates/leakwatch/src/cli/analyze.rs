//! `leakwatch analyze DIR`: read a recording and give the verdict.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::analysis::{self, Decision};
use crate::cli::Outcome;
use crate::recording::Recording;
use crate::render::report::PictureArgs;
use crate::render::verdict_text;
use crate::units;

/// Read a recording made by `leakwatch watch` and decide whether the target
/// leaks, where, how fast, and when it reaches its memory limit. Exits 0 for
/// no leak, 1 for a leak, 3 when the data cannot decide, 2 on error.
#[derive(Debug, clap::Args)]
pub struct AnalyzeArgs {
    /// The recording directory.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,

    /// Print the verdict as JSON (schema `leakwatch.verdict/1`).
    #[arg(long)]
    pub json: bool,

    /// The memory limit to estimate the time to (e.g. 2GiB) [default: the
    /// cgroup's memory.max from the recording, if any].
    #[arg(long, value_name = "SIZE", value_parser = units::parse_bytes)]
    pub limit: Option<u64>,

    #[command(flatten)]
    pub pictures: PictureArgs,
}

/// Runs `analyze`.
pub fn run(args: AnalyzeArgs) -> anyhow::Result<Outcome> {
    analyze(&args.dir, args.limit, args.json, &args.pictures)
}

/// Analyses the recording in `dir`, prints the verdict (text or JSON) and
/// returns the outcome it maps to. `check` ends with this.
pub fn analyze(
    dir: &Path,
    limit: Option<u64>,
    json: bool,
    pictures: &PictureArgs,
) -> anyhow::Result<Outcome> {
    let rec = Recording::open(dir).context("cannot read the recording")?;
    let obs = analysis::observe(&rec);
    let verdict = analysis::decide(&obs, &analysis::Options { limit });
    // Pictures first: a failure to write one stops before any verdict prints.
    pictures.write(&rec, &obs, &verdict)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&verdict)?);
    } else {
        // The diff is evidence, not the verdict: if it cannot be computed
        // the verdict still prints, with the reason.
        let diff = obs.first_last_heap.as_ref().map(|(first, last)| {
            verdict_text::first_last_diff(first, last)
                .unwrap_or_else(|e| format!("(no diff: {e:#})"))
        });
        let stdout = std::io::stdout();
        let color = stdout.is_terminal() && std::env::var_os("NO_COLOR").is_none();
        print!(
            "{}",
            verdict_text::render(&verdict, &obs.rss.y, diff.as_deref(), color)
        );
        if !rec.is_complete() {
            println!(
                "Note: {} has no end event: the watch is still running or was killed; this verdict covers what was recorded so far.",
                dir.display()
            );
        }
    }
    Ok(outcome(verdict.verdict))
}

/// The exit code contract: 0 no leak, 1 leak, 3 inconclusive.
pub fn outcome(d: Decision) -> Outcome {
    match d {
        Decision::Leak => Outcome::Leak,
        Decision::NoLeak => Outcome::Ok,
        Decision::Inconclusive => Outcome::Inconclusive,
    }
}
