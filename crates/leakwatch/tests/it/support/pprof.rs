//! `go tool pprof` as an oracle: run it hermetically and parse its `-top`
//! table.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use super::{describe, go, leakwatch, run_ok};

/// One row of `go tool pprof -top -unit=B`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct TopRow {
    /// The node name, without pprof's ` (inline)` marker.
    pub name: String,
    /// Flat value.
    pub flat: i64,
    /// Cum value.
    pub cum: i64,
}

/// A parsed `-top` report.
#[derive(Debug, Clone)]
pub struct TopReport {
    /// The total of the `Showing nodes accounting for …, …% of TOTAL total`
    /// line.
    pub total: i64,
    /// The rows, in pprof's order.
    pub rows: Vec<TopRow>,
}

/// Runs `go tool pprof -top -unit=B -nodefraction=0 ARGS…` with its
/// temporary files (`PPROF_TMPDIR`) and `HOME` in `scratch`, so that it
/// writes nothing elsewhere, and parses the report. `-nodefraction=0` keeps
/// small nodes, so that the whole table can be compared.
pub fn top(scratch: &Path, args: &[&str]) -> TopReport {
    let mut cmd: Command = go();
    cmd.current_dir(scratch)
        .env("PPROF_TMPDIR", scratch)
        .env("HOME", scratch)
        .args(["tool", "pprof", "-top", "-unit=B", "-nodefraction=0"])
        .args(args);
    let out = cmd.output().expect("run go tool pprof");
    assert!(out.status.success(), "{}", describe(&cmd, &out));
    let text = String::from_utf8_lossy(&out.stdout);
    parse_top(&text).unwrap_or_else(|e| panic!("cannot parse pprof output ({e}):\n{text}"))
}

/// Parses the output of `pprof -top -unit=B`.
pub fn parse_top(text: &str) -> Result<TopReport, String> {
    let mut total = None;
    let mut rows = Vec::new();
    let mut in_table = false;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("Showing nodes accounting for ") {
            let (_, after) = rest
                .split_once(" of ")
                .ok_or("no ` of ` in the totals line")?;
            let value = after
                .strip_suffix(" total")
                .ok_or("no ` total` in the totals line")?;
            total = Some(parse_value(value)?);
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.first() == Some(&"flat") && words.get(1) == Some(&"flat%") {
            in_table = true;
            continue;
        }
        if !in_table || words.len() < 6 {
            continue;
        }
        // Five columns, then the name, which may contain spaces
        // (`main.f /src/main.go:12`).
        let mut rest = line.trim_start();
        for _ in 0..5 {
            let end = rest.find(char::is_whitespace).ok_or("short row")?;
            rest = rest[end..].trim_start();
        }
        let name = rest
            .trim_end()
            .trim_end_matches(" (partial-inline)")
            .trim_end_matches(" (inline)");
        rows.push(TopRow {
            name: name.to_owned(),
            flat: parse_value(words[0])?,
            cum: parse_value(words[3])?,
        });
    }
    Ok(TopReport {
        total: total.ok_or("no totals line")?,
        rows,
    })
}

/// `1024B`, `-512B` or `0`.
fn parse_value(s: &str) -> Result<i64, String> {
    s.trim_end_matches('B')
        .parse()
        .map_err(|e| format!("bad value {s:?}: {e}"))
}

#[test]
fn parses_a_pprof_table() {
    let text = "File: heapgen\nType: inuse_space\nShowing nodes accounting for 1048272B, 100% of 1048272B total\n      flat  flat%   sum%        cum   cum%\n   442368B 42.20% 42.20%    442368B 42.20%  main.allocLarge\n  -120640B 11.51% 86.15%    120640B 11.51%  main.newBuf /src/main.go:45 (inline)\n         0     0%   100%       896B 0.085%  fmt.(*pp).doPrintf\n";
    let r = parse_top(text).unwrap();
    assert_eq!(r.total, 1048272);
    assert_eq!(
        r.rows,
        vec![
            TopRow {
                name: "main.allocLarge".into(),
                flat: 442368,
                cum: 442368
            },
            TopRow {
                name: "main.newBuf /src/main.go:45".into(),
                flat: -120640,
                cum: 120640
            },
            TopRow {
                name: "fmt.(*pp).doPrintf".into(),
                flat: 0,
                cum: 896
            },
        ]
    );
}

/// `leakwatch ARGS --json`: its table as [`TopRow`]s, to set beside
/// [`top`]'s, and the whole JSON document.
pub fn leakwatch_json(args: &[&str]) -> (Vec<TopRow>, Value) {
    let out = run_ok(leakwatch().args(args).arg("--json"));
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("bad JSON ({e}): {out}"));
    let rows = doc["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| TopRow {
            name: r["name"].as_str().expect("name").to_owned(),
            flat: r["flat"].as_i64().expect("flat"),
            cum: r["cum"].as_i64().expect("cum"),
        })
        .collect();
    (rows, doc)
}
