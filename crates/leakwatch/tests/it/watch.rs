//! `leakwatch watch` against real processes, a real Go pprof endpoint and a
//! real misbehaving HTTP server; `leakwatch analyze` reading what it wrote.
//!
//! Intervals are short (100 ms samples, sub-second profiles) so that each
//! test takes seconds. The soak test that proves the watcher's memory stays
//! flat has a short version here and a long one behind `--ignored`:
//!
//! ```text
//! cargo test -p leakwatch --release --test it -- --ignored --nocapture watch::soak_long
//! ```

use crate::support;

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use support::http::{self, Response};
use support::scenario::{self, Service};

// ---------------------------------------------------------------- helpers

fn read_jsonl(path: &Path) -> Vec<Value> {
    let text = fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{}: {e}: {l}", path.display())))
        .collect()
}

fn samples(dir: &Path) -> Vec<Value> {
    read_jsonl(&dir.join("samples.jsonl"))
}

fn events(dir: &Path) -> Vec<Value> {
    read_jsonl(&dir.join("events.jsonl"))
}

fn events_of<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["kind"] == kind).collect()
}

fn meta(dir: &Path) -> Value {
    serde_json::from_str(&fs::read_to_string(dir.join("meta.json")).expect("meta.json"))
        .expect("meta.json parses")
}

/// The stored profile entries still listed (added and not removed).
fn listed_profiles(dir: &Path, kind: &str) -> Vec<Value> {
    let index = read_jsonl(&dir.join("profiles.jsonl"));
    let removed: BTreeSet<(u64, String)> = index
        .iter()
        .filter(|l| l["op"] == "remove")
        .map(|l| {
            (
                l["seq"].as_u64().unwrap(),
                l["kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    index
        .into_iter()
        .filter(|l| l["op"] == "add" && l["kind"] == kind)
        .filter(|l| !removed.contains(&(l["seq"].as_u64().unwrap(), kind.to_owned())))
        .collect()
}

fn end_event(dir: &Path) -> Value {
    let evs = events(dir);
    let ends = events_of(&evs, "end");
    assert_eq!(ends.len(), 1, "exactly one end event: {evs:#?}");
    assert_eq!(
        evs.last().unwrap()["kind"],
        "end",
        "end comes last: {evs:#?}"
    );
    ends[0].clone()
}

/// `analyze --json DIR`; any verdict will do (exit 0 no leak, 1 leak, 3
/// inconclusive), only an error (2) fails.
fn analyze_json(dir: &Path) -> Value {
    let mut cmd = support::leakwatch();
    cmd.arg("analyze").arg("--json").arg(dir);
    let out = cmd.output().expect("run leakwatch analyze");
    assert!(
        matches!(out.status.code(), Some(0 | 1 | 3)),
        "{}",
        support::describe(&cmd, &out)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("analyze --json: {e}\n{text}"))
}

/// Whether process `pid` exists and is not a zombie.
fn alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, r)| r.split_whitespace().next());
            state != Some("Z")
        }
        Err(_) => false,
    }
}

/// Processes whose process group is `pgid`.
fn group_members(pgid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // After ")": state, ppid, pgrp.
        if fields.get(2).and_then(|g| g.parse::<u32>().ok()) == Some(pgid) && fields[0] != "Z" {
            found.push(pid);
        }
    }
    found
}

fn wait_until(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(50));
    }
}

/// A watcher started in the background, killed (SIGKILL) if the test
/// fails before it ends.
struct Watcher {
    child: Child,
}

impl Watcher {
    fn start<S: AsRef<OsStr>>(args: impl IntoIterator<Item = S>) -> Watcher {
        let child = support::leakwatch()
            .arg("watch")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start leakwatch watch");
        Watcher { child }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn signal(&self, sig: i32) {
        // SAFETY: kill(2) with a pid we own.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, sig);
        }
    }

    /// Waits for it to exit by itself; returns its exit status and stderr.
    fn wait(mut self, timeout: Duration) -> (std::process::ExitStatus, String) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let mut err = String::new();
                if let Some(mut e) = self.child.stderr.take() {
                    let _ = e.read_to_string(&mut err);
                }
                return (status, err);
            }
            assert!(
                Instant::now() < deadline,
                "leakwatch watch did not end in {timeout:?}"
            );
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn out_dir(scratch: &Path) -> PathBuf {
    scratch.join("rec")
}

// ------------------------------------------------------------------ tests

