//! `watch --restart`: a command that keeps exiting is started again, each
//! restart recorded and sampled as a new process.

use crate::support;

use std::collections::BTreeSet;

use serde_json::Value;

use super::{end_event, events, events_of, out_dir, samples};

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
