//! Symbolization against a real binary: this test executable, whose own
//! functions are looked up at the addresses where the kernel mapped them.

use std::path::{Path, PathBuf};

use leakwatch_profile::aggregate::{aggregate, Options};
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

/// The C library this test process runs on, and two addresses in it: one
/// inside an exported function, and one in the middle of the widest stretch
/// of code that no exported symbol covers (internal functions such as
/// glibc's `clone3`, which every thread's stack starts with).
struct LibraryGap {
    path: PathBuf,
    build_id: String,
    /// The exported names at the function's address (aliases included).
    exported: Vec<String>,
    inside_export: u64,
    beyond_exports: u64,
}

/// `None` when no shared C library is mapped (a static build).
fn libc_gap() -> Option<LibraryGap> {
    use object::{ObjectSection, ObjectSymbol, ObjectSymbolTable};
    let maps = std::fs::read_to_string("/proc/self/maps").expect("read /proc/self/maps");
    let path = maps.lines().find_map(|line| {
        let path = PathBuf::from(line.split_whitespace().nth(5)?);
        let name = path.file_name()?.to_str()?;
        (name.starts_with("libc.so") || name.starts_with("libc-")).then_some(path)
    })?;
    let data = std::fs::read(&path).unwrap();
    let file = object::File::parse(&*data).unwrap();
    let table = file
        .symbol_table()
        .or_else(|| file.dynamic_symbol_table())
        .expect("the C library has symbols");
    let text = file
        .section_by_name(".text")
        .expect("the C library has code");
    let code = text.address()..text.address() + text.size();
    // (address, largest size, names) of the functions, by address.
    let mut symbols: Vec<(u64, u64, Vec<String>)> = Vec::new();
    let mut defined: Vec<_> = table
        .symbols()
        .filter(|s| {
            s.is_definition()
                && s.kind() == object::SymbolKind::Text
                && code.contains(&s.address())
                && !s.name().unwrap_or("").is_empty()
        })
        .collect();
    defined.sort_by_key(|s| s.address());
    for s in defined {
        let name = s.name().unwrap().to_owned();
        match symbols.last_mut() {
            Some((address, size, names)) if *address == s.address() => {
                *size = (*size).max(s.size());
                names.push(name);
            }
            _ => symbols.push((s.address(), s.size(), vec![name])),
        }
    }
    let (before, gap) = symbols
        .windows(2)
        .filter(|w| w[0].1 > 1 && w[1].0 > w[0].0 + w[0].1)
        .map(|w| (&w[0], w[1].0 - (w[0].0 + w[0].1)))
        .max_by_key(|&(_, gap)| gap)?;
    Some(LibraryGap {
        build_id: build_id(&path),
        path,
        exported: before.2.clone(),
        inside_export: before.0 + 1,
        beyond_exports: before.0 + before.1 + gap / 2,
    })
}

/// A profile as `jemalloc_pprof` writes it for a library: one whole-space
/// mapping of file addresses, with the library's path and build id; one
/// sample at each of `gap`'s two addresses.
fn profile_in_library(gap: &LibraryGap) -> Profile {
    let mut p = Profile::default();
    let ty = p.intern("inuse_space");
    let unit = p.intern("bytes");
    p.sample_types.push(ValueType { ty, unit });
    let filename = p.intern(&gap.path.to_string_lossy());
    let build_id = p.intern(&gap.build_id);
    p.mappings.push(Mapping {
        id: 1,
        memory_start: 0,
        memory_limit: u64::MAX,
        file_offset: 0,
        filename,
        build_id,
        ..Mapping::default()
    });
    for (id, address) in [(1, gap.inside_export), (2, gap.beyond_exports)] {
        p.locations.push(Location {
            id,
            mapping_id: 1,
            address,
            ..Location::default()
        });
        p.samples.push(Sample {
            location_ids: vec![id],
            values: vec![1000 * id as i64],
            labels: vec![],
        });
    }
    p
}

