//! A client of the Prometheus HTTP API (and of what speaks it: Thanos,
//! Mimir, VictoriaMetrics): `query_range`, `query` and `series`, over
//! `http://` or `https://` (rustls, the system's CA roots plus
//! `--ca-cert`), with extra headers for tokens and tenants.
//!
//! Every failure is one line that names the endpoint's URL: a refused
//! connection, a timeout, a TLS failure, a 4xx/5xx with Prometheus' own
//! `error` quoted, or an answer that is not the API's JSON at all.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use serde::Deserialize;

use crate::probe::http::{classify, FetchOptions};

/// A series' labels, `__name__` included when Prometheus returns it.
pub type Labels = BTreeMap<String, String>;

/// Prometheus refuses a range query of more points per series than this.
pub const MAX_POINTS_PER_REQUEST: u64 = 11_000;

/// The largest answer read, bytes. A batch of the default size (see
/// `fleet::plan::BATCH_SERIES`) at the automatic step is a few MiB; a
/// larger answer means a query that selects far more than a fleet.
pub const MAX_BODY: u64 = 512 << 20;

/// One series of a range query: its labels and its points (Unix seconds,
/// value), finite values only.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RangeSeries {
    /// The labels.
    pub labels: Labels,
    /// Sample times, Unix seconds, increasing.
    pub t: Vec<f64>,
    /// The values.
    pub y: Vec<f64>,
}

/// How to reach the server.
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    /// The longest one request may take, connection to last byte.
    pub timeout: Duration,
    /// Extra request headers (`Authorization`, `X-Scope-OrgID`).
    pub headers: Vec<(String, String)>,
    /// A PEM file of CA certificates trusted besides the system's.
    pub ca_cert: Option<std::path::PathBuf>,
}

/// A connection to one Prometheus.
pub struct Prometheus {
    base: String,
    agent: ureq::Agent,
    headers: Vec<(String, String)>,
    fetch: FetchOptions,
    /// Warnings already printed; behind a lock, as the next batch is
    /// fetched on its own thread.
    warned: Mutex<BTreeSet<String>>,
}

impl Prometheus {
    /// Prepares requests to the server at `base` (`http://host:9090`, or
    /// with a path prefix such as `https://mimir/prometheus`).
    pub fn new(base: &str, opts: &ConnectOptions) -> anyhow::Result<Prometheus> {
        let https = base.starts_with("https://");
        if !https && !base.starts_with("http://") {
            bail!("--prometheus `{base}`: write an http:// or https:// URL, e.g. http://127.0.0.1:9090");
        }
        let fetch = FetchOptions::with_deadline(opts.timeout, MAX_BODY);
        let mut config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(3)
            .timeout_connect(Some(fetch.connect_timeout))
            .timeout_global(Some(fetch.deadline));
        if https || opts.ca_cert.is_some() {
            config = config.tls_config(tls(opts.ca_cert.as_deref())?);
        }
        Ok(Prometheus {
            base: base.trim_end_matches('/').to_owned(),
            agent: config.build().into(),
            headers: opts.headers.clone(),
            fetch,
            warned: Mutex::new(BTreeSet::new()),
        })
    }

    /// The URL of an API endpoint (`query_range`).
    pub fn url(&self, endpoint: &str) -> String {
        format!("{}/api/v1/{endpoint}", self.base)
    }

    /// `query` evaluated every `step` seconds from `start` to `end` (Unix
    /// seconds), split into requests of at most
    /// [`MAX_POINTS_PER_REQUEST`] points per series and joined again.
    pub fn query_range(
        &self,
        query: &str,
        start: i64,
        end: i64,
        step: i64,
    ) -> anyhow::Result<Vec<RangeSeries>> {
        let mut joined: BTreeMap<Labels, RangeSeries> = BTreeMap::new();
        for (from, to) in chunks(start, end, step) {
            let data: Matrix = self.call(
                "query_range",
                &[
                    ("query", query.to_owned()),
                    ("start", from.to_string()),
                    ("end", to.to_string()),
                    ("step", step.to_string()),
                ],
            )?;
            if data.result_type != "matrix" {
                bail!(
                    "{}: the query gave a {}, not a range of samples",
                    self.url("query_range"),
                    data.result_type
                );
            }
            for s in data.result {
                let out = joined
                    .entry(s.metric.clone())
                    .or_insert_with(|| RangeSeries {
                        labels: s.metric,
                        ..RangeSeries::default()
                    });
                for (t, v) in s.values {
                    if let Ok(v) = v.parse::<f64>() {
                        if v.is_finite() && out.t.last().is_none_or(|&last| t > last) {
                            out.t.push(t);
                            out.y.push(v);
                        }
                    }
                }
            }
        }
        Ok(joined.into_values().filter(|s| !s.t.is_empty()).collect())
    }

