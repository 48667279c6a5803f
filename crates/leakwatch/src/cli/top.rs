//! `leakwatch top PROFILE`.

use leakwatch_profile::aggregate::{aggregate, AggregateError, Granularity, Options, Table};
use leakwatch_profile::Limits;

use crate::cli::Outcome;
use crate::output;
use crate::render::table::{self, Kind};
use crate::source::Source;
use crate::units::parse_bytes;

/// Show the largest entries of a heap profile, like `go tool pprof -top`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  leakwatch top heap.pb.gz
  leakwatch top --by line -n 20 heap.pb.gz
  leakwatch top -i alloc_space http://localhost:6060/debug/pprof/heap
  curl -s localhost:6060/debug/pprof/heap | leakwatch top --json -

The numbers are those of `go tool pprof -top` (inlined functions are rows of
their own; cum counts a function once per stack even under recursion).")]
pub struct TopArgs {
    /// Profile file (pprof protobuf, gzipped or not, or Go's `?debug=1`
    /// text), `-` for stdin, or an http:// URL.
    pub profile: String,
    #[command(flatten)]
    pub table: TableArgs,
}

/// The options `top` and `diff` share.
#[derive(Debug, Clone, clap::Args)]
pub struct TableArgs {
    /// What a row stands for.
    #[arg(long, value_enum, default_value_t = By::Function)]
    pub by: By,
    /// Sample type to show, by name (`inuse_space`, `alloc_objects`…) or
    /// number [default: the profile's default type, else the last one —
    /// `inuse_space` for Go heap profiles].
    #[arg(short = 'i', long = "sample-index", value_name = "TYPE")]
    pub sample_index: Option<String>,
    /// How many rows to show [default: 10; with --json, all].
    #[arg(short = 'n', long, value_name = "N")]
    pub nodecount: Option<usize>,
    /// Print the table as JSON (described in docs/json.md).
    #[arg(long)]
    pub json: bool,
    /// Refuse profiles that decompress to more than this (e.g. `512MiB`).
    #[arg(long, value_name = "SIZE", default_value = "2GiB", value_parser = parse_size)]
    pub max_decompressed: u64,
    /// The binary that produced an address-only profile (Rust with
    /// jemalloc, C/C++), to name its frames [default: each mapping's own
    /// path, when it exists and its build id matches].
    #[arg(long, value_name = "PATH")]
    pub binary: Option<std::path::PathBuf>,
}

/// `--by`: the granularity of the rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum By {
    /// One row per function (pprof's default).
    Function,
    /// One row per source line (pprof `-lines`).
    Line,
    /// One row per source file (pprof `-files`).
    File,
    /// One row per distinct call stack.
    Stack,
}

fn parse_size(s: &str) -> Result<u64, String> {
    let n = parse_bytes(s)?;
    if n == 0 {
        return Err("must be larger than zero".into());
    }
    Ok(n)
}

impl TableArgs {
    /// The aggregation options.
    pub fn options(&self) -> Options {
        Options {
            by: match self.by {
                By::Function => Granularity::Function,
                By::Line => Granularity::Line,
                By::File => Granularity::File,
                By::Stack => Granularity::Stack,
            },
            sample_index: self.sample_index.clone(),
        }
    }

    /// The decoding limits.
    pub fn limits(&self) -> Limits {
        Limits {
            max_decompressed: self.max_decompressed,
        }
    }

    /// Names the frames of an address-only profile from `--binary` (see
    /// `leakwatch_profile::symbolize`); what cannot be named is a warning.
    /// `profile` may be the tables of a scanned profile: naming frames
    /// changes only locations, functions and strings.
    pub fn symbolize(&self, name: &str, profile: &mut leakwatch_profile::Profile) {
        let report =
            leakwatch_profile::symbolize::symbolize_if_needed(profile, self.binary.as_deref());
        for warning in report.warnings {
            eprintln!("leakwatch: warning: {name}: {warning}");
        }
    }

    /// Prints `table` as text or JSON.
    pub fn print(&self, table: &Table, kind: Kind) -> anyhow::Result<()> {
        if self.json {
            output::println(&table::json(table, self.nodecount))
        } else {
            output::print(&table::text(table, kind, self.nodecount.unwrap_or(10)))
        }
    }
}

/// Runs `top`.
pub fn run(args: TopArgs) -> anyhow::Result<Outcome> {
    let source = Source::parse(&args.profile);
    // The table needs each sample once: scan them rather than decode them.
    let mut profile = source.scan(&args.table.limits())?;
    args.table.symbolize(source.name(), profile.tables_mut());
    let table = aggregate(&profile, &args.table.options()).map_err(|e| match e {
        AggregateError::Sample(e) => source.decode_error(e),
        e => anyhow::anyhow!("{}: {e}", source.name()),
    })?;
    args.table.print(&table, Kind::Top)?;
    // A text profile is decoded whole: freeing its many small allocations
    // one by one takes longer than aggregating it; the process exits now
    // and the OS takes the memory back at once.
    std::mem::forget(profile);
    Ok(Outcome::Ok)
}
