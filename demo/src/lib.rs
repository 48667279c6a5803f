//! The seed's leak in Rust: a small HTTP service whose per-request cache only
//! ever grows, and the same service fixed with a bounded LRU.
//!
//! It allocates with jemalloc, heap profiling on, and serves the profile in
//! pprof format at `/debug/pprof/heap` through `jemalloc_pprof`. The profile's
//! frames are bare addresses (unless the `symbolize-in-process` feature is
//! on): naming them is leakwatch's job. A built-in load driver calls the
//! handler at a steady rate, so the demo needs nothing else.
//!
//! The `leakwatch-demo` binary runs it, with jemalloc as its global
//! allocator; `leakwatch demo` starts that binary and watches it. leakwatch
//! itself never links this package: a profiler's own binary keeps the
//! system allocator and no web framework.
//!
//! ```no_run
//! use clap::Parser;
//! #[derive(Parser)]
//! struct Cli {
//!     #[command(flatten)]
//!     service: leakwatch_demo::ServiceArgs,
//! }
//! let cli = Cli::parse_from(["leakwatch-demo", "--fixed"]);
//! leakwatch_demo::run(cli.service).unwrap();
//! ```

pub mod cache;
pub mod load;
pub mod service;

use std::net::SocketAddr;
use std::num::NonZeroUsize;

/// jemalloc's options for the service: profiling on from the start, one
/// sample per 2^15 = 32 KiB allocated on average. At the default 200
/// requests/s the cache grows by ~200 KiB/s, so a minute of leaking yields a
/// few hundred samples on the cache's stack — enough for a clear trend —
/// while the sampling costs well under 1% of a core.
pub const MALLOC_CONF: &std::ffi::CStr = c"prof:true,prof_active:true,lg_prof_sample:15";

/// The environment variable a prefixed jemalloc (tikv-jemallocator's
/// default) reads its options from, to override [`MALLOC_CONF`].
pub const MALLOC_CONF_ENV: &str = "_RJEM_MALLOC_CONF";

/// How to run the demo service.
#[derive(Debug, Clone, clap::Args)]
pub struct ServiceArgs {
    /// Run the fixed service: a bounded LRU instead of the unbounded map.
    #[arg(long)]
    pub fixed: bool,
    /// Requests per second the built-in load driver sends to the handler
    /// (0: none; drive it yourself with `GET /work`).
    #[arg(long, default_value_t = 200)]
    pub rate: u32,
    /// Where to listen; port 0 picks a free one. The address is printed as
    /// `listening on http://HOST:PORT`.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub addr: SocketAddr,
    /// How many entries the fixed service's LRU keeps (~1 KiB each). Small
    /// enough that at the default rate it is full within seconds, and the
    /// heap visibly stops growing during a one-minute demo.
    #[arg(long, default_value_t = NonZeroUsize::new(500).expect("nonzero"))]
    pub capacity: NonZeroUsize,
}

/// The `leakwatch-demo` command line.
#[derive(Debug, clap::Parser)]
#[command(name = "leakwatch-demo", version, about)]
pub struct DemoCli {
    #[command(flatten)]
    pub service: ServiceArgs,
}

/// Runs the service until SIGTERM or SIGINT.
///
/// Fails when jemalloc heap profiling is off in this process (the binary
/// must allocate with jemalloc and set [`MALLOC_CONF`]), or when the address
/// cannot be bound.
pub fn run(args: ServiceArgs) -> anyhow::Result<()> {
    if jemalloc_pprof::PROF_CTL.is_none() {
        anyhow::bail!(
            "jemalloc heap profiling is off in this process; run the service as \
             the `leakwatch-demo` binary (it sets jemalloc's options), and do not turn \
             profiling off in {MALLOC_CONF_ENV}"
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(service::serve(args))
}
