//! Go's legacy text profiles, as served with `?debug=1`:
//!
//! ```text
//! heap profile: 671: 705216 [1303: 3361952] @ heap/8192
//! 426: 436224 [426: 436224] @ 0x4bbeb6 0x4bbdf5 0x4bc576 0x437912 0x461ac1
//! #\t0x4bbeb5\tmain.newEntry+0x35\t/src/main.go:42   (\t: tabs)
//! …
//! # runtime.MemStats
//! # Alloc = 4572952
//! ```
//!
//! `goroutine profile: total N` with `COUNT @ 0x… 0x…` rows (any
//! `NAME profile: total N`: threadcreate, and Go 1.26's `goroutineleak`),
//! and Go's mutex and block profiles:
//!
//! ```text
//! --- mutex:                      (block: `--- contention:`)
//! cycles/second=2099997590
//! sampling period=1               (mutex only)
//! 574378258 257 @ 0x4bb98b 0x4bb972 0x463381
//! #\t0x4bb98a\tsync.(*Mutex).Unlock+0xca\t/src/sync/mutex.go:223
//! ```
//!
//! The profile built is the one `go tool pprof` (Go 1.19's vendored
//! `profile/legacy_profile.go`) builds from the same text — same sample
//! types, period, unsampled values (`scaleHeapSample`), `bytes` labels,
//! one location per distinct address with every address moved back by one
//! onto its call instruction, one catch-all mapping, `drop_frames` and
//! `keep_frames` — with two differences that make it useful:
//!
//! - locations are named from the `#\t0xPC\tfunc+0xoff\tfile:line` comment
//!   lines (pprof ignores them and shows bare addresses). The printed PC is
//!   the return address minus one, which is exactly the adjusted address.
//!   Inlined frames are separate addresses in Go ≥ 1.12 text output, so
//!   each gets its own location; should several comment lines share a PC
//!   they become the inline lines of one location, innermost first.
//! - in heap profiles, frames Go hides from the comment lines — the
//!   leading `runtime.*` allocator frames and the trailing
//!   `runtime.goexit` — are left out of the stack, as Go's own protobuf
//!   writer leaves them out of heap profiles; without a name they would
//!   only show up as bare addresses. (Go prints every frame of a stack
//!   that would otherwise show none; a stack with no comment lines at all
//!   is kept whole, unnamed.) Count, mutex and block profiles keep every
//!   address, as pprof and Go's protobuf writer do: there the hidden
//!   leading frames are where the goroutine or the wait is
//!   (`runtime.gopark`, `runtime.chanrecv1`), and dropping them would
//!   silently move `flat` onto the caller. They stay bare addresses,
//!   which `--binary` names, as pprof names them given the binary.
//!
//! The `# runtime.MemStats` trailer becomes [`MemStats`]; `# labels:` lines
//! of count profiles become string labels.
//!
//! A count profile's sample type is its name with unit `count`, so a
//! `goroutineleak/count` profile (Go 1.26+ built with
//! `GOEXPERIMENT=goroutineleakprofile`, served at
//! `/debug/pprof/goroutineleak`) says what it is: every goroutine in it is
//! blocked on something no running goroutine can reach, a leak by proof.
//!
//! Mutex and block profiles become `contentions/count` and
//! `delay/nanoseconds`, unsampled as pprof's `parseContention` does:
//! counts times the sampling period, cycles times the period divided by
//! the clock in GHz.

use std::collections::HashMap;

use super::maps;
use crate::error::shorten;
use crate::{
    DecodeError, Function, Interner, Label, Line, Location, Mapping, MemStats, Profile, Sample,
    StrIdx, ValueType,
};

/// Which text profile the input looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `heap profile: N: M [A: B] @ heap/R`
    Heap,
    /// `NAME profile: total N` (goroutine, threadcreate, …)
    Count,
    /// jemalloc's `heap_v2/PERIOD` dump (the `jemalloc` module).
    Jemalloc,
    /// Go's mutex (`--- mutex:`) or block (`--- contention:`) profile.
    Contention,
}

/// pprof's `drop_frames` for legacy heap profiles: allocator entry points,
/// whose frames say nothing about who allocated. The pattern is data pprof
/// writes into profiles, kept identical so pruning matches it.
const ALLOC_DROP_FRAMES: &str = concat!(
    "calloc|cfree|malloc|free|memalign|do_memalign|(__)?posix_memalign|pvalloc|valloc|realloc|",
    "tcmalloc::.*|tc_calloc|tc_cfree|tc_malloc|tc_free|tc_memalign|tc_posix_memalign|tc_pvalloc|",
    "tc_valloc|tc_realloc|tc_new|tc_delete|tc_newarray|tc_deletearray|tc_new_nothrow|",
    "tc_newarray_nothrow|malloc_zone_malloc|malloc_zone_calloc|malloc_zone_valloc|",
    "malloc_zone_realloc|malloc_zone_memalign|malloc_zone_free|runtime\\..*|BaseArena::.*|",
    "(::)?do_malloc_no_errno|(::)?do_malloc_pages|(::)?do_malloc|DoSampledAllocation|",
    "MallocedMemBlock::MallocedMemBlock|_M_allocate|__builtin_(vec_)?delete|",
    "__builtin_(vec_)?new|__gnu_cxx::new_allocator::allocate|__libc_malloc|",
    "__malloc_alloc_template::allocate|allocate|cpp_alloc|operator new(\\[\\])?|",
    "simple_alloc::allocate"
);

