//! The verdict as text a person grasps in ten seconds: the decision, the
//! growth rate, the time to the limit, the growing sites with their call
//! chains, and the diff of the window's first and last heap profiles — what
//! the seed's author ran by hand.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use leakwatch_profile::{aggregate, diff, Limits, Profile};

use crate::analysis::verdict::{
    Decision, LeakKind, Limit, LimitSource, MemoryTrend, Site, Verdict, VerdictEventKind,
};
use crate::render::table;
use crate::units::{format_bytes, format_bytes_f64, format_duration};

/// Characters of the RSS sparkline under the RSS line.
const SPARK_WIDTH: usize = 60;

/// Rows of the first-versus-last diff shown.
pub const DIFF_ROWS: usize = 10;

/// Renders `v`; `rss` is the RSS series, drawn as a sparkline; `diff` is
/// the first-versus-last table (see [`first_last_diff`]); `color` adds ANSI
/// colours to the verdict line.
pub fn render(v: &Verdict, rss: &[f64], diff: Option<&str>, color: bool) -> String {
    let mut out = String::new();
    let (word, code) = match v.verdict {
        Decision::Leak => ("LEAK", "1;31"),
        Decision::NoLeak => ("NO LEAK", "1;32"),
        Decision::Inconclusive => ("INCONCLUSIVE", "1;33"),
    };
    let word = if color {
        format!("\x1b[{code}m{word}\x1b[0m")
    } else {
        word.to_owned()
    };
    let kinds: Vec<&str> = v.kind.iter().map(|k| kind_name(*k)).collect();
    if kinds.is_empty() {
        let _ = writeln!(out, "{word}");
    } else {
        let _ = writeln!(out, "{word} ({})", kinds.join(", "));
    }
    for line in wrap(&v.summary, 78) {
        let _ = writeln!(out, "  {line}");
    }
    out.push('\n');

    if let Some(h) = &v.heap {
        let _ = writeln!(out, "  {:<11}{}", "heap", memory_line(&h.trend));
    }
    if let Some(r) = &v.rss {
        let _ = writeln!(out, "  {:<11}{}", "RSS", memory_line(r));
        if rss.len() >= 2 {
            let spark = crate::render::sparkline::sparkline(rss, SPARK_WIDTH);
            let _ = writeln!(out, "  {:<11}{spark}", "");
        }
    }
    if let Some(g) = &v.goroutines {
        let _ = writeln!(
            out,
            "  {:<11}{} → {}   {:+.0}/h   p {}{}",
            "goroutines",
            g.first,
            g.last,
            g.slope_per_hour,
            p_value(g.p_value),
            if g.growing { "   growing" } else { "" }
        );
    }
    if let Some(l) = &v.limit {
        let _ = writeln!(out, "  {:<11}{}", "limit", limit_line(l));
    }

    if !v.sites.is_empty() {
        out.push_str("\nGrowing heap sites (share of the growth, rate, where)\n");
        heap_sites(&mut out, &v.sites, "  ");
    }
    let proven: Vec<_> = v
        .goroutine_sites
        .iter()
        .filter(|s| s.proven_leaked.is_some())
        .collect();
    if !proven.is_empty() {
        out.push_str(
            "\nLeaked goroutines, as Go's leak detector proves them (count, blocked in)\n",
        );
        for s in &proven {
            let _ = writeln!(out, "  {:>8}  {}", s.proven_leaked.unwrap_or(0), s.function);
            if let Some(chain) = callers(&s.stack) {
                let _ = writeln!(out, "  {:8}← {chain}", "");
            }
        }
    }
    let rising: Vec<_> = v
        .goroutine_sites
        .iter()
        .filter(|s| s.proven_leaked.is_none())
        .collect();
    if !rising.is_empty() {
        out.push_str("\nGrowing goroutine sites (share, rate, blocked in)\n");
        for s in rising {
            let _ = writeln!(
                out,
                "  {:>4.0}%  {:>+10.0}/h  {}   ({} → {})",
                s.share * 100.0,
                s.slope_per_hour,
                s.function,
                s.first,
                s.last
            );
            if let Some(chain) = callers(&s.stack) {
                let _ = writeln!(out, "  {:22}← {chain}", "");
            }
        }
    }
    if let Some(d) = diff {
        out.push_str("\nFirst versus last heap profile of the window\n");
        for line in d.lines() {
            let _ = writeln!(out, "  {line}");
        }
    }
    let w = &v.window;
    let _ = writeln!(out, "\nWindow {}.", w.describe());
    let shown: Vec<_> = v
        .events
        .iter()
        .filter(|e| e.kind != VerdictEventKind::ScrapeError)
        .take(10)
        .collect();
    let scrape_errors = v
        .events
        .iter()
        .filter(|e| e.kind == VerdictEventKind::ScrapeError)
        .count();
    for e in shown {
        let _ = writeln!(out, "  {}  {}: {}", e.time, e.kind, e.detail);
    }
    if scrape_errors > 0 {
        let _ = writeln!(
            out,
            "  {scrape_errors} profile fetch(es) failed (see --json events)."
        );
    }
    out
}

