//! Naming the frames of profiles that carry only addresses.
//!
//! `jemalloc_pprof` without its `symbolize` feature, and many C and C++
//! profilers, write each location as an instruction address inside a
//! mapping (a binary or library) and leave the function names to the reader.
//! This module reads them from the binary's DWARF debug information (symbol
//! table as a fallback), with inlined frames and demangled Rust and C++
//! names, and adds them to the profile.
//!
//! The binary must be the very one that ran: when the mapping and the file
//! both have a GNU build id they must be equal, or nothing is named and a
//! [`Warning`] says why. Nothing here fails: a profile that cannot be
//! symbolized stays usable, with addresses for names.
//!
//! ```no_run
//! use leakwatch_profile::{decode, symbolize, Limits};
//! let mut profile = decode(&std::fs::read("heap.pb.gz").unwrap(), &Limits::default()).unwrap();
//! let report = symbolize::symbolize_if_needed(&mut profile, Some("target/release/service".as_ref()));
//! for warning in &report.warnings {
//!     eprintln!("warning: {warning}");
//! }
//! ```
//!
//! # Addresses
//!
//! A location's address is turned into the address the ELF file's symbols
//! and DWARF use the way pprof does it: a mapping spanning the whole address
//! space at offset 0 (what `jemalloc_pprof` writes) means the address is
//! already a file address; otherwise `address - memory_start + file_offset`
//! is an offset in the file, and the loadable segment holding that offset
//! gives its virtual address — which handles position-independent
//! executables and shared libraries loaded anywhere. Addresses are used as
//! they are: profile.proto lets non-leaf addresses point inside the call
//! instruction, and producers (jemalloc_pprof, Go, perf) already subtract one
//! from return addresses, so subtracting again could name the wrong line.
//!
//! # Names
//!
//! DWARF names a function, its inlined callees and lines wherever it covers
//! the address. Without DWARF, a symbol names the address only when the
//! address lies within the symbol's size: a stripped library (every
//! distribution's `libc.so.6`) keeps only its exported symbols, and the one
//! before an internal function such as `clone3` is some unrelated export
//! (`__xmknodat`), hundreds of bytes short of it. Such a frame stays a bare
//! address, which tables show after its library (`[libc.so.6]`), as pprof
//! does. When a library has no DWARF, its separate debug file is used if
//! installed where gdb and perf look for it, by build id, under
//! [`DEBUG_DIRS`] (`/usr/lib/debug/.build-id/ab/cdef….debug`, installed by
//! packages such as Debian's `libc6-dbg`): then `clone3` is `clone3`.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use object::{Object, ObjectKind, ObjectSegment, ObjectSymbol, ObjectSymbolTable};

use crate::model::{Function, Line, Mapping, Profile, StrIdx};