/// pprof's `keep_frames` for legacy heap profiles: runtime frames in the
/// middle of a stack that must survive `drop_frames`.
const ALLOC_KEEP_FRAMES: &str = "runtime\\.panic|runtime\\.reflectcall|runtime\\.call[0-9]*";

/// pprof's `drop_frames` for every other legacy profile (count profiles
/// included): frames of the C++ CPU profiler's signal handler.
const CPU_DROP_FRAMES: &str =
    "ProfileData::Add|ProfileData::prof_handler|CpuProfiler::prof_handler|__pthread_sighandler|__restore";

/// pprof's `drop_frames` for contention profiles: lock bookkeeping
/// frames of C++ lock profilers. None is a Go name, but pprof writes the
/// pattern into every legacy contention profile, so it is kept identical.
const LOCK_DROP_FRAMES: &str = concat!(
    "RecordLockProfileData|(base::)?RecordLockProfileData.*|",
    "(base::)?SubmitMutexProfileData.*|(base::)?SubmitSpinLockProfileData.*|",
    "(base::Mutex::)?AwaitCommon.*|(base::Mutex::)?Unlock.*|(base::Mutex::)?UnlockSlow.*|",
    "(base::Mutex::)?ReaderUnlock.*|(base::MutexLock::)?~MutexLock.*|(Mutex::)?AwaitCommon.*|",
    "(Mutex::)?Unlock.*|(Mutex::)?UnlockSlow.*|(Mutex::)?ReaderUnlock.*|",
    "(MutexLock::)?~MutexLock.*|(SpinLock::)?Unlock.*|(SpinLock::)?SlowUnlock.*|",
    "(SpinLockHolder::)?~SpinLockHolder.*"
);

const HEAP_HEADER: &str = "`heap profile: N: M [A: B] @ heap/RATE`";
const COUNT_HEADER: &str = "`NAME profile: total N`";
const CONTENTION_HEADER: &str = "`--- mutex:` or `--- contention:`";

/// Recognizes a Go text profile by its first line that is neither blank
/// nor a comment.
pub(crate) fn sniff(bytes: &[u8]) -> Option<Kind> {
    let line = bytes
        .split(|&b| b == b'\n')
        .map(|l| l.trim_ascii())
        .find(|l| !l.is_empty() && l[0] != b'#')?;
    if line.starts_with(b"heap profile:") {
        return Some(Kind::Heap);
    }
    if super::jemalloc::is_header(line) {
        return Some(Kind::Jemalloc);
    }
    // `--- contentionz` (C++) shares the prefix but not the colon.
    if line.starts_with(b"--- mutex:") || line.starts_with(b"--- contention:") {
        return Some(Kind::Contention);
    }
    // `NAME profile:` with a one-word name, as in `goroutine profile: total 6`.
    let space = line.iter().position(|&b| b == b' ')?;
    let name_ok = space > 0
        && line[..space]
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    (name_ok && line[space..].starts_with(b" profile:")).then_some(Kind::Count)
}

/// Parses a text profile of the sniffed kind. The result is not yet
/// validated.
pub(crate) fn parse(bytes: &[u8], kind: Kind) -> Result<Profile, DecodeError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let line = 1 + bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        DecodeError::TextLine {
            line,
            problem: "not valid UTF-8 text".into(),
        }
    })?;
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l)).peekable();
    let mut b = Builder::default();
    let mode = match kind {
        Kind::Jemalloc => return super::jemalloc::parse(text),
        Kind::Heap => {
            // pprof requires the header on the very first line.
            let (_, header) = lines.next().unwrap_or((1, ""));
            b.heap_header(header)?
        }
        Kind::Count => {
            let (_, header) = lines
                .by_ref()
                .find(|(_, l)| !is_space_or_comment(l))
                .unwrap_or((1, ""));
            b.count_header(header)?
        }
        Kind::Contention => {
            let (_, header) = lines
                .by_ref()
                .find(|(_, l)| !l.trim().is_empty())
                .unwrap_or((1, ""));
            b.contention_header(header, &mut lines)?
        }
    };
    b.body(lines, &mode)?;
    Ok(b.finish())
}

fn is_space_or_comment(line: &str) -> bool {
    let t = line.trim();
    t.is_empty() || t.starts_with('#')
}

