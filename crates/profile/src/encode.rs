//! Encoding a [`Profile`] back to pprof protobuf, raw or gzipped.
//!
//! Repeated scalars are written packed and zero-valued scalars omitted, as
//! Go's `runtime/pprof` writes them, so `decode(encode(p)) == p` for every
//! decoded profile — except [`Profile::memstats`], which profile.proto has
//! no field for and which is therefore dropped.

use std::io::Write;

use flate2::{write::GzEncoder, Compression};

use crate::{Function, Label, Line, Location, Mapping, Profile, Sample, ValueType};

const VARINT: u8 = 0;
const LEN: u8 = 2;

/// Encodes `profile` as a raw (uncompressed) pprof protobuf.
pub fn encode(profile: &Profile) -> Vec<u8> {
    let p = profile;
    // Samples dominate; ~24 bytes each is typical for Go heap profiles.
    let mut out = Vec::with_capacity(64 + p.samples.len() * 24 + p.locations.len() * 16);
    for t in &p.sample_types {
        nested(&mut out, 1, |o| value_type(o, t));
    }
    for s in &p.samples {
        nested(&mut out, 2, |o| sample(o, s));
    }
    for m in &p.mappings {
        nested(&mut out, 3, |o| mapping(o, m));
    }
    for l in &p.locations {
        nested(&mut out, 4, |o| location(o, l));
    }
    for f in &p.functions {
        nested(&mut out, 5, |o| function(o, f));
    }
    for s in &p.strings {
        key(&mut out, 6, LEN);
        varint(&mut out, s.len() as u64);
        out.extend_from_slice(s.as_bytes());
    }
    int(&mut out, 7, p.drop_frames.into());
    int(&mut out, 8, p.keep_frames.into());
    int(&mut out, 9, p.time_nanos as u64);
    int(&mut out, 10, p.duration_nanos as u64);
    if let Some(t) = &p.period_type {
        nested(&mut out, 11, |o| value_type(o, t));
    }
    int(&mut out, 12, p.period as u64);
    packed(&mut out, 13, p.comments.iter().map(|&c| u64::from(c)));
    int(&mut out, 14, p.default_sample_type.into());
    int(&mut out, 15, p.doc_url.into());
    out
}

/// Encodes `profile` as a gzipped pprof protobuf, the form pprof tools
/// expect on disk.
pub fn encode_gzip(profile: &Profile) -> Vec<u8> {
    let raw = encode(profile);
    let mut gz = GzEncoder::new(Vec::with_capacity(raw.len() / 4), Compression::fast());
    // Writing into a Vec cannot fail.
    gz.write_all(&raw).expect("writing to a Vec");
    gz.finish().expect("writing to a Vec")
}

fn value_type(o: &mut Vec<u8>, t: &ValueType) {
    int(o, 1, t.ty.into());
    int(o, 2, t.unit.into());
}

fn sample(o: &mut Vec<u8>, s: &Sample) {
    packed(o, 1, s.location_ids.iter().copied());
    packed(o, 2, s.values.iter().map(|&v| v as u64));
    for l in &s.labels {
        nested(o, 3, |o| label(o, l));
    }
}

fn label(o: &mut Vec<u8>, l: &Label) {
    int(o, 1, l.key.into());
    int(o, 2, l.str.into());
    int(o, 3, l.num as u64);
    int(o, 4, l.num_unit.into());
}

fn mapping(o: &mut Vec<u8>, m: &Mapping) {
    int(o, 1, m.id);
    int(o, 2, m.memory_start);
    int(o, 3, m.memory_limit);
    int(o, 4, m.file_offset);
    int(o, 5, m.filename.into());
    int(o, 6, m.build_id.into());
    int(o, 7, m.has_functions.into());
    int(o, 8, m.has_filenames.into());
    int(o, 9, m.has_line_numbers.into());
    int(o, 10, m.has_inline_frames.into());
}

fn location(o: &mut Vec<u8>, l: &Location) {
    int(o, 1, l.id);
    int(o, 2, l.mapping_id);
    int(o, 3, l.address);
    for line in &l.lines {
        nested(o, 4, |o| line_msg(o, line));
    }
    int(o, 5, l.is_folded.into());
}

fn line_msg(o: &mut Vec<u8>, l: &Line) {
    int(o, 1, l.function_id);
    int(o, 2, l.line as u64);
    int(o, 3, l.column as u64);
}

fn function(o: &mut Vec<u8>, f: &Function) {
    int(o, 1, f.id);
    int(o, 2, f.name.into());
    int(o, 3, f.system_name.into());
    int(o, 4, f.filename.into());
    int(o, 5, f.start_line as u64);
}

#[inline]
fn varint(o: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        o.push(v as u8 | 0x80);
        v >>= 7;
    }
    o.push(v as u8);
}

#[inline]
fn varint_len(v: u64) -> usize {
    // Bits needed, 7 per byte, at least one byte.
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

#[inline]
fn key(o: &mut Vec<u8>, field: u32, wire_type: u8) {
    varint(o, u64::from(field) << 3 | u64::from(wire_type));
}

/// A scalar field; zero is the proto3 default and is not written.
#[inline]
fn int(o: &mut Vec<u8>, field: u32, v: u64) {
    if v != 0 {
        key(o, field, VARINT);
        varint(o, v);
    }
}

/// A packed repeated field; empty ones are not written.
#[inline]
fn packed(o: &mut Vec<u8>, field: u32, values: impl Iterator<Item = u64> + Clone) {
    let len: usize = values.clone().map(varint_len).sum();
    if len == 0 {
        return;
    }
    key(o, field, LEN);
    varint(o, len as u64);
    for v in values {
        varint(o, v);
    }
}

/// An embedded message. Its length is not known until it is written, so one
/// length byte is reserved and the body moved in the rare case (≥ 128
/// bytes) that the length needs more.
#[inline]
fn nested(o: &mut Vec<u8>, field: u32, body: impl FnOnce(&mut Vec<u8>)) {
    key(o, field, LEN);
    let at = o.len();
    o.push(0);
    body(o);
    let len = o.len() - at - 1;
    if len < 0x80 {
        o[at] = len as u8;
        return;
    }
    let mut prefix = Vec::with_capacity(10);
    varint(&mut prefix, len as u64);
    let extra = prefix.len() - 1;
    o.resize(o.len() + extra, 0);
    o.copy_within(at + 1..at + 1 + len, at + 1 + extra);
    o[at..at + prefix.len()].copy_from_slice(&prefix);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_len_matches_encoding() {
        for v in [0, 1, 127, 128, 16383, 16384, u64::MAX] {
            let mut o = Vec::new();
            varint(&mut o, v);
            assert_eq!(o.len(), varint_len(v), "{v}");
        }
    }

    #[test]
    fn long_nested_messages_get_multibyte_lengths() {
        let mut o = Vec::new();
        nested(&mut o, 6, |o| o.extend(std::iter::repeat_n(7u8, 300)));
        assert_eq!(&o[..3], &[0x32, 0xac, 0x02]);
        assert_eq!(o.len(), 303);
        assert!(o[3..].iter().all(|&b| b == 7));
    }
}
