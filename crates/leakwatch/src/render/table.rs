//! The `top`/`diff` table: pprof-like text in human units, and the `--json`
//! document described in docs/json.md.

use std::fmt::Write as _;

use leakwatch_profile::aggregate::{Granularity, Row, Table};
use serde::Serialize;

use crate::units::format_bytes;

/// Whether the table is a profile's or a diff's; it changes the header, the
/// signs and what the percentages are relative to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `leakwatch top`.
    Top,
    /// `leakwatch diff`.
    Diff,
}

/// Formats one value in the table's unit: bytes in binary units, counts and
/// anything else as integers. Diffs sign every nonzero value.
pub fn format_value(value: i64, unit: &str, kind: Kind) -> String {
    let body = if unit == "bytes" {
        format_bytes(value)
    } else {
        value.to_string()
    };
    if kind == Kind::Diff && value > 0 {
        format!("+{body}")
    } else {
        body
    }
}

fn percent(value: i64, total: i64) -> String {
    if total == 0 {
        return "-".to_owned();
    }
    format!("{:.2}%", value as f64 * 100.0 / total as f64)
}

fn what(by: Granularity, n: usize) -> String {
    let noun = match by {
        Granularity::Function => "function",
        Granularity::Line => "line",
        Granularity::File => "file",
        Granularity::Stack => "stack",
    };
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

/// The text table: a header with the totals, then the first `nodecount`
/// rows in pprof's columns (`flat flat% sum% cum cum%`, name). For `top`
/// the percentages are of the total, as pprof shows them. For a diff they
/// are of the growth — the sum of every row's increase — so a person reads
/// "this row is 94% of what grew" even when the net change is zero or
/// negative; pprof's shares of the base total (17215% when the base was
/// small) stay in `--json`'s raw numbers.
pub fn text(table: &Table, kind: Kind, nodecount: usize) -> String {
    let unit = table.unit.as_str();
    let v = |x: i64| format_value(x, unit, kind);
    let shown = table.rows.len().min(nodecount);
    let mut out = String::new();
    let denominator = match kind {
        Kind::Top => {
            let _ = writeln!(
                out,
                "{}: total {}; showing {} of {}",
                table.sample_type,
                format_value(table.total, unit, Kind::Top),
                shown,
                what(table.by, table.rows.len()),
            );
            table.total
        }
        Kind::Diff => {
            let growth = growth(table);
            let _ =
                writeln!(
                out,
                "{}: base {} → new {} ({}); showing {} of {} that changed, largest growth first",
                table.sample_type,
                format_value(table.base_total, unit, Kind::Top),
                format_value(table.total, unit, Kind::Top),
                format_value(table.total.saturating_sub(table.base_total), unit, Kind::Diff),
                shown,
                what(table.by, table.rows.len()),
            );
            let _ = writeln!(
                out,
                "flat%, sum% and cum% are shares of the growth: {}, the sum of every increase",
                format_value(growth, unit, Kind::Diff),
            );
            growth
        }
    };
    let rows = &table.rows[..shown];
    let cells: Vec<[String; 5]> = rows
        .iter()
        .scan(0i64, |sum, r| {
            *sum = sum.saturating_add(r.flat);
            Some([
                v(r.flat),
                percent(r.flat, denominator),
                percent(*sum, denominator),
                v(r.cum),
                percent(r.cum, denominator),
            ])
        })
        .collect();
    let header = ["flat", "flat%", "sum%", "cum", "cum%"];
    let mut widths = header.map(str::len);
    for c in &cells {
        for (w, cell) in widths.iter_mut().zip(c) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |out: &mut String, c: [&str; 5], name: &str| {
        for (i, (cell, w)) in c.iter().zip(widths).enumerate() {
            let sep = if i == 0 { "" } else { " " };
            let _ = write!(out, "{sep}{cell:>w$}");
        }
        let _ = if name.is_empty() {
            writeln!(out)
        } else {
            writeln!(out, "  {name}")
        };
    };
    line(&mut out, header, "");
    for (c, r) in cells.iter().zip(rows) {
        line(&mut out, [&c[0], &c[1], &c[2], &c[3], &c[4]], &r.name);
    }
    out
}

/// The sum of the rows' increases (positive flat changes): what grew,
/// whatever shrank elsewhere.
fn growth(table: &Table) -> i64 {
    table
        .rows
        .iter()
        .map(|r| r.flat.max(0))
        .fold(0i64, i64::saturating_add)
}

/// A row of the `--json` output.
#[derive(Debug, Serialize)]
struct JsonRow<'a> {
    name: &'a str,
    function: Option<&'a str>,
    file: Option<&'a str>,
    line: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stack: Option<&'a [String]>,
    flat: i64,
    cum: i64,
}

/// The `--json` document of `top` and `diff`.
#[derive(Debug, Serialize)]
struct JsonTable<'a> {
    sample_type: &'a str,
    unit: &'a str,
    total: i64,
    base_total: i64,
    rows: Vec<JsonRow<'a>>,
}