fn function_names(p: &Profile, location: usize) -> Vec<String> {
    p.locations[location]
        .lines
        .iter()
        .map(|l| {
            let f = p.functions.iter().find(|f| f.id == l.function_id).unwrap();
            p.str(f.system_name).to_owned()
        })
        .collect()
}

#[test]
fn a_library_address_past_every_exported_symbol_stays_an_address_of_the_library() {
    let Some(gap) = libc_gap() else {
        eprintln!("no shared C library is mapped: nothing to test");
        return;
    };
    let mut p = profile_in_library(&gap);
    // No debug files: only the library's own (exported) symbols.
    let report = symbolize::symbolize_with_debug_dirs(&mut p, None, &[]);
    assert_eq!(
        (report.symbolized, report.unsymbolized),
        (1, 1),
        "{report:?}"
    );
    let inside = function_names(&p, 0);
    assert!(
        inside.len() == 1 && gap.exported.contains(&inside[0]),
        "{inside:?} is not one of {:?}",
        gap.exported
    );
    // The nearest symbol before the address ends long before it: naming the
    // frame after it (as a nearest-symbol lookup would) is naming it wrong.
    assert!(
        p.locations[1].lines.is_empty(),
        "{:#x} is past the end of {:?}, yet was named {:?}",
        gap.beyond_exports,
        gap.exported,
        function_names(&p, 1)
    );
    // The tables name the frame after the library, as pprof does.
    let table = aggregate(&p, &Options::default()).unwrap();
    let library = gap.path.file_name().unwrap().to_string_lossy();
    let row = table
        .rows
        .iter()
        .find(|r| r.name == format!("[{library}]"))
        .unwrap_or_else(|| panic!("no row [{library}]: {:?}", table.rows));
    assert_eq!(row.flat, 2000);
}

#[test]
fn a_library_address_is_named_from_the_library_s_installed_debug_file() {
    use object::{ObjectSymbol, ObjectSymbolTable};
    let Some(gap) = libc_gap() else {
        eprintln!("no shared C library is mapped: nothing to test");
        return;
    };
    let Some(debug_file) = symbolize::DEBUG_DIRS.iter().find_map(|dir| {
        let path = Path::new(dir)
            .join(".build-id")
            .join(&gap.build_id[..2])
            .join(format!("{}.debug", &gap.build_id[2..]));
        path.is_file().then_some(path)
    }) else {
        eprintln!(
            "no debug file for {} (build id {}) is installed: nothing to test",
            gap.path.display(),
            gap.build_id
        );
        return;
    };
    let mut p = profile_in_library(&gap);
    let report = symbolize::symbolize(&mut p, None);
    assert_eq!(
        (report.symbolized, report.unsymbolized),
        (2, 0),
        "{report:?}"
    );
    // The outermost frame is the function whose code holds the address: a
    // symbol of the debug file's full table that covers it.
    let names = function_names(&p, 1);
    let outermost = names.last().unwrap();
    let data = std::fs::read(&debug_file).unwrap();
    let file = object::File::parse(&*data).unwrap();
    let covering: Vec<String> = file
        .symbol_table()
        .expect("a debug file has a full symbol table")
        .symbols()
        .filter(|s| {
            s.is_definition() && (s.address()..s.address() + s.size()).contains(&gap.beyond_exports)
        })
        .map(|s| s.name().unwrap().to_owned())
        .collect();
    // DWARF names a compiler's clone (`f.part.0`) after its function (`f`).
    assert!(
        covering
            .iter()
            .any(|c| c == outermost || c.starts_with(&format!("{outermost}."))),
        "{:#x} was named {names:?}; the symbols covering it are {covering:?}",
        gap.beyond_exports
    );
    assert!(!gap.exported.contains(outermost), "{outermost}");
}

