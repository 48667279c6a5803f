//! Reading a recording, finished, still being written, or left behind by a
//! killed watcher.
//!
//! The torn-tail rule: only lines ending in `\n` count. A final line without
//! one is the line a writer was in the middle of (or was killed in) and is
//! skipped. A complete line that does not parse is an error naming the file
//! and line, because the writer never produces one.

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use super::format::{
    Event, EventLine, IndexLine, Meta, ProfileEntry, ProfileKind, RuntimeLine, Sample, EVENTS_FILE,
    FORMAT_MAJOR, FORMAT_PREFIX, META_FILE, PROFILES_INDEX_FILE, RUNTIME_FILE, SAMPLES_FILE,
};

/// Why a recording could not be read. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    /// The directory or one of its files cannot be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// `meta.json` is missing: not a recording, or one whose watcher has not
    /// got past its first step.
    #[error("{}: not a leakwatch recording (no {META_FILE}); pass the directory `leakwatch watch --out` wrote", dir.display())]
    NotARecording {
        /// The directory.
        dir: PathBuf,
    },
    /// The recording was written by an incompatible version.
    #[error("{}: recording format `{found}` is not supported by this leakwatch (it reads {FORMAT_PREFIX}{FORMAT_MAJOR})", path.display())]
    Version {
        /// `meta.json`.
        path: PathBuf,
        /// The `format` value found.
        found: String,
    },
    /// A complete line (or `meta.json`) does not parse.
    #[error("{}:{line}: malformed record: {message}", path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// The 1-based line (1 for `meta.json`).
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// A recording read into memory.
#[derive(Debug, Clone)]
pub struct Recording {
    /// Its directory.
    pub dir: PathBuf,
    /// `meta.json`.
    pub meta: Meta,
    /// Every sample, in order.
    pub samples: Vec<Sample>,
    /// Every event, in order.
    pub events: Vec<EventLine>,
    /// The stored profiles that are still present (added, not removed, file
    /// on disk), ordered by round then kind.
    pub profiles: Vec<ProfileEntry>,
    /// Go runtime statistics, one per successful profile round.
    pub runtime: Vec<RuntimeLine>,
}

impl Recording {
    /// Reads the recording in `dir`.
    pub fn open(dir: &Path) -> Result<Recording, RecordingError> {
        let meta_path = dir.join(META_FILE);
        let meta_text = match fs::read_to_string(&meta_path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if let Err(source) = fs::metadata(dir) {
                    return Err(RecordingError::Io {
                        path: dir.to_owned(),
                        source,
                    });
                }
                return Err(RecordingError::NotARecording {
                    dir: dir.to_owned(),
                });
            }
            Err(source) => {
                return Err(RecordingError::Io {
                    path: meta_path,
                    source,
                })
            }
        };
        check_version(&meta_path, &meta_text)?;
        let meta: Meta =
            serde_json::from_str(&meta_text).map_err(|e| RecordingError::Malformed {
                path: meta_path.clone(),
                line: e.line(),
                message: e.to_string(),
            })?;

        let samples: Vec<Sample> = read_lines(&dir.join(SAMPLES_FILE))?;
        let events: Vec<EventLine> = read_lines(&dir.join(EVENTS_FILE))?;
        let runtime: Vec<RuntimeLine> = read_lines(&dir.join(RUNTIME_FILE))?;
        let index: Vec<IndexLine> = read_lines(&dir.join(PROFILES_INDEX_FILE))?;

        let removed: BTreeSet<(u64, ProfileKind)> = index
            .iter()
            .filter_map(|l| match l {
                IndexLine::Remove { seq, kind, .. } => Some((*seq, *kind)),
                IndexLine::Add(_) => None,
            })
            .collect();
        let mut profiles: Vec<ProfileEntry> = index
            .into_iter()
            .filter_map(|l| match l {
                IndexLine::Add(e) => Some(e),
                IndexLine::Remove { .. } => None,
            })
            .filter(|e| !removed.contains(&(e.seq, e.kind)))
            // Only files inside the recording: an edited index must not make
            // a reader open arbitrary paths.
            .filter(|e| {
                Path::new(&e.file)
                    .components()
                    .all(|c| matches!(c, std::path::Component::Normal(_)))
            })
            // A listed file can vanish only while it is being thinned (its
            // remove line may have been written after we read the index).
            .filter(|e| dir.join(&e.file).is_file())
            .collect();
        profiles.sort_by_key(|e| (e.seq, e.kind));

        Ok(Recording {
            dir: dir.to_owned(),
            meta,
            samples,
            events,
            profiles,
            runtime,
        })
    }

    /// The absolute path of a stored profile.
    pub fn profile_path(&self, entry: &ProfileEntry) -> PathBuf {
        self.dir.join(&entry.file)
    }

    /// The stored profiles of one kind, oldest first.
    pub fn profiles_of(&self, kind: ProfileKind) -> impl Iterator<Item = &ProfileEntry> {
        self.profiles.iter().filter(move |e| e.kind == kind)
    }

    /// The `end` event, when the watch finished (absent while it runs, or
    /// when the watcher was killed).
    pub fn end(&self) -> Option<&EventLine> {
        self.events
            .iter()
            .rev()
            .find(|e| matches!(e.event, Event::End { .. }))
    }

    /// Whether the watch finished and wrote its `end` event.
    pub fn is_complete(&self) -> bool {
        self.end().is_some()
    }
}

