//! Scanning: a profile decoded except for its samples, which are read
//! straight from the protobuf, one at a time, into buffers reused from
//! sample to sample.
//!
//! A Go heap profile is mostly samples — hundreds of thousands of them —
//! and decoding them into the model costs three heap vectors each (a few
//! hundred bytes), most of the time of `top` and `diff` going into faulting
//! in and filling that memory only to sum it up once. A [`ScannedProfile`]
//! keeps the decompressed bytes and everything small decoded (strings,
//! functions, locations, mappings, sample types); its samples are checked
//! as they are read, with the checks and messages of
//! [`crate::validate::validate`], and handed to the consumer as borrowed
//! [`SampleRef`]s. Aggregation ([`crate::aggregate`], [`crate::diff`]) reads
//! samples through [`SampleSource`], which a decoded [`Profile`] implements
//! too, so both paths share one aggregation and give identical tables.
//!
//! Errors are those [`crate::decode()`] reports on the same input, including
//! which defect is reported when there are several: decoding reports the
//! first defect of the wire format in file order before any validation
//! defect, so where the scan finds a defect out of that order it looks for
//! an earlier-reported one first (only on the way to an error).

use std::borrow::Cow;
use std::ops::Range;

use super::{decode_text, is_gzip, proto, sniff, uncompressed, unknown_format, Format, Limits};
use crate::validate::{self, SampleCheck};
use crate::{DecodeError, IdIndex, Profile};

/// One sample, borrowed: from a decoded [`crate::Sample`] or from the
/// buffers a scan reuses (valid only until the next sample).
#[derive(Debug, Clone, Copy)]
pub struct SampleRef<'a> {
    /// The sample's locations, leaf first, as positions in the tables'
    /// `locations` (ids already looked up: every consumer needs them so, and
    /// a scan resolves them while it decodes them).
    pub locations: &'a [u32],
    /// One value per sample type.
    pub values: &'a [i64],
}

/// Where aggregation reads samples from: a decoded [`Profile`], or a
/// [`ScannedProfile`] whose samples are decoded as they are read. Sources
/// are `Sync` so that parts of their samples can be read side by side.
pub trait SampleSource: Sync {
    /// The profile's tables: sample types, strings, locations, functions,
    /// mappings and the rest. Its `samples` may be empty even when the
    /// source has samples: read those with [`Self::try_for_each_sample`].
    fn tables(&self) -> &Profile;

