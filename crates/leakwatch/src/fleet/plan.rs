//! What to ask Prometheus for: the time range, the step, and the batches
//! that keep memory bounded however many series the query selects.

use std::collections::{BTreeMap, BTreeSet};

use super::prometheus::Labels;

/// The automatic step aims at about this many points per series: enough
/// for the trend tests (they bin above 20,000 anyway) and cheap to fetch.
pub const TARGET_POINTS: i64 = 2_000;

/// A batch asks for at most about this many series (a label value shared
/// by more series is still one batch). With [`TARGET_POINTS`] per series
/// that is 400,000 samples, some 10 MiB of JSON, the bound on what one
/// answer holds in memory; small enough that fetching the next batch
/// overlaps judging this one over most of a large fleet.
pub const BATCH_SERIES: usize = 200;

/// Parses `--start`/`--end`: RFC 3339 (`2026-11-30T12:00:00Z`) or Unix
/// seconds (`1764504000`, fractions allowed).
pub fn parse_time(s: &str) -> Result<i64, String> {
    if let Ok(secs) = s.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            return Ok(secs.floor() as i64);
        }
    }
    humantime::parse_rfc3339_weak(s)
        .or_else(|_| humantime::parse_rfc3339(s))
        .map(|t| {
            t.duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64)
        })
        .map_err(|_| format!("`{s}` is neither RFC 3339 (2026-11-30T12:00:00Z) nor Unix seconds"))
}

/// The step, seconds: `span / TARGET_POINTS` rounded up to a whole
/// minute (or second below one), never below the scrape `interval`: a
/// finer step only repeats samples.
pub fn auto_step(span: i64, interval: Option<f64>) -> i64 {
    let raw = (span as f64 / TARGET_POINTS as f64).ceil().max(1.0) as i64;
    let rounded = if raw > 60 { (raw + 59) / 60 * 60 } else { raw };
    let floor = interval.map_or(1, |i| i.ceil().max(1.0) as i64);
    rounded.max(floor)
}

/// A query that is one metric selector (`name` or `name{…}`), which a
/// batch can narrow with one more matcher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selector {
    /// The metric name.
    pub name: String,
    /// The matchers inside the braces, as written (empty when none).
    pub matchers: String,
}

impl Selector {
    /// Recognises a plain selector; `None` for any other PromQL.
    pub fn parse(query: &str) -> Option<Selector> {
        let q = query.trim();
        let name_end = q
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(q.len());
        let (name, rest) = q.split_at(name_end);
        if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
            return None;
        }
        let rest = rest.trim();
        if rest.is_empty() {
            return Some(Selector {
                name: name.to_owned(),
                matchers: String::new(),
            });
        }
        let inner = rest.strip_prefix('{')?.strip_suffix('}')?;
        // Braces or brackets inside would be a subquery or an expression.
        if inner.contains(['{', '}', '[', ']']) {
            return None;
        }
        Some(Selector {
            name: name.to_owned(),
            matchers: inner.trim().trim_end_matches(',').to_owned(),
        })
    }

    /// The selector of another metric with the same matchers plus `extra`.
    pub fn with(&self, name: &str, extra: Option<&str>) -> String {
        let parts: Vec<&str> = [Some(self.matchers.as_str()), extra]
            .into_iter()
            .flatten()
            .filter(|m| !m.is_empty())
            .collect();
        if parts.is_empty() {
            name.to_owned()
        } else {
            format!("{name}{{{}}}", parts.join(","))
        }
    }
}

/// One request's worth of series: the matcher added to the selector
/// (`None`: the query as given, in one batch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Batch {
    /// `label=~"v1|v2|…"`.
    pub matcher: Option<String>,
}

