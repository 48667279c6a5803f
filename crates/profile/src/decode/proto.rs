//! Decoding pprof's `profile.proto` straight into the [`Profile`] model.
//!
//! Hand-written rather than generated: a Go heap profile holds hundreds of
//! thousands of samples, and building them directly (vectors pre-sized from
//! a counting pass, packed fields sized from their payload) avoids the
//! intermediate message tree a generated decoder would allocate.
//!
//! Field numbers follow google/pprof `proto/profile.proto`, including the
//! newer `Line.column` (3) and `Profile.doc_url` (15). Unknown fields are
//! skipped by wire type; repeated scalars are accepted packed or not.

use super::wire::{self, packed, Key, Wire, LEN, VARINT};
use crate::validate::SampleSummary;
use crate::{
    DecodeError, Function, IdIndex, Label, Line, Location, Mapping, Profile, Sample, StrIdx,
    ValueType,
};

/// Decodes a raw (not gzipped) pprof protobuf. The result is not yet
/// validated; the summary of its samples is for
/// [`crate::validate::validate_with`].
pub(crate) fn decode_profile(buf: &[u8]) -> Result<(Profile, SampleSummary), DecodeError> {
    let mut p = Profile::default();
    let mut summary = SampleSummary::default();
    presize(buf, &mut p);
    let mut samples = std::mem::take(&mut p.samples);
    decode_fields(buf, &mut p, |payload| {
        let s = sample(payload)?;
        // While the sample is still in cache.
        summary.add(&s);
        samples.push(s);
        Ok(())
    })?;
    p.samples = samples;
    Ok((p, summary))
}

/// Decodes everything but the samples, which are only framed (their
/// payloads are read by [`sample_payloads`] later); returns the profile
/// without samples, and how many samples there are and where some start.
/// Errors are those [`decode_profile`] reports: a defect inside a sample
/// that comes before the first defect found here is reported instead.
pub(crate) fn decode_tables(buf: &[u8]) -> Result<(Profile, Checkpoints), DecodeError> {
    // No presizing: it would walk every sample once more, and what is kept
    // here is small enough to grow.
    let mut p = Profile::default();
    let mut marks = Checkpoints::default();
    match decode_fields(buf, &mut p, |(payload, offset)| {
        if marks.count % Checkpoints::EVERY == 0 {
            marks.payloads.push((offset, payload.len()));
        }
        marks.count += 1;
        Ok(())
    }) {
        Ok(()) => Ok((p, marks)),
        Err(e) => Err(first_bad_sample(buf, 0, marks.count).unwrap_or(e)),
    }
}

/// How many samples a profile has, and where every [`Self::EVERY`]th
/// one is: so that reading the samples from number `n` on starts near it
/// rather than framing every sample before it (what splitting a profile's
/// samples over the cores needs).
#[derive(Debug, Clone, Default)]
pub(crate) struct Checkpoints {
    pub count: usize,
    /// The payload (offset, length) of samples 0, EVERY, 2 × EVERY, …
    payloads: Vec<(usize, usize)>,
}

impl Checkpoints {
    const EVERY: usize = 4096;

    /// The payloads of `buf`'s samples from the last checkpoint at or
    /// before sample `n` on, and that checkpoint's sample number.
    pub(crate) fn payloads_from<'a>(&self, buf: &'a [u8], n: usize) -> (usize, SamplePayloads<'a>) {
        let k = n / Self::EVERY;
        match self.payloads.get(k) {
            Some(&(offset, len)) if k > 0 => {
                let end = offset + len;
                let payloads = SamplePayloads {
                    first: Some((&buf[offset..end], offset)),
                    w: Wire::new(&buf[end..], end),
                    done: false,
                };
                (k * Self::EVERY, payloads)
            }
            _ => (0, sample_payloads(buf)),
        }
    }
}

