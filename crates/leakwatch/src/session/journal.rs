//! What the watch writes: samples, profile rounds and events go into the
//! recording through here, with the counts the summary and the progress
//! line show. Nothing here grows with the watch: each line goes straight to
//! disk.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;

use crate::probe::cgroup::{self, CgroupMounts};
use crate::probe::proc;
use crate::recording::{Event, EventLine, RecordingWriter, Sample, Timestamp};
use crate::units;

use super::progress::Progress;
use super::remote::Remote;
use super::scrape;
use super::target::{signal_name, Exit};
use super::{EndReason, Summary};

/// The recording being written, with its running counts.
pub(super) struct Journal {
    writer: RecordingWriter,
    dir: PathBuf,
    progress: Progress,
    samples: u64,
    profiles_stored: u64,
    profiles_failed: u64,
    last_oom_kill: Option<u64>,
    /// The target's cgroup as last read, to check its OOM counter once more
    /// when the target dies (the cgroup outlives the process).
    last_cgroup: Option<(PathBuf, u8)>,
}

impl Journal {
    /// A journal writing through `writer` into `dir`, with the cgroup's OOM
    /// counter as first read (so only later kills become events).
    pub fn new(
        writer: RecordingWriter,
        dir: &Path,
        progress: Progress,
        cgroup: Option<cgroup::CgroupMemory>,
    ) -> Journal {
        Journal {
            writer,
            dir: dir.to_owned(),
            progress,
            samples: 0,
            profiles_stored: 0,
            profiles_failed: 0,
            last_oom_kill: cgroup.as_ref().and_then(|c| c.oom_kill),
            last_cgroup: cgroup.map(|c| (c.dir, c.version)),
        }
    }

    /// Takes and writes one memory sample of `pid`.
    pub fn sample(&mut self, cgroups: &CgroupMounts, pid: u32) -> anyhow::Result<()> {
        // A process that just exited reads as an error here; its exit is
        // recorded by the liveness check, so the sample is simply skipped.
        let Ok(mem) = proc::read_status(pid) else {
            return Ok(());
        };
        let time = Timestamp::now();
        let cg = cgroups.read_for(pid);
        let sample = Sample {
            time,
            pid,
            vm_rss: mem.vm_rss,
            rss_anon: mem.rss_anon,
            rss_file: mem.rss_file,
            rss_shmem: mem.rss_shmem,
            vm_swap: mem.vm_swap,
            pss: proc::read_pss(pid),
            cgroup_current: cg.as_ref().and_then(|c| c.current),
            cgroup_max: cg.as_ref().and_then(|c| c.max),
            cgroup_anon: cg.as_ref().and_then(|c| c.anon),
            cgroup_file: cg.as_ref().and_then(|c| c.file),
            cgroup_oom: cg.as_ref().and_then(|c| c.oom),
            cgroup_oom_kill: cg.as_ref().and_then(|c| c.oom_kill),
            process_start: None,
        };
        self.writer.sample(&sample)?;
        self.samples += 1;
        self.progress.sample(mem.vm_rss);
        if let Some(c) = cg {
            self.last_cgroup = Some((c.dir, c.version));
        }
        self.oom_kill(time, sample.cgroup_oom_kill)
    }

    /// Takes and writes one memory sample of a remote target from its
    /// metrics. A failed fetch is a `scrape_error` event and no sample; a
    /// new process start time is a `restart` event (PIDs 0: unknown).
    pub fn remote_sample(&mut self, remote: &mut Remote) -> anyhow::Result<()> {
        let time = Timestamp::now();
        let reading = match remote.read() {
            Ok(r) => r,
            Err(e) => {
                self.writer.event(&EventLine {
                    time,
                    detail: e.to_string(),
                    event: Event::ScrapeError {
                        profile: "metrics".into(),
                        url: e.url().to_owned(),
                        error: e.kind().to_owned(),
                        status: e.status(),
                    },
                })?;
                return Ok(());
            }
        };
        if let Some((old, new)) = reading.restarted {
            self.writer.event(&EventLine {
                time,
                detail: format!("process_start_time_seconds {old} → {new}: the target restarted"),
                event: Event::Restart {
                    old_pid: 0,
                    new_pid: 0,
                    start_ticks: None,
                    restarts: reading.restarts,
                },
            })?;
        }
        let Some(rss) = reading.metrics.resident else {
            return Ok(());
        };
        let rss = rss as u64;
        self.writer.sample(&Sample {
            time,
            vm_rss: Some(rss),
            process_start: reading.metrics.start_time,
            ..Sample::default()
        })?;
        self.samples += 1;
        self.progress.sample(Some(rss));
        Ok(())
    }

    /// Records an `oom_kill` event when the cgroup's counter rose since the
    /// last reading.
    fn oom_kill(&mut self, time: Timestamp, oom_kill: Option<u64>) -> anyhow::Result<()> {
        let Some(now) = oom_kill else {
            return Ok(());
        };
        if let Some(before) = self.last_oom_kill.filter(|b| now > *b) {
            self.writer.event(&EventLine {
                time,
                detail: format!(
                    "the cgroup's OOM killer struck {} time(s) (oom_kill {before} → {now})",
                    now - before
                ),
                event: Event::OomKill {
                    count: now,
                    increase: now - before,
                },
            })?;
        }
        self.last_oom_kill = Some(now);
        Ok(())
    }

