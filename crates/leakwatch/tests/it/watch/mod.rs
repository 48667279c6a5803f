//! `leakwatch watch` against real processes, a real Go pprof endpoint and a
//! real misbehaving HTTP server; `leakwatch analyze` reading what it wrote.
//! One module per topic; the helpers they share (reading a recording, a
//! watcher running in the background, looking at processes) are here.
//!
//! Intervals are short (100 ms samples, sub-second profiles) so that each
//! test takes seconds; the one long test, a soak behind `--ignored`, says
//! at the top of [`soak`] how to run it.

mod cli;
mod faults;
mod oom;
mod recording;
mod remote;
mod restart;
mod signals;
mod soak;
mod thinning;

use crate::support;

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

fn read_jsonl(path: &Path) -> Vec<Value> {
    let text = fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{}: {e}: {l}", path.display())))
        .collect()
}

fn samples(dir: &Path) -> Vec<Value> {
    read_jsonl(&dir.join("samples.jsonl"))
}

fn events(dir: &Path) -> Vec<Value> {
    read_jsonl(&dir.join("events.jsonl"))
}

fn events_of<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["kind"] == kind).collect()
}

fn meta(dir: &Path) -> Value {
    serde_json::from_str(&fs::read_to_string(dir.join("meta.json")).expect("meta.json"))
        .expect("meta.json parses")
}

/// The stored profile entries still listed (added and not removed).
fn listed_profiles(dir: &Path, kind: &str) -> Vec<Value> {
    let index = read_jsonl(&dir.join("profiles.jsonl"));
    let removed: BTreeSet<(u64, String)> = index
        .iter()
        .filter(|l| l["op"] == "remove")
        .map(|l| {
            (
                l["seq"].as_u64().unwrap(),
                l["kind"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    index
        .into_iter()
        .filter(|l| l["op"] == "add" && l["kind"] == kind)
        .filter(|l| !removed.contains(&(l["seq"].as_u64().unwrap(), kind.to_owned())))
        .collect()
}

fn end_event(dir: &Path) -> Value {
    let evs = events(dir);
    let ends = events_of(&evs, "end");
    assert_eq!(ends.len(), 1, "exactly one end event: {evs:#?}");
    assert_eq!(
        evs.last().unwrap()["kind"],
        "end",
        "end comes last: {evs:#?}"
    );
    ends[0].clone()
}

/// `analyze --json DIR`; any verdict will do (exit 0 no leak, 1 leak, 3
/// inconclusive), only an error (2) fails.
fn analyze_json(dir: &Path) -> Value {
    analyze_json_with(dir, &[])
}

/// [`analyze_json`] with more flags (`--until`, `--limit`).
fn analyze_json_with(dir: &Path, flags: &[&str]) -> Value {
    let mut cmd = support::leakwatch();
    cmd.arg("analyze").arg("--json").args(flags).arg(dir);
    let out = cmd.output().expect("run leakwatch analyze");
    assert!(
        matches!(out.status.code(), Some(0 | 1 | 3)),
        "{}",
        support::describe(&cmd, &out)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("analyze --json: {e}\n{text}"))
}

/// Whether process `pid` exists and is not a zombie.
fn alive(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, r)| r.split_whitespace().next());
            state != Some("Z")
        }
        Err(_) => false,
    }
}

/// Processes whose process group is `pgid`.
fn group_members(pgid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // After ")": state, ppid, pgrp.
        if fields.get(2).and_then(|g| g.parse::<u32>().ok()) == Some(pgid) && fields[0] != "Z" {
            found.push(pid);
        }
    }
    found
}

fn wait_until(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(50));
    }
}

/// A watcher started in the background, killed (SIGKILL) if the test
/// fails before it ends.
struct Watcher {
    child: Child,
}

impl Watcher {
    fn start<S: AsRef<OsStr>>(args: impl IntoIterator<Item = S>) -> Watcher {
        let child = support::leakwatch()
            .arg("watch")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start leakwatch watch");
        Watcher { child }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn signal(&self, sig: i32) {
        // SAFETY: kill(2) with a pid we own.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, sig);
        }
    }

    /// Waits for it to exit by itself; returns its exit status and stderr.
    fn wait(mut self, timeout: Duration) -> (std::process::ExitStatus, String) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                let mut err = String::new();
                if let Some(mut e) = self.child.stderr.take() {
                    let _ = e.read_to_string(&mut err);
                }
                return (status, err);
            }
            assert!(
                Instant::now() < deadline,
                "leakwatch watch did not end in {timeout:?}"
            );
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn out_dir(scratch: &Path) -> PathBuf {
    scratch.join("rec")
}