/// Walks the top-level fields of a `Profile`, decoding all but the samples
/// into `p` and handing each sample's payload to `on_sample`.
#[inline(always)]
fn decode_fields<'a>(
    buf: &'a [u8],
    p: &mut Profile,
    mut on_sample: impl FnMut((&'a [u8], usize)) -> Result<(), DecodeError>,
) -> Result<(), DecodeError> {
    let mut w = Wire::new(buf, 0);
    while !w.at_end() {
        let key = w.key("Profile")?;
        match key.field {
            1 => p
                .sample_types
                .push(value_type(msg(&mut w, key, "Profile.sample_type")?)?),
            2 => on_sample(msg(&mut w, key, "Profile.sample")?)?,
            3 => p
                .mappings
                .push(mapping(msg(&mut w, key, "Profile.mapping")?)?),
            4 => p
                .locations
                .push(location(msg(&mut w, key, "Profile.location")?)?),
            5 => p
                .functions
                .push(function(msg(&mut w, key, "Profile.function")?)?),
            6 => {
                let (bytes, _) = msg(&mut w, key, "Profile.string_table")?;
                p.strings.push(string(bytes));
            }
            7 => p.drop_frames = str_field(&mut w, key, "Profile.drop_frames")?,
            8 => p.keep_frames = str_field(&mut w, key, "Profile.keep_frames")?,
            9 => p.time_nanos = int_field(&mut w, key, "Profile.time_nanos")? as i64,
            10 => p.duration_nanos = int_field(&mut w, key, "Profile.duration_nanos")? as i64,
            11 => p.period_type = Some(value_type(msg(&mut w, key, "Profile.period_type")?)?),
            12 => p.period = int_field(&mut w, key, "Profile.period")? as i64,
            13 => str_list(&mut w, key, "Profile.comment", &mut p.comments)?,
            14 => p.default_sample_type = str_field(&mut w, key, "Profile.default_sample_type")?,
            15 => p.doc_url = str_field(&mut w, key, "Profile.doc_url")?,
            _ => w.skip(key, "Profile")?,
        }
    }
    Ok(())
}

/// The payloads of the `Profile.sample` fields of `buf`, in order, with
/// their absolute offsets. Meant for a buffer that [`decode_tables`]
/// accepted; on a framing defect it yields the error and stops.
pub(crate) fn sample_payloads(buf: &[u8]) -> SamplePayloads<'_> {
    SamplePayloads {
        first: None,
        w: Wire::new(buf, 0),
        done: false,
    }
}

/// See [`sample_payloads`].
pub(crate) struct SamplePayloads<'a> {
    /// A payload found earlier, to yield before reading on.
    first: Option<(&'a [u8], usize)>,
    w: Wire<'a>,
    done: bool,
}

impl<'a> Iterator for SamplePayloads<'a> {
    type Item = Result<(&'a [u8], usize), DecodeError>;

    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        if let Some(first) = self.first.take() {
            return Some(Ok(first));
        }
        while !self.done && !self.w.at_end() {
            let item = match self.w.key("Profile") {
                Ok(key) if key.field == 2 => Some(msg(&mut self.w, key, "Profile.sample")),
                Ok(key) => self.w.skip(key, "Profile").err().map(Err),
                Err(e) => Some(Err(e)),
            };
            if let Some(item) = item {
                self.done = item.is_err();
                return Some(item);
            }
        }
        None
    }
}

/// The first defect, in file order, of the samples `skip..skip + take` of
/// `buf` decoded as [`decode_profile`] decodes them. A scan finds some
/// defects out of file order; this tells which one decoding would report.
pub(crate) fn first_bad_sample(buf: &[u8], skip: usize, take: usize) -> Option<DecodeError> {
    let mut scratch = SampleBuf::default();
    for payload in sample_payloads(buf).skip(skip).take(take) {
        if let Err(e) = payload.and_then(|p| scratch.decode(p)) {
            return Some(e);
        }
    }
    None
}

/// One sample's fields, decoded into vectors reused from sample to sample.
#[derive(Debug, Default)]
pub(crate) struct SampleBuf {
    pub location_ids: Vec<u64>,
    pub values: Vec<i64>,
    pub labels: Vec<Label>,
}

impl SampleBuf {
    /// Replaces the contents with the sample encoded in `payload`.
    #[inline]
    pub(crate) fn decode(&mut self, payload: (&[u8], usize)) -> Result<(), DecodeError> {
        self.location_ids.clear();
        self.values.clear();
        self.labels.clear();
        sample_fields(
            payload,
            &mut self.location_ids,
            &mut self.values,
            &mut self.labels,
        )
    }
}

/// One sample's fields as a scan reads them: location ids already resolved
/// to positions in the profile's locations, in vectors reused from sample
/// to sample. Resolving while decoding saves a pass over the ids and the
/// `u64` copy of them that every consumer would map again.
#[derive(Debug, Default)]
pub(crate) struct ResolvedSampleBuf {
    /// Positions, leaf first; [`u32::MAX`] for an id that does not exist.
    pub positions: Vec<u32>,
    pub values: Vec<i64>,
    pub labels: Vec<Label>,
    /// The first location id that does not exist, if any: reported only
    /// once the whole sample has decoded, as validation would.
    pub missing: Option<u64>,
}