/// How rows are read, from the header.
enum Mode {
    Heap {
        /// Unsample with `scaleHeapSample` at this rate (`None`: as is).
        rate: Option<i64>,
        has_alloc: bool,
    },
    Count,
    Contention {
        /// `sampling period=`: each record stands for this many events.
        period: i64,
        /// `cycles/second=` (0 when absent: delays stay in cycles).
        cpu_hz: i64,
    },
}

impl Mode {
    /// Whether frames Go hides from the comment lines are left out (see
    /// the module documentation).
    fn trims_hidden_frames(&self) -> bool {
        matches!(self, Mode::Heap { .. })
    }
}

/// One row and the comment lines after it.
#[derive(Default)]
struct Row<'a> {
    values: Vec<i64>,
    /// The `bytes` label of heap rows.
    block_size: Option<i64>,
    addrs: Vec<u64>,
    /// Symbolized frames: (printed PC, function, file, line).
    frames: Vec<(u64, &'a str, &'a str, i64)>,
    labels: Vec<(String, String)>,
}

#[derive(Default)]
struct Builder {
    p: Profile,
    strings: Interner,
    /// Adjusted address → position in `p.locations`.
    locations: HashMap<u64, usize>,
    /// (name, file) → function id.
    functions: HashMap<(StrIdx, StrIdx), u64>,
    memstats: Option<MemStats>,
    /// The memory map, when the profile ends with one (gperftools does).
    ranges: Option<Vec<maps::MapRange>>,
}

impl Builder {
    fn value_type(&mut self, ty: &str, unit: &str) -> ValueType {
        ValueType {
            ty: self.strings.intern(ty),
            unit: self.strings.intern(unit),
        }
    }

    fn heap_header(&mut self, line: &str) -> Result<Mode, DecodeError> {
        let bad = || DecodeError::TextHeader {
            kind: "heap profile",
            found: shorten(line, 80),
            expected: HEAP_HEADER,
        };
        let mut c = Cursor::new(line.trim());
        c.lit("heap profile:").ok_or_else(bad)?;
        c.spaces();
        let inuse_objects = c.digits().ok_or_else(bad)?;
        c.lit(":").ok_or_else(bad)?;
        c.spaces();
        let inuse_bytes = c.digits().ok_or_else(bad)?;
        c.spaces();
        c.lit("[").ok_or_else(bad)?;
        c.spaces();
        let alloc_objects = c.digits().ok_or_else(bad)?;
        c.lit(":").ok_or_else(bad)?;
        c.spaces();
        let alloc_bytes = c.digits().ok_or_else(bad)?;
        c.spaces();
        c.lit("]").ok_or_else(bad)?;
        c.spaces();
        c.lit("@").ok_or_else(bad)?;
        c.spaces();
        let format = c.take_while(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '_');
        let (rate, period, has_alloc) = match format {
            "growthz" | "growth" | "fragmentationz" | "fragmentation" => (None, 1, false),
            _ if format.starts_with("heap") => {
                // As in pprof: the alloc pair is its own pair of sample
                // types when it differs from the in-use pair, compared as
                // written.
                let has_alloc = (alloc_objects != inuse_objects && alloc_objects != "0")
                    || (alloc_bytes != inuse_bytes && alloc_bytes != "0");
                let r = if c.lit("/").is_some() {
                    let digits = c.digits().unwrap_or("");
                    if digits.is_empty() {
                        0
                    } else {
                        digits.parse::<i64>().map_err(|_| bad())?
                    }
                } else {
                    0
                };
                match format {
                    "heapz_v2" | "heap_v2" => (Some(r), r, has_alloc),
                    "heapprofile" => (None, 1, has_alloc),
                    // Go writes twice its MemProfileRate after `heap/`.
                    "heap" => (Some(r / 2), r / 2, has_alloc),
                    _ => return Err(bad()),
                }
            }
            _ => return Err(bad()),
        };
        self.p.period_type = Some(self.value_type("space", "bytes"));
        self.p.period = period;
        let types: &[(&str, &str)] = if has_alloc {
            // Alloc first, so that the last type (the default) is in-use.
            &[
                ("alloc_objects", "count"),
                ("alloc_space", "bytes"),
                ("inuse_objects", "count"),
                ("inuse_space", "bytes"),
            ]
        } else {
            &[("objects", "count"), ("space", "bytes")]
        };
        for (ty, unit) in types {
            let t = self.value_type(ty, unit);
            self.p.sample_types.push(t);
        }
        self.p.drop_frames = self.strings.intern(ALLOC_DROP_FRAMES);
        self.p.keep_frames = self.strings.intern(ALLOC_KEEP_FRAMES);
        Ok(Mode::Heap { rate, has_alloc })
    }

