//! leakwatch: find the memory that grows until a service dies.
//!
//! This file only wires: parse the arguments, run the command, map its result
//! to an exit code (0 no leak / success, 1 leak, 2 error, 3 inconclusive).

mod analysis;
mod cli;
mod probe;
mod recording;
mod render;
mod source;
mod units;

use std::process::ExitCode;

use clap::Parser;

/// The system allocator, except in the demo service `leakwatch demo` starts,
/// which allocates with jemalloc to serve heap profiles (see
/// `leakwatch_demo::alloc`).
#[global_allocator]
static GLOBAL: leakwatch_demo::alloc::DemoAllocator = leakwatch_demo::alloc::DemoAllocator;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(code) => code.into(),
        Err(err) => {
            eprintln!("leakwatch: error: {err:#}");
            cli::Outcome::Error.into()
        }
    }
}