impl ResolvedSampleBuf {
    /// Replaces the contents with the sample encoded in `payload`, its
    /// location ids looked up in `locations`.
    #[inline]
    pub(crate) fn decode(
        &mut self,
        payload: (&[u8], usize),
        locations: &IdIndex,
    ) -> Result<(), DecodeError> {
        self.positions.clear();
        self.values.clear();
        self.labels.clear();
        self.missing = None;
        let (positions, missing) = (&mut self.positions, &mut self.missing);
        sample_fields_with(payload, &mut self.values, &mut self.labels, |w, key| {
            const WHAT: &str = "Sample.location_id";
            match key.wire_type {
                VARINT => {
                    let id = w.varint(WHAT)?;
                    positions.push(resolve(locations, id, missing));
                    Ok(())
                }
                LEN => {
                    let (data, base) = w.bytes(WHAT, key.offset)?;
                    packed_positions(data, base, locations, positions, missing)
                }
                _ => Err(wire::wire_type(WHAT, key, "0 (varint) or 2 (packed)")),
            }
        })
    }
}

#[inline(always)]
fn resolve(locations: &IdIndex, id: u64, missing: &mut Option<u64>) -> u32 {
    match locations.get(id) {
        Some(p) => p as u32,
        None => {
            missing.get_or_insert(id);
            u32::MAX
        }
    }
}

/// The packed location ids `data` resolved to positions, one varint and
/// one lookup at a time (the general case: [`fast_sample`] takes the
/// common one).
#[inline]
fn packed_positions(
    data: &[u8],
    base: usize,
    locations: &IdIndex,
    out: &mut Vec<u32>,
    missing: &mut Option<u64>,
) -> Result<(), DecodeError> {
    let mut w = Wire::new(data, base);
    while !w.at_end() {
        let id = w.varint("Sample.location_id")?;
        out.push(resolve(locations, id, missing));
    }
    Ok(())
}

/// What [`fast_sample`] checks a sample against: the tables' sizes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FastCheck {
    /// Locations, numbered densely from 1 (the fast path needs no lookup).
    pub locations: usize,
    /// Values per sample: one per sample type.
    pub values: usize,
    /// Strings in the table, for label string indices.
    pub strings: usize,
}