/// Something symbolization could not do. The profile is still valid; the
/// frames concerned keep their bare addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Warning {
    /// The binary given is not the one the profile was taken from.
    BuildIdMismatch {
        /// The binary that was given.
        binary: PathBuf,
        /// Its build id.
        binary_build_id: String,
        /// The mapping's file name in the profile.
        mapping: String,
        /// The build id the profile records for it.
        profile_build_id: String,
    },
    /// The binary could not be read or parsed.
    Unreadable {
        /// The binary.
        binary: PathBuf,
        /// Why.
        reason: String,
    },
    /// Frames stay bare addresses because the binary is position-independent,
    /// the profile has no memory map saying where it was loaded, and no load
    /// address names its stacks' outermost frames.
    UnknownLoadAddress {
        /// The binary.
        binary: PathBuf,
        /// How many locations stay unnamed.
        locations: usize,
    },
    /// Frames of a shared library stay bare addresses: the file at its path
    /// is missing, unreadable, or not the one that ran.
    Library {
        /// The library's path in the profile.
        library: String,
        /// Why, e.g. "it is not on this machine".
        reason: String,
        /// How many locations stay unnamed.
        locations: usize,
    },
    /// Frames stay bare addresses because no binary was given for them and
    /// the mapping's own path does not lead to a matching file.
    NoBinary {
        /// The mapping's file name in the profile.
        mapping: String,
        /// The build id the profile records for it ("" when none).
        profile_build_id: String,
        /// How many locations stay unnamed.
        locations: usize,
    },
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::BuildIdMismatch {
                binary,
                binary_build_id,
                mapping,
                profile_build_id,
            } => write!(
                f,
                "{} has build id {binary_build_id}, but the profile's {} has build id \
                 {profile_build_id}: it is not the binary that ran, so its frames stay \
                 unsymbolized (pass the matching binary with --binary)",
                binary.display(),
                or_unnamed(mapping),
            ),
            Warning::Unreadable { binary, reason } => write!(
                f,
                "cannot symbolize with {}: {reason}; frames stay unsymbolized",
                binary.display()
            ),
            Warning::UnknownLoadAddress { binary, locations } => write!(
                f,
                "{} is position-independent and the profile has no memory map, so where it \
                 was loaded is unknown: {locations} frame(s) stay bare addresses (take the \
                 profile as protobuf, e.g. /debug/pprof/heap without debug=1)",
                binary.display()
            ),
            Warning::Library {
                library,
                reason,
                locations,
            } => write!(
                f,
                "{locations} frame(s) in the library {} stay bare addresses: {reason} \
                 (libraries are named from the file at their path; they show as [{}])",
                or_unnamed(library),
                Path::new(library)
                    .file_name()
                    .map_or(std::borrow::Cow::Borrowed("?"), |n| n.to_string_lossy())
            ),
            Warning::NoBinary {
                mapping,
                profile_build_id,
                locations,
            } => {
                write!(
                    f,
                    "{locations} frame(s) in {} are bare addresses",
                    or_unnamed(mapping)
                )?;
                if !profile_build_id.is_empty() {
                    write!(f, " (build id {profile_build_id})")?;
                }
                write!(
                    f,
                    "; pass the binary that ran with --binary PATH to name them"
                )
            }
        }
    }
}

fn or_unnamed(mapping: &str) -> &str {
    if mapping.is_empty() {
        "unnamed mapping"
    } else {
        mapping
    }
}

/// What [`symbolize`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Locations that got names.
    pub symbolized: usize,
    /// Locations that needed names and still have none.
    pub unsymbolized: usize,
    /// Why some stayed unnamed.
    pub warnings: Vec<Warning>,
}

/// Whether any location has an address but no source lines.
pub fn needs_symbolization(profile: &Profile) -> bool {
    profile.locations.iter().any(needs_lines)
}

fn needs_lines(loc: &crate::model::Location) -> bool {
    loc.lines.is_empty() && loc.address != 0
}

/// [`symbolize`] when some location lacks names; otherwise does nothing, so
/// an already symbolized profile (every Go profile) passes through untouched.
pub fn symbolize_if_needed(profile: &mut Profile, binary: Option<&Path>) -> Report {
    if needs_symbolization(profile) {
        symbolize(profile, binary)
    } else {
        Report::default()
    }
}

/// [`symbolize_if_needed`] for a profile kept as bytes too (a recording
/// stores what the endpoint served): when names were added, the bytes are
/// re-encoded (gzipped protobuf) so they carry them; otherwise they are
/// returned as they came.
pub fn symbolize_encoded(
    bytes: Vec<u8>,
    profile: &mut Profile,
    binary: Option<&Path>,
) -> (Vec<u8>, Report) {
    let report = symbolize_if_needed(profile, binary);
    if report.symbolized > 0 {
        (crate::encode_gzip(profile), report)
    } else {
        (bytes, report)
    }
}

