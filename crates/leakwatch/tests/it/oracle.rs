//! `leakwatch top` and `diff` against `go tool pprof` on heap profiles of a
//! real Go program (`testdata/heapgen`): the same rows, the same numbers.
//!
//! The program is built and run once per test run; every test then compares
//! one view (granularity × sample type) of its profiles.

use crate::support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use serde_json::Value;
use support::http::{self, Response};
use support::pprof::{self, leakwatch_json, TopReport, TopRow};
use support::{leakwatch, run_err, run_ok};

/// The profiles heapgen wrote, in a directory that lives as long as the
/// test process.
struct Profiles {
    dir: PathBuf,
}

impl Profiles {
    fn get() -> &'static Profiles {
        static PROFILES: OnceLock<Profiles> = OnceLock::new();
        PROFILES.get_or_init(|| {
            let bin = support::go_binary("heapgen");
            // Kept for the whole run: tests read it concurrently.
            let dir = support::scratch().keep();
            run_ok(std::process::Command::new(bin).arg("-out").arg(&dir));
            Profiles { dir }
        })
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).to_str().unwrap().to_owned()
    }
}

fn oracle(args: &[&str]) -> TopReport {
    let scratch = support::scratch();
    pprof::top(scratch.path(), args)
}

/// `top` equals `pprof -top` row for row, in order, for the whole table.
fn assert_top_matches(profile: &str, by: &str, pprof_flag: Option<&str>, sample_index: &str) {
    let p = Profiles::get();
    let file = p.path(profile);
    let (ours, doc) = leakwatch_json(&["top", "--by", by, "-i", sample_index, &file]);
    let mut pprof_args = vec!["-sample_index", sample_index];
    pprof_args.extend(pprof_flag);
    pprof_args.push(&file);
    let theirs = oracle(&pprof_args);
    assert_eq!(doc["total"].as_i64(), Some(theirs.total), "total");
    assert_eq!(doc["sample_type"].as_str(), Some(sample_index));
    assert!(
        theirs.rows.len() >= 10,
        "the profile should be rich enough for a top 10: {theirs:?}"
    );
    assert_eq!(
        ours, theirs.rows,
        "leakwatch top --by {by} -i {sample_index} differs from pprof -top {pprof_flag:?}"
    );
}

#[test]
fn top_by_function_inuse_space() {
    assert_top_matches("heap2.pb.gz", "function", None, "inuse_space");
}

#[test]
fn top_by_function_alloc_objects() {
    assert_top_matches("heap2.pb.gz", "function", None, "alloc_objects");
}

#[test]
fn top_by_line_inuse_space() {
    assert_top_matches("heap2.pb.gz", "line", Some("-lines"), "inuse_space");
}

#[test]
fn top_by_line_alloc_objects() {
    assert_top_matches("heap1.pb.gz", "line", Some("-lines"), "alloc_objects");
}

#[test]
fn top_by_file_inuse_space() {
    assert_top_matches("heap2.pb.gz", "file", Some("-files"), "inuse_space");
}

#[test]
fn top_by_file_alloc_objects() {
    assert_top_matches("heap2.pb.gz", "file", Some("-files"), "alloc_objects");
}

#[test]
fn top_defaults_to_inuse_space_and_ten_rows() {
    let p = Profiles::get();
    let out = run_ok(leakwatch().args(["top", &p.path("heap2.pb.gz")]));
    let mut lines = out.lines();
    let header = lines.next().unwrap();
    assert!(header.starts_with("inuse_space: total "), "{out}");
    assert!(header.contains("showing 10 of "), "{out}");
    let columns = lines.next().unwrap();
    assert_eq!(
        columns.split_whitespace().collect::<Vec<_>>(),
        ["flat", "flat%", "sum%", "cum", "cum%"]
    );
    assert_eq!(lines.count(), 10, "{out}");
    assert!(out.contains("main.allocLarge"), "{out}");
}

fn by_name(rows: &[TopRow]) -> BTreeMap<&str, (i64, i64)> {
    let map: BTreeMap<_, _> = rows
        .iter()
        .map(|r| (r.name.as_str(), (r.flat, r.cum)))
        .collect();
    assert_eq!(map.len(), rows.len(), "names are unique: {rows:?}");
    map
}