/// Decodes and checks one sample's payload the way Go writes samples —
/// location ids packed and dense, values packed, labels of string indices
/// and numbers — into `positions` and `values`, in one pass with no calls
/// and no error values. Returns false on anything else, valid or not (an
/// unpacked field, an id past two bytes, a defect): the caller then reads
/// the sample the general way, which also finds and words any defect, so
/// that the two paths accept and reject exactly the same samples.
///
/// Most of a scan's time is this function: a Go heap profile is a few
/// tables and hundreds of thousands of samples of about 50 bytes each.
#[inline(always)]
pub(crate) fn fast_sample(
    payload: &[u8],
    check: &FastCheck,
    positions: &mut Vec<u32>,
    values: &mut Vec<i64>,
) -> bool {
    positions.clear();
    values.clear();
    let mut i = 0;
    while let Some(&key) = payload.get(i) {
        let Some((len, start)) = fast_varint(payload, i + 1) else {
            return false;
        };
        let Some(data) = usize::try_from(len)
            .ok()
            .and_then(|len| payload.get(start..start.checked_add(len)?))
        else {
            return false;
        };
        i = start + data.len();
        let ok = match key {
            0x0a => dense_positions(data, check.locations, positions),
            0x12 => fast_varints(data, values),
            0x1a => fast_label(data, check.strings),
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    values.len() == check.values
}

/// The varint at `data[i..]` and the position after it, as
/// [`Wire::varint`] reads it; `None` where that would fail.
#[inline(always)]
fn fast_varint(data: &[u8], i: usize) -> Option<(u64, usize)> {
    let b = *data.get(i)?;
    if b < 0x80 {
        return Some((u64::from(b), i + 1));
    }
    let mut value = u64::from(b & 0x7f);
    let mut shift = 7;
    let mut j = i + 1;
    while shift < 70 {
        let b = *data.get(j)?;
        j += 1;
        value |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Some((value, j));
        }
        shift += 7;
    }
    None
}

/// A packed field of varints, appended to `out` as `i64`s.
#[inline(always)]
fn fast_varints(data: &[u8], out: &mut Vec<i64>) -> bool {
    let mut i = 0;
    while i < data.len() {
        let Some((v, next)) = fast_varint(data, i) else {
            return false;
        };
        out.push(v as i64);
        i = next;
    }
    true
}

/// A `Label` whose string indices are all in the table.
#[inline(always)]
fn fast_label(data: &[u8], strings: usize) -> bool {
    let mut i = 0;
    while let Some(&key) = data.get(i) {
        let Some((v, next)) = fast_varint(data, i + 1) else {
            return false;
        };
        i = next;
        match key {
            // key, str, num_unit: string indices.
            0x08 | 0x10 | 0x20 if v < strings as u64 => {}
            // num
            0x18 => {}
            _ => return false,
        }
    }
    true
}

/// Packed location ids of one or two bytes, each in `1..=len`, appended
/// to `out` as positions (id - 1). Stacks of one-byte ids, the most
/// common, are checked and converted in two passes the compiler
/// vectorizes. False, with `out` partly filled, for anything else.
#[inline(always)]
fn dense_positions(data: &[u8], len: usize, out: &mut Vec<u32>) -> bool {
    // b - 1 < limit (wrapping) holds exactly for 1 ..= limit, and the
    // limit is below 0x80: a one-byte varint naming a location.
    let limit = len.min(0x7f) as u8;
    let one_byte = data
        .iter()
        .fold(true, |ok, &b| ok & (b.wrapping_sub(1) < limit));
    if one_byte {
        out.extend(data.iter().map(|&b| u32::from(b) - 1));
        return true;
    }
    // Written through a slice with a local count rather than pushed: the
    // vector's length then stays in a register.
    let start = out.len();
    out.resize(start + data.len(), 0);
    let dst = &mut out[start..];
    let (mut i, mut n) = (0, 0);
    while let Some(&b) = data.get(i) {
        let id = if b < 0x80 {
            i += 1;
            u32::from(b)
        } else {
            match data.get(i + 1) {
                Some(&c) if c < 0x80 => {
                    i += 2;
                    u32::from(b & 0x7f) | u32::from(c) << 7
                }
                _ => return false,
            }
        };
        let position = id.wrapping_sub(1);
        if position as usize >= len {
            return false;
        }
        dst[n] = position;
        n += 1;
    }
    out.truncate(start + n);
    true
}

/// Counts the repeated top-level messages so every vector is allocated once.
/// Skipping a payload costs two varints, so this pass is cheap next to the
/// decoding it saves reallocations in. It stops quietly at a defect: the
/// decoding pass reports it with the field's name.
fn presize(buf: &[u8], p: &mut Profile) {
    let mut counts = [0usize; 7];
    let mut w = Wire::new(buf, 0);
    while !w.at_end() {
        let Ok(key) = w.key("Profile") else { break };
        if key.wire_type == LEN && (1..=6).contains(&key.field) {
            counts[key.field as usize] += 1;
        }
        if w.skip(key, "Profile").is_err() {
            break;
        }
    }
    p.sample_types.reserve_exact(counts[1]);
    p.samples.reserve_exact(counts[2]);
    p.mappings.reserve_exact(counts[3]);
    p.locations.reserve_exact(counts[4]);
    p.functions.reserve_exact(counts[5]);
    p.strings.reserve_exact(counts[6]);
}

/// The payload of an embedded message (or string) field.
#[inline]
fn msg<'a>(
    w: &mut Wire<'a>,
    key: Key,
    what: &'static str,
) -> Result<(&'a [u8], usize), DecodeError> {
    if key.wire_type != LEN {
        return Err(wire::wire_type(what, key, "2 (length-delimited)"));
    }
    w.bytes(what, key.offset)
}

#[inline]
fn int_field(w: &mut Wire<'_>, key: Key, what: &'static str) -> Result<u64, DecodeError> {
    if key.wire_type != VARINT {
        return Err(wire::wire_type(what, key, "0 (varint)"));
    }
    w.varint(what)
}

#[inline]
fn str_field(w: &mut Wire<'_>, key: Key, what: &'static str) -> Result<StrIdx, DecodeError> {
    let offset = key.offset;
    str_idx(int_field(w, key, what)?, what, offset)
}

/// A string index as the model stores it. Indices that do not fit 32 bits
/// (negative `int64`s included) can never be valid: a table that long needs
/// more than 8 GiB of protobuf.
#[inline]
fn str_idx(v: u64, what: &'static str, offset: usize) -> Result<StrIdx, DecodeError> {
    StrIdx::try_from(v).map_err(|_| DecodeError::StringIndexHuge {
        what,
        index: v,
        offset,
    })
}

