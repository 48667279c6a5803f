//! Helpers shared by leakwatch's integration tests: a scratch directory, the
//! binary under test, Go programs built once per test run, and
//! `go tool pprof` as an oracle.
//!
//! Use it from a test target with `mod support;`. Everything here works on
//! real processes and files; nothing is mocked.
//!
//! - [`scratch`]: a fresh temporary directory, removed when dropped.
//! - [`leakwatch`]: a [`Command`] for the `leakwatch` binary built by cargo;
//!   [`run_ok`] runs a command and returns its stdout, failing the test with
//!   both output streams when it does not succeed.
//! - [`go_binary`]: builds a Go program under `testdata/` once per test run
//!   into `target/go-bin/<name>` and returns the path (the Go toolchain is
//!   required: the README's test command installs `golang-go`).
//! - [`pprof`]: runs `go tool pprof` with its temporary files and home kept
//!   in a scratch directory, and parses its `-top` table.
//! - [`http`]: a loopback HTTP server with configurable routes, stopped when
//!   dropped, and a plain GET.
//! - [`prometheus`]: a real Prometheus serving a backfilled history.

// Each test target uses a different subset of these helpers.
#![allow(dead_code)]

pub mod http;
pub mod pprof;
pub mod prometheus;
pub mod scenario;
pub mod webdriver;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex, OnceLock};

/// A fresh scratch directory, deleted when the value is dropped.
pub fn scratch() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("leakwatch-test-")
        .tempdir()
        .expect("create a scratch directory")
}

/// The repository root (where `testdata/` lives).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("crates/leakwatch is two levels below the root")
        .to_path_buf()
}

/// Cargo's target directory (honours `CARGO_TARGET_DIR`).
pub fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        let dir = PathBuf::from(dir);
        return if dir.is_absolute() {
            dir
        } else {
            repo_root().join(dir)
        };
    }
    // The binary under test is target/<profile>/leakwatch.
    Path::new(env!("CARGO_BIN_EXE_leakwatch"))
        .ancestors()
        .nth(2)
        .expect("the binary lives in target/<profile>/")
        .to_path_buf()
}

/// A command running the `leakwatch` binary under test.
pub fn leakwatch() -> Command {
    Command::new(env!("CARGO_BIN_EXE_leakwatch"))
}

/// Describes a finished process for a failure message.
pub fn describe(cmd: &Command, out: &Output) -> String {
    format!(
        "{cmd:?} exited with {}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs `cmd`, fails the test unless it succeeds, and returns its stdout.
pub fn run_ok(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(out.status.success(), "{}", describe(cmd, &out));
    String::from_utf8(out.stdout).expect("stdout is UTF-8")
}

/// Runs `cmd`, fails the test if it succeeds, and returns its output.
pub fn run_err(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        !out.status.success(),
        "expected failure: {}",
        describe(cmd, &out)
    );
    out
}

/// A `go` command that uses only the installed toolchain and standard
/// library (the machine has no network but package registries).
pub fn go() -> Command {
    let mut cmd = Command::new("go");
    cmd.env("GOTOOLCHAIN", "local")
        .env("GOPROXY", "off")
        .env("CGO_ENABLED", "0");
    cmd
}

/// Builds the Go program in `testdata/<dir>` once per test run (per test
/// process) and returns the path of the binary, `target/go-bin/<name>`.
///
/// Concurrent test processes may build the same program: each builds to a
/// private file and renames it into place, so nobody runs a half-written
/// binary.
pub fn go_binary(dir: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<HashMap<String, Arc<OnceLock<PathBuf>>>>> = OnceLock::new();
    let slot = BUILT
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(dir.to_owned())
        .or_default()
        .clone();
    slot.get_or_init(|| build_go(dir)).clone()
}

fn build_go(dir: &str) -> PathBuf {
    let src = repo_root().join("testdata").join(dir);
    let name = Path::new(dir)
        .file_name()
        .and_then(|n| n.to_str())
        .expect("a directory name")
        .to_owned();
    let bin_dir = target_dir().join("go-bin");
    std::fs::create_dir_all(&bin_dir).expect("create target/go-bin");
    let out = bin_dir.join(&name);
    let tmp = bin_dir.join(format!(".{name}.{}", std::process::id()));
    let mut cmd = go();
    cmd.current_dir(&src)
        .arg("build")
        .arg("-o")
        .arg(&tmp)
        .arg(".");
    let result = cmd.output().unwrap_or_else(|e| {
        panic!("cannot run `go` ({e}); install Go (Debian: apt-get install golang-go) to run these tests")
    });
    assert!(result.status.success(), "{}", describe(&cmd, &result));
    std::fs::rename(&tmp, &out).expect("move the Go binary into place");
    out
}
