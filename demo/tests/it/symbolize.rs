//! The demo's heap profile carries only addresses; leakwatch's symbolizer
//! names them from the binary, down to the cache's allocating line.

use crate::common;

use std::time::Duration;

use common::{cache_line, Service};
use leakwatch_profile::aggregate::{aggregate, Options};
use leakwatch_profile::symbolize::{self, Warning};
use leakwatch_profile::{decode, encode_gzip, Limits, Profile};

const NEW_ENTRY: &str = "leakwatch_demo::cache::new_entry";

fn leaky_profile() -> (Service, Profile) {
    let service = Service::start(&["--rate", "2000"]);
    // ~2 MiB of cache after a second: hundreds of samples at 32 KiB each.
    std::thread::sleep(Duration::from_millis(1200));
    let bytes = service.get("/debug/pprof/heap");
    let profile = decode(&bytes, &Limits::default()).expect("decode the demo's profile");
    (service, profile)
}

/// Bytes of samples whose stack passes through `function` at `line`.
fn bytes_at(profile: &Profile, function: &str, file_suffix: &str, line: i64) -> i64 {
    let wanted: Vec<u64> = profile
        .locations
        .iter()
        .filter(|loc| {
            loc.lines.iter().any(|l| {
                let f = profile.functions.iter().find(|f| f.id == l.function_id);
                f.is_some_and(|f| {
                    profile.str(f.name) == function
                        && profile.str(f.filename).ends_with(file_suffix)
                        && l.line == line
                })
            })
        })
        .map(|loc| loc.id)
        .collect();
    profile
        .samples
        .iter()
        .filter(|s| s.location_ids.iter().any(|id| wanted.contains(id)))
        .map(|s| s.values[0])
        .sum()
}

#[test]
fn demo_profile_has_addresses_only() {
    let (_service, profile) = leaky_profile();
    assert!(symbolize::needs_symbolization(&profile));
    assert!(
        profile.functions.is_empty(),
        "the default demo must not symbolize in-process"
    );
}

#[test]
fn names_the_cache_allocation_with_file_and_line() {
    let (_service, mut profile) = leaky_profile();
    let report = symbolize::symbolize(&mut profile, Some(common::binary()));
    assert!(report.symbolized > 0, "{report:?}");
    let line = cache_line("Vec::with_capacity(ENTRY_BYTES)");
    let leaked = bytes_at(&profile, NEW_ENTRY, "demo/src/cache.rs", line);
    let total: i64 = profile.samples.iter().map(|s| s.values[0]).sum();
    // The cache is most of what the service holds after a second of load.
    assert!(
        leaked * 2 > total,
        "new_entry at cache.rs:{line} holds {leaked} of {total} bytes"
    );
    // Inlined frames come as several lines of one location, innermost
    // first. In an optimized build the allocation inside Vec::with_capacity
    // is inlined into new_entry; unoptimized, only dependencies (built with
    // opt-level 2) inline, so ask just for some chain there.
    let chains: Vec<_> = profile
        .locations
        .iter()
        .filter(|l| l.lines.len() > 1)
        .collect();
    assert!(!chains.is_empty(), "no location has inlined frames");
    if !cfg!(debug_assertions) {
        let name = |l: &leakwatch_profile::Line| {
            let f = profile
                .functions
                .iter()
                .find(|f| f.id == l.function_id)
                .unwrap();
            profile.str(f.name)
        };
        let loc = chains
            .iter()
            .find(|loc| loc.lines.last().is_some_and(|l| name(l) == NEW_ENTRY))
            .expect("a location with frames inlined into new_entry");
        assert!(
            name(&loc.lines[0]).starts_with("alloc::"),
            "innermost {:?}",
            name(&loc.lines[0])
        );
    }
    // Demangled without the hash, mangled kept as the system name.
    let f = profile
        .functions
        .iter()
        .find(|f| profile.str(f.name) == NEW_ENTRY)
        .unwrap();
    assert!(
        profile.str(f.system_name).starts_with("_R")
            || profile.str(f.system_name).starts_with("_ZN")
    );
}

#[test]
fn flat_bytes_land_on_the_function_that_allocated_not_on_jemalloc() {
    let (_service, mut profile) = leaky_profile();
    symbolize::symbolize(&mut profile, Some(common::binary()));
    let table = aggregate(&profile, &Options::default()).unwrap();
    // Without the allocator frames dropped, every stack's leaf would be
    // jemalloc's `prof_backtrace_impl`, and it would top the table.
    assert_eq!(
        table.rows[0].function.as_deref(),
        Some(NEW_ENTRY),
        "{table:#?}"
    );
    assert!(!table.rows.iter().any(|r| r.name.starts_with("prof_")
        || r.name.contains("je_malloc")
        || r.name.starts_with("alloc::raw_vec::")));
    // The rule travels with the profile, so `go tool pprof` on a stored
    // profile prunes the same frames.
    let again = decode(&encode_gzip(&profile), &Limits::default()).unwrap();
    assert_eq!(
        again.str(again.drop_frames),
        symbolize::NATIVE_ALLOCATOR_FRAMES
    );
}

#[test]
fn wrong_binary_warns_and_leaves_addresses() {
    let (_service, mut profile) = leaky_profile();
    // Any other ELF file with a build id: the test executable itself.
    let other = std::env::current_exe().unwrap();
    let report = symbolize::symbolize(&mut profile, Some(&other));
    // Only the libraries (libc, named from their own paths) get names.
    assert!(report.unsymbolized > report.symbolized, "{report:?}");
    let mismatch = report
        .warnings
        .iter()
        .find(|w| matches!(w, Warning::BuildIdMismatch { .. }))
        .expect("a build id mismatch warning");
    let text = mismatch.to_string();
    assert!(text.contains(&other.display().to_string()), "{text}");
    let main = &profile.mappings[0];
    assert!(text.contains(profile.str(main.build_id)), "{text}");
    assert!(profile
        .locations
        .iter()
        .filter(|l| l.mapping_id == main.id)
        .all(|l| l.lines.is_empty()));
}