/// Names the address-only locations of `profile`.
///
/// `binary`, when given, is used for the profile's main mapping (the first
/// one, by pprof's convention), for a mapping with the same file name, and
/// for the whole profile when it has no mappings. Any other mapping is named
/// from its own path when that file exists and its build id matches the
/// profile's (a library on the same machine). Locations that already have
/// lines are left as they are.
pub fn symbolize(profile: &mut Profile, binary: Option<&Path>) -> Report {
    symbolize_with_debug_dirs(profile, binary, DEBUG_DIRS)
}

/// [`symbolize`], looking for the separate debug files of binaries without
/// DWARF under `debug_dirs` rather than [`DEBUG_DIRS`] (none when empty).
pub fn symbolize_with_debug_dirs(
    profile: &mut Profile,
    binary: Option<&Path>,
    debug_dirs: &[&str],
) -> Report {
    let mut report = Report::default();
    let mut names = Names::new(profile);

    // Which locations each mapping would name; mapping id 0 collects the
    // locations without a mapping.
    let mut pending: HashMap<u64, Vec<usize>> = HashMap::new();
    for (i, loc) in profile.locations.iter().enumerate() {
        if needs_lines(loc) {
            pending.entry(loc.mapping_id).or_default().push(i);
        }
    }
    let mut mapping_ids: Vec<u64> = pending.keys().copied().collect();
    mapping_ids.sort_unstable();

    // A binary is parsed at most once, however many mappings use it.
    let mut opened: HashMap<PathBuf, Result<Binary, String>> = HashMap::new();
    for mapping_id in mapping_ids {
        let locations = &pending[&mapping_id];
        let mapping = profile
            .mappings
            .iter()
            .position(|m| m.id == mapping_id)
            .map(|i| (i, profile.mappings[i].clone()));
        let mapping_name = mapping
            .as_ref()
            .map_or("", |(_, m)| profile.str(m.filename))
            .to_owned();
        let profile_build_id = mapping
            .as_ref()
            .map_or("", |(_, m)| profile.str(m.build_id))
            .to_owned();

        // Frames of the main binary are named from --binary; a library's
        // from the file at its path, so the advice differs.
        let library = mapping.as_ref().is_some_and(|(i, _)| !is_main(profile, *i));
        let unnamed = |why: String| {
            if library {
                Warning::Library {
                    library: mapping_name.clone(),
                    reason: why,
                    locations: locations.len(),
                }
            } else {
                Warning::NoBinary {
                    mapping: mapping_name.clone(),
                    profile_build_id: profile_build_id.clone(),
                    locations: locations.len(),
                }
            }
        };

        let candidate = choose_binary(profile, mapping.as_ref(), binary);
        let Some((path, given)) = candidate else {
            report.unsymbolized += locations.len();
            // A library without a build id (allocator dumps copy
            // /proc/PID/maps, which has none) cannot be checked against
            // this machine's copy, and nothing the user can pass would
            // change that: its frames show as `[libc.so.6]`, as pprof shows
            // them, without a warning on every file.
            if !(library && profile_build_id.is_empty()) {
                let why = if Path::new(&mapping_name).is_file() {
                    "its path is not absolute".to_owned()
                } else {
                    "it is not on this machine".to_owned()
                };
                report.warnings.push(unnamed(why));
            }
            continue;
        };
        let bin = opened
            .entry(path.clone())
            .or_insert_with(|| Binary::open(&path, debug_dirs));
        let bin = match bin {
            Ok(bin) => bin,
            Err(reason) => {
                report.unsymbolized += locations.len();
                if given {
                    report.warnings.push(Warning::Unreadable {
                        binary: path,
                        reason: reason.clone(),
                    });
                } else {
                    report.warnings.push(unnamed(format!(
                        "this machine's copy cannot be read: {reason}"
                    )));
                }
                continue;
            }
        };
        // A binary without a build id cannot prove it is the one that ran,
        // and a wrong binary gives confidently wrong names: refuse it too.
        let bin_id = bin.build_id.as_deref().unwrap_or("(none)");
        {
            if !profile_build_id.is_empty() && !profile_build_id.eq_ignore_ascii_case(bin_id) {
                report.unsymbolized += locations.len();
                report.warnings.push(if given {
                    Warning::BuildIdMismatch {
                        binary: path,
                        binary_build_id: bin_id.to_owned(),
                        mapping: mapping_name,
                        profile_build_id,
                    }
                } else {
                    unnamed(format!(
                        "this machine's copy has build id {bin_id}, not the profile's \
                         {profile_build_id}: it is not the one that ran"
                    ))
                });
                continue;
            }
        }

        let bias = if bin.needs_load_address(mapping.as_ref().map(|(_, m)| m)) {
            match load_bias(bin, profile, locations) {
                Some(bias) => bias,
                None => {
                    report.unsymbolized += locations.len();
                    report.warnings.push(Warning::UnknownLoadAddress {
                        binary: path,
                        locations: locations.len(),
                    });
                    continue;
                }
            }
        } else {
            0
        };

        let mut any_inline = false;
        let mut named = 0;
        for &i in locations {
            let address = profile.locations[i].address.wrapping_sub(bias);
            let Some(file_address) = bin.file_address(mapping.as_ref().map(|(_, m)| m), address)
            else {
                continue;
            };
            let frames = bin.frames(file_address);
            if frames.is_empty() {
                continue;
            }
            any_inline |= frames.len() > 1;
            profile.locations[i].lines = frames
                .into_iter()
                .map(|frame| Line {
                    function_id: names.function(profile, &frame),
                    line: frame.line,
                    column: 0,
                })
                .collect();
            named += 1;
        }
        report.symbolized += named;
        report.unsymbolized += locations.len() - named;
        if let Some((index, _)) = mapping {
            let m = &mut profile.mappings[index];
            if named > 0 {
                m.has_functions = true;
                m.has_filenames |= bin.has_dwarf;
                m.has_line_numbers |= bin.has_dwarf;
                m.has_inline_frames |= any_inline;
            }
        }
    }
    // Profiles of native code carry the allocator's own frames above the
    // code that allocated (jemalloc's profiling hooks, Rust's allocation
    // shims, a Vec's growth), so every stack's leaf would be
    // `prof_backtrace_impl`. pprof solves the same problem for Go's legacy
    // heap profiles with `drop_frames`; set it likewise, unless the profile
    // has its own, so that `top`, `diff` and `go tool pprof` on the stored
    // profile all put flat bytes on the function that allocated.
    if report.symbolized > 0 && profile.str(profile.drop_frames).is_empty() {
        profile.drop_frames = names.string(profile, NATIVE_ALLOCATOR_FRAMES);
    }
    // Several mappings of one file give the same warning once.
    let mut seen = Vec::new();
    report.warnings.retain(|w| {
        let new = !seen.contains(w);
        if new {
            seen.push(w.clone());
        }
        new
    });
    report
}

