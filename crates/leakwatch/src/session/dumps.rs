//! Heap dump files as a profile source (`--dumps GLOB`): the files an
//! allocator writes by itself — jemalloc's `P.<pid>.<seq>.i<n>.heap` with
//! `MALLOC_CONF=prof:true,lg_prof_interval:N,prof_prefix:P`, gperftools'
//! `P.0001.heap` with `HEAPPROFILE=P` — taken in the order they were
//! written, each becoming a profile round of the recording.
//!
//! Only what the cursor has not passed is taken, so nothing here grows with
//! the watch: the cursor is the (modification time, sequence number) of
//! the last dump taken. A file written in the last moment may be half
//! written (the allocators write in place) and waits for the next round.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// How long a dump must have been left alone before it is read.
const SETTLE: Duration = Duration::from_millis(300);

/// `--dumps GLOB`, parsed: a directory and a file-name pattern with `*` and
/// `?` (the directory is taken literally).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DumpPattern {
    dir: PathBuf,
    name: String,
}

impl DumpPattern {
    /// Parses the glob; wildcards are allowed in the file name only.
    pub fn parse(glob: &str) -> Result<DumpPattern, String> {
        let path = Path::new(glob);
        let name = path.file_name().and_then(|n| n.to_str()).ok_or_else(|| {
            format!("--dumps `{glob}`: give a file pattern, e.g. '/var/tmp/prof/app.*.heap'")
        })?;
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_owned(),
            _ => PathBuf::from("."),
        };
        if dir.to_string_lossy().contains(['*', '?', '[']) {
            return Err(format!(
                "--dumps `{glob}`: wildcards are matched in the file name only, not in {}",
                dir.display()
            ));
        }
        Ok(DumpPattern {
            dir,
            name: name.to_owned(),
        })
    }

    /// The directory searched.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether `name` matches the file-name pattern.
    pub fn matches(&self, name: &str) -> bool {
        wildcard(self.name.as_bytes(), name.as_bytes())
    }
}

/// `*` and `?` matching, iteratively (no exponential backtracking on a
/// hostile pattern).
fn wildcard(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// Where the dumps taken so far end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Cursor {
    modified: SystemTime,
    seq: u64,
}

impl Cursor {
    /// A cursor that takes only dumps written from `start` on: a watch
    /// does not claim what earlier runs left in the directory.
    pub fn from(start: SystemTime) -> Cursor {
        Cursor {
            modified: start,
            seq: 0,
        }
    }
}

/// A dump file ready to be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dump {
    /// Its path.
    pub path: PathBuf,
    /// When the allocator last wrote it.
    pub modified: SystemTime,
    /// Its sequence number, from its name.
    pub seq: u64,
}

impl Dump {
    /// The cursor just past this dump.
    pub fn cursor(&self) -> Cursor {
        Cursor {
            modified: self.modified,
            seq: self.seq,
        }
    }
}

/// The dumps after `cursor` that have settled by `now`, oldest first, at
/// most `max` of them.
pub fn new_dumps(
    pattern: &DumpPattern,
    cursor: Cursor,
    now: SystemTime,
    max: usize,
) -> io::Result<Vec<Dump>> {
    let mut found = Vec::new();
    for entry in fs::read_dir(&pattern.dir)? {
        let Ok(entry) = entry else { continue };
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !pattern.matches(name) {
            continue;
        }
        let Ok(meta) = entry.metadata() else { continue };
        let Ok(modified) = meta.modified() else {
            continue;
        };
        if !meta.is_file() || now.duration_since(modified).unwrap_or_default() < SETTLE {
            continue;
        }
        let dump = Dump {
            path: entry.path(),
            modified,
            seq: sequence_number(name),
        };
        if dump.cursor() > cursor {
            found.push(dump);
        }
    }
    found.sort_by_key(|d| (d.cursor(), d.path.clone()));
    found.truncate(max);
    Ok(found)
}

/// The dump's sequence number: the last all-digit part of its name
/// (`app.311.7.i7.heap` → 7, `app.0012.heap` → 12), 0 when there is none.
fn sequence_number(name: &str) -> u64 {
    name.rsplit('.')
        .filter(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
        .find_map(|part| part.parse().ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_name_patterns() {
        let p = DumpPattern::parse("/var/tmp/prof/app.*.heap").unwrap();
        assert_eq!(p.dir(), Path::new("/var/tmp/prof"));
        assert!(p.matches("app.311.0.i0.heap"));
        assert!(p.matches("app..heap"));
        assert!(!p.matches("app.311.0.i0.heap.tmp"));
        assert!(!p.matches("other.1.heap"));
        let q = DumpPattern::parse("dump.?.heap").unwrap();
        assert_eq!(q.dir(), Path::new("."));
        assert!(q.matches("dump.1.heap") && !q.matches("dump.12.heap"));
        assert!(DumpPattern::parse("/tmp/*/x.heap")
            .unwrap_err()
            .contains("file name only"));
        // A pattern built to backtrack forever still answers at once.
        let hostile = DumpPattern::parse(&format!("{}b", "*a".repeat(30))).unwrap();
        assert!(!hostile.matches(&"a".repeat(5000)));
    }

    #[test]
    fn sequence_numbers_come_from_the_name() {
        assert_eq!(sequence_number("app.311.7.i7.heap"), 7);
        assert_eq!(sequence_number("prof.0012.heap"), 12);
        assert_eq!(sequence_number("heap"), 0);
    }

    #[test]
    fn dumps_are_taken_once_in_order_after_they_settle() {
        let dir = tempfile::tempdir().unwrap();
        let start = SystemTime::now() - Duration::from_secs(60);
        let write = |name: &str, age_secs: u64| {
            let path = dir.path().join(name);
            fs::write(&path, b"heap_v2/524288\n").unwrap();
            let when = SystemTime::now() - Duration::from_secs(age_secs);
            fs::File::options()
                .write(true)
                .open(&path)
                .unwrap()
                .set_modified(when)
                .unwrap();
        };
        write("app.9.0.i0.heap", 120); // before the watch: not ours
        write("app.9.1.i1.heap", 30);
        write("app.9.2.i2.heap", 20);
        write("app.9.3.i3.heap", 10);
        write("other.heap", 10);
        let pattern = DumpPattern::parse(&format!("{}/app.*.heap", dir.path().display())).unwrap();
        let now = SystemTime::now();
        let first = new_dumps(&pattern, Cursor::from(start), now, 2).unwrap();
        let seqs: Vec<u64> = first.iter().map(|d| d.seq).collect();
        assert_eq!(seqs, [1, 2]);
        let rest = new_dumps(&pattern, first[1].cursor(), now, 10).unwrap();
        assert_eq!(rest.iter().map(|d| d.seq).collect::<Vec<_>>(), [3]);
        assert!(new_dumps(&pattern, rest[0].cursor(), now, 10)
            .unwrap()
            .is_empty());
        // One being written right now waits.
        fs::write(dir.path().join("app.9.4.i4.heap"), b"heap_v2").unwrap();
        assert!(new_dumps(&pattern, rest[0].cursor(), SystemTime::now(), 10)
            .unwrap()
            .is_empty());
    }
}
