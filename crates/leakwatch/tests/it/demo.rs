//! `leakwatch demo` end to end, both modes, and `top --binary` on the demo
//! service's address-only profiles. Everything is real: the service is the
//! `leakwatch-demo` executable with jemalloc profiling, under real load —
//! and the `leakwatch` executable carries none of it.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use assert_cmd::cargo::CommandCargoExt;
use serde_json::Value;

use crate::support::{describe, scratch};

const NEW_ENTRY: &str = "leakwatch_demo::cache::new_entry";

fn leakwatch() -> Command {
    Command::cargo_bin("leakwatch").expect("the leakwatch binary")
}

/// The line of demo/src/cache.rs where the cache allocates each entry.
fn allocating_line() -> i64 {
    let source = include_str!("../../../../demo/src/cache.rs");
    let i = source
        .lines()
        .position(|l| l.contains("Vec::with_capacity(ENTRY_BYTES)"))
        .expect("the allocation in demo/src/cache.rs");
    i as i64 + 1
}

/// Runs `leakwatch demo ARGS --json --html DIR/report.html --out DIR/rec`
/// and returns the verdict JSON and the report's text.
fn demo(args: &[&str]) -> (Value, String) {
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("report.html");
    let out = leakwatch()
        .arg("demo")
        .args(args)
        .args(["--duration", "20s", "--json", "--html"])
        .arg(&html)
        .arg("--out")
        .arg(dir.path().join("rec"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}\n{stderr}", out.status);
    let verdict: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("verdict JSON: {e}\n{stderr}"));
    let report = std::fs::read_to_string(&html).expect("the HTML report");
    (verdict, report)
}

#[test]
fn leaky_demo_names_the_cache_with_file_and_line() {
    let (verdict, report) = demo(&[]);
    assert_eq!(verdict["verdict"], "leak", "{verdict:#}");
    let site = &verdict["sites"][0];
    assert_eq!(site["function"], NEW_ENTRY, "{verdict:#}");
    let file = site["file"].as_str().unwrap();
    assert!(file.ends_with("demo/src/cache.rs"), "{file}");
    assert_eq!(site["line"], allocating_line(), "{site:#}");
    assert!(site["share"].as_f64().unwrap() > 0.8, "{site:#}");
    assert!(
        report.contains(NEW_ENTRY),
        "the report does not name the cache"
    );
}

#[test]
fn fixed_demo_is_no_leak() {
    let (verdict, report) = demo(&["--fixed"]);
    assert_eq!(verdict["verdict"], "no_leak", "{verdict:#}");
    assert!(report.contains("<html"), "not an HTML report");
}

/// The `leakwatch-demo` executable beside `leakwatch`, built once per test
/// run as `leakwatch demo` builds it from the source tree.
fn demo_exe() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let tool = assert_cmd::cargo::cargo_bin("leakwatch");
            let profile_dir = tool.parent().expect("target/<profile>/leakwatch");
            let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
                Some("debug") => "dev".to_owned(),
                Some(name) => name.to_owned(),
                None => panic!("no profile directory in {}", tool.display()),
            };
            let mut cmd = Command::new(env!("CARGO"));
            cmd.args(["build", "-p", "leakwatch-demo", "--profile", &profile])
                .arg("--target-dir")
                .arg(profile_dir.parent().expect("the target directory"));
            let out = cmd.output().expect("run cargo");
            assert!(out.status.success(), "{}", describe(&cmd, &out));
            profile_dir.join("leakwatch-demo")
        })
        .clone()
}

/// The demo service with jemalloc profiling on, killed on drop.
struct Service {
    child: Child,
    url: String,
}

