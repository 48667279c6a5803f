//! The profile model: every field of pprof's `profile.proto`, plus what Go's
//! legacy text formats carry beyond it (the `# runtime.MemStats` trailer).
//!
//! Strings are kept as indices into [`Profile::strings`], exactly as in the
//! protobuf, because a Go heap profile attaches a `bytes` label to each of its
//! hundreds of thousands of samples: resolving them to owned strings would cost
//! an allocation per sample and make decode → encode → decode lossy.

/// An index into [`Profile::strings`]. Index 0 is always the empty string.
pub type StrIdx = u32;

/// A whole profile.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Profile {
    /// What each value of a sample measures, e.g. `inuse_space`/`bytes`.
    pub sample_types: Vec<ValueType>,
    /// The samples; each has one value per sample type.
    pub samples: Vec<Sample>,
    /// Binaries and libraries the addresses belong to.
    pub mappings: Vec<Mapping>,
    /// Program counters, each with the source lines (inlined frames) at it.
    pub locations: Vec<Location>,
    /// Functions referenced by [`Line::function_id`].
    pub functions: Vec<Function>,
    /// The string table; `strings[0] == ""`.
    pub strings: Vec<String>,
    /// Regexp of frames to drop from stacks (a string index).
    pub drop_frames: StrIdx,
    /// Regexp of frames to keep despite `drop_frames` (a string index).
    pub keep_frames: StrIdx,
    /// When the profile was collected, in nanoseconds since the Unix epoch.
    pub time_nanos: i64,
    /// How long the profile covers, in nanoseconds.
    pub duration_nanos: i64,
    /// What one event of `period` measures.
    pub period_type: Option<ValueType>,
    /// The sampling period, in units of `period_type`.
    pub period: i64,
    /// Free-form comments (string indices).
    pub comments: Vec<StrIdx>,
    /// The sample type to show by default (a string index; 0 = unset).
    pub default_sample_type: StrIdx,
    /// Documentation link for the profile (a string index; 0 = unset).
    pub doc_url: StrIdx,
    /// Go runtime statistics from a legacy text heap profile's trailer. Not
    /// part of profile.proto, so it does not survive encoding.
    pub memstats: Option<MemStats>,
}

/// A sample type or period type: `type` and `unit` as string indices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ValueType {
    /// e.g. `inuse_space`.
    pub ty: StrIdx,
    /// e.g. `bytes`.
    pub unit: StrIdx,
}

/// One stack with its values.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Sample {
    /// Location ids, leaf first.
    pub location_ids: Vec<u64>,
    /// One value per sample type.
    pub values: Vec<i64>,
    /// Labels attached to the sample.
    pub labels: Vec<Label>,
}

/// A sample label: string (`str != 0`) or numeric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Label {
    /// Key (string index).
    pub key: StrIdx,
    /// String value (string index), 0 when numeric.
    pub str: StrIdx,
    /// Numeric value.
    pub num: i64,
    /// Unit of `num` (string index), e.g. `bytes`.
    pub num_unit: StrIdx,
}

/// A mapped binary or library.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Mapping {
    /// Unique nonzero id.
    pub id: u64,
    /// Start address of the mapping.
    pub memory_start: u64,
    /// End address (exclusive).
    pub memory_limit: u64,
    /// Offset of the mapping in the file.
    pub file_offset: u64,
    /// Path of the binary (string index).
    pub filename: StrIdx,
    /// Build id of the binary (string index).
    pub build_id: StrIdx,
    /// Whether function names are known.
    pub has_functions: bool,
    /// Whether file names are known.
    pub has_filenames: bool,
    /// Whether line numbers are known.
    pub has_line_numbers: bool,
    /// Whether inlined frames are known.
    pub has_inline_frames: bool,
}

/// A program counter and the source lines it stands for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Location {
    /// Unique nonzero id.
    pub id: u64,
    /// Mapping id, 0 when unknown.
    pub mapping_id: u64,
    /// The instruction address.
    pub address: u64,
    /// Source lines, the innermost (inlined callee) first.
    pub lines: Vec<Line>,
    /// Whether the location's function was folded into its caller.
    pub is_folded: bool,
}