fn kind_name(k: LeakKind) -> &'static str {
    match k {
        LeakKind::Heap => "heap",
        LeakKind::Goroutines => "goroutines",
        LeakKind::Native => "native",
        LeakKind::Rss => "rss",
    }
}

fn memory_line(t: &MemoryTrend) -> String {
    format!(
        "{} → {}   {}/h ({} – {})   p {}{}",
        format_bytes(t.first_bytes as i64),
        format_bytes(t.last_bytes as i64),
        signed(t.slope_bytes_per_hour),
        format_bytes_f64(t.slope_low),
        format_bytes_f64(t.slope_high),
        p_value(t.p_value),
        if t.growing { "   growing" } else { "" }
    )
}

fn signed(v: f64) -> String {
    if v > 0.0 {
        format!("+{}", format_bytes_f64(v))
    } else {
        format_bytes_f64(v)
    }
}

fn p_value(p: f64) -> String {
    if p < 0.001 {
        "< 0.001".to_owned()
    } else {
        format!("= {p:.3}")
    }
}

fn limit_line(l: &Limit) -> String {
    let source = match l.source {
        LimitSource::Cgroup => "cgroup memory.max",
        LimitSource::Flag => "--limit",
        LimitSource::PrometheusQuery => "--limit-query",
    };
    let human = |s: f64| format_duration(Duration::from_secs_f64(s.max(0.0)));
    let when = match (
        l.time_to_limit_seconds,
        l.time_to_limit_low_seconds,
        l.time_to_limit_high_seconds,
    ) {
        (Some(t), Some(lo), Some(hi)) => {
            format!(": reached in {} ({} – {})", human(t), human(lo), human(hi))
        }
        (Some(t), Some(lo), None) => format!(
            ": reached in {} (at the soonest {}, perhaps never)",
            human(t),
            human(lo)
        ),
        (Some(t), None, _) => format!(": reached in {}", human(t)),
        _ => String::new(),
    };
    format!("{} ({source}){when}", format_bytes(l.bytes as i64))
}

/// Greedy word wrap.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// The top of `go tool pprof -diff_base first last` for the window's first
/// and last heap profiles, in the `diff` command's table.
pub fn first_last_diff(first: &Path, last: &Path) -> anyhow::Result<String> {
    let read = |p: &Path| -> anyhow::Result<Profile> {
        let bytes = std::fs::read(p).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
        leakwatch_profile::decode(&bytes, &Limits::default())
            .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))
    };
    let (base, new) = (read(first)?, read(last)?);
    let opts = aggregate::Options {
        sample_index: Some("inuse_space".to_owned()),
        ..Default::default()
    };
    let t = diff::diff(&base, &new, &opts)?;
    Ok(table::text(&t, table::Kind::Diff, DIFF_ROWS))
}

/// Callers shown per site: enough to recognise the path from the handler to
/// the allocation; a Rust service's full chain runs through ~80 frames of
/// async runtime that would bury the verdict (the HTML report folds the
/// rest away instead).
const CALLERS_SHOWN: usize = 5;

/// The callers of a site's leaf, `a ← b ← … (N more)`, or `None` for a leaf
/// without callers.
/// The growing heap sites, one line each (share, rate, function, file:line)
/// with their callers below, every line starting with `indent`: for the
/// verdict and for `fleet`'s drill-down alike.
pub fn heap_sites(out: &mut String, sites: &[Site], indent: &str) {
    for s in sites {
        let place = match (&s.file, s.line) {
            (Some(f), Some(l)) => format!("  {f}:{l}"),
            (Some(f), None) => format!("  {f}"),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "{indent}{:>4.0}%  {:>12}/h  {}{place}",
            s.share * 100.0,
            format!("+{}", format_bytes_f64(s.slope_bytes_per_hour)),
            s.function
        );
        if let Some(chain) = callers(&s.stack) {
            let _ = writeln!(out, "{indent}{:24}← {chain}", "");
        }
    }
}

fn callers(stack: &[String]) -> Option<String> {
    let callers = stack.get(1..).filter(|c| !c.is_empty())?;
    let mut line = callers
        .iter()
        .take(CALLERS_SHOWN)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(" ← ");
    if callers.len() > CALLERS_SHOWN {
        line.push_str(&format!(" ← … ({} more)", callers.len() - CALLERS_SHOWN));
    }
    Some(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_keeps_lines_short_and_words_whole() {
        let lines = wrap("a bb ccc dddd eeeee", 8);
        assert_eq!(lines, ["a bb ccc", "dddd", "eeeee"]);
    }

    #[test]
    fn long_call_chains_are_cut_with_a_count() {
        let stack: Vec<String> = (0..40).map(|i| format!("f{i}")).collect();
        assert_eq!(
            callers(&stack).unwrap(),
            "f1 ← f2 ← f3 ← f4 ← f5 ← … (34 more)"
        );
        let short = ["leaf".to_owned(), "main".to_owned()];
        assert_eq!(callers(&short).unwrap(), "main");
        assert_eq!(callers(&short[..1]), None);
    }
}
