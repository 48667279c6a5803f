//! The live view (`watch --serve`) in a real browser: headless Chromium
//! driven through WebDriver opens the page on a live watch of a Go scenario
//! service and reads it as a person would — the chart and the sample count
//! grow without a reload, the verdict turns from inconclusive to its final
//! word, the console stays clean. Screenshots are kept as test artifacts
//! (`target/test-artifacts/live-*.png`).

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use crate::support::scenario::Service;
use crate::support::webdriver::Browser;
use crate::support::{leakwatch, scratch, target_dir};

/// A `leakwatch watch --serve 127.0.0.1:0` of a running service, with the
/// page's URL read from its standard error.
struct LiveWatch {
    child: Child,
    url: String,
}

impl LiveWatch {
    fn start(service: &Service, out: &std::path::Path, duration: &str) -> LiveWatch {
        let mut child = leakwatch()
            .args(["watch", "--quiet", "--serve", "127.0.0.1:0"])
            .args(["--pid", &service.pid.to_string(), "--pprof", &service.url])
            .args(["--interval", "250ms", "--profile-interval", "1s"])
            .args(["--duration", duration])
            .arg("--out")
            .arg(out)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start leakwatch watch --serve");
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("leakwatch: live view at ") {
                    let _ = tx.send(url.to_owned());
                }
            }
        });
        let url = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("watch --serve printed its URL");
        LiveWatch { child, url }
    }

    /// Ctrl-C: `watch` stops serving its final state and exits 0.
    fn interrupt(mut self) {
        // SAFETY: signalling our own child, which has not been reaped.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let status = self.child.wait().expect("wait for leakwatch");
        assert_eq!(status.code(), Some(0), "watch --serve after Ctrl-C");
    }
}

impl Drop for LiveWatch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn artifact(name: &str) -> PathBuf {
    target_dir().join("test-artifacts").join(name)
}

fn text_of(browser: &Browser, id: &str) -> String {
    let v = browser.eval(&format!(
        "const e = document.getElementById('{id}'); return e ? e.textContent : null"
    ));
    v.as_str().unwrap_or_default().to_owned()
}

fn samples_shown(browser: &Browser) -> u64 {
    text_of(browser, "samples").parse().unwrap_or(0)
}

/// The page's state line once the watch has ended, waiting up to `timeout`.
fn final_state(browser: &Browser, timeout: Duration) -> String {
    let v = browser.wait_for(
        timeout,
        "const s = document.getElementById('state').textContent; \
         return s.startsWith('watch ended') ? s : null",
    );
    v.as_str().map(str::to_owned).unwrap_or_else(|| {
        panic!(
            "the page never showed the end of the watch; it shows {:?}",
            text_of(browser, "state")
        )
    })
}

#[test]
fn the_page_shows_a_leak_forming_live_and_names_the_site() {
    let service = Service::start("mapcache", &["-rate", "2000"]);
    let dir = scratch();
    let watch = LiveWatch::start(&service, &dir.path().join("rec"), "30s");
    let browser = Browser::start();
    browser.open(&watch.url);

    // Early on the verdict cannot be decided: the page says so, as interim.
    let early = browser.wait_for(
        Duration::from_secs(20),
        "const s = document.getElementById('state').textContent; \
         return s.startsWith('watching') ? s : null",
    );
    assert!(
        early
            .as_str()
            .is_some_and(|s| s.contains("inconclusive") && s.contains("interim")),
        "early state: {early}"
    );
    assert!(
        browser.eval("return document.querySelector('#memory svg') !== null") == true,
        "no memory chart on the page"
    );

    // Live updates without a reload: a marker set in the page survives
    // while the sample count and the chart's data grow.
    browser.eval("window.__leakwatchMarker = 42; return null");
    let (n1, chart1) = (samples_shown(&browser), chart_points(&browser));
    std::thread::sleep(Duration::from_secs(5));
    let (n2, chart2) = (samples_shown(&browser), chart_points(&browser));
    assert!(n2 > n1, "the sample count did not grow: {n1} → {n2}");
    assert!(chart2 != chart1, "the chart did not change in 5 s");
    assert_eq!(
        browser.eval(
            "return window.__leakwatchMarker === undefined ? null : window.__leakwatchMarker"
        ),
        Value::from(42),
        "the page was reloaded"
    );

    let state = final_state(&browser, Duration::from_secs(60));
    assert_eq!(state, "watch ended: leak", "final state");
    let view = text_of(&browser, "view");
    assert!(
        view.contains("main.newEntry"),
        "the site is not named: {view}"
    );
    assert!(
        !view.contains("interim"),
        "the final verdict is marked interim"
    );
    browser.screenshot(&artifact("live-leak.png"));
    let errors = browser.console_errors();
    assert!(errors.is_empty(), "console errors: {errors:#?}");
    drop(browser);
    watch.interrupt();
}

