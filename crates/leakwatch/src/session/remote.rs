//! A target watched without a PID, known only by what it serves: its
//! memory samples come from its Prometheus metrics when it has them, else
//! from the Go runtime statistics each profile round already fetches.

use std::time::Duration;

use crate::probe::http::{fetch_profile, FetchError, FetchOptions, PprofEndpoints};
use crate::probe::metrics::{self, fetch_metrics, Metrics};

/// Where a remote target's memory figure comes from: `meta.json`'s
/// `target.memory_source`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemorySource {
    /// `process_resident_memory_bytes` of `/metrics`, every sample
    /// interval.
    Metrics,
    /// `Sys − HeapReleased` of the `debug=1` heap profile's
    /// `# runtime.MemStats`, every profile round (the round fetches it
    /// anyway; nothing more is asked of the target).
    RuntimeStats,
}

impl MemorySource {
    /// The name written in the recording.
    pub fn as_str(self) -> &'static str {
        match self {
            MemorySource::Metrics => "metrics",
            MemorySource::RuntimeStats => "runtime_stats",
        }
    }
}

/// The remote target: where its memory comes from, and the process start
/// time last seen, to tell a restart.
#[derive(Debug)]
pub struct Remote {
    /// Where the memory samples come from.
    pub source: MemorySource,
    /// The metrics URL (used when `source` is [`MemorySource::Metrics`]).
    pub metrics_url: String,
    fetch: FetchOptions,
    start_time: Option<f64>,
    restarts: u32,
}

/// One read of the metrics.
#[derive(Debug)]
pub struct Reading {
    /// What `/metrics` said.
    pub metrics: Metrics,
    /// `(old, new)` `process_start_time_seconds` when it changed since the
    /// last reading: the target restarted.
    pub restarted: Option<(f64, f64)>,
    /// Restarts seen so far, this one included.
    pub restarts: u32,
}

impl Remote {
    /// Checks that the target answers at `endpoints` and chooses the memory
    /// source: `metrics_url` (`--metrics`, which must then serve
    /// `process_resident_memory_bytes`) or `/metrics` beside the pprof
    /// endpoint when it serves it, else the runtime statistics. Each fetch
    /// here is bounded by `timeout` (a profile also by `max_body`); samples
    /// later by `sample_timeout`.
    pub fn connect(
        endpoints: &PprofEndpoints,
        metrics_url: Option<&str>,
        timeout: Duration,
        max_body: u64,
        sample_timeout: Duration,
        quiet: bool,
    ) -> anyhow::Result<Remote> {
        let opts = FetchOptions::with_deadline(timeout, metrics::MAX_METRICS_BODY);
        let runtime = fetch_profile(&endpoints.runtime_stats, &FetchOptions { max_body, ..opts })
            .map_err(|e| anyhow::anyhow!("--pprof: {e}"))?;
        let has_runtime_stats = runtime.1.memstats.is_some();

        let (url, explicit) = match metrics_url {
            Some(u) => (u.to_owned(), true),
            None => (
                metrics::beside_pprof(&endpoints.heap).unwrap_or_default(),
                false,
            ),
        };
        let why_not = match fetch_metrics(&url, &opts) {
            Ok(m) if m.resident.is_some() => {
                return Ok(Remote {
                    source: MemorySource::Metrics,
                    metrics_url: url,
                    fetch: FetchOptions::with_deadline(sample_timeout, metrics::MAX_METRICS_BODY),
                    start_time: m.start_time,
                    restarts: 0,
                });
            }
            Ok(_) => format!("{url}: no process_resident_memory_bytes"),
            Err(e) => e.to_string(),
        };
        if explicit {
            anyhow::bail!("--metrics: {why_not}");
        }
        if !has_runtime_stats {
            anyhow::bail!(
                "--pprof {}: nothing to take the memory from without a PID: {why_not}, and the debug=1 heap profile has no `# runtime.MemStats` (not a Go program?)",
                endpoints.heap
            );
        }
        if !quiet {
            eprintln!(
                "leakwatch: {why_not}; memory is Go's runtime statistics (Sys − HeapReleased), read each profile round"
            );
        }
        Ok(Remote {
            source: MemorySource::RuntimeStats,
            metrics_url: url,
            fetch: FetchOptions::with_deadline(sample_timeout, metrics::MAX_METRICS_BODY),
            start_time: None,
            restarts: 0,
        })
    }

    /// Reads the metrics once, noting a new process start time.
    pub fn read(&mut self) -> Result<Reading, FetchError> {
        let metrics = fetch_metrics(&self.metrics_url, &self.fetch)?;
        let restarted = match (self.start_time, metrics.start_time) {
            (Some(old), Some(new)) if new != old => Some((old, new)),
            _ => None,
        };
        if restarted.is_some() {
            self.restarts += 1;
        }
        if metrics.start_time.is_some() {
            self.start_time = metrics.start_time;
        }
        Ok(Reading {
            metrics,
            restarted,
            restarts: self.restarts,
        })
    }
}