fn check_version(path: &Path, text: &str) -> Result<(), RecordingError> {
    #[derive(serde::Deserialize)]
    struct Head {
        format: Option<String>,
    }
    let head: Head = serde_json::from_str(text).map_err(|e| RecordingError::Malformed {
        path: path.to_owned(),
        line: e.line(),
        message: e.to_string(),
    })?;
    let found = head.format.unwrap_or_default();
    let major = found
        .strip_prefix(FORMAT_PREFIX)
        .and_then(|v| v.split('.').next())
        .and_then(|v| v.parse::<u32>().ok());
    if major == Some(FORMAT_MAJOR) {
        Ok(())
    } else {
        Err(RecordingError::Version {
            path: path.to_owned(),
            found,
        })
    }
}

/// Reads a JSONL file under the torn-tail rule. A missing file is empty: a
/// watcher killed right after `meta.json` may not have created it yet.
fn read_lines<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>, RecordingError> {
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(RecordingError::Io {
                path: path.to_owned(),
                source,
            })
        }
    };
    // Everything after the last newline is a torn (or still growing) line.
    let complete = match bytes.iter().rposition(|b| *b == b'\n') {
        Some(i) => &bytes[..=i],
        None => &bytes[..0],
    };
    let mut out = Vec::new();
    for (i, line) in complete.split(|b| *b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let record = serde_json::from_slice(line).map_err(|e| RecordingError::Malformed {
            path: path.to_owned(),
            line: i + 1,
            message: e.to_string(),
        })?;
        out.push(record);
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use std::io::Write;

    use super::*;
    use crate::recording::format::{self, Settings, TargetMeta, Timestamp, FORMAT};
    use crate::recording::writer::{store_profile, RecordingWriter};

    pub(crate) fn meta() -> Meta {
        Meta {
            format: FORMAT.into(),
            leakwatch_version: "test".into(),
            start: Timestamp::now(),
            host: None,
            command_line: vec!["leakwatch".into()],
            target: TargetMeta {
                mode: "pid".into(),
                pid: 1,
                start_ticks: None,
                command: None,
                cgroup: None,
                memory_source: None,
                metrics_url: None,
            },
            pprof: None,
            dumps: None,
            settings: Settings {
                interval_seconds: 1.0,
                profile_interval_seconds: 1.0,
                duration_seconds: None,
                max_profiles: 3,
                max_body_bytes: 1,
                scrape_timeout_seconds: 1.0,
                restart: false,
                stop_grace_seconds: 1.0,
            },
        }
    }

    fn entry(dir: &Path, seq: u64) -> ProfileEntry {
        let file = store_profile(dir, ProfileKind::Heap, seq, &[0x1f, 0x8b, seq as u8]).unwrap();
        ProfileEntry {
            seq,
            kind: ProfileKind::Heap,
            time: Timestamp(std::time::UNIX_EPOCH + std::time::Duration::from_secs(seq)),
            file,
            bytes: 3,
            url: "http://x/heap".into(),
            totals: Default::default(),
        }
    }

    #[test]
    fn written_then_read_with_a_torn_tail_and_thinning() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("rec");
        let mut w = RecordingWriter::create(&dir, &meta(), 3).unwrap();
        for i in 0..4 {
            w.sample(&Sample {
                time: Timestamp::now(),
                pid: 1,
                vm_rss: Some(i),
                ..Sample::default()
            })
            .unwrap();
        }
        for seq in 1..=5 {
            w.add_round(seq, &[entry(&dir, seq)]).unwrap();
        }
        assert_eq!(w.thinned(), 2);
        // A line cut short by a kill.
        let mut f = fs::OpenOptions::new()
            .append(true)
            .open(dir.join(format::SAMPLES_FILE))
            .unwrap();
        f.write_all(br#"{"time":"2026-01-01T00:00:00Z","pi"#)
            .unwrap();

        let rec = Recording::open(&dir).unwrap();
        assert_eq!(rec.samples.len(), 4);
        assert_eq!(rec.samples[3].vm_rss, Some(3));
        let seqs: Vec<u64> = rec.profiles.iter().map(|p| p.seq).collect();
        assert_eq!(seqs.len(), 3);
        assert_eq!((seqs[0], seqs[2]), (1, 5));
        assert!(rec.profiles.iter().all(|p| rec.profile_path(p).is_file()));
        assert!(!rec.is_complete());
    }

    #[test]
    fn a_malformed_complete_line_is_an_error_naming_file_and_line() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("rec");
        RecordingWriter::create(&dir, &meta(), 3).unwrap();
        fs::write(
            dir.join(format::EVENTS_FILE),
            "{\"time\":\"2026-01-01T00:00:00Z\",\"kind\":\"x\",\"detail\":\"\"}\nnot json\n",
        )
        .unwrap();
        let err = Recording::open(&dir).unwrap_err().to_string();
        assert!(err.contains("events.jsonl:2"), "{err}");
    }

    #[test]
    fn other_major_versions_and_non_recordings_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let err = Recording::open(tmp.path()).unwrap_err().to_string();
        assert!(err.contains("not a leakwatch recording"), "{err}");
        let mut m = serde_json::to_value(meta()).unwrap();
        m["format"] = "leakwatch.recording/2".into();
        fs::write(tmp.path().join(META_FILE), m.to_string()).unwrap();
        let err = Recording::open(tmp.path()).unwrap_err().to_string();
        assert!(err.contains("leakwatch.recording/2"), "{err}");
        m["format"] = "leakwatch.recording/1.3".into();
        fs::write(tmp.path().join(META_FILE), m.to_string()).unwrap();
        assert!(Recording::open(tmp.path()).is_ok());
    }
}
