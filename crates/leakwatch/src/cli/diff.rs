//! `leakwatch diff BASE NEW` and `leakwatch diff URL --wait DURATION`.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use leakwatch_profile::aggregate::AggregateError;
use leakwatch_profile::diff::{diff, diff_profile, DiffError, Side};
use leakwatch_profile::{encode_gzip, Profile, ScannedProfile};

use crate::cli::top::TableArgs;
use crate::cli::Outcome;
use crate::render::table::Kind;
use crate::source::Source;
use crate::units::{format_duration, parse_duration};

/// Show what grew between two heap profiles, like `go tool pprof -diff_base`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  leakwatch diff old.pb.gz new.pb.gz
  leakwatch diff --by line -n 20 old.pb.gz new.pb.gz
  leakwatch diff http://localhost:6060/debug/pprof/heap --wait 10m
  leakwatch diff old.pb.gz new.pb.gz --output diff.pb.gz && go tool pprof -top diff.pb.gz

Values are new minus base, as with `go tool pprof -diff_base`; rows are
sorted by growth, largest increase first.")]
pub struct DiffArgs {
    /// The older profile: a file, `-` for stdin, or an http:// URL.
    pub base: String,
    /// The newer profile; leave out with `--wait` to fetch BASE (a URL) again.
    pub new: Option<String>,
    /// Fetch the URL, wait this long (`30s`, `10m`, `1h`), fetch it again and
    /// diff the two.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub wait: Option<Duration>,
    /// Also write the diff as a gzipped pprof profile (readable by
    /// `go tool pprof`, which shows the same numbers).
    #[arg(short = 'o', long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Also draw a differential flame graph (SVG) to FILE: widths from NEW,
    /// red where it grew, blue where it shrank.
    #[arg(long, value_name = "FILE")]
    pub flame: Option<PathBuf>,
    #[command(flatten)]
    pub table: TableArgs,
}

/// Runs `diff`.
pub fn run(args: DiffArgs) -> anyhow::Result<Outcome> {
    let limits = args.table.limits();
    if args.output.is_none() && args.flame.is_none() {
        // The table needs each sample once: scan them rather than decode
        // them, which on large profiles is most of the time and memory.
        let pair = load_pair(&args, |source| source.scan(&limits))?;
        return run_scanned(&args, pair);
    }
    let Pair {
        base_name,
        new_name,
        base,
        new,
        ..
    } = load_pair(&args, |source| source.load(&limits))?;
    let (mut base, mut new) = (base, new);
    args.table.symbolize(&base_name, &mut base);
    args.table.symbolize(&new_name, &mut new);
    let context = || format!("cannot diff {base_name} and {new_name}");
    let table = diff(&base, &new, &args.table.options()).with_context(context)?;
    if let Some(path) = &args.output {
        let merged = diff_profile(&base, &new).with_context(context)?;
        write_profile(path, &merged)?;
        std::mem::forget(merged);
    }
    if let Some(path) = &args.flame {
        let title = format!("{base_name} → {new_name}");
        let sample = args.table.sample_index.as_deref();
        crate::render::flame::write(path, &base, &new, sample, &title)?;
    }
    args.table.print(&table, Kind::Diff)?;
    // Freeing the profiles' millions of small allocations one by one takes
    // longer than diffing them; the process exits now and the OS takes the
    // memory back at once.
    std::mem::forget((base, new));
    Ok(Outcome::Ok)
}

/// `diff` when only the table is wanted.
fn run_scanned(args: &DiffArgs, pair: Pair<ScannedProfile>) -> anyhow::Result<Outcome> {
    let Pair {
        base_name,
        new_name,
        base_source,
        new_source,
        base,
        new,
    } = pair;
    let (mut base, mut new) = (base, new);
    args.table.symbolize(&base_name, base.tables_mut());
    args.table.symbolize(&new_name, new.tables_mut());
    let table = diff(&base, &new, &args.table.options()).map_err(|e| match e {
        // A sample that does not decode: reported as when decoding.
        DiffError::Aggregate {
            side,
            source: AggregateError::Sample(e),
        } => {
            let source = if side == Side::Base {
                &base_source
            } else {
                &new_source
            };
            source.decode_error(e)
        }
        e => anyhow::Error::new(e).context(format!("cannot diff {base_name} and {new_name}")),
    })?;
    args.table.print(&table, Kind::Diff)?;
    std::mem::forget((base, new));
    Ok(Outcome::Ok)
}

/// The two profiles of a diff, however they were read, and their names.
struct Pair<T> {
    /// How messages name the base: its file or URL, or for `--wait` the URL
    /// and which fetch.
    base_name: String,
    new_name: String,
    /// Where each was read from.
    base_source: Source,
    new_source: Source,
    base: T,
    new: T,
}

