//! Structural validation of a decoded profile: the string table starts with
//! `""`, ids are nonzero and unique, every reference resolves, and every
//! sample has one value per sample type. [`crate::decode()`] runs it, so code
//! downstream can index without checking.

use crate::{DecodeError, IdIndex, Label, Profile, StrIdx};

/// Checks `profile` and returns the id indices it built on the way.
pub fn validate(profile: &Profile) -> Result<Indices, DecodeError> {
    validate_with(profile, None)
}

/// What a decoder learned about the samples while they were hot in cache,
/// so that validation need not walk all of them again (with hundreds of
/// thousands of samples that walk is a cache miss per sample).
#[derive(Debug, Clone, Copy)]
pub(crate) struct SampleSummary {
    /// Smallest and largest location id referred to (`(u64::MAX, 0)` when
    /// no sample has a location).
    pub location_ids: (u64, u64),
    /// Fewest and most values in a sample (`(usize::MAX, 0)` when there are
    /// no samples).
    pub value_counts: (usize, usize),
    /// Largest string index in any sample label.
    pub max_label_string: u32,
}

impl Default for SampleSummary {
    fn default() -> Self {
        SampleSummary {
            location_ids: (u64::MAX, 0),
            value_counts: (usize::MAX, 0),
            max_label_string: 0,
        }
    }
}

impl SampleSummary {
    /// Takes `s` into account.
    #[inline]
    pub(crate) fn add(&mut self, s: &crate::Sample) {
        for &id in &s.location_ids {
            self.location_ids = (self.location_ids.0.min(id), self.location_ids.1.max(id));
        }
        let n = s.values.len();
        self.value_counts = (self.value_counts.0.min(n), self.value_counts.1.max(n));
        for l in &s.labels {
            self.max_label_string = self.max_label_string.max(l.key).max(l.str).max(l.num_unit);
        }
    }
}

/// [`validate`], with a [`SampleSummary`] from the decoder. When the
/// summary shows that every sample is fine (always, for Go's dense ids),
/// the per-sample pass is skipped; otherwise it runs to name the culprit.
pub(crate) fn validate_with(
    profile: &Profile,
    summary: Option<SampleSummary>,
) -> Result<Indices, DecodeError> {
    let p = profile;
    let indices = validate_tables(p)?;
    let check = SampleCheck::new(p, &indices);
    let locations_resolve = match summary.map(|s| s.location_ids) {
        Some((min, max)) if min > max => true, // no sample has a location
        Some((min, max)) => indices
            .locations
            .dense_len()
            .is_some_and(|len| min >= 1 && max <= len as u64),
        None => false,
    };
    if let Some(summary) = summary {
        let (fewest, most) = summary.value_counts;
        let expected = check.expected;
        let values_ok = p.samples.is_empty() || (fewest == expected && most == expected);
        if locations_resolve && values_ok && (summary.max_label_string as usize) < check.strings.0 {
            return Ok(indices);
        }
    }
    for (i, s) in p.samples.iter().enumerate() {
        check.sample(i, &s.location_ids, &s.values, &s.labels, !locations_resolve)?;
    }
    Ok(indices)
}

/// Checks everything but the samples: the string table, every string index
/// outside samples, ids, and the references of locations. The samples can
/// then be checked one at a time with a [`SampleCheck`] — which is how a
/// scan ([`crate::scan()`]) validates samples it never stores.
pub(crate) fn validate_tables(profile: &Profile) -> Result<Indices, DecodeError> {
    let p = profile;
    match p.strings.first() {
        None => return Err(DecodeError::StringTableMissing),
        Some(s) if !s.is_empty() => {
            return Err(DecodeError::StringTableStart {
                found: crate::error::shorten(s, 80),
            })
        }
        Some(_) => {}
    }
    let strings = Strings(p.strings.len());

    for (i, t) in p.sample_types.iter().enumerate() {
        strings.check(t.ty, || format!("sample_type[{i}] type"))?;
        strings.check(t.unit, || format!("sample_type[{i}] unit"))?;
    }
    if let Some(t) = &p.period_type {
        strings.check(t.ty, || "period_type type".into())?;
        strings.check(t.unit, || "period_type unit".into())?;
    }
    strings.check(p.drop_frames, || "drop_frames".into())?;
    strings.check(p.keep_frames, || "keep_frames".into())?;
    strings.check(p.default_sample_type, || "default_sample_type".into())?;
    strings.check(p.doc_url, || "doc_url".into())?;
    for (i, &c) in p.comments.iter().enumerate() {
        strings.check(c, || format!("comment[{i}]"))?;
    }

    let mappings = IdIndex::of_mappings(&p.mappings)?;
    for m in &p.mappings {
        strings.check(m.filename, || format!("mapping {} filename", m.id))?;
        strings.check(m.build_id, || format!("mapping {} build_id", m.id))?;
    }
    let functions = IdIndex::of_functions(&p.functions)?;
    for f in &p.functions {
        strings.check(f.name, || format!("function {} name", f.id))?;
        strings.check(f.system_name, || format!("function {} system_name", f.id))?;
        strings.check(f.filename, || format!("function {} filename", f.id))?;
    }
    let locations = IdIndex::of_locations(&p.locations)?;
    for l in &p.locations {
        if l.mapping_id != 0 && mappings.get(l.mapping_id).is_none() {
            return Err(DecodeError::DanglingMapping {
                location: l.id,
                mapping: l.mapping_id,
            });
        }
        for line in &l.lines {
            if line.function_id != 0 && functions.get(line.function_id).is_none() {
                return Err(DecodeError::DanglingFunction {
                    location: l.id,
                    function: line.function_id,
                });
            }
        }
    }
    Ok(Indices {
        mappings,
        locations,
        functions,
    })
}

