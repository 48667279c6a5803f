//! The one-file HTML report of `leakwatch analyze DIR --html report.html`.
//!
//! Self-contained by construction: styles are inline, pictures are inline
//! SVG (charts) or `data:` images (the flame graph), and a
//! Content-Security-Policy forbids scripts and every fetch, so the file
//! opens offline and cannot phone home even if a name slipped through.
//! Every string from a profile or a target goes through maud, which escapes
//! it; the charts' own text was escaped by the SVG writers.
//!
//! The flame graph is an `<img>` rather than inline SVG because inferno's
//! SVG carries a stylesheet and a script of its own: inline, the stylesheet
//! would restyle the charts' text and the script would need to run.

use maud::{html, Markup, PreEscaped, DOCTYPE};

use super::{Exporter, Html};

/// Everything the report shows, already rendered where it is a picture.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// What was watched, e.g. `orders-api (pid 311)`.
    pub target: String,
    /// `leak`, `no_leak` or `inconclusive`.
    pub verdict: String,
    /// What leaks: `heap`, `goroutines`, `native`, `rss`.
    pub kinds: Vec<String>,
    /// The verdict's one-paragraph summary.
    pub summary: String,
    /// Key figures as label/value pairs (window, slopes, limit …).
    pub facts: Vec<(String, String)>,
    /// A one-line RSS sparkline, as the terminal shows it.
    pub sparkline: Option<String>,
    /// The memory-over-time chart (SVG bytes).
    pub memory_svg: Option<Vec<u8>>,
    /// The goroutine chart (SVG bytes), when goroutines grow.
    pub goroutine_svg: Option<Vec<u8>>,
    /// The first-versus-last differential flame graph (SVG bytes).
    pub flame_svg: Option<Vec<u8>>,
    /// Why there is no flame graph, when there is none.
    pub flame_note: Option<String>,
    /// Growing allocation sites, steepest first.
    pub sites: Vec<SiteRow>,
    /// Growing goroutine stacks, steepest first.
    pub goroutine_sites: Vec<GoroutineRow>,
    /// The top of the first-versus-last diff, as `leakwatch diff` prints it.
    pub diff_top: Option<String>,
    /// Restarts, OOM kills and other events.
    pub events: Vec<EventRow>,
}

/// One growing allocation site.
#[derive(Debug, Clone, Default)]
pub struct SiteRow {
    /// The allocating function.
    pub function: String,
    /// Source file, when known.
    pub file: Option<String>,
    /// Source line, when known.
    pub line: Option<i64>,
    /// The call chain, leaf first.
    pub stack: Vec<String>,
    /// Bytes in the first profile, already formatted.
    pub first: String,
    /// Bytes in the last profile, already formatted.
    pub last: String,
    /// Growth per hour, already formatted.
    pub slope: String,
    /// Part of the total heap growth, 0 to 1.
    pub share: f64,
}

/// One growing goroutine stack.
#[derive(Debug, Clone, Default)]
pub struct GoroutineRow {
    /// The call chain, leaf first.
    pub stack: Vec<String>,
    /// Goroutines in the first profile.
    pub first: i64,
    /// Goroutines in the last profile.
    pub last: i64,
    /// Growth per hour, already formatted.
    pub slope: String,
}

/// One event of the recording.
#[derive(Debug, Clone, Default)]
pub struct EventRow {
    /// When, as RFC 3339.
    pub time: String,
    /// e.g. `restart`, `oom_kill`.
    pub kind: String,
    /// e.g. `pid 311 → 342`.
    pub detail: String,
}

/// Scripts and fetches of any kind are refused; only inline styles and
/// `data:` images may load.
pub const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";