/// The `drop_frames` pattern given to profiles this module names: frames of
/// allocators and of the standard containers' growth paths (anchored, as
/// pprof anchors it). Each alternative names allocation plumbing only: pprof
/// cuts a stack at the matching frame nearest the root, so a pattern that
/// matched a frame near `main` (say every `<alloc::…>` name, which includes
/// `Box<dyn FnOnce>::call_once` in every thread start) would cut whole stacks.
pub const NATIVE_ALLOCATOR_FRAMES: &str = concat!(
    // jemalloc, with and without its `_rjem_`/`je_` prefixes, and libc.
    r"prof_.*|_rjem_.*|je_.*|imalloc.*|ialloc.*|ipalloc.*|iralloc.*|irealloc.*|do_rallocx|",
    r"(?:__libc_)?(?:malloc|calloc|realloc|posix_memalign|aligned_alloc|memalign|valloc)|",
    r"mallocx|rallocx|xallocx|tcmalloc::.*|",
    // Rust's allocator shims and the global allocator.
    r"__rust_(?:alloc|alloc_zeroed|realloc).*|__rustc::.*|__rdl_.*|__rg_.*|",
    r"alloc::alloc::.*|<alloc::alloc::Global.*|",
    // The standard containers' growth, like Go's `runtime.makeslice`.
    r"alloc::raw_vec::.*|<alloc::raw_vec::.*|alloc::vec::Vec<.*>::with_capacity.*|",
    r"hashbrown::raw::.*",
);

