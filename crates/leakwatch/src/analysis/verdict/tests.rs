//! The decision rules end to end: observations shaped like each kind of
//! leak, and of no leak, through [`decide`] to the verdict, its JSON and its
//! summary; and the JSON names of the verdict's enums.

use std::time::Duration;

use super::*;
use crate::analysis::growth::Thresholds;
use crate::analysis::series::{Lifetime, Observations, Series, SiteSeries};
use crate::analysis::sites::Frame;

const MIB: f64 = 1024.0 * 1024.0;

fn series(n: usize, step: f64, f: impl Fn(f64) -> f64) -> Series {
    let t: Vec<f64> = (0..n).map(|i| i as f64 * step).collect();
    Series {
        y: t.iter().map(|&t| f(t)).collect(),
        lifetime: vec![0; n],
        t,
    }
}

fn wobble(t: f64) -> f64 {
    // Deterministic noise without a trend.
    ((t * 12.9898).sin() * 43758.5453).fract()
}

fn obs(rss: Series, heap: Series, goroutines: Series) -> Observations {
    let end = rss.t.last().copied().unwrap_or(0.0);
    Observations {
        complete: true,
        window: Window {
            start: Timestamp::default(),
            end: Timestamp(std::time::UNIX_EPOCH + Duration::from_secs_f64(end)),
            duration_seconds: end,
            rss_samples: rss.len(),
            heap_profiles: heap.len(),
            goroutine_profiles: goroutines.len(),
        },
        rss,
        rss_anon: Series::default(),
        cgroup: Series::default(),
        heap_objects: Series::default(),
        heap_sites: Vec::new(),
        heap_site_points: heap.clone(),
        go_mapped: Series::default(),
        heap_alloc: Series::default(),
        gc_forced: false,
        goroutine_sites: Vec::new(),
        goroutine_site_points: goroutines.clone(),
        goroutine_leak: None,
        heap,
        goroutines,
        lifetimes: vec![Lifetime {
            pid: 1,
            start: 0.0,
            end,
            died: false,
            oom_killed: false,
        }],
        events: Vec::new(),
        cgroup_limit: None,
        first_last_heap: None,
        unreadable: Vec::new(),
    }
}

fn site(name: &str, caller: &str, values: Vec<f64>) -> SiteSeries {
    SiteSeries {
        function: name.into(),
        objects: vec![0.0; values.len()],
        values,
        chain: vec![
            Frame {
                function: name.into(),
                file: "/src/main.go".into(),
                line: 27,
            },
            Frame {
                function: caller.into(),
                file: "/src/main.go".into(),
                line: 31,
            },
        ],
    }
}

#[test]
fn heap_leak_names_the_site_and_the_time_to_limit() {
    let rss = series(120, 1.0, |t| {
        20.0 * MIB + 0.5 * MIB * t + 0.2 * MIB * wobble(t)
    });
    let heap = series(40, 3.0, |t| 4.0 * MIB + 0.25 * MIB * t);
    let mut o = obs(rss, heap.clone(), series(40, 3.0, |_| 6.0));
    o.heap_sites = vec![
        site(
            "main.newEntry",
            "main.(*cache).get",
            heap.t.iter().map(|t| 0.24 * MIB * t).collect(),
        ),
        site("main.steady", "main.main", vec![MIB; 40]),
    ];
    o.cgroup_limit = Some(2 << 30);
    let v = decide(&o, &Options::default());
    assert_eq!(v.verdict, Decision::Leak, "{}", v.summary);
    assert_eq!(v.kind, vec![LeakKind::Heap]);
    assert_eq!(v.sites.len(), 1, "{:?}", v.sites);
    assert_eq!(v.sites[0].function, "main.newEntry");
    assert_eq!(v.sites[0].stack, ["main.newEntry", "main.(*cache).get"]);
    assert!(v.sites[0].share > 0.9, "{:?}", v.sites[0]);
    let l = v.limit.as_ref().unwrap();
    assert_eq!(l.source, LimitSource::Cgroup);
    let t = l.time_to_limit_seconds.unwrap();
    // (2 GiB − ~80 MiB) / 0.5 MiB/s ≈ 3935 s.
    assert!((3800.0..4100.0).contains(&t), "{t}");
    assert!(
        l.time_to_limit_low_seconds.unwrap() <= t && t <= l.time_to_limit_high_seconds.unwrap()
    );
    assert!(
        v.summary
            .contains("main.newEntry ← main.(*cache).get (main.go:27)"),
        "{}",
        v.summary
    );
    assert!(
        v.summary.contains("cgroup limit is reached in 1h"),
        "{}",
        v.summary
    );
}

