//! Writing a recording so that it is readable at every instant, even after
//! the writer is killed with `kill -9`:
//!
//! - every JSONL line goes to the kernel in a single `write` as soon as it
//!   exists (no user-space buffer to lose); a kill can at worst tear the
//!   line being written, which readers skip;
//! - a profile file is written under a temporary name, synced and renamed,
//!   and only then listed in `profiles.jsonl`, so a listed file is whole;
//! - thinning lists a removal before deleting the file.
//!
//! The writer keeps only the list of kept profile rounds in memory (at most
//! `max_profiles + 1` entries), so its memory does not grow with the watch.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::format::{
    EventLine, IndexLine, Meta, ProfileEntry, ProfileKind, RuntimeLine, Sample, Timestamp,
    EVENTS_FILE, META_FILE, PROFILES_DIR, PROFILES_INDEX_FILE, RUNTIME_FILE, SAMPLES_FILE,
    TEMP_PREFIX,
};
use super::thin::pick_victim;

/// An open recording being appended to.
#[derive(Debug)]
pub struct RecordingWriter {
    dir: PathBuf,
    samples: LineFile,
    events: LineFile,
    index: LineFile,
    runtime: LineFile,
    max_rounds: usize,
    kept: Vec<KeptRound>,
    thinned: u64,
}

/// A profile round still on disk.
#[derive(Debug)]
struct KeptRound {
    seq: u64,
    time: f64,
    files: Vec<(ProfileKind, String)>,
}

/// An append-only JSONL file that hands each line to the kernel at once.
#[derive(Debug)]
struct LineFile {
    path: PathBuf,
    file: File,
    buf: Vec<u8>,
}

impl LineFile {
    fn create(path: PathBuf) -> io::Result<Self> {
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)
            .map_err(|e| annotate(&path, "create", e))?;
        Ok(LineFile {
            path,
            file,
            buf: Vec::with_capacity(512),
        })
    }

    fn append<T: Serialize>(&mut self, record: &T) -> io::Result<()> {
        self.buf.clear();
        serde_json::to_writer(&mut self.buf, record).map_err(io::Error::other)?;
        self.buf.push(b'\n');
        // One write of the whole line: with O_APPEND a concurrent reader sees
        // either none of it or (almost always) all of it.
        self.file
            .write_all(&self.buf)
            .map_err(|e| annotate(&self.path, "write", e))?;
        // Lines are short; a rare long one (many totals) must not leave the
        // buffer large for the rest of the watch.
        if self.buf.capacity() > 64 << 10 {
            self.buf = Vec::with_capacity(512);
        }
        Ok(())
    }
}

fn annotate(path: &Path, what: &str, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("cannot {what} {}: {e}", path.display()))
}

impl RecordingWriter {
    /// Creates the recording in `dir` (which must not exist, or be empty)
    /// and writes `meta.json`.
    pub fn create(dir: &Path, meta: &Meta, max_rounds: usize) -> io::Result<Self> {
        prepare_dir(dir)?;
        fs::create_dir_all(dir.join(PROFILES_DIR))
            .map_err(|e| annotate(&dir.join(PROFILES_DIR), "create", e))?;
        let json = serde_json::to_vec_pretty(meta).map_err(io::Error::other)?;
        write_atomically(&dir.join(META_FILE), &json)?;
        Ok(RecordingWriter {
            dir: dir.to_owned(),
            samples: LineFile::create(dir.join(SAMPLES_FILE))?,
            events: LineFile::create(dir.join(EVENTS_FILE))?,
            index: LineFile::create(dir.join(PROFILES_INDEX_FILE))?,
            runtime: LineFile::create(dir.join(RUNTIME_FILE))?,
            max_rounds: max_rounds.max(2),
            kept: Vec::new(),
            thinned: 0,
        })
    }

    /// Profiles removed by thinning so far.
    pub fn thinned(&self) -> u64 {
        self.thinned
    }

    /// Appends a sample.
    pub fn sample(&mut self, s: &Sample) -> io::Result<()> {
        self.samples.append(s)
    }

    /// Appends an event.
    pub fn event(&mut self, e: &EventLine) -> io::Result<()> {
        self.events.append(e)
    }

    /// Appends a Go runtime statistics line.
    pub fn runtime(&mut self, r: &RuntimeLine) -> io::Result<()> {
        self.runtime.append(r)
    }