/// The file to name a mapping's frames from, and whether the user gave it.
fn choose_binary(
    profile: &Profile,
    mapping: Option<&(usize, Mapping)>,
    binary: Option<&Path>,
) -> Option<(PathBuf, bool)> {
    let Some((index, mapping)) = mapping else {
        // No mapping at all: the addresses can only be the given binary's.
        return binary.map(|b| (b.to_path_buf(), true));
    };
    let filename = profile.str(mapping.filename);
    if let Some(binary) = binary {
        let same_name = !filename.is_empty()
            && Path::new(filename).file_name().is_some()
            && Path::new(filename).file_name() == binary.file_name();
        if is_main(profile, *index) || same_name {
            return Some((binary.to_path_buf(), true));
        }
    }
    // The mapping's own path, trusted only when it is absolute (a relative
    // path was relative to the profiled process's directory, not ours) and
    // the profile has a build id to check it against.
    let path = Path::new(filename);
    if path.is_absolute() && path.is_file() && !profile.str(mapping.build_id).is_empty() {
        return Some((path.to_path_buf(), false));
    }
    None
}

/// Whether the mapping at `index` is the main binary's: the first mapping
/// (pprof's convention), or one with its file name (a binary is mapped
/// once per segment).
fn is_main(profile: &Profile, index: usize) -> bool {
    let filename = profile.str(profile.mappings[index].filename);
    let main_file = profile.str(profile.mappings[0].filename);
    index == 0 || (!filename.is_empty() && filename == main_file)
}

/// Where separate debug files are looked up by build id
/// (`DIR/.build-id/xx/rest.debug`), as gdb and perf do.
pub const DEBUG_DIRS: &[&str] = &["/usr/lib/debug"];

/// One frame at an address: the function and the line in it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Frame {
    /// Demangled, without Rust's hash suffix.
    name: String,
    /// As in the binary (mangled), or the name again when it was not.
    system_name: String,
    file: String,
    line: i64,
}

/// A parsed binary: its debug information and what is needed to turn a
/// profile address into a file address.
struct Binary {
    /// Reads the binary's DWARF and symbols, or its debug file's.
    loader: addr2line::Loader,
    build_id: Option<String>,
    kind: ObjectKind,
    /// Loadable segments as (file offset, file size, virtual address).
    segments: Vec<(u64, u64, u64)>,
    /// The size of the symbols the loader may name, by address.
    symbol_sizes: HashMap<u64, u64>,
    /// Where the functions at the root of every stack lie, as (address,
    /// size): see [`ROOT_FUNCTIONS`].
    roots: Vec<(u64, u64)>,
    has_dwarf: bool,
}

