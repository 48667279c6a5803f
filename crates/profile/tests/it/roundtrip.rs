//! decode → encode → decode is the identity on the model, for real Go
//! profiles and for hand-built profiles using every field of profile.proto.

use crate::common;

use common::decode_fixture;
use leakwatch_profile::{
    decode, encode, encode_gzip, Function, Label, Limits, Line, Location, Mapping, Profile, Sample,
    ValueType,
};

fn assert_round_trips(p: &Profile) {
    let limits = Limits::default();
    let mut expected = p.clone();
    // profile.proto has no place for the MemStats trailer.
    expected.memstats = None;
    let raw = decode(&encode(p), &limits).unwrap();
    assert_eq!(raw, expected, "raw protobuf");
    let gz = decode(&encode_gzip(p), &limits).unwrap();
    assert_eq!(gz, expected, "gzipped protobuf");
    // And the encoding itself is stable.
    assert_eq!(encode(&raw), encode(p));
}

#[test]
fn real_go_profiles_round_trip() {
    for name in ["heap.pb.gz", "heap.txt", "goroutine.pb.gz", "goroutine.txt"] {
        let p = decode_fixture(name);
        assert!(!p.samples.is_empty(), "{name}");
        assert_round_trips(&p);
    }
}

/// Every field set, including the rarely used ones.
fn everything() -> Profile {
    let mut p = Profile::default();
    let mut s = |x: &str| p.intern(x);
    let (alloc, inuse, count, bytes) = (s("alloc_space"), s("inuse_space"), s("count"), s("bytes"));
    let (key, thread, unit, file, build) = (
        s("bytes"),
        s("thread"),
        s("kilobytes"),
        s("/bin/app"),
        s("abc123"),
    );
    let (f1, f2, sys, src) = (s("main.a"), s("main.b"), s("_ZN4main1aE"), s("/src/a.go"));
    let (drop, keep, comment, url) = (
        s("runtime\\..*"),
        s("runtime\\.panic"),
        s("taken by test"),
        s("https://example.invalid/doc"),
    );
    p.sample_types = vec![
        ValueType {
            ty: alloc,
            unit: bytes,
        },
        ValueType {
            ty: inuse,
            unit: bytes,
        },
    ];
    p.period_type = Some(ValueType {
        ty: alloc,
        unit: count,
    });
    p.period = 524_288;
    p.default_sample_type = inuse;
    p.doc_url = url;
    p.drop_frames = drop;
    p.keep_frames = keep;
    p.comments = vec![comment, url];
    p.time_nanos = 1_795_707_071_730_841_813;
    p.duration_nanos = -5; // any int64 survives, negative included
    p.mappings = vec![
        Mapping {
            id: 1,
            memory_start: 0x400000,
            memory_limit: 0x800000,
            file_offset: 0x1000,
            filename: file,
            build_id: build,
            has_functions: true,
            has_filenames: true,
            has_line_numbers: false,
            has_inline_frames: true,
        },
        Mapping {
            id: 7,
            memory_start: 0x7f00_0000_0000,
            memory_limit: u64::MAX,
            ..Mapping::default()
        },
    ];
    p.functions = vec![
        Function {
            id: 10,
            name: f1,
            system_name: sys,
            filename: src,
            start_line: 3,
        },
        Function {
            id: 11,
            name: f2,
            system_name: f2,
            filename: src,
            start_line: 0,
        },
    ];
    p.locations = vec![
        Location {
            id: 100,
            mapping_id: 1,
            address: 0x401234,
            lines: vec![
                Line {
                    function_id: 10,
                    line: 5,
                    column: 9,
                },
                Line {
                    function_id: 11,
                    line: 20,
                    column: 0,
                },
            ],
            is_folded: true,
        },
        Location {
            id: 5,
            mapping_id: 7,
            address: 0x7f00_0000_1000,
            lines: vec![],
            is_folded: false,
        },
        Location {
            id: 6,
            mapping_id: 0,
            address: 0,
            lines: vec![Line {
                function_id: 0,
                line: -1,
                column: -2,
            }],
            is_folded: false,
        },
    ];
    p.samples = vec![
        Sample {
            location_ids: vec![100, 5, 6],
            values: vec![i64::MAX, -1],
            labels: vec![
                Label {
                    key,
                    str: 0,
                    num: 4096,
                    num_unit: unit,
                },
                Label {
                    key: thread,
                    str: f1,
                    num: 0,
                    num_unit: 0,
                },
                Label::default(),
            ],
        },
        Sample {
            location_ids: vec![],
            values: vec![0, 0],
            labels: vec![],
        },
        Sample {
            location_ids: vec![6; 300],
            values: vec![i64::MIN, 1 << 40],
            labels: vec![],
        },
    ];
    p
}

#[test]
fn every_field_round_trips() {
    assert_round_trips(&everything());
}

#[test]
fn empty_profile_round_trips() {
    let mut p = Profile::default();
    p.intern("");
    assert_round_trips(&p);
    // A period type of all zeros is still present after the round trip.
    p.period_type = Some(ValueType::default());
    assert_round_trips(&p);
}

#[test]
fn unpacked_repeated_fields_decode_like_packed_ones() {
    // Sample{location_id: 1, location_id: 2, value: 7, value: -3} written
    // unpacked, as proto2-era writers do.
    let p = everything();
    let mut raw = Vec::new();
    let mut sample = vec![0x08, 100, 0x08, 5, 0x10, 7];
    sample.push(0x10);
    sample.extend([0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]); // -3
    raw.push(0x12);
    raw.push(sample.len() as u8);
    raw.extend(&sample);
    // Unpacked comment too.
    raw.extend([0x68, 1]);
    let mut base = p.clone();
    base.samples.clear();
    base.comments.clear();
    raw.extend(encode(&base));
    let decoded = decode(&raw, &Limits::default()).unwrap();
    assert_eq!(decoded.samples.len(), 1);
    assert_eq!(decoded.samples[0].location_ids, [100, 5]);
    assert_eq!(decoded.samples[0].values, [7, -3]);
    assert_eq!(decoded.comments, [1]);
}

#[test]
fn unknown_fields_are_skipped() {
    let mut raw = encode(&everything());
    // Field 16 (label_set in old protos), fixed64 field 30, fixed32 field
    // 31, varint field 99.
    raw.extend([0x82, 0x01, 0x02, 0x08, 0x01]);
    raw.extend([0xf1, 0x01, 1, 2, 3, 4, 5, 6, 7, 8]);
    raw.extend([0xfd, 0x01, 1, 2, 3, 4]);
    raw.extend([0x98, 0x06, 0x2a]);
    assert_eq!(decode(&raw, &Limits::default()).unwrap(), everything());
}

#[test]
fn concatenated_gzip_members_are_one_stream() {
    // gzip of the first half + gzip of the second half of a raw profile.
    let raw = encode(&everything());
    let (a, b) = raw.split_at(raw.len() / 2);
    let gz = |d: &[u8]| {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(d).unwrap();
        e.finish().unwrap()
    };
    let mut both = gz(a);
    both.extend(gz(b));
    assert_eq!(decode(&both, &Limits::default()).unwrap(), everything());
}