    /// `query` evaluated at `at` (Unix seconds): each series' labels and
    /// value.
    pub fn query(&self, query: &str, at: i64) -> anyhow::Result<Vec<(Labels, f64)>> {
        let data: Vector = self.call(
            "query",
            &[("query", query.to_owned()), ("time", at.to_string())],
        )?;
        if data.result_type != "vector" {
            bail!(
                "{}: `{query}` gave a {}, not one value per series",
                self.url("query"),
                data.result_type
            );
        }
        Ok(data
            .result
            .into_iter()
            .filter_map(|s| Some((s.metric, s.value.1.parse::<f64>().ok()?)))
            .filter(|(_, v)| v.is_finite())
            .collect())
    }

    /// The label sets of the series `selector` matches between `start` and
    /// `end`: small next to their samples, so a fleet can be planned in
    /// batches before any sample is read.
    pub fn series(&self, selector: &str, start: i64, end: i64) -> anyhow::Result<Vec<Labels>> {
        self.call(
            "series",
            &[
                ("match[]", selector.to_owned()),
                ("start", start.to_string()),
                ("end", end.to_string()),
            ],
        )
    }

    /// POSTs the form to the endpoint and returns its `data`; prints the
    /// answer's `warnings` on stderr, each once.
    fn call<T: serde::de::DeserializeOwned>(
        &self,
        endpoint: &str,
        form: &[(&str, String)],
    ) -> anyhow::Result<T> {
        let url = self.url(endpoint);
        let mut req = self.agent.post(&url);
        for (name, value) in &self.headers {
            req = req.header(name.as_str(), value.as_str());
        }
        let mut resp = req
            .send_form(form.iter().map(|(k, v)| (*k, v.as_str())))
            .map_err(|e| transport(&url, &self.fetch, e))?;
        let status = resp.status().as_u16();
        let is_html = resp.body().mime_type() == Some("text/html");
        let body = resp
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_vec()
            .map_err(|e| transport(&url, &self.fetch, e))?;
        let envelope: Envelope<T> = match serde_json::from_slice(&body) {
            Ok(e) if !is_html => e,
            parsed => {
                let looks_html = is_html || body.trim_ascii_start().starts_with(b"<");
                if status != 200 && !looks_html {
                    let text = String::from_utf8_lossy(&body[..body.len().min(300)]);
                    let text: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
                    bail!("{url}: HTTP status {status}: {text}");
                }
                let what = if is_html || body.trim_ascii_start().starts_with(b"<") {
                    "an HTML page".to_owned()
                } else if let Err(e) = parsed {
                    format!("something else ({e})")
                } else {
                    "something else".to_owned()
                };
                let status = if status == 200 {
                    String::new()
                } else {
                    format!("HTTP status {status}, ")
                };
                bail!("{url}: {status}not a Prometheus API answer: got {what} (is --prometheus the server's base URL?)");
            }
        };
        for w in envelope.warnings.iter().flatten() {
            if self
                .warned
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(w.clone())
            {
                eprintln!("leakwatch: warning: {url}: Prometheus says: {w}");
            }
        }
        if envelope.status != "success" || status != 200 {
            let kind = envelope.error_type.unwrap_or_default();
            let text = envelope.error.unwrap_or_else(|| "no error given".into());
            bail!("{url}: HTTP status {status}, Prometheus error ({kind}): {text}");
        }
        envelope
            .data
            .ok_or_else(|| anyhow!("{url}: the answer has no `data`"))
    }
}