    fn count_header(&mut self, line: &str) -> Result<Mode, DecodeError> {
        let bad = || DecodeError::TextHeader {
            kind: "count profile",
            found: shorten(line, 80),
            expected: COUNT_HEADER,
        };
        let (name, rest) = line.split_once(' ').ok_or_else(bad)?;
        let total = rest.strip_prefix("profile: total ").ok_or_else(bad)?;
        if name.is_empty() || total.is_empty() || !total.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let t = self.value_type(name, "count");
        self.p.sample_types.push(t);
        self.p.period_type = Some(t);
        self.p.period = 1;
        self.p.drop_frames = self.strings.intern(CPU_DROP_FRAMES);
        Ok(Mode::Count)
    }

    /// `--- mutex:` or `--- contention:`, then the `key=value` attribute
    /// lines before the first record; the first line that is not one is
    /// left in `lines` for the body.
    fn contention_header<'a>(
        &mut self,
        line: &str,
        lines: &mut std::iter::Peekable<impl Iterator<Item = (usize, &'a str)>>,
    ) -> Result<Mode, DecodeError> {
        let line = line.trim();
        if !line.starts_with("--- mutex:") && !line.starts_with("--- contention:") {
            return Err(DecodeError::TextHeader {
                kind: "contention profile",
                found: shorten(line, 80),
                expected: CONTENTION_HEADER,
            });
        }
        let mut period = 1;
        let mut cpu_hz = 0;
        while let Some(&(n, raw)) = lines.peek() {
            let attr = raw.trim();
            if attr.is_empty() || attr.starts_with('#') {
                lines.next();
                continue;
            }
            let Some((key, value)) = attr.split_once('=') else {
                break;
            };
            let bad = |what: &str| DecodeError::TextLine {
                line: n,
                problem: format!(
                    "{what} in contention profile attribute {:?}",
                    shorten(attr, 80)
                ),
            };
            let value = value.trim();
            let int = || parse_go_int(value).ok_or_else(|| bad("bad number"));
            match key.trim() {
                "cycles/second" => cpu_hz = int()?,
                "sampling period" => period = int()?,
                "ms since reset" => {
                    self.p.duration_nanos = int()?
                        .checked_mul(1_000_000)
                        .ok_or_else(|| bad("out of range number"))?;
                }
                "discarded samples" => {}
                _ => return Err(bad("unknown attribute")),
            }
            lines.next();
        }
        let contentions = self.value_type("contentions", "count");
        let delay = self.value_type("delay", "nanoseconds");
        self.p.sample_types = vec![contentions, delay];
        self.p.period_type = Some(contentions);
        self.p.period = period;
        self.p.drop_frames = self.strings.intern(LOCK_DROP_FRAMES);
        Ok(Mode::Contention { period, cpu_hz })
    }

    fn body<'a>(
        &mut self,
        mut lines: impl Iterator<Item = (usize, &'a str)>,
        mode: &Mode,
    ) -> Result<(), DecodeError> {
        let mut row: Option<Row<'a>> = None;
        let mut in_memstats = false;
        while let Some((n, raw)) = lines.next() {
            let line = raw.trim();
            if line.is_empty() {
                if let Some(r) = row.take() {
                    self.add_row(r, mode);
                }
                continue;
            }
            if let Some(comment) = line.strip_prefix('#') {
                let comment = comment.trim_start();
                if in_memstats {
                    memstat(
                        self.memstats.get_or_insert_with(Default::default),
                        comment,
                        n,
                    )?;
                } else if comment == "runtime.MemStats" {
                    if let Some(r) = row.take() {
                        self.add_row(r, mode);
                    }
                    in_memstats = true;
                    self.memstats = Some(MemStats::default());
                } else if let Some(r) = row.as_mut() {
                    if let Some(labels) = comment.strip_prefix("labels:") {
                        r.labels = parse_labels(labels.trim(), n)?;
                    } else if comment.starts_with("0x") {
                        r.frames.push(frame(comment, n)?);
                    }
                }
                continue;
            }
            if maps::is_map_start(line) {
                self.ranges = Some(maps::parse(lines.by_ref())?);
                break;
            }
            if in_memstats {
                // Go writes nothing after the trailer; pprof ignores such
                // lines too.
                continue;
            }
            if let Some(r) = row.take() {
                self.add_row(r, mode);
            }
            row = Some(match mode {
                Mode::Heap { rate, has_alloc } => heap_row(line, n, *rate, *has_alloc)?,
                Mode::Count => count_row(line, n)?,
                Mode::Contention { period, cpu_hz } => contention_row(line, n, *period, *cpu_hz)?,
            });
        }
        if let Some(r) = row.take() {
            self.add_row(r, mode);
        }
        Ok(())
    }

