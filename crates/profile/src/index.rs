//! Id → position lookups for mappings, locations and functions.
//!
//! Samples refer to locations, locations to mappings and functions, all by
//! id. Go numbers them densely from 1 in order, so the common case is
//! arithmetic; other producers get a table when ids are small and a hash
//! map otherwise. Validation builds these, and aggregation can reuse them.

use std::collections::HashMap;

use crate::{DecodeError, Function, Location, Mapping};

/// Maps ids to positions (0-based indices into the profile's vector).
#[derive(Debug, Clone)]
pub struct IdIndex {
    repr: Repr,
}

#[derive(Debug, Clone)]
enum Repr {
    /// ids are exactly `1..=len`, in order.
    Dense(usize),
    /// `table[id]` is the position, `u32::MAX` when absent.
    Table(Vec<u32>),
    Map(HashMap<u64, u32>),
}

const ABSENT: u32 = u32::MAX;

impl IdIndex {
    /// Builds the index over `ids` (in profile order), refusing zero and
    /// duplicate ids. `kind` names them in errors: `mapping`, `location` or
    /// `function`.
    pub fn new(
        ids: impl ExactSizeIterator<Item = u64> + Clone,
        kind: &'static str,
    ) -> Result<Self, DecodeError> {
        let len = ids.len();
        if ids.clone().enumerate().all(|(i, id)| id == i as u64 + 1) {
            return Ok(IdIndex {
                repr: Repr::Dense(len),
            });
        }
        // Positions are stored as u32; more than 4 billion entries cannot
        // come out of a bounded decode anyway.
        let mut max = 0u64;
        for (position, id) in ids.clone().enumerate() {
            if id == 0 {
                return Err(DecodeError::ZeroId { kind, position });
            }
            max = max.max(id);
        }
        let duplicate = |id: u64, first: u32, second: usize| DecodeError::DuplicateId {
            kind,
            id,
            first: first as usize,
            second,
        };
        // A table costs 4 bytes per possible id: worth it while ids are
        // reasonably dense.
        if max <= (len as u64).saturating_mul(4).saturating_add(1024) {
            let mut table = vec![ABSENT; max as usize + 1];
            for (position, id) in ids.enumerate() {
                let slot = &mut table[id as usize];
                if *slot != ABSENT {
                    return Err(duplicate(id, *slot, position));
                }
                *slot = position as u32;
            }
            Ok(IdIndex {
                repr: Repr::Table(table),
            })
        } else {
            let mut map = HashMap::with_capacity(len);
            for (position, id) in ids.enumerate() {
                if let Some(&first) = map.get(&id) {
                    return Err(duplicate(id, first, position));
                }
                map.insert(id, position as u32);
            }
            Ok(IdIndex {
                repr: Repr::Map(map),
            })
        }
    }

    /// Index of `mappings` by id.
    pub fn of_mappings(mappings: &[Mapping]) -> Result<Self, DecodeError> {
        Self::new(mappings.iter().map(|m| m.id), "mapping")
    }

    /// Index of `locations` by id.
    pub fn of_locations(locations: &[Location]) -> Result<Self, DecodeError> {
        Self::new(locations.iter().map(|l| l.id), "location")
    }

    /// Index of `functions` by id.
    pub fn of_functions(functions: &[Function]) -> Result<Self, DecodeError> {
        Self::new(functions.iter().map(|f| f.id), "function")
    }

    /// The first of `ids` that is not in the index. For Go's dense ids this
    /// is a bounds check the compiler vectorizes, which matters when it runs
    /// over every frame of every sample.
    #[inline]
    pub fn first_missing(&self, ids: &[u64]) -> Option<u64> {
        match &self.repr {
            Repr::Dense(len) => {
                let len = *len as u64;
                // id - 1 wraps to u64::MAX for 0, so one comparison covers both ends.
                if ids.iter().all(|&id| id.wrapping_sub(1) < len) {
                    None
                } else {
                    ids.iter().copied().find(|&id| id.wrapping_sub(1) >= len)
                }
            }
            _ => ids.iter().copied().find(|&id| self.get(id).is_none()),
        }
    }

    /// `Some(n)` when the ids are exactly `1..=n` in order.
    pub(crate) fn dense_len(&self) -> Option<usize> {
        match self.repr {
            Repr::Dense(len) => Some(len),
            _ => None,
        }
    }

    /// The position of `id`, if present.
    #[inline]
    pub fn get(&self, id: u64) -> Option<usize> {
        match &self.repr {
            Repr::Dense(len) => {
                if id >= 1 && id <= *len as u64 {
                    Some(id as usize - 1)
                } else {
                    None
                }
            }
            Repr::Table(table) => match table.get(usize::try_from(id).ok()?) {
                Some(&p) if p != ABSENT => Some(p as usize),
                _ => None,
            },
            Repr::Map(map) => map.get(&id).map(|&p| p as usize),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(ids: &[u64]) -> Result<IdIndex, DecodeError> {
        IdIndex::new(ids.iter().copied(), "location")
    }

    #[test]
    fn dense_ids_are_arithmetic() {
        let i = index(&[1, 2, 3]).unwrap();
        assert!(matches!(i.repr, Repr::Dense(3)));
        assert_eq!(i.get(2), Some(1));
        assert_eq!(i.get(0), None);
        assert_eq!(i.get(4), None);
        assert_eq!(i.first_missing(&[3, 1, 2]), None);
        assert_eq!(i.first_missing(&[3, 0, 9]), Some(0));
    }

    #[test]
    fn sparse_small_ids_use_a_table_and_large_ones_a_map() {
        let t = index(&[5, 3, 9]).unwrap();
        assert!(matches!(t.repr, Repr::Table(_)));
        assert_eq!((t.get(9), t.get(3), t.get(4)), (Some(2), Some(1), None));
        let m = index(&[1 << 40, 7]).unwrap();
        assert!(matches!(m.repr, Repr::Map(_)));
        assert_eq!(
            (m.get(1 << 40), m.get(7), m.get(8)),
            (Some(0), Some(1), None)
        );
        assert_eq!(m.get(u64::MAX), None);
        assert_eq!(m.first_missing(&[7, 1 << 40, 8]), Some(8));
        assert_eq!(t.first_missing(&[9, 3]), None);
    }

    #[test]
    fn zero_and_duplicate_ids_are_refused() {
        assert_eq!(
            index(&[1, 0]).unwrap_err().to_string(),
            "location #1 has id 0; ids must be nonzero"
        );
        assert_eq!(
            index(&[4, 2, 4]).unwrap_err().to_string(),
            "duplicate location id 4 (locations #0 and #2)"
        );
        assert_eq!(
            index(&[1 << 50, 2, 1 << 50]).unwrap_err().to_string(),
            "duplicate location id 1125899906842624 (locations #0 and #2)"
        );
    }
}