fn assert_diff_matches(by: &str, pprof_flag: Option<&str>, sample_index: &str) {
    let p = Profiles::get();
    let (base, new) = (p.path("heap1.pb.gz"), p.path("heap2.pb.gz"));
    let (ours, doc) = leakwatch_json(&["diff", "--by", by, "-i", sample_index, &base, &new]);
    let mut pprof_args = vec!["-sample_index", sample_index];
    pprof_args.extend(pprof_flag);
    pprof_args.extend(["-diff_base", &base, &new]);
    let theirs = oracle(&pprof_args);
    // pprof's total of a -diff_base report is the base's.
    assert_eq!(doc["base_total"].as_i64(), Some(theirs.total), "base total");
    let new_total = oracle(&["-sample_index", sample_index, &new]).total;
    assert_eq!(doc["total"].as_i64(), Some(new_total), "new total");
    assert!(theirs.rows.len() >= 10, "{theirs:?}");
    // pprof sorts by |flat|, we by growth: compare as maps.
    assert_eq!(
        by_name(&ours),
        by_name(&theirs.rows),
        "diff --by {by} -i {sample_index}"
    );
    // Largest growth first.
    let flats: Vec<i64> = ours.iter().map(|r| r.flat).collect();
    assert!(flats.windows(2).all(|w| w[0] >= w[1]), "{flats:?}");
}

#[test]
fn diff_by_function_inuse_space() {
    assert_diff_matches("function", None, "inuse_space");
}

#[test]
fn diff_by_line_alloc_space() {
    assert_diff_matches("line", Some("-lines"), "alloc_space");
}

#[test]
fn diff_by_file_inuse_objects() {
    assert_diff_matches("file", Some("-files"), "inuse_objects");
}

#[test]
fn diff_output_is_a_profile_pprof_reads_with_the_same_numbers() {
    let p = Profiles::get();
    let scratch = support::scratch();
    let out = scratch.path().join("diff.pb.gz");
    let out = out.to_str().unwrap();
    let (base, new) = (p.path("heap1.pb.gz"), p.path("heap2.pb.gz"));
    let (ours, doc) = leakwatch_json(&["diff", &base, &new, "--output", out]);
    let theirs = oracle(&[out]);
    assert_eq!(doc["base_total"].as_i64(), Some(theirs.total));
    assert_eq!(by_name(&ours), by_name(&theirs.rows));
    // And leakwatch reads its own output back: top of the diff profile has
    // the same flat and cum per node.
    let (again, _) = leakwatch_json(&["top", out]);
    assert_eq!(by_name(&again), by_name(&ours));
}

#[test]
fn legacy_text_profile_has_pprofs_totals_and_real_names() {
    let p = Profiles::get();
    let text = p.path("heap2.txt");
    let (ours, doc) = leakwatch_json(&["top", &text]);
    let theirs = oracle(&[&text]);
    assert_eq!(doc["total"].as_i64(), Some(theirs.total), "total");
    // pprof cannot name the functions of a text profile without the binary;
    // leakwatch reads the `#` comment lines and must.
    assert!(
        theirs.rows.iter().all(|r| r.name == "<unknown>"),
        "{theirs:?}"
    );
    let names: Vec<&str> = ours.iter().map(|r| r.name.as_str()).collect();
    for f in [
        "main.allocLarge",
        "main.(*cache).get",
        "main.allocMedium",
        "main.recurse",
        "main.ping",
    ] {
        assert!(names.contains(&f), "{f} missing from {names:?}");
    }
}

#[test]
fn text_and_protobuf_of_one_moment_agree() {
    let p = Profiles::get();
    for sample_index in ["inuse_space", "alloc_objects"] {
        let (from_text, text_doc) =
            leakwatch_json(&["top", "-i", sample_index, &p.path("heap2.txt")]);
        let (from_proto, proto_doc) =
            leakwatch_json(&["top", "-i", sample_index, &p.path("heap2.pb.gz")]);
        assert_eq!(
            text_doc["total"], proto_doc["total"],
            "{sample_index} totals"
        );
        // The program's own functions have the same flat and cum in both.
        let mine = |rows: &[TopRow]| -> BTreeMap<String, (i64, i64)> {
            rows.iter()
                .filter(|r| r.name.starts_with("main."))
                .map(|r| (r.name.clone(), (r.flat, r.cum)))
                .collect()
        };
        assert_eq!(mine(&from_text), mine(&from_proto), "{sample_index}");
    }
}