    fn add_row(&mut self, row: Row<'_>, mode: &Mode) {
        // Match each address with its comment lines. Both are in stack
        // order and Go only leaves frames out, so one forward pass does.
        let keys: Vec<u64> = row.addrs.iter().map(|a| a.wrapping_sub(1)).collect();
        let mut spans: Vec<Option<(usize, usize)>> = Vec::with_capacity(keys.len());
        let mut next = 0;
        for (&key, &addr) in keys.iter().zip(&row.addrs) {
            let found = row.frames[next..]
                .iter()
                .position(|f| f.0 == key || f.0 == addr)
                .map(|skip| next + skip);
            match found {
                Some(start) => {
                    let pc = row.frames[start].0;
                    let end = start + row.frames[start..].iter().take_while(|f| f.0 == pc).count();
                    spans.push(Some((start, end)));
                    next = end;
                }
                None => spans.push(None),
            }
        }
        let first = spans.iter().position(Option::is_some);
        let last = spans.iter().rposition(Option::is_some);
        let range = match (first, last) {
            (Some(f), Some(l)) if mode.trims_hidden_frames() => f..l + 1,
            _ => 0..keys.len(),
        };

        let mut location_ids = Vec::with_capacity(range.len());
        for i in range {
            let at = self.location(keys[i]);
            if let Some((start, end)) = spans[i] {
                if self.p.locations[at].lines.is_empty() {
                    let lines = row.frames[start..end]
                        .iter()
                        .map(|&(_, name, file, line)| Line {
                            function_id: self.function(name, file),
                            line,
                            column: 0,
                        })
                        .collect();
                    self.p.locations[at].lines = lines;
                }
            }
            location_ids.push(self.p.locations[at].id);
        }

        let mut labels = Vec::with_capacity(row.labels.len() + 1);
        if let Some(size) = row.block_size {
            labels.push(Label {
                key: self.strings.intern("bytes"),
                num: size,
                ..Label::default()
            });
        }
        for (key, value) in &row.labels {
            labels.push(Label {
                key: self.strings.intern(key),
                str: self.strings.intern(value),
                ..Label::default()
            });
        }
        self.p.samples.push(Sample {
            location_ids,
            values: row.values,
            labels,
        });
    }

    fn location(&mut self, address: u64) -> usize {
        let next = self.p.locations.len();
        let at = *self.locations.entry(address).or_insert(next);
        if at == next {
            self.p.locations.push(Location {
                id: next as u64 + 1,
                address,
                ..Location::default()
            });
        }
        at
    }

    fn function(&mut self, name: &str, file: &str) -> u64 {
        let key = (self.strings.intern(name), self.strings.intern(file));
        let next = self.p.functions.len() as u64 + 1;
        let id = *self.functions.entry(key).or_insert(next);
        if id == next {
            self.p.functions.push(Function {
                id,
                name: key.0,
                system_name: key.0,
                filename: key.1,
                start_line: 0,
            });
        }
        id
    }

    fn finish(mut self) -> Profile {
        if let Some(ranges) = self.ranges.take() {
            maps::attach(&mut self.p, &mut self.strings, ranges);
        } else if self.p.locations.iter().any(|l| l.address != 0) {
            // pprof gives every location with an address one catch-all
            // mapping when there is no memory map (Go never writes one).
            let named = self.p.locations.iter().all(|l| !l.lines.is_empty());
            self.p.mappings.push(Mapping {
                id: 1,
                memory_limit: u64::MAX,
                has_functions: named,
                has_filenames: named,
                has_line_numbers: named,
                has_inline_frames: named,
                ..Mapping::default()
            });
            for l in &mut self.p.locations {
                if l.address != 0 {
                    l.mapping_id = 1;
                }
            }
        }
        self.p.memstats = self.memstats;
        self.p.strings = self.strings.into_strings();
        self.p
    }
}

/// `inuse_objects: inuse_bytes [alloc_objects: alloc_bytes] @ 0x… 0x…`
fn heap_row<'a>(
    line: &str,
    n: usize,
    rate: Option<i64>,
    has_alloc: bool,
) -> Result<Row<'a>, DecodeError> {
    let bad = |what: &str| DecodeError::TextLine {
        line: n,
        problem: format!(
            "{what} in heap profile row {:?}; expected `N: M [A: B] @ 0xADDR …`",
            shorten(line, 80)
        ),
    };
    let mut c = Cursor::new(line);
    let inuse_objects = c.int().ok_or_else(|| bad("bad in-use object count"))?;
    c.lit(":").ok_or_else(|| bad("missing `:`"))?;
    c.spaces();
    let inuse_bytes = c.int().ok_or_else(|| bad("bad in-use byte count"))?;
    c.spaces();
    c.lit("[").ok_or_else(|| bad("missing `[`"))?;
    c.spaces();
    let alloc_objects = c.int().ok_or_else(|| bad("bad allocated object count"))?;
    c.lit(":").ok_or_else(|| bad("missing `:`"))?;
    c.spaces();
    let alloc_bytes = c.int().ok_or_else(|| bad("bad allocated byte count"))?;
    c.spaces();
    c.lit("]").ok_or_else(|| bad("missing `]`"))?;
    c.spaces();
    c.lit("@").ok_or_else(|| bad("missing `@`"))?;
    let addrs = addresses(c.rest(), n)?;

    let mut values = Vec::with_capacity(4);
    let mut block_size = 0;
    let mut add = |count: i64, size: i64, what: &str| -> Result<(), DecodeError> {
        if count == 0 && size != 0 {
            return Err(DecodeError::TextLine {
                line: n,
                problem: format!("{what} count is 0 but {what} bytes is {size}"),
            });
        }
        let (mut count, mut size) = (count, size);
        if count != 0 {
            // pprof's label is the average block size before unsampling,
            // from the in-use pair when present.
            block_size = size.checked_div(count).unwrap_or(0);
            if let Some(rate) = rate {
                (count, size) = scale_heap_sample(count, size, rate);
            }
        }
        values.push(count);
        values.push(size);
        Ok(())
    };
    if has_alloc {
        add(alloc_objects, alloc_bytes, "allocation")?;
    }
    add(inuse_objects, inuse_bytes, "inuse")?;
    Ok(Row {
        values,
        block_size: Some(block_size),
        addrs,
        ..Row::default()
    })
}

