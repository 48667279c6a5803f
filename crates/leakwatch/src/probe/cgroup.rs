//! The memory accounting of a process's cgroup: usage, limit, OOM counters.
//!
//! cgroup v2 is read when the process's unified cgroup has the memory
//! controller; otherwise a v1 `memory` hierarchy is used when one is mounted
//! (hybrid hosts, older container runtimes). What cannot be found or read is
//! `None`, never 0.

use std::fs;
use std::path::{Path, PathBuf};

/// Where the cgroup file systems are mounted, found once from
/// `/proc/self/mountinfo`.
#[derive(Debug, Clone, Default)]
pub struct CgroupMounts {
    v2: Option<Mount>,
    v1_memory: Option<Mount>,
}

#[derive(Debug, Clone)]
struct Mount {
    /// The directory of the hierarchy's root inside the file system (field 4
    /// of mountinfo), stripped from the paths `/proc/PID/cgroup` reports.
    root: String,
    /// Where it is mounted.
    point: PathBuf,
}

/// A process's cgroup memory at one moment, in bytes and counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CgroupMemory {
    /// 2 for the unified hierarchy, 1 for the v1 memory controller.
    pub version: u8,
    /// The cgroup's directory.
    pub dir: PathBuf,
    /// Current usage (`memory.current`; v1 `memory.usage_in_bytes`).
    pub current: Option<u64>,
    /// The hard limit (`memory.max`; v1 `memory.limit_in_bytes`); `None` when
    /// unlimited or unreadable.
    pub max: Option<u64>,
    /// Anonymous memory (`memory.stat` `anon`; v1 `total_rss`).
    pub anon: Option<u64>,
    /// Page cache (`memory.stat` `file`; v1 `total_cache`).
    pub file: Option<u64>,
    /// Times the limit was hit (`memory.events` `oom`; not in v1).
    pub oom: Option<u64>,
    /// Processes killed by the OOM killer (`memory.events` `oom_kill`; v1
    /// `memory.oom_control` `oom_kill`).
    pub oom_kill: Option<u64>,
}

/// v1 reports "no limit" as a huge page-aligned number near `i64::MAX`.
const V1_UNLIMITED_ABOVE: u64 = 1 << 60;

impl CgroupMounts {
    /// Reads `/proc/self/mountinfo`. A host without cgroups gives empty
    /// mounts, and every read then returns `None`.
    pub fn discover() -> Self {
        fs::read_to_string("/proc/self/mountinfo")
            .map(|t| Self::parse_mountinfo(&t))
            .unwrap_or_default()
    }

    fn parse_mountinfo(text: &str) -> Self {
        let mut mounts = CgroupMounts::default();
        for line in text.lines() {
            let Some((left, right)) = line.split_once(" - ") else {
                continue;
            };
            let fields: Vec<&str> = left.split(' ').collect();
            let tail: Vec<&str> = right.split(' ').collect();
            let (Some(root), Some(point), Some(fstype)) =
                (fields.get(3), fields.get(4), tail.first())
            else {
                continue;
            };
            let mount = Mount {
                root: (*root).to_owned(),
                point: PathBuf::from(point),
            };
            match *fstype {
                "cgroup2" if mounts.v2.is_none() => mounts.v2 = Some(mount),
                "cgroup" if mounts.v1_memory.is_none() => {
                    let opts = tail.get(2).copied().unwrap_or("");
                    if opts.split(',').any(|o| o == "memory") {
                        mounts.v1_memory = Some(mount);
                    }
                }
                _ => {}
            }
        }
        mounts
    }

