//! A pprof endpoint that fails: a real HTTP server that misbehaves in every
//! way a scrape can fail, and a port nobody listens on. Each failure is an
//! event; sampling never waits for it.

use crate::support;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use serde_json::Value;
use support::scenario;

use super::{end_event, events, events_of, listed_profiles, out_dir, samples};

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
    // Goroutine and goroutine leak profiles and runtime statistics are 404:
    // each is given up after the first answer instead of failing every
    // round.
    assert!(!events_of(&evs, "scrape_error")
        .iter()
        .any(|e| e["profile"] == "goroutine"));
    let unavailable = events_of(&evs, "endpoint_unavailable");
    let mut which: Vec<&str> = unavailable
        .iter()
        .map(|e| e["profile"].as_str().unwrap())
        .collect();
    which.sort();
    assert_eq!(
        which,
        ["goroutine", "goroutineleak", "runtime_stats"],
        "{evs:#?}"
    );
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
