//! The power statement of a "no leak": the verdict says how fast a leak
//! could have hidden in the window (`detectable_bytes_per_hour`). Checked
//! on a real recording of a healthy service: a steady leak at twice that
//! rate, injected into the recorded RSS series, must be called a leak, and
//! one at half of it must not.

use std::path::Path;

use serde_json::Value;

use crate::support::{leakwatch, scenario, scratch};

fn analyze_json(dir: &Path) -> Value {
    let out = leakwatch()
        .args(["analyze", "--json"])
        .arg(dir)
        .output()
        .expect("run leakwatch analyze");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "verdict JSON ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// A copy of the recording in `from` whose RSS samples grow by an extra
/// `per_hour` bytes per hour from the first sample on.
fn with_injected_leak(from: &Path, to: &Path, per_hour: f64) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, to.join(path.file_name().unwrap())).unwrap();
        }
    }
    let samples = std::fs::read_to_string(from.join("samples.jsonl")).unwrap();
    let mut t0 = None;
    let mut out = String::new();
    for line in samples.lines() {
        let mut s: Value = serde_json::from_str(line).unwrap();
        let t = time_seconds(s["time"].as_str().unwrap());
        let dt = t - *t0.get_or_insert(t);
        let extra = (per_hour * dt / 3600.0).round() as u64;
        for key in ["vm_rss", "rss_anon"] {
            if let Some(v) = s[key].as_u64() {
                s[key] = Value::from(v + extra);
            }
        }
        out.push_str(&s.to_string());
        out.push('\n');
    }
    std::fs::write(to.join("samples.jsonl"), out).unwrap();
}

/// Seconds of an RFC 3339 UTC time within one day (the recording spans
/// seconds), enough for differences.
fn time_seconds(ts: &str) -> f64 {
    let clock = ts.split('T').nth(1).unwrap().trim_end_matches('Z');
    let mut parts = clock.split(':');
    let h: f64 = parts.next().unwrap().parse().unwrap();
    let m: f64 = parts.next().unwrap().parse().unwrap();
    let s: f64 = parts.next().unwrap().parse().unwrap();
    h * 3600.0 + m * 60.0 + s
}

#[test]
fn a_leak_at_twice_the_detectable_rate_is_found_in_a_healthy_recording() {
    let dir = scratch();
    let rec = dir.path().join("rec");
    // A healthy service past its warm-up: a young process's RSS climbs for
    // seconds (longer on a loaded machine) as its heap and caches fill,
    // which a 12 s window would rightly call growth.
    let svc = scenario::Service::start("lru", &["-rate", "2000"]);
    std::thread::sleep(std::time::Duration::from_secs(8));
    // RSS only (no profiles): the verdict is judged on RSS, the series the
    // injected leak goes into.
    let out = leakwatch()
        .args([
            "watch",
            "--quiet",
            "--interval",
            "100ms",
            "--duration",
            "12s",
            "--pid",
            &svc.pid.to_string(),
        ])
        .arg("--out")
        .arg(&rec)
        .output()
        .expect("run leakwatch watch");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let healthy = analyze_json(&rec);
    assert_eq!(healthy["verdict"], "no_leak", "{healthy:#}");
    let d = healthy["rss"]["detectable_bytes_per_hour"]
        .as_f64()
        .unwrap_or_else(|| panic!("no power figure: {healthy:#}"));
    assert!(d > 0.0, "{d}");
    let summary = healthy["summary"].as_str().unwrap();
    assert!(summary.contains("could hide in this window"), "{summary}");

    let twice = dir.path().join("twice");
    with_injected_leak(&rec, &twice, 2.0 * d);
    let v = analyze_json(&twice);
    assert_eq!(v["rss"]["growing"], true, "2 × {d} B/h: {v:#}");
    assert_eq!(v["verdict"], "leak", "2 × {d} B/h: {v:#}");

    let half = dir.path().join("half");
    with_injected_leak(&rec, &half, 0.5 * d);
    let v = analyze_json(&half);
    assert_eq!(v["rss"]["growing"], false, "0.5 × {d} B/h: {v:#}");
}