/// The report's stylesheet; the live view serves it too, for one look.
pub const STYLE: &str = r#"
body { font-family: "DejaVu Sans", Verdana, sans-serif; margin: 0 auto; max-width: 1240px;
       padding: 1rem 1.5rem 3rem; color: #1d1d1f; background: #fff; line-height: 1.45; }
h1 { font-size: 1.5rem; margin: 0.5rem 0 0; }
h2 { font-size: 1.15rem; margin: 2rem 0 0.6rem; border-bottom: 1px solid #ddd; padding-bottom: 0.2rem; }
.target { color: #555; margin: 0.2rem 0 1rem; }
.verdict { border-left: 6px solid #888; padding: 0.6rem 1rem; background: #f6f6f6; }
.verdict.leak { border-color: #d62728; background: #fdf0f0; }
.verdict.no_leak { border-color: #2ca02c; background: #f0faf0; }
.verdict.inconclusive { border-color: #ff7f0e; background: #fff6ec; }
.verdict h2 { border: 0; margin: 0; }
.word { text-transform: uppercase; letter-spacing: 0.05em; }
.spark { font-family: "DejaVu Sans Mono", monospace; font-size: 1.3rem; letter-spacing: -0.05em; }
dl.facts { display: grid; grid-template-columns: max-content auto; gap: 0.15rem 1rem; margin: 0.6rem 0 0; }
dl.facts dt { color: #555; }
dl.facts dd { margin: 0; }
figure { margin: 0; }
figure svg, figure img { max-width: 100%; height: auto; display: block; border: 1px solid #eee; }
table { border-collapse: collapse; width: 100%; font-size: 0.9rem; }
th, td { text-align: left; padding: 0.3rem 0.5rem; border-bottom: 1px solid #eee; vertical-align: top; }
td.num, th.num { text-align: right; white-space: nowrap; }
code, pre { font-family: "DejaVu Sans Mono", monospace; font-size: 0.85rem; }
td code { overflow-wrap: anywhere; }
td.fn { min-width: 14rem; max-width: 22rem; }
td.chain { min-width: 20rem; }
details summary { cursor: pointer; color: #555; }
pre { background: #f7f7f7; padding: 0.8rem; overflow-x: auto; }
.note { color: #666; font-style: italic; }
footer { margin-top: 3rem; color: #888; font-size: 0.8rem; }
"#;

impl Exporter<Report> for Html {
    fn export(&self, report: &Report) -> anyhow::Result<Vec<u8>> {
        Ok(page(report).into_string().into_bytes())
    }
}

/// The `<head>` of a self-contained page: the policy, the title, and the
/// report's stylesheet followed by `extra_style`.
pub fn head(title: &str, extra_style: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta http-equiv="Content-Security-Policy" content=(CSP);
            meta name="viewport" content="width=device-width, initial-scale=1";
            title { (title) }
            style { (PreEscaped(STYLE)) (PreEscaped(extra_style)) }
        }
    }
}

fn page(r: &Report) -> Markup {
    let verdict_word = r.verdict.replace('_', " ");
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(&format!("leakwatch: {verdict_word} — {}", r.target), ""))
            body {
                header {
                    h1 { "leakwatch report" }
                    p.target { (r.target) }
                }
                (sections(r, true))
                footer { "Generated by leakwatch " (env!("CARGO_PKG_VERSION")) "." }
            }
        }
    }
}

/// The report's sections, from the verdict to the events. `evidence` adds
/// the flame graph and the first-versus-last diff, which need the whole
/// profiles decoded: the report has them, the live view (re-rendered every
/// few seconds) leaves them out.
pub fn sections(r: &Report, evidence: bool) -> Markup {
    let verdict_word = r.verdict.replace('_', " ");
    html! {
        section #verdict class={ "verdict " (css_class(&r.verdict)) } {
            h2 {
                "Verdict: " span.word { (verdict_word) }
                @if !r.kinds.is_empty() { " (" (r.kinds.join(", ")) ")" }
            }
            p.summary { (r.summary) }
            @if let Some(spark) = &r.sparkline {
                p { "RSS over the window: " span.spark { (spark) } }
            }
            @if !r.facts.is_empty() {
                dl.facts {
                    @for (label, value) in &r.facts { dt { (label) } dd { (value) } }
                }
            }
        }
        section #memory {
            h2 { "Memory over time" }
            (figure(r.memory_svg.as_deref(), "No memory samples were recorded."))
        }
        section #sites {
            h2 { "Growing allocation sites" }
            @if r.sites.is_empty() {
                p.note { "No allocation site grows." }
            } @else {
                table {
                    thead { tr {
                        th { "function" } th { "where" } th.num { "first" } th.num { "last" }
                        th.num { "growth" } th.num { "share" } th { "call chain" }
                    } }
                    tbody {
                        @for s in &r.sites {
                            tr {
                                td.fn { code { (s.function) } }
                                td { code { (location(s.file.as_deref(), s.line)) } }
                                td.num { (s.first) } td.num { (s.last) }
                                td.num { (s.slope) "/h" }
                                td.num { (format!("{:.0}%", s.share * 100.0)) }
                                td.chain { (chain(&s.stack)) }
                            }
                        }
                    }
                }
            }
        }
        @if evidence {
            section #flame {
                h2 { "Differential flame graph, first versus last heap profile" }
                @if let Some(svg) = &r.flame_svg {
                    p.note { "Widths from the last profile; red grew, blue shrank. For the interactive graph (hover for names, click to zoom), write it with `--flame FILE`." }
                    figure { img alt="differential flame graph" src=(data_uri(svg)); }
                } @else {
                    p.note { (r.flame_note.as_deref().unwrap_or("No two heap profiles to compare.")) }
                }
            }
        }
        @if r.goroutine_svg.is_some() || !r.goroutine_sites.is_empty() {
            section #goroutines {
                h2 { "Goroutines" }
                (figure(r.goroutine_svg.as_deref(), "No goroutine chart."))
                @if !r.goroutine_sites.is_empty() {
                    table {
                        thead { tr {
                            th { "stack" } th.num { "first" } th.num { "last" } th.num { "growth" }
                        } }
                        tbody {
                            @for g in &r.goroutine_sites {
                                tr {
                                    td.chain { (chain(&g.stack)) }
                                    td.num { (g.first) } td.num { (g.last) }
                                    td.num { (g.slope) "/h" }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if evidence {
            section #diff {
                h2 { "First versus last: top of the diff" }
                @match &r.diff_top {
                    Some(text) => pre { (text) },
                    None => p.note { "No two heap profiles to compare." },
                }
            }
        }
        section #events {
            h2 { "Events" }
            @if r.events.is_empty() {
                p.note { "None." }
            } @else {
                table {
                    thead { tr { th { "time" } th { "event" } th { "detail" } } }
                    tbody {
                        @for e in &r.events {
                            tr { td { (e.time) } td { (e.kind) } td { (e.detail) } }
                        }
                    }
                }
            }
        }
    }
}

/// A chart inline. The SVG comes from our own chart code, whose writer
/// escapes every text it draws, so it is inserted as markup.
fn figure(svg: Option<&[u8]>, missing: &str) -> Markup {
    match svg.map(String::from_utf8_lossy) {
        Some(svg) => html! { figure { (PreEscaped(svg.into_owned())) } },
        None => html! { p.note { (missing) } },
    }
}

/// Frames of a call chain shown before the rest folds away: a Rust stack
/// through tokio is eighty frames deep, and the cause is in the first few.
const CHAIN_FRAMES: usize = 6;

/// A leaf-first call chain, its first frames shown and the rest in a
/// `<details>` that opens without script.
fn chain(stack: &[String]) -> Markup {
    let shown = stack.len().min(CHAIN_FRAMES);
    html! {
        code { (stack[..shown].join(" ← ")) }
        @if stack.len() > shown {
            details {
                summary { (format!("{} more frames", stack.len() - shown)) }
                code { "← " (stack[shown..].join(" ← ")) }
            }
        }
    }
}

fn css_class(verdict: &str) -> &'static str {
    match verdict {
        "leak" => "leak",
        "no_leak" => "no_leak",
        _ => "inconclusive",
    }
}

fn location(file: Option<&str>, line: Option<i64>) -> String {
    match (file, line) {
        (Some(f), Some(l)) if l > 0 => format!("{f}:{l}"),
        (Some(f), _) => f.to_owned(),
        _ => "?".to_owned(),
    }
}

/// `data:image/svg+xml;base64,…`: base64 rather than percent-encoding
/// because the SVG is large and full of characters that would need it.
fn data_uri(svg: &[u8]) -> String {
    let mut out = String::with_capacity(26 + svg.len() * 4 / 3 + 4);
    out.push_str("data:image/svg+xml;base64,");
    base64_into(svg, &mut out);
    out
}

fn base64_into(bytes: &[u8], out: &mut String) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_rfc_4648_vectors() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            let mut out = String::new();
            base64_into(plain.as_bytes(), &mut out);
            assert_eq!(out, encoded, "{plain:?}");
        }
    }

    #[test]
    fn every_profile_string_is_escaped() {
        let evil = "<script>alert(1)</script>";
        let report = Report {
            target: format!("{evil} (pid 1)"),
            verdict: "leak".into(),
            kinds: vec!["heap".into()],
            summary: format!("Heap grows; most of it is {evil} & \"friends\""),
            sites: vec![SiteRow {
                function: evil.into(),
                file: Some("/src/<b>.go".into()),
                line: Some(3),
                stack: vec![evil.into(), "main.main".into()],
                ..Default::default()
            }],
            diff_top: Some(format!("  1 MiB  {evil}")),
            events: vec![EventRow {
                time: "t".into(),
                kind: "restart".into(),
                detail: evil.into(),
            }],
            ..Default::default()
        };
        let page = String::from_utf8(Html.export(&report).unwrap()).unwrap();
        assert!(!page.contains("<script"), "a raw <script> in:\n{page}");
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(page.contains("/src/&lt;b&gt;.go:3"));
        // Long chains fold after a few frames; the rest stays in the page.
        let long: Vec<String> = (0..20).map(|i| format!("f{i}")).collect();
        let folded = chain(&long).into_string();
        assert!(
            folded.contains("f0 ← f1")
                && folded.contains("14 more frames")
                && folded.contains("f19")
        );
        assert!(page.contains("&amp; &quot;friends&quot;") || page.contains("&amp; \"friends\""));
    }
}