#[test]
fn heap_plateau_is_no_leak_even_when_rss_drifts() {
    let rss = series(60, 1.0, |t| 30.0 * MIB + 0.2 * MIB * t);
    let heap = series(20, 3.0, |t| {
        2.0 * MIB + 3.0 * MIB * (t / 30.0).min(1.0) + 1000.0 * wobble(t)
    });
    let mut o = obs(rss, heap, series(20, 3.0, |_| 5.0));
    // The runtime's mapped memory rises with RSS: garbage, not a leak.
    o.go_mapped = series(20, 3.0, |t| 25.0 * MIB + 0.2 * MIB * t);
    let v = decide(&o, &Options::default());
    assert_eq!(v.verdict, Decision::NoLeak, "{}", v.summary);
    assert!(v.summary.contains("plateau"), "{}", v.summary);
    assert!(v.sites.is_empty());
}

#[test]
fn noisy_flat_heap_is_no_leak() {
    let rss = series(60, 1.0, |t| 30.0 * MIB + MIB * wobble(t));
    let heap = series(20, 3.0, |t| 8.0 * MIB + 0.5 * MIB * wobble(t + 0.5));
    let v = decide(
        &obs(rss, heap, series(20, 3.0, |_| 7.0)),
        &Options::default(),
    );
    assert_eq!(v.verdict, Decision::NoLeak, "{}", v.summary);
    assert!(v.kind.is_empty());
    assert!(v.limit.is_none());
}

#[test]
fn rss_growth_the_heap_does_not_explain_is_native() {
    let rss = series(60, 1.0, |t| 10.0 * MIB + 0.3 * MIB * t);
    let heap = series(20, 3.0, |t| 3.0 * MIB + 0.1 * MIB * wobble(t));
    let mut o = obs(rss, heap, series(20, 3.0, |_| 5.0));
    o.go_mapped = series(20, 3.0, |t| 8.0 * MIB + 1000.0 * wobble(t));
    let v = decide(
        &o,
        &Options {
            limit: Some(1 << 30),
            ..Options::default()
        },
    );
    assert_eq!(v.verdict, Decision::Leak, "{}", v.summary);
    assert_eq!(v.kind, vec![LeakKind::Native]);
    assert!(v.summary.contains("outside Go"), "{}", v.summary);
    assert_eq!(v.limit.unwrap().source, LimitSource::Flag);
}

#[test]
fn rss_only_growth_is_an_rss_leak() {
    let rss = series(200, 60.0, |t| {
        100.0 * MIB + 10.0 * MIB * t / 3600.0 + 2.0 * MIB * wobble(t)
    });
    let v = decide(
        &obs(rss, Series::default(), Series::default()),
        &Options::default(),
    );
    assert_eq!(v.verdict, Decision::Leak, "{}", v.summary);
    assert_eq!(v.kind, vec![LeakKind::Rss]);
    assert!(v.heap.is_none() && v.goroutines.is_none());
    let per_hour = v.rss.unwrap().slope_bytes_per_hour / MIB;
    assert!((9.0..11.0).contains(&per_hour), "{per_hour}");
}

