//! The watched process: an existing PID, a command leakwatch spawns,
//! restarts and finally stops, or a remote one known by its endpoints.

use std::io;
use std::os::fd::AsFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::probe::proc;

/// How a target ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exit {
    /// Its process id.
    pub pid: u32,
    /// Exit code, when it exited by itself and was our child.
    pub code: Option<i32>,
    /// Terminating signal, when it was our child.
    pub signal: Option<i32>,
}

impl Exit {
    fn from_status(pid: u32, status: ExitStatus) -> Self {
        Exit {
            pid,
            code: status.code(),
            signal: status.signal(),
        }
    }

    /// One sentence for the event's `detail`.
    pub fn describe(&self) -> String {
        match (self.code, self.signal) {
            (Some(c), _) => format!("process {} exited with code {c}", self.pid),
            (None, Some(s)) => format!("process {} killed by {}", self.pid, signal_name(s)),
            (None, None) => format!(
                "process {} is gone (not leakwatch's child: its exit status is unknown)",
                self.pid
            ),
        }
    }
}

/// The watched process.
#[derive(Debug)]
pub enum Target {
    /// An existing process, identified by PID and start time so that a
    /// reused PID is not mistaken for it.
    Attached {
        /// Its process id.
        pid: u32,
        /// Its start time (clock ticks since boot).
        start_ticks: u64,
    },
    /// A command started by leakwatch in its own process group, so that
    /// stopping it reaches its children too and a terminal's Ctrl-C reaches
    /// leakwatch alone (which forwards it).
    Spawned {
        /// The command and its arguments.
        command: Vec<String>,
        /// The running child; `None` between its death and a restart.
        child: Option<Child>,
        /// Its process id (the last one, once it died).
        pid: u32,
        /// Its start time, when readable.
        start_ticks: Option<u64>,
        /// When it was last started.
        started: Instant,
    },
    /// A process on another host (or in another container), known only by
    /// its endpoints: no PID, nothing to poll or stop; its restarts show in
    /// what it serves.
    Remote,
}

impl Target {
    /// Attaches to an existing process.
    pub fn attach(pid: u32) -> anyhow::Result<Self> {
        let start_ticks = proc::start_time(pid).with_context(|| {
            format!("--pid {pid}: no such process (or /proc/{pid}/stat is not readable)")
        })?;
        proc::read_status(pid).with_context(|| format!("--pid {pid}: cannot read its memory"))?;
        Ok(Target::Attached { pid, start_ticks })
    }

    /// Spawns `command`.
    pub fn spawn(command: Vec<String>) -> anyhow::Result<Self> {
        let child = spawn_child(&command)?;
        let pid = child.id();
        Ok(Target::Spawned {
            command,
            start_ticks: proc::start_time(pid).ok(),
            child: Some(child),
            pid,
            started: Instant::now(),
        })
    }

    /// The current (or last) process id.
    pub fn pid(&self) -> u32 {
        match self {
            Target::Attached { pid, .. } | Target::Spawned { pid, .. } => *pid,
            Target::Remote => 0,
        }
    }

    /// The current process's start time.
    pub fn start_ticks(&self) -> Option<u64> {
        match self {
            Target::Attached { start_ticks, .. } => Some(*start_ticks),
            Target::Spawned { start_ticks, .. } => *start_ticks,
            Target::Remote => None,
        }
    }

    /// Whether there is a live process to sample.
    pub fn is_running(&self) -> bool {
        match self {
            Target::Attached { .. } | Target::Remote => true,
            Target::Spawned { child, .. } => child.is_some(),
        }
    }

    /// When the current process was started (spawn mode).
    pub fn started(&self) -> Option<Instant> {
        match self {
            Target::Attached { .. } | Target::Remote => None,
            Target::Spawned { started, .. } => Some(*started),
        }
    }