/// `COUNT @ 0x… 0x…`
fn count_row<'a>(line: &str, n: usize) -> Result<Row<'a>, DecodeError> {
    let bad = || DecodeError::TextLine {
        line: n,
        problem: format!(
            "bad count profile row {:?}; expected `COUNT @ 0xADDR …`",
            shorten(line, 80)
        ),
    };
    let (count, rest) = line.split_once(" @").ok_or_else(bad)?;
    if count.is_empty() || !count.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let count: i64 = count.parse().map_err(|_| bad())?;
    Ok(Row {
        values: vec![count],
        addrs: addresses(rest, n)?,
        ..Row::default()
    })
}

/// `CYCLES COUNT @ 0x… 0x…`, unsampled as pprof does.
fn contention_row<'a>(
    line: &str,
    n: usize,
    period: i64,
    cpu_hz: i64,
) -> Result<Row<'a>, DecodeError> {
    let bad = |what: &str| DecodeError::TextLine {
        line: n,
        problem: format!(
            "{what} in contention profile row {:?}; expected `CYCLES COUNT @ 0xADDR …`",
            shorten(line, 80)
        ),
    };
    let mut c = Cursor::new(line);
    let cycles = c.int().ok_or_else(|| bad("bad cycle count"))?;
    c.spaces();
    let mut count = c.int().ok_or_else(|| bad("bad event count"))?;
    c.spaces();
    c.lit("@").ok_or_else(|| bad("missing `@`"))?;
    let addrs = addresses(c.rest(), n)?;
    let mut delay = cycles;
    if period > 0 {
        if cpu_hz > 0 {
            // pprof's arithmetic, float for float, so that the
            // truncation lands on the same nanosecond.
            let cpu_ghz = cpu_hz as f64 / 1e9;
            delay = (cycles as f64 * period as f64 / cpu_ghz) as i64;
        }
        count = count
            .checked_mul(period)
            .ok_or_else(|| bad("event count times sampling period out of range"))?;
    }
    Ok(Row {
        values: vec![count, delay],
        addrs,
        ..Row::default()
    })
}

