//! Golden-file tests for the pictures: fixed input in, byte-for-byte the
//! checked-in SVG out (`crates/leakwatch/tests/golden/`).
//!
//! After an intended change to a picture, re-bless the files with
//!
//! ```text
//! LEAKWATCH_BLESS=1 cargo test -p leakwatch render::
//! ```
//!
//! and look at the new SVGs before committing them. A mismatch writes the
//! actual output to `target/test-artifacts/golden/` for a side-by-side look.

use std::path::{Path, PathBuf};

use leakwatch_profile::{Profile, ProfileBuilder};

use super::flame::{FlameDiff, SEMICOLON_LOOKALIKE};
use super::goroutine_plot::{GoroutinePlot, GoroutineStack};
use super::memory_plot::{
    Limit, MemoryPlot, MemorySeries, PlotEvent, PlotEventKind, SeriesKind, Trend,
};
use super::{Exporter, Png, Svg};

/// 2026-11-26T14:00:00Z, the seed's first sample.
pub(super) const T0: f64 = 1_795_701_600.0;
const MIB: f64 = 1024.0 * 1024.0;

fn manifest() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Compares `actual` with `tests/golden/<name>`, or rewrites the file when
/// `LEAKWATCH_BLESS` is set.
fn check_golden(name: &str, actual: &[u8]) {
    let path = manifest().join("tests/golden").join(name);
    if std::env::var_os("LEAKWATCH_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read golden file {}: {e}; create it with LEAKWATCH_BLESS=1 cargo test -p leakwatch render::",
            path.display()
        )
    });
    if expected != actual {
        let dir = artifacts().join("golden");
        std::fs::create_dir_all(&dir).unwrap();
        let got = dir.join(name);
        std::fs::write(&got, actual).unwrap();
        let exp = String::from_utf8_lossy(&expected);
        let act = String::from_utf8_lossy(actual);
        let line = exp
            .lines()
            .zip(act.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(exp.lines().count().min(act.lines().count()));
        panic!(
            "{name} differs from the golden file {} from line {} on:\n expected: {:?}\n   actual: {:?}\n\
             the actual output is in {}; if the change is intended, re-bless with \
             LEAKWATCH_BLESS=1 cargo test -p leakwatch render::",
            path.display(),
            line + 1,
            exp.lines().nth(line),
            act.lines().nth(line),
            got.display()
        );
    }
}

/// The trimmed text of every `<text>` element of an SVG, which must be
/// well-formed XML.
fn svg_texts(svg: &[u8]) -> Vec<String> {
    let text = std::str::from_utf8(svg).expect("the SVG is UTF-8");
    let opts = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..Default::default()
    };
    let doc =
        roxmltree::Document::parse_with_options(text, opts).expect("the SVG is well-formed XML");
    doc.descendants()
        .filter(|n| n.tag_name().name() == "text")
        .filter_map(|n| n.text())
        .map(|t| t.trim().to_owned())
        .collect()
}

fn artifacts() -> PathBuf {
    // crates/leakwatch → the workspace's target/.
    manifest().join("../../target/test-artifacts")
}

/// Six hours of a service that leaks 40 MiB/h, restarted once, with a limit
/// the trend crosses 90 minutes after the last sample.
pub(super) fn leaking_memory_plot() -> MemoryPlot {
    let step = 300.0;
    let points = |base: f64, slope_mib_h: f64, wobble: f64| -> Vec<(f64, f64)> {
        (0..=72)
            .map(|i| {
                let t = T0 + i as f64 * step;
                let h = i as f64 * step / 3600.0;
                // A deterministic wobble stands in for GC noise.
                let noise = wobble * MIB * ((i * 7 % 11) as f64 - 5.0) / 5.0;
                (t, base * MIB + slope_mib_h * MIB * h + noise)
            })
            .collect()
    };
    MemoryPlot {
        title: "orders-api (pid 311)".into(),
        series: vec![
            MemorySeries {
                kind: SeriesKind::Rss,
                points: points(300.0, 40.0, 6.0),
            },
            MemorySeries {
                kind: SeriesKind::Cgroup,
                points: points(330.0, 40.0, 4.0),
            },
            MemorySeries {
                kind: SeriesKind::Heap,
                points: points(180.0, 38.0, 10.0),
            },
            MemorySeries {
                kind: SeriesKind::Rss,
                points: vec![],
            },
        ],
        trend: Some(Trend {
            of: SeriesKind::Rss,
            start: T0,
            intercept_bytes: 300.0 * MIB,
            slope_bytes_per_hour: 40.0 * MIB,
            slope_low: 36.0 * MIB,
            slope_high: 44.0 * MIB,
        }),
        limit: Some(Limit {
            bytes: 600.0 * MIB,
            source: "cgroup".into(),
        }),
        events: vec![
            PlotEvent {
                time: T0 + 2.0 * 3600.0,
                kind: PlotEventKind::Restart,
            },
            PlotEvent {
                time: T0 + 4.5 * 3600.0,
                kind: PlotEventKind::OomKill,
            },
        ],
    }
}

