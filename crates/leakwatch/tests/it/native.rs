//! Heap dumps of C programs on the distribution's jemalloc and tcmalloc,
//! read by `top` and `diff` with `--binary` and compared with the tools
//! each allocator's users have: `go tool pprof` for gperftools' heap
//! profiles (it reads them), jemalloc's `jeprof` for its `heap_v2` dumps
//! (pprof cannot).
//!
//! The programs (`testdata/native/leaky.c`, `healthy.c`) are built as
//! position-independent executables with debug information, so every
//! address in the dumps must be moved by the memory map recorded in the
//! dump before it names anything. `scripts/test` installs gcc's companions
//! `libjemalloc-dev` (with `jeprof`) and `libgoogle-perftools-dev`.

use crate::support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;
use support::pprof::{self, leakwatch_json, TopRow};
use support::{describe, leakwatch};

/// Requests each program serves: some 80 MB allocated, enough for several
/// interval dumps.
const REQUESTS: &str = "20000";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Allocator {
    Jemalloc,
    Tcmalloc,
}

impl Allocator {
    fn lib(self) -> &'static str {
        match self {
            Allocator::Jemalloc => "jemalloc",
            Allocator::Tcmalloc => "tcmalloc",
        }
    }
}

/// A program's binary and the dumps of one run, oldest first.
struct Run {
    binary: PathBuf,
    dumps: Vec<PathBuf>,
}

impl Run {
    fn binary(&self) -> &str {
        self.binary.to_str().unwrap()
    }

    fn first(&self) -> &str {
        self.dumps[0].to_str().unwrap()
    }

    fn last(&self) -> &str {
        self.dumps.last().unwrap().to_str().unwrap()
    }
}

/// Builds `testdata/native/PROGRAM.c` against the allocator and runs it
/// with heap dumping on, once per test process.
fn run(program: &'static str, allocator: Allocator) -> &'static Run {
    static RUNS: [[OnceLock<Run>; 2]; 2] = [
        [OnceLock::new(), OnceLock::new()],
        [OnceLock::new(), OnceLock::new()],
    ];
    let p = usize::from(program == "healthy");
    let a = usize::from(allocator == Allocator::Tcmalloc);
    RUNS[p][a].get_or_init(|| build_and_run(program, allocator))
}

/// Builds `testdata/native/PROGRAM.c` as a PIE against the allocator, into
/// `dir`.
fn build(program: &str, allocator: Allocator, dir: &Path) -> PathBuf {
    let binary = dir.join(format!("{program}-{}", allocator.lib()));
    let src = support::repo_root().join(format!("testdata/native/{program}.c"));
    let mut cc = Command::new("gcc");
    cc.args(["-g", "-O0", "-fPIE", "-pie", "-o"])
        .arg(&binary)
        .arg(&src)
        .arg(format!("-l{}", allocator.lib()));
    let out = cc
        .output()
        .unwrap_or_else(|e| panic!("cannot run gcc ({e}); scripts/test installs what it needs"));
    assert!(out.status.success(), "{}", describe(&cc, &out));
    binary
}

fn build_and_run(program: &str, allocator: Allocator) -> Run {
    // Kept for the whole run: tests read the dumps concurrently.
    let dir = support::scratch().keep();
    let binary = build(program, allocator, &dir);

    let mut cmd = Command::new(&binary);
    cmd.arg(REQUESTS);
    let prefix = dir.join("dump");
    let prefix = prefix.to_str().unwrap();
    match allocator {
        // A dump every 8 MiB allocated and one at exit, sampling one
        // allocation per 16 KiB on average.
        Allocator::Jemalloc => cmd.env(
            "MALLOC_CONF",
            format!(
                "prof:true,lg_prof_sample:14,lg_prof_interval:23,prof_final:true,\
                 prof_prefix:{prefix}"
            ),
        ),
        // gperftools records every allocation; a dump every 16 MiB and one
        // at exit.
        Allocator::Tcmalloc => cmd
            .env("HEAPPROFILE", prefix)
            .env("HEAP_PROFILE_ALLOCATION_INTERVAL", "16777216"),
    };
    let out = cmd.output().expect("run the program");
    assert!(out.status.success(), "{}", describe(&cmd, &out));

    // jemalloc: dump.PID.SEQ.iN.heap and dump.PID.SEQ.f.heap;
    // gperftools: dump.NNNN.heap. Both in order of their sequence number.
    let mut dumps: Vec<(u64, PathBuf)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "heap"))
        .map(|p| {
            let name = p.file_name().unwrap().to_str().unwrap().to_owned();
            let parts: Vec<&str> = name.split('.').collect();
            let seq = match allocator {
                Allocator::Jemalloc => parts[2],
                Allocator::Tcmalloc => parts[1],
            };
            (seq.parse().unwrap(), p)
        })
        .collect();
    dumps.sort();
    assert!(
        dumps.len() >= 3,
        "expected several dumps in {}: {dumps:?}",
        dir.display()
    );
    Run {
        binary,
        dumps: dumps.into_iter().map(|(_, p)| p).collect(),
    }
}