/// A profile as an allocator dump gives it: a main binary that is not on
/// this machine, and `gap`'s library as `path` with `build_id` ("" for none,
/// as in `/proc/PID/maps`) mapped where a process would map it; one sample
/// at the run-time address of `gap.inside_export`.
fn dump_with_library(gap: &LibraryGap, path: &str, build_id: &str) -> Profile {
    use object::ObjectSegment;
    let data = std::fs::read(&gap.path).unwrap();
    let file = object::File::parse(&*data).unwrap();
    let in_file = file
        .segments()
        .find_map(|s| {
            let (offset, size) = s.file_range();
            let vaddr = gap.inside_export.checked_sub(s.address())?;
            (vaddr < size).then_some(offset + vaddr)
        })
        .expect("the export lies in a loadable segment");
    let base = 0x7f00_0000_0000u64;
    let mut p = Profile::default();
    let ty = p.intern("inuse_space");
    let unit = p.intern("bytes");
    p.sample_types.push(ValueType { ty, unit });
    let main = p.intern("/nonexistent/service");
    let lib = p.intern(path);
    let build_id = p.intern(build_id);
    p.mappings.push(Mapping {
        id: 1,
        memory_start: 0x5555_0000_0000,
        memory_limit: 0x5555_0010_0000,
        filename: main,
        ..Mapping::default()
    });
    p.mappings.push(Mapping {
        id: 2,
        memory_start: base,
        memory_limit: base + data.len() as u64,
        file_offset: 0,
        filename: lib,
        build_id,
        ..Mapping::default()
    });
    p.locations.push(Location {
        id: 1,
        mapping_id: 2,
        address: base + in_file,
        ..Location::default()
    });
    p.samples.push(Sample {
        location_ids: vec![1],
        values: vec![1000],
        labels: vec![],
    });
    p
}

#[test]
fn a_library_is_named_from_the_file_at_its_path_when_its_build_id_matches() {
    let Some(gap) = libc_gap() else {
        eprintln!("no shared C library is mapped: nothing to test");
        return;
    };
    let mut p = dump_with_library(&gap, &gap.path.to_string_lossy(), &gap.build_id);
    let report = symbolize::symbolize_with_debug_dirs(&mut p, None, &[]);
    assert_eq!(
        (report.symbolized, report.unsymbolized),
        (1, 0),
        "{report:?}"
    );
    let names = function_names(&p, 0);
    assert!(
        names.len() == 1 && gap.exported.contains(&names[0]),
        "{names:?} is not one of {:?}",
        gap.exported
    );
}

#[test]
fn a_library_frame_never_asks_for_the_binary() {
    let Some(gap) = libc_gap() else {
        eprintln!("no shared C library is mapped: nothing to test");
        return;
    };
    // Missing here, with a build id to look for: a warning that says so.
    let mut p = dump_with_library(&gap, "/nonexistent/lib/libfoo.so.1", "abcdef0123");
    let report = symbolize::symbolize_with_debug_dirs(&mut p, None, &[]);
    let [w @ Warning::Library { locations: 1, .. }] = &report.warnings[..] else {
        panic!("{:?}", report.warnings);
    };
    let text = w.to_string();
    assert!(
        text.contains("/nonexistent/lib/libfoo.so.1")
            && text.contains("not on this machine")
            && text.contains("[libfoo.so.1]")
            && !text.contains("--binary"),
        "{text}"
    );
    // Another copy here: named after neither.
    let mut p = dump_with_library(&gap, &gap.path.to_string_lossy(), "abcdef0123");
    let report = symbolize::symbolize_with_debug_dirs(&mut p, None, &[]);
    let [w @ Warning::Library { .. }] = &report.warnings[..] else {
        panic!("{:?}", report.warnings);
    };
    assert!(
        w.to_string().contains("not the one that ran") && !w.to_string().contains("--binary"),
        "{w}"
    );
    assert!(p.locations[0].lines.is_empty());
    // Without a build id (an allocator dump's maps), the frame stays the
    // library's, as pprof shows it, and no warning repeats on every file.
    let mut p = dump_with_library(&gap, &gap.path.to_string_lossy(), "");
    let report = symbolize::symbolize_with_debug_dirs(&mut p, None, &[]);
    assert_eq!(
        (report.symbolized, report.unsymbolized),
        (0, 1),
        "{report:?}"
    );
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);
}