#[test]
fn a_spawned_leaking_service_is_recorded_with_growing_rss_and_decodable_profiles() {
    let scratch = support::scratch();
    let dir = out_dir(scratch.path());
    support::run_ok(
        support::leakwatch()
            .args(["watch", "--quiet", "--out", dir.to_str().unwrap()])
            .args(["--interval", "100ms", "--profile-interval", "500ms"])
            .args(["--duration", "3s"])
            .args(scenario::spawn_args("mapcache", &["-rate", "4000"])),
    );

    let m = meta(&dir);
    assert_eq!(m["format"], "leakwatch.recording/1");
    assert_eq!(m["target"]["mode"], "spawn");
    assert_eq!(m["pprof"]["gc"], true);
    assert_eq!(m["settings"]["interval_seconds"], 0.1);
    let pid = m["target"]["pid"].as_u64().unwrap() as u32;

    // ~30 samples at 100 ms; allow for a loaded machine.
    let s = samples(&dir);
    assert!(s.len() >= 15, "only {} samples", s.len());
    let rss: Vec<u64> = s.iter().map(|x| x["vm_rss"].as_u64().unwrap()).collect();
    // 4000 requests/s × 1 KiB for 3 s is ~12 MiB of live heap.
    assert!(
        rss.last().unwrap() > &(rss[0] + 4 * 1024 * 1024),
        "RSS did not grow: {rss:?}"
    );
    for x in &s {
        assert_eq!(x["pid"], pid);
        // Figures that this kernel always shows are never missing.
        assert!(x["rss_anon"].is_u64() && x["rss_file"].is_u64(), "{x}");
    }

    // Heap profiles: the first at the start, then every 500 ms; each decodes,
    // and the last one names the leaking allocation site.
    let heaps = listed_profiles(&dir, "heap");
    assert!(heaps.len() >= 4, "{} heap profiles", heaps.len());
    assert_eq!(heaps[0]["seq"], 1);
    assert!(heaps[0]["url"]
        .as_str()
        .unwrap()
        .ends_with("/debug/pprof/heap?gc=1"));
    let mut inuse = Vec::new();
    for h in &heaps {
        let bytes = fs::read(dir.join(h["file"].as_str().unwrap())).unwrap();
        assert_eq!(bytes.len() as u64, h["bytes"].as_u64().unwrap());
        let p = leakwatch_profile::decode(&bytes, &leakwatch_profile::Limits::default())
            .unwrap_or_else(|e| panic!("{}: {e}", h["file"]));
        assert!(p.sample_type_names().contains(&"inuse_space"));
        inuse.push(h["totals"]["inuse_space"].as_i64().unwrap());
    }
    assert!(
        inuse.last() > inuse.first(),
        "inuse_space did not grow: {inuse:?}"
    );
    let last = dir.join(heaps.last().unwrap()["file"].as_str().unwrap());
    let top = support::pprof::top(
        scratch.path(),
        &["-sample_index=inuse_space", last.to_str().unwrap()],
    );
    assert_eq!(top.rows[0].name, "main.newEntry", "{:#?}", top.rows);

    let goroutines = listed_profiles(&dir, "goroutine");
    assert_eq!(goroutines.len(), heaps.len());
    for g in &goroutines {
        assert!(g["totals"]["goroutine"].as_i64().unwrap() >= 3, "{g}");
    }

    // Go runtime statistics, one line per round, with the heap growing.
    let runtime = read_jsonl(&dir.join("runtime.jsonl"));
    assert!(runtime.len() >= 4, "{} runtime lines", runtime.len());
    let heap_inuse: Vec<u64> = runtime
        .iter()
        .map(|r| r["heap_inuse"].as_u64().unwrap())
        .collect();
    assert!(heap_inuse.last() > heap_inuse.first(), "{heap_inuse:?}");
    assert!(runtime
        .iter()
        .all(|r| r["num_forced_gc"].as_u64().unwrap() >= 1));

    // The end: the child stopped by SIGTERM, recorded, and gone.
    let evs = events(&dir);
    let exits = events_of(&evs, "target_exit");
    assert_eq!(exits.len(), 1, "{evs:#?}");
    assert_eq!(exits[0]["signal"], libc::SIGTERM);
    assert_eq!(exits[0]["stopped_by_watcher"], true);
    assert!(events_of(&evs, "scrape_error").is_empty(), "{evs:#?}");
    let end = end_event(&dir);
    assert_eq!(end["reason"], "duration");
    assert_eq!(end["samples"].as_u64().unwrap(), s.len() as u64);
    assert!(!alive(pid), "the spawned service {pid} still runs");

    let w = &analyze_json(&dir)["window"];
    assert_eq!(w["rss_samples"].as_u64().unwrap(), s.len() as u64);
    assert_eq!(w["heap_profiles"].as_u64().unwrap(), heaps.len() as u64);
    assert_eq!(
        w["goroutine_profiles"].as_u64().unwrap(),
        goroutines.len() as u64
    );
    let d = w["duration_seconds"].as_f64().unwrap();
    assert!((2.9..6.0).contains(&d), "duration {d}");
}

