//! `--max-profiles`: stored profiles are thinned to the budget, keeping the
//! first and the last, and the index agrees with the directory.

use crate::support;

use std::collections::BTreeSet;
use std::fs;

use support::scenario::Service;

use super::{analyze_json, end_event, listed_profiles, out_dir, read_jsonl};

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
