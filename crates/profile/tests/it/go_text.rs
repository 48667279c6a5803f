//! Go's text forms beyond heap: goroutine records with their runtime
//! frames, mutex and block (`--- mutex:`, `--- contention:`) profiles, and
//! Go 1.26's `goroutineleak` profile. `go tool pprof` agrees row for row on
//! real output of each but the last (crates/leakwatch/tests/it/oracle.rs);
//! here, the details and the defects.

use crate::common;

use common::*;
use leakwatch_profile::{decode, Limits, Profile};

fn read(text: &str) -> Result<Profile, String> {
    decode(text.as_bytes(), &Limits::default()).map_err(|e| e.to_string())
}

fn name_of(p: &Profile, location_id: u64) -> Option<&str> {
    let loc = &p.locations[location_id as usize - 1];
    let line = loc.lines.first()?;
    Some(p.str(p.functions[line.function_id as usize - 1].name))
}

/// The fixture is hand-made in Go's encoding (its README says why): the
/// machine's Go is 1.19 and the profile needs Go 1.26.
#[test]
fn goroutineleak_profile_says_what_it_is() {
    let p = decode_fixture("goroutineleak-go1.26-format.txt");
    assert_eq!(p.sample_type_names(), ["goroutineleak"]);
    let st = p.sample_types[0];
    assert_eq!(p.str(st.unit), "count");
    let pt = p.period_type.unwrap();
    assert_eq!((p.str(pt.ty), p.period), ("goroutineleak", 1));
    assert_eq!(total(&p, 0), 7);
    assert_eq!(p.samples.len(), 3);
    // Each stack is whole: the leaked goroutine's parking frame is the
    // leaf (a bare address without the binary), the leaking code is named.
    let s = &p.samples[0];
    assert_eq!(s.values, [4]);
    assert_eq!(s.location_ids.len(), 5);
    assert_eq!(
        p.locations[s.location_ids[0] as usize - 1].address,
        0x43a1b5
    );
    assert_eq!(name_of(&p, s.location_ids[0]), None);
    assert_eq!(name_of(&p, s.location_ids[3]), Some("main.fanOut.func1"));
    let s = &p.samples[1];
    assert_eq!(name_of(&p, s.location_ids[5]), Some("main.lockOrphan"));
    assert_eq!(
        name_of(&p, s.location_ids[4]),
        Some("sync.(*Mutex).lockSlow")
    );
    let labels: Vec<_> = s
        .labels
        .iter()
        .map(|l| (p.str(l.key), p.str(l.str)))
        .collect();
    assert_eq!(labels, [("job", "nightly")]);
    assert!(function_names(&p).contains("main.sendOrphan"));
}

const MUTEX: &str = "--- mutex:\n\
    cycles/second=2000000000\n\
    sampling period=5\n\
    3000 7 @ 0x4797c9 0x4be752 0x46ba61\n\
    #\t0x4797c8\tsync.(*Mutex).Unlock+0x28\t/go/src/sync/mutex.go:223\n\
    #\t0x4be751\tmain.holdLong+0x31\t\t/src/main.go:107\n\
    \n\
    1001 1 @ 0x4797c9 0x46ba61\n\
    #\t0x4797c8\tsync.(*Mutex).Unlock+0x28\t/go/src/sync/mutex.go:223\n";

#[test]
fn mutex_text_is_unsampled_like_pprof() {
    let p = read(MUTEX).unwrap();
    assert_eq!(p.sample_type_names(), ["contentions", "delay"]);
    assert_eq!(p.str(p.sample_types[1].unit), "nanoseconds");
    let pt = p.period_type.unwrap();
    assert_eq!((p.str(pt.ty), p.str(pt.unit)), ("contentions", "count"));
    assert_eq!(p.period, 5);
    // Counts times the period; cycles times the period over 2 GHz.
    assert_eq!(p.samples[0].values, [35, 7500]);
    assert_eq!(p.samples[1].values, [5, 2502]);
    // Every address is kept, the trailing runtime.goexit too.
    assert_eq!(p.samples[0].location_ids.len(), 3);
    assert_eq!(
        name_of(&p, p.samples[0].location_ids[0]),
        Some("sync.(*Mutex).Unlock")
    );
    assert_eq!(
        p.locations[p.samples[0].location_ids[0] as usize - 1].address,
        0x4797c8
    );
}

#[test]
fn block_text_has_no_sampling_period() {
    let p = read(
        "--- contention:\ncycles/second=1000000000\nms since reset=12\n\
         250 2 @ 0x47aed3 0x46ba61\n",
    )
    .unwrap();
    assert_eq!(p.sample_type_names(), ["contentions", "delay"]);
    assert_eq!(p.period, 1);
    assert_eq!(p.duration_nanos, 12_000_000);
    assert_eq!(p.samples[0].values, [2, 250]);
    // Without a clock rate the delay stays in cycles, as in pprof.
    let p = read("--- contention:\n250 2 @ 0x47aed3\n").unwrap();
    assert_eq!(p.samples[0].values, [2, 250]);
    // Gzipped like any profile.
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(MUTEX.as_bytes()).unwrap();
    let gz = gz.finish().unwrap();
    assert_eq!(
        decode(&gz, &Limits::default()).unwrap(),
        read(MUTEX).unwrap()
    );
}

#[test]
fn contention_defects_are_named_with_their_line() {
    let cases = [
        (
            "--- mutex:\ncycles/second=fast\n1 1 @ 0x1\n",
            "line 2: bad number in contention profile attribute \"cycles/second=fast\"",
        ),
        (
            "--- mutex:\ncycles/second=1\nformat=java\n",
            "line 3: unknown attribute in contention profile attribute \"format=java\"",
        ),
        (
            "--- contention:\ncycles/second=1\n1 1 @ 0x1\nten 1 @ 0x2\n",
            "line 4: bad cycle count in contention profile row \"ten 1 @ 0x2\"",
        ),
        (
            "--- contention:\n1 @ 0x1\n",
            "line 2: bad event count in contention profile row",
        ),
        (
            "--- contention:\n1 1 0x1\n",
            "line 2: missing `@` in contention profile row",
        ),
        (
            "--- contention:\n1 1 @ 0x1 0xZZ\n",
            "line 2: bad address \"0xZZ\"",
        ),
        (
            "--- mutex:\nsampling period=9223372036854775807\n1 2 @ 0x1\n",
            "line 3: event count times sampling period out of range",
        ),
    ];
    for (text, want) in cases {
        let e = read(text).unwrap_err();
        assert!(e.starts_with(want), "{text:?}: {e}");
    }
}

#[test]
fn hostile_contention_text_is_refused_or_bounded() {
    // Long rows of repeated addresses make one location per address.
    let stack: Vec<String> = (0..50_000).map(|i| format!("0x{:x}", i % 32 + 1)).collect();
    let p = read(&format!("--- contention:\n1 1 @ {}\n", stack.join(" "))).unwrap();
    assert_eq!(p.locations.len(), 32);
    // Truncations of a real profile never panic.
    for end in 0..MUTEX.len() {
        if MUTEX.is_char_boundary(end) {
            let _ = read(&MUTEX[..end]);
        }
    }
}