#[test]
fn pid_mode_records_an_existing_service_and_leaves_it_running() {
    let scratch = support::scratch();
    let dir = out_dir(scratch.path());
    let mut svc = Service::start("slice", &["-rate", "1000"]);
    support::run_ok(support::leakwatch().args([
        "watch",
        "--pid",
        &svc.pid.to_string(),
        "--pprof",
        &format!("{}/debug/pprof/", svc.url),
        "--no-gc",
        "--interval",
        "100ms",
        "--profile-interval",
        "1s",
        "--duration",
        "2s",
        "--out",
        dir.to_str().unwrap(),
    ]));
    assert!(svc.is_running(), "watch --pid must not stop the target");

    let m = meta(&dir);
    assert_eq!(m["target"]["mode"], "pid");
    assert_eq!(m["target"]["pid"], svc.pid);
    assert_eq!(m["pprof"]["gc"], false);
    assert!(m["target"]["command"][0]
        .as_str()
        .unwrap()
        .ends_with("scenario-cgo"));
    let s = samples(&dir);
    assert!(s.len() >= 10, "{} samples", s.len());
    let heaps = listed_profiles(&dir, "heap");
    assert!(heaps.len() >= 2);
    assert!(heaps
        .iter()
        .all(|h| !h["url"].as_str().unwrap().contains("gc=1")));
    let evs = events(&dir);
    assert!(events_of(&evs, "target_exit").is_empty(), "{evs:#?}");
    assert_eq!(end_event(&dir)["reason"], "duration");
}

/// What the misbehaving endpoint does on successive heap requests.
const MISBEHAVIOURS: [&str; 7] = [
    "status500",
    "hang",
    "truncated",
    "html",
    "oversize_declared",
    "oversize_streamed",
    "garbage",
];

/// A real HTTP server on 127.0.0.1 whose heap endpoint misbehaves in a
/// different way on each request (cycling through [`MISBEHAVIOURS`]);
/// everything else is 404.
struct BadEndpoint {
    url: String,
    stop: Arc<AtomicBool>,
}

impl BadEndpoint {
    fn start() -> BadEndpoint {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        let counter = Arc::new(AtomicUsize::new(0));
        let stop2 = stop.clone();
        thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::Relaxed) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let counter = counter.clone();
                thread::spawn(move || serve_badly(conn, &counter));
            }
        });
        BadEndpoint { url, stop }
    }
}

impl Drop for BadEndpoint {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.url.trim_start_matches("http://"));
    }
}

fn serve_badly(mut conn: TcpStream, counter: &AtomicUsize) {
    let mut req = Vec::new();
    let mut buf = [0u8; 1024];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => req.extend_from_slice(&buf[..n]),
        }
    }
    let line = String::from_utf8_lossy(&req)
        .lines()
        .next()
        .unwrap_or("")
        .to_owned();
    let target = line.split(' ').nth(1).unwrap_or("");
    if !(target.starts_with("/debug/pprof/heap") && target.contains("gc=1")) {
        let _ = conn.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 19\r\nConnection: close\r\n\r\n404 page not found\n");
        return;
    }
    let n = counter.fetch_add(1, Ordering::SeqCst);
    let big = vec![b'x'; 2 << 20];
    let _ = match MISBEHAVIOURS[n % MISBEHAVIOURS.len()] {
        "status500" => conn.write_all(
            b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 21\r\nConnection: close\r\n\r\nprofiling is broken\r\n",
        ),
        "hang" => {
            // Longer than the watch's --scrape-timeout, then nothing.
            thread::sleep(Duration::from_secs(3));
            Ok(())
        }
        "truncated" => conn
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 5000\r\nConnection: close\r\n\r\n")
            .and_then(|_| conn.write_all(&[0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0xff, 1, 2, 3])),
        "html" => conn.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 44\r\nConnection: close\r\n\r\n<html><body>Please log in</body></html>\n\n\n\n\n",
        ),
        "oversize_declared" => conn
            .write_all(format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", big.len()).as_bytes())
            .and_then(|_| conn.write_all(&big)),
        "oversize_streamed" => conn
            .write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
            .and_then(|_| conn.write_all(&big)),
        _ => conn.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 8\r\nConnection: close\r\n\r\n\x00\x01\x02\x03garb",
        ),
    };
}

