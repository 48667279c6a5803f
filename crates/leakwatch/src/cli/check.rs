//! `leakwatch check`: a watch, then its verdict — a CI gate for "this
//! service does not leak under this load".

use crate::analysis::{self, Options};
use crate::cli::watch::WatchArgs;
use crate::cli::Outcome;
use crate::render::report::PictureArgs;
use crate::render::verdict_output;
use crate::session;
use crate::units;

/// How long `check --serve` keeps serving after its verdict.
const LINGER: std::time::Duration = std::time::Duration::from_secs(3);

/// Watch a process (or a command it starts) for a while, then decide
/// whether it leaks. Exits 0 for no leak, 1 for a leak, 3 when the data
/// cannot decide (watch longer), 2 on error. Takes every `watch` flag; give
/// `--duration`, or the watch lasts until the target exits or Ctrl-C.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The target and how to watch it, exactly as for `leakwatch watch`.
    #[command(flatten)]
    pub watch: WatchArgs,

    /// Print the verdict as JSON (schema `leakwatch.verdict/1`, described
    /// in docs/json.md).
    #[arg(long)]
    pub json: bool,

    /// The memory limit to estimate the time to (e.g. 2GiB) [default: the
    /// cgroup's memory.max, if any].
    #[arg(long, value_name = "SIZE", value_parser = units::parse_bytes)]
    pub limit: Option<u64>,

    /// The report and charts, as for `leakwatch analyze` (a CI artifact).
    #[command(flatten)]
    pub pictures: PictureArgs,
}

/// Runs `check`.
pub fn run(args: CheckArgs) -> anyhow::Result<Outcome> {
    let opts = Options {
        limit: args.limit,
        ..Options::default()
    };
    let mut plan = args.watch.plan()?;
    let live = args.watch.live_view(&mut plan, opts)?;
    let summary = session::record(&plan)?;
    if !args.watch.quiet {
        eprintln!(
            "leakwatch: watch ended ({}): {} samples and {} profiles in {}",
            summary.reason.as_str(),
            summary.samples,
            summary.profiles_stored,
            summary.dir.display()
        );
    }
    let judgement = analysis::judge(&summary.dir, &opts)?;
    verdict_output::show(&judgement, args.json, &args.pictures)?;
    if let Some(live) = live {
        live.finish_with(&judgement);
        // An open page polls every two seconds: long enough for it to
        // fetch the final verdict, which it then keeps after we exit.
        std::thread::sleep(LINGER);
    }
    Ok(Outcome::of(judgement.verdict.verdict))
}
