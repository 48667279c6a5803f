//! The HTML report of `leakwatch analyze DIR --html`, made from real
//! recordings and opened from disk in headless Chromium (Debian's
//! `chromium`; `scripts/test` installs it when missing).
//!
//! Two recordings: the Go scenario service leaking for a few seconds (the
//! report a user sees; its screenshot is kept as
//! `target/test-artifacts/report.png`), and a `sleep` whose "pprof
//! endpoint" is the shared loopback test server serving profiles whose
//! function names are markup, which must come out as text.
//!
//! Chromium is checked three ways: its log must hold no console message at
//! all (a blocked script, a refused fetch and a JavaScript error all land
//! there); `--dump-dom` of a test-only probe page, which loads the report in
//! an iframe and measures it, gives the laid-out size of every chart and
//! whether the verdict is visible (the report itself has no script, so the
//! measuring lives in the probe); and a screenshot is written.

use crate::support;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use leakwatch_profile::{encode_gzip, Profile, ProfileBuilder};
use serde_json::Value;
use support::http::{self, Response};

const EVIL: &str = "<script>alert(1)</script>";

// ------------------------------------------------------------ Chromium

/// Runs headless Chromium on `url` with `extra` flags, in a fresh profile
/// directory and with everything that could reach the network switched
/// off; returns its output, killing it after 60 s.
fn chromium(url: &str, extra: &[&str]) -> Output {
    let profile = support::scratch();
    let mut cmd = Command::new("chromium");
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        "--enable-logging=stderr",
        "--v=0",
    ])
    .arg(format!("--user-data-dir={}", profile.path().display()))
    .args(extra)
    .arg(url)
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| {
        panic!("cannot run chromium ({e}); install it (Debian: apt-get install chromium) or run scripts/test, which does")
    });
    // Read both pipes on threads so a chatty Chromium cannot block on a
    // full pipe while we wait for it.
    let mut out_pipe = child.stdout.take().unwrap();
    let mut err_pipe = child.stderr.take().unwrap();
    let out_t = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out_pipe.read_to_end(&mut v);
        v
    });
    let err_t = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err_pipe.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 60 s on {url}");
        }
        thread::sleep(Duration::from_millis(50));
    };
    Output {
        status,
        stdout: out_t.join().unwrap(),
        stderr: err_t.join().unwrap(),
    }
}

fn file_url(path: &Path) -> String {
    format!("file://{}", path.canonicalize().unwrap().display())
}

/// Console messages from Chromium's log (`…:INFO:CONSOLE:…] "message"`):
/// every level lands here, errors included.
fn console_messages(stderr: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(stderr)
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(str::to_owned)
        .collect()
}

/// What the probe page measured in the report.
#[derive(Debug)]
struct Layout {
    /// `svg WxH` and `img WxH natural WxH` per chart.
    figures: Vec<String>,
    /// The verdict box's rendered text, empty when it is not visible.
    verdict_text: String,
    /// Script elements in the report's DOM.
    scripts: usize,
}

