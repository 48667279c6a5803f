//! The checks behind the fuzz targets, one per decoder, shared with the
//! normal test suite: `crates/profile/tests/it/fuzz_corpus.rs` includes this
//! file as a module and replays the committed regression corpus through the
//! same functions, so an input keeps being checked the way the fuzzer
//! checked it, on the stable toolchain.
//!
//! Each check takes arbitrary bytes and panics when a decoder misbehaves:
//! a panic inside a decoder, a profile that does not survive
//! encode → decode, or two paths (decode and scan, plain and gzipped)
//! that disagree.
//!
//! Only the public API of `leakwatch-profile` and `std` (plus flate2 to
//! frame gzip) may be used here, since the file is compiled as part of both
//! crates.

use std::io::Write;

use leakwatch_profile::aggregate::{aggregate, Granularity, Options};
use leakwatch_profile::decode::is_gzip;
use leakwatch_profile::{
    decode, encode, encode_gzip, scan, DecodeError, Limits, Profile, SampleSource,
};

/// The decompression limit of every check. Fuzz inputs are a few KiB
/// (`-max_len`), so a megabyte is far more than any genuine input inflates
/// to, while a bomb (deflate reaches ~1000:1) is refused after 1 MiB instead
/// of spending the run decompressing.
pub const LIMITS: Limits = Limits {
    max_decompressed: 1 << 20,
};

/// A fuzz target: its cargo-fuzz name and the check it runs.
pub struct Target {
    /// The name of the binary in `fuzz_targets/` and of its corpus folder.
    pub name: &'static str,
    /// Panics when the decoders misbehave on the input.
    pub check: fn(&[u8]),
}

/// Every target of the campaign (`bench/fuzz` runs each; the corpus replay
/// requires a non-empty corpus folder for each). A new decoder adds its
/// target here.
pub const TARGETS: &[Target] = &[
    Target {
        name: "protobuf",
        check: protobuf,
    },
    Target {
        name: "text",
        check: text,
    },
    Target {
        name: "gzip",
        check: gzip,
    },
    Target {
        name: "scan",
        check: scan_agrees,
    },
];

/// The pprof protobuf decoder, through [`decode`]: never panics, and what
/// decodes survives encode → decode. Gzip input is the `gzip` target's, so
/// it is skipped here rather than spending this target's time inflating.
pub fn protobuf(data: &[u8]) {
    if is_gzip(data) {
        return;
    }
    round_trip(data);
}

/// Go's legacy text profiles (heap and count), through [`decode`]: the
/// same invariants as [`protobuf`]. Binary input is left to the protobuf
/// target so that this one mutates text.
pub fn text(data: &[u8]) {
    let binary = data
        .iter()
        .any(|&b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r'));
    if binary {
        return;
    }
    round_trip(data);
}

/// Gzip framing. The first byte picks the mode:
///
/// - even: the rest follows the gzip magic number, so that headers,
///   trailers, concatenated members and truncation are what gets mutated;
///   decoding must not panic, and what decodes survives encode → decode;
/// - odd: the rest is compressed here as two gzip members (split where the
///   first byte says), and decoding that must give exactly what decoding the
///   rest does, error included, on both the decode and the scan path.
pub fn gzip(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        let mut framed = vec![0x1f, 0x8b];
        framed.extend_from_slice(rest);
        round_trip(&framed);
        return;
    }
    // Already gzip: decoding the rest would inflate once more than
    // decoding its compressed form does.
    if is_gzip(rest) {
        return;
    }
    let split = usize::from(mode >> 1) * rest.len() / 127;
    let mut members = gzip_member(&rest[..split]);
    members.extend(gzip_member(&rest[split..]));
    assert_eq!(
        decode(&members, &LIMITS).map_err(as_plain),
        decode(rest, &LIMITS),
        "decoding gzip members differs from decoding their content"
    );
    assert_eq!(
        scan_outcome(&members).map_err(as_plain),
        scan_outcome(rest),
        "scanning gzip members differs from scanning their content"
    );
}

