//! jemalloc's `heap_v2` heap dumps, as written with
//! `MALLOC_CONF=prof:true,…` (or `_RJEM_MALLOC_CONF` for Rust's
//! tikv-jemallocator) to `PREFIX.PID.SEQ.iN.heap` and friends:
//!
//! ```text
//! heap_v2/524288
//!   t*: 1156: 4741563 [0: 0]
//!   t0: 1156: 4741563 [0: 0]
//! @ 0x7ff3380a2630 0x7ff3380a2d21 0x559c0d7f8178 0x559c0d7f81c6
//!   t*: 1154: 4728184 [0: 0]
//!   t0: 1154: 4728184 [0: 0]
//!
//! MAPPED_LIBRARIES:
//! 559c0d7f8000-559c0d7f9000 r-xp 00001000 fe:00 10047149   /srv/leaky
//! …
//! ```
//!
//! The number after `heap_v2/` is the sampling period, `2^lg_prof_sample`
//! bytes. Each `@` line is a stack, innermost frame first, followed by its
//! counts for all threads (`t*`) and per thread (`tN`): objects and bytes
//! in use, then in brackets objects and bytes allocated since start (only
//! with `prof_accum:true`, zeros otherwise). The lines before the first
//! stack are the per-thread totals.
//!
//! The profile built is what jemalloc's own `jeprof` reads from the dump:
//!
//! - one sample per stack from its `t*` line (the per-thread lines add up
//!   to it, and are checked but not kept);
//! - values unsampled as `jeprof` (and pprof, for its `heap_v2` profiles)
//!   does: a stack's objects and bytes are divided by the probability
//!   `1 - exp(-avg / period)` that an allocation of the stack's average
//!   size was sampled, each pair with its own average. jeprof keeps the
//!   results as fractions; they are truncated here per stack, as pprof's
//!   `scaleHeapSample` does, so totals can be below jeprof's by less than
//!   a byte per stack. A period of 0 or 1 (every allocation sampled) is
//!   not scaled;
//! - the first address of a stack is the PC where the backtrace was taken
//!   and kept as is; every other is a return address, moved back by one
//!   onto its call instruction (jeprof's `FixCallerAddresses`);
//! - the leading frames inside jemalloc's own shared library (its
//!   backtrace and `malloc` entry points) are left out of the stack. jeprof
//!   removes them by name, after symbolizing the library; a reader without
//!   the library's symbols would otherwise put every byte on
//!   `[libjemalloc.so.2]`. A jemalloc linked into the binary (as Rust's is)
//!   has its frames named by the symbolizer and dropped by the
//!   `drop_frames` it sets;
//! - the memory map becomes the mappings (see `maps`), so that addresses of
//!   position-independent executables and libraries are symbolized right.
//!
//! Sample types are `inuse_objects`/`inuse_space`, preceded by
//! `alloc_objects`/`alloc_space` when the dump has allocation counts — in
//! pprof's order, so the in-use space is the default.

use std::collections::HashMap;

use super::maps;
use super::text::scale_heap_sample;
use crate::error::shorten;
use crate::{DecodeError, Interner, Location, Profile, Sample, ValueType};

const HEADER: &str = "`heap_v2/PERIOD`";

/// Whether `line` (the first that is not blank) is a jemalloc dump header.
pub(crate) fn is_header(line: &[u8]) -> bool {
    line.starts_with(b"heap_v2/")
}

/// One stack while its lines are read.
struct Stack {
    line: usize,
    addrs: Vec<u64>,
    /// Objects and bytes in use, then allocated, from the `t*` line.
    counts: Option<[i64; 4]>,
}

