//! Signals to the watcher and to its target: SIGKILL leaves a readable
//! recording and no orphan, a target killed mid-run ends the watch, SIGINT
//! and SIGTERM end it cleanly and reach the child, and a child ignoring
//! SIGTERM is still stopped with its whole process group.

use crate::support;

use std::fs;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use support::scenario;

use super::{
    alive, analyze_json, end_event, events, events_of, group_members, listed_profiles, meta,
    out_dir, samples, wait_until, Watcher,
};

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