#[test]
fn go_s_leak_detector_decides_where_the_window_is_too_short_for_a_trend() {
    // Five profile rounds: far too few for a trend of anything. RSS climbs
    // steeply, as a young process's does while it warms up; only the proof
    // may decide here, and it proves goroutines, nothing else.
    let rss = series(50, 0.1, |t| 10.0 * MIB + 8.0 * MIB * t);
    let heap = series(5, 1.0, |_| 3.0 * MIB);
    let gr = series(5, 1.0, |_| 9.0);
    let mut o = obs(rss.clone(), heap.clone(), gr.clone());
    let without = decide(&o, &Options::default());
    assert_eq!(
        without.verdict,
        Decision::Inconclusive,
        "{}",
        without.summary
    );
    assert_eq!(without.goroutines.as_ref().unwrap().proven_leaked, None);

    let chain = |leaf: &str, caller: &str| {
        [leaf, caller]
            .iter()
            .map(|f| Frame {
                function: (*f).into(),
                file: "/src/main.go".into(),
                line: 0,
            })
            .collect()
    };
    o.goroutine_leak = Some(crate::analysis::leak_proof::LeakProof {
        t: 4.0,
        total: 7,
        sites: vec![
            (
                "main.fanOut.func1".into(),
                4,
                chain("main.fanOut.func1", "main.fanOut"),
            ),
            (
                "main.lockOrphan".into(),
                3,
                chain("main.lockOrphan", "main.run"),
            ),
        ],
    });
    let v = decide(&o, &Options::default());
    assert_eq!(v.verdict, Decision::Leak, "{}", v.summary);
    assert_eq!(v.kind, vec![LeakKind::Goroutines]);
    assert_eq!(v.goroutines.as_ref().unwrap().proven_leaked, Some(7));
    let sites: Vec<(&str, Option<u64>)> = v
        .goroutine_sites
        .iter()
        .map(|s| (s.function.as_str(), s.proven_leaked))
        .collect();
    assert_eq!(
        sites,
        vec![("main.fanOut.func1", Some(4)), ("main.lockOrphan", Some(3))]
    );
    assert!(
        v.summary.contains("proves 7 goroutine(s) leaked")
            && v.summary
                .contains("4 of them in main.fanOut.func1 ← main.fanOut"),
        "{}",
        v.summary
    );

    // A detector that ran and found nothing proves nothing.
    o.goroutine_leak.as_mut().unwrap().total = 0;
    o.goroutine_leak.as_mut().unwrap().sites.clear();
    let v = decide(&o, &Options::default());
    assert_eq!(v.verdict, Decision::Inconclusive, "{}", v.summary);
    assert_eq!(v.goroutines.unwrap().proven_leaked, Some(0));
}

#[test]
fn goroutine_growth_names_the_blocked_function() {
    let rss = series(60, 1.0, |t| 10.0 * MIB + 0.02 * MIB * t);
    let heap = series(20, 3.0, |_| 3.0 * MIB);
    let gr = series(20, 3.0, |t| 4.0 + 200.0 * t);
    let mut o = obs(rss, heap, gr.clone());
    let mut blocked = site(
        "main.awaitReply",
        "main.handle",
        gr.y.iter().map(|g| g - 4.0).collect(),
    );
    blocked.chain.truncate(1);
    o.goroutine_sites = vec![blocked, site("net/http.(*conn).serve", "x", vec![4.0; 20])];
    let v = decide(&o, &Options::default());
    assert_eq!(v.verdict, Decision::Leak, "{}", v.summary);
    assert!(v.kind.contains(&LeakKind::Goroutines), "{:?}", v.kind);
    assert_eq!(v.goroutine_sites[0].function, "main.awaitReply");
    assert!(v.goroutine_sites[0].share > 0.99);
    assert!(
        v.summary.contains("blocked in main.awaitReply"),
        "{}",
        v.summary
    );
}

#[test]
fn three_points_are_inconclusive_and_say_what_is_missing() {
    let rss = series(9, 1.0, |t| 10.0 * MIB + MIB * t);
    let heap = series(3, 3.0, |t| MIB * t);
    let v = decide(&obs(rss, heap, Series::default()), &Options::default());
    assert_eq!(v.verdict, Decision::Inconclusive);
    assert!(v.kind.is_empty());
    assert!(v.summary.contains("3 heap profiles"), "{}", v.summary);
    // Ten profiles: the fewest with which the 1% trend test and the 5%
    // recent-growth test (in at most half the window) can both succeed.
    assert_eq!(Thresholds::BYTES.min_points(), 10);
    assert!(v.summary.contains("at least 10"), "{}", v.summary);
    assert!(v.summary.contains("21s more"), "{}", v.summary);
}