impl Binary {
    /// Opens `path`, and its debug file under one of `debug_dirs` when the
    /// binary has no DWARF of its own.
    fn open(path: &Path, debug_dirs: &[&str]) -> Result<Binary, String> {
        let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
        // Only the headers, the build-id note and the symbol table are read
        // here; the loader maps the debug sections itself.
        let cache = object::ReadCache::new(file);
        let obj = object::File::parse(&cache).map_err(|e| format!("not an object file: {e}"))?;
        let build_id = obj
            .build_id()
            .map_err(|e| format!("reading its build id: {e}"))?
            .map(hex);
        let segments = obj
            .segments()
            .map(|s| {
                let (offset, size) = s.file_range();
                (offset, size, s.address())
            })
            .collect();
        let kind = obj.kind();
        let debug_file = match &build_id {
            Some(id) if obj.section_by_name(".debug_info").is_none() => debug_file(id, debug_dirs),
            _ => None,
        };
        let (loader, (symbol_sizes, roots), has_dwarf) = match debug_file {
            Some(debug) => {
                // Its symbols and DWARF describe the same addresses; its
                // segments have no contents, so those stay the binary's.
                let file = std::fs::File::open(&debug).map_err(|e| e.to_string())?;
                let cache = object::ReadCache::new(file);
                let dbg = object::File::parse(&cache)
                    .map_err(|e| format!("{}: not an object file: {e}", debug.display()))?;
                let loader = addr2line::Loader::new(&debug).map_err(|e| e.to_string())?;
                let has_dwarf = dbg.section_by_name(".debug_info").is_some();
                (loader, symbols(&dbg), has_dwarf)
            }
            None => {
                let loader = addr2line::Loader::new(path).map_err(|e| e.to_string())?;
                let has_dwarf = obj.section_by_name(".debug_info").is_some();
                (loader, symbols(&obj), has_dwarf)
            }
        };
        Ok(Binary {
            loader,
            build_id,
            kind,
            segments,
            symbol_sizes,
            roots,
            has_dwarf,
        })
    }

    /// Whether `mapping` leaves the load address of this binary unknown: a
    /// position-independent binary (or a shared library) under the
    /// catch-all mapping of a profile without a memory map.
    fn needs_load_address(&self, mapping: Option<&Mapping>) -> bool {
        mapping.is_none_or(spans_everything) && self.kind != ObjectKind::Executable
    }

    /// The address the binary's symbols use for `address` in `mapping`.
    fn file_address(&self, mapping: Option<&Mapping>, address: u64) -> Option<u64> {
        let Some(m) = mapping else {
            return Some(address);
        };
        if spans_everything(m) || self.kind == ObjectKind::Executable {
            // Already a file address; or a fixed-address executable, loaded
            // exactly at its segments' addresses.
            return Some(address);
        }
        let offset = address
            .checked_sub(m.memory_start)?
            .checked_add(m.file_offset)?;
        self.segments
            .iter()
            .find(|(start, size, _)| offset >= *start && offset - start < *size)
            .map(|(start, _, vaddr)| offset - start + vaddr)
    }

    /// The frames at `address`, innermost (inlined) first; empty when the
    /// binary knows nothing about it.
    fn frames(&self, address: u64) -> Vec<Frame> {
        let mut out = Vec::new();
        if let Ok(mut iter) = self.loader.find_frames(address) {
            // A DWARF error midway keeps the frames read so far.
            while let Ok(Some(frame)) = iter.next() {
                let Some(function) = frame.function.as_ref() else {
                    continue;
                };
                let Ok(raw) = function.raw_name() else {
                    continue;
                };
                let name = function
                    .demangle()
                    .map_or_else(|_| raw.to_string(), |n| n.into_owned());
                let (file, line) = frame.location.as_ref().map_or((String::new(), 0), |l| {
                    (
                        l.file.unwrap_or_default().to_owned(),
                        l.line.map_or(0, i64::from),
                    )
                });
                out.push(Frame {
                    name,
                    system_name: raw.into_owned(),
                    file,
                    line,
                });
            }
        }
        if out.is_empty() {
            // No debug information here (stripped binary, or a library
            // without it): the symbol table still names the function, if
            // the nearest symbol before the address reaches that far.
            let symbol = self.loader.find_symbol_info(address);
            if let Some(raw) = symbol
                .filter(|sym| self.covers(sym.address(), address))
                .map(|sym| sym.name())
            {
                out.push(Frame {
                    name: addr2line::demangle_auto(raw.into(), None).into_owned(),
                    system_name: raw.to_owned(),
                    file: String::new(),
                    line: 0,
                });
            }
        }
        out
    }

