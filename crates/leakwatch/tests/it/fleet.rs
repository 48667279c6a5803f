//! `leakwatch fleet` against a real Prometheus holding six days of a
//! simulated fleet at one-minute resolution, each instance with a known
//! truth: leaks of several kinds, and healthy shapes that a least-squares
//! rule mistakes for leaks.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, Weak};

use serde_json::Value;

use crate::support::prometheus::{OpenMetrics, Prometheus};
use crate::support::{describe, leakwatch};

const MIB: f64 = 1024.0 * 1024.0;
const DAY: i64 = 86_400;
const DAYS: i64 = 6;

/// What an instance is, and what the verdict must be.
struct Truth {
    instance: &'static str,
    leaks: bool,
}

const TRUTH: &[Truth] = &[
    Truth {
        instance: "leak-fast",
        leaks: true,
    },
    Truth {
        instance: "leak-slow",
        leaks: true,
    },
    Truth {
        instance: "leak-gc-daily",
        leaks: true,
    },
    Truth {
        instance: "leak-recent",
        leaks: true,
    },
    Truth {
        instance: "oom-sawtooth",
        leaks: true,
    },
    Truth {
        instance: "flat-noisy",
        leaks: false,
    },
    Truth {
        instance: "warm-up",
        leaks: false,
    },
    Truth {
        instance: "one-time-step",
        leaks: false,
    },
    Truth {
        instance: "leak-fixed",
        leaks: false,
    },
    Truth {
        instance: "daily-cycle",
        leaks: false,
    },
    Truth {
        instance: "deploys-started",
        leaks: false,
    },
    Truth {
        instance: "deploys-dropped",
        leaks: false,
    },
];

/// The `cart` deployment: three pods in turn, each leaking, each replaced
/// after two days; judged as one chain with `--group-by deployment`.
const CART_RATE: f64 = 100.0 * MIB / DAY as f64;

/// Limits (`container_spec_memory_limit_bytes`) of some instances.
const LIMITS: &[(&str, f64)] = &[
    ("leak-fast", 4096.0 * MIB),
    ("leak-slow", 1024.0 * MIB),
    ("oom-sawtooth", 1024.0 * MIB),
    ("flat-noisy", 1024.0 * MIB),
];
const FAST_RATE: f64 = 300.0 * MIB / DAY as f64;
const SAW_RATE: f64 = 800.0 * MIB / (36.0 * 3600.0);

/// A small deterministic noise source (xorshift), so the history is the
/// same on every run.
struct Noise(u64);

impl Noise {
    /// Uniform in [-1, 1].
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    }
}