#[test]
fn a_misbehaving_endpoint_becomes_events_while_sampling_goes_on() {
    let scratch = support::scratch();
    let dir = out_dir(scratch.path());
    let bad = BadEndpoint::start();
    support::run_ok(support::leakwatch().args([
        "watch",
        "--pprof",
        &bad.url,
        "--interval",
        "50ms",
        "--profile-interval",
        "100ms",
        "--scrape-timeout",
        "600ms",
        "--max-body",
        "256KiB",
        "--duration",
        "3s",
        "--out",
        dir.to_str().unwrap(),
        "--",
        "sleep",
        "30",
    ]));

    let evs = events(&dir);
    let heap_errors: Vec<&Value> = events_of(&evs, "scrape_error")
        .into_iter()
        .filter(|e| e["profile"] == "heap")
        .collect();
    let kinds: BTreeSet<&str> = heap_errors
        .iter()
        .map(|e| e["error"].as_str().unwrap())
        .collect();
    for want in [
        "status",
        "timeout",
        "truncated",
        "html",
        "oversize",
        "not_a_profile",
    ] {
        assert!(
            kinds.contains(want),
            "no `{want}` scrape error; got {kinds:?}: {heap_errors:#?}"
        );
    }
    let status = heap_errors.iter().find(|e| e["error"] == "status").unwrap();
    assert_eq!(status["status"], 500);
    assert!(
        status["detail"]
            .as_str()
            .unwrap()
            .contains("profiling is broken"),
        "{status}"
    );
    // Both ways of being too big end as `oversize`.
    assert!(
        heap_errors
            .iter()
            .filter(|e| e["error"] == "oversize")
            .count()
            >= 2
    );
    // Goroutine profiles and runtime statistics are 404: each is given up
    // after the first answer instead of failing every round.
    assert!(!events_of(&evs, "scrape_error")
        .iter()
        .any(|e| e["profile"] == "goroutine"));
    let unavailable = events_of(&evs, "endpoint_unavailable");
    let mut which: Vec<&str> = unavailable
        .iter()
        .map(|e| e["profile"].as_str().unwrap())
        .collect();
    which.sort();
    assert_eq!(which, ["goroutine", "runtime_stats"], "{evs:#?}");
    assert!(listed_profiles(&dir, "heap").is_empty());

    // Sampling went on through all of it, including the 600 ms hang: no gap
    // between samples comes near the hang's length.
    let s = samples(&dir);
    assert!(s.len() >= 30, "{} samples", s.len());
    let times: Vec<f64> = s
        .iter()
        .map(|x| {
            humantime::parse_rfc3339(x["time"].as_str().unwrap())
                .unwrap()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs_f64()
        })
        .collect();
    let max_gap = times.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max);
    assert!(
        max_gap < 0.4,
        "samples paused for {max_gap:.3}s during scraping"
    );
    let end = end_event(&dir);
    assert_eq!(end["reason"], "duration");
    assert!(end["profiles_failed"].as_u64().unwrap() >= 7);
}

#[test]
fn a_connection_refused_endpoint_is_an_event_too() {
    let scratch = support::scratch();
    let dir = out_dir(scratch.path());
    let port = scenario::free_port();
    support::run_ok(support::leakwatch().args([
        "watch",
        "--pid",
        &std::process::id().to_string(),
        "--pprof",
        &format!("http://127.0.0.1:{port}"),
        "--interval",
        "100ms",
        "--profile-interval",
        "300ms",
        "--duration",
        "1s",
        "--out",
        dir.to_str().unwrap(),
    ]));
    let evs = events(&dir);
    let refused = events_of(&evs, "scrape_error");
    assert!(!refused.is_empty());
    assert!(
        refused.iter().all(|e| e["error"] == "connection_refused"),
        "{refused:#?}"
    );
    assert!(samples(&dir).len() >= 5);
}

/// A watcher sampling every 50 ms the idle scenario service it spawned,
/// with `flags` too, once it has written `wanted` samples.
fn watching_idle(dir: &Path, flags: &[&str], wanted: usize) -> Watcher {
    let bin = scenario::binary();
    let head = ["--interval", "50ms", "--out", dir.to_str().unwrap()];
    let command = ["--", bin.to_str().unwrap(), "-mode", "idle"];
    let watcher = Watcher::start(head.iter().chain(flags).chain(&command));
    wait_until("a few samples", Duration::from_secs(20), || {
        samples(dir).len() >= wanted
    });
    watcher
}