    /// Whether the symbol at `start` extends over `address`. A symbol
    /// without a size (hand-written assembly, a label) covers nothing: the
    /// function after it may be another one, unexported.
    fn covers(&self, start: u64, address: u64) -> bool {
        self.symbol_sizes
            .get(&start)
            .is_some_and(|&size| address.wrapping_sub(start) < size)
    }
}

/// Whether `m` is a mapping over the whole address space at offset 0: the
/// one pprof gives profiles without a memory map, and what `jemalloc_pprof`
/// writes.
fn spans_everything(m: &Mapping) -> bool {
    m.memory_start == 0 && m.file_offset == 0 && (m.memory_limit == 0 || m.memory_limit == u64::MAX)
}

/// The largest size of the defined symbols at each address, from the table
/// the loader names addresses from (`.symtab`, else `.dynsym`), and where
/// the [`ROOT_FUNCTIONS`] are.
fn symbols<'data>(
    obj: &object::File<'data, impl object::ReadRef<'data>>,
) -> (HashMap<u64, u64>, Vec<(u64, u64)>) {
    let mut sizes = HashMap::new();
    let mut roots = Vec::new();
    if let Some(table) = obj.symbol_table().or_else(|| obj.dynamic_symbol_table()) {
        for symbol in table.symbols() {
            if symbol.is_definition() && symbol.size() > 0 {
                let size = sizes.entry(symbol.address()).or_insert(0);
                *size = symbol.size().max(*size);
                if symbol.name().is_ok_and(|n| ROOT_FUNCTIONS.contains(&n)) {
                    roots.push((symbol.address(), symbol.size()));
                }
            }
        }
    }
    (sizes, roots)
}

/// Functions at the root of nearly every stack of a Go or C program: the
/// frame a goroutine or thread starts from. Where a position-independent
/// binary was loaded is found by placing the stacks' outermost addresses on
/// them.
const ROOT_FUNCTIONS: &[&str] = &[
    "runtime.goexit.abi0",
    "runtime.goexit",
    "runtime.main",
    "runtime.mstart",
    "runtime.rt0_go.abi0",
    "_start",
    "__libc_start_call_main",
    "__libc_start_main",
    "start_thread",
    "clone3",
];

/// The page size position-independent code is loaded at a multiple of.
const PAGE: u64 = 4096;

/// At most this many addresses are looked up to check a load address.
const CHECKED_ADDRESSES: usize = 2_000;

/// A load address is right when it puts at least this share of the
/// addresses inside a function of the binary.
const CHECKED_SHARE: f64 = 0.9;

/// Where a position-independent binary was loaded, for a profile without a
/// memory map (Go's text profiles never have one): the page-aligned offset
/// that puts the stacks' outermost addresses on a [`ROOT_FUNCTIONS`]
/// entry, checked by how many of all the `locations`' addresses then fall
/// inside a function. `Some(0)` when the addresses are already the file's.
/// `None` when no load address fits: then naming would guess.
fn load_bias(bin: &Binary, profile: &Profile, locations: &[usize]) -> Option<u64> {
    let step = (locations.len() / CHECKED_ADDRESSES).max(1);
    let checked: Vec<u64> = locations
        .iter()
        .step_by(step)
        .map(|&i| profile.locations[i].address)
        .collect();
    let score = |bias: u64| {
        checked
            .iter()
            .filter(|&&a| {
                let a = a.wrapping_sub(bias);
                bin.loader
                    .find_symbol_info(a)
                    .is_some_and(|sym| bin.covers(sym.address(), a))
            })
            .count()
    };
    let enough = |hits: usize| hits as f64 >= CHECKED_SHARE * checked.len() as f64;
    // Addresses inside the binary's own segments are file addresses already
    // (jemalloc_pprof writes those under its catch-all mapping); run-time
    // addresses of a binary loaded elsewhere lie far outside them.
    let in_file = checked
        .iter()
        .filter(|&&a| {
            bin.segments
                .iter()
                .any(|&(_, size, vaddr)| a.wrapping_sub(vaddr) < size)
        })
        .count();
    if enough(in_file) {
        return Some(0);
    }

    // The outermost address of each stack, most frequent first.
    let address_of: HashMap<u64, u64> = profile
        .locations
        .iter()
        .map(|l| (l.id, l.address))
        .collect();
    let mut outermost: HashMap<u64, usize> = HashMap::new();
    for sample in &profile.samples {
        if let Some(a) = sample.location_ids.last().and_then(|id| address_of.get(id)) {
            *outermost.entry(*a).or_default() += 1;
        }
    }
    let mut outermost: Vec<(u64, usize)> = outermost.into_iter().collect();
    outermost.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));

    let mut candidates = Vec::new();
    for &(address, _) in outermost.iter().take(8) {
        for &(start, size) in &bin.roots {
            // Every page-aligned bias that puts `address` inside the root.
            let Some(high) = address.checked_sub(start) else {
                continue;
            };
            let low = high.saturating_sub(size.saturating_sub(1));
            let mut bias = high - high % PAGE;
            while bias >= low && bias > 0 {
                if !candidates.contains(&bias) {
                    candidates.push(bias);
                }
                bias -= PAGE;
            }
        }
    }
    candidates
        .into_iter()
        .map(|bias| (score(bias), bias))
        .filter(|&(hits, _)| enough(hits))
        .max_by_key(|&(hits, bias)| (hits, std::cmp::Reverse(bias)))
        .map(|(_, bias)| bias)
}