/// Parses a jemalloc `heap_v2` dump. The result is not yet validated.
pub(crate) fn parse(text: &str) -> Result<Profile, DecodeError> {
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l));
    let (_, header) = lines
        .by_ref()
        .find(|(_, l)| !l.trim().is_empty())
        .unwrap_or((1, ""));
    let period = parse_header(header.trim())?;

    let mut stacks: Vec<Stack> = Vec::new();
    let mut ranges = Vec::new();
    while let Some((n, raw)) = lines.next() {
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        if maps::is_map_start(line) {
            ranges = maps::parse(lines.by_ref())?;
            break;
        }
        if let Some(rest) = line.strip_prefix('@') {
            stacks.push(Stack {
                line: n,
                addrs: addresses(rest, n)?,
                counts: None,
            });
            continue;
        }
        let (thread, counts) = count_line(line, n)?;
        match stacks.last_mut() {
            // Before the first stack: the per-thread totals, not needed.
            None => {}
            Some(s) if thread == "*" => {
                if s.counts.is_some() {
                    return Err(DecodeError::TextLine {
                        line: n,
                        problem: format!(
                            "second `t*:` line for the stack at line {}; each stack has one",
                            s.line
                        ),
                    });
                }
                s.counts = Some(counts);
            }
            Some(_) => {}
        }
    }

    let mut b = Builder::new(period);
    for s in &stacks {
        let counts = s.counts.ok_or_else(|| DecodeError::TextLine {
            line: s.line,
            problem: "stack has no `t*: OBJECTS: BYTES [OBJECTS: BYTES]` line after it".into(),
        })?;
        b.has_alloc |= counts[2] != 0 || counts[3] != 0;
    }
    b.sample_types();
    let lib = jemalloc_ranges(&ranges);
    for s in stacks {
        b.add(s, period, &lib);
    }
    Ok(b.finish(ranges))
}

/// The sampling period from `heap_v2/PERIOD`.
fn parse_header(line: &str) -> Result<i64, DecodeError> {
    let bad = || DecodeError::TextHeader {
        kind: "jemalloc heap dump",
        found: shorten(line, 80),
        expected: HEADER,
    };
    let digits = line.strip_prefix("heap_v2/").ok_or_else(bad)?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    digits.parse().map_err(|_| bad())
}

/// `tN: OBJECTS: BYTES [OBJECTS: BYTES]` (`N` a number or `*`), as the
/// thread and the four numbers.
fn count_line(line: &str, n: usize) -> Result<(&str, [i64; 4]), DecodeError> {
    let bad = |what: &str| DecodeError::TextLine {
        line: n,
        problem: format!(
            "{what} in {:?}; expected `@ 0xADDR …` or `tN: OBJECTS: BYTES [OBJECTS: BYTES]`",
            shorten(line, 80)
        ),
    };
    let rest = line.strip_prefix('t').ok_or_else(|| bad("unknown line"))?;
    let (thread, rest) = rest.split_once(':').ok_or_else(|| bad("no `:`"))?;
    if thread != "*" && (thread.is_empty() || !thread.bytes().all(|b| b.is_ascii_digit())) {
        return Err(bad("bad thread"));
    }
    let (inuse, alloc) = rest.split_once('[').ok_or_else(|| bad("no `[`"))?;
    let alloc = alloc
        .trim()
        .strip_suffix(']')
        .ok_or_else(|| bad("no `]`"))?;
    let pair = |s: &str| -> Result<(i64, i64), DecodeError> {
        let (a, b) = s
            .split_once(':')
            .ok_or_else(|| bad("no `:` in a count pair"))?;
        Ok((number(a, &bad)?, number(b, &bad)?))
    };
    let (n1, s1) = pair(inuse)?;
    let (n2, s2) = pair(alloc)?;
    for (count, size) in [(n1, s1), (n2, s2)] {
        if count == 0 && size != 0 {
            return Err(bad(&format!("0 objects but {size} bytes")));
        }
    }
    Ok((thread, [n1, s1, n2, s2]))
}

/// A count: decimal digits that fit an `i64`.
fn number(s: &str, bad: &impl Fn(&str) -> DecodeError) -> Result<i64, DecodeError> {
    let s = s.trim();
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad(&format!("bad count {:?}", shorten(s, 30))));
    }
    s.parse()
        .map_err(|_| bad(&format!("count {} is too large", shorten(s, 30))))
}

