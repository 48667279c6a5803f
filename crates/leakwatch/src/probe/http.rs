//! Fetching over HTTP with every bound a long-running scraper needs: a
//! connect timeout, a per-read timeout, a total deadline and a body-size cap.
//!
//! Failures are typed ([`FetchError`]) so that a watcher can record *what*
//! went wrong as an event and keep going, and so that `top URL` can tell the
//! user which URL misbehaved and how.

use std::io;
use std::time::Duration;

use leakwatch_profile::{decode, Limits, Profile};

/// Bounds of one fetch.
#[derive(Debug, Clone, Copy)]
pub struct FetchOptions {
    /// Longest wait for the TCP connection to be established.
    pub connect_timeout: Duration,
    /// Longest wait for any single read from the socket (headers or body).
    pub read_timeout: Duration,
    /// Longest the whole fetch may take, connection to last body byte.
    pub deadline: Duration,
    /// Largest body accepted, in bytes; a larger one is [`FetchError::Oversize`].
    pub max_body: u64,
}

impl Default for FetchOptions {
    fn default() -> Self {
        FetchOptions {
            connect_timeout: Duration::from_secs(5),
            read_timeout: Duration::from_secs(30),
            deadline: Duration::from_secs(60),
            max_body: 64 << 20,
        }
    }
}

impl FetchOptions {
    /// Options whose every timeout fits within `deadline`: connect at most
    /// 5 s, any read at most the whole deadline.
    pub fn with_deadline(deadline: Duration, max_body: u64) -> Self {
        FetchOptions {
            connect_timeout: deadline.min(Duration::from_secs(5)),
            read_timeout: deadline,
            deadline,
            max_body,
        }
    }
}

/// Why a fetch produced no usable body. Every variant names the URL.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The URL cannot be requested at all.
    #[error("{url}: not a usable http:// URL: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Nothing listens on the port.
    #[error("{url}: connection refused (is the service running and the port right?)")]
    ConnectionRefused {
        /// The URL.
        url: String,
    },
    /// The connection could not be made for another reason (unknown host,
    /// network unreachable).
    #[error("{url}: cannot connect: {detail}")]
    Connect {
        /// The URL.
        url: String,
        /// The underlying error.
        detail: String,
    },
    /// A timeout or the total deadline passed.
    #[error("{url}: timed out ({phase}) after {}", crate::units::format_duration(*after))]
    Timeout {
        /// The URL.
        url: String,
        /// Which bound was hit: `connect`, `read` or `deadline`.
        phase: &'static str,
        /// The bound that was exceeded.
        after: Duration,
    },
    /// The server answered with a status other than 200.
    #[error("{url}: HTTP status {status}{}", snippet_suffix(body_start))]
    Status {
        /// The URL.
        url: String,
        /// The HTTP status code.
        status: u16,
        /// The first bytes of the response body, as text, for the event log.
        body_start: String,
    },
    /// The body is larger than [`FetchOptions::max_body`].
    #[error("{url}: body larger than the {} cap (raise it with --max-body)", crate::units::format_bytes(*limit as i64))]
    Oversize {
        /// The URL.
        url: String,
        /// The cap that was exceeded.
        limit: u64,
    },
    /// The connection closed before the announced body was complete.
    #[error("{url}: body truncated: {detail}")]
    Truncated {
        /// The URL.
        url: String,
        /// The underlying error.
        detail: String,
    },
    /// The response is an HTML page, typically a login page, proxy error or
    /// the pprof index instead of a profile.
    #[error("{url}: got an HTML page, not a profile (is this the pprof heap endpoint?)")]
    Html {
        /// The URL.
        url: String,
    },
    /// The body arrived but does not decode as a profile.
    #[error("{url}: not a profile: {detail}")]
    NotAProfile {
        /// The URL.
        url: String,
        /// Why decoding failed.
        detail: String,
    },
    /// Any other transport or protocol failure.
    #[error("{url}: {detail}")]
    Other {
        /// The URL.
        url: String,
        /// The underlying error.
        detail: String,
    },
}

