//! The scan path (`scan`, then aggregation over `SampleSource`) against the
//! full decode: the same tables and diffs on every fixture and on a
//! synthetic profile with pruning, inlining, recursion and sparse ids; the
//! same error on malformed input, including which defect is reported when
//! there are several. (`malformed.rs` runs its cases through both paths.)

use crate::common;

use common::{fixture, scan_error};
use leakwatch_profile::aggregate::{aggregate, Granularity, Options};
use leakwatch_profile::diff::{diff, Side};
use leakwatch_profile::{
    decode, encode, encode_gzip, scan, Function, Label, Limits, Line, Location, Mapping, Profile,
    Sample, SampleSource, ScannedProfile, ValueType,
};

const GRANULARITIES: [Granularity; 4] = [
    Granularity::Function,
    Granularity::Line,
    Granularity::File,
    Granularity::Stack,
];

fn scanned(bytes: &[u8]) -> ScannedProfile {
    scan(bytes.to_vec(), &Limits::default()).unwrap()
}

fn decoded(bytes: &[u8]) -> Profile {
    decode(bytes, &Limits::default()).unwrap()
}

fn options(by: Granularity, index: usize) -> Options {
    Options {
        by,
        sample_index: Some(index.to_string()),
    }
}

/// Every table of `bytes` (each granularity, each sample type), from both
/// paths, must be equal and not empty.
fn assert_same_tables(name: &str, bytes: &[u8]) {
    let (p, s) = (decoded(bytes), scanned(bytes));
    assert_eq!(s.sample_count(), p.samples.len(), "{name}");
    assert!(s.check_samples().is_ok());
    for by in GRANULARITIES {
        for index in 0..p.sample_types.len() {
            let opts = options(by, index);
            let full = aggregate(&p, &opts).unwrap();
            let fast = aggregate(&s, &opts).unwrap();
            assert_eq!(full, fast, "{name} by {by:?}, sample type {index}");
            assert!(!full.rows.is_empty(), "{name} by {by:?}: no rows");
        }
    }
}

/// A profile that exercises what aggregation does beyond summing: inlined
/// lines, recursion, `drop_frames` pruning, zero values, labels, and ids
/// that are neither dense nor small (so the id lookups are tables and maps,
/// not arithmetic).
fn synthetic(id_stride: u64) -> Profile {
    let mut p = Profile::default();
    p.intern("");
    let types = [("alloc_space", "bytes"), ("inuse_space", "bytes")];
    for (ty, unit) in types {
        let (ty, unit) = (p.intern(ty), p.intern(unit));
        p.sample_types.push(ValueType { ty, unit });
    }
    p.drop_frames = p.intern("runtime\\..*|malloc");
    let filename = p.intern("/bin/service");
    p.mappings.push(Mapping {
        id: 3 * id_stride,
        memory_limit: 1 << 40,
        filename,
        ..Mapping::default()
    });
    let names = [
        "runtime.mallocgc",
        "malloc",
        "main.main",
        "main.(*cache).get",
        "main.newEntry",
        "main.handle",
        "net/http.serve",
        "main.recurse",
        "encoding/json.Marshal",
        "",
    ];
    for (i, name) in names.iter().enumerate() {
        let name = p.intern(name);
        let filename = p.intern(&format!("/src/{}/file{}.go", i % 3, i % 4));
        let f = Function {
            id: (i as u64 + 1) * id_stride,
            name,
            system_name: name,
            filename,
            start_line: i as i64,
        };
        p.functions.push(f);
    }
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut rand = move |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    for l in 0..60u64 {
        let lines = (0..1 + rand(3))
            .map(|_| Line {
                function_id: (1 + rand(names.len() as u64)) * id_stride,
                line: 1 + rand(40) as i64,
                column: 0,
            })
            .collect();
        p.locations.push(Location {
            id: (l + 1) * id_stride,
            mapping_id: if l % 5 == 0 { 0 } else { 3 * id_stride },
            address: 0x1000 + l,
            lines,
            is_folded: false,
        });
    }
    let (bytes, key) = (p.intern("bytes"), p.intern("object"));
    for _ in 0..3000 {
        let depth = 1 + rand(24);
        let location_ids = (0..depth).map(|_| (1 + rand(60)) * id_stride).collect();
        let v = if rand(10) == 0 {
            0
        } else {
            rand(1 << 20) as i64
        };
        p.samples.push(Sample {
            location_ids,
            values: vec![v * 3, v],
            labels: vec![Label {
                key,
                num: v,
                num_unit: bytes,
                ..Label::default()
            }],
        });
    }
    p
}