    /// Lists the profiles of one round, whose files [`store_profile`] has
    /// already written, then thins the oldest rounds past the budget.
    pub fn add_round(&mut self, seq: u64, entries: &[ProfileEntry]) -> io::Result<()> {
        let Some(first) = entries.first() else {
            return Ok(());
        };
        for e in entries {
            self.index.append(&IndexLine::Add(e.clone()))?;
        }
        self.kept.push(KeptRound {
            seq,
            time: first.time.unix_seconds(),
            files: entries.iter().map(|e| (e.kind, e.file.clone())).collect(),
        });
        while self.kept.len() > self.max_rounds {
            let times: Vec<f64> = self.kept.iter().map(|r| r.time).collect();
            let Some(victim) = pick_victim(&times) else {
                break;
            };
            let round = self.kept.remove(victim);
            self.remove_round(round)?;
        }
        Ok(())
    }

    fn remove_round(&mut self, round: KeptRound) -> io::Result<()> {
        let now = Timestamp::now();
        for (kind, file) in round.files {
            // Listed first, deleted second: a reader never finds a listed
            // profile that was deleted without notice (if the file vanishes
            // between its reading the index and opening the file, the
            // remove line is already there to explain it).
            self.index.append(&IndexLine::Remove {
                seq: round.seq,
                kind,
                file: file.clone(),
                time: now,
                reason: "thinned".into(),
            })?;
            let path = self.dir.join(&file);
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(annotate(&path, "remove", e)),
            }
            self.thinned += 1;
        }
        Ok(())
    }
}

/// Writes one profile's bytes, exactly as received, to
/// `profiles/KIND-SEQ.EXT` in `dir` via a temporary file that is synced and
/// renamed. Returns the path relative to `dir`. Safe to call from another
/// thread than the [`RecordingWriter`]'s.
pub fn store_profile(dir: &Path, kind: ProfileKind, seq: u64, bytes: &[u8]) -> io::Result<String> {
    let name = format!("{}-{seq:06}.{}", kind.as_str(), extension(bytes));
    let rel = format!("{PROFILES_DIR}/{name}");
    let tmp = dir.join(PROFILES_DIR).join(format!("{TEMP_PREFIX}{name}"));
    {
        let mut f = File::create(&tmp).map_err(|e| annotate(&tmp, "create", e))?;
        f.write_all(bytes).map_err(|e| annotate(&tmp, "write", e))?;
        // Synced before the rename so that even a machine crash never leaves
        // a listed profile with missing blocks.
        f.sync_all().map_err(|e| annotate(&tmp, "sync", e))?;
    }
    let dest = dir.join(&rel);
    fs::rename(&tmp, &dest).map_err(|e| annotate(&dest, "rename into", e))?;
    Ok(rel)
}

/// The file extension for a profile body: what its bytes are, not what was
/// asked for.
fn extension(bytes: &[u8]) -> &'static str {
    if bytes.starts_with(&[0x1f, 0x8b]) {
        "pb.gz"
    } else if bytes.first().is_some_and(|b| b.is_ascii_alphabetic()) {
        "txt"
    } else {
        "pb"
    }
}

fn prepare_dir(dir: &Path) -> io::Result<()> {
    match fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!(
                        "{} exists and is not empty; a recording is never appended to, choose a new --out directory",
                        dir.display()
                    ),
                ));
            }
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(dir).map_err(|e| annotate(dir, "create", e))
        }
        Err(e) => Err(annotate(dir, "open", e)),
    }
}

/// Writes `bytes` to `path` through a temporary name and a rename.
fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = path.with_file_name(format!("{TEMP_PREFIX}{name}"));
    {
        let mut f = File::create(&tmp).map_err(|e| annotate(&tmp, "create", e))?;
        f.write_all(bytes).map_err(|e| annotate(&tmp, "write", e))?;
        f.sync_all().map_err(|e| annotate(&tmp, "sync", e))?;
    }
    fs::rename(&tmp, path).map_err(|e| annotate(path, "rename into", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_follow_the_bytes() {
        assert_eq!(extension(&[0x1f, 0x8b, 8]), "pb.gz");
        assert_eq!(extension(b"heap profile: 1: 2"), "txt");
        assert_eq!(extension(&[0x0a, 0x10]), "pb");
    }
}
