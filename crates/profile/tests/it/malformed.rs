//! Malformed inputs: each is refused with a message naming the defect.

use crate::common;

use std::io::Write;

use common::{fixture, scan_error};
use flate2::{write::GzEncoder, Compression};
use leakwatch_profile::{
    decode, encode, encode_gzip, DecodeError, Function, Label, Limits, Line, Location, Mapping,
    Profile, Sample, ValueType,
};

fn err(bytes: &[u8]) -> String {
    err_with(bytes, &Limits::default())
}

/// The message of decoding `bytes`, which the scan path (`top`, `diff`)
/// must give too.
fn err_with(bytes: &[u8], limits: &Limits) -> String {
    match decode(bytes, limits) {
        Ok(_) => panic!("decoded without error"),
        Err(e) => {
            assert_eq!(scan_error(bytes, limits), Some(e.clone()), "the scan path");
            e.to_string()
        }
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

/// A small valid profile: two sample types, one sample at one location in
/// one function.
fn valid() -> Profile {
    let mut p = Profile::default();
    let (space, bytes, count, objects) = (
        p.intern("space"),
        p.intern("bytes"),
        p.intern("count"),
        p.intern("objects"),
    );
    p.sample_types = vec![
        ValueType {
            ty: objects,
            unit: count,
        },
        ValueType {
            ty: space,
            unit: bytes,
        },
    ];
    let name = p.intern("main.leak");
    p.functions = vec![Function {
        id: 1,
        name,
        ..Function::default()
    }];
    p.mappings = vec![Mapping {
        id: 1,
        memory_limit: 1 << 40,
        ..Mapping::default()
    }];
    p.locations = vec![Location {
        id: 1,
        mapping_id: 1,
        address: 0x1000,
        lines: vec![Line {
            function_id: 1,
            line: 3,
            column: 0,
        }],
        is_folded: false,
    }];
    p.samples = vec![Sample {
        location_ids: vec![1],
        values: vec![2, 64],
        labels: vec![],
    }];
    p
}

#[test]
fn the_valid_base_case_decodes() {
    assert_eq!(
        decode(&encode(&valid()), &Limits::default()).unwrap(),
        valid()
    );
}

#[test]
fn empty_file() {
    assert_eq!(err(b""), "empty input: no profile data");
    assert_eq!(err(&gzip(b"")), "empty input: no profile data");
}

#[test]
fn random_bytes() {
    assert_eq!(
        err(&[0xff, 0x13, 0x00, 0x9a, 0x42]),
        "unrecognized profile format: not gzip, not pprof protobuf, not a Go text profile \
         (input starts with bytes ff 13 00 9a 42)"
    );
    assert_eq!(
        err(b"<html><body>502 Bad Gateway</body></html>"),
        "unrecognized profile format: not gzip, not pprof protobuf, not a Go text profile \
         (input starts with \"<html><body>502 \")"
    );
    // Bytes that start like a protobuf field are blamed on the protobuf.
    assert_eq!(
        err(&[0x0a, 0x05, 0x01]),
        "truncated protobuf: Profile.sample_type at byte 0 runs past the end of the data"
    );
}

#[test]
fn truncated_gzip() {
    let gz = fixture("heap.pb.gz");
    let msg = err(&gz[..gz.len() / 2]);
    assert!(msg.starts_with("corrupt or truncated gzip data: "), "{msg}");
    // Cut inside the 8-byte trailer (CRC and size): still refused.
    let msg = err(&gz[..gz.len() - 3]);
    assert!(msg.starts_with("corrupt or truncated gzip data: "), "{msg}");
}

#[test]
fn corrupt_gzip() {
    let mut gz = fixture("heap.pb.gz");
    let at = gz.len() / 2;
    gz[at] ^= 0xff;
    gz[at + 1] ^= 0x55;
    let msg = err(&gz);
    assert!(msg.starts_with("corrupt or truncated gzip data: "), "{msg}");
}

#[test]
fn truncated_protobuf() {
    let raw = encode(&valid());
    // Cut inside the second sample_type message (which starts at byte 6).
    assert_eq!(
        err(&raw[..9]),
        "truncated protobuf: Profile.sample_type at byte 6 runs past the end of the data"
    );
    let msg = err(&raw[..raw.len() - 1]);
    assert!(msg.starts_with("truncated protobuf: "), "{msg}");
    // A real profile cut anywhere is an error, never a panic or a profile.
    let real =
        leakwatch_profile::decode::gunzip(&fixture("heap.pb.gz"), &Limits::default()).unwrap();
    for cut in (1..real.len()).step_by(97) {
        err(&real[..cut]);
    }
}

#[test]
fn varint_too_long() {
    let mut raw = vec![0x48]; // time_nanos, varint
    raw.extend([0xff; 11]);
    assert_eq!(
        err(&raw),
        "malformed protobuf: varint in Profile.time_nanos at byte 1 is longer than 10 bytes"
    );
}

#[test]
fn wrong_wire_type() {
    // time_nanos (a varint) sent length-delimited.
    let mut raw = encode(&valid());
    let at = raw.len();
    raw.extend([0x4a, 0x00]);
    assert_eq!(
        err(&raw),
        format!("malformed protobuf: Profile.time_nanos at byte {at} has wire type 2, expected 0 (varint)")
    );
    // sample_type (a message) sent as a varint.
    let mut raw = encode(&valid());
    let at = raw.len();
    raw.extend([0x08, 0x01]);
    assert_eq!(
        err(&raw),
        format!("malformed protobuf: Profile.sample_type at byte {at} has wire type 0, expected 2 (length-delimited)")
    );
}

#[test]
fn string_table_must_start_empty() {
    let mut p = valid();
    p.strings[0] = "x".into();
    assert_eq!(
        err(&encode(&p)),
        "string_table[0] must be empty, found \"x\""
    );
}

#[test]
fn bad_string_index() {
    let mut p = valid();
    p.functions[0].name = 99;
    assert_eq!(
        err(&encode(&p)),
        "function 1 name refers to string 99, but the string table has only 6 entries"
    );
    let mut p = valid();
    p.samples[0].labels.push(Label {
        key: 1,
        num: 3,
        num_unit: 40,
        ..Label::default()
    });
    assert_eq!(
        err(&encode(&p)),
        "sample 0 label 0 num_unit refers to string 40, but the string table has only 6 entries"
    );
    // Negative indices (int64 on the wire) cannot be stored at all.
    let mut raw = encode(&valid());
    raw.extend([
        0x38, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
    ]);
    let msg = err(&raw);
    assert!(
        msg.starts_with("malformed protobuf: Profile.drop_frames at byte ")
            && msg
                .ends_with("refers to string 18446744073709551615, which no string table can hold"),
        "{msg}"
    );
}

#[test]
fn zero_id() {
    let mut p = valid();
    p.functions[0].id = 0;
    p.locations[0].lines[0].function_id = 0;
    assert_eq!(
        err(&encode(&p)),
        "function #0 has id 0; ids must be nonzero"
    );
}

#[test]
fn duplicate_ids() {
    let mut p = valid();
    p.locations.push(p.locations[0].clone());
    assert_eq!(
        err(&encode(&p)),
        "duplicate location id 1 (locations #0 and #1)"
    );
    let mut p = valid();
    p.mappings.push(Mapping {
        id: 9,
        ..Mapping::default()
    });
    p.mappings.push(Mapping {
        id: 9,
        ..Mapping::default()
    });
    assert_eq!(
        err(&encode(&p)),
        "duplicate mapping id 9 (mappings #1 and #2)"
    );
}

#[test]
fn dangling_references() {
    let mut p = valid();
    p.samples.push(Sample {
        location_ids: vec![1, 99],
        values: vec![1, 1],
        labels: vec![],
    });
    assert_eq!(
        err(&encode(&p)),
        "sample 1 refers to location 99, which does not exist"
    );
    let mut p = valid();
    p.locations[0].mapping_id = 7;
    assert_eq!(
        err(&encode(&p)),
        "location 1 refers to mapping 7, which does not exist"
    );
    let mut p = valid();
    p.locations[0].lines[0].function_id = 5;
    assert_eq!(
        err(&encode(&p)),
        "location 1 refers to function 5, which does not exist"
    );
}

#[test]
fn wrong_value_count() {
    let mut p = valid();
    p.samples.push(Sample {
        location_ids: vec![1],
        values: vec![1],
        labels: vec![],
    });
    assert_eq!(
        err(&encode(&p)),
        "sample 1 has 1 values, but the profile has 2 sample types"
    );
}

#[test]
fn gzip_bomb_under_a_small_limit() {
    let bomb = gzip(&vec![0u8; 8 << 20]);
    let limits = Limits {
        max_decompressed: 1 << 20,
    };
    assert_eq!(
        err_with(&bomb, &limits),
        "decompressed size exceeds the 1.0 MiB limit (gzip bomb?); raise it with --max-decompressed"
    );
    // Exactly at the limit is allowed (and then fails as the zeros it is).
    let exact = gzip(&vec![0u8; 1 << 20]);
    assert!(!err_with(&exact, &limits).contains("limit"));
}

/// At the default 2 GiB limit: 33 concatenated members of 64 MiB of zeros
/// each (2.06 GiB from 2 MiB). Past 256 MiB of output the decoder only
/// counts such compressible data, so it refuses without holding 2 GiB.
#[test]
fn gzip_bomb_at_the_default_limit() {
    let member = {
        let mut gz = GzEncoder::new(Vec::new(), Compression::best());
        gz.write_all(&vec![0u8; 64 << 20]).unwrap();
        gz.finish().unwrap()
    };
    let mut bomb = Vec::with_capacity(member.len() * 33);
    for _ in 0..33 {
        bomb.extend_from_slice(&member);
    }
    let started = std::time::Instant::now();
    assert_eq!(
        err(&bomb),
        "decompressed size exceeds the 2.0 GiB limit (gzip bomb?); raise it with --max-decompressed"
    );
    eprintln!(
        "refused a {} KiB bomb in {:?}",
        bomb.len() >> 10,
        started.elapsed()
    );
}

#[test]
fn text_profile_with_a_bad_header() {
    assert_eq!(
        err(b"heap profile: lots of memory\n"),
        "bad heap profile header \"heap profile: lots of memory\": \
         expected `heap profile: N: M [A: B] @ heap/RATE`"
    );
    assert_eq!(
        err(b"heap profile: 1: 2 [3: 4] @ mystery/8\n"),
        "bad heap profile header \"heap profile: 1: 2 [3: 4] @ mystery/8\": \
         expected `heap profile: N: M [A: B] @ heap/RATE`"
    );
    assert_eq!(
        err(b"goroutine profile: total many\n"),
        "bad count profile header \"goroutine profile: total many\": expected `NAME profile: total N`"
    );
}

#[test]
fn text_profile_with_bad_rows() {
    assert_eq!(
        err(b"heap profile: 1: 2 [3: 4] @ heap/8\n1: 2 [3 4] @ 0x1\n"),
        "line 2: missing `:` in heap profile row \"1: 2 [3 4] @ 0x1\"; expected `N: M [A: B] @ 0xADDR …`"
    );
    assert_eq!(
        err(b"heap profile: 1: 2 [3: 4] @ heap/8\n1: 2 [3: 4] @ 0x1 zz\n"),
        "line 2: bad address \"zz\": expected 0x and hex digits"
    );
    assert_eq!(
        err(b"heap profile: 1: 2 [3: 4] @ heap/8\n\n0: 5 [3: 4] @ 0x1\n"),
        "line 3: inuse count is 0 but inuse bytes is 5"
    );
    assert_eq!(
        err(b"goroutine profile: total 1\n1 @ 0x10\n#\t0x10\tmain.f+0x1\tmain.go:x\n"),
        "line 3: bad frame comment \"0x10\\tmain.f+0x1\\tmain.go:x\"; \
         expected `#\\t0xPC\\tfunction+0xOFFSET\\tfile:line`"
    );
    assert_eq!(
        err(b"goroutine profile: total 1\nmany @ 0x10\n"),
        "line 2: bad count profile row \"many @ 0x10\"; expected `COUNT @ 0xADDR …`"
    );
    assert_eq!(
        err(b"heap profile: 1: 2 [3: 4] @ heap/8\n\xff\n"),
        "line 2: not valid UTF-8 text"
    );
}

#[test]
fn errors_are_typed() {
    assert!(matches!(
        decode(b"", &Limits::default()),
        Err(DecodeError::Empty)
    ));
    let mut p = valid();
    p.samples[0].values.pop();
    assert!(matches!(
        decode(&encode_gzip(&p), &Limits::default()),
        Err(DecodeError::ValueCount {
            sample: 0,
            found: 1,
            expected: 2
        })
    ));
}