#[test]
fn a_blatant_goroutine_leak_decides_in_forty_seconds() {
    // The case: 14 profiles 3 s apart, goroutines from 6 to about
    // 7,800, heap flat. A fixed floor of 15 profiles said "inconclusive";
    // the evidence decides.
    let rss = series(40, 1.0, |t| 30.0 * MIB + 0.1 * MIB * wobble(t));
    let heap = series(14, 3.0, |t| 8.0 * MIB + 0.2 * MIB * wobble(t));
    let goroutines = series(14, 3.0, |t| 6.0 + 200.0 * t);
    let v = decide(&obs(rss, heap, goroutines), &Options::default());
    assert_eq!(v.verdict, Decision::Leak, "{}", v.summary);
    assert_eq!(v.kind, vec![LeakKind::Goroutines], "{}", v.summary);
    // Nine: the trend test could decide, but the recent part (five points)
    // would be more than half the window, so a warm-up could not be told
    // from growth: inconclusive.
    let rss = series(27, 1.0, |t| 30.0 * MIB + 0.1 * MIB * wobble(t));
    let heap = series(9, 3.0, |t| 8.0 * MIB + 0.2 * MIB * wobble(t));
    let goroutines = series(9, 3.0, |t| 6.0 + 200.0 * t);
    let v = decide(&obs(rss, heap, goroutines), &Options::default());
    assert_eq!(v.verdict, Decision::Inconclusive, "{}", v.summary);
}

#[test]
fn sawtooth_of_restarts_is_a_leak_and_reported() {
    // Four lifetimes of 30 one-minute samples, each growing 20 → 78 MiB.
    let n = 120;
    let t: Vec<f64> = (0..n).map(|i| i as f64 * 60.0).collect();
    let rss = Series {
        y: (0..n)
            .map(|i| 20.0 * MIB + 2.0 * MIB * (i % 30) as f64)
            .collect(),
        lifetime: (0..n).map(|i| i / 30).collect(),
        t: t.clone(),
    };
    let mut o = obs(rss, Series::default(), Series::default());
    o.lifetimes = (0..4)
        .map(|k| Lifetime {
            pid: 100 + k as u32,
            start: t[k * 30],
            end: t[k * 30 + 29],
            died: k < 3,
            oom_killed: k < 3,
        })
        .collect();
    let v = decide(&o, &Options::default());
    assert_eq!(v.verdict, Decision::Leak, "{}", v.summary);
    assert_eq!(v.kind, vec![LeakKind::Rss]);
    assert!(
        v.summary
            .contains("Sawtooth: The process died 3 times (3 OOM-killed)"),
        "{}",
        v.summary
    );
    assert!(v
        .events
        .iter()
        .any(|e| e.kind == VerdictEventKind::Sawtooth));
}

/// Lifetimes of 15 one-second heap profiles, each starting again from 3
/// MiB: `shape(age)` is a lifetime's heap above that, and its growing site
/// holds all of it. The first four lifetimes die; the watch began when the
/// first was 8 s old, and ends when the last is 5 s young.
fn restarted(shape: impl Fn(f64) -> f64) -> Observations {
    let lens = [15, 15, 15, 15, 5];
    let (mut t, mut age, mut lifetime) = (Vec::new(), Vec::new(), Vec::new());
    for (k, len) in lens.iter().enumerate() {
        let born = if k == 0 { 8 } else { 0 };
        for i in 0..*len {
            t.push((k * 16 + i) as f64);
            age.push((born + i) as f64);
            lifetime.push(k);
        }
    }
    let site_bytes: Vec<f64> = age.iter().map(|&a| shape(a)).collect();
    let heap = Series {
        y: site_bytes
            .iter()
            .zip(&t)
            .map(|(b, &t)| 3.0 * MIB + b + 0.02 * MIB * wobble(t))
            .collect(),
        lifetime: lifetime.clone(),
        t: t.clone(),
    };
    let rss = Series {
        y: heap.y.iter().map(|h| 2.0 * h).collect(),
        ..heap.clone()
    };
    let mut o = obs(rss, heap, Series::default());
    o.heap_sites = vec![site("main.newEntry", "main.(*cache).get", site_bytes)];
    o.lifetimes = lens
        .iter()
        .enumerate()
        .map(|(k, len)| Lifetime {
            pid: 100 + k as u32,
            start: (k * 16) as f64,
            end: (k * 16 + len - 1) as f64,
            died: k < 4,
            oom_killed: false,
        })
        .collect();
    o
}