/// Splits the series `listed` into batches of about [`BATCH_SERIES`] by
/// the values of one label: among `prefer` (the `--group-by` labels, so a
/// workload's pods stay together) when given, else the label with the
/// most distinct values. Every series has exactly one value of it (a
/// missing label counts as the empty value, which `=~""` matches), so
/// every series is in exactly one batch.
pub fn batches(listed: &[Labels], prefer: &[String]) -> Vec<Batch> {
    if listed.len() <= BATCH_SERIES {
        return vec![Batch { matcher: None }];
    }
    let mut values: BTreeMap<&str, BTreeMap<&str, usize>> = BTreeMap::new();
    for labels in listed {
        for (k, v) in labels {
            if k != "__name__" {
                *values.entry(k).or_default().entry(v).or_default() += 1;
            }
        }
    }
    let candidates: Vec<&str> = if prefer.is_empty() {
        values.keys().copied().collect()
    } else {
        prefer.iter().map(String::as_str).collect()
    };
    let Some(label) = candidates
        .into_iter()
        .max_by_key(|k| values.get(k).map_or(0, BTreeMap::len))
    else {
        return vec![Batch { matcher: None }];
    };
    let mut counts = values.remove(label).unwrap_or_default();
    let missing = listed.iter().filter(|l| !l.contains_key(label)).count();
    if missing > 0 {
        *counts.entry("").or_default() += missing;
    }
    let mut out = Vec::new();
    let mut current: BTreeSet<&str> = BTreeSet::new();
    let mut size = 0;
    for (value, n) in counts {
        if size > 0 && size + n > BATCH_SERIES {
            out.push(matcher(label, &current));
            current.clear();
            size = 0;
        }
        current.insert(value);
        size += n;
    }
    if !current.is_empty() {
        out.push(matcher(label, &current));
    }
    out
}

fn matcher(label: &str, values: &BTreeSet<&str>) -> Batch {
    let alternatives: Vec<String> = values.iter().map(|v| regex_escape(v)).collect();
    let regex = alternatives.join("|");
    Batch {
        matcher: Some(format!(
            "{label}=~\"{}\"",
            regex.replace('\\', "\\\\").replace('"', "\\\"")
        )),
    }
}

/// Escapes RE2 metacharacters so a label value matches only itself.
fn regex_escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_both_forms() {
        assert_eq!(parse_time("1764504000").unwrap(), 1_764_504_000);
        assert_eq!(parse_time("1764504000.7").unwrap(), 1_764_504_000);
        assert_eq!(parse_time("2025-11-30T12:00:00Z").unwrap(), 1_764_504_000);
        assert!(parse_time("yesterday").unwrap_err().contains("yesterday"));
    }

    #[test]
    fn the_step_keeps_points_bounded_and_above_the_scrape_interval() {
        let week = 7 * 86_400;
        let step = auto_step(week, Some(15.0));
        assert_eq!(step % 60, 0);
        assert!(week / step <= TARGET_POINTS, "{step}");
        assert_eq!(auto_step(600, Some(15.0)), 15);
        assert_eq!(auto_step(600, None), 1);
    }

    #[test]
    fn selectors_are_recognised_and_extended() {
        let s = Selector::parse("process_resident_memory_bytes").unwrap();
        assert_eq!(
            s.with("process_start_time_seconds", None),
            "process_start_time_seconds"
        );
        let s = Selector::parse(r#"container_memory_working_set_bytes{namespace="a",}"#).unwrap();
        assert_eq!(
            s.with(&s.name, Some(r#"pod=~"x""#)),
            r#"container_memory_working_set_bytes{namespace="a",pod=~"x"}"#
        );
        assert_eq!(Selector::parse("sum by (pod) (x)"), None);
        assert_eq!(Selector::parse("x[5m]"), None);
        assert_eq!(Selector::parse("rate(x[5m])"), None);
    }

    #[test]
    fn batches_cover_every_series_once() {
        let listed: Vec<Labels> = (0..1234)
            .map(|i| {
                Labels::from([
                    (
                        "instance".to_owned(),
                        format!("10.0.{}.{}:9100", i / 200, i % 200),
                    ),
                    ("job".to_owned(), "node".to_owned()),
                ])
            })
            .collect();
        let b = batches(&listed, &[]);
        assert_eq!(b.len(), 1234usize.div_ceil(BATCH_SERIES));
        let m = b[0].matcher.as_deref().unwrap();
        assert!(
            m.starts_with("instance=~\"10\\\\.0\\\\.0\\\\.0:9100|"),
            "{m}"
        );
        let total: usize = b
            .iter()
            .map(|b| b.matcher.as_deref().unwrap().matches('|').count() + 1)
            .sum();
        assert_eq!(total, 1234);
        assert_eq!(batches(&listed[..10], &[]), vec![Batch { matcher: None }]);
    }
}
