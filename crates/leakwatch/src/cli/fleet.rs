//! `leakwatch fleet`: which instances leak, from Prometheus' history.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;

use crate::cli::Outcome;
use crate::fleet::drill::{drill, Drill};
use crate::fleet::prometheus::{parse_header, ConnectOptions, Prometheus};
use crate::fleet::{self, plan, report::Fleet, Request};
use crate::probe::http::FetchOptions;
use crate::units;

/// Judge every instance's memory history in Prometheus (or Thanos, Mimir)
/// with the method of `analyze`, and rank them by urgency. Exits 1 when any
/// instance leaks, 0 when none does, 3 when every series is inconclusive,
/// 2 on error.
#[derive(Debug, clap::Args)]
pub struct FleetArgs {
    /// The Prometheus server's base URL (http:// or https://).
    #[arg(long, value_name = "URL")]
    pub prometheus: String,

    /// The PromQL of the memory series, in bytes.
    #[arg(
        long,
        value_name = "PROMQL",
        default_value = "process_resident_memory_bytes"
    )]
    pub query: String,

    /// How far back from --end to look.
    #[arg(long, value_name = "DURATION", default_value = "7d", value_parser = units::parse_duration, conflicts_with = "start")]
    pub since: Duration,

    /// Window start: RFC 3339 or Unix seconds.
    #[arg(long, value_name = "TIME", value_parser = plan::parse_time)]
    pub start: Option<i64>,

    /// Window end: RFC 3339 or Unix seconds [default: now].
    #[arg(long, value_name = "TIME", value_parser = plan::parse_time)]
    pub end: Option<i64>,

    /// The query step [default: about 2,000 points per series, never
    /// below the scrape interval].
    #[arg(long, value_name = "DURATION", value_parser = units::parse_duration)]
    pub step: Option<Duration>,

    /// Labels that name one workload across pod replacements (e.g.
    /// namespace,container): its series are chained into one history of
    /// lifetimes.
    #[arg(long, value_name = "LABEL,...", value_delimiter = ',')]
    pub group_by: Vec<String>,

    /// One memory limit for every series (e.g. 2GiB).
    #[arg(long, value_name = "SIZE", value_parser = units::parse_bytes, conflicts_with = "limit_query")]
    pub limit: Option<u64>,

    /// PromQL giving each series' limit (e.g.
    /// container_spec_memory_limit_bytes), joined on the labels both share
    /// or on --group-by; read at --end.
    #[arg(long, value_name = "PROMQL")]
    pub limit_query: Option<String>,

    /// An HTTP header for every request, `Name: value` (repeatable): a
    /// bearer token, Mimir's X-Scope-OrgID.
    #[arg(long, value_name = "'NAME: VALUE'", value_parser = parse_header)]
    pub header: Vec<(String, String)>,

    /// Headers read from a file, one `Name: value` a line (`#` comments):
    /// keeps secrets off the command line [env: LEAKWATCH_HEADER_FILE].
    #[arg(long, value_name = "FILE")]
    pub header_file: Option<PathBuf>,

    /// A PEM file of CA certificates to trust besides the system's.
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,

    /// The longest one request to Prometheus may take.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = units::parse_duration)]
    pub timeout: Duration,

    /// Show only the N most urgent series in the table (the JSON has all).
    #[arg(long, value_name = "N")]
    pub top: Option<usize>,

    /// Print one JSON document (schema `leakwatch.fleet/1`, docs/json.md).
    #[arg(long)]
    pub json: bool,

    /// Also write a one-file HTML report: the ranked table and a plot of
    /// each leaking or borderline series.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,

    /// Drill into the most urgent leaking instances: their pprof base URL,
    /// with `{label}` filled from the series' labels (e.g.
    /// 'http://{instance}/debug/pprof'); each gets six heap profiles
    /// (gc=1) and the sites that grow between them.
    #[arg(long, value_name = "URL")]
    pub pprof_template: Option<String>,

    /// How many leaking instances to drill into.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 3,
        requires = "pprof_template"
    )]
    pub drill: usize,

    /// Time between two profiles of a drill-down.
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = units::parse_duration, requires = "pprof_template")]
    pub drill_interval: Duration,
}

/// Runs `fleet`.
pub fn run(args: FleetArgs) -> anyhow::Result<Outcome> {
    let mut headers = args.header.clone();
    let header_file = args
        .header_file
        .clone()
        .or_else(|| std::env::var_os("LEAKWATCH_HEADER_FILE").map(PathBuf::from));
    if let Some(path) = &header_file {
        headers.extend(read_header_file(path)?);
    }
    let prom = Prometheus::new(
        &args.prometheus,
        &ConnectOptions {
            timeout: args.timeout,
            headers,
            ca_cert: args.ca_cert.clone(),
        },
    )?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let end = args.end.unwrap_or(now);
    let start = args
        .start
        .unwrap_or(end - args.since.as_secs().max(1) as i64);
    if args.step.is_some_and(|s| s.as_secs() == 0) {
        anyhow::bail!("--step: write at least 1s");
    }
    let req = Request {
        query: args.query.clone(),
        start,
        end,
        step: args.step.map(|s| s.as_secs() as i64),
        group_by: args.group_by.clone(),
        limit: args.limit,
        limit_query: args.limit_query.clone(),
    };
    let show = std::io::stderr().is_terminal();
    let mut progress = |done: usize, total: usize| {
        if show && total > 1 {
            eprint!("\rleakwatch: fetched {done}/{total} batches");
            if done == total {
                eprintln!();
            }
            let _ = std::io::stderr().flush();
        }
    };
    let mut fleet = fleet::judge(&prom, &req, &mut progress)?;
    if let Some(template) = &args.pprof_template {
        let d = Drill {
            template: template.clone(),
            top: args.drill,
            interval: args.drill_interval,
            fetch: FetchOptions::with_deadline(args.timeout, FetchOptions::default().max_body),
        };
        drill(&d, &mut fleet.series);
    }
    if let Some(path) = &args.html {
        use crate::render::{write_output, Exporter, Html};
        write_output(path, "--html", &Html.export(&fleet)?)?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&fleet)?);
    } else {
        print!("{}", fleet.text(args.top));
    }
    Ok(outcome(&fleet))
}

/// 1 when any series leaks; 3 when every one is inconclusive; else 0.
fn outcome(f: &Fleet) -> Outcome {
    if f.counts.leak > 0 {
        Outcome::Leak
    } else if f.counts.inconclusive == f.series.len() {
        Outcome::Inconclusive
    } else {
        Outcome::Ok
    }
}

fn read_header_file(path: &std::path::Path) -> anyhow::Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("--header-file {}: cannot read", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(|(i, l)| {
            parse_header(l).map_err(|e| {
                anyhow::anyhow!("--header-file {} line {}: {e}", path.display(), i + 1)
            })
        })
        .collect()
}
