//! `leakwatch check`.

use crate::cli::Outcome;

/// Not built yet.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {}

/// Runs `check`.
pub fn run(_args: CheckArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("`check` is not implemented yet")
}
