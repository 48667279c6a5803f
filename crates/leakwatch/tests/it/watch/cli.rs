//! The command line of `watch`, `check` and `analyze`: bad arguments name
//! their flag, a spawned child's stdout stays out of the JSON verdict, and
//! `analyze --until` cuts the window where it says.

use crate::support;

use std::fs;

use serde_json::Value;

use super::{analyze_json, analyze_json_with, meta, out_dir, samples};

#[test]
fn bad_arguments_are_errors_that_name_the_flag() {
    let out = support::run_err(support::leakwatch().args([
        "watch",
        "--pid",
        "1",
        "--pprof",
        "https://x",
    ]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--pprof"), "{err}");
    let out =
        support::run_err(support::leakwatch().args(["watch", "--interval", "0s", "--", "true"]));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--interval"));
    let scratch = support::scratch();
    fs::write(scratch.path().join("x"), "").unwrap();
    let out = support::run_err(support::leakwatch().args([
        "watch",
        "--out",
        scratch.path().to_str().unwrap(),
        "--duration",
        "1s",
        "--",
        "true",
    ]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not empty"), "{err}");
    let out =
        support::run_err(support::leakwatch().args(["analyze", scratch.path().to_str().unwrap()]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a leakwatch recording"), "{err}");
}

#[test]
fn a_spawned_childs_stdout_does_not_corrupt_the_verdict_json() {
    let scratch = support::scratch();
    let out = support::leakwatch()
        .args([
            "check",
            "--json",
            "--quiet",
            "--interval",
            "100ms",
            "--duration",
            "1s",
            "--out",
            out_dir(scratch.path()).to_str().unwrap(),
            "--",
            "sh",
            "-c",
            "echo listening on http://127.0.0.1:1; sleep 30",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let verdict: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {stdout}"));
    assert_eq!(verdict["schema"], "leakwatch.verdict/1");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("listening on"), "{stderr}");
}

#[test]
fn analyze_until_judges_the_recording_up_to_then() {
    let scratch = support::scratch();
    let dir = out_dir(scratch.path());
    support::run_ok(support::leakwatch().args([
        "watch",
        "--interval",
        "100ms",
        "--duration",
        "2s",
        "--out",
        dir.to_str().unwrap(),
        "--",
        "sleep",
        "10",
    ]));
    let whole = analyze_json(&dir);
    assert_eq!(whole["interim"], false, "{whole:#}");

    // Half a second in: only what was recorded by then, and interim.
    let start = humantime::parse_rfc3339(meta(&dir)["start"].as_str().unwrap()).unwrap();
    let cut = start + std::time::Duration::from_millis(500);
    let early = analyze_json_with(&dir, &["--until", "+500ms"]);
    assert_eq!(early["interim"], true, "{early:#}");
    let end = humantime::parse_rfc3339(early["window"]["end"].as_str().unwrap()).unwrap();
    assert!(start <= end && end <= cut, "{early:#}");
    let before_cut = samples(&dir)
        .iter()
        .filter(|s| humantime::parse_rfc3339(s["time"].as_str().unwrap()).unwrap() <= cut)
        .count();
    assert!(before_cut < samples(&dir).len());
    assert_eq!(early["window"]["rss_samples"], before_cut, "{early:#}");
    // The same instant written in RFC 3339.
    let at = humantime::format_rfc3339_micros(cut).to_string();
    assert_eq!(analyze_json_with(&dir, &["--until", &at]), early);
    // A cut after the end is the whole recording.
    assert_eq!(analyze_json_with(&dir, &["--until", "+1h"]), whole);

    // Before the start, or not a time: a one-line error naming the flag.
    for (bad, says) in [
        ("2000-01-01T00:00:00Z", "before the recording's start"),
        ("yesterday", "not an RFC 3339"),
        ("+soon", "not a duration"),
    ] {
        let out = support::run_err(support::leakwatch().args([
            "analyze",
            "--until",
            bad,
            dir.to_str().unwrap(),
        ]));
        assert_eq!(out.status.code(), Some(2), "--until {bad}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--until") && err.contains(says), "{err}");
    }
}