fn snippet_suffix(body_start: &str) -> String {
    if body_start.is_empty() {
        String::new()
    } else {
        format!(": {body_start}")
    }
}

impl FetchError {
    /// A short stable name of the failure, as recorded in events:
    /// `invalid_url`, `connection_refused`, `connect`, `timeout`, `status`,
    /// `oversize`, `truncated`, `html`, `not_a_profile`, `other`.
    pub fn kind(&self) -> &'static str {
        match self {
            FetchError::InvalidUrl { .. } => "invalid_url",
            FetchError::ConnectionRefused { .. } => "connection_refused",
            FetchError::Connect { .. } => "connect",
            FetchError::Timeout { .. } => "timeout",
            FetchError::Status { .. } => "status",
            FetchError::Oversize { .. } => "oversize",
            FetchError::Truncated { .. } => "truncated",
            FetchError::Html { .. } => "html",
            FetchError::NotAProfile { .. } => "not_a_profile",
            FetchError::Other { .. } => "other",
        }
    }

    /// The URL that failed.
    pub fn url(&self) -> &str {
        match self {
            FetchError::InvalidUrl { url, .. }
            | FetchError::ConnectionRefused { url }
            | FetchError::Connect { url, .. }
            | FetchError::Timeout { url, .. }
            | FetchError::Status { url, .. }
            | FetchError::Oversize { url, .. }
            | FetchError::Truncated { url, .. }
            | FetchError::Html { url }
            | FetchError::NotAProfile { url, .. }
            | FetchError::Other { url, .. } => url,
        }
    }

    /// The HTTP status, for [`FetchError::Status`].
    pub fn status(&self) -> Option<u16> {
        match self {
            FetchError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// Fetches `url` with a GET and returns the body exactly as received (no
/// content decoding is negotiated, so gzip profiles stay gzip).
///
/// Only status 200 is a success; redirects are not followed, because a pprof
/// endpoint that redirects is almost always a login page in disguise.
pub fn fetch(url: &str, opts: &FetchOptions) -> Result<Vec<u8>, FetchError> {
    if !url.starts_with("http://") {
        return Err(FetchError::InvalidUrl {
            url: url.to_owned(),
            reason: "only plain http:// is supported (pprof endpoints are internal)".into(),
        });
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_connect(Some(opts.connect_timeout))
        .timeout_per_read(Some(opts.read_timeout))
        .timeout_global(Some(opts.deadline))
        .build()
        .into();
    let mut resp = agent.get(url).call().map_err(|e| classify(url, opts, e))?;
    let status = resp.status().as_u16();
    if status != 200 {
        // A little of the body makes the event useful ("404 page not found",
        // a proxy's error text); never more than that.
        let body_start = resp
            .body_mut()
            .with_config()
            .limit(512)
            .lossy_utf8(true)
            .read_to_string()
            .map(|s| one_line(&s, 200))
            .unwrap_or_default();
        return Err(FetchError::Status {
            url: url.to_owned(),
            status,
            body_start,
        });
    }
    if resp
        .body()
        .content_length()
        .is_some_and(|n| n > opts.max_body)
    {
        return Err(FetchError::Oversize {
            url: url.to_owned(),
            limit: opts.max_body,
        });
    }
    let is_html = resp.body().mime_type() == Some("text/html");
    let body = resp
        .body_mut()
        .with_config()
        .limit(opts.max_body)
        .read_to_vec()
        .map_err(|e| classify(url, opts, e))?;
    if is_html || looks_like_html(&body) {
        return Err(FetchError::Html {
            url: url.to_owned(),
        });
    }
    Ok(body)
}

/// Fetches `url` and checks that the body decodes as a profile (protobuf,
/// gzip or Go legacy text). Returns the bytes as received, for storing, and
/// the decoded profile.
pub fn fetch_profile(url: &str, opts: &FetchOptions) -> Result<(Vec<u8>, Profile), FetchError> {
    let body = fetch(url, opts)?;
    // Decompression may expand a body many times; bound it by the same cap so
    // one scrape cannot take unbounded memory.
    let limits = Limits {
        max_decompressed: opts.max_body.saturating_mul(16),
    };
    match decode(&body, &limits) {
        Ok(profile) => Ok((body, profile)),
        Err(e) => Err(FetchError::NotAProfile {
            url: url.to_owned(),
            detail: e.to_string(),
        }),
    }
}

fn looks_like_html(body: &[u8]) -> bool {
    let start = body.iter().position(|b| !b.is_ascii_whitespace());
    start.is_some_and(|i| body[i] == b'<')
}

fn one_line(s: &str, max_chars: usize) -> String {
    let flat: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(max_chars)
        .collect();
    flat.trim().to_owned()
}

fn classify(url: &str, opts: &FetchOptions, err: ureq::Error) -> FetchError {
    use ureq::Timeout as T;
    let url = url.to_owned();
    match err {
        ureq::Error::Timeout(which) => {
            let (phase, after) = match which {
                T::Connect | T::Resolve => ("connect", opts.connect_timeout),
                T::PerRead => ("read", opts.read_timeout),
                _ => ("deadline", opts.deadline),
            };
            FetchError::Timeout { url, phase, after }
        }
        ureq::Error::BodyExceedsLimit(limit) => FetchError::Oversize { url, limit },
        ureq::Error::HostNotFound => FetchError::Connect {
            url,
            detail: "host not found".into(),
        },
        ureq::Error::ConnectionFailed => FetchError::Connect {
            url,
            detail: "connection failed".into(),
        },
        ureq::Error::BadUri(reason) => FetchError::InvalidUrl { url, reason },
        ureq::Error::Io(e) => classify_io(url, opts, e),
        other => FetchError::Other {
            url,
            detail: other.to_string(),
        },
    }
}

fn classify_io(url: String, opts: &FetchOptions, e: io::Error) -> FetchError {
    match e.kind() {
        io::ErrorKind::ConnectionRefused => FetchError::ConnectionRefused { url },
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => FetchError::Timeout {
            url,
            phase: "read",
            after: opts.read_timeout,
        },
        io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset => FetchError::Truncated {
            url,
            detail: e.to_string(),
        },
        io::ErrorKind::NetworkUnreachable | io::ErrorKind::HostUnreachable => FetchError::Connect {
            url,
            detail: e.to_string(),
        },
        _ => FetchError::Other {
            url,
            detail: e.to_string(),
        },
    }
}

/// Where the profiles of a pprof endpoint are, derived from the `--pprof`
/// argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PprofEndpoints {
    /// The heap profile, without the `gc` parameter.
    pub heap: String,
    /// The goroutine profile, when it can be derived (a base URL, or a heap
    /// URL whose path ends in `/heap`).
    pub goroutine: Option<String>,
    /// Go's goroutine leak profile, beside the goroutine profile.
    pub goroutineleak: Option<String>,
    /// The heap profile in Go's legacy text form (`debug=1`), whose
    /// `# runtime.MemStats` trailer carries the runtime's statistics.
    pub runtime_stats: String,
}

impl PprofEndpoints {
    /// Interprets `--pprof URL`: a base (`http://host:port`, optionally
    /// ending in `/debug/pprof`) gets the standard paths appended; anything
    /// else is taken as the full URL of the heap endpoint.
    pub fn from_arg(arg: &str) -> Result<Self, String> {
        let rest = arg.strip_prefix("http://").ok_or_else(|| {
            format!("--pprof `{arg}`: write an http:// URL, e.g. http://127.0.0.1:6060")
        })?;
        let (authority, path_and_query) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        if authority.is_empty() {
            return Err(format!("--pprof `{arg}`: the URL has no host"));
        }
        let (path, query) = match path_and_query.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (path_and_query, None),
        };
        let trimmed = path.trim_end_matches('/');
        let base = format!("http://{authority}");
        if query.is_none() && (trimmed.is_empty() || trimmed.ends_with("/debug/pprof")) {
            let prefix = if trimmed.is_empty() {
                format!("{base}/debug/pprof")
            } else {
                format!("{base}{trimmed}")
            };
            return Ok(PprofEndpoints {
                heap: format!("{prefix}/heap"),
                goroutine: Some(format!("{prefix}/goroutine")),
                goroutineleak: Some(format!("{prefix}/goroutineleak")),
                runtime_stats: format!("{prefix}/heap?debug=1"),
            });
        }
        let heap = arg.to_owned();
        let dir = trimmed.strip_suffix("/heap").filter(|_| query.is_none());
        let beside = |name: &str| dir.map(|dir| format!("{base}{dir}/{name}"));
        let runtime_stats = with_query(&heap, "debug=1");
        Ok(PprofEndpoints {
            goroutine: beside("goroutine"),
            goroutineleak: beside("goroutineleak"),
            heap,
            runtime_stats,
        })
    }

    /// The heap URL as scraped: with `gc=1` when a forced GC is wanted.
    pub fn heap_url(&self, gc: bool) -> String {
        if gc {
            with_query(&self.heap, "gc=1")
        } else {
            self.heap.clone()
        }
    }
}

/// Appends `param` to the URL's query string.
fn with_query(url: &str, param: &str) -> String {
    if url.contains('?') {
        format!("{url}&{param}")
    } else {
        format!("{url}?{param}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_get_the_standard_paths() {
        for arg in [
            "http://127.0.0.1:6060",
            "http://127.0.0.1:6060/",
            "http://127.0.0.1:6060/debug/pprof/",
        ] {
            let e = PprofEndpoints::from_arg(arg).unwrap();
            assert_eq!(e.heap, "http://127.0.0.1:6060/debug/pprof/heap");
            assert_eq!(
                e.goroutine.as_deref(),
                Some("http://127.0.0.1:6060/debug/pprof/goroutine")
            );
            assert_eq!(
                e.runtime_stats,
                "http://127.0.0.1:6060/debug/pprof/heap?debug=1"
            );
            assert_eq!(
                e.heap_url(true),
                "http://127.0.0.1:6060/debug/pprof/heap?gc=1"
            );
        }
    }

    #[test]
    fn a_full_heap_url_is_kept_and_its_sibling_found() {
        let e = PprofEndpoints::from_arg("http://h:1/admin/pprof/heap").unwrap();
        assert_eq!(e.heap, "http://h:1/admin/pprof/heap");
        assert_eq!(
            e.goroutine.as_deref(),
            Some("http://h:1/admin/pprof/goroutine")
        );
        let e = PprofEndpoints::from_arg("http://h:1/mem?seconds=0").unwrap();
        assert_eq!(e.goroutine, None);
        assert_eq!(e.heap_url(true), "http://h:1/mem?seconds=0&gc=1");
        assert_eq!(e.runtime_stats, "http://h:1/mem?seconds=0&debug=1");
    }

    #[test]
    fn non_http_urls_are_refused_with_the_flag_named() {
        let err = PprofEndpoints::from_arg("https://h/").unwrap_err();
        assert!(err.contains("--pprof"), "{err}");
        assert!(PprofEndpoints::from_arg("http:///x").is_err());
    }

    #[test]
    fn html_is_recognised_after_whitespace() {
        assert!(looks_like_html(b"\n  <!DOCTYPE html>"));
        assert!(!looks_like_html(b"\x1f\x8b\x08"));
        assert!(!looks_like_html(
            b"heap profile: 1: 2 [3: 4] @ heap/1048576"
        ));
    }
}
