//! `leakwatch analyze`.

use crate::cli::Outcome;

/// Not built yet.
#[derive(Debug, clap::Args)]
pub struct AnalyzeArgs {}

/// Runs `analyze`.
pub fn run(_args: AnalyzeArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("`analyze` is not implemented yet")
}
