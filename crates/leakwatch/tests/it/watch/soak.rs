//! The watcher's own memory and open files stay flat over a long watch at
//! fast intervals, against the live Go service and against its profiles
//! served unchanged by the shared loopback test server.
//!
//! The short soak runs with the rest; the long one is ignored unless asked
//! for:
//!
//! ```text
//! cargo test -p leakwatch --release --test it -- --ignored --nocapture watch::soak::soak_long
//! ```

use crate::support;

use std::fs;
use std::thread;
use std::time::{Duration, Instant};

use support::http::{self, Response};
use support::scenario::Service;

use super::{end_event, listed_profiles, out_dir, read_jsonl, Watcher};

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
