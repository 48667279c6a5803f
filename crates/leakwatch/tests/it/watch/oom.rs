//! An OOM kill in the target's memory cgroup is recorded before its exit,
//! and the time to the limit predicted from the first half of a recording
//! comes true (need root to create a cgroup with a limit; skipped, saying
//! so, otherwise).

use crate::support;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use support::scenario;

use serde_json::Value;

use super::{analyze_json_with, end_event, events, events_of, meta, out_dir, samples};

/// A fresh memory cgroup with a hard limit, under this process's own memory
/// cgroup (v1 `memory.limit_in_bytes`, or v2 `memory.max`); removed when
/// dropped. `None` when this host does not let us create one (not root, no
/// memory controller).
struct LimitedCgroup {
    dir: PathBuf,
}

impl LimitedCgroup {
    fn create(limit: u64) -> Option<LimitedCgroup> {
        let own = fs::read_to_string("/proc/self/cgroup").ok()?;
        let mut candidates = Vec::new();
        for line in own.lines() {
            let mut parts = line.splitn(3, ':');
            let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            let path = path.trim_start_matches('/');
            if controllers.split(',').any(|c| c == "memory") {
                candidates.push((
                    Path::new("/sys/fs/cgroup/memory").join(path),
                    "memory.limit_in_bytes",
                ));
            } else if controllers.is_empty() {
                candidates.push((Path::new("/sys/fs/cgroup").join(path), "memory.max"));
            }
        }
        // One per test: the tests of this file run at once.
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "leakwatch-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        for (parent, limit_file) in candidates {
            let dir = parent.join(&name);
            if fs::create_dir(&dir).is_err() {
                continue;
            }
            // A directory the kernel did not fill is no cgroup (on a v1
            // host, /sys/fs/cgroup itself is a writable tmpfs).
            if !dir.join("cgroup.procs").exists() {
                let _ = fs::remove_dir(&dir);
                continue;
            }
            let cg = LimitedCgroup { dir };
            if fs::write(cg.dir.join(limit_file), limit.to_string()).is_ok() {
                return Some(cg);
            }
        }
        None
    }
}

impl Drop for LimitedCgroup {
    fn drop(&mut self) {
        // Only empty cgroups can be removed; the killed service has left it.
        for _ in 0..50 {
            if fs::remove_dir(&self.dir).is_ok() {
                return;
            }
            thread::sleep(Duration::from_millis(100));
        }
    }
}

impl LimitedCgroup {
    /// `leakwatch watch FLAGS… --out DIR -- sh -c …` where the shell moves
    /// itself into this cgroup, then becomes the scenario service with
    /// `args`.
    fn watch(&self, dir: &Path, flags: &[&str], args: &str) {
        let script = format!(
            "echo $$ > {}/cgroup.procs && exec {} {args}",
            self.dir.display(),
            scenario::binary().display()
        );
        support::run_ok(
            support::leakwatch()
                .arg("watch")
                .args(flags)
                .arg("--out")
                .arg(dir)
                .args(["--", "sh", "-c", &script]),
        );
    }
}

#[test]
fn an_oom_kill_in_the_targets_cgroup_is_recorded_before_its_exit() {
    let Some(cg) = LimitedCgroup::create(48 << 20) else {
        eprintln!("SKIPPED: cannot create a memory cgroup with a limit on this host (needs root)");
        return;
    };
    let scratch = support::scratch();
    let dir = out_dir(scratch.path());
    // The service leaks ~50 MiB/s until the OOM killer stops it.
    cg.watch(
        &dir,
        &["--interval", "50ms", "--duration", "30s"],
        "-mode mapcache -rate 50000",
    );
    let evs = events(&dir);
    let kinds: Vec<&str> = evs.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    let oom = kinds.iter().position(|k| *k == "oom_kill");
    let exit = kinds.iter().position(|k| *k == "target_exit");
    assert!(
        oom.is_some() && oom < exit,
        "oom_kill before target_exit: {evs:#?}"
    );
    assert!(evs[oom.unwrap()]["increase"].as_u64().unwrap() >= 1);
    assert_eq!(evs[exit.unwrap()]["signal"], libc::SIGKILL);
    assert_eq!(end_event(&dir)["reason"], "target_exit");
    // The samples saw the limit.
    let s = samples(&dir);
    assert!(
        s.iter().any(|x| x["cgroup_max"] == 48u64 << 20),
        "{:?}",
        s.last()
    );
}