/// The space-separated `0x…` addresses after `@`.
fn addresses(s: &str, n: usize) -> Result<Vec<u64>, DecodeError> {
    let addrs = s
        .split_ascii_whitespace()
        .map(|tok| {
            tok.strip_prefix("0x")
                .filter(|h| !h.is_empty() && h.len() <= 16)
                .and_then(|h| u64::from_str_radix(h, 16).ok())
                .ok_or_else(|| DecodeError::TextLine {
                    line: n,
                    problem: format!(
                        "bad address {:?}: expected 0x and at most 16 hex digits",
                        shorten(tok, 40)
                    ),
                })
        })
        .collect::<Result<Vec<u64>, _>>()?;
    if addrs.is_empty() {
        return Err(DecodeError::TextLine {
            line: n,
            problem: "stack `@` without addresses".into(),
        });
    }
    Ok(addrs)
}

/// The address ranges of jemalloc's own shared library.
fn jemalloc_ranges(ranges: &[maps::MapRange]) -> Vec<(u64, u64)> {
    ranges
        .iter()
        .filter(|r| {
            let base = r.file.rsplit('/').next().unwrap_or(&r.file);
            base.starts_with("libjemalloc")
        })
        .map(|r| (r.start, r.limit))
        .collect()
}

struct Builder {
    p: Profile,
    strings: Interner,
    has_alloc: bool,
    /// Address → location id.
    locations: HashMap<u64, u64>,
}

impl Builder {
    fn new(period: i64) -> Builder {
        let mut b = Builder {
            p: Profile::default(),
            strings: Interner::default(),
            has_alloc: false,
            locations: HashMap::new(),
        };
        b.p.period_type = Some(b.value_type("space", "bytes"));
        b.p.period = period;
        b
    }

    fn value_type(&mut self, ty: &str, unit: &str) -> ValueType {
        ValueType {
            ty: self.strings.intern(ty),
            unit: self.strings.intern(unit),
        }
    }

    fn sample_types(&mut self) {
        let mut types = vec![];
        if self.has_alloc {
            types.extend([("alloc_objects", "count"), ("alloc_space", "bytes")]);
        }
        types.extend([("inuse_objects", "count"), ("inuse_space", "bytes")]);
        for (ty, unit) in types {
            let t = self.value_type(ty, unit);
            self.p.sample_types.push(t);
        }
    }

    fn add(&mut self, s: Stack, period: i64, lib: &[(u64, u64)]) {
        let [n1, s1, n2, s2] = s.counts.unwrap_or_default();
        let (n1, s1) = scale_heap_sample(n1, s1, period);
        let (n2, s2) = scale_heap_sample(n2, s2, period);
        let values = if self.has_alloc {
            vec![n2, s2, n1, s1]
        } else {
            vec![n1, s1]
        };
        let in_lib = |a: u64| lib.iter().any(|&(start, limit)| start <= a && a < limit);
        let skip = s.addrs.iter().take_while(|&&a| in_lib(a)).count();
        // A stack entirely inside jemalloc (none seen in practice) keeps
        // its frames rather than vanishing from the totals.
        let skip = if skip == s.addrs.len() { 0 } else { skip };
        let mut location_ids = Vec::with_capacity(s.addrs.len() - skip);
        for (i, &a) in s.addrs.iter().enumerate().skip(skip) {
            let address = if i == 0 { a } else { a.wrapping_sub(1) };
            location_ids.push(self.location(address));
        }
        self.p.samples.push(Sample {
            location_ids,
            values,
            labels: vec![],
        });
    }

    fn location(&mut self, address: u64) -> u64 {
        let next = self.p.locations.len() as u64 + 1;
        let id = *self.locations.entry(address).or_insert(next);
        if id == next {
            self.p.locations.push(Location {
                id,
                address,
                ..Location::default()
            });
        }
        id
    }