fn by_name(rows: &[TopRow]) -> BTreeMap<String, (i64, i64)> {
    rows.iter()
        .map(|r| (r.name.clone(), (r.flat, r.cum)))
        .collect()
}

/// Our rows as `go tool pprof` names them. Go's pprof names frames from
/// DWARF only, so `_start` (from the C runtime's startup object, which has
/// none) is `[binary]` there; leakwatch falls back to the symbol table.
/// The rows are sorted again in pprof's order (|flat|, name, |cum|).
fn as_pprof_names(rows: Vec<TopRow>, binary: &str) -> Vec<TopRow> {
    let base = Path::new(binary).file_name().unwrap().to_str().unwrap();
    let mut rows: Vec<TopRow> = rows
        .into_iter()
        .map(|mut r| {
            if r.name == "_start" {
                r.name = format!("[{base}]");
            }
            r
        })
        .collect();
    rows.sort_by(|a, b| {
        b.flat
            .unsigned_abs()
            .cmp(&a.flat.unsigned_abs())
            .then_with(|| a.name.cmp(&b.name))
            .then_with(|| b.cum.unsigned_abs().cmp(&a.cum.unsigned_abs()))
    });
    rows
}

#[test]
fn tcmalloc_top_equals_pprof_row_for_row() {
    let run = run("leaky", Allocator::Tcmalloc);
    let scratch = support::scratch();
    for index in ["inuse_space", "alloc_space", "inuse_objects"] {
        let (ours, doc) =
            leakwatch_json(&["top", "-i", index, "--binary", run.binary(), run.last()]);
        let theirs = pprof::top(
            scratch.path(),
            &["-sample_index", index, run.binary(), run.last()],
        );
        assert_eq!(doc["total"].as_i64(), Some(theirs.total), "{index} total");
        assert_eq!(ours[0].name, "open_session", "{index}: {ours:?}");
        assert_eq!(
            as_pprof_names(ours, run.binary()),
            theirs.rows,
            "leakwatch top -i {index} differs from pprof"
        );
    }
}

#[test]
fn tcmalloc_diff_equals_pprof() {
    let run = run("leaky", Allocator::Tcmalloc);
    let scratch = support::scratch();
    let (ours, doc) = leakwatch_json(&["diff", "--binary", run.binary(), run.first(), run.last()]);
    let theirs = pprof::top(
        scratch.path(),
        &["-diff_base", run.first(), run.binary(), run.last()],
    );
    // pprof's total of a -diff_base report is the base's.
    assert_eq!(doc["base_total"].as_i64(), Some(theirs.total));
    assert_eq!(ours[0].name, "open_session", "{ours:?}");
    assert!(ours[0].flat > 50 << 20, "{ours:?}");
    assert_eq!(
        by_name(&as_pprof_names(ours, run.binary())),
        by_name(&theirs.rows)
    );
}

/// `jeprof --text --show_bytes` rows: (flat, cum) by name, and the total.
fn jeprof(scratch: &Path, args: &[&str]) -> (BTreeMap<String, (i64, i64)>, i64) {
    let mut cmd = Command::new("jeprof");
    cmd.current_dir(scratch)
        .env("HOME", scratch)
        .args(["--text", "--show_bytes"])
        .args(args);
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run jeprof ({e}); it ships with libjemalloc-dev"));
    assert!(out.status.success(), "{}", describe(&cmd, &out));
    let text = String::from_utf8_lossy(&out.stdout);
    let mut total = None;
    let mut rows = BTreeMap::new();
    for line in text.lines() {
        if let Some(t) = line.strip_prefix("Total: ") {
            // `Total: 81975051 B` or `Total: 19984 objects`.
            let number = t.split_whitespace().next().unwrap_or("");
            total = Some(number.parse().unwrap());
            continue;
        }
        // FLAT FLAT% SUM% CUM CUM% NAME
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.len() < 6 {
            continue;
        }
        let (Ok(flat), Ok(cum)) = (words[0].parse(), words[3].parse()) else {
            continue;
        };
        rows.insert(words[5..].join(" "), (flat, cum));
    }
    (
        rows,
        total.unwrap_or_else(|| panic!("no total in:\n{text}")),
    )
}