#[test]
fn stdin_and_errors_name_their_source() {
    let p = Profiles::get();
    let bytes = std::fs::read(p.path("heap2.pb.gz")).unwrap();
    let mut child = leakwatch()
        .args(["top", "--json", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(&bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(doc["total"].as_i64().unwrap() > 0);

    let scratch = support::scratch();
    let truncated = scratch.path().join("heap.pb.gz");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let out = run_err(leakwatch().args(["top"]).arg(&truncated));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("reading {}: ", truncated.display())),
        "{stderr}"
    );
    assert_eq!(out.status.code(), Some(2));

    let missing = scratch.path().join("nope.pb.gz");
    let out = run_err(
        leakwatch()
            .args(["diff"])
            .arg(&missing)
            .arg(p.path("heap2.pb.gz")),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("reading {}", missing.display())),
        "{stderr}"
    );
}

#[test]
fn diff_refuses_incompatible_profiles_naming_both() {
    let p = Profiles::get();
    let (goroutines, heap) = (p.path("goroutine.pb.gz"), p.path("heap2.pb.gz"));
    let out = run_err(leakwatch().args(["diff", &goroutines, &heap]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("incompatible profiles"), "{stderr}");
    assert!(stderr.contains(&heap), "{stderr}");
    assert!(stderr.contains(&goroutines), "{stderr}");
    assert!(stderr.contains("goroutine/count"), "{stderr}");
}

#[test]
fn top_and_diff_read_urls() {
    let p = Profiles::get();
    let (base, new) = (p.path("heap1.pb.gz"), p.path("heap2.pb.gz"));
    // One body per request, in order, the last one again once they run out.
    let bodies = [std::fs::read(&base).unwrap(), std::fs::read(&new).unwrap()];
    let server = http::Server::builder()
        .handle("/debug/pprof/heap", move |req| {
            Response::ok(bodies[(req.hit - 1).min(bodies.len() - 1)].clone())
        })
        .start();
    let url = format!("{}/debug/pprof/heap", server.url);
    // diff URL --wait fetches twice: heap1, then heap2.
    let (from_url, doc) = leakwatch_json(&["diff", &url, "--wait", "100ms"]);
    let (from_files, files_doc) = leakwatch_json(&["diff", &base, &new]);
    assert_eq!(from_url, from_files);
    assert_eq!(doc["total"], files_doc["total"]);
    // Later requests get heap2.
    let (top_url, _) = leakwatch_json(&["top", &url]);
    let (top_file, _) = leakwatch_json(&["top", &new]);
    assert_eq!(top_url, top_file);

    // A URL nobody listens on: the error names it.
    let dead = format!(
        "http://127.0.0.1:{}/debug/pprof/heap",
        support::scenario::free_port()
    );
    let out = run_err(leakwatch().args(["top", &dead]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("fetching {dead}")), "{stderr}");
    // --wait needs a URL.
    let out = run_err(leakwatch().args(["diff", &base, "--wait", "1s"]));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--wait needs an http:// URL"));
}

/// Goroutine, mutex and block profiles of `testdata/blockgen` in Go's text
/// form (`?debug=1`), with the binary that wrote them.
///
/// The program is built with inlining off: pprof names a text profile's
/// addresses from the binary by the function holding the instruction, so
/// an inlined call would be its caller there and itself in Go's comment
/// lines, which leakwatch reads.
struct BlockProfiles {
    dir: PathBuf,
    bin: PathBuf,
}

impl BlockProfiles {
    fn get() -> &'static BlockProfiles {
        static PROFILES: OnceLock<BlockProfiles> = OnceLock::new();
        PROFILES.get_or_init(|| {
            // Kept for the whole run: tests read it concurrently.
            let dir = support::scratch().keep();
            let bin = dir.join("blockgen");
            let src = support::repo_root().join("testdata/blockgen");
            run_ok(
                support::go()
                    .current_dir(&src)
                    .args(["build", "-gcflags=all=-l", "-o"])
                    .arg(&bin)
                    .arg("."),
            );
            run_ok(std::process::Command::new(&bin).arg("-out").arg(&dir));
            BlockProfiles { dir, bin }
        })
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).to_str().unwrap().to_owned()
    }
}

