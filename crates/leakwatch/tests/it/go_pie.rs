//! Go's text profiles of a position-independent binary. Go names every
//! frame of a `?debug=1` profile in `#` comment lines; a text profile
//! without them (a legacy one, or one whose comments were lost) holds only
//! run-time addresses, and Go text never carries a memory map to say where
//! the binary was loaded. `--binary` must still name them right — with the
//! names Go itself wrote as the oracle — or say why it cannot.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::support::pprof::leakwatch_json;
use crate::support::scenario::{pie_binary, Service};
use crate::support::{http, leakwatch, scratch};

/// A heap profile of the PIE scenario service, as Go wrote it and with its
/// comment lines (the names) removed.
fn named_and_bare(dir: &std::path::Path) -> (String, String) {
    let svc = Service::start_binary(&pie_binary(), "mapcache", &["-rate", "4000"]);
    // Heap profiles sample one allocation per 512 KiB and show the heap as
    // of the last collection (`gc=1` forces one): wait until the leak's own
    // site has been sampled.
    let mut named = String::new();
    for _ in 0..40 {
        std::thread::sleep(Duration::from_millis(500));
        named = String::from_utf8(http::get(&format!(
            "{}/debug/pprof/heap?debug=1&gc=1",
            svc.url
        )))
        .expect("a text profile");
        if named.contains("main.newEntry") {
            break;
        }
    }
    let bare: String = named
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(
        !bare.contains("main."),
        "the bare profile must hold addresses only"
    );
    let (n, b) = (dir.join("named.txt"), dir.join("bare.txt"));
    std::fs::write(&n, &named).unwrap();
    std::fs::write(&b, &bare).unwrap();
    (n.display().to_string(), b.display().to_string())
}

fn flat_by_function(rows: &[crate::support::pprof::TopRow]) -> BTreeMap<String, i64> {
    rows.iter()
        .filter(|r| r.flat != 0)
        .map(|r| (r.name.clone(), r.flat))
        .collect()
}

#[test]
fn a_pie_binary_names_a_text_profile_s_bare_addresses_as_go_named_them() {
    let dir = scratch();
    let (named, bare) = named_and_bare(dir.path());
    let bin = pie_binary();
    let bin = bin.to_str().unwrap();

    let (go_rows, _) = leakwatch_json(&["top", "--nodecount", "1000", &named]);
    let (our_rows, doc) = leakwatch_json(&["top", "--nodecount", "1000", "--binary", bin, &bare]);
    let go_flat = flat_by_function(&go_rows);
    assert!(
        go_flat.contains_key("main.newEntry"),
        "the service's own allocation is in Go's names: {go_flat:?}"
    );
    assert_eq!(
        flat_by_function(&our_rows),
        go_flat,
        "flat bytes per function, from addresses and the binary vs Go's own names"
    );
    // Every function Go named carries the same cumulative bytes (the bare
    // stacks may add Go's outermost `runtime.goexit`, which Go's text omits).
    for row in &go_rows {
        let ours = our_rows.iter().find(|r| r.name == row.name);
        assert_eq!(ours.map(|r| r.cum), Some(row.cum), "cum of {}", row.name);
    }
    assert_eq!(doc["total"], leakwatch_json(&["top", &named]).1["total"]);
}

#[test]
fn a_wrong_pie_binary_leaves_addresses_bare_and_says_why() {
    let dir = scratch();
    let (_, bare) = named_and_bare(dir.path());
    // Another position-independent binary: this test program.
    let wrong = std::env::current_exe().unwrap();
    let out = leakwatch()
        .args(["top", "--json", "--binary"])
        .arg(&wrong)
        .arg(&bare)
        .output()
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("position-independent") && stderr.contains("bare addresses"),
        "warning: {stderr}"
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for row in doc["rows"].as_array().unwrap() {
        let name = row["name"].as_str().unwrap();
        assert!(
            !name.starts_with("main.") && !name.starts_with("runtime."),
            "no name may come from the wrong binary: {name}"
        );
    }
}