#[test]
fn a_slow_heap_leak_across_short_lifetimes_is_a_leak_with_its_site_and_sawtooth() {
    // 0.2 MiB/s in every lifetime: the window's first third holds an old
    // process, its last third young ones, so only within lifetimes does
    // the site rise.
    let v = decide(&restarted(|a| 0.2 * MIB * a), &Options::default());
    assert_eq!(v.verdict, Decision::Leak, "{}", v.summary);
    assert_eq!(v.kind, vec![LeakKind::Heap]);
    assert_eq!(
        v.sites.first().map(|s| s.function.as_str()),
        Some("main.newEntry")
    );
    assert!(
        v.summary.contains("within each of 5 process lifetimes"),
        "{}",
        v.summary
    );
    assert!(
        v.summary.contains("Sawtooth: The process died 4 times"),
        "{}",
        v.summary
    );
}

#[test]
fn a_warm_up_in_every_short_lifetime_is_no_leak_and_no_sawtooth() {
    // Each lifetime fills 1 MiB in 9 s, then stays flat until it dies.
    let v = decide(
        &restarted(|a| MIB * (a / 9.0).min(1.0)),
        &Options::default(),
    );
    assert_eq!(v.verdict, Decision::NoLeak, "{}", v.summary);
    assert!(
        v.events
            .iter()
            .all(|e| e.kind != VerdictEventKind::Sawtooth),
        "{:?}",
        v.events
    );
}

/// The verdict JSON has the fields `docs/json.md` documents.
#[test]
fn json_has_the_documented_shape() {
    let rss = series(60, 1.0, |t| 10.0 * MIB + 0.02 * MIB * wobble(t));
    let v = decide(
        &obs(rss, Series::default(), Series::default()),
        &Options::default(),
    );
    let j = serde_json::to_value(&v).unwrap();
    for key in [
        "schema",
        "verdict",
        "kind",
        "summary",
        "window",
        "rss",
        "heap",
        "goroutines",
        "limit",
        "sites",
        "goroutine_sites",
        "events",
    ] {
        assert!(j.get(key).is_some(), "missing {key}: {j}");
    }
    assert_eq!(j["schema"], "leakwatch.verdict/1");
    assert_eq!(j["verdict"], "no_leak");
    assert!(j["heap"].is_null() && j["limit"].is_null());
    for key in [
        "first_bytes",
        "last_bytes",
        "slope_bytes_per_hour",
        "slope_low",
        "slope_high",
        "p_value",
        "growing",
    ] {
        assert!(j["rss"].get(key).is_some(), "rss.{key}: {j}");
    }
}

/// The JSON is a stable interface: the enums must keep the names the
/// strings they replaced had, and their text must match their JSON.
#[test]
fn limit_sources_keep_their_json_names() {
    for (source, name) in [
        (LimitSource::Flag, "flag"),
        (LimitSource::Cgroup, "cgroup"),
        (LimitSource::PrometheusQuery, "prometheus_query"),
    ] {
        assert_eq!(serde_json::to_value(source).unwrap(), name);
        assert_eq!(source.as_str(), name);
        assert_eq!(source.to_string(), name);
    }
}

#[test]
fn event_kinds_keep_their_json_names() {
    use VerdictEventKind::*;
    for (kind, name) in [
        (TargetExit, "target_exit"),
        (Restart, "restart"),
        (OomKill, "oom_kill"),
        (ScrapeError, "scrape_error"),
        (EndpointUnavailable, "endpoint_unavailable"),
        (UnreadableProfile, "unreadable_profile"),
        (Sawtooth, "sawtooth"),
    ] {
        assert_eq!(serde_json::to_value(kind).unwrap(), name);
        assert_eq!(kind.as_str(), name);
        assert_eq!(kind.to_string(), name);
    }
}
