//! The drill-down: for the most urgent leaking instances, a few heap
//! profiles (`gc=1`) a short interval apart from the instance itself, and
//! the sites that grow between them, named by the verdict's own rules.
//!
//! The URL comes from `--pprof-template`, whose `{label}` placeholders are
//! filled from the series' labels (`http://{instance}/debug/pprof`). A
//! profile that cannot be fetched leaves that instance's `drill` null with
//! a warning on stderr: the fleet's verdicts stand without it.

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};

use super::prometheus::Labels;
use super::report::Entry;
use crate::analysis::series::{site_series, Series};
use crate::analysis::sites::{reduce, ProfileKind};
use crate::analysis::verdict::{growing_heap_sites, Decision, Site};
use crate::probe::http::{fetch_profile, FetchOptions, PprofEndpoints};

/// Profiles taken per instance: the fewest that let a site's own
/// Mann–Kendall test reach the verdict's 5% when it rises every time.
pub const ROUNDS: usize = 6;

/// How to drill.
#[derive(Debug, Clone)]
pub struct Drill {
    /// `--pprof-template`.
    pub template: String,
    /// How many leaking instances, most urgent first.
    pub top: usize,
    /// Time between two profiles of one instance.
    pub interval: Duration,
    /// Bounds of one profile fetch.
    pub fetch: FetchOptions,
}

/// Fills `drill` of the first `d.top` leaking entries (already ranked).
pub fn drill(d: &Drill, entries: &mut [Entry]) {
    for e in entries
        .iter_mut()
        .filter(|e| e.verdict == Decision::Leak)
        .take(d.top)
    {
        match sites_of(d, &e.labels) {
            Ok(sites) => e.drill = Some(sites),
            Err(err) => eprintln!("leakwatch: warning: no drill-down: {err:#}"),
        }
    }
}

fn sites_of(d: &Drill, labels: &Labels) -> anyhow::Result<Vec<Site>> {
    let base = fill(&d.template, labels)?;
    let url = PprofEndpoints::from_arg(&base)
        .map_err(|e| anyhow!("{e}"))?
        .heap_url(true);
    let started = Instant::now();
    let mut points = Series::default();
    let mut reduced = Vec::with_capacity(ROUNDS);
    for round in 0..ROUNDS {
        if round > 0 {
            std::thread::sleep(d.interval);
        }
        let (_, profile) = fetch_profile(&url, &d.fetch)?;
        let r = reduce(&profile, ProfileKind::Heap, round + 1 == ROUNDS)
            .map_err(|e| anyhow!("{url}: {e}"))?;
        points.push(started.elapsed().as_secs_f64(), r.total as f64, 0);
        reduced.push(r);
    }
    let refs: Vec<_> = reduced.iter().collect();
    Ok(growing_heap_sites(&points, &site_series(&refs)))
}

/// `template` with each `{label}` replaced by the label's value.
fn fill(template: &str, labels: &Labels) -> anyhow::Result<String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            bail!("--pprof-template `{template}`: `{{` without `}}`");
        };
        let name = &rest[open + 1..open + close];
        let value = labels.get(name).ok_or_else(|| {
            anyhow!("--pprof-template `{template}`: the series has no label `{name}`")
        })?;
        out.push_str(&rest[..open]);
        out.push_str(value);
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_take_labels() {
        let labels = Labels::from([
            ("instance".to_owned(), "10.0.0.7:6060".to_owned()),
            ("job".to_owned(), "api".to_owned()),
        ]);
        assert_eq!(
            fill("http://{instance}/debug/pprof", &labels).unwrap(),
            "http://10.0.0.7:6060/debug/pprof"
        );
        let err = fill("http://{pod}:6060", &labels).unwrap_err().to_string();
        assert!(err.contains("no label `pod`"), "{err}");
        assert!(fill("http://{instance", &labels).is_err());
    }
}