/// The simulated fleet ending at `end`, and its window start.
fn history(end: i64) -> String {
    let start = end - DAYS * DAY;
    let minutes = (DAYS * DAY / 60) as usize;
    let mut om = OpenMetrics::default();
    let mut noise = Noise(0x9e37_79b9_7f4a_7c15);
    let daily = |t: i64| (2.0 * std::f64::consts::PI * (t % DAY) as f64 / DAY as f64).sin();
    let mut start_times: Vec<(&str, Vec<(i64, f64)>)> = Vec::new();

    om.gauge("process_resident_memory_bytes");
    for truth in TRUTH {
        let name = truth.instance;
        let labels = format!("instance=\"{name}\",job=\"fleet\"");
        let mut starts = Vec::new();
        for m in 0..minutes {
            let t = start + 60 * m as i64;
            let age = (t - start) as f64; // seconds into the window
            let ago = (end - t) as f64; // seconds before the end
            let n = noise.next();
            let y = match name {
                "leak-fast" => 600.0 * MIB + FAST_RATE * age + 4.0 * MIB * n,
                "leak-slow" => 300.0 * MIB + 25.0 * MIB / DAY as f64 * age + 3.0 * MIB * n,
                "leak-gc-daily" => {
                    // GC sawtooth: the heap grows for seven minutes, then
                    // a collection gives back what was garbage.
                    let gc = ((t / 60) % 7) as f64 / 7.0;
                    400.0 * MIB
                        + 60.0 * MIB / DAY as f64 * age
                        + 40.0 * MIB * gc
                        + 30.0 * MIB * daily(t)
                        + 3.0 * MIB * n
                }
                "leak-recent" => {
                    let since = (2.5 * DAY as f64 - ago).max(0.0);
                    250.0 * MIB + 120.0 * MIB / DAY as f64 * since + 3.0 * MIB * n
                }
                "oom-sawtooth" => {
                    // The seed: an unbounded cache, OOM-killed near its
                    // 1 GiB limit every 36 hours, each lifetime climbing
                    // to the same height.
                    let period = 36 * 3600;
                    let born = start - 10 * 3600 + ((t - start + 10 * 3600) / period) * period;
                    starts.push((t, born as f64));
                    100.0 * MIB + SAW_RATE * (t - born) as f64 + 5.0 * MIB * n
                }
                "flat-noisy" => 500.0 * MIB + 20.0 * MIB * n,
                "warm-up" => {
                    // A cache that fills with a time constant of 18 h from
                    // the pod's start 4.5 days ago, then stays full.
                    if ago > 4.5 * DAY as f64 {
                        continue;
                    }
                    let into = 4.5 * DAY as f64 - ago;
                    100.0 * MIB
                        + 300.0 * MIB * (1.0 - (-into / (18.0 * 3600.0)).exp())
                        + 3.0 * MIB * n
                }
                "one-time-step" => {
                    let step = if ago < 2.6 * DAY as f64 {
                        100.0 * MIB
                    } else {
                        0.0
                    };
                    200.0 * MIB + step + 3.0 * MIB * n
                }
                "leak-fixed" => {
                    // Leaked until a fix was deployed 2.2 days ago.
                    let leaking = (age).min((DAYS as f64 - 2.2) * DAY as f64);
                    300.0 * MIB + 150.0 * MIB / DAY as f64 * leaking + 3.0 * MIB * n
                }
                "daily-cycle" => 300.0 * MIB + 80.0 * MIB * daily(t) + 5.0 * MIB * n,
                "deploys-started" | "deploys-dropped" => {
                    // A deploy every day at 10:00 (window time); each
                    // process warms up in twenty minutes and stays flat.
                    let born = start + ((t - start + 14 * 3600) / DAY) * DAY - 14 * 3600;
                    starts.push((t, born as f64));
                    let warm = 1.0 - (-((t - born) as f64) / 600.0).exp();
                    100.0 * MIB + 150.0 * MIB * warm + 3.0 * MIB * n
                }
                other => unreachable!("{other}"),
            };
            om.sample(&labels, y.round(), t);
        }
        // deploys-dropped has no start time: its restarts must be seen in
        // the drops.
        if !starts.is_empty() && name != "deploys-dropped" {
            start_times.push((name, starts));
        }
    }
    for pod in 0..3 {
        let born = start + pod * 2 * DAY;
        let dies = born + 2 * DAY + 600; // a rolling update overlaps 10 min
        let labels = format!("deployment=\"cart\",instance=\"cart-{pod}\",job=\"fleet\"");
        for t in (born..dies.min(end)).step_by(60) {
            let y = 150.0 * MIB + CART_RATE * (t - born) as f64 + 3.0 * MIB * noise.next();
            om.sample(&labels, y.round(), t);
        }
    }

    om.gauge("process_start_time_seconds");
    for (name, starts) in &start_times {
        let labels = format!("instance=\"{name}\",job=\"fleet\"");
        for (t, born) in starts {
            om.sample(&labels, *born, *t);
        }
    }
    om.gauge("container_spec_memory_limit_bytes");
    for (name, bytes) in LIMITS {
        for t in (end - 2 * 3600..end).step_by(60) {
            om.sample(&format!("instance=\"{name}\""), *bytes, t);
        }
    }
    om.finish()
}

/// The shared Prometheus and the end of its history (Unix seconds).
struct Shared {
    prom: Prometheus,
    end: i64,
}

/// One Prometheus for every fleet test running at the time; the last one
/// to finish stops it.
fn shared() -> Arc<Shared> {
    static SHARED: Mutex<Weak<Shared>> = Mutex::new(Weak::new());
    let mut slot = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(s) = slot.upgrade() {
        return s;
    }
    let end = minutes_ago(180);
    let s = Arc::new(Shared {
        prom: Prometheus::start(&history(end), None),
        end,
    });
    *slot = Arc::downgrade(&s);
    s
}

