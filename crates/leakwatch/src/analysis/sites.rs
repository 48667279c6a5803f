//! Allocation sites and goroutine sites: a profile reduced to a total per
//! site, small enough that hundreds of profiles fit side by side.
//!
//! A *site* is the leaf function of a stack once the runtime's and the
//! allocator's own frames are dropped: for a Go map that grows, the leaf
//! frame is `runtime.mapassign_faststr` and the site is the function that
//! assigned; for a goroutine parked on a channel, the leaf is `runtime.gopark`
//! and the site is the function that waits. A site's *call chain* is its
//! heaviest stack in the profile, leaf first, with the same frames dropped.

use std::collections::HashMap;

use leakwatch_profile::{IdIndex, Profile, SampleRef, SampleSource};

/// Whether a frame belongs to the Go runtime or an allocator rather than to
/// the program, so that it is skipped when naming a site.
pub fn is_runtime_frame(function: &str) -> bool {
    const PREFIXES: &[&str] = &[
        // Go: the runtime package and its internals.
        "runtime.",
        "runtime/internal/",
        "internal/runtime/",
        "internal/abi.",
        // Rust's allocation plumbing and jemalloc (tikv-jemallocator
        // prefixes its symbols with `_rjem_`).
        "alloc::",
        "<alloc::",
        "__rustc::",
        "core::alloc::",
        "std::alloc::",
        "__rust_alloc",
        "__rust_realloc",
        "__rdl_",
        "__rg_",
        "tikv_jemallocator::",
        "je_",
        "_rjem_",
        "prof_",
        "imalloc",
        "jemalloc_pprof::",
    ];
    const EXACT: &[&str] = &[
        "malloc",
        "calloc",
        "realloc",
        "free",
        "posix_memalign",
        "aligned_alloc",
        "memalign",
        "valloc",
        "mallocx",
        "rallocx",
        "operator new",
    ];
    // `sync.runtime_Semacquire`, `internal/poll.runtime_pollWait`: the
    // standard library's linknamed shims into the runtime.
    let linkname_shim = function
        .rsplit('.')
        .next()
        .is_some_and(|last| last.starts_with("runtime_"));
    PREFIXES.iter().any(|p| function.starts_with(p))
        || EXACT.contains(&function)
        || function.contains("GlobalAlloc>::")
        || linkname_shim
}

/// One frame of a call chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Function name.
    pub function: String,
    /// Source file, empty when unknown.
    pub file: String,
    /// Line number, 0 when unknown.
    pub line: i64,
}

/// A site's totals in one profile.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SiteTotals {
    /// Bytes (heap) or goroutines (goroutine profile).
    pub value: i64,
    /// Objects (heap only; 0 otherwise).
    pub objects: i64,
}

/// A profile reduced to its sites.
#[derive(Debug, Clone, Default)]
pub struct Reduced {
    /// Sum over all samples of the primary value.
    pub total: i64,
    /// Sum of the objects value (heap only).
    pub total_objects: i64,
    /// Totals per site, keyed by the site's function name.
    pub sites: HashMap<String, SiteTotals>,
    /// The heaviest stack of each site (frames leaf first, runtime frames
    /// dropped), only when asked for: kept for the last profile alone.
    pub chains: HashMap<String, Vec<Frame>>,
}

/// Which values of a profile to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileKind {
    /// A heap profile: `inuse_space` (and `inuse_objects`).
    Heap,
    /// A goroutine profile: `goroutine`/`count`.
    Goroutine,
}

/// Index of the value to read as bytes: `inuse_space` when present (Go),
/// else the last sample type measured in bytes (jemalloc's pprof output).
fn heap_value_indices(p: &Profile) -> Option<(usize, Option<usize>)> {
    let names = p.sample_type_names();
    let space = names.iter().position(|n| *n == "inuse_space").or_else(|| {
        p.sample_types
            .iter()
            .rposition(|t| p.str(t.unit) == "bytes")
    })?;
    let objects = names.iter().position(|n| *n == "inuse_objects");
    Some((space, objects))
}