/// `go tool pprof -top BINARY FILE` in `unit` (pprof's `-unit`), parsed as
/// the byte tables of the heap tests are.
fn oracle_in_unit(unit: &str, args: &[&str]) -> TopReport {
    let scratch = support::scratch();
    let mut cmd = support::go();
    cmd.current_dir(scratch.path())
        .env("PPROF_TMPDIR", scratch.path())
        .env("HOME", scratch.path())
        .args(["tool", "pprof", "-top", "-nodefraction=0"])
        .arg(format!("-unit={unit}"))
        .args(args);
    let out = run_ok(&mut cmd);
    // `123ns` → `123B`: the table parser reads byte values.
    let mut text = String::with_capacity(out.len());
    let mut prev_digit = false;
    let mut chars = out.chars().peekable();
    while let Some(c) = chars.next() {
        if prev_digit && c == 'n' && chars.peek() == Some(&'s') {
            chars.next();
            text.push('B');
            prev_digit = false;
            continue;
        }
        prev_digit = c.is_ascii_digit();
        text.push(c);
    }
    pprof::parse_top(&text).unwrap_or_else(|e| panic!("cannot parse pprof output ({e}):\n{out}"))
}

/// `top --binary` on a Go text profile equals `pprof -top BINARY` row for
/// row: the runtime frames Go hides from the comment lines (where a
/// goroutine parks, where a wait happens) keep their flat.
fn assert_text_top_matches(file: &str, sample_index: &str, unit: &str, min_rows: usize) {
    let p = BlockProfiles::get();
    let (bin, file) = (p.bin.to_str().unwrap(), p.path(file));
    let (ours, doc) = leakwatch_json(&[
        "top",
        "-n",
        "1000",
        "-i",
        sample_index,
        "--binary",
        bin,
        &file,
    ]);
    let theirs = oracle_in_unit(unit, &["-sample_index", sample_index, bin, &file]);
    assert_eq!(doc["total"].as_i64(), Some(theirs.total), "total");
    assert_eq!(doc["sample_type"].as_str(), Some(sample_index));
    assert!(theirs.rows.len() >= min_rows, "{theirs:?}");
    assert_eq!(ours, theirs.rows, "top -i {sample_index} {file}");
}

#[test]
fn goroutine_text_top_matches_pprof_with_runtime_frames() {
    assert_text_top_matches("goroutine.txt", "goroutine", "B", 20);
    let p = BlockProfiles::get();
    let (ours, _) = leakwatch_json(&[
        "top",
        "--binary",
        p.bin.to_str().unwrap(),
        &p.path("goroutine.txt"),
    ]);
    // Parked goroutines are flat in the scheduler, not in their callers.
    assert_eq!(ours[0].name, "runtime.gopark", "{ours:?}");
    assert!(ours[0].flat >= 28, "{ours:?}");
}

#[test]
fn mutex_text_top_matches_pprof() {
    assert_text_top_matches("mutex.txt", "delay", "ns", 5);
    assert_text_top_matches("mutex.txt", "contentions", "B", 5);
}

#[test]
fn block_text_top_matches_pprof() {
    assert_text_top_matches("block.txt", "delay", "ns", 10);
    assert_text_top_matches("block.txt", "contentions", "B", 10);
}

/// The text and the protobuf of one moment hold the same events: totals
/// agree, and so do the program's own functions.
#[test]
fn mutex_and_block_text_agree_with_their_protobuf() {
    let p = BlockProfiles::get();
    let bin = p.bin.to_str().unwrap();
    for name in ["mutex", "block"] {
        for index in ["contentions", "delay"] {
            let (text, text_doc) = leakwatch_json(&[
                "top",
                "-n",
                "1000",
                "-i",
                index,
                "--binary",
                bin,
                &p.path(&format!("{name}.txt")),
            ]);
            let (proto, proto_doc) = leakwatch_json(&[
                "top",
                "-n",
                "1000",
                "-i",
                index,
                &p.path(&format!("{name}.pb.gz")),
            ]);
            let mine = |rows: &[TopRow]| -> BTreeMap<String, (i64, i64)> {
                rows.iter()
                    .filter(|r| r.name.starts_with("main."))
                    .map(|r| (r.name.clone(), (r.flat, r.cum)))
                    .collect()
            };
            if index == "contentions" {
                assert_eq!(text_doc["total"], proto_doc["total"], "{name} {index}");
                assert_eq!(mine(&text), mine(&proto), "{name} {index}");
            } else {
                // Go converts cycles to nanoseconds once per record for the
                // protobuf and pprof once per record for the text, with
                // the same formula: equal but for float rounding.
                let (t, q) = (
                    text_doc["total"].as_i64().unwrap(),
                    proto_doc["total"].as_i64().unwrap(),
                );
                assert!((t - q).abs() <= 64, "{name} {index}: {t} vs {q}");
                assert_eq!(
                    mine(&text).keys().collect::<Vec<_>>(),
                    mine(&proto).keys().collect::<Vec<_>>(),
                    "{name} {index}"
                );
            }
        }
    }
}