/// One source line of a location.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Line {
    /// Function id, 0 when unknown.
    pub function_id: u64,
    /// Line number, 0 when unknown.
    pub line: i64,
    /// Column number, 0 when unknown.
    pub column: i64,
}

/// A function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Function {
    /// Unique nonzero id.
    pub id: u64,
    /// Name as shown (string index).
    pub name: StrIdx,
    /// Mangled or fully qualified name (string index).
    pub system_name: StrIdx,
    /// Source file (string index).
    pub filename: StrIdx,
    /// Line where the function starts.
    pub start_line: i64,
}

/// The Go runtime's memory statistics, from the `# runtime.MemStats` trailer
/// of `/debug/pprof/heap?debug=1`. All sizes in bytes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct MemStats {
    /// Bytes of allocated heap objects.
    pub alloc: u64,
    /// Cumulative bytes allocated.
    pub total_alloc: u64,
    /// Total bytes obtained from the OS.
    pub sys: u64,
    /// Count of heap objects allocated.
    pub mallocs: u64,
    /// Count of heap objects freed.
    pub frees: u64,
    /// Bytes of allocated heap objects (same as `alloc`).
    pub heap_alloc: u64,
    /// Heap memory obtained from the OS.
    pub heap_sys: u64,
    /// Bytes in idle spans.
    pub heap_idle: u64,
    /// Bytes in in-use spans.
    pub heap_inuse: u64,
    /// Physical memory returned to the OS.
    pub heap_released: u64,
    /// Number of allocated heap objects.
    pub heap_objects: u64,
    /// Bytes in stack spans.
    pub stack_inuse: u64,
    /// Stack memory obtained from the OS.
    pub stack_sys: u64,
    /// Bytes of allocated mspan structures.
    pub mspan_inuse: u64,
    /// Memory obtained from the OS for mspan structures.
    pub mspan_sys: u64,
    /// Bytes of allocated mcache structures.
    pub mcache_inuse: u64,
    /// Memory obtained from the OS for mcache structures.
    pub mcache_sys: u64,
    /// Memory in profiling bucket hash tables.
    pub buck_hash_sys: u64,
    /// Memory in garbage collection metadata.
    pub gc_sys: u64,
    /// Miscellaneous off-heap runtime allocations.
    pub other_sys: u64,
    /// Target heap size of the next GC cycle.
    pub next_gc: u64,
    /// Time the last GC finished, nanoseconds since the epoch.
    pub last_gc: u64,
    /// Cumulative nanoseconds in GC stop-the-world pauses.
    pub pause_total_ns: u64,
    /// Number of completed GC cycles.
    pub num_gc: u64,
    /// Number of GC cycles forced by the application.
    pub num_forced_gc: u64,
    /// Number of pointer lookups performed by the runtime (always 0 today).
    pub lookups: u64,
    /// Whether `GODEBUG` GC debugging was on.
    pub debug_gc: bool,
    /// Peak resident set size of the process (`# MaxRSS`, Linux only).
    pub max_rss: u64,
}

impl Profile {
    /// The string at `idx`, or `""` when the index is out of range (a
    /// validated profile never has one).
    pub fn str(&self, idx: StrIdx) -> &str {
        self.strings.get(idx as usize).map_or("", String::as_str)
    }

    /// The `type` names of the sample types, in order.
    pub fn sample_type_names(&self) -> Vec<&str> {
        self.sample_types.iter().map(|t| self.str(t.ty)).collect()
    }

    /// Index of `s` in the string table, appending it when absent. Linear:
    /// meant for building small profiles, not for decoding large ones (use
    /// [`crate::Interner`] there).
    pub fn intern(&mut self, s: &str) -> StrIdx {
        if self.strings.is_empty() {
            self.strings.push(String::new());
        }
        if let Some(i) = self.strings.iter().position(|x| x == s) {
            return i as StrIdx;
        }
        self.strings.push(s.to_owned());
        (self.strings.len() - 1) as StrIdx
    }
}
