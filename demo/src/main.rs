//! `leakwatch-demo`: the demo service. `leakwatch demo` starts this binary
//! and watches it; it can also be run by hand:
//!
//! ```sh
//! leakwatch-demo --addr 127.0.0.1:6060 &
//! leakwatch top --binary target/release/leakwatch-demo http://127.0.0.1:6060/debug/pprof/heap
//! ```

use std::ffi::c_char;
use std::process::ExitCode;

use clap::Parser;

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc reads its options from this symbol before `main` runs (the
/// prefixed name, as tikv-jemallocator builds jemalloc with the `_rjem_`
/// prefix).
#[export_name = "_rjem_malloc_conf"]
pub static MALLOC_CONF: Option<&'static c_char> =
    // SAFETY: a pointer to the first byte of a static NUL-terminated string.
    Some(unsafe { &*leakwatch_demo::MALLOC_CONF.as_ptr() });

fn main() -> ExitCode {
    let cli = leakwatch_demo::DemoCli::parse();
    match leakwatch_demo::run(cli.service) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("leakwatch-demo: error: {err:#}");
            ExitCode::from(2)
        }
    }
}