/// The checks of one sample against tables that [`validate_tables`]
/// accepted: one value per sample type, locations that exist, label
/// strings in the table.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SampleCheck<'a> {
    expected: usize,
    strings: Strings,
    locations: &'a IdIndex,
}

impl<'a> SampleCheck<'a> {
    /// The checks for samples of `profile`, whose tables `indices` index.
    pub(crate) fn new(profile: &Profile, indices: &'a Indices) -> Self {
        SampleCheck::from_parts(
            profile.sample_types.len(),
            profile.strings.len(),
            &indices.locations,
        )
    }

    /// The checks from their parts: how many values a sample needs, how
    /// long the string table is, and the location index.
    pub(crate) fn from_parts(expected: usize, strings: usize, locations: &'a IdIndex) -> Self {
        SampleCheck {
            expected,
            strings: Strings(strings),
            locations,
        }
    }

    /// Checks sample number `i` (0-based, for the message).
    /// `check_locations` is false when the caller already knows they resolve.
    #[inline]
    pub(crate) fn sample(
        &self,
        i: usize,
        location_ids: &[u64],
        values: &[i64],
        labels: &[Label],
        check_locations: bool,
    ) -> Result<(), DecodeError> {
        // The value count is checked first: no need to look ids up then.
        let missing = if check_locations && values.len() == self.expected {
            self.locations.first_missing(location_ids)
        } else {
            None
        };
        self.resolved_sample(i, missing, values, labels)
    }

    /// [`Self::sample`] for a sample whose location ids were looked up
    /// while it was decoded: `missing` is the first that does not exist.
    #[inline]
    pub(crate) fn resolved_sample(
        &self,
        i: usize,
        missing: Option<u64>,
        values: &[i64],
        labels: &[Label],
    ) -> Result<(), DecodeError> {
        if values.len() != self.expected {
            return Err(DecodeError::ValueCount {
                sample: i,
                found: values.len(),
                expected: self.expected,
            });
        }
        if let Some(id) = missing {
            return Err(DecodeError::DanglingLocation { sample: i, id });
        }
        let strings = self.strings;
        for (j, l) in labels.iter().enumerate() {
            strings.check(l.key, || format!("sample {i} label {j} key"))?;
            strings.check(l.str, || format!("sample {i} label {j} str"))?;
            strings.check(l.num_unit, || format!("sample {i} label {j} num_unit"))?;
        }
        Ok(())
    }
}

/// The id indices of a validated profile.
#[derive(Debug, Clone)]
pub struct Indices {
    /// Mapping id → position in [`Profile::mappings`].
    pub mappings: IdIndex,
    /// Location id → position in [`Profile::locations`].
    pub locations: IdIndex,
    /// Function id → position in [`Profile::functions`].
    pub functions: IdIndex,
}

/// The string table's length, to check indices against.
#[derive(Debug, Clone, Copy)]
struct Strings(usize);

impl Strings {
    /// `what` is built only on failure: it is called for every sample label.
    #[inline]
    fn check(&self, index: StrIdx, what: impl FnOnce() -> String) -> Result<(), DecodeError> {
        if (index as usize) < self.0 {
            Ok(())
        } else {
            Err(DecodeError::StringIndex {
                what: what(),
                index,
                len: self.0,
            })
        }
    }
}