#[test]
fn fixtures_give_identical_tables() {
    for name in ["heap.pb.gz", "heap.txt", "goroutine.pb.gz", "goroutine.txt"] {
        assert_same_tables(name, &fixture(name));
    }
    // The text heap profile as protobuf: its drop_frames prune the samples
    // that the scan reads from the wire.
    let text = decoded(&fixture("heap.txt"));
    assert_ne!(text.drop_frames, 0);
    assert_same_tables("heap.txt as protobuf", &encode_gzip(&text));
}

#[test]
fn synthetic_profiles_give_identical_tables() {
    // Dense ids (arithmetic), sparse small ids (a table), huge ids (a map).
    for stride in [1, 7, 1 << 40] {
        let p = synthetic(stride);
        assert_same_tables(&format!("stride {stride}"), &encode(&p));
    }
}

/// A Go-like profile with more than 127 locations, so that stacks mix
/// one- and two-byte location ids: the scan's fast path for Go's encoding
/// must read them as decoding does, and leave every defect to the general
/// path (samples `n - 3 ..` name the last location, the first past it,
/// and one whose id needs three bytes).
fn many_locations(n: u64) -> Profile {
    let mut p = synthetic(1);
    let template = p.locations[1].clone();
    for id in p.locations.len() as u64 + 1..=n {
        let mut l = template.clone();
        l.id = id;
        l.address = 0x1000 + id;
        p.locations.push(l);
    }
    for (i, s) in p.samples.iter_mut().enumerate() {
        for (j, id) in s.location_ids.iter_mut().enumerate() {
            *id = 1 + (*id * 37 + (i * j) as u64) % n;
        }
    }
    p
}

#[test]
fn two_byte_location_ids_read_alike_on_both_paths() {
    let p = many_locations(300);
    assert_same_tables("300 locations", &encode(&p));
    let sample = |ids: Vec<u64>| Sample {
        location_ids: ids,
        values: vec![3, 1],
        labels: Vec::new(),
    };
    for (last, dangling) in [(300, None), (301, Some(301)), (1 << 20, Some(1 << 20))] {
        let mut q = p.clone();
        q.samples.push(sample(vec![5, 200, last, 1]));
        let bytes = encode(&q);
        let expected = dangling.map(|id| {
            let sample = q.samples.len() - 1;
            format!("sample {sample} refers to location {id}, which does not exist")
        });
        let scanned = scan_error(&bytes, &Limits::default()).map(|e| e.to_string());
        assert_eq!(scanned, expected, "last id {last}");
        assert_same_outcome(&bytes);
    }
}

#[test]
fn byte_changes_to_two_byte_ids_give_the_same_outcome() {
    let mut p = many_locations(300);
    p.samples.truncate(40);
    let raw = encode(&p);
    for at in (0..raw.len()).step_by(3) {
        for v in [0x00, 0x01, 0x7f, 0x80, 0x82, 0xff] {
            let mut m = raw.clone();
            m[at] = v;
            assert_same_outcome(&m);
        }
    }
}