fn fleet(s: &Shared, extra: &[&str]) -> (i32, String, String) {
    let mut cmd = leakwatch();
    cmd.arg("fleet")
        .args(["--prometheus", &s.prom.url])
        .args(["--start", &(s.end - DAYS * DAY).to_string()])
        .args(["--end", &s.end.to_string()])
        .args(extra);
    let out = cmd.output().expect("run leakwatch fleet");
    let code = out.status.code().unwrap_or(-1);
    assert!(
        code == 0 || code == 1 || code == 3,
        "{}",
        describe(&cmd, &out)
    );
    (
        code,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn by_instance(doc: &Value) -> BTreeMap<String, Value> {
    doc["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let l = &s["labels"];
            let key = l["deployment"]
                .as_str()
                .or(l["instance"].as_str())
                .unwrap()
                .to_owned();
            (key, s.clone())
        })
        .collect()
}

#[test]
fn every_instance_of_the_simulated_fleet_is_judged_right() {
    let s = shared();
    let (code, out, err) = fleet(
        &s,
        &[
            "--group-by",
            "deployment",
            "--limit-query",
            "container_spec_memory_limit_bytes",
            "--json",
        ],
    );
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}\n{err}"));
    assert_eq!(code, 1, "a fleet with leaks exits 1");
    assert_eq!(doc["schema"], "leakwatch.fleet/1");
    assert_eq!(
        doc["window"]["step_seconds"], 300,
        "6 days in about 2,000 points"
    );
    let series = by_instance(&doc);

    // Precision and recall against the truth, printed; every instance must
    // be right.
    let mut wrong = Vec::new();
    let (mut tp, mut fp, mut fneg) = (0, 0, 0);
    let mut truths: Vec<(&str, bool)> = TRUTH.iter().map(|t| (t.instance, t.leaks)).collect();
    truths.push(("cart", true));
    for (name, leaks) in &truths {
        let e = series
            .get(*name)
            .unwrap_or_else(|| panic!("{name} missing: {out}"));
        let said = e["verdict"] == "leak";
        match (said, leaks) {
            (true, true) => tp += 1,
            (true, false) => fp += 1,
            (false, true) => fneg += 1,
            _ => {}
        }
        if said != *leaks {
            wrong.push(format!("{name}: {} — {}", e["verdict"], e["summary"]));
        }
    }
    eprintln!(
        "leakwatch fleet: precision {:.2}, recall {:.2} on {} instances",
        tp as f64 / (tp + fp).max(1) as f64,
        tp as f64 / (tp + fneg).max(1) as f64,
        truths.len()
    );
    assert!(wrong.is_empty(), "wrong verdicts:\n{}", wrong.join("\n"));
    assert_eq!(doc["counts"]["leak"], 6);
    assert_eq!(doc["counts"]["no_leak"], 7);
    assert_eq!(doc["counts"]["inconclusive"], 0);

    // Every documented field, in every entry.
    for e in doc["series"].as_array().unwrap() {
        for field in [
            "labels",
            "verdict",
            "kind",
            "summary",
            "level_bytes",
            "slope_bytes_per_hour",
            "slope_low",
            "slope_high",
            "p_value",
            "restarts",
            "sawtooth",
            "limit",
            "points",
            "drill",
        ] {
            assert!(e.get(field).is_some(), "{field} missing in {e}");
        }
        let leak = e["verdict"] == "leak";
        assert_eq!(e["kind"] == serde_json::json!(["rss"]), leak, "{e}");
    }

    // Restarts: from process_start_time_seconds, from the drops, and from
    // pods replacing one another.
    assert_eq!(series["oom-sawtooth"]["restarts"], 4);
    assert_eq!(series["oom-sawtooth"]["sawtooth"], true);
    assert_eq!(series["deploys-started"]["restarts"], 6);
    assert_eq!(series["deploys-dropped"]["restarts"], 6);
    assert_eq!(series["deploys-started"]["sawtooth"], false);
    assert_eq!(series["cart"]["restarts"], 2);
    assert_eq!(
        series["cart"]["labels"],
        serde_json::json!({"deployment": "cart", "job": "fleet"})
    );

    // The time to the limit, as a range that holds the truth.
    let end_level = |name: &str| series[name]["level_bytes"].as_f64().unwrap();
    let truth_fast = (4096.0 * MIB - end_level("leak-fast")) / FAST_RATE;
    let truth_saw = (1024.0 * MIB - end_level("oom-sawtooth")) / SAW_RATE;
    for (name, truth) in [("leak-fast", truth_fast), ("oom-sawtooth", truth_saw)] {
        let l = &series[name]["limit"];
        assert_eq!(l["source"], "prometheus_query", "{l}");
        let (lo, hi) = (
            l["time_to_limit_low_seconds"].as_f64().unwrap(),
            l["time_to_limit_high_seconds"].as_f64().unwrap(),
        );
        assert!(
            lo <= truth && truth <= hi,
            "{name}: {truth} s not in [{lo}, {hi}]"
        );
    }
    assert_eq!(series["flat-noisy"]["limit"]["bytes"], 1024.0 * MIB);
    assert!(series["flat-noisy"]["limit"]["time_to_limit_seconds"].is_null());
    assert!(series["daily-cycle"]["limit"].is_null());

    // Ranking: leaks first, the one nearest its limit first; the JSON's
    // order is the ranking.
    let order: Vec<&str> = doc["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["verdict"].as_str().unwrap())
        .collect();
    let first_healthy = order.iter().position(|v| *v != "leak").unwrap();
    assert!(
        order[first_healthy..].iter().all(|v| *v != "leak"),
        "{order:?}"
    );
    let ttl = |e: &Value| {
        e["limit"]["time_to_limit_seconds"]
            .as_f64()
            .unwrap_or(f64::INFINITY)
    };
    let leaks = &doc["series"].as_array().unwrap()[..first_healthy];
    assert!(
        leaks.windows(2).all(|w| ttl(&w[0]) <= ttl(&w[1])),
        "{leaks:?}"
    );
    assert_eq!(
        leaks[0]["labels"]["instance"], "oom-sawtooth",
        "nearest its limit"
    );
}

#[test]
fn the_text_table_ranks_and_top_cuts_it() {
    let s = shared();
    let (code, out, _) = fleet(
        &s,
        &["--group-by", "deployment", "--limit", "4GiB", "--top", "3"],
    );
    assert_eq!(code, 1);
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("13 series of `process_resident_memory_bytes`"),
        "{out}"
    );
    assert!(
        lines[0].contains("6 leak, 7 no leak, 0 inconclusive"),
        "{out}"
    );
    let header = lines.iter().position(|l| l.starts_with("SERIES")).unwrap();
    let rows = &lines[header + 1..header + 4];
    assert!(rows.iter().all(|r| r.contains("LEAK")), "{out}");
    assert!(
        rows.iter()
            .all(|r| r.contains("d ") && !r.contains("  -  ")),
        "a time to limit on every leak: {out}"
    );
    assert!(rows.iter().any(|r| r.contains("MiB/day")), "{out}");
    assert!(lines[header + 4].contains("10 more"), "{out}");
}