    fn finish(mut self, ranges: Vec<maps::MapRange>) -> Profile {
        maps::attach(&mut self.p, &mut self.strings, ranges);
        self.p.strings = self.strings.into_strings();
        self.p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DUMP: &str = "heap_v2/65536
  t*: 3: 12288 [0: 0]
  t0: 3: 12288 [0: 0]
@ 0x7f0000001000 0x555500001179 0x5555000011c7
  t*: 2: 8192 [0: 0]
  t0: 2: 8192 [0: 0]
@ 0x7f0000001000 0x5555000011a0
  t*: 1: 4096 [0: 0]
  t0: 1: 4096 [0: 0]

MAPPED_LIBRARIES:
555500000000-555500001000 r--p 00000000 fe:00 1 /srv/leaky
555500001000-555500002000 r-xp 00001000 fe:00 1 /srv/leaky
7f0000001000-7f0000002000 r-xp 00001000 fe:00 2 /usr/lib/libjemalloc.so.2
";

    #[test]
    fn reads_stacks_unsampled_with_mappings() {
        let p = parse(DUMP).unwrap();
        crate::validate::validate(&p).unwrap();
        assert_eq!(p.sample_type_names(), ["inuse_objects", "inuse_space"]);
        assert_eq!(p.period, 65536);
        // 8192 bytes in 2 objects at 1 in 64 KiB: 1/(1-e^(-4096/65536)).
        let scale = 1.0 / (1.0 - (-4096.0f64 / 65536.0).exp());
        assert_eq!(
            p.samples[0].values,
            [(2.0 * scale) as i64, (8192.0 * scale) as i64]
        );
        // jemalloc's frame is left out; callers move back onto the call.
        let addrs: Vec<u64> = p.samples[0]
            .location_ids
            .iter()
            .map(|&id| p.locations[id as usize - 1].address)
            .collect();
        assert_eq!(addrs, [0x555500001178, 0x5555000011c6]);
        assert_eq!(p.mappings.len(), 2);
        assert_eq!(p.str(p.mappings[0].filename), "/srv/leaky");
        assert_eq!(p.str(p.mappings[1].filename), "/usr/lib/libjemalloc.so.2");
        assert_eq!(p.mappings[0].file_offset, 0x1000);
    }

    #[test]
    fn alloc_counts_add_sample_types() {
        let dump = DUMP.replace("t*: 1: 4096 [0: 0]", "t*: 1: 4096 [5: 20480]");
        let p = parse(&dump).unwrap();
        assert_eq!(
            p.sample_type_names(),
            [
                "alloc_objects",
                "alloc_space",
                "inuse_objects",
                "inuse_space"
            ]
        );
    }

    #[test]
    fn defects_are_named_with_their_line() {
        let cases = [
            ("heap_v2/x\n", "bad jemalloc heap dump header"),
            ("heap_v2/1\n@ 0x1\n", "line 2: stack has no `t*"),
            ("heap_v2/1\n@ 0x1 zz\n", "line 2: bad address \"zz\""),
            (
                "heap_v2/1\n@ 0x1\n t*: 1: 2 [0: 0]\n t*: 1: 2 [0: 0]\n",
                "line 4: second",
            ),
            (
                "heap_v2/1\n@ 0x1\n t*: 0: 2 [0: 0]\n",
                "line 3: 0 objects but 2 bytes",
            ),
            (
                "heap_v2/1\n@ 0x1\n t*: 99999999999999999999: 2 [0: 0]\n",
                "line 3: count 99999999999999999999 is too large",
            ),
            (
                "heap_v2/1\n@ 0x1\n t*: 1: 2 [0: 0]\nhello\n",
                "line 4: unknown line",
            ),
            ("heap_v2/1\n@\n", "line 2: stack `@` without addresses"),
        ];
        for (input, want) in cases {
            let e = parse(input).unwrap_err().to_string();
            assert!(e.contains(want), "{input:?}: {e}");
        }
    }
}
