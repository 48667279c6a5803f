//! A watch without a PID: only `--pprof URL`, the real scenario service
//! behind it. Its memory samples come from the service's `/metrics`
//! (`process_resident_memory_bytes`), or, where `/metrics` is missing, from
//! Go's runtime statistics; its restarts from `process_start_time_seconds`.

use super::*;

use std::process::Output;

use support::http::{Request, Response, Server};
use support::scenario::{free_port, Service};

/// `check --json` on `url` alone for `window`, into `out`.
fn check_remote(url: &str, out: &Path, window: &str) -> (Output, Value) {
    let mut cmd = support::leakwatch();
    cmd.args(["check", "--json", "--quiet", "--interval", "1s"])
        .args(["--profile-interval", "3s", "--duration", window])
        .args(["--pprof", url])
        .arg("--out")
        .arg(out);
    let output = cmd.output().expect("run leakwatch check");
    let v: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("no verdict ({e}): {}", support::describe(&cmd, &output)));
    (output, v)
}

/// The scenario's windows of `scenarios`: 50 s gives 16 heap profiles at
/// 3 s, one more than a verdict needs.
const WINDOW: &str = "50s";

#[test]
fn check_without_a_pid_finds_the_leak_from_metrics_and_clears_the_healthy() {
    let scratch = support::scratch();
    let run = |mode: &'static str| {
        let dir = scratch.path().join(mode);
        move || {
            let svc = Service::start(mode, &[]);
            let (out, v) = check_remote(&svc.url, &dir, WINDOW);
            // The RSS the service served against its own /proc, read now.
            let status = fs::read_to_string(format!("/proc/{}/status", svc.pid)).unwrap();
            (out, v, dir, status)
        }
    };
    let (leaky, healthy) = thread::scope(|s| {
        let leaky = s.spawn(run("mapcache"));
        let healthy = s.spawn(run("lru"));
        (leaky.join().unwrap(), healthy.join().unwrap())
    });

    let (out, v, dir, status) = leaky;
    assert_eq!(out.status.code(), Some(1), "mapcache: {v:#}");
    assert_eq!(v["verdict"], "leak", "{v:#}");
    assert_eq!(v["sites"][0]["function"], "main.newEntry", "{v:#}");
    let m = meta(&dir);
    assert_eq!(m["target"]["mode"], "remote", "{m:#}");
    assert_eq!(m["target"]["memory_source"], "metrics", "{m:#}");
    assert!(
        m["target"]["metrics_url"]
            .as_str()
            .is_some_and(|u| u.ends_with("/metrics")),
        "{m:#}"
    );
    let s = samples(&dir);
    assert!(s.len() >= 40, "a sample a second for 50 s: {}", s.len());
    // What /metrics served is the process's RSS: the last sample is within
    // a few MiB of what the kernel says just after the watch (the service
    // keeps allocating meanwhile, so not equal).
    let served = s.last().unwrap()["vm_rss"].as_f64().unwrap();
    let kernel: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|r| r.trim().trim_end_matches("kB").trim().parse().ok())
        .map(|kib: f64| kib * 1024.0)
        .unwrap();
    assert!(
        (served - kernel).abs() < 8.0 * 1048576.0 && served > 0.0,
        "served {served} vs VmRSS {kernel}"
    );
    // What a watch from afar cannot see is said; RSS was seen here.
    let summary = v["summary"].as_str().unwrap();
    assert!(summary.contains("--limit"), "{summary}");
    assert!(!summary.contains("No RSS"), "{summary}");

    let (out, v, dir, _) = healthy;
    assert_eq!(out.status.code(), Some(0), "lru: {v:#}");
    assert_eq!(v["verdict"], "no_leak", "{v:#}");
    assert_eq!(meta(&dir)["target"]["memory_source"], "metrics");
}

/// A proxy in front of `svc` that forwards its pprof pages and answers 404
/// for everything else, `/metrics` included.
fn without_metrics(svc: &Service) -> Server {
    let forward = |base: String| {
        move |req: &Request| {
            let url = if req.query.is_empty() {
                format!("{base}{}", req.path)
            } else {
                format!("{base}{}?{}", req.path, req.query)
            };
            let (status, body) = support::http::fetch(&url);
            Response {
                status,
                ..Response::ok(body)
            }
        }
    };
    let mut b = Server::builder();
    for page in ["heap", "goroutine", "goroutineleak"] {
        b = b.handle(&format!("/debug/pprof/{page}"), forward(svc.url.clone()));
    }
    b.start()
}