    /// Checks, without blocking, whether the target has ended. A spawned
    /// child is reaped; an attached process is gone when its PID no longer
    /// names a live process with the same start time.
    pub fn poll_exit(&mut self) -> Option<Exit> {
        match self {
            Target::Attached { pid, start_ticks } => {
                (!proc::is_same_process_alive(*pid, *start_ticks)).then_some(Exit {
                    pid: *pid,
                    code: None,
                    signal: None,
                })
            }
            Target::Spawned { child, pid, .. } => {
                let status = child.as_mut()?.try_wait().ok()??;
                *child = None;
                Some(Exit::from_status(*pid, status))
            }
            Target::Remote => None,
        }
    }

    /// Starts a spawned target again after it died. Returns the old PID.
    pub fn respawn(&mut self) -> anyhow::Result<u32> {
        let Target::Spawned {
            command,
            child,
            pid,
            start_ticks,
            started,
        } = self
        else {
            anyhow::bail!("only a spawned target can be restarted");
        };
        let old = *pid;
        let new_child = spawn_child(command)?;
        *pid = new_child.id();
        *start_ticks = proc::start_time(*pid).ok();
        *started = Instant::now();
        *child = Some(new_child);
        Ok(old)
    }

    /// Sends `signal` to a spawned target's process group (forwarding a
    /// signal leakwatch received). Attached targets are left alone: they are
    /// not ours to signal.
    pub fn forward(&self, signal: i32) {
        if let Target::Spawned {
            child: Some(_),
            pid,
            ..
        } = self
        {
            signal_group(*pid, signal);
        }
    }

    /// Stops a spawned target: SIGTERM to its process group (unless a
    /// signal was already forwarded), up to `grace` to exit, then SIGKILL.
    /// Returns how it ended, or `None` when nothing was running.
    pub fn stop(&mut self, grace: Duration, already_signalled: bool) -> Option<Exit> {
        let Target::Spawned { child, pid, .. } = self else {
            return None;
        };
        let mut running = child.take()?;
        let pgid = *pid;
        if !already_signalled {
            signal_group(pgid, libc::SIGTERM);
        }
        let deadline = Instant::now() + grace;
        let status = loop {
            match running.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(10)),
                Ok(None) | Err(_) => {
                    signal_group(pgid, libc::SIGKILL);
                    break running.wait().ok();
                }
            }
        };
        // Whatever the child left behind in its group goes too.
        signal_group(pgid, libc::SIGKILL);
        status.map(|s| Exit::from_status(pgid, s))
    }
}

fn spawn_child(command: &[String]) -> anyhow::Result<Child> {
    let (program, args) = command
        .split_first()
        .context("no command given after `--`")?;
    let mut cmd = Command::new(program);
    // leakwatch's stdout carries the verdict (`check --json`), so the
    // child's stdout joins its stderr instead of corrupting it.
    let stdout = io::stderr()
        .as_fd()
        .try_clone_to_owned()
        .context("cannot duplicate stderr for the child's output")?;
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::from(stdout))
        .process_group(0);
    // SAFETY: the closure runs in the forked child before exec and only
    // calls prctl(2), which is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            // The spawned service lives only as long as the watch: if
            // leakwatch itself is killed (even with SIGKILL, when it cannot
            // stop the child), the kernel kills the child too.
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn().map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => anyhow::anyhow!("cannot run `{program}`: not found"),
        _ => anyhow::anyhow!("cannot run `{program}`: {e}"),
    })
}

fn signal_group(pgid: u32, signal: i32) {
    let Ok(pgid) = libc::pid_t::try_from(pgid) else {
        return;
    };
    if pgid <= 1 {
        return;
    }
    // SAFETY: kill(2) takes plain integers; a negative pid names the
    // process group, which is the spawned child's own (process_group(0)).
    unsafe {
        libc::kill(-pgid, signal);
    }
}

/// The conventional name of a signal number.
pub fn signal_name(signal: i32) -> String {
    let name = match signal {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGTERM => "SIGTERM",
        _ => return format!("signal {signal}"),
    };
    name.to_owned()
}
