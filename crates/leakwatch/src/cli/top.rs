//! `leakwatch top PROFILE`.

use crate::cli::Outcome;

/// Show the largest entries of a heap profile, like `go tool pprof -top`.
#[derive(Debug, clap::Args)]
pub struct TopArgs {
    /// Profile file, `-` for stdin, or an http(s) URL.
    pub profile: String,
}

/// Runs `top`.
pub fn run(_args: TopArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("not implemented yet")
}
