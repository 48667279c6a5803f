//! `leakwatch analyze`: read a recording and give the verdict.
//!
//! For now it reads the recording and reports its window; the verdict
//! itself (trends, sites, time to limit) is issue 4's work and plugs in where
//! `inconclusive` is produced below.

use std::path::PathBuf;

use serde::Serialize;

use crate::cli::Outcome;
use crate::recording::{self, Event, Recording, Window};
use crate::units;

/// Read a recording made by `leakwatch watch` and decide whether the target
/// leaks.
#[derive(Debug, clap::Args)]
pub struct AnalyzeArgs {
    /// The recording directory.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,

    /// Print the verdict as JSON (schema `leakwatch.verdict/1`).
    #[arg(long)]
    pub json: bool,
}

/// The verdict JSON, as far as it is computed today.
#[derive(Debug, Serialize)]
struct VerdictJson {
    schema: &'static str,
    verdict: &'static str,
    kind: Vec<&'static str>,
    summary: String,
    window: Window,
    rss: Option<()>,
    heap: Option<()>,
    goroutines: Option<()>,
    limit: Option<()>,
    sites: Vec<()>,
    goroutine_sites: Vec<()>,
    events: Vec<EventJson>,
}

#[derive(Debug, Serialize)]
struct EventJson {
    time: recording::Timestamp,
    kind: &'static str,
    detail: String,
}

/// Runs `analyze`.
pub fn run(args: AnalyzeArgs) -> anyhow::Result<Outcome> {
    let rec = Recording::open(&args.dir)?;
    let window = recording::window(&rec);
    let summary = format!(
        "No verdict yet: {} of recording ({} RSS samples, {} heap and {} goroutine profiles){}.",
        units::format_duration(std::time::Duration::from_secs_f64(window.duration_seconds)),
        window.rss_samples,
        window.heap_profiles,
        window.goroutine_profiles,
        if rec.is_complete() {
            ""
        } else {
            "; the watch is still running or was killed"
        }
    );
    if args.json {
        let verdict = VerdictJson {
            schema: "leakwatch.verdict/1",
            verdict: "inconclusive",
            kind: Vec::new(),
            summary,
            window,
            rss: None,
            heap: None,
            goroutines: None,
            limit: None,
            sites: Vec::new(),
            goroutine_sites: Vec::new(),
            events: rec
                .events
                .iter()
                .filter(|e| !matches!(e.event, Event::End { .. } | Event::Unknown))
                .map(|e| EventJson {
                    time: e.time,
                    kind: e.event.kind(),
                    detail: e.detail.clone(),
                })
                .collect(),
        };
        println!("{}", serde_json::to_string_pretty(&verdict)?);
    } else {
        println!("inconclusive — {summary}");
        println!("window: {} → {}", window.start, window.end);
    }
    // Exit codes by verdict are `check`'s contract; `analyze` succeeded.
    Ok(Outcome::Ok)
}
