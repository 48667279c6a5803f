//! Native heap dumps (jemalloc's `heap_v2`, gperftools' heap profiles)
//! through the public API: their memory maps, hostile input, and the
//! formats that are recognized but not read. Real dumps of real programs
//! are read in leakwatch's `native` tests.

use leakwatch_profile::{decode, scan, DecodeError, Limits, Profile, SampleSource};

const MAP: &str = "MAPPED_LIBRARIES:
555500000000-555500001000 r--p 00000000 fe:00 1 /srv/leaky
555500001000-555500002000 r-xp 00001000 fe:00 1 /srv/leaky
7f0000000000-7f0000001000 r-xp 00000000 fe:00 2 /usr/lib/libc.so.6
";

fn read(text: &str) -> Result<Profile, DecodeError> {
    let limits = Limits::default();
    let decoded = decode(text.as_bytes(), &limits);
    // The scan path reads text whole: same profile, same error.
    let scanned = scan(text.as_bytes().to_vec(), &limits).map(|s| s.tables().clone());
    assert_eq!(decoded, scanned);
    decoded
}

fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

/// (file of the mapping, address) of each location of the first sample.
fn frames(p: &Profile) -> Vec<(String, u64)> {
    p.samples[0]
        .location_ids
        .iter()
        .map(|&id| {
            let l = p.locations.iter().find(|l| l.id == id).unwrap();
            let m = p.mappings.iter().find(|m| m.id == l.mapping_id).unwrap();
            (p.str(m.filename).to_owned(), l.address)
        })
        .collect()
}

#[test]
fn gperftools_heap_profiles_get_their_memory_map() {
    for header in [
        "heap profile:    2:  8192 [    4:  9216] @ heapprofile",
        "heap profile:    2:  8192 [    4:  9216] @ heap_v2/524288",
        "heap profile:    2:  8192 [    4:  9216] @ growthz",
    ] {
        let text = format!(
            "{header}\n     2:  8192 [     2:  8192] @ 0x555500001179 0x7f00000000a1\n\n{MAP}"
        );
        let p = read(&text).unwrap();
        assert_eq!(
            frames(&p),
            [
                ("/srv/leaky".to_owned(), 0x555500001178),
                ("/usr/lib/libc.so.6".to_owned(), 0x7f00000000a0)
            ],
            "{header}"
        );
        // Position-independent: the file offset is what the symbolizer
        // needs to find the address in the file.
        assert_eq!(p.mappings[0].memory_start, 0x555500001000);
        assert_eq!(p.mappings[0].file_offset, 0x1000);
    }
}

#[test]
fn jemalloc_dumps_decode_gzipped_too() {
    let dump = format!(
        "heap_v2/524288\n  t*: 1: 100 [0: 0]\n@ 0x555500001179\n  t*: 1: 100 [0: 0]\n  t3: 1: 100 [0: 0]\n\n{MAP}"
    );
    let plain = read(&dump).unwrap();
    let zipped = decode(&gzip(dump.as_bytes()), &Limits::default()).unwrap();
    assert_eq!(plain, zipped);
    assert_eq!(plain.sample_type_names(), ["inuse_objects", "inuse_space"]);
    // One 100-byte object sampled at 1 in 512 KiB stands for ~5243.
    assert_eq!(plain.samples[0].values, [5243, 524_338]);
}

#[test]
fn hostile_dumps_are_refused_or_bounded() {
    // Counts past i64: refused, naming the line.
    let e = read("heap_v2/1\n@ 0x1\n t*: 1: 99999999999999999999999 [0: 0]\n").unwrap_err();
    assert_eq!(
        e.to_string(),
        "line 3: count 99999999999999999999999 is too large in \
         \"t*: 1: 99999999999999999999999 [0: 0]\"; expected `@ 0xADDR …` or \
         `tN: OBJECTS: BYTES [OBJECTS: BYTES]`"
    );
    // Counts that fit but whose unsampled values would not: saturated.
    let big = i64::MAX;
    let p = read(&format!(
        "heap_v2/524288\n@ 0x1\n t*: {big}: {big} [0: 0]\n"
    ))
    .unwrap();
    assert!(p.samples[0].values.iter().all(|&v| v > 0));
    // Addresses wider than 64 bits.
    let e = read("heap_v2/1\n@ 0x10000000000000000\n").unwrap_err();
    assert!(e.to_string().starts_with("line 2: bad address"), "{e}");
    // A hundred thousand addresses in one stack, most of them repeated:
    // one location per distinct address (callers moved back by one onto
    // their call: 0x0 to 0x3f), memory in proportion to the input.
    let stack: Vec<String> = (0..100_000)
        .map(|i| format!("0x{:x}", i % 64 + 1))
        .collect();
    let p = read(&format!(
        "heap_v2/1\n@ {}\n t*: 1: 1 [0: 0]\n",
        stack.join(" ")
    ))
    .unwrap();
    assert_eq!(p.locations.len(), 64);
    // A memory map line that is not one.
    let e = read(&format!(
        "heap_v2/1\n@ 0x1\n t*: 1: 1 [0: 0]\n{MAP}garbage\n"
    ))
    .unwrap_err();
    assert!(e.to_string().starts_with("line 8: no permissions"), "{e}");
}

#[test]
fn recognized_formats_that_are_not_read_are_named() {
    let cases: [(&[u8], &str); 4] = [
        (b"--- threadz 1 ---\n", "a threadz profile"),
        (b"--- heapz 1 ---\nformat = java\n", "a Java heap profile"),
        // Go's `--- mutex:` is read now (go_text.rs); C++'s is not.
        (b"--- contentionz 1 ---\n", "a Java contention profile"),
        (
            &[0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 16, 39, 0, 0, 0, 0, 0, 0],
            "a legacy CPU profile",
        ),
    ];
    for (bytes, name) in cases {
        for input in [bytes.to_vec(), gzip(bytes)] {
            let e = decode(&input, &Limits::default()).unwrap_err();
            let msg = e.to_string();
            assert!(msg.starts_with(&format!("this is {name}")), "{msg}");
            assert!(
                msg.contains("go tool pprof -proto FILE > out.pb.gz"),
                "{msg}"
            );
        }
    }
}

#[test]
fn gzip_holding_unknown_text_is_called_gzip() {
    let e = decode(&gzip(b"# notes\nsome text\n"), &Limits::default()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "unrecognized profile format: gzip data, but what it holds is not pprof protobuf, \
         not a Go text profile, not a heap dump (it starts with \"# notes\\nsome tex\")"
    );
}