#[test]
fn memory_plot_svg_matches_golden() {
    let svg = Svg.export(&leaking_memory_plot()).unwrap();
    let texts = svg_texts(&svg);
    // The axes speak human units and clock time, on round values.
    for label in [
        "0 B",
        "100 MiB",
        "600 MiB",
        "14:00",
        "16:00",
        "time (UTC)",
        "OOM kill",
        "restart",
    ] {
        assert!(
            texts.iter().any(|t| t == label),
            "no {label:?} in {texts:?}"
        );
    }
    assert!(
        texts
            .iter()
            .any(|t| t.contains("600 MiB limit reached ≈ 2026-11-26 21:30:00 UTC")),
        "no crossing in the caption: {texts:?}"
    );
    check_golden("memory_plot.svg", &svg);
}

#[test]
fn memory_plot_png_draws_text_with_the_embedded_font() {
    let png = Png.export(&leaking_memory_plot()).unwrap();
    let img = image::load_from_memory_with_format(&png, image::ImageFormat::Png)
        .expect("a decodable PNG")
        .to_rgb8();
    assert_eq!(img.dimensions(), super::memory_plot::SIZE);
    // The caption is centred in the top 40 pixels; with no font it would be
    // blank, because plotters is built without any system-font support.
    let caption_ink = (300..700)
        .flat_map(|x| (0..40).map(move |y| (x, y)))
        .filter(|&(x, y)| img.get_pixel(x, y).0 != [255, 255, 255])
        .count();
    assert!(
        caption_ink > 200,
        "caption has only {caption_ink} non-white pixels"
    );
    let dir = artifacts();
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("memory_plot.png"), &png).unwrap();
}

#[test]
fn memory_plot_without_samples_says_so() {
    let svg = Svg
        .export(&MemoryPlot {
            title: "idle".into(),
            ..Default::default()
        })
        .unwrap();
    assert!(String::from_utf8(svg)
        .unwrap()
        .contains("idle: no memory samples to plot"));
}

#[test]
fn a_far_away_limit_is_named_not_drawn() {
    let mut plot = leaking_memory_plot();
    plot.limit = Some(Limit {
        bytes: 64.0 * 1024.0 * MIB,
        source: "cgroup".into(),
    });
    let svg = String::from_utf8(Svg.export(&plot).unwrap()).unwrap();
    assert!(
        svg.contains("64.0 GiB limit reached"),
        "caption names the crossing"
    );
    assert!(svg.contains("beyond this chart"));
    assert!(
        !svg.contains("limit 64.0 GiB (cgroup)"),
        "the limit line is not in the legend"
    );
    // The y axis still fits the data: no tick as high as a GiB.
    assert!(
        !svg_texts(svg.as_bytes())
            .iter()
            .any(|t| t.ends_with(" GiB")),
        "y axis stretched to the limit"
    );
}