/// Loads `report` inside a probe page that measures it after layout.
/// The report is unmodified; the probe's script is test-only.
fn measure(report: &Path) -> Layout {
    let dir = report.parent().unwrap();
    let probe = dir.join("probe.html");
    let name = report.file_name().unwrap().to_str().unwrap();
    std::fs::write(
        &probe,
        format!(
            r#"<!DOCTYPE html><html><body>
<iframe id="r" src="{name}" style="width:1280px;height:2400px;border:0"></iframe>
<pre id="out">not measured</pre>
<script>
document.getElementById('r').addEventListener('load', () => {{
  const out = [];
  try {{
    const d = document.getElementById('r').contentDocument;
    for (const el of d.querySelectorAll('figure svg, figure img')) {{
      const r = el.getBoundingClientRect();
      let line = 'figure ' + el.tagName.toLowerCase() + ' ' + Math.round(r.width) + 'x' + Math.round(r.height);
      if (el.tagName === 'IMG') line += ' natural ' + el.naturalWidth + 'x' + el.naturalHeight;
      out.push(line);
    }}
    const v = d.getElementById('verdict');
    const style = d.defaultView.getComputedStyle(v);
    const r = v.getBoundingClientRect();
    const visible = style.display !== 'none' && style.visibility !== 'hidden' && r.width > 0 && r.height > 0;
    out.push('verdict ' + (visible ? v.innerText.replace(/\s+/g, ' ') : ''));
    out.push('scripts ' + d.querySelectorAll('script').length);
  }} catch (e) {{ out.push('error ' + e); }}
  document.getElementById('out').textContent = out.join('\n');
}});
</script></body></html>"#
        ),
    )
    .unwrap();
    let out = chromium(
        &file_url(&probe),
        &["--allow-file-access-from-files", "--dump-dom"],
    );
    assert!(
        out.status.success(),
        "chromium --dump-dom failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dom = String::from_utf8_lossy(&out.stdout);
    let text = dom
        .split_once("<pre id=\"out\">")
        .and_then(|(_, rest)| rest.split_once("</pre>"))
        .map(|(t, _)| t.to_owned())
        .unwrap_or_else(|| panic!("no probe output in:\n{dom}"));
    assert!(
        !text.contains("error ") && text != "not measured",
        "the probe failed: {text}"
    );
    let mut layout = Layout {
        figures: vec![],
        verdict_text: String::new(),
        scripts: usize::MAX,
    };
    for line in text.lines() {
        if let Some(f) = line.strip_prefix("figure ") {
            layout.figures.push(f.to_owned());
        } else if let Some(v) = line.strip_prefix("verdict ") {
            layout.verdict_text = v.trim().to_owned();
        } else if let Some(n) = line.strip_prefix("scripts ") {
            layout.scripts = n.parse().unwrap();
        }
    }
    layout
}

/// `WxH` pairs of a figure line, e.g. `svg 1002x522` → [(1002, 522)].
fn sizes(figure: &str) -> Vec<(u32, u32)> {
    figure
        .split_whitespace()
        .filter_map(|w| w.split_once('x'))
        .filter_map(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
        .collect()
}

/// Opens `report` in Chromium: no console messages, a screenshot written
/// to `shot`, and the probe's measurements returned.
fn open_in_browser(report: &Path, shot: &Path) -> Layout {
    let out = chromium(
        &file_url(report),
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1280,2400",
        ],
    );
    assert!(
        out.status.success(),
        "chromium --screenshot failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let console = console_messages(&out.stderr);
    assert!(
        console.is_empty(),
        "the report logged to the console:\n{}",
        console.join("\n")
    );
    let png = std::fs::read(shot).expect("chromium wrote the screenshot");
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000,
        "screenshot is not a real PNG"
    );
    measure(report)
}

fn artifacts() -> PathBuf {
    let dir = support::target_dir().join("test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `analyze DIR --html FILE ARGS…`; returns its stdout.
fn analyze_html(rec: &Path, html: &Path, args: &[&str]) -> String {
    let mut cmd = support::leakwatch();
    cmd.args([
        "analyze",
        rec.to_str().unwrap(),
        "--html",
        html.to_str().unwrap(),
    ])
    .args(args);
    let out = cmd.output().unwrap();
    // 0 no leak, 1 leak, 3 inconclusive: all are verdicts; 2 is an error.
    assert!(
        matches!(out.status.code(), Some(0 | 1 | 3)),
        "{}",
        support::describe(&cmd, &out)
    );
    String::from_utf8(out.stdout).unwrap()
}

// ------------------------------------------------------------ tests

#[test]
fn the_report_of_a_leaking_go_service_renders_in_headless_chromium() {
    let scratch = support::scratch();
    let rec = scratch.path().join("rec");
    support::run_ok(
        support::leakwatch()
            .args(["watch", "--quiet", "--out", rec.to_str().unwrap()])
            .args(["--interval", "100ms", "--profile-interval", "500ms"])
            .args(["--duration", "4s"])
            .args(support::scenario::spawn_args(
                "mapcache",
                &["-rate", "4000"],
            )),
    );
    let report = scratch.path().join("report.html");
    let dir = scratch.path();
    let (plot, png, flame) = (dir.join("m.svg"), dir.join("m.png"), dir.join("f.svg"));
    let stdout = analyze_html(
        &rec,
        &report,
        &[
            "--json",
            "--plot",
            plot.to_str().unwrap(),
            "--png",
            png.to_str().unwrap(),
            "--flame",
            flame.to_str().unwrap(),
        ],
    );
    let verdict: Value =
        serde_json::from_str(&stdout).expect("--json still prints the verdict on stdout");
    assert_eq!(verdict["schema"], "leakwatch.verdict/1");
    // The other pictures of the same recording.
    let opts = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..Default::default()
    };
    for svg in [&plot, &flame] {
        let text = std::fs::read_to_string(svg).unwrap();
        roxmltree::Document::parse_with_options(&text, opts)
            .unwrap_or_else(|e| panic!("{}: {e}", svg.display()));
    }
    let flame_text = std::fs::read_to_string(&flame).unwrap();
    assert!(
        flame_text.contains("main.newEntry"),
        "the leaking site is not in the flame graph"
    );
    let png = std::fs::read(&png).unwrap();
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000,
        "--png wrote no real PNG"
    );

    let html = std::fs::read_to_string(&report).unwrap();
    std::fs::copy(&report, artifacts().join("report.html")).unwrap();
    for fetch in ["src=\"http", "href=\"http", "url(http", "@import"] {
        assert!(
            !html.contains(fetch),
            "the report fetches something ({fetch})"
        );
    }

    let layout = open_in_browser(&report, &artifacts().join("report.png"));
    assert_eq!(layout.scripts, 0, "the report needs no script");
    let word = verdict["verdict"].as_str().unwrap().replace('_', " ");
    assert!(
        layout
            .verdict_text
            .to_lowercase()
            .contains(&format!("verdict: {word}")),
        "verdict {word:?} not visible: {layout:?}"
    );
    assert!(
        layout.figures.iter().any(|f| f.starts_with("svg ")),
        "no chart: {layout:?}"
    );
    assert!(
        layout.figures.iter().any(|f| f.starts_with("img ")),
        "no flame graph: {layout:?}"
    );
    for f in &layout.figures {
        let s = sizes(f);
        assert!(
            !s.is_empty() && s.iter().all(|&(w, h)| w > 100 && h > 50),
            "a picture has no size: {f}"
        );
    }
}

#[test]
fn a_goroutine_leak_gets_its_chart_and_its_growing_stacks() {
    let scratch = support::scratch();
    let rec = scratch.path().join("rec");
    // 25 profile rounds: enough for a verdict rather than "inconclusive".
    support::run_ok(
        support::leakwatch()
            .args(["watch", "--quiet", "--out", rec.to_str().unwrap()])
            .args(["--interval", "100ms", "--profile-interval", "200ms"])
            .args(["--duration", "5s"])
            .args(support::scenario::spawn_args(
                "goroutines",
                &["-rate", "400"],
            )),
    );
    let report = scratch.path().join("report.html");
    let verdict: Value = serde_json::from_str(&analyze_html(&rec, &report, &["--json"])).unwrap();
    assert_eq!(verdict["goroutines"]["growing"], true, "{verdict:#}");
    let html = std::fs::read_to_string(&report).unwrap();
    let section = html
        .split_once("<section id=\"goroutines\">")
        .map(|(_, rest)| rest.split_once("</section>").unwrap().0)
        .expect("a goroutine section");
    assert!(section.contains("<svg"), "no goroutine chart");
    assert!(
        section.contains("main.awaitReply"),
        "the blocked stack is not named"
    );

    let layout = measure(&report);
    let svgs: Vec<_> = layout
        .figures
        .iter()
        .filter(|f| f.starts_with("svg "))
        .collect();
    assert_eq!(svgs.len(), 2, "memory and goroutine charts: {layout:?}");
    for f in svgs {
        assert!(sizes(f).iter().all(|&(w, h)| w > 100 && h > 50), "{f}");
    }
}

#[test]
fn markup_in_served_function_names_is_shown_as_text() {
    let server = profile_server();
    let scratch = support::scratch();
    let rec = scratch.path().join("rec");
    support::run_ok(support::leakwatch().args([
        "watch",
        "--interval",
        "100ms",
        "--profile-interval",
        "300ms",
        "--duration",
        "3s",
        "--quiet",
        "--pprof",
        &server.url,
        "--out",
        rec.to_str().unwrap(),
        "--",
        "sleep",
        "30",
    ]));
    assert!(
        server.hits(HEAP) >= 2,
        "watch fetched fewer than two heap profiles"
    );
    let report = scratch.path().join("report.html");
    // With the text verdict this time: it prints, with its RSS sparkline.
    let text = analyze_html(&rec, &report, &[]);
    assert!(text.contains("RSS"), "no text verdict: {text}");
    let bars = '\u{2581}'..='\u{2588}';
    assert!(
        text.lines()
            .any(|l| !l.trim().is_empty() && l.trim().chars().all(|c| bars.contains(&c))),
        "no sparkline: {text}"
    );
    let html = std::fs::read_to_string(&report).unwrap();

    let escaped = "&lt;script&gt;alert(1)&lt;/script&gt;";
    assert!(
        html.contains(escaped),
        "the name is not in the report as escaped text"
    );
    assert!(
        !html.to_lowercase().contains("<script"),
        "a <script> tag is in the report"
    );

    let layout = open_in_browser(&report, &scratch.path().join("shot.png"));
    assert_eq!(layout.scripts, 0, "the browser found a script element");
    // And in the DOM the browser built, the name is text.
    let out = chromium(&file_url(&report), &["--dump-dom"]);
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(dom.contains(escaped), "the name is not text in the DOM");
    assert!(
        !dom.to_lowercase().contains("<script"),
        "the DOM holds a script element"
    );
}

// ------------------------------------------------------------ a pprof endpoint

/// The route of the heap profile (the one `watch` scrapes, whatever its
/// query) on the endpoint of [`profile_server`].
const HEAP: &str = "/debug/pprof/heap";

/// A pprof endpoint on loopback serving a heap profile that grows by 1 MiB
/// per request at a function called `<script>alert(1)</script>`, and a
/// goroutine profile naming it too. `?debug=1` (runtime statistics) is 404,
/// as for a non-Go service.
fn profile_server() -> http::Server {
    http::Server::builder()
        .respond("/debug/pprof/heap?debug=1", Response::not_found())
        .handle(HEAP, |req| {
            Response::ok(encode_gzip(&heap_profile(req.hit as i64)))
        })
        .respond(
            "/debug/pprof/goroutine",
            Response::ok(encode_gzip(&goroutine_profile())),
        )
        .start()
}

/// A profile of `types` over `stacks` (leaf first, with values), in a
/// source file whose name is markup.
fn profile(types: &[(&str, &str)], stacks: &[(&[&str], Vec<i64>)]) -> Profile {
    let mut b = ProfileBuilder::new(types).file("/src/<evil>.go");
    for (frames, values) in stacks {
        b.sample(frames, values);
    }
    b.build()
}

fn heap_profile(n: i64) -> Profile {
    let grown = n << 20;
    profile(
        &[("inuse_objects", "count"), ("inuse_space", "bytes")],
        &[
            (&[EVIL, "main.handle", "main.main"], vec![n * 1024, grown]),
            (&["main.steady", "main.main"], vec![64, 256 << 10]),
        ],
    )
}

fn goroutine_profile() -> Profile {
    profile(
        &[("goroutine", "count")],
        &[(&[EVIL, "main.main"], vec![3])],
    )
}