    /// Records the target's death, after the OOM kill that is usually its
    /// cause, read from the cgroup that outlives the process.
    pub fn died(&mut self, exit: Exit) -> anyhow::Result<()> {
        if let Some((dir, version)) = &self.last_cgroup {
            let oom_kill = cgroup::read_dir(dir, *version).and_then(|c| c.oom_kill);
            self.oom_kill(Timestamp::now(), oom_kill)?;
        }
        self.exit(exit, false)
    }

    /// Records the target's exit; `stopped` when leakwatch stopped it at
    /// the end of the watch.
    pub fn exit(&mut self, exit: Exit, stopped: bool) -> anyhow::Result<()> {
        let mut detail = exit.describe();
        if stopped {
            detail.push_str(" (stopped by leakwatch at the end of the watch)");
        }
        self.writer.event(&EventLine {
            time: Timestamp::now(),
            detail,
            event: Event::TargetExit {
                pid: exit.pid,
                code: exit.code,
                signal: exit.signal,
                stopped_by_watcher: stopped,
            },
        })?;
        Ok(())
    }

    /// Records a restart of the spawned command, and reads the new
    /// process's cgroup OOM counter as the new baseline.
    pub fn restarted(
        &mut self,
        old_pid: u32,
        new_pid: u32,
        start_ticks: Option<u64>,
        restarts: u32,
        cgroups: &CgroupMounts,
    ) -> anyhow::Result<()> {
        self.writer.event(&EventLine {
            time: Timestamp::now(),
            detail: format!("pid {old_pid} → {new_pid}"),
            event: Event::Restart {
                old_pid,
                new_pid,
                start_ticks,
                restarts,
            },
        })?;
        self.last_oom_kill = cgroups.read_for(new_pid).and_then(|c| c.oom_kill);
        Ok(())
    }

    /// Records a signal that ends the watch; `forwarded_to` names the
    /// target it was passed on to, if it still ran.
    pub fn signal(&mut self, sig: i32, forwarded_to: Option<u32>) -> anyhow::Result<()> {
        self.writer.event(&EventLine {
            time: Timestamp::now(),
            detail: match forwarded_to {
                Some(pid) => format!("received {}; forwarded to process {pid}", signal_name(sig)),
                None => format!("received {}", signal_name(sig)),
            },
            event: Event::Signal {
                signal: sig,
                name: signal_name(sig),
            },
        })?;
        Ok(())
    }

    /// Records what a profile round produced.
    pub fn round(&mut self, outcome: scrape::Outcome) -> anyhow::Result<()> {
        let time = Timestamp::now();
        if let Some(e) = outcome.store_errors.into_iter().next() {
            // The disk failed, not the endpoint: the recording cannot be kept
            // complete, so the watch stops with the error.
            return Err(e).context("cannot store a profile");
        }
        for (profile, err) in &outcome.failures {
            self.writer.event(&EventLine {
                time,
                detail: err.to_string(),
                event: Event::ScrapeError {
                    profile: (*profile).to_owned(),
                    url: err.url().to_owned(),
                    error: err.kind().to_owned(),
                    status: err.status(),
                },
            })?;
        }
        for (profile, url, why) in outcome.unavailable {
            self.writer.event(&EventLine {
                time,
                detail: format!("no {profile} from this endpoint ({why}); not asking again"),
                event: Event::EndpointUnavailable {
                    profile: profile.to_owned(),
                    url,
                },
            })?;
        }
        if let Some(r) = &outcome.runtime {
            self.writer.runtime(r)?;
        }
        let stored = outcome.stored.len() as u64;
        let failed = outcome
            .failures
            .iter()
            .filter(|(p, _)| *p != "runtime_stats")
            .count() as u64;
        // A dump round stores several rounds, one per dump, in order.
        for round in outcome.stored.chunk_by(|a, b| a.seq == b.seq) {
            self.writer.add_round(round[0].seq, round)?;
        }
        self.profiles_stored += stored;
        self.profiles_failed += failed;
        self.progress.profiles(stored, failed);
        Ok(())
    }

    /// Writes the `end` event and returns the watch's summary.
    pub fn end(mut self, reason: EndReason, elapsed: Duration) -> anyhow::Result<Summary> {
        let me = proc::read_status(std::process::id()).unwrap_or_default();
        let thinned = self.writer.thinned();
        self.writer.event(&EventLine {
            time: Timestamp::now(),
            detail: format!(
                "watch ended ({}) after {}: {} samples, {} profiles stored, {} failed, {thinned} thinned",
                reason.as_str(),
                units::format_duration(elapsed),
                self.samples,
                self.profiles_stored,
                self.profiles_failed,
            ),
            event: Event::End {
                reason: reason.as_str().into(),
                samples: self.samples,
                profiles_stored: self.profiles_stored,
                profiles_failed: self.profiles_failed,
                profiles_thinned: thinned,
                watcher_rss: me.vm_rss,
                watcher_hwm: me.vm_hwm,
            },
        })?;
        self.progress.finish();
        Ok(Summary {
            dir: self.dir,
            reason,
            samples: self.samples,
            profiles_stored: self.profiles_stored,
            profiles_failed: self.profiles_failed,
        })
    }
}