#[test]
fn goroutine_plot_svg_matches_golden() {
    let total: Vec<(f64, f64)> = (0..=36)
        .map(|i| (T0 + i as f64 * 600.0, 4.0 + 60.0 * i as f64))
        .collect();
    let stack: Vec<(f64, f64)> = (0..=36)
        .map(|i| (T0 + i as f64 * 600.0, 60.0 * i as f64))
        .collect();
    let plot = GoroutinePlot {
        title: "goroutines".into(),
        total,
        stacks: vec![GoroutineStack {
            label: "main.awaitReply ← main.(*pool).dispatch <&>".into(),
            points: stack,
        }],
    };
    let svg = Svg.export(&plot).unwrap();
    let texts = svg_texts(&svg);
    assert!(
        texts
            .iter()
            .any(|t| t == "main.awaitReply ← main.(*pool).dispatch <&>"),
        "the stack's label is drawn as text: {texts:?}"
    );
    check_golden("goroutine_plot.svg", &svg);
}

/// A heap profile (`inuse_objects`, `inuse_space`) of the given stacks, each
/// leaf first with its bytes.
pub(super) fn heap_profile(stacks: &[(&[&str], i64)]) -> Profile {
    let mut b = ProfileBuilder::new(&[("inuse_objects", "count"), ("inuse_space", "bytes")]);
    for (frames, bytes) in stacks {
        b.sample(frames, &[bytes / 64, *bytes]);
    }
    b.build()
}

pub(super) fn flame_profiles() -> (Profile, Profile) {
    let base = heap_profile(&[
        (
            &[
                "main.newEntry",
                "main.(*cache).get",
                "main.handle",
                "main.main",
            ],
            40 << 20,
        ),
        (
            &["bytes.growSlice", "main.render", "main.handle", "main.main"],
            30 << 20,
        ),
        (
            &["<script>alert(1)</script>", "main.handle", "main.main"],
            1 << 20,
        ),
        (
            &["std::map<int; char>::insert", "a&b \"q\" 'x'", "main.main"],
            2 << 20,
        ),
    ]);
    let new = heap_profile(&[
        (
            &[
                "main.newEntry",
                "main.(*cache).get",
                "main.handle",
                "main.main",
            ],
            400 << 20,
        ),
        (
            &["bytes.growSlice", "main.render", "main.handle", "main.main"],
            10 << 20,
        ),
        (
            &["<script>alert(1)</script>", "main.handle", "main.main"],
            3 << 20,
        ),
        (
            &["std::map<int; char>::insert", "a&b \"q\" 'x'", "main.main"],
            2 << 20,
        ),
    ]);
    (base, new)
}

#[test]
fn flame_svg_matches_golden_and_draws_odd_names_as_text() {
    let (base, new) = flame_profiles();
    let svg = Svg
        .export(&FlameDiff {
            title: "heap growth",
            base: &base,
            new: &new,
            sample_type: None,
        })
        .unwrap();
    let text = std::str::from_utf8(&svg).unwrap();
    let doc = roxmltree::Document::parse_with_options(
        text,
        roxmltree::ParsingOptions {
            allow_dtd: true,
            ..Default::default()
        },
    )
    .expect("the flame graph is well-formed XML");
    assert!(doc.descendants().all(
        |n| n.tag_name().name() != "script" || n.text().is_none_or(|t| !t.contains("alert(1)"))
    ));
    let titles: Vec<&str> = doc
        .descendants()
        .filter(|n| n.tag_name().name() == "title")
        .filter_map(|n| n.text())
        .collect();
    let has = |prefix: &str| titles.iter().any(|t| t.starts_with(prefix));
    assert!(
        has("<script>alert(1)</script> ("),
        "markup name is text: {titles:?}"
    );
    assert!(
        has("a&b \"q\" 'x' ("),
        "quotes and ampersand survive: {titles:?}"
    );
    // One frame, not two split at the semicolon.
    let map = format!("std::map<int{SEMICOLON_LOOKALIKE} char>::insert (");
    assert!(has(&map), "semicolon drawn as its look-alike: {titles:?}");
    assert!(
        !has(" char>::insert ("),
        "the name was split at ';': {titles:?}"
    );
    // Growth is red, shrinkage blue.
    let fill_of = |prefix: &str| {
        let g = doc
            .descendants()
            .find(|n| {
                n.tag_name().name() == "g"
                    && n.children()
                        .any(|c| c.text().is_some_and(|t| t.starts_with(prefix)))
            })
            .unwrap_or_else(|| panic!("no frame {prefix}"));
        g.descendants()
            .find(|n| n.tag_name().name() == "rect")
            .unwrap()
            .attribute("fill")
            .unwrap()
            .to_owned()
    };
    let rgb = |fill: String| -> (u8, u8, u8) {
        let v: Vec<u8> = fill
            .trim_start_matches("rgb(")
            .trim_end_matches(')')
            .split(',')
            .map(|c| c.trim().parse().unwrap())
            .collect();
        (v[0], v[1], v[2])
    };
    let (r, g, b) = rgb(fill_of("main.newEntry ("));
    assert!(r == 255 && b < r && g < r, "growth is red, got {r},{g},{b}");
    let (r, g, b) = rgb(fill_of("bytes.growSlice ("));
    assert!(
        b == 255 && r < b && g < b,
        "shrinkage is blue, got {r},{g},{b}"
    );
    check_golden("flame_diff.svg", &svg);
}

