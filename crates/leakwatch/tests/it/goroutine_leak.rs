//! Go's goroutine leak profile in a watch. The machine's Go (1.19) cannot
//! write one — Go 1.26 does, built with `GOEXPERIMENT=goroutineleakprofile`
//! — so a loopback server stands in front of a real Go service: it passes
//! every profile through and serves `/debug/pprof/goroutineleak` from
//! `testdata/profiles/goroutineleak-go1.26-format.txt`, a fixture in Go's
//! own encoding of that profile.

use std::process::Command;

use serde_json::Value;

use crate::support::http::{fetch, Response, Server};
use crate::support::scenario::Service;
use crate::support::{describe, leakwatch, repo_root, scratch};

/// A server that forwards the pprof paths to `svc`, with `leak` answering
/// `/debug/pprof/goroutineleak` (the service's own answer when `None`).
fn front(svc: &Service, leak: Option<Vec<u8>>) -> Server {
    let mut b = Server::builder();
    for path in ["heap", "goroutine", "goroutineleak"] {
        let route = format!("/debug/pprof/{path}");
        if path == "goroutineleak" {
            if let Some(body) = leak.clone() {
                b = b.respond(&route, Response::ok(body));
                continue;
            }
        }
        let upstream = format!("{}{route}", svc.url);
        b = b.handle(&route, move |req| {
            let url = if req.query.is_empty() {
                upstream.clone()
            } else {
                format!("{upstream}?{}", req.query)
            };
            let (status, body) = fetch(&url);
            Response {
                status,
                ..Response::ok(body)
            }
        });
    }
    b.start()
}

fn check(svc: &Service, server: &Server, out: &std::path::Path) -> (i32, Value) {
    let mut cmd: Command = leakwatch();
    cmd.args([
        "check",
        "--json",
        "--interval",
        "200ms",
        "--profile-interval",
        "1s",
    ])
    .args([
        "--duration",
        "4s",
        "--pid",
        &svc.pid.to_string(),
        "--pprof",
        &server.url,
    ])
    .arg("--out")
    .arg(out);
    let result = cmd.output().expect("run leakwatch");
    let doc = serde_json::from_slice(&result.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", describe(&cmd, &result)));
    (result.status.code().unwrap_or(-1), doc)
}

fn profiles_of(dir: &std::path::Path, kind: &str) -> usize {
    std::fs::read_to_string(dir.join("profiles.jsonl"))
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["op"] == "add" && l["kind"] == kind)
        .count()
}

#[test]
fn a_goroutine_go_proves_leaked_is_a_leak_before_any_trend_could_say() {
    // A healthy service: bounded cache, steady goroutines. Four seconds of
    // it could never show a trend; the leak profile is proof on its own.
    let svc = Service::start("lru", &[]);
    let fixture =
        std::fs::read(repo_root().join("testdata/profiles/goroutineleak-go1.26-format.txt"))
            .unwrap();
    let server = front(&svc, Some(fixture));
    let dir = scratch();
    let out = dir.path().join("rec");
    let (code, v) = check(&svc, &server, &out);

    assert_eq!(code, 1, "{v:#}");
    assert_eq!(v["verdict"], "leak", "{}", v["summary"]);
    assert_eq!(v["kind"], serde_json::json!(["goroutines"]));
    assert_eq!(v["goroutines"]["proven_leaked"], 7);
    let sites: Vec<(String, u64)> = v["goroutine_sites"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["function"].as_str().unwrap().to_owned(),
                s["proven_leaked"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        sites,
        [
            ("main.fanOut.func1".to_owned(), 4),
            ("sync.(*Mutex).lockSlow".to_owned(), 2),
            ("main.sendOrphan".to_owned(), 1)
        ]
    );
    let summary = v["summary"].as_str().unwrap();
    assert!(
        summary.contains("proves 7 goroutine(s) leaked"),
        "{summary}"
    );
    assert!(profiles_of(&out, "goroutineleak") >= 2);
    assert!(server.hits("/debug/pprof/goroutineleak") >= 2);
}

#[test]
fn a_go_without_the_leak_profile_is_asked_once_and_judged_as_before() {
    let svc = Service::start("lru", &[]);
    // Every path passed through: Go 1.19 answers the leak profile with 404.
    let server = front(&svc, None);
    let dir = scratch();
    let out = dir.path().join("rec");
    let (_, v) = check(&svc, &server, &out);

    assert_ne!(v["verdict"], "leak", "{}", v["summary"]);
    assert_eq!(v["goroutines"]["proven_leaked"], Value::Null);
    assert_eq!(server.hits("/debug/pprof/goroutineleak"), 1);
    assert!(server.hits("/debug/pprof/heap") >= 3);
    assert_eq!(profiles_of(&out, "goroutineleak"), 0);
    let events = std::fs::read_to_string(out.join("events.jsonl")).unwrap();
    let unavailable: Vec<Value> = events
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["kind"] == "endpoint_unavailable" && e["profile"] == "goroutineleak")
        .collect();
    assert_eq!(unavailable.len(), 1, "{events}");
}