#[test]
fn the_page_of_a_healthy_service_ends_no_leak() {
    let service = Service::start("lru", &["-rate", "2000"]);
    let dir = scratch();
    let watch = LiveWatch::start(&service, &dir.path().join("rec"), "25s");
    let browser = Browser::start();
    browser.open(&watch.url);
    let state = final_state(&browser, Duration::from_secs(60));
    assert_eq!(state, "watch ended: no leak", "final state");
    browser.screenshot(&artifact("live-no-leak.png"));
    let errors = browser.console_errors();
    assert!(errors.is_empty(), "console errors: {errors:#?}");
    drop(browser);
    watch.interrupt();
}

/// A fingerprint of the memory chart's drawn data: its paths' geometry.
fn chart_points(browser: &Browser) -> String {
    browser
        .eval(
            "return Array.from(document.querySelectorAll('#memory svg path, #memory svg polyline'))\
             .map(p => p.getAttribute('d') || p.getAttribute('points')).join('|')",
        )
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Sends `request` raw and returns the status code of the answer (0 when
/// the server closed without one).
fn raw_status(addr: &str, request: &[u8]) -> u16 {
    use std::io::{Read, Write};
    let mut conn = std::net::TcpStream::connect(addr).expect("connect to the live view");
    conn.set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let _ = conn.write_all(request);
    let mut answer = Vec::new();
    let _ = conn.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer)
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

#[test]
fn bad_requests_and_floods_get_status_codes_and_the_page_still_answers() {
    let service = Service::start("idle", &[]);
    let dir = scratch();
    let watch = LiveWatch::start(&service, &dir.path().join("rec"), "20s");
    let addr = watch
        .url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let get = |target: &str| {
        raw_status(
            &addr,
            format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
        )
    };
    assert_eq!(get("/"), 200);
    assert_eq!(get("/api/samples"), 200);
    assert_eq!(get("/nope"), 404);
    assert_eq!(get("/../../etc/passwd"), 404);
    assert_eq!(get("/api/samples?since=yesterday"), 400);
    assert_eq!(get("/api/samples?since=%ff%fe"), 400);
    assert_eq!(get("/%zz"), 400);
    assert_eq!(
        raw_status(
            &addr,
            b"POST /api/verdict HTTP/1.1\r\nContent-Length: 0\r\n\r\n"
        ),
        405
    );
    let huge = format!(
        "GET / HTTP/1.1\r\nX-Filler: {}\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    assert_eq!(raw_status(&addr, huge.as_bytes()), 431);
    assert_eq!(
        raw_status(
            &addr,
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n"
        ),
        400
    );

    // Forty clients that connect and say nothing: the server keeps at most
    // 32 of them and turns the rest away at once, and once they are gone
    // it answers again.
    let idle: Vec<std::net::TcpStream> = (0..40)
        .map(|_| std::net::TcpStream::connect(&addr).expect("connect"))
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(get("/"), 503, "a flood beyond the client limit");
    drop(idle);
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while get("/") != 200 {
        assert!(
            std::time::Instant::now() < deadline,
            "the server did not recover"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    watch.interrupt();
}