#[test]
fn flame_rejects_a_missing_sample_type() {
    let (base, new) = flame_profiles();
    let err = Svg
        .export(&FlameDiff {
            title: "x",
            base: &base,
            new: &new,
            sample_type: Some("alloc_space"),
        })
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("the base profile")
            && err.contains("\"alloc_space\"")
            && err.contains("inuse_objects, inuse_space"),
        "{err}"
    );
}

/// A full report from the fixtures, written to
/// `target/test-artifacts/report-fixture.html` for a look in a browser.
#[test]
fn fixture_report_is_self_contained() {
    use super::html::{EventRow, Report, SiteRow};
    use super::Html;
    let (base, new) = flame_profiles();
    let report = Report {
        target: "orders-api (pid 311)".into(),
        verdict: "leak".into(),
        kinds: vec!["heap".into()],
        summary:
            "Heap grows 38 MiB/h; 94% of it is main.newEntry ← main.(*cache).get (main.go:31)."
                .into(),
        facts: vec![("window".into(), "6h (73 samples)".into())],
        sparkline: Some(super::sparkline::sparkline(&[1.0, 2.0, 3.0, 5.0, 8.0], 40)),
        memory_svg: Some(Svg.export(&leaking_memory_plot()).unwrap()),
        flame_svg: Some(
            Svg.export(&FlameDiff {
                title: "heap growth",
                base: &base,
                new: &new,
                sample_type: None,
            })
            .unwrap(),
        ),
        sites: vec![SiteRow {
            function: "<script>alert(1)</script>".into(),
            file: Some("/src/main.go".into()),
            line: Some(27),
            stack: vec!["main.newEntry".into(), "main.(*cache).get".into()],
            first: "40 MiB".into(),
            last: "400 MiB".into(),
            slope: "38 MiB".into(),
            share: 0.94,
        }],
        events: vec![EventRow {
            time: "2026-11-26T16:00:00Z".into(),
            kind: "restart".into(),
            detail: "pid 311 → 342".into(),
        }],
        ..Default::default()
    };
    let page = String::from_utf8(Html.export(&report).unwrap()).unwrap();
    assert!(
        !page.contains("<script"),
        "no script element, not even from inferno"
    );
    assert!(
        !page.contains("http://") || !page.contains("src=\"http"),
        "nothing fetched"
    );
    assert!(page.contains("<svg"), "the memory chart is inline");
    assert!(
        page.contains("src=\"data:image/svg+xml;base64,"),
        "the flame graph is a data: image"
    );
    let dir = artifacts();
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("report-fixture.html"), page).unwrap();
}

#[test]
fn a_cgroup_far_above_the_process_is_named_not_drawn() {
    let mut plot = leaking_memory_plot();
    plot.limit = None;
    for s in &mut plot.series {
        if s.kind == SeriesKind::Cgroup {
            s.points.iter_mut().for_each(|p| p.1 = 2048.0 * MIB);
        }
    }
    let texts = svg_texts(&Svg.export(&plot).unwrap());
    assert!(
        texts
            .iter()
            .any(|t| t == "cgroup usage up to 2.0 GiB: off the scale"),
        "{texts:?}"
    );
    assert!(
        !texts.iter().any(|t| t.ends_with(" GiB") && t.len() < 10),
        "GiB ticks: {texts:?}"
    );
}