/// `[from, to]` pieces of `[start, end]` of at most
/// [`MAX_POINTS_PER_REQUEST`] points each at `step`.
fn chunks(start: i64, end: i64, step: i64) -> Vec<(i64, i64)> {
    let step = step.max(1);
    let span = step * (MAX_POINTS_PER_REQUEST as i64 - 1);
    let mut out = Vec::new();
    let mut from = start;
    loop {
        let to = (from + span).min(end);
        out.push((from, to));
        if to >= end {
            return out;
        }
        from = to + step;
        if from > end {
            return out;
        }
    }
}

/// A transport failure as one line naming the URL; a TLS failure says
/// where trust comes from.
fn transport(url: &str, opts: &FetchOptions, e: ureq::Error) -> anyhow::Error {
    // rustls reports a bad certificate through the socket's io::Error.
    let tls = match &e {
        ureq::Error::Rustls(_) | ureq::Error::Tls(_) => true,
        ureq::Error::Io(io) => io
            .get_ref()
            .is_some_and(|i| i.to_string().contains("certificate")),
        _ => false,
    };
    if tls {
        return anyhow!("{url}: TLS failed: {e} (trust the server's CA with --ca-cert FILE)");
    }
    anyhow::Error::new(classify(url, opts, e))
}

/// The agent's TLS: the system's CA roots plus those of `extra`.
fn tls(extra: Option<&Path>) -> anyhow::Result<ureq::tls::TlsConfig> {
    use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};
    // A system without a CA bundle still works with --ca-cert; the
    // bundle's unreadable entries are skipped as rustls-native-certs does.
    let mut roots: Vec<Certificate<'static>> = rustls_native_certs::load_native_certs()
        .certs
        .iter()
        .map(|c| Certificate::from_der(c.as_ref()).to_owned())
        .collect();
    if let Some(path) = extra {
        let pem = std::fs::read(path)
            .with_context(|| format!("--ca-cert {}: cannot read", path.display()))?;
        let before = roots.len();
        for item in ureq::tls::parse_pem(&pem) {
            match item {
                Ok(PemItem::Certificate(c)) => roots.push(c),
                Ok(_) => {}
                Err(e) => bail!("--ca-cert {}: not a PEM certificate: {e}", path.display()),
            }
        }
        if roots.len() == before {
            bail!("--ca-cert {}: no certificate in it", path.display());
        }
    }
    Ok(TlsConfig::builder()
        .root_certs(RootCerts::new_with_certs(&roots))
        .build())
}

/// The API's JSON envelope.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope<T> {
    status: String,
    data: Option<T>,
    error_type: Option<String>,
    error: Option<String>,
    warnings: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Matrix {
    result_type: String,
    result: Vec<MatrixSeries>,
}

#[derive(Deserialize)]
struct MatrixSeries {
    metric: Labels,
    values: Vec<(f64, String)>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Vector {
    result_type: String,
    result: Vec<VectorSample>,
}

#[derive(Deserialize)]
struct VectorSample {
    metric: Labels,
    value: (f64, String),
}

/// Parses `Name: value`, as `--header` and `--header-file` lines are
/// written.
pub fn parse_header(line: &str) -> Result<(String, String), String> {
    let (name, value) = line
        .split_once(':')
        .ok_or_else(|| "write a header as `Name: value`".to_owned())?;
    let name = name.trim();
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_!#$%&'*+.^`|~".contains(&b));
    if !valid {
        return Err(format!("`{name}` is not a header name"));
    }
    Ok((name.to_owned(), value.trim().to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_split_at_eleven_thousand_points() {
        assert_eq!(chunks(0, 100, 10), vec![(0, 100)]);
        let c = chunks(0, 30_000, 1);
        assert_eq!(c, vec![(0, 10_999), (11_000, 21_999), (22_000, 30_000)]);
        for (from, to) in c {
            assert!(to - from < MAX_POINTS_PER_REQUEST as i64);
        }
    }

    #[test]
    fn headers_parse_and_bad_ones_are_named() {
        assert_eq!(
            parse_header("Authorization: Bearer a:b").unwrap(),
            ("Authorization".into(), "Bearer a:b".into())
        );
        assert!(parse_header("no colon").is_err());
        assert!(parse_header("bad name: x")
            .unwrap_err()
            .contains("bad name"));
    }
}
