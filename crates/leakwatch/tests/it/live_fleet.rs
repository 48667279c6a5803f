//! `leakwatch fleet` on a live fleet: scenario services, leaky and healthy,
//! scraped every second by a real Prometheus, judged from what it stored,
//! and the leaks drilled into over their own pprof endpoints.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::prometheus::Prometheus;
use crate::support::scenario::Service;
use crate::support::{describe, http, leakwatch};

/// Each service: its mode, its arguments, and the site a drill-down must
/// name when it leaks (`None`: healthy).
const FLEET: &[(&str, &[&str], Option<&str>)] = &[
    // About 1.2 MiB/s of retained entries: 70 MiB in a minute.
    ("mapcache", &["-rate", "1000"], Some("main.newEntry")),
    ("slice", &["-rate", "1000"], Some("main.appendRecord")),
    // The same traffic through a bounded cache: full within seconds.
    ("lru", &["-rate", "1000"], None),
    // 12 MiB/s of garbage: a busy collector, nothing kept.
    ("churn", &["-rate", "200"], None),
    ("idle", &[], None),
];
// The healthy ones are not flat either: until their first collection,
// each scrape's garbage lands on fresh heap pages, some 8 KiB of RSS per
// scrape. Sixty scrapes make about 500 KiB, which the verdict calls a
// drift too small to matter (under 1 MiB); it grows with the number of
// samples, not with how long a loaded machine takes to gather them.

/// Samples every series must have before it is judged: well above the
/// 15 points the trend tests need, so a loaded machine that misses
/// scrapes still gives a window long enough to judge.
const SAMPLES: u64 = 60;

#[test]
fn a_scraped_fleet_of_scenario_services_is_judged_and_its_leaks_drilled() {
    let services: Vec<Service> = FLEET
        .iter()
        .map(|(mode, args, _)| Service::start(mode, args))
        .collect();
    let addrs: Vec<&str> = services
        .iter()
        .map(|s| s.url.strip_prefix("http://").unwrap())
        .collect();
    let prom = Prometheus::scraping(&addrs, 1);
    wait_for_samples(&prom, addrs.len());

    let mut cmd = leakwatch();
    cmd.args(["fleet", "--prometheus", &prom.url, "--json"])
        .args(["--since", "3m", "--step", "1s"])
        .args(["--pprof-template", "http://{instance}/debug/pprof"])
        .args([
            "--drill",
            &FLEET.len().to_string(),
            "--drill-interval",
            "1s",
        ]);
    let out = cmd.output().expect("run leakwatch fleet");
    assert_eq!(out.status.code(), Some(1), "{}", describe(&cmd, &out));
    let doc: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", describe(&cmd, &out)));
    let series = doc["series"].as_array().expect("a series array");
    assert_eq!(series.len(), FLEET.len(), "{doc}");

    let mut wrong = Vec::new();
    let (mut true_pos, mut false_pos, mut false_neg) = (0, 0, 0);
    for ((mode, _, site), addr) in FLEET.iter().zip(&addrs) {
        let e = series
            .iter()
            .find(|e| e["labels"]["instance"] == *addr)
            .unwrap_or_else(|| panic!("no series for {mode} at {addr}: {doc}"));
        assert_eq!(e["labels"]["job"], "fleet", "{e}");
        let said = e["verdict"] == "leak";
        match (site.is_some(), said) {
            (true, true) => true_pos += 1,
            (false, true) => false_pos += 1,
            (true, false) => false_neg += 1,
            (false, false) => {}
        }
        if said != site.is_some() {
            wrong.push(format!(
                "{mode}: {} ({} points) — {}",
                e["verdict"], e["points"], e["summary"]
            ));
        }
        match site {
            Some(site) if said => {
                let sites = e["drill"]
                    .as_array()
                    .unwrap_or_else(|| panic!("{mode} was not drilled: {e}"));
                assert_eq!(sites[0]["function"], *site, "{mode}: {sites:?}");
                // The leak is nearly all of what grows, however the
                // runtime's own allocations vary.
                assert!(sites[0]["share"].as_f64().unwrap() > 0.5, "{sites:?}");
                eprintln!("live fleet: {mode} drilled to {}", sites[0]);
            }
            _ => assert!(e["drill"].is_null(), "{mode}: only leaks are drilled: {e}"),
        }
    }
    let precision = true_pos as f64 / (true_pos + false_pos).max(1) as f64;
    let recall = true_pos as f64 / (true_pos + false_neg).max(1) as f64;
    eprintln!("live fleet: precision {precision:.2}, recall {recall:.2}");
    assert!(wrong.is_empty(), "misjudged:\n{}", wrong.join("\n"));

    // The JSON's order is the ranking: leaks first.
    let order: Vec<&str> = series
        .iter()
        .map(|e| e["verdict"].as_str().unwrap())
        .collect();
    let leaks = FLEET.iter().filter(|f| f.2.is_some()).count();
    assert!(order[..leaks].iter().all(|v| *v == "leak"), "{order:?}");
}

/// Waits (up to 150 s) until Prometheus holds at least [`SAMPLES`]
/// samples of every one of the `n` services' resident memory.
fn wait_for_samples(prom: &Prometheus, n: usize) {
    let url = format!(
        "{}/api/v1/query?query=min(count_over_time(process_resident_memory_bytes%5B10m%5D))%20and%20count(process_resident_memory_bytes)%20%3D%3D%20{n}",
        prom.url
    );
    let deadline = Instant::now() + Duration::from_secs(150);
    loop {
        let doc: Value = serde_json::from_slice(&http::get(&url)).unwrap();
        let fewest = doc["data"]["result"][0]["value"][1]
            .as_str()
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0);
        if fewest >= SAMPLES as f64 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "fewer than {SAMPLES} samples of {n} services after 150 s ({doc}):\n{}",
            prom.log()
        );
        std::thread::sleep(Duration::from_secs(2));
    }
}