/// Stacks in a dump: jeprof keeps unsampled values as fractions and
/// truncates sums, leakwatch truncates each stack's as pprof does, so they
/// may differ by less than a byte per stack.
fn stacks(dump: &str) -> i64 {
    let text = std::fs::read_to_string(dump).unwrap();
    text.lines().filter(|l| l.starts_with('@')).count() as i64
}

/// The rows of functions in the program itself agree with jeprof's; the
/// libraries' frames, which jeprof names from their dynamic symbols and
/// leakwatch (like pprof) only by library, are left out.
fn assert_program_rows_match(
    ours: &[TopRow],
    theirs: &BTreeMap<String, (i64, i64)>,
    tolerance: i64,
) {
    let program = [
        "open_session",
        "scratch_work",
        "handle_request",
        "main",
        "_start",
    ];
    let mut compared = 0;
    for row in ours.iter().filter(|r| program.contains(&r.name.as_str())) {
        let &(flat, cum) = theirs
            .get(&row.name)
            .unwrap_or_else(|| panic!("jeprof has no row {:?}: {theirs:?}", row.name));
        assert!(
            (row.flat - flat).abs() <= tolerance && (row.cum - cum).abs() <= tolerance,
            "{row:?} differs from jeprof's ({flat}, {cum}) by more than {tolerance}"
        );
        compared += 1;
    }
    assert!(compared >= 4, "too few rows compared: {ours:?}");
}

#[test]
fn jemalloc_top_agrees_with_jeprof() {
    let run = run("leaky", Allocator::Jemalloc);
    let scratch = support::scratch();
    let tolerance = stacks(run.last());
    for (index, flag) in [
        ("inuse_space", "--inuse_space"),
        ("inuse_objects", "--inuse_objects"),
    ] {
        let (ours, doc) =
            leakwatch_json(&["top", "-i", index, "--binary", run.binary(), run.last()]);
        let (theirs, total) = jeprof(scratch.path(), &[flag, run.binary(), run.last()]);
        let our_total = doc["total"].as_i64().unwrap();
        assert!(
            (our_total - total).abs() <= tolerance,
            "{index}: total {our_total}, jeprof {total}"
        );
        assert_eq!(ours[0].name, "open_session", "{index}: {ours:?}");
        assert_program_rows_match(&ours, &theirs, tolerance);
        // Library frames without symbols are named by their library, as
        // pprof names them: never as a symbol of the program.
        assert!(
            ours.iter().any(|r| r.name == "[libc.so.6]"),
            "{index}: {ours:?}"
        );
    }
}

#[test]
fn jemalloc_diff_agrees_with_jeprof() {
    let run = run("leaky", Allocator::Jemalloc);
    let scratch = support::scratch();
    let tolerance = stacks(run.first()) + stacks(run.last());
    let (ours, _) = leakwatch_json(&["diff", "--binary", run.binary(), run.first(), run.last()]);
    let base = format!("--base={}", run.first());
    let (theirs, _) = jeprof(scratch.path(), &[&base, run.binary(), run.last()]);
    assert_eq!(ours[0].name, "open_session", "{ours:?}");
    assert!(ours[0].flat > 50 << 20, "{ours:?}");
    assert_program_rows_match(&ours, &theirs, tolerance);
}

#[test]
fn a_healthy_program_shows_no_growth_where_a_leaky_one_does() {
    for allocator in [Allocator::Jemalloc, Allocator::Tcmalloc] {
        let healthy = run("healthy", allocator);
        let (rows, doc) = leakwatch_json(&[
            "diff",
            "--binary",
            healthy.binary(),
            healthy.first(),
            healthy.last(),
        ]);
        let growth =
            |rows: &[TopRow], name: &str| rows.iter().find(|r| r.name == name).map_or(0, |r| r.cum);
        // 64 open sessions of 4 KiB, give or take sampling.
        assert!(
            growth(&rows, "handle_request").abs() < 1 << 20,
            "{allocator:?}: {doc}"
        );
        let leaky = run("leaky", allocator);
        let (rows, _) = leakwatch_json(&[
            "diff",
            "--binary",
            leaky.binary(),
            leaky.first(),
            leaky.last(),
        ]);
        assert!(
            growth(&rows, "handle_request") > 50 << 20,
            "{allocator:?}: {rows:?}"
        );
    }
}