/// The `--json` output (docs/json.md): all rows unless `nodecount` limits
/// them; the numbers are pprof's, unrounded.
/// Rows of `--by stack` also carry `stack`, the functions leaf first.
pub fn json<'a>(table: &'a Table, nodecount: Option<usize>) -> String {
    let n = nodecount.unwrap_or(usize::MAX).min(table.rows.len());
    let stacks = table.by == Granularity::Stack;
    let row = |r: &'a Row| JsonRow {
        name: &r.name,
        function: r.function.as_deref(),
        file: r.file.as_deref(),
        line: r.line,
        stack: stacks.then_some(r.stack.as_slice()),
        flat: r.flat,
        cum: r.cum,
    };
    let doc = JsonTable {
        sample_type: &table.sample_type,
        unit: &table.unit,
        total: table.total,
        base_total: table.base_total,
        rows: table.rows[..n].iter().map(row).collect(),
    };
    // Serializing plain strings and integers cannot fail.
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, flat: i64, cum: i64) -> Row {
        Row {
            name: name.into(),
            function: Some(name.into()),
            file: Some("/src/main.go".into()),
            line: None,
            stack: Vec::new(),
            flat,
            cum,
        }
    }

    fn table() -> Table {
        Table {
            sample_type: "inuse_space".into(),
            unit: "bytes".into(),
            by: Granularity::Function,
            total: 3 << 20,
            base_total: 0,
            rows: vec![
                row("main.newEntry", 2 << 20, 2 << 20),
                row("main.(*cache).get", 1 << 20, 3 << 20),
                row("runtime.main", 0, 3 << 20),
            ],
        }
    }

    #[test]
    fn top_text_table() {
        insta::assert_snapshot!(text(&table(), Kind::Top, 10));
    }

    #[test]
    fn top_text_table_is_cut_at_nodecount() {
        let t = text(&table(), Kind::Top, 2);
        assert!(
            t.starts_with("inuse_space: total 3.0 MiB; showing 2 of 3 functions\n"),
            "{t}"
        );
        assert!(!t.contains("runtime.main"), "{t}");
    }

    #[test]
    fn diff_text_table_signs_values() {
        let mut t = table();
        t.base_total = 1 << 20;
        t.rows[2].cum = -(1 << 10);
        t.rows[2].flat = -(1 << 10);
        insta::assert_snapshot!(text(&t, Kind::Diff, 10));
    }

    #[test]
    fn diff_shares_are_of_the_growth_even_when_the_net_change_is_negative() {
        let mut t = table();
        t.base_total = 10 << 20;
        t.total = 9 << 20;
        // +3 MiB in two rows, -4 MiB in one: net -1 MiB.
        t.rows[0].flat = 2 << 20;
        t.rows[1].flat = 1 << 20;
        t.rows[2].flat = -(4 << 20);
        t.rows[2].cum = -(4 << 20);
        let text = text(&t, Kind::Diff, 10);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].contains("(-1.0 MiB)"), "{text}");
        assert!(
            lines[1].contains("+3.0 MiB, the sum of every increase"),
            "{text}"
        );
        let newentry: Vec<&str> = lines[3].split_whitespace().collect();
        assert_eq!(
            &newentry[..4],
            ["+2.0", "MiB", "66.67%", "66.67%"],
            "{text}"
        );
        let runtime: Vec<&str> = lines[5].split_whitespace().collect();
        assert_eq!(&runtime[2..4], ["-133.33%", "-33.33%"], "{text}");
    }

    #[test]
    fn counts_are_integers() {
        assert_eq!(format_value(1234, "count", Kind::Top), "1234");
        assert_eq!(format_value(12, "count", Kind::Diff), "+12");
        assert_eq!(format_value(-12, "count", Kind::Diff), "-12");
        assert_eq!(format_value(0, "bytes", Kind::Diff), "0 B");
    }

    #[test]
    fn json_shape_is_the_documented_one() {
        let j: serde_json::Value = serde_json::from_str(&json(&table(), Some(1))).unwrap();
        assert_eq!(
            j,
            serde_json::json!({
                "sample_type": "inuse_space", "unit": "bytes", "total": 3 << 20, "base_total": 0,
                "rows": [{"name": "main.newEntry", "function": "main.newEntry",
                          "file": "/src/main.go", "line": null,
                          "flat": 2 << 20, "cum": 2 << 20}]
            })
        );
    }
}
