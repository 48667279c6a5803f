//! `leakwatch fleet`: which instances leak, judged from the memory history
//! Prometheus already holds.
//!
//! [`prometheus`] fetches, [`plan`] decides the step and the batches,
//! [`chains`] turns series into lifetimes, and each chain is judged by
//! [`crate::analysis::decide`], the verdict `analyze` gives, through
//! [`crate::analysis::Observations::from_memory`]. [`report`] ranks and
//! prints. Memory holds about four batches' samples at a time (two fetched,
//! one waiting, one judged); each judged series
//! keeps its figures and a sparkline of [`report::SPARK_POINTS`] values.

pub mod chains;
pub mod drill;
pub mod plan;
pub mod prometheus;
pub mod report;

use std::time::{Duration, UNIX_EPOCH};

use anyhow::bail;
use rayon::prelude::*;

use crate::analysis::verdict::{Decision, LimitSource, VerdictEventKind};
use crate::analysis::{decide, Observations, Options};
use crate::recording::Timestamp;
use plan::Selector;
use prometheus::{Labels, Prometheus};
use report::{Entry, Fleet};

/// What to judge.
#[derive(Debug, Clone)]
pub struct Request {
    /// The PromQL of the memory series.
    pub query: String,
    /// Window start, Unix seconds.
    pub start: i64,
    /// Window end, Unix seconds.
    pub end: i64,
    /// The step, seconds; `None` chooses one (see [`plan::auto_step`]).
    pub step: Option<i64>,
    /// Labels that join successive pods of one workload.
    pub group_by: Vec<String>,
    /// One limit for every series.
    pub limit: Option<u64>,
    /// A query giving each series' limit.
    pub limit_query: Option<String>,
}

/// Fetches, chains and judges every series of `req`; `progress(done,
/// total)` is told after each batch.
pub fn judge(
    prom: &Prometheus,
    req: &Request,
    progress: &mut dyn FnMut(usize, usize),
) -> anyhow::Result<Fleet> {
    if req.end <= req.start {
        bail!(
            "the window is empty: --end ({}) is not after --start ({})",
            req.end,
            req.start
        );
    }
    let selector = Selector::parse(&req.query);
    let batches = match &selector {
        Some(sel) => {
            let listed = prom.series(&sel.with(&sel.name, None), req.start, req.end)?;
            if listed.is_empty() {
                bail!(
                    "{}: no series match `{}` between {} and {}",
                    prom.url("series"),
                    req.query,
                    rfc3339(req.start),
                    rfc3339(req.end)
                );
            }
            plan::batches(&listed, &req.group_by)
        }
        None => vec![plan::Batch { matcher: None }],
    };
    let step = match req.step {
        Some(s) => s,
        None => plan::auto_step(req.end - req.start, scrape_interval(prom, req, &selector)?),
    };
    let limits = match &req.limit_query {
        Some(q) => {
            let l = prom.query(q, req.end)?;
            if l.is_empty() {
                bail!(
                    "{}: --limit-query `{q}` gives no series at {}",
                    prom.url("query"),
                    rfc3339(req.end)
                );
            }
            l
        }
        None => Vec::new(),
    };

    // Batches are fetched while others are judged, two requests at a time:
    // Prometheus answers one query on one core, so two keep it busy on a
    // two-core machine while the trend tests take what is left. The
    // channel holds one batch, so memory stays at about four batches'
    // samples (two being fetched, one waiting, one being judged).
    let fetch = |batch: &plan::Batch| -> anyhow::Result<Vec<chains::Chain>> {
        let m = batch.matcher.as_deref();
        let query = selector
            .as_ref()
            .map_or_else(|| req.query.clone(), |s| s.with(&s.name, m));
        let memory = prom.query_range(&query, req.start, req.end, step)?;
        let starts = match &selector {
            Some(s) if s.name != START_TIME => {
                prom.query_range(&s.with(START_TIME, m), req.start, req.end, step)?
            }
            _ => Vec::new(),
        };
        Ok(chains::build(
            memory,
            &starts,
            &req.group_by,
            req.start as f64,
            step as f64,
        ))
    };
    let total = batches.len();
    let mut entries = Vec::new();
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        for _ in 0..FETCHERS.min(total) {
            let (tx, next, batches, fetch) = (tx.clone(), &next, &batches, &fetch);
            scope.spawn(move || {
                while let Some(batch) =
                    batches.get(next.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
                {
                    let fetched = fetch(batch);
                    let failed = fetched.is_err();
                    // A closed channel: the judge stopped at an error.
                    if tx.send(fetched).is_err() || failed {
                        return;
                    }
                }
            });
        }
        drop(tx);
        for (i, fetched) in rx.iter().enumerate() {
            let judged: Vec<Entry> = fetched?
                .par_iter()
                .map(|c| judge_chain(c, req, &limits))
                .collect();
            entries.extend(judged);
            progress(i + 1, total);
        }
        Ok(())
    })?;
    if entries.is_empty() {
        bail!(
            "{}: `{}` gives no series between {} and {}",
            prom.url("query_range"),
            req.query,
            rfc3339(req.start),
            rfc3339(req.end)
        );
    }
    report::rank(&mut entries);
    Ok(Fleet::new(prom.url(""), req, step, entries))
}

const START_TIME: &str = "process_start_time_seconds";

/// Range queries in flight at once.
const FETCHERS: usize = 2;

/// The scrape interval, from how many samples the last hour holds (a
/// plain selector only; other queries have no raw samples to count).
fn scrape_interval(
    prom: &Prometheus,
    req: &Request,
    selector: &Option<Selector>,
) -> anyhow::Result<Option<f64>> {
    let Some(sel) = selector else {
        return Ok(None);
    };
    let q = format!("count_over_time({}[1h])", sel.with(&sel.name, None));
    let mut counts: Vec<f64> = prom
        .query(&q, req.end)?
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    Ok(crate::analysis::stats::median(&mut counts)
        .filter(|&c| c >= 2.0)
        .map(|c| 3600.0 / c))
}

fn judge_chain(c: &chains::Chain, req: &Request, limits: &[(Labels, f64)]) -> Entry {
    let start = Timestamp(UNIX_EPOCH + Duration::from_secs(req.start.max(0) as u64));
    let end = Timestamp(UNIX_EPOCH + Duration::from_secs(req.end.max(0) as u64));
    let obs = Observations::from_memory(start, end, &c.t, &c.y, c.lifetimes.clone());
    let joined = chains::limit_for(&c.labels, limits, &req.group_by);
    let opts = match (req.limit, joined) {
        (Some(b), _) => Options {
            limit: Some(b),
            limit_source: LimitSource::Flag,
        },
        (None, Some(v)) => Options {
            limit: Some(v.max(0.0) as u64),
            limit_source: LimitSource::PrometheusQuery,
        },
        (None, None) => Options::default(),
    };
    let v = decide(&obs, &opts);
    // The verdict's sawtooth event also marks lifetimes that merely warmed
    // up before a deploy; as a fleet column it says how a leak shows.
    let sawtooth = v.verdict == Decision::Leak
        && v.events
            .iter()
            .any(|e| e.kind == VerdictEventKind::Sawtooth);
    Entry::new(c, req.start as f64, v, sawtooth)
}

fn rfc3339(unix: i64) -> String {
    crate::render::time_axis::rfc3339(unix as f64)
}
