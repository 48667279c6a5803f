//! Real Go profiles (the committed fixtures and a fresh run of the
//! generator) decoded and checked against `go tool pprof`.

use crate::common;

use std::collections::BTreeSet;

use common::*;
use leakwatch_profile::{decode, Limits, Profile};

const HEAP_TYPES: [&str; 4] = [
    "alloc_objects",
    "alloc_space",
    "inuse_objects",
    "inuse_space",
];

fn assert_heap_totals_match_pprof(dir: &std::path::Path, file: &str) {
    let path = dir.join(file);
    let p = decode(&std::fs::read(&path).unwrap(), &Limits::default()).unwrap();
    assert_eq!(p.sample_type_names(), HEAP_TYPES);
    for (i, ty) in HEAP_TYPES.iter().enumerate() {
        assert_eq!(total(&p, i), pprof_total(&path, ty), "{file} {ty}");
    }
}

#[test]
fn heap_totals_equal_pprof_on_fixtures() {
    let dir = repo_root().join("testdata/profiles");
    assert_heap_totals_match_pprof(&dir, "heap.txt");
    assert_heap_totals_match_pprof(&dir, "heap.pb.gz");
}

#[test]
fn heap_totals_equal_pprof_on_a_fresh_go_process() {
    let dir = fresh_profiles();
    assert_heap_totals_match_pprof(dir, "heap.txt");
    assert_heap_totals_match_pprof(dir, "heap.pb.gz");
}

#[test]
fn goroutine_totals_equal_pprof() {
    for dir in [
        repo_root().join("testdata/profiles"),
        fresh_profiles().to_owned(),
    ] {
        for file in ["goroutine.txt", "goroutine.pb.gz"] {
            let path = dir.join(file);
            let p = decode(&std::fs::read(&path).unwrap(), &Limits::default()).unwrap();
            assert_eq!(p.sample_type_names(), ["goroutine"], "{file}");
            assert_eq!(total(&p, 0), pprof_total(&path, "goroutine"), "{file}");
        }
    }
}

/// Both forms come from the same `runtime.MemProfile` records: Go unsamples
/// the protobuf with `scaleHeapSample` and pprof does the same to the text,
/// so taken at one GC cycle the totals are equal. The text names what Go
/// prints in its `#` comment lines, which hide exactly the leading runtime
/// frames that Go's protobuf writer drops, so the functions agree too.
fn assert_text_and_proto_agree(text: &Profile, proto: &Profile) {
    assert_eq!(text.sample_type_names(), proto.sample_type_names());
    for i in 0..text.sample_types.len() {
        assert_eq!(total(text, i), total(proto, i), "sample type {i}");
    }
    assert_eq!(text.period, proto.period);
    // Functions of samples with a nonzero value: both forms list every
    // bucket the runtime knows, and buckets created after the first write
    // (by the writer itself) appear, all zero, only in the second.
    let names = |p: &Profile| -> BTreeSet<String> {
        let mut names = BTreeSet::new();
        for s in p
            .samples
            .iter()
            .filter(|s| s.values.iter().any(|&v| v != 0))
        {
            for &id in &s.location_ids {
                let l = p.locations.iter().find(|l| l.id == id).unwrap();
                for line in &l.lines {
                    let f = p
                        .functions
                        .iter()
                        .find(|f| f.id == line.function_id)
                        .unwrap();
                    names.insert(p.str(f.name).to_owned());
                }
            }
        }
        names
    };
    let text_names = names(text);
    assert_eq!(text_names, names(proto));
    assert!(text_names.contains("main.newEntry"));
    assert!(
        text_names.contains("main.newBuf"),
        "the inlined allocator is named"
    );
}

#[test]
fn text_and_protobuf_of_one_process_agree() {
    assert_text_and_proto_agree(&decode_fixture("heap.txt"), &decode_fixture("heap.pb.gz"));
    let dir = fresh_profiles();
    let read = |f: &str| decode(&std::fs::read(dir.join(f)).unwrap(), &Limits::default()).unwrap();
    assert_text_and_proto_agree(&read("heap.txt"), &read("heap.pb.gz"));
}