#[test]
fn diffs_are_identical_whichever_side_is_scanned() {
    // Each fixture against itself with every other sample removed: a text
    // new profile against a protobuf base, and protobuf against protobuf.
    let halved = |name: &str| {
        let mut p = decoded(&fixture(name));
        let mut keep = false;
        p.samples.retain(|_| {
            keep = !keep;
            keep
        });
        encode_gzip(&p)
    };
    let mut fewer = synthetic(1);
    fewer.samples.truncate(2000);
    let pairs = [
        (halved("heap.txt"), fixture("heap.txt")),
        (halved("heap.pb.gz"), fixture("heap.pb.gz")),
        (halved("goroutine.txt"), fixture("goroutine.pb.gz")),
        (encode(&fewer), encode(&synthetic(7))),
    ];
    for (i, (base, new)) in pairs.iter().enumerate() {
        let (bp, np) = (decoded(base), decoded(new));
        let (bs, ns) = (scanned(base), scanned(new));
        for by in GRANULARITIES {
            let opts = Options {
                by,
                sample_index: None,
            };
            let full = diff(&bp, &np, &opts).unwrap();
            assert!(!full.rows.is_empty(), "pair {i} by {by:?}: no rows");
            assert_eq!(diff(&bs, &ns, &opts).unwrap(), full, "pair {i} by {by:?}");
            assert_eq!(diff(&bp, &ns, &opts).unwrap(), full, "pair {i} by {by:?}");
            assert_eq!(diff(&bs, &np, &opts).unwrap(), full, "pair {i} by {by:?}");
        }
    }
}

/// Both paths fail with the same error, or both succeed with the same table.
fn assert_same_outcome(bytes: &[u8]) {
    let limits = Limits::default();
    let full = decode(bytes, &limits);
    let fast = scan_error(bytes, &limits);
    match (full, fast) {
        (Err(full), fast) => assert_eq!(fast, Some(full), "input {bytes:02x?}"),
        (Ok(_), Some(fast)) => panic!("only the scan path fails ({fast}) on {bytes:02x?}"),
        (Ok(p), None) => {
            if p.sample_types.is_empty() {
                return;
            }
            let opts = Options::default();
            let s = scanned(bytes);
            let full = aggregate(&p, &opts).map_err(|e| e.to_string());
            let fast = aggregate(&s, &opts).map_err(|e| e.to_string());
            assert_eq!(full, fast, "input {bytes:02x?}");
        }
    }
}

/// A small profile with several samples, labels and two sample types.
fn small() -> Vec<u8> {
    let mut p = synthetic(1);
    p.samples.truncate(4);
    for s in &mut p.samples {
        s.location_ids.truncate(3);
    }
    p.locations.truncate(8);
    for s in &mut p.samples {
        for id in &mut s.location_ids {
            *id = 1 + *id % 8;
        }
    }
    encode(&p)
}

#[test]
fn every_single_byte_change_gives_the_same_outcome() {
    let base = small();
    for at in 0..base.len() {
        let b = base[at];
        for v in [
            0x00,
            0x01,
            0x02,
            0x08,
            0x10,
            0x12,
            0x7f,
            0x80,
            0xff,
            b ^ 1,
            b ^ 0x80,
        ] {
            let mut m = base.clone();
            m[at] = v;
            assert_same_outcome(&m);
        }
        let mut m = base.clone();
        m.remove(at);
        assert_same_outcome(&m);
        assert_same_outcome(&base[..at]);
    }
}

#[test]
fn byte_changes_across_a_real_profile_give_the_same_outcome() {
    let raw =
        leakwatch_profile::decode::gunzip(&fixture("heap.pb.gz"), &Limits::default()).unwrap();
    for at in (0..raw.len()).step_by(7) {
        for v in [0x00, 0x80, 0xff, raw[at] ^ 1] {
            let mut m = raw.clone();
            m[at] = v;
            assert_same_outcome(&m);
        }
    }
}

