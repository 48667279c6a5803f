//! The memory map that native heap dumps end with: a copy of the process's
//! `/proc/self/maps` after a `MAPPED_LIBRARIES:` (jemalloc, gperftools) or
//! `--- Memory map: ---` line.
//!
//! ```text
//! 559c0d7f8000-559c0d7f9000 r-xp 00001000 fe:00 10047149   /srv/leaky
//! 7ff337e44000-7ff337f9a000 r-xp 00026000 fe:00 326279     /usr/lib/x86_64-linux-gnu/libc.so.6
//! ```
//!
//! The mappings become the profile's, the way pprof's `ParseMemoryMap` makes
//! them: only executable ranges (code addresses can be nowhere else),
//! adjacent ranges of one file merged, the main binary (the first file that
//! is neither a shared library nor a `[pseudo]` range) moved first — where
//! `--binary` and `/proc/PID/exe` apply — and every location attached to
//! the range holding its address. That is what lets the symbolizer turn a
//! position-independent executable's or a library's runtime address back
//! into an address of the file: without it, a PIE address is taken for a
//! file address and names whatever symbol happens to sit there.

use crate::error::shorten;
use crate::{DecodeError, Interner, Mapping, Profile};

/// One executable range of the memory map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MapRange {
    pub start: u64,
    pub limit: u64,
    pub offset: u64,
    pub file: String,
}

/// Whether `line` starts a memory map section.
pub(crate) fn is_map_start(line: &str) -> bool {
    line.contains("MAPPED_LIBRARIES:") || line.contains("--- Memory map: ---")
}

/// Parses the lines of a memory map section (after its `MAPPED_LIBRARIES:`
/// line) into its executable ranges, in file order, adjacent ranges of one
/// file merged.
pub(crate) fn parse<'a>(
    lines: impl Iterator<Item = (usize, &'a str)>,
) -> Result<Vec<MapRange>, DecodeError> {
    let mut out: Vec<MapRange> = Vec::new();
    for (n, raw) in lines {
        let line = raw.trim();
        // gperftools may write `build=DIR` lines for `$build` in the paths
        // that follow; the paths are only names to us, so they are skipped.
        if line.is_empty() || line.starts_with("build=") {
            continue;
        }
        let Some(range) = parse_line(line, n)? else {
            continue;
        };
        if let Some(last) = out.last_mut() {
            if last.file == range.file
                && last.limit == range.start
                && last.offset.checked_add(last.limit - last.start) == Some(range.offset)
            {
                last.limit = range.limit;
                continue;
            }
        }
        out.push(range);
    }
    Ok(out)
}

/// `START-END PERMS OFFSET DEV INODE [PATH]`; `None` for a range that is
/// not executable.
fn parse_line(line: &str, n: usize) -> Result<Option<MapRange>, DecodeError> {
    let bad = |what: &str| DecodeError::TextLine {
        line: n,
        problem: format!(
            "{what} in memory map line {:?}; expected `START-END PERMS OFFSET DEV INODE PATH` \
             as in /proc/PID/maps",
            shorten(line, 80)
        ),
    };
    let mut fields = line.splitn(6, |c: char| c.is_ascii_whitespace());
    let mut next = || {
        // Runs of spaces separate the columns.
        fields.by_ref().find(|f| !f.is_empty())
    };
    let range = next().ok_or_else(|| bad("no address range"))?;
    let perms = next().ok_or_else(|| bad("no permissions"))?;
    let offset = next().ok_or_else(|| bad("no offset"))?;
    let dev = next().ok_or_else(|| bad("no device"))?;
    let inode = next().ok_or_else(|| bad("no inode"))?;
    let path = fields.next().unwrap_or("").trim();
    let (start, limit) = range
        .split_once('-')
        .and_then(|(s, e)| Some((hex(s)?, hex(e)?)))
        .ok_or_else(|| bad("bad address range"))?;
    if limit < start {
        return Err(bad("address range ends before it starts"));
    }
    let perms_ok = perms.len() == 4 && perms.bytes().all(|b| b"-rwxps".contains(&b));
    if !perms_ok {
        return Err(bad("bad permissions"));
    }
    let offset = hex(offset).ok_or_else(|| bad("bad offset"))?;
    let dev_ok = dev
        .split_once(':')
        .is_some_and(|(a, b)| hex(a).is_some() && hex(b).is_some());
    if !dev_ok || inode.is_empty() || !inode.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("bad device or inode"));
    }
    if !perms.contains('x') {
        return Ok(None);
    }
    Ok(Some(MapRange {
        start,
        limit,
        offset,
        file: path.to_owned(),
    }))
}

fn hex(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 16 {
        return None;
    }
    u64::from_str_radix(s, 16).ok()
}

/// Whether pprof would take `file` for a shared library rather than the
/// main binary: `….so` or `….so.N…`/`….so_N…`.
fn is_library(file: &str) -> bool {
    let base = file.rsplit('/').next().unwrap_or(file);
    base.ends_with(".so")
        || base.match_indices(".so").any(|(at, _)| {
            let rest = &base.as_bytes()[at + 3..];
            rest.len() >= 2 && matches!(rest[0], b'.' | b'_') && rest[1].is_ascii_digit()
        })
}

