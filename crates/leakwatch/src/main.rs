//! leakwatch: find the memory that grows until a service dies.
//!
//! This file only wires: parse the arguments, run the command, map its result
//! to an exit code (0 no leak / success, 1 leak, 2 error, 3 inconclusive).

mod analysis;
mod cli;
mod fleet;
mod output;
mod probe;
mod recording;
mod render;
mod serve;
mod session;
mod source;
mod units;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(code) => code.into(),
        Err(err) => {
            eprintln!("leakwatch: error: {}", message(&err));
            cli::Outcome::Error.into()
        }
    }
}

/// The error and its causes on one line, each said once: many errors name
/// their cause in their own message too, and anyhow's `{:#}` would repeat it.
fn message(err: &anyhow::Error) -> String {
    let mut message = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if message.contains(&text) {
            continue;
        }
        if !message.is_empty() {
            message.push_str(": ");
        }
        message.push_str(&text);
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("new profile: {source}")]
    struct Outer {
        source: std::io::Error,
    }

    #[test]
    fn a_cause_already_in_the_message_is_not_repeated() {
        let err = anyhow::Error::new(Outer {
            source: std::io::Error::other("unknown sample type \"bogus\""),
        })
        .context("cannot diff a and b");
        assert_eq!(
            message(&err),
            "cannot diff a and b: new profile: unknown sample type \"bogus\""
        );
        let plain = anyhow::anyhow!("refused").context("fetching x");
        assert_eq!(message(&plain), "fetching x: refused");
    }
}
