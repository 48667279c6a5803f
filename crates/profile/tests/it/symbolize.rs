//! Symbolization against a real binary: this test executable, whose own
//! functions are looked up at the addresses where the kernel mapped them.

use std::path::{Path, PathBuf};

use leakwatch_profile::symbolize::{self, Warning};
use leakwatch_profile::{Line, Location, Mapping, Profile, Sample, ValueType};
use object::Object;

/// A function with a known name, file and line, kept out of line so it has
/// an address of its own.
#[inline(never)]
fn marker_function() -> u64 {
    std::hint::black_box(42)
}

/// Where the kernel mapped `address`: (start, end, file offset, path), from
/// /proc/self/maps.
fn mapping_of(address: u64) -> (u64, u64, u64, PathBuf) {
    let maps = std::fs::read_to_string("/proc/self/maps").expect("read /proc/self/maps");
    for line in maps.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (range, offset) = (fields[0], fields[2]);
        let (start, end) = range.split_once('-').unwrap();
        let start = u64::from_str_radix(start, 16).unwrap();
        let end = u64::from_str_radix(end, 16).unwrap();
        if (start..end).contains(&address) {
            let offset = u64::from_str_radix(offset, 16).unwrap();
            return (start, end, offset, PathBuf::from(fields[5]));
        }
    }
    panic!("{address:#x} is in no mapping of /proc/self/maps");
}

fn build_id(path: &Path) -> String {
    let data = std::fs::read(path).unwrap();
    let file = object::File::parse(&*data).unwrap();
    let id = file
        .build_id()
        .unwrap()
        .expect("the test binary has a build id");
    id.iter().map(|b| format!("{b:02x}")).collect()
}

/// A one-sample profile whose only location is inside `marker_function`,
/// in a mapping as a profiler reading /proc/PID/maps would record it.
fn profile_at_marker(build_id: &str) -> (Profile, PathBuf) {
    let address = marker_function as *const () as u64 + 1;
    let (start, end, offset, path) = mapping_of(address);
    let mut p = Profile::default();
    let ty = p.intern("inuse_space");
    let unit = p.intern("bytes");
    p.sample_types.push(ValueType { ty, unit });
    let filename = p.intern(&path.to_string_lossy());
    let build_id = p.intern(build_id);
    p.mappings.push(Mapping {
        id: 1,
        memory_start: start,
        memory_limit: end,
        file_offset: offset,
        filename,
        build_id,
        ..Mapping::default()
    });
    p.locations.push(Location {
        id: 1,
        mapping_id: 1,
        address,
        ..Location::default()
    });
    p.samples.push(Sample {
        location_ids: vec![1],
        values: vec![1024],
        labels: vec![],
    });
    (p, path)
}

fn names(p: &Profile) -> Vec<(String, String, i64)> {
    p.locations[0]
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

fn marker_line() -> i64 {
    let source = include_str!("symbolize.rs");
    let i = source
        .lines()
        .position(|l| l.contains("std::hint::black_box(42)"))
        .unwrap();
    i as i64 + 1
}

#[test]
fn names_a_function_in_a_position_independent_mapping() {
    let exe = std::env::current_exe().unwrap();
    let (mut p, _) = profile_at_marker(&build_id(&exe));
    let report = symbolize::symbolize_if_needed(&mut p, Some(&exe));
    assert_eq!(report.symbolized, 1, "{report:?}");
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    let frames = names(&p);
    let (name, file, line) = frames.last().unwrap();
    assert_eq!(name, "it::symbolize::marker_function");
    assert!(
        file.ends_with("crates/profile/tests/it/symbolize.rs"),
        "{file}"
    );
    // The location is one byte into the function, so its line is the
    // function's first; the body line is the other one a compiler may give.
    assert!(
        (marker_line() - 3..=marker_line()).contains(line),
        "line {line}"
    );
    assert!(p.mappings[0].has_functions && p.mappings[0].has_line_numbers);
}

#[test]
fn names_from_the_mapping_path_when_no_binary_is_given() {
    let exe = std::env::current_exe().unwrap();
    let (mut p, path) = profile_at_marker(&build_id(&exe));
    assert!(path.is_absolute());
    let report = symbolize::symbolize(&mut p, None);
    assert_eq!(report.symbolized, 1, "{report:?}");
    assert_eq!(
        names(&p).last().unwrap().0,
        "it::symbolize::marker_function"
    );
}

#[test]
fn mismatched_build_id_warns_with_both_ids() {
    let exe = std::env::current_exe().unwrap();
    let (mut p, _) = profile_at_marker("00112233445566778899aabbccddeeff00112233");
    let report = symbolize::symbolize(&mut p, Some(&exe));
    assert_eq!((report.symbolized, report.unsymbolized), (0, 1));
    let [w @ Warning::BuildIdMismatch { .. }] = &report.warnings[..] else {
        panic!("{:?}", report.warnings);
    };
    let text = w.to_string();
    assert!(text.contains(&exe.display().to_string()), "{text}");
    assert!(text.contains(&build_id(&exe)), "{text}");
    assert!(
        text.contains("00112233445566778899aabbccddeeff00112233"),
        "{text}"
    );
    assert!(p.locations[0].lines.is_empty());
}

#[test]
fn missing_binary_warns_and_keeps_addresses() {
    let (mut p, _) = profile_at_marker("");
    let before = p.clone();
    let report = symbolize::symbolize(&mut p, Some(Path::new("/nonexistent/service")));
    let [w @ Warning::Unreadable { .. }] = &report.warnings[..] else {
        panic!("{:?}", report.warnings);
    };
    assert!(w.to_string().contains("/nonexistent/service"), "{w}");
    assert_eq!(p.locations, before.locations);
}

#[test]
fn relative_mapping_path_without_binary_asks_for_one() {
    let (mut p, _) = profile_at_marker("abcd");
    p.strings[p.mappings[0].filename as usize] = "target/release/service".into();
    let report = symbolize::symbolize(&mut p, None);
    let [w @ Warning::NoBinary { locations: 1, .. }] = &report.warnings[..] else {
        panic!("{:?}", report.warnings);
    };
    let text = w.to_string();
    assert!(
        text.contains("target/release/service") && text.contains("--binary"),
        "{text}"
    );
}

#[test]
fn symbolized_profiles_pass_through_untouched() {
    let exe = std::env::current_exe().unwrap();
    let (mut p, _) = profile_at_marker("");
    let name = p.intern("main.newEntry");
    p.functions.push(leakwatch_profile::Function {
        id: 1,
        name,
        ..Default::default()
    });
    p.locations[0].lines = vec![Line {
        function_id: 1,
        line: 27,
        column: 0,
    }];
    let before = p.clone();
    assert!(!symbolize::needs_symbolization(&p));
    let report = symbolize::symbolize_if_needed(&mut p, Some(&exe));
    assert_eq!(report, symbolize::Report::default());
    assert_eq!(p, before);
}