/// `encode(p)` followed by one more sample whose location id is cut off,
/// and where that sample starts.
fn with_truncated_sample(p: &Profile) -> (Vec<u8>, usize) {
    let mut raw = encode(p);
    let at = raw.len();
    // Profile.sample (field 2, length 1): a location_id key, no value.
    raw.extend([0x12, 0x01, 0x08]);
    (raw, at)
}

/// What decoding says of that sample: its value (after the field and
/// length bytes and the key) is missing.
fn truncated_sample_message(offset: usize) -> String {
    format!(
        "truncated protobuf: Sample.location_id at byte {} runs past the end of the data",
        offset + 3
    )
}

#[test]
fn the_defect_decoding_reports_first_is_the_one_reported() {
    let mut p = synthetic(1);
    p.samples.truncate(5);

    // A sample with a wrong value count, and a later one that does not
    // decode: decoding finds the second before it validates the first.
    let mut q = p.clone();
    q.samples[1].values.pop();
    let (raw, at) = with_truncated_sample(&q);
    assert_same_outcome(&raw);
    assert_eq!(
        scan_error(&raw, &Limits::default()).unwrap().to_string(),
        truncated_sample_message(at)
    );

    // A dangling mapping (a table defect) and a sample that does not decode.
    let mut q = p.clone();
    q.locations[0].mapping_id = 99;
    let (raw, at) = with_truncated_sample(&q);
    assert_same_outcome(&raw);
    assert_eq!(
        scan_error(&raw, &Limits::default()).unwrap().to_string(),
        truncated_sample_message(at)
    );

    // A sample that does not decode, then a field the Profile cannot frame.
    let (mut raw, at) = with_truncated_sample(&p);
    raw.extend([0x4a, 0x00]); // time_nanos sent length-delimited
    assert_same_outcome(&raw);
    assert_eq!(
        scan_error(&raw, &Limits::default()).unwrap().to_string(),
        truncated_sample_message(at)
    );

    // A dangling location after one with a wrong value count: the first.
    let mut q = p.clone();
    q.samples[1].values.push(1);
    q.samples[3].location_ids.push(999);
    let raw = encode(&q);
    assert_same_outcome(&raw);
    assert_eq!(
        scan_error(&raw, &Limits::default()).unwrap().to_string(),
        "sample 1 has 3 values, but the profile has 2 sample types"
    );
}

#[test]
fn a_malformed_sample_outranks_an_aggregation_error() {
    let mut p = synthetic(1);
    p.samples.truncate(5);
    p.samples[2].labels[0].key = 9999;
    let raw = encode(&p);
    let s = scanned(&raw);
    let expected = "sample 2 label 0 key refers to string 9999, but the string table has only";
    // An unknown sample type would be the aggregation's complaint; decoding
    // the profile would not have got that far.
    let opts = Options {
        by: Granularity::Function,
        sample_index: Some("nonesuch".into()),
    };
    let e = aggregate(&s, &opts).unwrap_err();
    assert!(
        e.decode_error().is_some() && e.to_string().starts_with(expected),
        "{e}"
    );
    // In a diff the base's defect comes first, then the new profile's.
    let good = scanned(&encode(&synthetic(1)));
    let e = diff(&s, &s, &opts).unwrap_err();
    assert_eq!(
        e.decode_error().map(|(side, _)| side),
        Some(Side::Base),
        "{e}"
    );
    let e = diff(&good, &s, &opts).unwrap_err();
    assert_eq!(
        e.decode_error().map(|(side, _)| side),
        Some(Side::New),
        "{e}"
    );
    let e = diff(&good, &good, &opts).unwrap_err();
    assert!(
        e.decode_error().is_none() && e.to_string().contains("nonesuch"),
        "{e}"
    );
}

#[test]
fn references_to_profiles_aggregate_too() {
    let p = decoded(&fixture("heap.pb.gz"));
    let r = &p;
    let opts = Options::default();
    assert_eq!(aggregate(&r, &opts).unwrap(), aggregate(&p, &opts).unwrap());
}