    /// The cgroup memory of `pid`, or `None` when it has no readable memory
    /// cgroup.
    pub fn read_for(&self, pid: u32) -> Option<CgroupMemory> {
        let text = fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
        let mut v2_path = None;
        let mut v1_path = None;
        for line in text.lines() {
            let mut parts = line.splitn(3, ':');
            let (Some(id), Some(controllers), Some(path)) =
                (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            if id == "0" && controllers.is_empty() {
                v2_path = Some(path);
            } else if controllers.split(',').any(|c| c == "memory") {
                v1_path = Some(path);
            }
        }
        if let (Some(m), Some(p)) = (&self.v2, v2_path) {
            if let Some(dir) = m.resolve(p) {
                if let Some(mem) = read_v2(&dir) {
                    return Some(mem);
                }
            }
        }
        let dir = self.v1_memory.as_ref()?.resolve(v1_path?)?;
        read_v1(&dir)
    }
}

/// Reads the cgroup at `dir` again, without going through a process: after
/// the target died (perhaps OOM-killed) its `/proc/PID/cgroup` is gone, but
/// the cgroup and its `oom_kill` counter remain.
pub fn read_dir(dir: &Path, version: u8) -> Option<CgroupMemory> {
    match version {
        2 => read_v2(dir),
        _ => read_v1(dir),
    }
}

impl Mount {
    /// The directory of the cgroup at `path` (as `/proc/PID/cgroup` shows
    /// it), or `None` when it lies outside this mount (another cgroup
    /// namespace, shown with `/..`).
    fn resolve(&self, path: &str) -> Option<PathBuf> {
        if path.split('/').any(|c| c == "..") {
            return None;
        }
        let rel = if self.root == "/" {
            path
        } else {
            path.strip_prefix(self.root.as_str())?
        };
        let rel = rel.trim_start_matches('/');
        Some(if rel.is_empty() {
            self.point.clone()
        } else {
            self.point.join(rel)
        })
    }
}

fn read_u64(path: &Path) -> Option<u64> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// The value of `key` in a flat keyed file (`memory.stat`, `memory.events`).
fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok())?
    })
}

fn read_v2(dir: &Path) -> Option<CgroupMemory> {
    // The root cgroup and cgroups without the memory controller have no
    // memory.current; then there is no v2 memory accounting to report.
    let current = Some(read_u64(&dir.join("memory.current"))?);
    let max = fs::read_to_string(dir.join("memory.max"))
        .ok()
        .and_then(|s| s.trim().parse().ok()); // "max" means no limit
    let stat = fs::read_to_string(dir.join("memory.stat")).unwrap_or_default();
    let events = fs::read_to_string(dir.join("memory.events")).unwrap_or_default();
    Some(CgroupMemory {
        version: 2,
        dir: dir.to_owned(),
        current,
        max,
        anon: keyed(&stat, "anon"),
        file: keyed(&stat, "file"),
        oom: keyed(&events, "oom"),
        oom_kill: keyed(&events, "oom_kill"),
    })
}

fn read_v1(dir: &Path) -> Option<CgroupMemory> {
    let current = Some(read_u64(&dir.join("memory.usage_in_bytes"))?);
    let max = read_u64(&dir.join("memory.limit_in_bytes")).filter(|&m| m < V1_UNLIMITED_ABOVE);
    let stat = fs::read_to_string(dir.join("memory.stat")).unwrap_or_default();
    let oom_control = fs::read_to_string(dir.join("memory.oom_control")).unwrap_or_default();
    Some(CgroupMemory {
        version: 1,
        dir: dir.to_owned(),
        current,
        max,
        anon: keyed(&stat, "total_rss").or_else(|| keyed(&stat, "rss")),
        file: keyed(&stat, "total_cache").or_else(|| keyed(&stat, "cache")),
        oom: None,
        oom_kill: keyed(&oom_control, "oom_kill"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn mountinfo_finds_both_hierarchies() {
        let m = CgroupMounts::parse_mountinfo(HYBRID);
        assert_eq!(
            m.v2.as_ref().unwrap().point,
            Path::new("/sys/fs/cgroup/unified")
        );
        assert_eq!(
            m.v1_memory.as_ref().unwrap().point,
            Path::new("/sys/fs/cgroup/memory")
        );
    }

    #[test]
    fn paths_resolve_under_the_mount_root() {
        let m = Mount {
            root: "/docker/abc".into(),
            point: "/sys/fs/cgroup".into(),
        };
        assert_eq!(
            m.resolve("/docker/abc/sub"),
            Some(PathBuf::from("/sys/fs/cgroup/sub"))
        );
        assert_eq!(m.resolve("/other"), None);
        assert_eq!(m.resolve("/../x"), None);
    }

    #[test]
    fn keyed_files_parse_exact_keys() {
        let t = "oom 3\noom_kill 1\noom_group_kill 9\n";
        assert_eq!(keyed(t, "oom"), Some(3));
        assert_eq!(keyed(t, "oom_kill"), Some(1));
        assert_eq!(keyed(t, "max"), None);
    }

    #[test]
    fn this_process_reads_or_is_absent() {
        // Whatever this host offers, a present reading has a usage figure.
        if let Some(mem) = CgroupMounts::discover().read_for(std::process::id()) {
            assert!(mem.current.is_some());
            assert!(mem.version == 1 || mem.version == 2);
        }
    }
}
