//! The Go scenario service (`testdata/scenario`): built once per test run
//! with cgo (its `cgo` mode needs it) and started on a free loopback port.
//!
//! ```ignore
//! let svc = support::scenario::Service::start("mapcache", &["-rate", "2000"]);
//! // svc.url is "http://127.0.0.1:PORT", svc.pid its process id;
//! // dropping svc kills it.
//! ```

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::OnceLock;
use std::time::Duration;

use super::{describe, go, repo_root, target_dir};

/// The scenario binary, `target/go-bin/scenario-cgo`, built once per test
/// process. (Not `go_binary("scenario")`: that builds without cgo, and
/// `-mode cgo` then refuses to run.)
pub fn binary() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| build("scenario-cgo", &[("CGO_ENABLED", "1")], &[]))
        .clone()
}

/// The scenario binary built position-independent (`-buildmode=pie`, as
/// distributions build Go services), `target/go-bin/scenario-pie`, once per
/// test process.
pub fn pie_binary() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| build("scenario-pie", &[], &["-buildmode=pie"]))
        .clone()
}

fn build(name: &str, env: &[(&str, &str)], flags: &[&str]) -> PathBuf {
    let bin_dir = target_dir().join("go-bin");
    std::fs::create_dir_all(&bin_dir).expect("create target/go-bin");
    let out = bin_dir.join(name);
    // Private name, then rename: parallel test processes never run a
    // half-written binary.
    let tmp = bin_dir.join(format!(".{name}.{}", std::process::id()));
    let mut cmd = go();
    cmd.envs(env.iter().copied())
        .current_dir(repo_root().join("testdata/scenario"))
        .arg("build")
        .args(flags)
        .arg("-o")
        .arg(&tmp)
        .arg(".");
    let result = cmd.output().unwrap_or_else(|e| {
        panic!("cannot run `go` ({e}); install Go (Debian: apt-get install golang-go gcc)")
    });
    assert!(result.status.success(), "{}", describe(&cmd, &result));
    std::fs::rename(&tmp, &out).expect("move the scenario binary into place");
    out
}

/// A loopback port that was free a moment ago (for a service that must be
/// told its address before it starts, e.g. one spawned by `watch --`).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a loopback port")
        .port()
}

/// The end of a `watch` (or `check`) command line that spawns the service
/// in `mode` with `args` on a free loopback port and scrapes it there:
/// `--pprof http://ADDR -- BINARY -mode MODE ARGS… -addr ADDR`. It ends
/// with the command, so it goes after every other flag.
pub fn spawn_args(mode: &str, args: &[&str]) -> Vec<String> {
    let addr = format!("127.0.0.1:{}", free_port());
    let bin = binary();
    let mut all: Vec<String> = vec![
        "--pprof".into(),
        format!("http://{addr}"),
        "--".into(),
        bin.to_str().expect("a UTF-8 path").into(),
        "-mode".into(),
        mode.into(),
    ];
    all.extend(args.iter().map(|a| a.to_string()));
    all.extend(["-addr".into(), addr]);
    all
}

/// A running scenario service, killed when dropped.
#[derive(Debug)]
pub struct Service {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Its process id.
    pub pid: u32,
}

impl Service {
    /// Starts `scenario -mode MODE ARGS…` on a free port and waits (up to
    /// 20 s) for its `listening on` line.
    pub fn start(mode: &str, args: &[&str]) -> Service {
        Service::start_binary(&binary(), mode, args)
    }

    /// [`Service::start`] with another build of the scenario (e.g.
    /// [`pie_binary`]).
    pub fn start_binary(binary: &Path, mode: &str, args: &[&str]) -> Service {
        let mut child = Command::new(binary)
            .args(["-mode", mode, "-addr", "127.0.0.1:0"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the scenario service");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(Duration::from_secs(20)).unwrap_or_default();
        let Some(url) = line.trim().strip_prefix("listening on ") else {
            let _ = child.kill();
            panic!("scenario -mode {mode} did not report its address (got {line:?})");
        };
        Service {
            pid: child.id(),
            url: url.to_owned(),
            child,
        }
    }

    /// Whether it still runs.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