#[test]
fn without_the_binary_frames_are_named_by_their_mapping() {
    // A dump has no build ids to check files against, so without --binary
    // nothing is symbolized; the memory map still says which file each
    // address is in, and that is what is shown — never a wrong name.
    let run = run("leaky", Allocator::Tcmalloc);
    let (rows, _) = leakwatch_json(&["top", run.last()]);
    let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["[leaky-tcmalloc]", "[libc.so.6]"], "{rows:?}");
    assert_eq!(rows[0].flat, rows[0].cum);
}

/// `check --dumps GLOB -- PROGRAM`: the program runs paced for about
/// twenty seconds with jemalloc dumping every 4 MiB allocated; leakwatch
/// leaves its environment alone (the test sets `MALLOC_CONF`, as a user
/// would), takes each new dump as a heap profile round and gives the
/// verdict. Returns the verdict and the dump directory.
fn check_dumps(program: &str, extra: &[&str]) -> (Value, tempfile::TempDir) {
    let dir = support::scratch();
    let binary = build(program, Allocator::Jemalloc, dir.path());
    let prefix = dir.path().join("app");
    let glob = format!("{}/app.*.heap", dir.path().display());
    let mut cmd = leakwatch();
    cmd.args(["check", "--quiet", "--json", "--interval", "250ms"])
        .args(["--profile-interval", "1s", "--dumps", &glob])
        .args(extra)
        .arg("--out")
        .arg(dir.path().join("rec"))
        .arg("--")
        .arg(&binary)
        .args(["20000", "1000"])
        .env(
            "MALLOC_CONF",
            format!(
                "prof:true,lg_prof_sample:14,lg_prof_interval:22,prof_prefix:{}",
                prefix.display()
            ),
        );
    let out = cmd.output().expect("run leakwatch check");
    assert!(
        matches!(out.status.code(), Some(0 | 1 | 3)),
        "{}",
        describe(&cmd, &out)
    );
    let verdict: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("verdict JSON ({e}): {}", describe(&cmd, &out)));
    assert_eq!(
        out.status.code(),
        Some(match verdict["verdict"].as_str() {
            Some("leak") => 1,
            Some("no_leak") => 0,
            _ => 3,
        }),
        "the exit code is the verdict's"
    );
    (verdict, dir)
}

fn dumps_in(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.file_name().to_string_lossy().ends_with(".heap"))
        })
        .count()
}

#[test]
fn check_with_dumps_names_the_leaking_function_and_keeps_the_dumps() {
    let (verdict, dir) = check_dumps("leaky", &[]);
    assert_eq!(verdict["verdict"], "leak", "{verdict:#}");
    assert_eq!(verdict["kind"], serde_json::json!(["heap"]), "{verdict:#}");
    assert_eq!(
        verdict["sites"][0]["function"], "open_session",
        "{verdict:#}"
    );
    let file = verdict["sites"][0]["file"].as_str().unwrap_or_default();
    assert!(file.ends_with("testdata/native/leaky.c"), "{file}");
    assert!(
        verdict["window"]["heap_profiles"].as_u64().unwrap() >= 10,
        "{verdict:#}"
    );
    // The dumps are the user's: copied, not moved.
    assert!(dumps_in(dir.path()) >= 10, "the dumps were removed");
}

#[test]
fn check_with_dumps_of_a_healthy_program_is_no_leak_and_can_remove_them() {
    let (verdict, dir) = check_dumps("healthy", &["--remove-dumps"]);
    assert_eq!(verdict["verdict"], "no_leak", "{verdict:#}");
    assert!(
        verdict["window"]["heap_profiles"].as_u64().unwrap() >= 10,
        "{verdict:#}"
    );
    // Every dump taken was deleted; at most the last, written as the
    // program exited, can remain.
    assert!(
        dumps_in(dir.path()) <= 1,
        "--remove-dumps left {} dumps",
        dumps_in(dir.path())
    );
}