#[test]
fn a_watcher_killed_with_sigkill_leaves_a_readable_recording_and_no_child() {
    let scratch = support::scratch();
    let dir = out_dir(scratch.path());
    let flags = [
        "--interval",
        "20ms",
        "--profile-interval",
        "200ms",
        "--out",
        dir.to_str().unwrap(),
    ];
    let watcher = Watcher::start(
        flags
            .iter()
            .map(|f| f.to_string())
            .chain(scenario::spawn_args("mapcache", &[])),
    );
    wait_until("samples and profiles", Duration::from_secs(20), || {
        samples(&dir).len() >= 20 && listed_profiles(&dir, "heap").len() >= 2
    });
    // A reader opens the recording while it is being written.
    let live = analyze_json(&dir);
    assert!(live["window"]["rss_samples"].as_u64().unwrap() >= 20);

    let child_pid = meta(&dir)["target"]["pid"].as_u64().unwrap() as u32;
    watcher.signal(libc::SIGKILL);
    let (status, _) = watcher.wait(Duration::from_secs(5));
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(libc::SIGKILL)
    );

    let on_disk_samples = samples(&dir).len() as u64;
    let on_disk_heaps = listed_profiles(&dir, "heap").len() as u64;
    let v = analyze_json(&dir);
    let w = &v["window"];
    assert_eq!(w["rss_samples"].as_u64().unwrap(), on_disk_samples);
    assert_eq!(w["heap_profiles"].as_u64().unwrap(), on_disk_heaps);
    assert!(w["duration_seconds"].as_f64().unwrap() > 0.3);
    assert!(events_of(&events(&dir), "end").is_empty());

    // A line torn by the kill (simulated: the kill above may or may not
    // have landed mid-write) is skipped, and nothing else is lost.
    let mut f = fs::OpenOptions::new()
        .append(true)
        .open(dir.join("samples.jsonl"))
        .unwrap();
    f.write_all(br#"{"time":"2026-01-01T00:00:00Z","pid":1,"vm_rs"#)
        .unwrap();
    drop(f);
    let w = &analyze_json(&dir)["window"];
    assert_eq!(w["rss_samples"].as_u64().unwrap(), on_disk_samples);

    // The spawned service dies with its watcher (PR_SET_PDEATHSIG).
    wait_until(
        "the orphaned service to die",
        Duration::from_secs(5),
        || !alive(child_pid),
    );
}

#[test]
fn a_target_killed_mid_run_ends_the_watch_with_its_signal() {
    let scratch = support::scratch();
    let dir = out_dir(scratch.path());
    let watcher = watching_idle(&dir, &["--duration", "60s"], 5);
    let pid = meta(&dir)["target"]["pid"].as_u64().unwrap() as i32;
    // SAFETY: kill(2) on the service the watcher spawned.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
    let (status, stderr) = watcher.wait(Duration::from_secs(10));
    assert!(status.success(), "{stderr}");
    // stderr is a pipe, not a terminal: no progress line, just the summary.
    assert!(!stderr.contains("watching"), "{stderr}");
    assert!(stderr.contains("watch ended (target_exit)"), "{stderr}");
    let evs = events(&dir);
    let exits = events_of(&evs, "target_exit");
    assert_eq!(exits.len(), 1, "{evs:#?}");
    assert_eq!(exits[0]["signal"], libc::SIGKILL);
    assert_eq!(exits[0]["stopped_by_watcher"], false);
    assert!(exits[0]["detail"].as_str().unwrap().contains("SIGKILL"));
    assert_eq!(end_event(&dir)["reason"], "target_exit");
}

#[test]
fn spawn_mode_leaves_no_process_behind_even_when_sigterm_is_ignored() {
    let scratch = support::scratch();
    let dir = out_dir(scratch.path());
    // The shell and its `sleep` ignore SIGTERM; only SIGKILL after the grace
    // period stops them.
    support::run_ok(support::leakwatch().args([
        "watch",
        "--interval",
        "100ms",
        "--duration",
        "1s",
        "--stop-grace",
        "300ms",
        "--out",
        dir.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        "trap '' TERM; sleep 60 & wait; sleep 60",
    ]));
    let pid = meta(&dir)["target"]["pid"].as_u64().unwrap() as u32;
    assert!(!alive(pid), "the spawned shell {pid} still runs");
    assert!(
        group_members(pid).is_empty(),
        "left behind: {:?}",
        group_members(pid)
    );
    let evs = events(&dir);
    let exits = events_of(&evs, "target_exit");
    assert_eq!(exits.len(), 1, "{evs:#?}");
    assert_eq!(exits[0]["signal"], libc::SIGKILL);
    assert_eq!(exits[0]["stopped_by_watcher"], true);
}