#[test]
fn legacy_heap_profile_is_built_like_pprof_builds_it() {
    let p = decode_fixture("heap.txt");
    let st = |i: usize| (p.str(p.sample_types[i].ty), p.str(p.sample_types[i].unit));
    assert_eq!(st(1), ("alloc_space", "bytes"));
    assert_eq!(st(2), ("inuse_objects", "count"));
    let pt = p.period_type.unwrap();
    assert_eq!((p.str(pt.ty), p.str(pt.unit)), ("space", "bytes"));
    // `heap/8192` is twice MemProfileRate.
    assert_eq!(p.period, 4096);
    assert!(p.str(p.drop_frames).contains("|runtime\\..*|"));
    assert_eq!(
        p.str(p.keep_frames),
        "runtime\\.panic|runtime\\.reflectcall|runtime\\.call[0-9]*"
    );
    // One catch-all mapping, as pprof creates for Go's map-less text.
    assert_eq!(p.mappings.len(), 1);
    assert_eq!(p.mappings[0].memory_limit, u64::MAX);
    assert!(p.mappings[0].has_functions);

    // First row: `426: 436224 [426: 436224] @ 0x4bbeb6 0x4bbdf5 0x4bc576 …`,
    // unsampled at rate 4096 and labelled with the block size.
    let s = &p.samples[0];
    assert_eq!(s.values, [1925, 1_972_086, 1925, 1_972_086]);
    assert_eq!(s.labels.len(), 1);
    assert_eq!((p.str(s.labels[0].key), s.labels[0].num), ("bytes", 1024));
    // Addresses move back onto the call instruction, which is the PC Go
    // prints in the comment; runtime.goexit (hidden by Go) is left out.
    let loc = |id: u64| p.locations.iter().find(|l| l.id == id).unwrap();
    let names: Vec<&str> = s
        .location_ids
        .iter()
        .map(|&id| p.str(p.functions[loc(id).lines[0].function_id as usize - 1].name))
        .collect();
    assert_eq!(
        names,
        [
            "main.newEntry",
            "main.(*cache).get",
            "main.main",
            "runtime.main"
        ]
    );
    assert_eq!(loc(s.location_ids[0]).address, 0x4bbeb5);
    assert_eq!(loc(s.location_ids[0]).lines[0].line, 42);

    // Second row starts with three hidden runtime frames (map growth).
    let s = &p.samples[1];
    let first = loc(s.location_ids[0]);
    assert_eq!(
        p.str(p.functions[first.lines[0].function_id as usize - 1].name),
        "main.(*cache).get"
    );
}

#[test]
fn memstats_trailer_is_parsed() {
    let m = decode_fixture("heap.txt").memstats.expect("memstats");
    assert_eq!(m.alloc, 4_572_952);
    assert_eq!(m.heap_inuse, 4_988_928);
    assert_eq!((m.stack_inuse, m.stack_sys), (262_144, 262_144));
    assert_eq!((m.mspan_inuse, m.mspan_sys), (97_344, 130_176));
    assert_eq!((m.mcache_inuse, m.mcache_sys), (2400, 15_600));
    assert_eq!(m.sys, 19_248_392);
    assert_eq!((m.num_gc, m.num_forced_gc), (3, 1));
    assert_eq!(m.next_gc, 9_223_372_036_842_189_327);
    assert_eq!(m.max_rss, 19_091_456);
    assert!(!m.debug_gc);
    assert!(decode_fixture("heap.pb.gz").memstats.is_none());
}

#[test]
fn goroutine_text_profile_names_user_frames() {
    let p = decode_fixture("goroutine.txt");
    let pt = p.period_type.unwrap();
    assert_eq!(
        (p.str(pt.ty), p.str(pt.unit), p.period),
        ("goroutine", "count", 1)
    );
    assert_eq!(p.samples[0].values, [5]);
    // The runtime frames Go hides from the comments stay in the stack, as
    // pprof keeps them: the leaf is where the goroutine parked, unnamed
    // without the binary, and main.waiter is named from its comment.
    let stack: Vec<_> = p.samples[0]
        .location_ids
        .iter()
        .map(|&id| &p.locations[id as usize - 1])
        .collect();
    assert_eq!(stack.len(), 5);
    assert_eq!(stack[0].address, 0x437cd5);
    assert!(stack[0].lines.is_empty());
    let waiter = stack[3];
    assert_eq!(
        p.str(p.functions[waiter.lines[0].function_id as usize - 1].name),
        "main.waiter"
    );
    assert!(function_names(&p).contains("runtime/pprof.writeGoroutine"));
}

#[test]
fn gzipped_text_profiles_decode_like_plain_ones() {
    use std::io::Write;
    let text = fixture("heap.txt");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&text).unwrap();
    let gz = gz.finish().unwrap();
    assert_eq!(
        decode(&gz, &Limits::default()).unwrap(),
        decode_fixture("heap.txt")
    );
}

/// Go's count profile text with goroutine labels (`pprof.Do`), in the
/// tabwriter-aligned form Go 1.19 prints.
#[test]
fn goroutine_labels_become_string_labels() {
    let text = "goroutine profile: total 3\n\
        2 @ 0x437cd6 0x4bc1d3 0x461ac1\n\
        # labels: {\"request\":\"GET /a\", \"worker\":\"7\"}\n\
        #\t0x4bc1d2\tmain.waiter+0x32\t\t/src/main.go:73\n\
        \n\
        1 @ 0x437cd6 0x461ac1\n\
        \n";
    let p = decode(text.as_bytes(), &Limits::default()).unwrap();
    assert_eq!(p.samples.len(), 2);
    let labels: Vec<(&str, &str)> = p.samples[0]
        .labels
        .iter()
        .map(|l| (p.str(l.key), p.str(l.str)))
        .collect();
    assert_eq!(labels, [("request", "GET /a"), ("worker", "7")]);
    // The runtime frames Go hides around main.waiter are kept, as pprof
    // keeps them, and main.waiter is named...
    assert_eq!(p.samples[0].location_ids.len(), 3);
    let loc = &p.locations[p.samples[0].location_ids[1] as usize - 1];
    assert_eq!(loc.address, 0x4bc1d2);
    assert!(!loc.lines.is_empty());
    // ...and a stack with no named frame at all is kept whole, unnamed.
    assert_eq!(p.samples[1].location_ids.len(), 2);
    assert_eq!(p.samples[1].values, [1]);
    assert!(!p.mappings[0].has_functions);
}