    /// Calls `f` on each sample in order, stopping at the first error —
    /// `f`'s, or a sample that does not decode or validate.
    fn try_for_each_sample<E: From<DecodeError>>(
        &self,
        f: impl FnMut(SampleRef<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        self.try_for_each_sample_in(0..usize::MAX, f)
    }

    /// [`Self::try_for_each_sample`] on the samples numbered `range` only.
    /// Reading the parts of a split one after another meets the same
    /// samples, and the same first error, as reading them all.
    fn try_for_each_sample_in<E: From<DecodeError>>(
        &self,
        range: Range<usize>,
        f: impl FnMut(SampleRef<'_>) -> Result<(), E>,
    ) -> Result<(), E>;

    /// How many samples there are.
    fn sample_count(&self) -> usize;

    /// The error [`crate::decode()`] would report for a defective sample, if
    /// there is one. Callers that fail for another reason before or while
    /// reading the samples ask this first, so that a malformed profile is
    /// reported as such whichever path read it.
    fn check_samples(&self) -> Result<(), DecodeError> {
        self.try_for_each_sample(|_| Ok::<(), DecodeError>(()))
    }
}

/// So that `aggregate(&p, …)` still compiles where `p` is itself a
/// reference, as it did when aggregation took `&Profile`.
impl<T: SampleSource + ?Sized> SampleSource for &T {
    fn tables(&self) -> &Profile {
        (**self).tables()
    }

    fn try_for_each_sample_in<E: From<DecodeError>>(
        &self,
        range: Range<usize>,
        f: impl FnMut(SampleRef<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        (**self).try_for_each_sample_in(range, f)
    }

    fn sample_count(&self) -> usize {
        (**self).sample_count()
    }

    fn check_samples(&self) -> Result<(), DecodeError> {
        (**self).check_samples()
    }
}

impl SampleSource for Profile {
    fn tables(&self) -> &Profile {
        self
    }

    #[inline]
    fn try_for_each_sample_in<E: From<DecodeError>>(
        &self,
        range: Range<usize>,
        mut f: impl FnMut(SampleRef<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        let n = self.samples.len();
        let (start, end) = (range.start.min(n), range.end.min(n));
        if start == end {
            return Ok(());
        }
        let index = IdIndex::of_locations(&self.locations)?;
        let mut positions: Vec<u32> = Vec::new();
        for (i, s) in self.samples[start..end].iter().enumerate() {
            positions.clear();
            for &id in &s.location_ids {
                let Some(p) = index.get(id) else {
                    let sample = start + i;
                    return Err(DecodeError::DanglingLocation { sample, id }.into());
                };
                positions.push(p as u32);
            }
            f(SampleRef {
                locations: &positions,
                values: &s.values,
            })?;
        }
        Ok(())
    }

    fn sample_count(&self) -> usize {
        self.samples.len()
    }
}

/// A profile whose samples stay encoded until they are read (see the
/// module docs). Go's text profiles are small and are decoded whole.
#[derive(Debug, Clone)]
pub struct ScannedProfile {
    /// Everything but the samples (for protobuf input), else the whole
    /// profile.
    tables: Profile,
    encoded: Option<EncodedSamples>,
}

/// Samples still in protobuf form, and what checking them needs.
#[derive(Debug, Clone)]
struct EncodedSamples {
    /// The whole decompressed `Profile` message.
    bytes: Vec<u8>,
    /// How many samples there are, and where some of them start.
    checkpoints: proto::Checkpoints,
    /// As validated when scanned: the tables may change afterwards (a
    /// symbolizer adds strings), and the samples must be checked against
    /// the tables decoding would have checked them against.
    locations: IdIndex,
    strings: usize,
    sample_types: usize,
}

/// Reads a profile in any format [`crate::decode()`] reads, and validates
/// everything but the samples (which [`ScannedProfile`] validates as they
/// are read). Takes the bytes by value: uncompressed protobuf is kept as
/// it is, without a copy.
pub fn scan(bytes: Vec<u8>, limits: &Limits) -> Result<ScannedProfile, DecodeError> {
    let compressed = is_gzip(&bytes);
    let bytes = uncompressed(Cow::Owned(bytes), limits)?.into_owned();
    match sniff(&bytes) {
        Format::Text(kind) => Ok(ScannedProfile {
            tables: decode_text(&bytes, kind)?,
            encoded: None,
        }),
        Format::Protobuf => {
            let (tables, checkpoints) = proto::decode_tables(&bytes)?;
            let count = checkpoints.count;
            let indices = match validate::validate_tables(&tables) {
                Ok(indices) => indices,
                // Decoding would have found a defect inside a sample first.
                Err(e) => return Err(proto::first_bad_sample(&bytes, 0, count).unwrap_or(e)),
            };
            let encoded = EncodedSamples {
                checkpoints,
                locations: indices.locations,
                strings: tables.strings.len(),
                sample_types: tables.sample_types.len(),
                bytes,
            };
            Ok(ScannedProfile {
                tables,
                encoded: Some(encoded),
            })
        }
        Format::Unknown => Err(unknown_format(&bytes, compressed)),
    }
}

impl ScannedProfile {
    /// The tables, mutable: e.g. to name the frames of an address-only
    /// profile. Location ids must stay as they are; the samples refer to
    /// them.
    pub fn tables_mut(&mut self) -> &mut Profile {
        &mut self.tables
    }
}

impl SampleSource for ScannedProfile {
    fn tables(&self) -> &Profile {
        &self.tables
    }

    fn sample_count(&self) -> usize {
        match &self.encoded {
            Some(e) => e.checkpoints.count,
            None => self.tables.samples.len(),
        }
    }

    fn try_for_each_sample_in<E: From<DecodeError>>(
        &self,
        range: Range<usize>,
        mut f: impl FnMut(SampleRef<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        let Some(encoded) = &self.encoded else {
            return self.tables.try_for_each_sample_in(range, f);
        };
        let check =
            SampleCheck::from_parts(encoded.sample_types, encoded.strings, &encoded.locations);
        // Go's dense location ids let most samples take the fast path;
        // the general one reads the rest, and every defect.
        let fast = encoded.locations.dense_len().map(|len| proto::FastCheck {
            locations: len,
            values: encoded.sample_types,
            strings: encoded.strings,
        });
        let (mut positions, mut values) = (Vec::new(), Vec::new());
        let mut sample = proto::ResolvedSampleBuf::default();
        // Skipping a sample reads two varints; the scan framed every one
        // already, so the skipped are only those since the checkpoint.
        let (first, payloads) = encoded
            .checkpoints
            .payloads_from(&encoded.bytes, range.start);
        let payloads = payloads.enumerate().map(|(i, p)| (first + i, p));
        for (i, payload) in payloads.skip(range.start - first).take(range.len()) {
            let payload = payload?;
            if let Some(check) = &fast {
                if proto::fast_sample(payload.0, check, &mut positions, &mut values) {
                    f(SampleRef {
                        locations: &positions,
                        values: &values,
                    })?;
                    continue;
                }
            }
            sample.decode(payload, &encoded.locations)?;
            let (values, labels) = (&sample.values, &sample.labels);
            if let Err(e) = check.resolved_sample(i, sample.missing, values, labels) {
                // Decoding would have found a defect in a later sample's
                // encoding before validating this one.
                let later = proto::first_bad_sample(&encoded.bytes, i + 1, usize::MAX);
                return Err(later.unwrap_or(e).into());
            }
            f(SampleRef {
                locations: &sample.positions,
                values,
            })?;
        }
        Ok(())
    }
}
