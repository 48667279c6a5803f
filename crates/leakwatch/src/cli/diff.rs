//! `leakwatch diff BASE NEW`.

use crate::cli::Outcome;

/// Show what grew between two heap profiles, like `go tool pprof -diff_base`.
#[derive(Debug, clap::Args)]
pub struct DiffArgs {
    /// The older profile.
    pub base: String,
    /// The newer profile.
    pub new: Option<String>,
}

/// Runs `diff`.
pub fn run(_args: DiffArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("not implemented yet")
}