/// The scan path against the full decode: [`scan`] fails where [`decode`]
/// fails with the same error (reading the samples included), and where both
/// succeed they hold the same tables and samples and aggregate to the same
/// table.
pub fn scan_agrees(data: &[u8]) {
    if is_gzip(data) {
        return;
    }
    let decoded = decode(data, &LIMITS);
    let scanned = scan(data.to_vec(), &LIMITS);
    let (profile, scanned) = match (decoded, scanned) {
        (Ok(p), Ok(s)) => (p, s),
        (Err(d), Err(s)) => {
            assert_eq!(s, d, "scan and decode report different errors");
            return;
        }
        (Err(d), Ok(s)) => {
            let samples = s.check_samples();
            assert_eq!(samples, Err(d), "scan accepts what decode refuses");
            return;
        }
        (Ok(_), Err(s)) => panic!("scan refuses what decode accepts: {s}"),
    };
    // A scan hands out locations as positions and no labels (which it
    // checks but nobody reads): compared as ids and values.
    let locations = &scanned.tables().locations;
    let mut samples = Vec::new();
    scanned
        .try_for_each_sample(|s| {
            let ids: Vec<u64> = s
                .locations
                .iter()
                .map(|&p| locations[p as usize].id)
                .collect();
            samples.push((ids, s.values.to_vec()));
            Ok::<(), DecodeError>(())
        })
        .expect("the samples of a profile that decodes are read without error");
    let expected: Vec<(Vec<u64>, Vec<i64>)> = profile
        .samples
        .iter()
        .map(|s| (s.location_ids.clone(), s.values.clone()))
        .collect();
    assert_eq!(samples, expected, "scan and decode read different samples");
    let mut tables = scanned.tables().clone();
    tables.samples.clear();
    let mut expected = profile.clone();
    expected.samples.clear();
    assert_eq!(tables, expected, "scan and decode give different tables");
    // Aggregation compiles the profile's drop_frames regex, the slowest
    // step of the check, so each input is aggregated at one granularity
    // only, picked from its length (a replay picks the same one).
    let by = [
        Granularity::Function,
        Granularity::Line,
        Granularity::File,
        Granularity::Stack,
    ][data.len() % 4];
    let opts = Options {
        by,
        sample_index: None,
    };
    let full = aggregate(&profile, &opts).map_err(|e| e.to_string());
    let fast = aggregate(&scanned, &opts).map_err(|e| e.to_string());
    assert_eq!(full, fast, "aggregation by {by:?} differs between paths");
}

/// Decodes `data`; a profile that decodes must come back unchanged from
/// its encoding, plain and gzipped (but for the MemStats of a text
/// profile, which profile.proto has no field for).
fn round_trip(data: &[u8]) {
    let Ok(profile) = decode(data, &LIMITS) else {
        return;
    };
    let mut expected = profile.clone();
    expected.memstats = None;
    let again = decode(&encode(&profile), &LIMITS).expect("an encoded profile decodes");
    assert_eq!(again, expected, "decode(encode(p)) != p");
    let again = decode(&encode_gzip(&profile), &LIMITS).expect("a gzipped profile decodes");
    assert_eq!(again, expected, "decode(encode_gzip(p)) != p");
}

/// The error decoding the content would give: an unknown format inside
/// gzip is said to be inside gzip (so that nobody is told "not gzip"), and
/// is otherwise the same error.
fn as_plain(e: DecodeError) -> DecodeError {
    match e {
        DecodeError::UnknownCompressedFormat { start } => DecodeError::UnknownFormat { start },
        other => other,
    }
}

/// What the scan path makes of `data`: the tables, or the first error of
/// scanning and reading the samples.
fn scan_outcome(data: &[u8]) -> Result<Profile, DecodeError> {
    let scanned = scan(data.to_vec(), &LIMITS)?;
    scanned.check_samples()?;
    Ok(scanned.tables().clone())
}

fn gzip_member(data: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(data).expect("writing to a Vec cannot fail");
    gz.finish().expect("writing to a Vec cannot fail")
}