#[test]
fn restart_starts_the_command_again_and_records_each_restart() {
    let scratch = support::scratch();
    let dir = out_dir(scratch.path());
    support::run_ok(support::leakwatch().args([
        "watch",
        "--restart",
        "--interval",
        "50ms",
        "--duration",
        "3500ms",
        "--out",
        dir.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        "sleep 0.3; exit 3",
    ]));
    let evs = events(&dir);
    let exits: Vec<&Value> = events_of(&evs, "target_exit")
        .into_iter()
        .filter(|e| e["stopped_by_watcher"] == false)
        .collect();
    let restarts = events_of(&evs, "restart");
    // Restarts are at least a second apart, so ~3 in 3.5 s.
    assert!(restarts.len() >= 2, "{evs:#?}");
    assert!(exits.iter().all(|e| e["code"] == 3), "{exits:#?}");
    assert!(exits.len() >= restarts.len());
    let pids: BTreeSet<u64> = restarts
        .iter()
        .map(|r| r["new_pid"].as_u64().unwrap())
        .collect();
    assert_eq!(pids.len(), restarts.len(), "each restart is a new process");
    for (i, r) in restarts.iter().enumerate() {
        assert_eq!(r["restarts"], i as u64 + 1);
        assert!(r["detail"].as_str().unwrap().contains('→'));
    }
    // Samples follow the new processes.
    let sample_pids: BTreeSet<u64> = samples(&dir)
        .iter()
        .map(|s| s["pid"].as_u64().unwrap())
        .collect();
    assert!(sample_pids.len() >= 2, "{sample_pids:?}");
    assert_eq!(end_event(&dir)["reason"], "duration");
}