/// Reduces `source` — a decoded profile, or a scanned one whose samples are
/// read one at a time — to per-site totals. With `chains`, also records each
/// site's heaviest stack. Fails when a heap profile has no byte-valued
/// sample type, naming the types it has, or when a sample is malformed.
pub fn reduce(
    source: &impl SampleSource,
    kind: ProfileKind,
    chains: bool,
) -> Result<Reduced, String> {
    let profile = source.tables();
    let (value_idx, objects_idx) = match kind {
        ProfileKind::Heap => heap_value_indices(profile).ok_or_else(|| {
            format!(
                "not a heap profile: no inuse_space or byte-valued sample type (it has {})",
                profile.sample_type_names().join(", ")
            )
        })?,
        ProfileKind::Goroutine => (0, None),
    };
    if profile.sample_types.is_empty() {
        return Err("the profile has no sample types".into());
    }
    let functions = IdIndex::of_functions(&profile.functions).map_err(|e| e.to_string())?;
    let name_of = |function_id: u64| -> &str {
        functions
            .get(function_id)
            .map_or("", |i| profile.str(profile.functions[i].name))
    };

    // Per location, decided once rather than per sample: the first program
    // frame among its (inlined) lines, else its first runtime frame. A Go
    // heap profile has a few thousand locations and hundreds of thousands
    // of samples, so this is what keeps the reduction cheap.
    // Sites are numbered as they are met; each location maps to the site
    // number of its first program frame (`program`) and of its first
    // runtime frame (`runtime`), or `NONE`.
    const NONE: u32 = u32::MAX;
    let mut names: Vec<&str> = Vec::new();
    let mut number: HashMap<&str, u32> = HashMap::new();
    let mut site_no = |name| {
        *number.entry(name).or_insert_with(|| {
            names.push(name);
            (names.len() - 1) as u32
        })
    };
    let classes: Vec<(u32, u32)> = profile
        .locations
        .iter()
        .map(|loc| {
            let mut runtime = NONE;
            for line in &loc.lines {
                let name = name_of(line.function_id);
                if name.is_empty() {
                    continue;
                }
                if !is_runtime_frame(name) {
                    return (site_no(name), runtime);
                }
                if runtime == NONE {
                    runtime = site_no(name);
                }
            }
            (NONE, runtime)
        })
        .collect();

    let mut out = Reduced::default();
    let mut totals = vec![SiteTotals::default(); names.len()];
    // Per site: stack (as location positions) → bytes, only when chains are
    // wanted (a scan's samples are borrowed only until the next one: keys
    // are owned).
    let mut stacks: HashMap<u32, HashMap<Box<[u32]>, i64>> = HashMap::new();
    let each = |sample: SampleRef<'_>| -> Result<(), leakwatch_profile::DecodeError> {
        let value = sample.values.get(value_idx).copied().unwrap_or(0);
        let objects = objects_idx
            .and_then(|i| sample.values.get(i).copied())
            .unwrap_or(0);
        out.total += value;
        out.total_objects += objects;
        if value == 0 && objects == 0 {
            return Ok(());
        }
        // Locations come leaf first, already looked up by the source.
        let mut site = NONE;
        let mut leaf_runtime = NONE;
        for &li in sample.locations {
            let (program, runtime) = classes[li as usize];
            if program != NONE {
                site = program;
                break;
            }
            if leaf_runtime == NONE {
                leaf_runtime = runtime;
            }
        }
        // A stack made only of runtime frames (goroutine stacks, GC
        // workers) is named by its leaf runtime frame rather than lost.
        if site == NONE {
            site = leaf_runtime;
        }
        if site == NONE {
            return Ok(());
        }
        let t = &mut totals[site as usize];
        t.value += value;
        t.objects += objects;
        if chains {
            let by_stack = stacks.entry(site).or_default();
            match by_stack.get_mut(sample.locations) {
                Some(v) => *v += value,
                None => {
                    by_stack.insert(sample.locations.into(), value);
                }
            }
        }
        Ok(())
    };
    source
        .try_for_each_sample(each)
        .map_err(|e| e.to_string())?;
    out.sites = names
        .iter()
        .zip(&totals)
        .filter(|(_, t)| t.value != 0 || t.objects != 0)
        .map(|(n, t)| ((*n).to_owned(), *t))
        .collect();

    for (site_no, by_stack) in stacks {
        let site = names[site_no as usize];
        let Some((heaviest, _)) = by_stack
            .into_iter()
            .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(&a.0)))
        else {
            continue;
        };
        let mut frames = Vec::new();
        for &li in heaviest.iter() {
            for line in &profile.locations[li as usize].lines {
                let name = name_of(line.function_id);
                if name.is_empty() || (frames.is_empty() && name != site) {
                    continue;
                }
                if is_runtime_frame(name) && name != site {
                    continue;
                }
                let file = functions
                    .get(line.function_id)
                    .map_or("", |i| profile.str(profile.functions[i].filename));
                frames.push(Frame {
                    function: name.to_owned(),
                    file: file.to_owned(),
                    line: line.line,
                });
            }
        }
        out.chains.insert(site.to_owned(), frames);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use leakwatch_profile::ProfileBuilder;

    /// Builds a profile from stacks of function names (leaf first), each
    /// frame at a location of its own as in a real profile.
    fn profile(types: &[(&str, &str)], samples: &[(&[&str], &[i64])]) -> Profile {
        let mut b = ProfileBuilder::new(types).location_per_frame();
        for (stack, values) in samples {
            b.sample(stack, values);
        }
        b.build()
    }

    const HEAP: &[(&str, &str)] = &[
        ("alloc_objects", "count"),
        ("alloc_space", "bytes"),
        ("inuse_objects", "count"),
        ("inuse_space", "bytes"),
    ];

    #[test]
    fn runtime_and_allocator_frames_are_recognised() {
        for f in [
            "runtime.mallocgc",
            "runtime.mapassign_faststr",
            "runtime/internal/atomic.Load",
            "sync.runtime_Semacquire",
            "internal/poll.runtime_pollWait",
            "alloc::raw_vec::RawVec<T,A>::grow_one",
            "__rust_alloc",
            "_rjem_malloc",
            "je_prof_backtrace",
            "malloc",
            "<tikv_jemallocator::Jemalloc as core::alloc::global::GlobalAlloc>::alloc",
        ] {
            assert!(is_runtime_frame(f), "{f}");
        }
        for f in [
            "main.newEntry",
            "main.(*cache).get",
            "runtime/pprof.writeHeap",
            "sync.(*WaitGroup).Wait",
            "leakwatch_demo::cache::insert",
        ] {
            assert!(!is_runtime_frame(f), "{f}");
        }
    }

    #[test]
    fn heap_sites_skip_runtime_frames_and_sum() {
        let p = profile(
            HEAP,
            &[
                (
                    &["main.newEntry", "main.(*cache).get", "main.handle"],
                    &[0, 0, 3, 300],
                ),
                (
                    &["main.newEntry", "main.other", "main.handle"],
                    &[0, 0, 1, 100],
                ),
                (
                    &[
                        "runtime.mapassign_faststr",
                        "main.(*cache).get",
                        "main.handle",
                    ],
                    &[0, 0, 2, 50],
                ),
                (&["runtime.malg", "runtime.newproc1"], &[0, 0, 1, 8]),
            ],
        );
        let r = reduce(&p, ProfileKind::Heap, true).unwrap();
        assert_eq!(r.total, 458);
        assert_eq!(r.total_objects, 7);
        assert_eq!(
            r.sites["main.newEntry"],
            SiteTotals {
                value: 400,
                objects: 4
            }
        );
        assert_eq!(r.sites["main.(*cache).get"].value, 50);
        assert_eq!(r.sites["runtime.malg"].value, 8);
        let chain: Vec<&str> = r.chains["main.newEntry"]
            .iter()
            .map(|f| f.function.as_str())
            .collect();
        assert_eq!(chain, ["main.newEntry", "main.(*cache).get", "main.handle"]);
        assert_eq!(r.chains["main.newEntry"][0].file, "/src/main.go");
    }

    #[test]
    fn goroutine_sites_are_the_blocked_function() {
        let p = profile(
            &[("goroutine", "count")],
            &[
                (
                    &[
                        "runtime.gopark",
                        "runtime.chanrecv",
                        "runtime.chanrecv1",
                        "main.awaitReply",
                        "main.handle",
                    ],
                    &[120],
                ),
                (
                    &[
                        "runtime.gopark",
                        "runtime.netpollblock",
                        "internal/poll.runtime_pollWait",
                        "net.(*conn).Read",
                    ],
                    &[2],
                ),
            ],
        );
        let r = reduce(&p, ProfileKind::Goroutine, false).unwrap();
        assert_eq!(r.total, 122);
        assert_eq!(r.sites["main.awaitReply"].value, 120);
        assert_eq!(r.sites["net.(*conn).Read"].value, 2);
        assert!(r.chains.is_empty());
    }

    #[test]
    fn a_profile_without_bytes_is_refused_by_name() {
        let p = profile(&[("samples", "count")], &[]);
        let err = reduce(&p, ProfileKind::Heap, false).unwrap_err();
        assert!(err.contains("samples"), "{err}");
    }
}