/// A repeated string-index field, packed or not.
fn str_list(
    w: &mut Wire<'_>,
    key: Key,
    what: &'static str,
    out: &mut Vec<StrIdx>,
) -> Result<(), DecodeError> {
    match key.wire_type {
        VARINT => out.push(str_idx(w.varint(what)?, what, key.offset)?),
        LEN => {
            let (data, base) = w.bytes(what, key.offset)?;
            let mut raw = Vec::new();
            packed(data, base, what, &mut raw, |v| v)?;
            out.reserve(raw.len());
            for v in raw {
                out.push(str_idx(v, what, base)?);
            }
        }
        _ => return Err(wire::wire_type(what, key, "0 (varint) or 2 (packed)")),
    }
    Ok(())
}

/// A repeated integer field, packed or not.
#[inline]
fn int_list<T>(
    w: &mut Wire<'_>,
    key: Key,
    what: &'static str,
    out: &mut Vec<T>,
    convert: impl Fn(u64) -> T,
) -> Result<(), DecodeError> {
    match key.wire_type {
        VARINT => out.push(convert(w.varint(what)?)),
        LEN => {
            let (data, base) = w.bytes(what, key.offset)?;
            packed(data, base, what, out, convert)?;
        }
        _ => return Err(wire::wire_type(what, key, "0 (varint) or 2 (packed)")),
    }
    Ok(())
}