/// The least-squares rule people use today, run on the same Prometheus:
/// it flags healthy instances leakwatch clears.
#[test]
fn the_naive_deriv_rule_misflags_healthy_instances() {
    let s = shared();
    let threshold = 10.0 * MIB / DAY as f64;
    let q = format!("deriv(process_resident_memory_bytes[3d]) > {threshold}");
    let body = crate::support::http::get(&format!(
        "{}/api/v1/query?query={}&time={}",
        s.prom.url,
        percent_encode(&q),
        s.end
    ));
    let doc: Value = serde_json::from_slice(&body).unwrap();
    let flagged: Vec<String> = doc["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["metric"]["instance"].as_str().unwrap().to_owned())
        .collect();
    let healthy_flagged: Vec<&String> = flagged
        .iter()
        .filter(|i| TRUTH.iter().any(|t| t.instance == i.as_str() && !t.leaks))
        .collect();
    eprintln!("deriv(x[3d]) > 10 MiB/day flags {flagged:?}");
    assert!(
        healthy_flagged.len() >= 2,
        "the naive rule flagged only {healthy_flagged:?}"
    );
    let (_, out, _) = fleet(&s, &["--json"]);
    let series = by_instance(&serde_json::from_str(&out).unwrap());
    for i in healthy_flagged {
        assert_eq!(series[i.as_str()]["verdict"], "no_leak", "{i}");
    }
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Runs `fleet` expecting exit 2; its stderr.
fn fleet_error(prometheus: &str, extra: &[&str]) -> String {
    let mut cmd = leakwatch();
    cmd.arg("fleet")
        .args(["--prometheus", prometheus])
        .args(extra);
    let out = cmd.output().expect("run leakwatch fleet");
    assert_eq!(out.status.code(), Some(2), "{}", describe(&cmd, &out));
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    err
}

#[test]
fn a_down_server_a_hanging_one_and_an_html_page_are_one_line_errors() {
    let port = crate::support::scenario::free_port();
    let url = format!("http://127.0.0.1:{port}");
    let err = fleet_error(&url, &[]);
    assert!(err.contains(&format!("{url}/api/v1/")), "{err}");
    assert!(err.contains("connection refused"), "{err}");

    // Accepts connections (the kernel's backlog) and never answers.
    let hanging = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", hanging.local_addr().unwrap());
    let err = fleet_error(&url, &["--timeout", "1s"]);
    assert!(err.contains(&format!("{url}/api/v1/")), "{err}");
    assert!(err.contains("timed out"), "{err}");

    use crate::support::http::{Response, Server};
    let html = Server::builder()
        .respond(
            "/api/v1/series",
            Response {
                status: 200,
                content_type: "text/html",
                body: b"<!DOCTYPE html><html><body>Grafana</body></html>".to_vec(),
            },
        )
        .start();
    let err = fleet_error(&html.url, &[]);
    assert!(
        err.contains(&format!("{}/api/v1/series", html.url)),
        "{err}"
    );
    assert!(
        err.contains("not a Prometheus API answer: got an HTML page"),
        "{err}"
    );
}

#[test]
fn bad_promql_quotes_prometheus_and_no_series_says_so() {
    let s = shared();
    let err = fleet_error(
        &s.prom.url,
        &["--query", "rate(process_resident_memory_bytes[5m]"],
    );
    assert!(
        err.contains(&format!("{}/api/v1/query_range", s.prom.url)),
        "{err}"
    );
    assert!(
        err.contains("HTTP status 400") && err.contains("bad_data"),
        "{err}"
    );
    assert!(err.contains("parse error"), "Prometheus' own words: {err}");

    let err = fleet_error(&s.prom.url, &["--query", "no_such_metric_bytes"]);
    assert!(
        err.contains("no series match `no_such_metric_bytes`"),
        "{err}"
    );
}

/// Prometheus behind TLS and basic auth, as its `--web.config.file` sets
/// them up: trusted with `--ca-cert`, authorised with `--header` or
/// `--header-file`; without the CA, a clear TLS error.
#[test]
fn https_with_a_private_ca_and_basic_auth() {
    let dir = crate::support::scratch();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    // A private CA and a server certificate it signed (webpki refuses a
    // CA certificate as the server's own).
    let mut cmd = std::process::Command::new("sh");
    cmd.current_dir(dir.path()).arg("-ec").arg(
        "openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=leakwatch-test-ca \
            -keyout ca.key -out ca.pem 2>/dev/null
         openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout key.pem -out srv.csr 2>/dev/null
         printf 'subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n' > ext
         openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
            -extfile ext -out cert.pem 2>/dev/null",
    );
    let out = cmd
        .output()
        .expect("run openssl (Debian: apt-get install openssl)");
    assert!(out.status.success(), "{}", describe(&cmd, &out));

    let end = minutes_ago(60);
    let mut om = OpenMetrics::default();
    om.gauge("process_resident_memory_bytes");
    for m in 0..600 {
        om.sample(
            "instance=\"a\"",
            100.0 * MIB + (m % 7) as f64 * MIB,
            end - 60 * 600 + 60 * m,
        );
    }
    // The password is "leakwatch-test"; a bcrypt hash at the lowest cost.
    let web = crate::support::prometheus::WebConfig {
        cert: &cert,
        key: &key,
        user: "ci",
        bcrypt: "$2b$04$rpuo3XmxOmR3w4DE.zxOzuj/3VeD7OacxR0n9qrUbKsBl6pBfBXkW",
    };
    let prom = Prometheus::start(&om.finish(), Some(&web));
    let auth = format!("Authorization: Basic {}", base64("ci:leakwatch-test"));
    let window = [
        "--start",
        &(end - 36_000).to_string(),
        "--end",
        &end.to_string(),
    ];

    let run = |extra: &[&str]| {
        let mut cmd = leakwatch();
        cmd.args(["fleet", "--prometheus", &prom.url, "--json"])
            .args(window)
            .args(extra);
        let out = cmd.output().unwrap();
        (cmd, out)
    };
    let ca_file = dir.path().join("ca.pem");
    let ca = ca_file.to_str().unwrap();
    let (cmd, out) = run(&["--ca-cert", ca, "--header", &auth]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&cmd, &out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["series"][0]["verdict"], "no_leak");

    let headers = dir.path().join("headers");
    std::fs::write(&headers, format!("# CI's Prometheus\n{auth}\n")).unwrap();
    let (cmd, out) = run(&["--ca-cert", ca, "--header-file", headers.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&cmd, &out));

    let err = fleet_error(&prom.url, &["--ca-cert", ca]);
    assert!(err.contains("HTTP status 401"), "no credentials: {err}");
    let err = fleet_error(&prom.url, &["--header", &auth]);
    assert!(err.contains(&format!("{}/api/v1/", prom.url)), "{err}");
    assert!(
        err.contains("TLS failed") && err.contains("--ca-cert"),
        "{err}"
    );
}

fn base64(s: &str) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in s.as_bytes().chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn html_draws_the_leaking_and_borderline_series() {
    let s = shared();
    let dir = crate::support::scratch();
    let page = dir.path().join("fleet.html");
    let (code, out, _) = fleet(
        &s,
        &[
            "--group-by",
            "deployment",
            "--json",
            "--html",
            page.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 1);
    let doc: Value = serde_json::from_str(&out).unwrap();
    let html = std::fs::read_to_string(&page).unwrap();
    let leaks = doc["counts"]["leak"].as_u64().unwrap() as usize;
    let svgs = html.matches("<svg").count();
    // Leaks plus borderline (warm-up, the fixed leak and the step rose
    // significantly before they flattened), each once; no healthy flat one.
    assert!(
        svgs >= leaks && svgs < doc["series"].as_array().unwrap().len(),
        "{svgs} plots"
    );
    for e in doc["series"].as_array().unwrap() {
        if e["verdict"] == "leak" {
            let name = e["labels"]["instance"]
                .as_str()
                .or(e["labels"]["deployment"].as_str());
            assert!(
                html.contains(&format!("=&quot;{}&quot;", name.unwrap())),
                "{name:?} drawn"
            );
        }
    }
    assert!(html.contains("Content-Security-Policy"));
}

/// A step fine enough to need more than Prometheus' 11,000 points per
/// series: the range is split and joined again, every point kept.
#[test]
fn a_fine_step_is_split_into_requests_prometheus_accepts() {
    let s = shared();
    let (_, out, err) = fleet(&s, &["--step", "30s", "--json"]);
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {err}"));
    assert_eq!(doc["window"]["step_seconds"], 30);
    let series = by_instance(&doc);
    // 6 days at 30 s, both ends included.
    assert_eq!(series["flat-noisy"]["points"], DAYS * DAY / 30 + 1);
    assert_eq!(series["leak-fast"]["verdict"], "leak");
}

/// From "this instance leaks" to "at main.newEntry": the instance label of
/// a leaking series points at a running scenario service, and the
/// drill-down's profiles name its growing site.
#[test]
fn the_drill_down_names_the_leaking_function() {
    let service = crate::support::scenario::Service::start("mapcache", &["-rate", "2000"]);
    let addr = service.url.strip_prefix("http://").unwrap().to_owned();
    let end = minutes_ago(60);
    let mut om = OpenMetrics::default();
    om.gauge("process_resident_memory_bytes");
    let mut noise = Noise(7);
    for (instance, rate) in [
        (addr.as_str(), 200.0 * MIB / DAY as f64),
        ("127.0.0.1:1", 0.0),
    ] {
        for m in 0..1440 {
            let y = 100.0 * MIB + rate * (60 * m) as f64 + 2.0 * MIB * noise.next();
            om.sample(
                &format!("instance=\"{instance}\""),
                y.round(),
                end - DAY + 60 * m,
            );
        }
    }
    let prom = Prometheus::start(&om.finish(), None);
    let drill = || {
        let mut cmd = leakwatch();
        cmd.args(["fleet", "--prometheus", &prom.url])
            .args([
                "--start",
                &(end - DAY).to_string(),
                "--end",
                &end.to_string(),
            ])
            .args(["--pprof-template", "http://{instance}/debug/pprof"])
            .args(["--drill", "3", "--drill-interval", "500ms"]);
        cmd
    };
    let mut cmd = drill();
    cmd.arg("--json");
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", describe(&cmd, &out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let series = by_instance(&doc);
    let leaking = &series[&addr];
    assert_eq!(leaking["verdict"], "leak");
    let sites = leaking["drill"]
        .as_array()
        .unwrap_or_else(|| panic!("{leaking}"));
    assert_eq!(sites[0]["function"], "main.newEntry", "{sites:?}");
    assert!(sites[0]["share"].as_f64().unwrap() > 0.5, "{sites:?}");
    assert!(
        series["127.0.0.1:1"]["drill"].is_null(),
        "only leaks are drilled"
    );

    // The text table is followed by where each drilled instance grows.
    let mut cmd = drill();
    let out = cmd.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let (_, below) = text
        .split_once(&format!("Where {{instance=\"{addr}\"}} grows"))
        .unwrap_or_else(|| panic!("no drill-down in the text: {}", describe(&cmd, &out)));
    assert!(below.contains("main.newEntry"), "{text}");
}

/// A whole minute, `minutes` ago, as Unix seconds: backfilled history must
/// lie in the past, clear of the block Prometheus writes itself.
fn minutes_ago(minutes: i64) -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    (now - 60 * minutes) / 60 * 60
}

/// More series than one batch holds: they are fetched in batches by a
/// regex matcher on their most distinctive label (whose values here are
/// full of regex metacharacters), and every series is judged exactly once.
#[test]
fn many_series_are_fetched_in_batches_and_each_judged_once() {
    let end = minutes_ago(60);
    let mut om = OpenMetrics::default();
    om.gauge("process_resident_memory_bytes");
    let mut noise = Noise(11);
    let n = 1100;
    for i in 0..n {
        let leaks = i % 100 == 0;
        // Every 3 minutes: the verdict's cost grows with the points, and
        // this test is about the batches.
        for m in 0..40 {
            let y = 50.0 * MIB
                + if leaks { 0.6 * MIB * m as f64 } else { 0.0 }
                + 0.5 * MIB * noise.next();
            om.sample(
                &format!(
                    "instance=\"10.0.{}.{}:9100\",job=\"node (a|b)\"",
                    i / 250,
                    i % 250
                ),
                y.round(),
                end - 7200 + 180 * m,
            );
        }
    }
    let prom = Prometheus::start(&om.finish(), None);
    let mut cmd = leakwatch();
    cmd.args(["fleet", "--prometheus", &prom.url, "--json"])
        .args([
            "--start",
            &(end - 7200).to_string(),
            "--end",
            &end.to_string(),
        ]);
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", describe(&cmd, &out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let series = by_instance(&doc);
    assert_eq!(series.len(), n, "each series once");
    assert_eq!(doc["series"].as_array().unwrap().len(), n);
    assert_eq!(doc["counts"]["leak"], n / 100, "{}", doc["counts"]);
    assert_eq!(series["10.0.0.0:9100"]["verdict"], "leak");
    assert_eq!(series["10.0.0.1:9100"]["verdict"], "no_leak");
}

/// `bench/fleet`: the time from command to ranked table for a fleet of
/// LEAKWATCH_BENCH_INSTANCES (default 1,000) instances over
/// LEAKWATCH_BENCH_DAYS (default 7) days at one-minute samples, against the
/// floor of fetching the same range with `curl` from the same Prometheus,
/// and leakwatch's peak RSS. Prints a Markdown table.
#[test]
#[ignore = "a benchmark: bench/fleet"]
fn benchmark_fleet() {
    use std::io::Write;
    use std::time::Instant;
    let var = |name: &str, default: i64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let (instances, days) = (
        var("LEAKWATCH_BENCH_INSTANCES", 1000),
        var("LEAKWATCH_BENCH_DAYS", 7),
    );
    // The history is backfilled once per size and kept under
    // target/bench/, with the end it was written for.
    let cache = crate::support::target_dir().join(format!("bench/fleet-{instances}-{days}"));
    let end = std::fs::read_to_string(cache.join("end"))
        .ok()
        .filter(|_| cache.join("data").is_dir())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| {
            std::fs::remove_dir_all(&cache).ok();
            let end = minutes_ago(180);
            std::fs::create_dir_all(&cache).unwrap();
            std::fs::write(cache.join("end"), end.to_string()).unwrap();
            end
        });
    let start = end - days * DAY;
    let built = Instant::now();
    let prom = Prometheus::start_cached(&cache, |path| {
        let mut w = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
        writeln!(w, "# TYPE process_resident_memory_bytes gauge").unwrap();
        let mut noise = Noise(3);
        for i in 0..instances {
            let rate = if i % 50 == 0 {
                50.0 * MIB / DAY as f64
            } else {
                0.0
            };
            for t in (start..=end).step_by(60) {
                let y = 200.0 * MIB + rate * (t - start) as f64 + 4.0 * MIB * noise.next();
                writeln!(
                    w,
                    "process_resident_memory_bytes{{instance=\"i-{i}\",job=\"bench\"}} {} {t}",
                    y.round()
                )
                .unwrap();
            }
        }
        writeln!(w, "# EOF").unwrap();
    });
    let setup = built.elapsed();

    // The floor: the same range at the same step, every series in one
    // answer, fetched and discarded by curl.
    let step = 60 * ((days * DAY / 2000 + 59) / 60);
    let timed = |cmd: &mut std::process::Command| {
        let t = Instant::now();
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{}", describe(cmd, &out));
        (t.elapsed().as_secs_f64(), out)
    };
    let (curl_s, _) = timed(
        std::process::Command::new("curl")
            .args([
                "-sf",
                "-o",
                "/dev/null",
                "--data-urlencode",
                "query=process_resident_memory_bytes",
            ])
            .args(["--data-urlencode", &format!("start={start}")])
            .args(["--data-urlencode", &format!("end={end}")])
            .args(["--data-urlencode", &format!("step={step}")])
            .arg(format!("{}/api/v1/query_range", prom.url)),
    );
    let mut cmd = leakwatch();
    cmd.args(["fleet", "--prometheus", &prom.url, "--top", "10"])
        .args(["--start", &start.to_string(), "--end", &end.to_string()]);
    // wait4 rather than Child::wait: it gives this child's own peak RSS.
    let (fleet_s, stdout, peak_kib) = {
        use std::io::Read;
        let t = Instant::now();
        let mut child = cmd.stdout(std::process::Stdio::piped()).spawn().unwrap();
        let mut stdout = String::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut stdout)
            .unwrap();
        let mut status = 0;
        // SAFETY: wait4 on our own child's pid, with valid out-pointers;
        // the Child is forgotten so it is not waited for twice.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        let pid = child.id() as libc::pid_t;
        std::mem::forget(child);
        assert_eq!(unsafe { libc::wait4(pid, &mut status, 0, &mut usage) }, pid);
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 1,
            "{stdout}"
        );
        let cpu = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        (
            t.elapsed().as_secs_f64(),
            stdout,
            (usage.ru_maxrss, cpu(usage.ru_utime) + cpu(usage.ru_stime)),
        )
    };
    let (peak, cpu_s) = peak_kib;
    let head = stdout.lines().next().unwrap_or("");
    eprintln!("{head}");
    // Every fiftieth instance leaks, and only those.
    let leaks = (instances + 49) / 50;
    assert!(
        head.contains(&format!("{leaks} leak, {} no leak", instances - leaks)),
        "{head}"
    );
    println!(
        "\n{instances} instances × {days} days at 1-minute samples ({} samples; backfill (cached in {}) and start {:.0} s), step {step} s\n",
        instances * (days * DAY / 60 + 1),
        cache.display(),
        setup.as_secs_f64()
    );
    println!("| | seconds | ratio |\n|---|---:|---:|");
    println!("| curl, the same range (floor) | {curl_s:.2} | 1.00 |");
    println!(
        "| leakwatch fleet, to the ranked table | {fleet_s:.2} | {:.2} |",
        fleet_s / curl_s
    );
    println!(
        "\nleakwatch fleet peak RSS: {:.0} MiB; its CPU time: {cpu_s:.2} s",
        peak as f64 / 1024.0
    );
}
