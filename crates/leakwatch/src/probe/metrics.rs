//! A target's Prometheus metrics (`/metrics` in the text exposition
//! format): the few process and Go runtime figures a watch without a PID
//! takes its memory samples from.

use super::http::{fetch, FetchError, FetchOptions};

/// Largest `/metrics` body read: a Go service's is a few tens of KiB; a
/// cap keeps one with millions of series from taking the watcher's memory.
pub const MAX_METRICS_BODY: u64 = 8 << 20;

/// The figures a remote watch uses, each absent when the target does not
/// serve it. (Go's heap and goroutines come with each profile round, more
/// precisely than `go_memstats_*` and `go_goroutines` would give them.)
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Metrics {
    /// `process_resident_memory_bytes`.
    pub resident: Option<f64>,
    /// `process_start_time_seconds`: a new value is a new process.
    pub start_time: Option<f64>,
}

impl Metrics {
    /// Reads the figures from a body in the text exposition format. Lines
    /// it does not know (other names, labelled series, comments) are
    /// skipped; so is a value that is not a finite number.
    pub fn parse(text: &str) -> Metrics {
        let mut m = Metrics::default();
        for line in text.lines() {
            let line = line.trim_start();
            if line.starts_with('#') {
                continue;
            }
            // `name value [timestamp]`; a labelled series (`name{…} value`)
            // splits off as a name containing `{`, which matches nothing.
            let mut fields = line.split_ascii_whitespace();
            let (Some(name), Some(value)) = (fields.next(), fields.next()) else {
                continue;
            };
            let slot = match name {
                "process_resident_memory_bytes" => &mut m.resident,
                "process_start_time_seconds" => &mut m.start_time,
                _ => continue,
            };
            if let Ok(v) = value.parse::<f64>() {
                if v.is_finite() {
                    *slot = Some(v);
                }
            }
        }
        m
    }
}

/// Fetches `url` and reads its metrics, the body bounded by
/// [`MAX_METRICS_BODY`] whatever `opts` allows.
pub fn fetch_metrics(url: &str, opts: &FetchOptions) -> Result<Metrics, FetchError> {
    let opts = FetchOptions {
        max_body: opts.max_body.min(MAX_METRICS_BODY),
        ..*opts
    };
    let body = fetch(url, &opts)?;
    let text = std::str::from_utf8(&body).map_err(|_| FetchError::NotAProfile {
        url: url.to_owned(),
        detail: "not UTF-8 text (is this a Prometheus /metrics page?)".into(),
    })?;
    Ok(Metrics::parse(text))
}

/// `/metrics` on the host and port of a `--pprof` URL.
pub fn beside_pprof(pprof: &str) -> Option<String> {
    let rest = pprof.strip_prefix("http://")?;
    let authority = rest.split(['/', '?']).next().filter(|a| !a.is_empty())?;
    Some(format!("http://{authority}/metrics"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_client_golangs_names_and_skips_the_rest() {
        let text = "# HELP process_resident_memory_bytes Resident memory size in bytes.\n\
            # TYPE process_resident_memory_bytes gauge\n\
            process_resident_memory_bytes 1.2345e+07\n\
            process_start_time_seconds 1.7e9 1700000000000\n\
            process_resident_memory_bytes{job=\"x\"} 99\n\
            go_goroutines 7\n\
            process_start_time_seconds NaN\n\
            garbage\n";
        let m = Metrics::parse(text);
        // The labelled series is another one; NaN is no value.
        assert_eq!(m.resident, Some(12_345_000.0));
        assert_eq!(m.start_time, Some(1.7e9));
    }

    #[test]
    fn metrics_sit_beside_the_pprof_endpoint() {
        for pprof in [
            "http://127.0.0.1:6060",
            "http://127.0.0.1:6060/debug/pprof/",
            "http://127.0.0.1:6060/debug/pprof/heap?seconds=1",
        ] {
            assert_eq!(
                beside_pprof(pprof).as_deref(),
                Some("http://127.0.0.1:6060/metrics")
            );
        }
        assert_eq!(beside_pprof("https://x"), None);
    }
}