/// A number as Go's `strconv.ParseInt(s, 0, 64)` reads it: decimal, `0x`
/// hex, `0o` or leading-`0` octal, `0b` binary, optionally signed.
fn parse_go_int(s: &str) -> Option<i64> {
    let (neg, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let lower = digits.to_ascii_lowercase();
    let (radix, body) = if let Some(h) = lower.strip_prefix("0x") {
        (16, h)
    } else if let Some(b) = lower.strip_prefix("0b") {
        (2, b)
    } else if let Some(o) = lower.strip_prefix("0o") {
        (8, o)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    if body.is_empty() || body.starts_with(['+', '-']) {
        return None;
    }
    let v = i64::from_str_radix(body, radix).ok()?;
    Some(if neg { -v } else { v })
}

/// The space-separated `0x…` addresses of a row.
fn addresses(s: &str, n: usize) -> Result<Vec<u64>, DecodeError> {
    s.split_ascii_whitespace()
        .map(|tok| {
            tok.strip_prefix("0x")
                .and_then(|h| u64::from_str_radix(h, 16).ok())
                .ok_or_else(|| DecodeError::TextLine {
                    line: n,
                    problem: format!(
                        "bad address {:?}: expected 0x and hex digits",
                        shorten(tok, 40)
                    ),
                })
        })
        .collect()
}

/// `0xPC\tfunc+0xoff\tfile:line` (the `#` already removed), or a bare
/// `0xPC` for a frame without symbol.
fn frame(s: &str, n: usize) -> Result<(u64, &str, &str, i64), DecodeError> {
    let bad = || DecodeError::TextLine {
        line: n,
        problem: format!(
            "bad frame comment {:?}; expected `#\\t0xPC\\tfunction+0xOFFSET\\tfile:line`",
            shorten(s, 80)
        ),
    };
    // Go aligns these columns with a tabwriter, so fields are separated by
    // runs of tabs; file names may contain spaces, so split on tabs only.
    let mut fields = s.split('\t').map(str::trim).filter(|f| !f.is_empty());
    let pc = fields
        .next()
        .and_then(|f| f.strip_prefix("0x"))
        .and_then(|h| u64::from_str_radix(h, 16).ok())
        .ok_or_else(bad)?;
    let Some(func) = fields.next() else {
        return Ok((pc, "", "", 0));
    };
    let name = func.rsplit_once("+0x").map_or(func, |(name, _)| name);
    let (file, line) = match fields.next() {
        Some(loc) => match loc.rsplit_once(':') {
            Some((file, line)) => (file, line.parse().map_err(|_| bad())?),
            None => (loc, 0),
        },
        None => ("", 0),
    };
    Ok((pc, name, file, line))
}

/// `{"key":"value", "k2":"v2"}`: Go's `%q`-quoted label map.
fn parse_labels(s: &str, n: usize) -> Result<Vec<(String, String)>, DecodeError> {
    let bad = || DecodeError::TextLine {
        line: n,
        problem: format!(
            "bad labels {:?}; expected {{\"key\":\"value\", …}}",
            shorten(s, 80)
        ),
    };
    let inner = s
        .strip_prefix('{')
        .and_then(|r| r.strip_suffix('}'))
        .ok_or_else(bad)?;
    let mut out = Vec::new();
    let mut c = Cursor::new(inner);
    while !c.rest().trim().is_empty() {
        c.spaces();
        let key = c.quoted().ok_or_else(bad)?;
        c.lit(":").ok_or_else(bad)?;
        let value = c.quoted().ok_or_else(bad)?;
        out.push((key, value));
        c.spaces();
        if c.lit(",").is_none() {
            break;
        }
    }
    if !c.rest().trim().is_empty() {
        return Err(bad());
    }
    Ok(out)
}

/// One `Name = value` line of the `# runtime.MemStats` trailer.
fn memstat(m: &mut MemStats, s: &str, n: usize) -> Result<(), DecodeError> {
    let Some((key, value)) = s.split_once(" = ") else {
        return Ok(());
    };
    let bad = || DecodeError::TextLine {
        line: n,
        problem: format!("bad runtime.MemStats value {:?}", shorten(s, 80)),
    };
    let num = |v: &str| v.trim().parse::<u64>().map_err(|_| bad());
    let pair = |v: &str| -> Result<(u64, u64), DecodeError> {
        let (a, b) = v.split_once('/').ok_or_else(bad)?;
        Ok((num(a)?, num(b)?))
    };
    match key.trim() {
        "Alloc" => m.alloc = num(value)?,
        "TotalAlloc" => m.total_alloc = num(value)?,
        "Sys" => m.sys = num(value)?,
        "Lookups" => m.lookups = num(value)?,
        "Mallocs" => m.mallocs = num(value)?,
        "Frees" => m.frees = num(value)?,
        "HeapAlloc" => m.heap_alloc = num(value)?,
        "HeapSys" => m.heap_sys = num(value)?,
        "HeapIdle" => m.heap_idle = num(value)?,
        "HeapInuse" => m.heap_inuse = num(value)?,
        "HeapReleased" => m.heap_released = num(value)?,
        "HeapObjects" => m.heap_objects = num(value)?,
        "Stack" => (m.stack_inuse, m.stack_sys) = pair(value)?,
        "MSpan" => (m.mspan_inuse, m.mspan_sys) = pair(value)?,
        "MCache" => (m.mcache_inuse, m.mcache_sys) = pair(value)?,
        "BuckHashSys" => m.buck_hash_sys = num(value)?,
        "GCSys" => m.gc_sys = num(value)?,
        "OtherSys" => m.other_sys = num(value)?,
        "NextGC" => m.next_gc = num(value)?,
        "LastGC" => m.last_gc = num(value)?,
        "PauseTotalNs" => m.pause_total_ns = num(value)?,
        "NumGC" => m.num_gc = num(value)?,
        "NumForcedGC" => m.num_forced_gc = num(value)?,
        "DebugGC" => m.debug_gc = value.trim() == "true",
        "MaxRSS" => m.max_rss = num(value)?,
        // PauseNs and PauseEnd are 256-entry ring buffers and
        // GCCPUFraction a float: not kept.
        _ => {}
    }
    Ok(())
}

/// Go's `scaleHeapSample` (runtime/pprof and pprof's legacy parser agree):
/// divides by the probability `1 - e^(-avg/rate)` that an allocation of the
/// average size was sampled, truncating like Go's float → int conversion.
pub(crate) fn scale_heap_sample(count: i64, size: i64, rate: i64) -> (i64, i64) {
    if count == 0 || size == 0 {
        return (0, 0);
    }
    if rate <= 1 {
        return (count, size);
    }
    let avg = size as f64 / count as f64;
    let scale = 1.0 / (1.0 - (-avg / rate as f64).exp());
    ((count as f64 * scale) as i64, (size as f64 * scale) as i64)
}

/// A tiny scanner for the fixed shapes of header and row lines.
struct Cursor<'a> {
    s: &'a str,
}

impl<'a> Cursor<'a> {
    fn new(s: &'a str) -> Self {
        Cursor { s }
    }

    fn rest(&self) -> &'a str {
        self.s
    }

    fn lit(&mut self, l: &str) -> Option<()> {
        self.s = self.s.strip_prefix(l)?;
        Some(())
    }

    fn spaces(&mut self) {
        self.s = self.s.trim_start_matches(' ');
    }

    fn take_while(&mut self, f: impl Fn(char) -> bool) -> &'a str {
        let end = self.s.find(|c| !f(c)).unwrap_or(self.s.len());
        let (head, tail) = self.s.split_at(end);
        self.s = tail;
        head
    }

    /// One or more ASCII digits, as written.
    fn digits(&mut self) -> Option<&'a str> {
        let d = self.take_while(|c| c.is_ascii_digit());
        (!d.is_empty()).then_some(d)
    }

    /// An optionally negative decimal `i64`.
    fn int(&mut self) -> Option<i64> {
        let neg = self.lit("-").is_some();
        let d = self.digits()?;
        let v: i64 = d.parse().ok()?;
        Some(if neg { -v } else { v })
    }

    /// A Go `%q` string: `"…"` with backslash escapes.
    fn quoted(&mut self) -> Option<String> {
        let mut chars = self.s.strip_prefix('"')?.char_indices();
        let mut out = String::new();
        let body = &self.s[1..];
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.s = &body[i + 1..];
                    return Some(out);
                }
                '\\' => {
                    let (_, e) = chars.next()?;
                    match e {
                        'n' => out.push('\n'),
                        't' => out.push('\t'),
                        'r' => out.push('\r'),
                        '0'..='7' | 'x' | 'u' | 'U' => {
                            let len = match e {
                                'x' => 2,
                                'u' => 4,
                                'U' => 8,
                                _ => 2,
                            };
                            let mut hex = String::new();
                            if matches!(e, '0'..='7') {
                                hex.push(e);
                            }
                            for _ in 0..len {
                                hex.push(chars.next()?.1);
                            }
                            let radix = if matches!(e, '0'..='7') { 8 } else { 16 };
                            let v = u32::from_str_radix(&hex, radix).ok()?;
                            out.push(char::from_u32(v).unwrap_or('\u{fffd}'));
                        }
                        other => out.push(other),
                    }
                }
                c => out.push(c),
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_heap_and_count_headers() {
        assert_eq!(
            sniff(b"heap profile: 1: 2 [3: 4] @ heap/8"),
            Some(Kind::Heap)
        );
        assert_eq!(
            sniff(b"\n# c\ngoroutine profile: total 3\n"),
            Some(Kind::Count)
        );
        assert_eq!(sniff(b"threadcreate profile: total 3"), Some(Kind::Count));
        assert_eq!(sniff(b"\x0a\x04\x08\x01\x10\x02"), None);
        assert_eq!(sniff(b"hello world"), None);
    }

    #[test]
    fn scale_matches_go() {
        // Values checked against `go tool pprof -raw` on the fixture.
        assert_eq!(scale_heap_sample(426, 436_224, 4096), (1925, 1_972_086));
        assert_eq!(scale_heap_sample(0, 0, 4096), (0, 0));
        assert_eq!(scale_heap_sample(5, 0, 4096), (0, 0));
        assert_eq!(scale_heap_sample(3, 30, 1), (3, 30));
    }

    #[test]
    fn frames_split_on_tab_runs() {
        let f = frame("0x4bbeb5\tmain.newEntry+0x35\t\t/src/my dir/main.go:42", 1).unwrap();
        assert_eq!(f, (0x4bbeb5, "main.newEntry", "/src/my dir/main.go", 42));
        assert_eq!(frame("0x10", 1).unwrap(), (0x10, "", "", 0));
        assert!(frame("0xzz\tf", 3).is_err());
    }

    #[test]
    fn labels_are_go_quoted() {
        let l = parse_labels(r#"{"a":"b", "k\"q":"v\n"}"#, 1).unwrap();
        assert_eq!(
            l,
            vec![("a".into(), "b".into()), ("k\"q".into(), "v\n".into())]
        );
        assert!(parse_labels("{\"a\"}", 1).is_err());
        assert_eq!(parse_labels("{}", 1).unwrap(), vec![]);
    }
}
