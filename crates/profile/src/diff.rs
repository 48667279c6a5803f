//! Differences between two profiles with pprof's `-diff_base` semantics:
//! new minus base, node by node.
//!
//! Two outputs: a [`Table`] of signed deltas ([`diff`]), and the diff as a
//! profile of its own ([`diff_profile`]) — the new samples plus the base
//! samples negated and labelled `pprof::base`, which is what pprof builds
//! for `-diff_base`, so that `go tool pprof -top` on the encoded result shows
//! the same numbers.

use std::collections::HashMap;

use crate::aggregate::{cores, sample_index, AggregateError, NodeValues, Options, Table};
use crate::prune::PruneRules;
use crate::{DecodeError, Label, Profile, Sample, SampleSource};

/// Why two profiles could not be diffed.
#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    /// The profiles measure different things.
    #[error("incompatible profiles: the base has sample types {base}, the new one {new}")]
    Incompatible {
        /// The base's sample types as `type/unit`, comma separated.
        base: String,
        /// The new profile's sample types.
        new: String,
    },
    /// Aggregating one of the profiles failed.
    #[error("{side} profile: {source}")]
    Aggregate {
        /// Which profile.
        side: Side,
        /// What went wrong.
        source: AggregateError,
    },
    /// Ids too large to renumber the base's tables after the new one's.
    #[error("the profiles' {what} ids are too large to merge")]
    IdOverflow {
        /// `mapping`, `location` or `function`.
        what: &'static str,
    },
}

/// One of the two profiles of a diff.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The older profile, subtracted.
    Base,
    /// The newer profile.
    New,
}

impl std::fmt::Display for Side {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Side::Base => "base",
            Side::New => "new",
        })
    }
}

impl DiffError {
    /// The side and decoding error, when a profile turned out malformed
    /// while its samples were read (see [`AggregateError::decode_error`]).
    pub fn decode_error(&self) -> Option<(Side, &DecodeError)> {
        match self {
            DiffError::Aggregate { side, source } => source.decode_error().map(|e| (*side, e)),
            _ => None,
        }
    }
}

/// The label pprof puts on the base's samples in a `-diff_base` profile.
pub const BASE_LABEL: &str = "pprof::base";

/// Checks that `base` and `new` can be diffed: the same sample types (type
/// and unit, in order), as pprof's merge requires.
pub fn check_compatible(base: &Profile, new: &Profile) -> Result<(), DiffError> {
    let describe = |p: &Profile| {
        let types: Vec<String> = p
            .sample_types
            .iter()
            .map(|t| format!("{}/{}", p.str(t.ty), p.str(t.unit)))
            .collect();
        format!("[{}]", types.join(", "))
    };
    let (b, n) = (describe(base), describe(new));
    if b != n {
        return Err(DiffError::Incompatible { base: b, new: n });
    }
    Ok(())
}

/// The signed per-node change from `base` to `new`, for the sample type
/// `opts.sample_index` (resolved on the new profile). Either side may be a
/// decoded [`Profile`] or a [`crate::ScannedProfile`].
///
/// Rows are sorted by growth: largest flat increase first, then largest cum
/// increase, then by name. `total` is the new profile's total, `base_total`
/// the base's. Nodes whose flat and cum did not change are left out.
pub fn diff(
    base: &impl SampleSource,
    new: &impl SampleSource,
    opts: &Options,
) -> Result<Table, DiffError> {
    diff_sources(base, new, opts).map_err(|e| {
        // A malformed sample is reported first, the base's before the new
        // one's, as decoding both profiles first would have.
        if e.decode_error().is_some_and(|(side, _)| side == Side::Base) {
            return e;
        }
        let malformed = |side, source| DiffError::Aggregate {
            side,
            source: AggregateError::Sample(source),
        };
        if let Err(source) = base.check_samples() {
            return malformed(Side::Base, source);
        }
        if let Err(source) = new.check_samples() {
            return malformed(Side::New, source);
        }
        e
    })
}