/// Invalid UTF-8 is replaced rather than refused: names come from binaries
/// and the profile is still useful; Go's own decoder does not check either.
fn string(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_owned(),
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

fn value_type((buf, base): (&[u8], usize)) -> Result<ValueType, DecodeError> {
    let mut v = ValueType::default();
    let mut w = Wire::new(buf, base);
    while !w.at_end() {
        let key = w.key("ValueType")?;
        match key.field {
            1 => v.ty = str_field(&mut w, key, "ValueType.type")?,
            2 => v.unit = str_field(&mut w, key, "ValueType.unit")?,
            _ => w.skip(key, "ValueType")?,
        }
    }
    Ok(v)
}

#[inline]
fn sample(payload: (&[u8], usize)) -> Result<Sample, DecodeError> {
    let mut s = Sample::default();
    // Go attaches one label per heap sample; a Vec grown by push would
    // reserve room for four, which over 600k samples is tens of MB.
    s.labels.reserve_exact(count_labels(payload.0));
    sample_fields(payload, &mut s.location_ids, &mut s.values, &mut s.labels)?;
    Ok(s)
}

/// Appends the fields of the `Sample` message in `buf` to the three vectors.
#[inline(always)]
fn sample_fields(
    payload: (&[u8], usize),
    location_ids: &mut Vec<u64>,
    values: &mut Vec<i64>,
    labels: &mut Vec<Label>,
) -> Result<(), DecodeError> {
    sample_fields_with(payload, values, labels, |w, key| {
        int_list(w, key, "Sample.location_id", location_ids, |v| v)
    })
}

/// [`sample_fields`] with the location ids handed to `location_ids` (the
/// wire positioned after the field's key) rather than stored as they are.
#[inline(always)]
fn sample_fields_with(
    (buf, base): (&[u8], usize),
    values: &mut Vec<i64>,
    labels: &mut Vec<Label>,
    mut location_ids: impl FnMut(&mut Wire<'_>, Key) -> Result<(), DecodeError>,
) -> Result<(), DecodeError> {
    let mut w = Wire::new(buf, base);
    while !w.at_end() {
        let key = w.key("Sample")?;
        match key.field {
            1 => location_ids(&mut w, key)?,
            2 => int_list(&mut w, key, "Sample.value", values, |v| v as i64)?,
            3 => labels.push(label(msg(&mut w, key, "Sample.label")?)?),
            _ => w.skip(key, "Sample")?,
        }
    }
    Ok(())
}

/// How many `Sample.label` fields `buf` holds; stops quietly at a defect,
/// which the decoding pass then reports.
#[inline]
fn count_labels(buf: &[u8]) -> usize {
    let mut n = 0;
    let mut w = Wire::new(buf, 0);
    while !w.at_end() {
        let Ok(key) = w.key("Sample") else { break };
        n += usize::from(key.field == 3);
        if w.skip(key, "Sample").is_err() {
            break;
        }
    }
    n
}

#[inline]
fn label((buf, base): (&[u8], usize)) -> Result<Label, DecodeError> {
    let mut l = Label::default();
    let mut w = Wire::new(buf, base);
    while !w.at_end() {
        let key = w.key("Label")?;
        match key.field {
            1 => l.key = str_field(&mut w, key, "Label.key")?,
            2 => l.str = str_field(&mut w, key, "Label.str")?,
            3 => l.num = int_field(&mut w, key, "Label.num")? as i64,
            4 => l.num_unit = str_field(&mut w, key, "Label.num_unit")?,
            _ => w.skip(key, "Label")?,
        }
    }
    Ok(l)
}

fn mapping((buf, base): (&[u8], usize)) -> Result<Mapping, DecodeError> {
    let mut m = Mapping::default();
    let mut w = Wire::new(buf, base);
    while !w.at_end() {
        let key = w.key("Mapping")?;
        match key.field {
            1 => m.id = int_field(&mut w, key, "Mapping.id")?,
            2 => m.memory_start = int_field(&mut w, key, "Mapping.memory_start")?,
            3 => m.memory_limit = int_field(&mut w, key, "Mapping.memory_limit")?,
            4 => m.file_offset = int_field(&mut w, key, "Mapping.file_offset")?,
            5 => m.filename = str_field(&mut w, key, "Mapping.filename")?,
            6 => m.build_id = str_field(&mut w, key, "Mapping.build_id")?,
            7 => m.has_functions = int_field(&mut w, key, "Mapping.has_functions")? != 0,
            8 => m.has_filenames = int_field(&mut w, key, "Mapping.has_filenames")? != 0,
            9 => m.has_line_numbers = int_field(&mut w, key, "Mapping.has_line_numbers")? != 0,
            10 => m.has_inline_frames = int_field(&mut w, key, "Mapping.has_inline_frames")? != 0,
            _ => w.skip(key, "Mapping")?,
        }
    }
    Ok(m)
}

fn location((buf, base): (&[u8], usize)) -> Result<Location, DecodeError> {
    let mut l = Location::default();
    let mut w = Wire::new(buf, base);
    while !w.at_end() {
        let key = w.key("Location")?;
        match key.field {
            1 => l.id = int_field(&mut w, key, "Location.id")?,
            2 => l.mapping_id = int_field(&mut w, key, "Location.mapping_id")?,
            3 => l.address = int_field(&mut w, key, "Location.address")?,
            4 => l.lines.push(line(msg(&mut w, key, "Location.line")?)?),
            5 => l.is_folded = int_field(&mut w, key, "Location.is_folded")? != 0,
            _ => w.skip(key, "Location")?,
        }
    }
    Ok(l)
}

fn line((buf, base): (&[u8], usize)) -> Result<Line, DecodeError> {
    let mut l = Line::default();
    let mut w = Wire::new(buf, base);
    while !w.at_end() {
        let key = w.key("Line")?;
        match key.field {
            1 => l.function_id = int_field(&mut w, key, "Line.function_id")?,
            2 => l.line = int_field(&mut w, key, "Line.line")? as i64,
            3 => l.column = int_field(&mut w, key, "Line.column")? as i64,
            _ => w.skip(key, "Line")?,
        }
    }
    Ok(l)
}

fn function((buf, base): (&[u8], usize)) -> Result<Function, DecodeError> {
    let mut f = Function::default();
    let mut w = Wire::new(buf, base);
    while !w.at_end() {
        let key = w.key("Function")?;
        match key.field {
            1 => f.id = int_field(&mut w, key, "Function.id")?,
            2 => f.name = str_field(&mut w, key, "Function.name")?,
            3 => f.system_name = str_field(&mut w, key, "Function.system_name")?,
            4 => f.filename = str_field(&mut w, key, "Function.filename")?,
            5 => f.start_line = int_field(&mut w, key, "Function.start_line")? as i64,
            _ => w.skip(key, "Function")?,
        }
    }
    Ok(f)
}

/// Whether `b` could begin a `Profile` message: a key for one of its fields
/// with the wire type the schema gives it. Used to tell protobuf from
/// arbitrary bytes before blaming the protobuf decoder.
pub(crate) fn plausible_start(b: u8) -> bool {
    let field = b >> 3;
    let wire_type = b & 7;
    match field {
        1..=6 | 11 => wire_type == LEN,
        7..=10 | 12 | 14 | 15 => wire_type == VARINT,
        13 => wire_type == VARINT || wire_type == LEN,
        _ => false,
    }
}