/// The seed's question, "when will it hit its limit?", checked against a
/// real OOM kill: the scenario service leaks (`mapcache`, 1000 requests/s,
/// about 1.1 MiB/s of cgroup memory) in a cgroup limited to 64 MiB until
/// the kernel kills it, some 50 s in. `analyze --until` on the first half
/// of that recording must predict a time-to-limit range that contains the
/// moment of the kill, and leave the recording as it was.
#[test]
fn the_time_to_limit_from_half_a_recording_contains_the_real_oom_kill() {
    const LIMIT: u64 = 64 << 20;
    let Some(cg) = LimitedCgroup::create(LIMIT) else {
        eprintln!(
            "SKIPPED: cannot create a memory cgroup with a limit on this host (needs root and a \
             writable memory controller); the time to limit is not checked against a real OOM kill"
        );
        return;
    };
    let scratch = support::scratch();
    let dir = out_dir(scratch.path());
    let addr = format!("127.0.0.1:{}", scenario::free_port());
    let pprof = format!("http://{addr}");
    cg.watch(
        &dir,
        &[
            "--quiet",
            "--interval",
            "250ms",
            "--profile-interval",
            "1s",
            "--duration",
            "150s",
            "--pprof",
            &pprof,
        ],
        &format!("-mode mapcache -rate 1000 -addr {addr}"),
    );
    let evs = events(&dir);
    let oom = events_of(&evs, "oom_kill");
    assert_eq!(oom.len(), 1, "killed by the OOM killer: {evs:#?}");
    assert_eq!(end_event(&dir)["reason"], "target_exit");
    let start = rfc3339(&meta(&dir)["start"]);
    let killed = rfc3339(&oom[0]["time"]);
    // Whole milliseconds, so that both spellings below name one instant.
    let half_ms = ((killed - start) * 500.0).round() as u64;
    let half = half_ms as f64 / 1000.0;

    let files = [
        "samples.jsonl",
        "events.jsonl",
        "profiles.jsonl",
        "runtime.jsonl",
    ];
    let before: Vec<Vec<u8>> = files
        .iter()
        .map(|f| fs::read(dir.join(f)).unwrap())
        .collect();
    let v = analyze_json_with(&dir, &["--until", &format!("+{half_ms}ms")]);
    let after: Vec<Vec<u8>> = files
        .iter()
        .map(|f| fs::read(dir.join(f)).unwrap())
        .collect();
    assert!(
        before == after,
        "analyze --until leaves the recording as it was"
    );

    assert_eq!(v["verdict"], "leak", "{v:#}");
    assert_eq!(v["kind"], serde_json::json!(["heap"]), "{v:#}");
    assert_eq!(v["interim"], true, "the watch went on past --until: {v:#}");
    let end = rfc3339(&v["window"]["end"]);
    assert!(
        end <= start + half + 1e-3,
        "the window ends at --until: {v:#}"
    );
    assert!(
        v["events"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["kind"] != "oom_kill"),
        "the kill comes after the cut: {v:#}"
    );
    let limit = &v["limit"];
    assert_eq!(limit["source"], "cgroup", "{v:#}");
    assert_eq!(limit["bytes"], LIMIT, "{v:#}");
    let soonest = end
        + limit["time_to_limit_low_seconds"]
            .as_f64()
            .expect("a soonest time");
    let latest = end
        + limit["time_to_limit_high_seconds"]
            .as_f64()
            .expect("a latest time");
    let when = |t: f64| format!("{:.1} s", t - start);
    let prediction = format!(
        "predicted at {}: the limit between {} and {}; killed at {}",
        when(end),
        when(soonest),
        when(latest),
        when(killed)
    );
    assert!(soonest <= killed && killed <= latest, "{prediction}\n{v:#}");
    eprintln!("{prediction}");

    // The same cut written as a time gives the same verdict.
    let at = humantime::parse_rfc3339(meta(&dir)["start"].as_str().unwrap()).unwrap()
        + Duration::from_millis(half_ms);
    let at = humantime::format_rfc3339_micros(at).to_string();
    let same = analyze_json_with(&dir, &["--until", &at]);
    assert_eq!(same, v, "--until {at} and --until +{half_ms}ms differ");
}

/// Seconds since the Unix epoch of an RFC 3339 time in the JSON.
fn rfc3339(v: &Value) -> f64 {
    let s = v.as_str().unwrap_or_else(|| panic!("not a time: {v}"));
    humantime::parse_rfc3339(s)
        .unwrap_or_else(|e| panic!("{s}: {e}"))
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}
