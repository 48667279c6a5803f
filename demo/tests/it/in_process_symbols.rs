//! leakwatch's symbolizer against jemalloc_pprof's own, in-process one.
//!
//! Built only with `--features symbolize-in-process` (scripts/test runs it
//! so): then the service names every frame itself, with the `backtrace`
//! crate, in its own process. The test strips those names, symbolizes the
//! bare addresses from the binary on disk, and requires the same function,
//! file and line for every frame of the demo binary, inlined frames included.

#![cfg(feature = "symbolize-in-process")]

use crate::common;

use std::time::Duration;

use common::Service;
use leakwatch_profile::symbolize;
use leakwatch_profile::{decode, Limits, Profile};

type Frames = Vec<(String, String, i64)>;

fn frames(p: &Profile, location: usize) -> Frames {
    p.locations[location]
        .lines
        .iter()
        .map(|l| {
            let f = p.functions.iter().find(|f| f.id == l.function_id).unwrap();
            (
                p.str(f.name).to_owned(),
                p.str(f.filename).to_owned(),
                l.line,
            )
        })
        .collect()
}

/// The profile as the default build serves it: addresses and mappings only.
fn strip(p: &Profile) -> Profile {
    let mut bare = p.clone();
    bare.functions.clear();
    for loc in &mut bare.locations {
        loc.lines.clear();
    }
    for m in &mut bare.mappings {
        m.has_functions = false;
        m.has_filenames = false;
        m.has_line_numbers = false;
        m.has_inline_frames = false;
    }
    bare
}

#[test]
fn same_names_as_in_process_symbolization() {
    let service = Service::start(&["--rate", "2000"]);
    std::thread::sleep(Duration::from_millis(1200));
    let in_process = decode(&service.get("/debug/pprof/heap"), &Limits::default()).unwrap();
    assert!(
        !in_process.functions.is_empty(),
        "the feature should name frames in-process"
    );

    let mut ours = strip(&in_process);
    let report = symbolize::symbolize(&mut ours, Some(common::binary()));
    assert!(report.symbolized > 0, "{report:?}");

    let main_file = in_process.mappings[0].filename;
    let main_ids: Vec<u64> = in_process
        .mappings
        .iter()
        .filter(|m| m.filename == main_file)
        .map(|m| m.id)
        .collect();
    let mut compared = 0;
    let mut inlined = 0;
    for (i, loc) in in_process.locations.iter().enumerate() {
        if !main_ids.contains(&loc.mapping_id) {
            continue; // libc and friends: named from the symbol table, loosely
        }
        let want = frames(&in_process, i);
        let got = frames(&ours, i);
        assert_eq!(got, want, "location {} at {:#x}", loc.id, loc.address);
        compared += 1;
        inlined += usize::from(want.len() > 1);
    }
    assert!(
        compared >= 10,
        "only {compared} locations in the demo binary"
    );
    assert!(inlined > 0, "no inlined frames were compared");
    let new_entry = "leakwatch_demo::cache::new_entry";
    assert!(
        (0..ours.locations.len()).any(|i| frames(&ours, i).iter().any(|f| f.0 == new_entry)),
        "{new_entry} not named"
    );
}