#[test]
fn without_metrics_the_runtime_statistics_are_the_memory_and_say_so() {
    let scratch = support::scratch();
    let svc = Service::start("mapcache", &[]);
    let proxy = without_metrics(&svc);
    let dir = scratch.path().join("rec");
    let (out, v) = check_remote(&proxy.url, &dir, "10s");
    assert!(
        matches!(out.status.code(), Some(1 | 3)),
        "{v:#}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m = meta(&dir);
    assert_eq!(m["target"]["mode"], "remote", "{m:#}");
    assert_eq!(m["target"]["memory_source"], "runtime_stats", "{m:#}");
    assert!(m["target"].get("metrics_url").is_none(), "{m:#}");
    // The memory is in the runtime statistics, one line per round; there
    // are no RSS samples to pretend otherwise.
    assert!(samples(&dir).is_empty());
    let runtime = read_jsonl(&dir.join("runtime.jsonl"));
    assert!(runtime.len() >= 3, "{runtime:#?}");
    assert!(
        runtime
            .iter()
            .all(|r| r["sys"].as_u64() > r["heap_released"].as_u64()),
        "{runtime:#?}"
    );
    let summary = v["summary"].as_str().unwrap();
    assert!(summary.contains("No RSS was read"), "{summary}");
}

#[test]
fn a_restart_on_the_same_port_is_a_new_lifetime_and_the_gap_is_scrape_errors() {
    let scratch = support::scratch();
    let addr = format!("127.0.0.1:{}", free_port());
    let first = Service::start("lru", &["-addr", &addr]);
    let dir = scratch.path().join("rec");
    let watcher = Watcher::start([
        "--quiet",
        "--interval",
        "200ms",
        "--profile-interval",
        "2s",
        "--duration",
        "12s",
        "--pprof",
        &first.url,
        "--out",
        dir.to_str().unwrap(),
    ]);
    wait_until(
        "samples of the first process",
        Duration::from_secs(20),
        || samples(&dir).len() >= 5,
    );
    drop(first);
    // While nothing listens, the samples fail and say so; the watch goes on.
    wait_until(
        "a scrape_error for /metrics",
        Duration::from_secs(20),
        || {
            events(&dir)
                .iter()
                .any(|e| e["kind"] == "scrape_error" && e["profile"] == "metrics")
        },
    );
    let second = Service::start("lru", &["-addr", &addr]);
    let (status, stderr) = watcher.wait(Duration::from_secs(60));
    drop(second);
    assert!(status.success(), "{stderr}");

    let s = samples(&dir);
    let starts: Vec<f64> = s
        .iter()
        .map(|x| {
            x["process_start"]
                .as_f64()
                .expect("process_start in each sample")
        })
        .collect();
    let mut distinct = starts.clone();
    distinct.dedup();
    assert_eq!(distinct.len(), 2, "two processes, in order: {distinct:?}");
    assert!(distinct[1] > distinct[0]);
    let evs = events(&dir);
    let restarts = events_of(&evs, "restart");
    assert_eq!(restarts.len(), 1, "{evs:#?}");
    assert!(
        restarts[0]["detail"]
            .as_str()
            .unwrap()
            .contains("process_start_time_seconds"),
        "{evs:#?}"
    );
    let err = events_of(&evs, "scrape_error")
        .into_iter()
        .find(|e| e["profile"] == "metrics")
        .unwrap()
        .clone();
    assert_eq!(err["error"], "connection_refused", "{err:#}");
    // The verdict judges the two lifetimes apart: its events list the
    // restart.
    let v = analyze_json(&dir);
    assert!(
        v["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "restart"),
        "{v:#}"
    );
}

/// Runs `cmd`, requires exit code 2 (an error), and returns its stderr.
fn exit_2_stderr(cmd: &mut std::process::Command) -> String {
    let out = cmd.output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        support::describe(cmd, &out)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_remote_target_that_does_not_answer_is_one_clear_error() {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let mut cmd = support::leakwatch();
    cmd.args(["check", "--quiet", "--duration", "5s", "--pprof", &url]);
    let stderr = exit_2_stderr(&mut cmd);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(&url) && stderr.contains("connection refused"),
        "{stderr}"
    );

    // An explicit --metrics that is not there is an error too, not a
    // silent fallback.
    let svc = Service::start("idle", &[]);
    let mut cmd = support::leakwatch();
    cmd.args(["watch", "--quiet", "--duration", "5s", "--pprof", &svc.url])
        .args(["--metrics", &format!("{}/nope", svc.url)]);
    let stderr = exit_2_stderr(&mut cmd);
    assert!(
        stderr.contains("--metrics") && stderr.contains("/nope") && stderr.contains("404"),
        "{stderr}"
    );
}
