//! What the live view shows, recomputed by one analyst thread: the verdict
//! so far (`leakwatch.verdict/1`, exactly what `analyze --json` prints for
//! the recording at that moment) and the page's body rendered from it.
//!
//! Re-analysis is rate-limited rather than incremental: the recording is
//! judged again only when one of its files has grown, and no sooner than
//! [`MIN_GAP`] or ten times the last analysis took after the previous one,
//! so the watcher spends at most about a tenth of a core on it however long
//! the watch. Only the latest snapshot is kept.

use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::analysis::{self, Judgement, Options};
use crate::recording::format::{EVENTS_FILE, PROFILES_INDEX_FILE, SAMPLES_FILE};
use crate::recording::{Sample, Timestamp};
use crate::render::live;

/// The shortest time between two analyses.
pub const MIN_GAP: Duration = Duration::from_secs(2);

/// How much longer than an analysis took the analyst waits before the next.
const COST_FACTOR: u32 = 10;

/// Most samples one `/api/samples` answer carries; the client asks again
/// from the last one it got.
pub const MAX_SAMPLES_PER_ANSWER: usize = 5000;

/// One state of the live view.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Counts the analyses; 0 before the first.
    pub generation: u64,
    /// The verdict JSON; empty before the first analysis.
    pub verdict_json: String,
    /// The page's body (verdict, charts, sites, events) as HTML.
    pub view_html: String,
}

/// The thread that keeps [`Snapshot`] current.
pub struct Analyst {
    dir: PathBuf,
    opts: Options,
    latest: Mutex<Arc<Snapshot>>,
    /// Set by [`Analyst::refresh_now`] and [`Analyst::wake`].
    poke: Mutex<bool>,
    poked: Condvar,
}

impl Analyst {
    /// An analyst of the recording in `dir`.
    pub fn new(dir: PathBuf, opts: Options) -> Analyst {
        let waiting = Snapshot {
            view_html: live::waiting(&dir),
            ..Snapshot::default()
        };
        Analyst {
            dir,
            opts,
            latest: Mutex::new(Arc::new(waiting)),
            poke: Mutex::new(false),
            poked: Condvar::new(),
        }
    }

    /// The recording directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The latest snapshot.
    pub fn latest(&self) -> Arc<Snapshot> {
        self.latest
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Analyses now, on the caller's thread, whatever the rate limit says.
    pub fn refresh_now(&self) {
        self.refresh();
    }

    /// Wakes the analyst thread (to stop it, or to look at the files now).
    pub fn wake(&self) {
        *self.poke.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.poked.notify_all();
    }

    /// The analyst thread's loop, until `stop`.
    pub fn run(&self, stop: &AtomicBool) {
        let mut seen = None;
        let mut next_allowed = Instant::now();
        while !stop.load(Ordering::SeqCst) {
            let now = Instant::now();
            if now >= next_allowed {
                let state = fingerprint(&self.dir);
                if state.is_some() && state != seen {
                    seen = state;
                    let started = Instant::now();
                    self.refresh();
                    let cost = started.elapsed();
                    next_allowed = Instant::now() + MIN_GAP.max(cost * COST_FACTOR);
                }
            }
            let wait = next_allowed
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(500));
            let poke = self.poke.lock().unwrap_or_else(|e| e.into_inner());
            let (mut poke, _) = self
                .poked
                .wait_timeout_while(poke, wait, |p| !*p)
                .unwrap_or_else(|e| e.into_inner());
            *poke = false;
        }
    }

    /// Shows `j`, a judgement of this recording made elsewhere (`check`
    /// has just made the final one), without judging again.
    pub fn publish(&self, j: &Judgement) {
        let generation = self.latest().generation + 1;
        self.store(Snapshot {
            generation,
            // Serializing plain data cannot fail.
            verdict_json: serde_json::to_string_pretty(&j.verdict).unwrap_or_default(),
            view_html: live::view(j),
        });
    }

    fn refresh(&self) {
        match analysis::judge(&self.dir, &self.opts) {
            Ok(j) => self.publish(&j),
            // The recording is not there yet, or a file is mid-write in a
            // way the reader refuses: keep what was shown, say why.
            Err(e) => {
                let previous = self.latest();
                self.store(Snapshot {
                    generation: previous.generation + 1,
                    verdict_json: previous.verdict_json.clone(),
                    view_html: if previous.verdict_json.is_empty() {
                        live::unreadable(&self.dir, &format!("{e:#}"))
                    } else {
                        previous.view_html.clone()
                    },
                });
            }
        }
    }

    fn store(&self, snapshot: Snapshot) {
        *self.latest.lock().unwrap_or_else(|e| e.into_inner()) = Arc::new(snapshot);
    }
}

/// The sizes of the files a verdict depends on; `None` before the
/// recording exists.
fn fingerprint(dir: &Path) -> Option<[u64; 3]> {
    let size = |name: &str| std::fs::metadata(dir.join(name)).map_or(0, |m| m.len());
    let samples = std::fs::metadata(dir.join(SAMPLES_FILE)).ok()?.len();
    Some([samples, size(EVENTS_FILE), size(PROFILES_INDEX_FILE)])
}

/// Why `/api/samples` cannot answer.
#[derive(Debug)]
pub enum SamplesError {
    /// `since` is not a time.
    BadSince(String),
    /// The samples file cannot be read.
    Io(io::Error),
}

/// The `/api/samples?since=T` answer: the samples after `since` (all when
/// absent), at most [`MAX_SAMPLES_PER_ANSWER`], read from the recording as
/// a stream so that a week-long recording costs no memory.
pub fn samples_since(dir: &Path, since: Option<&str>) -> Result<Vec<u8>, SamplesError> {
    let since = since
        .filter(|s| !s.is_empty())
        .map(|s| {
            Timestamp::parse(s).map_err(|e| {
                SamplesError::BadSince(format!("since={s:?} is not an RFC 3339 time ({e})"))
            })
        })
        .transpose()?;
    let file = match File::open(dir.join(SAMPLES_FILE)) {
        Ok(f) => Some(f),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(SamplesError::Io(e)),
    };
    let mut samples = Vec::new();
    let mut more = false;
    if let Some(file) = file {
        for line in BufReader::new(file).lines() {
            let line = line.map_err(SamplesError::Io)?;
            // A torn last line (the watch writes as we read) is skipped; it
            // is whole on the next ask.
            let Ok(sample) = serde_json::from_str::<Sample>(&line) else {
                continue;
            };
            if since.is_some_and(|s| sample.time <= s) {
                continue;
            }
            if samples.len() == MAX_SAMPLES_PER_ANSWER {
                more = true;
                break;
            }
            samples.push(sample);
        }
    }
    let body = serde_json::json!({
        "samples": samples,
        "more": more,
    });
    Ok(serde_json::to_vec(&body).unwrap_or_default())
}