/// The separate debug file of the binary with build id `id` under one of
/// `dirs`, when there is one with the same build id.
fn debug_file(id: &str, dirs: &[&str]) -> Option<PathBuf> {
    if id.len() < 3 {
        return None;
    }
    dirs.iter().find_map(|dir| {
        let path = Path::new(dir)
            .join(".build-id")
            .join(&id[..2])
            .join(format!("{}.debug", &id[2..]));
        let file = std::fs::File::open(&path).ok()?;
        let cache = object::ReadCache::new(file);
        let obj = object::File::parse(&cache).ok()?;
        let found = obj.build_id().ok()??;
        (hex(found) == id).then_some(path)
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Adds strings and functions to a profile without duplicating the ones it
/// already has.
struct Names {
    strings: HashMap<String, StrIdx>,
    functions: HashMap<(StrIdx, StrIdx, StrIdx), u64>,
    next_function_id: u64,
}

impl Names {
    fn new(profile: &Profile) -> Names {
        let mut strings = HashMap::with_capacity(profile.strings.len());
        for (i, s) in profile.strings.iter().enumerate() {
            strings.entry(s.clone()).or_insert(i as StrIdx);
        }
        let functions = profile
            .functions
            .iter()
            .map(|f| ((f.name, f.system_name, f.filename), f.id))
            .collect();
        let next_function_id = profile.functions.iter().map(|f| f.id).max().unwrap_or(0) + 1;
        Names {
            strings,
            functions,
            next_function_id,
        }
    }

    fn string(&mut self, profile: &mut Profile, s: &str) -> StrIdx {
        if profile.strings.is_empty() {
            profile.strings.push(String::new());
            self.strings.insert(String::new(), 0);
        }
        if let Some(&i) = self.strings.get(s) {
            return i;
        }
        let i = profile.strings.len() as StrIdx;
        profile.strings.push(s.to_owned());
        self.strings.insert(s.to_owned(), i);
        i
    }

    fn function(&mut self, profile: &mut Profile, frame: &Frame) -> u64 {
        let key = (
            self.string(profile, &frame.name),
            self.string(profile, &frame.system_name),
            self.string(profile, &frame.file),
        );
        if let Some(&id) = self.functions.get(&key) {
            return id;
        }
        let id = self.next_function_id;
        self.next_function_id += 1;
        profile.functions.push(Function {
            id,
            name: key.0,
            system_name: key.1,
            filename: key.2,
            start_line: 0,
        });
        self.functions.insert(key, id);
        id
    }
}