/// Reads BASE and NEW (side by side), or the URL twice with `--wait`, each
/// with `load`.
fn load_pair<T: Send>(
    args: &DiffArgs,
    load: impl Fn(&Source) -> anyhow::Result<T> + Sync,
) -> anyhow::Result<Pair<T>> {
    let base_source = Source::parse(&args.base);
    match (&args.new, args.wait) {
        (Some(new_arg), None) => {
            let new_source = Source::parse(new_arg);
            if base_source == Source::Stdin && new_source == Source::Stdin {
                bail!("BASE and NEW cannot both be `-`: standard input holds one profile");
            }
            // The two reads are independent: run them side by side.
            let (base, new) = std::thread::scope(|s| {
                let base = s.spawn(|| load(&base_source));
                let new = load(&new_source);
                let base = base
                    .join()
                    .unwrap_or_else(|_| Err(anyhow!("decoding the base profile panicked")));
                (base, new)
            });
            Ok(Pair {
                base_name: base_source.name().to_owned(),
                new_name: new_source.name().to_owned(),
                base: base?,
                new: new?,
                base_source,
                new_source,
            })
        }
        (None, Some(wait)) => {
            if !base_source.is_url() {
                bail!(
                    "--wait needs an http:// URL to fetch twice, got {:?}; to compare two files, give both: leakwatch diff BASE NEW",
                    args.base
                );
            }
            let (base, new) = fetch_twice(&base_source, wait, load)?;
            let url = base_source.name();
            Ok(Pair {
                base_name: format!("{url} (first fetch)"),
                new_name: format!("{url} (after {})", format_duration(wait)),
                new_source: base_source.clone(),
                base_source,
                base,
                new,
            })
        }
        (Some(_), Some(_)) => {
            bail!("--wait fetches one URL twice; give either BASE NEW, or one URL with --wait")
        }
        (None, None) => bail!(
            "diff needs two profiles (leakwatch diff BASE NEW) or one URL and --wait (leakwatch diff URL --wait 10m)"
        ),
    }
}

fn write_profile(path: &PathBuf, profile: &Profile) -> anyhow::Result<()> {
    std::fs::write(path, encode_gzip(profile)).with_context(|| {
        format!(
            "cannot write --output {}: check that the directory exists and is writable",
            path.display()
        )
    })
}

/// Fetches and reads `source` now and again after `wait`, showing a
/// countdown on stderr when it is a terminal. The first profile is read
/// before waiting, so that a wrong URL fails at once, not ten minutes later.
fn fetch_twice<T>(
    source: &Source,
    wait: Duration,
    load: impl Fn(&Source) -> anyhow::Result<T>,
) -> anyhow::Result<(T, T)> {
    let first = load(source)?;
    countdown(wait);
    let second = load(source)?;
    Ok((first, second))
}

fn countdown(wait: Duration) {
    let mut stderr = std::io::stderr();
    let interactive = stderr.is_terminal();
    let until = Instant::now() + wait;
    if !interactive {
        let _ = writeln!(
            stderr,
            "leakwatch: waiting {} before the second fetch",
            format_duration(wait)
        );
        std::thread::sleep(wait);
        return;
    }
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        // Whole seconds, rounded up, so the display never shows 0s early.
        let shown = Duration::from_secs(left.as_secs() + u64::from(left.subsec_nanos() > 0));
        let _ = write!(stderr, "\r\x1b[Ksecond fetch in {}", format_duration(shown));
        let _ = stderr.flush();
        std::thread::sleep(left.min(Duration::from_secs(1)));
    }
    let _ = write!(stderr, "\r\x1b[K");
    let _ = stderr.flush();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::top::{run as top, By, TopArgs};
    use leakwatch_profile::{encode, Function, Line, Location, Sample, ValueType};

    fn table_args() -> TableArgs {
        TableArgs {
            by: By::Function,
            sample_index: None,
            nodecount: None,
            json: false,
            max_decompressed: 1 << 30,
            binary: None,
        }
    }

    /// A profile with two sample types; `short` gives its last sample one
    /// value only.
    fn profile(short: bool) -> Vec<u8> {
        let mut p = Profile::default();
        let (space, bytes) = (p.intern("inuse_space"), p.intern("bytes"));
        p.sample_types = vec![
            ValueType {
                ty: space,
                unit: bytes
            };
            2
        ];
        let name = p.intern("main.leak");
        p.functions.push(Function {
            id: 1,
            name,
            ..Function::default()
        });
        p.locations.push(Location {
            id: 1,
            lines: vec![Line {
                function_id: 1,
                line: 3,
                column: 0,
            }],
            ..Location::default()
        });
        for values in [vec![1, 2], if short { vec![1] } else { vec![3, 4] }] {
            p.samples.push(Sample {
                location_ids: vec![1],
                values,
                labels: vec![],
            });
        }
        encode(&p)
    }

    /// A defect found only while the samples are read (the scan path) is
    /// reported as decoding reports it (the `--output` path): naming the
    /// file it is in.
    #[test]
    fn a_malformed_sample_is_reported_with_its_file_on_both_paths() {
        let dir = tempfile::tempdir().unwrap();
        let path = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
        std::fs::write(path("good.pb"), profile(false)).unwrap();
        std::fs::write(path("bad.pb"), profile(true)).unwrap();
        let expected = |file: &str| {
            format!(
                "reading {}: sample 1 has 1 values, but the profile has 2 sample types",
                path(file)
            )
        };
        let diff = |base: &str, new: &str, output: Option<PathBuf>| {
            let args = DiffArgs {
                base: path(base),
                new: Some(path(new)),
                wait: None,
                output,
                flame: None,
                table: table_args(),
            };
            format!("{:#}", run(args).unwrap_err())
        };
        let out = Some(dir.path().join("out.pb.gz"));
        for (base, new) in [
            ("bad.pb", "good.pb"),
            ("good.pb", "bad.pb"),
            ("bad.pb", "bad.pb"),
        ] {
            let culprit = if base == "bad.pb" { base } else { new };
            assert_eq!(diff(base, new, None), expected(culprit));
            assert_eq!(diff(base, new, out.clone()), expected(culprit));
        }
        let top_args = TopArgs {
            profile: path("bad.pb"),
            table: table_args(),
        };
        assert_eq!(
            format!("{:#}", top(top_args).unwrap_err()),
            expected("bad.pb")
        );
    }
}
