//! Unix manners of every command that prints: a reader that goes away
//! (`| head`) never turns into a panic or another exit code, a write error
//! (a full disk) is a one-line error with exit 2, and an error's cause is
//! said once.

use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Command, Output, Stdio};

use crate::support::{self, describe, leakwatch, repo_root};

fn fixture(name: &str) -> String {
    repo_root()
        .join("testdata/profiles")
        .join(name)
        .to_str()
        .expect("UTF-8 path")
        .to_owned()
}

/// Runs `cmd` with a stdout whose reader is already gone, so that its first
/// write fails with EPIPE as it does at the end of `| head -1`.
fn with_closed_stdout(cmd: &mut Command) -> Output {
    let mut fds = [0; 2];
    // SAFETY: pipe writes two new descriptors into the array it is given.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0, "pipe");
    // SAFETY: both descriptors were just created and are owned here alone.
    let (reader, writer) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    drop(reader);
    cmd.stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

fn assert_quiet_exit(cmd: &mut Command, code: i32) {
    let out = with_closed_stdout(cmd);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
        "{}",
        describe(cmd, &out)
    );
    assert_eq!(out.status.code(), Some(code), "{}", describe(cmd, &out));
}

#[test]
fn top_and_diff_into_a_closed_pipe_exit_zero() {
    let heap = fixture("heap.pb.gz");
    let text = fixture("heap.txt");
    assert_quiet_exit(leakwatch().args(["top", "--json", &heap]), 0);
    assert_quiet_exit(leakwatch().args(["top", "-n", "1000", &text]), 0);
    assert_quiet_exit(leakwatch().args(["diff", "--json", &text, &heap]), 0);
    assert_quiet_exit(leakwatch().args(["diff", &text, &heap]), 0);
}

#[test]
fn check_into_a_closed_pipe_keeps_its_verdicts_exit_code() {
    let dir = support::scratch();
    let out = dir.path().join("rec");
    let mut cmd = leakwatch();
    cmd.args([
        "check",
        "--quiet",
        "--duration",
        "500ms",
        "--interval",
        "100ms",
    ])
    .arg("--out")
    .arg(&out)
    .args(["--json", "--", "sleep", "30"]);
    // Half a second of a sleeping process, about six samples, cannot
    // decide (a verdict needs 10): inconclusive, 3.
    assert_quiet_exit(&mut cmd, 3);
    // The same recording analysed into a closed pipe: the same code.
    assert_quiet_exit(leakwatch().arg("analyze").arg(&out), 3);
}

#[test]
fn a_full_disk_is_a_one_line_error_with_exit_2() {
    let Ok(full) = std::fs::OpenOptions::new().write(true).open("/dev/full") else {
        panic!("/dev/full is missing: this test needs Linux's full device");
    };
    let mut cmd = leakwatch();
    cmd.args(["top", "--json", &fixture("heap.pb.gz")])
        .stdout(full)
        .stderr(Stdio::piped());
    let out = cmd.output().expect("run leakwatch");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&cmd, &out));
    assert_eq!(
        stderr.trim_end().lines().collect::<Vec<_>>(),
        ["leakwatch: error: cannot write to standard output: No space left on device (os error 28)"],
        "{}",
        describe(&cmd, &out)
    );
}

#[test]
fn an_errors_cause_is_printed_once() {
    let heap = fixture("heap.pb.gz");
    let out = support::run_err(leakwatch().args(["diff", "-i", "bogus", &heap, &heap]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(
        stderr.matches("unknown sample type").count(),
        1,
        "the cause is repeated: {stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}
