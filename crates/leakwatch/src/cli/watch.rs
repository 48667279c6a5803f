//! `leakwatch watch`.

use crate::cli::Outcome;

/// Not built yet.
#[derive(Debug, clap::Args)]
pub struct WatchArgs {}

/// Runs `watch`.
pub fn run(_args: WatchArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("`watch` is not implemented yet")
}
