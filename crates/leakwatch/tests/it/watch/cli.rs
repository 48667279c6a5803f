//! The command line of `watch` and `check`: bad arguments name their flag,
//! and a spawned child's stdout stays out of the JSON verdict.

use crate::support;

use std::fs;

use serde_json::Value;

use super::out_dir;

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
