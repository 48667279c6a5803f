//! An OOM kill in the target's memory cgroup is recorded before its exit
//! (needs root to create a cgroup with a limit; skipped otherwise).

use crate::support;

use std::fs;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use support::scenario;

use super::{end_event, events, out_dir, samples};

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
        let name = format!("leakwatch-test-{}", std::process::id());
        for (parent, limit_file) in candidates {
            let dir = parent.join(&name);
            if fs::create_dir(&dir).is_err() {
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

#[test]
fn an_oom_kill_in_the_targets_cgroup_is_recorded_before_its_exit() {
    let Some(cg) = LimitedCgroup::create(48 << 20) else {
        eprintln!("SKIPPED: cannot create a memory cgroup with a limit on this host (needs root)");
        return;
    };
    let scratch = support::scratch();
    let dir = out_dir(scratch.path());
    let bin = scenario::binary();
    // The shell moves itself into the limited cgroup, then becomes the
    // service, which leaks ~50 MiB/s until the OOM killer stops it.
    let script = format!(
        "echo $$ > {}/cgroup.procs && exec {} -mode mapcache -rate 50000",
        cg.dir.display(),
        bin.display()
    );
    support::run_ok(support::leakwatch().args([
        "watch",
        "--interval",
        "50ms",
        "--duration",
        "30s",
        "--out",
        dir.to_str().unwrap(),
        "--",
        "sh",
        "-c",
        &script,
    ]));
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
