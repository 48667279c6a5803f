//! `leakwatch analyze DIR`: read a recording and give the verdict.

use std::path::PathBuf;

use crate::analysis::{self, Options};
use crate::cli::Outcome;
use crate::recording::Until;
use crate::render::report::PictureArgs;
use crate::render::verdict_output;
use crate::units;

/// Read a recording made by `leakwatch watch` and decide whether the target
/// leaks, where, how fast, and when it reaches its memory limit. Exits 0 for
/// no leak, 1 for a leak, 3 when the data cannot decide, 2 on error.
#[derive(Debug, clap::Args)]
pub struct AnalyzeArgs {
    /// The recording directory.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,

    /// Print the verdict as JSON (schema `leakwatch.verdict/1`, described
    /// in docs/json.md).
    #[arg(long)]
    pub json: bool,

    /// The memory limit to estimate the time to (e.g. 2GiB) [default: the
    /// cgroup's memory.max from the recording, if any].
    #[arg(long, value_name = "SIZE", value_parser = units::parse_bytes)]
    pub limit: Option<u64>,

    /// Judge only the part of the recording up to TIME: an RFC 3339 time
    /// (2026-11-26T14:05:00Z) or a duration after the recording's start
    /// (+90s, +2h). What the verdict said then: whether the leak was
    /// already visible, whether the predicted time to the limit came true.
    /// The recording is only read; the verdict is interim when the watch
    /// went on past TIME.
    #[arg(long, value_name = "TIME", value_parser = Until::parse)]
    pub until: Option<Until>,

    #[command(flatten)]
    pub pictures: PictureArgs,
}

/// Runs `analyze`.
pub fn run(args: AnalyzeArgs) -> anyhow::Result<Outcome> {
    let opts = Options { limit: args.limit };
    let judgement = analysis::judge_until(&args.dir, &opts, args.until)?;
    verdict_output::show(&judgement, args.json, &args.pictures)?;
    Ok(Outcome::of(judgement.verdict.verdict))
}