fn diff_sources(
    base: &impl SampleSource,
    new: &impl SampleSource,
    opts: &Options,
) -> Result<Table, DiffError> {
    let (base_tables, new_tables) = (base.tables(), new.tables());
    check_compatible(base_tables, new_tables)?;
    let side = |side| move |source| DiffError::Aggregate { side, source };
    let index = sample_index(new_tables, opts.sample_index.as_deref()).map_err(side(Side::New))?;
    // pprof prunes the merged profile with the rules of the first profile
    // it loaded: the new one.
    let rules = PruneRules::of(new_tables)
        .map_err(AggregateError::from)
        .map_err(side(Side::New))?;
    // The two sides are independent: aggregate them side by side, the new
    // one (usually the larger) split over every core, the base over half.
    let cores = cores();
    let (new_values, base_values) = std::thread::scope(|s| {
        let base_values = s
            .spawn(|| NodeValues::compute(base, opts.by, index, rules.as_ref(), cores.div_ceil(2)));
        let new_values = NodeValues::compute(new, opts.by, index, rules.as_ref(), cores);
        let base_values = base_values
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (new_values, base_values)
    });
    // The base's defects first, as when both are decoded before diffing.
    if let Err(e @ AggregateError::Sample(_)) = base_values {
        return Err(side(Side::Base)(e));
    }
    let new_values = new_values.map_err(side(Side::New))?;
    let base_values = base_values.map_err(side(Side::Base))?;
    let (total, base_total) = (new_values.total, base_values.total);
    let mut rows = new_values.subtract(base_values);
    rows.sort_by(|(ka, a), (kb, b)| {
        b.flat
            .cmp(&a.flat)
            .then_with(|| b.cum.cmp(&a.cum))
            .then_with(|| a.name.cmp(&b.name))
            .then_with(|| ka.cmp(kb))
    });
    let ty = new_tables.sample_types[index];
    Ok(Table {
        sample_type: new_tables.str(ty.ty).to_owned(),
        unit: new_tables.str(ty.unit).to_owned(),
        by: opts.by,
        total,
        base_total,
        rows: rows.into_iter().map(|(_, r)| r).collect(),
    })
}

/// The diff as one profile, as pprof's `-diff_base` builds it: all of
/// `new`'s samples, and `base`'s samples with negated values and the label
/// `pprof::base=true`. The base's mappings, locations and functions are
/// renumbered after the new profile's; its strings are merged into the new
/// string table.
pub fn diff_profile(base: &Profile, new: &Profile) -> Result<Profile, DiffError> {
    check_compatible(base, new)?;
    let mut out = new.clone();
    if out.strings.is_empty() {
        out.strings.push(String::new());
    }

    // Merge the string tables: base index → output index.
    let mut index: HashMap<&str, u32> = HashMap::with_capacity(out.strings.len());
    for (i, s) in new.strings.iter().enumerate() {
        index.entry(s.as_str()).or_insert(i as u32);
    }
    if new.strings.is_empty() {
        index.insert("", 0);
    }
    let mut appended: Vec<String> = Vec::new();
    let mut next = out.strings.len() as u32;
    let remap: Vec<u32> = base
        .strings
        .iter()
        .map(|s| {
            *index.entry(s.as_str()).or_insert_with(|| {
                appended.push(s.clone());
                next += 1;
                next - 1
            })
        })
        .collect();
    let base_label_key = *index.entry(BASE_LABEL).or_insert_with(|| {
        appended.push(BASE_LABEL.to_owned());
        next += 1;
        next - 1
    });
    let base_label_value = *index.entry("true").or_insert_with(|| {
        appended.push("true".to_owned());
        next += 1;
        next - 1
    });
    drop(index);
    out.strings.extend(appended);
    let s = |i: u32| remap.get(i as usize).copied().unwrap_or(0);

    let offset = |what, ids: &mut dyn Iterator<Item = u64>| {
        let max = ids.max().unwrap_or(0);
        move |id: u64| -> Result<u64, DiffError> {
            if id == 0 {
                return Ok(0);
            }
            id.checked_add(max).ok_or(DiffError::IdOverflow { what })
        }
    };
    let mapping_id = offset("mapping", &mut new.mappings.iter().map(|m| m.id));
    let location_id = offset("location", &mut new.locations.iter().map(|l| l.id));
    let function_id = offset("function", &mut new.functions.iter().map(|f| f.id));

    for m in &base.mappings {
        let mut m = m.clone();
        m.id = mapping_id(m.id)?;
        m.filename = s(m.filename);
        m.build_id = s(m.build_id);
        out.mappings.push(m);
    }
    for f in &base.functions {
        let mut f = *f;
        f.id = function_id(f.id)?;
        f.name = s(f.name);
        f.system_name = s(f.system_name);
        f.filename = s(f.filename);
        out.functions.push(f);
    }
    for l in &base.locations {
        let mut l = l.clone();
        l.id = location_id(l.id)?;
        l.mapping_id = mapping_id(l.mapping_id)?;
        for line in &mut l.lines {
            line.function_id = function_id(line.function_id)?;
        }
        out.locations.push(l);
    }
    out.samples.reserve(base.samples.len());
    for sample in &base.samples {
        let location_ids = sample
            .location_ids
            .iter()
            .map(|&id| location_id(id))
            .collect::<Result<Vec<_>, _>>()?;
        let mut labels: Vec<Label> = sample
            .labels
            .iter()
            .map(|l| Label {
                key: s(l.key),
                str: s(l.str),
                num: l.num,
                num_unit: s(l.num_unit),
            })
            .collect();
        labels.push(Label {
            key: base_label_key,
            str: base_label_value,
            num: 0,
            num_unit: 0,
        });
        out.samples.push(Sample {
            location_ids,
            values: sample.values.iter().map(|v| v.saturating_neg()).collect(),
            labels,
        });
    }
    Ok(out)
}