/// Makes `ranges` the profile's mappings (the main binary first) and
/// attaches every location with an address to the one holding it; a
/// location in none of them gets a last catch-all mapping, as pprof gives
/// it.
pub(crate) fn attach(p: &mut Profile, strings: &mut Interner, mut ranges: Vec<MapRange>) {
    let main = ranges.iter().position(|r| {
        let file = r.file.replace("(deleted)", "");
        let file = file.trim();
        !file.is_empty() && !is_library(file) && !file.starts_with('[')
    });
    if let Some(main) = main {
        ranges.swap(0, main);
    }
    p.mappings = ranges
        .iter()
        .enumerate()
        .map(|(i, r)| Mapping {
            id: i as u64 + 1,
            memory_start: r.start,
            memory_limit: r.limit,
            file_offset: r.offset,
            filename: strings.intern(&r.file),
            ..Mapping::default()
        })
        .collect();
    let mut by_start: Vec<usize> = (0..ranges.len()).collect();
    by_start.sort_by_key(|&i| (ranges[i].start, ranges[i].limit));
    let mut catch_all = None;
    for loc in &mut p.locations {
        if loc.address == 0 {
            continue;
        }
        let a = loc.address;
        // The last range starting at or below the address; ranges of a real
        // map never overlap, and in a hostile one any holder will do.
        let at = by_start.partition_point(|&i| ranges[i].start <= a);
        let holder = at
            .checked_sub(1)
            .map(|k| by_start[k])
            .filter(|&i| a < ranges[i].limit);
        loc.mapping_id = match holder {
            Some(i) => i as u64 + 1,
            None => *catch_all.get_or_insert_with(|| {
                let id = p.mappings.len() as u64 + 1;
                p.mappings.push(Mapping {
                    id,
                    memory_limit: u64::MAX,
                    ..Mapping::default()
                });
                id
            }),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Location;

    const MAP: &str = "\
559c0d7f7000-559c0d7f8000 r--p 00000000 fe:00 10047149                   /srv/leaky
559c0d7f8000-559c0d7f9000 r-xp 00001000 fe:00 10047149                   /srv/leaky
7ff330000000-7ff335000000 rw-p 00000000 00:00 0 
7ff337e44000-7ff337f9a000 r-xp 00026000 fe:00 326279                     /usr/lib/libc.so.6
7ff337f9a000-7ff337f9b000 r-xp 0017c000 fe:00 326279                     /usr/lib/libc.so.6
7ffd1c1fe000-7ffd1c200000 r-xp 00000000 00:00 0                          [vdso]
";

    fn ranges(text: &str) -> Result<Vec<MapRange>, DecodeError> {
        parse(text.lines().enumerate().map(|(i, l)| (i + 1, l)))
    }

    #[test]
    fn keeps_executable_ranges_and_merges_adjacent_ones() {
        let r = ranges(MAP).unwrap();
        let files: Vec<&str> = r.iter().map(|r| r.file.as_str()).collect();
        assert_eq!(files, ["/srv/leaky", "/usr/lib/libc.so.6", "[vdso]"]);
        assert_eq!(r[0].offset, 0x1000);
        assert_eq!(r[1].limit, 0x7ff337f9b000);
    }

    #[test]
    fn tells_libraries_from_binaries() {
        assert!(is_library("/usr/lib/libc.so.6"));
        assert!(is_library("libjemalloc.so"));
        assert!(is_library("/x/libstdc++.so.6.0.30"));
        assert!(!is_library("/srv/my.sofa"));
        assert!(!is_library("/srv/leaky"));
    }

    #[test]
    fn the_main_binary_comes_first_and_strays_get_a_catch_all() {
        let mut r = ranges(MAP).unwrap();
        r.swap(0, 1);
        let mut p = Profile::default();
        for (id, address) in [(1, 0x559c0d7f8178), (2, 0x7ff337e45000), (3, 0x10)] {
            p.locations.push(Location {
                id,
                address,
                ..Location::default()
            });
        }
        let mut strings = Interner::default();
        attach(&mut p, &mut strings, r);
        let s = strings.into_strings();
        assert_eq!(s[p.mappings[0].filename as usize], "/srv/leaky");
        let ids: Vec<u64> = p.locations.iter().map(|l| l.mapping_id).collect();
        assert_eq!(ids, [1, 2, 4]);
        assert_eq!(p.mappings[3].memory_limit, u64::MAX);
    }

    #[test]
    fn bad_lines_are_named() {
        let e = ranges("559c0d7f7000-559c0d7f8000 r--p 00000000 fe:00 1 /a\nnonsense here\n")
            .unwrap_err();
        assert!(e.to_string().starts_with("line 2: "), "{e}");
        assert!(ranges("2000-1000 r-xp 0 0:0 0 /a").is_err());
        assert!(ranges("1000-2000 r-xq 0 0:0 0 /a").is_err());
    }
}