impl Service {
    fn start() -> Service {
        let mut child = Command::new(demo_exe())
            .args(["--addr", "127.0.0.1:0", "--rate", "2000"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| {
                panic!("first line {line:?}");
            });
        let url = url.to_owned();
        // A second and a half of load: ~3 MiB in the cache.
        std::thread::sleep(Duration::from_millis(1500));
        Service { child, url }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn top_with_binary_names_the_cache_line() {
    let service = Service::start();
    let exe = demo_exe();
    let out = leakwatch()
        .args(["top", "--by", "line", "--json", "--binary"])
        .arg(&exe)
        .arg(format!("{}/debug/pprof/heap", service.url))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains("warning"), "{stderr}");
    let table: Value = serde_json::from_slice(&out.stdout).unwrap();
    let total = table["total"].as_i64().unwrap();
    let row = table["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["function"] == NEW_ENTRY && r["line"] == allocating_line())
        .unwrap_or_else(|| panic!("no row for {NEW_ENTRY} at line {}", allocating_line()));
    assert!(row["file"].as_str().unwrap().ends_with("demo/src/cache.rs"));
    assert!(row["cum"].as_i64().unwrap() * 2 > total, "{row} of {total}");
}

#[test]
fn top_with_the_wrong_binary_warns_and_still_prints() {
    let service = Service::start();
    let wrong = std::env::current_exe().unwrap();
    let out = leakwatch()
        .args(["top", "--binary"])
        .arg(&wrong)
        .arg(format!("{}/debug/pprof/heap", service.url))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("warning"), "{stderr}");
    assert!(stderr.contains(&wrong.display().to_string()), "{stderr}");
    assert!(stderr.contains("build id"), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains(NEW_ENTRY), "{stdout}");
}

#[test]
fn demo_service_with_profiling_turned_off_explains() {
    let out = Command::new(demo_exe())
        .args(["--addr", "127.0.0.1:0"])
        .env("_RJEM_MALLOC_CONF", "prof:false")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("heap profiling is off") && stderr.contains("_RJEM_MALLOC_CONF"),
        "{stderr}"
    );
}

#[test]
fn the_tool_carries_neither_the_demos_allocator_nor_its_web_stack() {
    // Symbols and debug information name every crate linked in; a
    // profiler's own binary must allocate with the system allocator and
    // ship no web framework.
    let tool = std::fs::read(assert_cmd::cargo::cargo_bin("leakwatch")).unwrap();
    for needle in [
        "_rjem_mallctl",
        "tikv_jemalloc_sys",
        "tokio::runtime",
        "hyper::",
        "axum::",
    ] {
        assert!(
            !tool.windows(needle.len()).any(|w| w == needle.as_bytes()),
            "the leakwatch executable contains {needle}"
        );
    }
    // The demo service does carry them: the check can see them.
    let demo = std::fs::read(demo_exe()).unwrap();
    assert!(demo.windows(13).any(|w| w == b"_rjem_mallctl"));
}

#[test]
fn demo_without_its_service_says_how_to_install_it() {
    // A copy of leakwatch alone in a directory, not started by cargo.
    let dir = scratch();
    let lone = dir.path().join("leakwatch");
    std::fs::copy(assert_cmd::cargo::cargo_bin("leakwatch"), &lone).unwrap();
    let mut cmd = Command::new(&lone);
    cmd.args(["demo", "--duration", "5s"])
        .env_remove("CARGO")
        .env_remove("CARGO_MANIFEST_DIR")
        .env("PATH", "/usr/bin:/bin");
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&cmd, &out));
    assert!(
        stderr.contains("leakwatch-demo") && stderr.contains("cargo install --path demo"),
        "{stderr}"
    );
}

#[test]
fn a_rust_service_on_tikv_jemallocator_writing_dumps_is_named() {
    // The demo service is a Rust program on tikv-jemallocator: with the
    // prefixed options it writes heap_v2 dumps by itself, no endpoint.
    let dir = scratch();
    let prefix = dir.path().join("demo");
    let mut child = Command::new(demo_exe())
        .args(["--addr", "127.0.0.1:0", "--rate", "2000"])
        .env(
            "_RJEM_MALLOC_CONF",
            format!("lg_prof_interval:20,prof_prefix:{}", prefix.display()),
        )
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let newest = || {
        std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "heap"))
            .max_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    // Enough dumps that the cache dominates the newest one.
    while std::fs::read_dir(dir.path()).unwrap().count() < 6 {
        assert!(
            std::time::Instant::now() < deadline,
            "no heap dumps were written"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_millis(500));
    let _ = child.kill();
    let _ = child.wait();
    let dump = newest().expect("a dump");
    let out = leakwatch()
        .args(["top", "--json", "--binary"])
        .arg(demo_exe())
        .arg(&dump)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(table["rows"][0]["function"], NEW_ENTRY, "{table:#}");
    let file = table["rows"][0]["file"].as_str().unwrap_or_default();
    assert!(file.ends_with("demo/src/cache.rs"), "{file}");
}