#[test]
fn thinning_keeps_first_and_last_within_the_budget() {
    let scratch = support::scratch();
    let dir = out_dir(scratch.path());
    let svc = Service::start("idle", &[]);
    support::run_ok(support::leakwatch().args([
        "watch",
        "--pid",
        &svc.pid.to_string(),
        "--pprof",
        &svc.url,
        "--interval",
        "200ms",
        "--profile-interval",
        "50ms",
        "--max-profiles",
        "5",
        "--duration",
        "3s",
        "--out",
        dir.to_str().unwrap(),
    ]));
    let index = read_jsonl(&dir.join("profiles.jsonl"));
    let added: Vec<u64> = index
        .iter()
        .filter(|l| l["op"] == "add" && l["kind"] == "heap")
        .map(|l| l["seq"].as_u64().unwrap())
        .collect();
    assert!(added.len() >= 12, "only {} rounds", added.len());
    let kept: Vec<u64> = listed_profiles(&dir, "heap")
        .iter()
        .map(|l| l["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(kept.len(), 5, "{kept:?}");
    assert_eq!(kept[0], added[0], "the first round stays");
    assert_eq!(kept.last(), added.last(), "the last round stays");
    // The index and the directory agree: every listed file exists, every
    // removed one is gone, nothing else is there.
    let mut listed: BTreeSet<String> = BTreeSet::new();
    for kind in ["heap", "goroutine"] {
        for l in listed_profiles(&dir, kind) {
            listed.insert(l["file"].as_str().unwrap().to_owned());
        }
    }
    let on_disk: BTreeSet<String> = fs::read_dir(dir.join("profiles"))
        .unwrap()
        .map(|e| format!("profiles/{}", e.unwrap().file_name().to_string_lossy()))
        .collect();
    assert_eq!(listed, on_disk);
    let w = &analyze_json(&dir)["window"];
    assert_eq!(w["heap_profiles"], 5);
    assert_eq!(w["goroutine_profiles"], 5);
    let end = end_event(&dir);
    assert_eq!(
        end["profiles_thinned"].as_u64().unwrap(),
        end["profiles_stored"].as_u64().unwrap() - 10
    );
}

#[test]
fn sigint_and_sigterm_end_the_watch_cleanly_and_reach_the_child() {
    for (sig, reason) in [(libc::SIGINT, "interrupted"), (libc::SIGTERM, "terminated")] {
        let scratch = support::scratch();
        let dir = out_dir(scratch.path());
        let watcher = watching_idle(&dir, &[], 3);
        let pid = meta(&dir)["target"]["pid"].as_u64().unwrap() as u32;
        watcher.signal(sig);
        let (status, stderr) = watcher.wait(Duration::from_secs(10));
        assert!(status.success(), "{stderr}");
        let evs = events(&dir);
        assert_eq!(events_of(&evs, "signal")[0]["signal"], sig);
        let exits = events_of(&evs, "target_exit");
        // The Go service dies of the forwarded signal itself.
        assert_eq!(exits[0]["signal"], sig, "{evs:#?}");
        assert_eq!(end_event(&dir)["reason"], reason);
        assert!(!alive(pid));
    }
}

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

// ------------------------------------------------------------------- soak

/// Readings of the watcher's own memory during a soak.
struct SoakFigures {
    samples: u64,
    scrapes: u64,
    rss_kib: Vec<u64>,
    fds: Vec<usize>,
    hwm_kib: u64,
}

fn status_kib(pid: u32, key: &str) -> Option<u64> {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.starts_with(key))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Watches process `pid` with profiles from `pprof` at fast intervals for
/// `secs`, reading the watcher's RSS and open file count from /proc every
/// half second.
fn soak(pid: u32, pprof: &str, secs: u64) -> SoakFigures {
    let scratch = support::scratch();
    let dir = out_dir(scratch.path());
    let duration = format!("{secs}s");
    let watcher = Watcher::start([
        "--pid",
        &pid.to_string(),
        "--pprof",
        pprof,
        "--interval",
        "1ms",
        "--profile-interval",
        "15ms",
        "--max-profiles",
        "20",
        "--duration",
        &duration,
        "--out",
        dir.to_str().unwrap(),
    ]);
    let wpid = watcher.pid();
    let mut rss_kib = Vec::new();
    let mut fds = Vec::new();
    let started = Instant::now();
    // Readings stop half a second before the watch ends: a reading taken
    // while the watcher shuts down sees it closing its files, which is not
    // the steady state the soak is about.
    while started.elapsed() + Duration::from_secs(1) < Duration::from_secs(secs) {
        thread::sleep(Duration::from_millis(500));
        if let Some(r) = status_kib(wpid, "VmRSS:") {
            rss_kib.push(r);
            fds.push(
                fs::read_dir(format!("/proc/{wpid}/fd"))
                    .map(|d| d.count())
                    .unwrap_or(0),
            );
        }
    }
    let (status, stderr) = watcher.wait(Duration::from_secs(30));
    assert!(status.success(), "{stderr}");
    let end = end_event(&dir);
    let index = read_jsonl(&dir.join("profiles.jsonl"));
    let stored = index.iter().filter(|l| l["op"] == "add").count() as u64;
    let runtime = read_jsonl(&dir.join("runtime.jsonl")).len() as u64;
    let failed = end["profiles_failed"].as_u64().unwrap();
    assert_eq!(listed_profiles(&dir, "heap").len(), 20);
    let f = SoakFigures {
        samples: end["samples"].as_u64().unwrap(),
        // Every fetch: heap + goroutine (stored or failed) + runtime stats.
        scrapes: stored + failed + runtime,
        rss_kib,
        fds,
        hwm_kib: end["watcher_hwm"].as_u64().unwrap() / 1024,
    };
    eprintln!(
        "soak {pprof}: {} samples, {} scrapes in {secs} s; watcher RSS KiB every 0.5 s {:?}; peak {} KiB; open fds {:?}",
        f.samples, f.scrapes, f.rss_kib, f.hwm_kib, f.fds
    );
    assert!(f.rss_kib.len() >= 8, "too few readings: {:?}", f.rss_kib);
    let max_fd = *f.fds.iter().max().unwrap();
    let min_fd = *f.fds.iter().min().unwrap();
    assert!(
        max_fd <= min_fd + 4,
        "open files vary {min_fd}..{max_fd}: {:?}",
        f.fds
    );
    f
}

/// How much RSS rose after the first `warm_up` fraction of the readings:
/// the last reading minus the highest reading of the warm-up.
fn growth_after_warm_up_kib(rss_kib: &[u64], warm_up: f64) -> i64 {
    let n = ((rss_kib.len() as f64 * warm_up) as usize).max(1);
    let warm = *rss_kib[..n].iter().max().unwrap();
    *rss_kib.last().unwrap() as i64 - warm as i64
}

/// The soak in two parts. Against the real Go service, whose profiles grow
/// for minutes (its heap profile accumulates new stacks of its own pprof
/// handlers), the watcher's RSS follows the size of what it decodes and may
/// creep a little. Against those same profiles served unchanged, nothing may
/// grow at all: that is the proof that nothing in the watcher grows with the
/// length of the watch.
fn soak_both(secs: u64) -> (SoakFigures, SoakFigures) {
    let svc = Service::start("lru", &["-rate", "500"]);
    let live = soak(svc.pid, &svc.url, secs);
    assert!(
        growth_after_warm_up_kib(&live.rss_kib, 0.25) <= 2048,
        "watcher RSS grew by more than 2 MiB against the live service: {:?}",
        live.rss_kib
    );
    let heap = http::get(&format!("{}/debug/pprof/heap?gc=1", svc.url));
    let goroutine = http::get(&format!("{}/debug/pprof/goroutine", svc.url));
    // Only what the live service served, and nothing else (its runtime
    // statistics are 404), so that the watcher's inputs never change.
    let fixed_server = http::Server::builder()
        .respond("/debug/pprof/heap?gc=1", Response::ok(heap))
        .respond("/debug/pprof/goroutine", Response::ok(goroutine))
        .start();
    let fixed = soak(svc.pid, &fixed_server.url, secs);
    let growth = growth_after_warm_up_kib(&fixed.rss_kib, 0.5);
    assert!(
        growth <= 256,
        "watcher RSS grew by {growth} KiB with unchanging inputs: {:?}",
        fixed.rss_kib
    );
    (live, fixed)
}

#[test]
fn soak_short_the_watchers_memory_stays_flat() {
    let (live, fixed) = soak_both(10);
    assert!(live.samples >= 2_000, "{} samples", live.samples);
    assert!(live.scrapes >= 200, "{} scrapes", live.scrapes);
    assert!(fixed.scrapes >= 200, "{} scrapes", fixed.scrapes);
}

#[test]
#[ignore = "two 60 s soaks; run with --ignored (see the top of this file)"]
fn soak_long_ten_thousand_samples_and_a_thousand_scrapes() {
    let (live, fixed) = soak_both(60);
    for f in [&live, &fixed] {
        assert!(f.samples >= 10_000, "{} samples", f.samples);
        assert!(f.scrapes >= 1_000, "{} scrapes", f.scrapes);
    }
}

// -------------------------------------------------------------------- OOM

/// A fresh memory cgroup with a hard limit, under this process's own memory
/// cgroup (v1 `memory.limit_in_bytes`, or v2 `memory.max`); removed when
/// dropped. `None` when this host does not let us create one (not root, no
/// memory controller).
struct LimitedCgroup {
    dir: PathBuf,
}

impl LimitedCgroup {
    fn create(limit: u64) -> Option<LimitedCgroup> {
        let own = fs::read_to_string("/proc/self/cgroup").ok()?;
        let mut candidates = Vec::new();
        for line in own.lines() {
            let mut parts = line.splitn(3, ':');
            let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            let path = path.trim_start_matches('/');
            if controllers.split(',').any(|c| c == "memory") {
                candidates.push((
                    Path::new("/sys/fs/cgroup/memory").join(path),
                    "memory.limit_in_bytes",
                ));
            } else if controllers.is_empty() {
                candidates.push((Path::new("/sys/fs/cgroup").join(path), "memory.max"));
            }
        }
        let name = format!("leakwatch-test-{}", std::process::id());
        for (parent, limit_file) in candidates {
            let dir = parent.join(&name);
            if fs::create_dir(&dir).is_err() {
                continue;
            }
            let cg = LimitedCgroup { dir };
            if fs::write(cg.dir.join(limit_file), limit.to_string()).is_ok() {
                return Some(cg);
            }
        }
        None
    }
}

impl Drop for LimitedCgroup {
    fn drop(&mut self) {
        // Only empty cgroups can be removed; the killed service has left it.
        for _ in 0..50 {
            if fs::remove_dir(&self.dir).is_ok() {
                return;
            }
            thread::sleep(Duration::from_millis(100));
        }
    }
}

#[test]
fn an_oom_kill_in_the_targets_cgroup_is_recorded_before_its_exit() {
    let Some(cg) = LimitedCgroup::create(48 << 20) else {
        eprintln!("SKIPPED: cannot create a memory cgroup with a limit on this host (needs root)");
        return;
    };
    let scratch = support::scratch();
    let dir = out_dir(scratch.path());
    let bin = scenario::binary();
    // The shell moves itself into the limited cgroup, then becomes the
    // service, which leaks ~50 MiB/s until the OOM killer stops it.
    let script = format!(
        "echo $$ > {}/cgroup.procs && exec {} -mode mapcache -rate 50000",
        cg.dir.display(),
        bin.display()
    );
    support::run_ok(support::leakwatch().args([
        "watch",
        "--interval",
        "50ms",
        "--duration",
        "30s",
        "--out",
        dir.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        &script,
    ]));
    let evs = events(&dir);
    let kinds: Vec<&str> = evs.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    let oom = kinds.iter().position(|k| *k == "oom_kill");
    let exit = kinds.iter().position(|k| *k == "target_exit");
    assert!(
        oom.is_some() && oom < exit,
        "oom_kill before target_exit: {evs:#?}"
    );
    assert!(evs[oom.unwrap()]["increase"].as_u64().unwrap() >= 1);
    assert_eq!(evs[exit.unwrap()]["signal"], libc::SIGKILL);
    assert_eq!(end_event(&dir)["reason"], "target_exit");
    // The samples saw the limit.
    let s = samples(&dir);
    assert!(
        s.iter().any(|x| x["cgroup_max"] == 48u64 << 20),
        "{:?}",
        s.last()
    );
}
