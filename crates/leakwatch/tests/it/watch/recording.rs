//! What a watch records: a spawned leaking Go service (samples, decodable
//! heap and goroutine profiles, runtime statistics, its end by SIGTERM) and
//! an existing one watched by pid, which is left running.

use crate::support;

use std::fs;

use support::scenario::{self, Service};

use super::{
    alive, analyze_json, end_event, events, events_of, listed_profiles, meta, out_dir, read_jsonl,
    samples,
};

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
