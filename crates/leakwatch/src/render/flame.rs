//! The differential flame graph: where two heap profiles differ, drawn with
//! inferno. Widths come from the newer profile; a frame is red where it grew
//! and blue where it shrank, as in Brendan Gregg's differential flame graphs.
//!
//! Stacks are handed to inferno as folded lines (`root;…;leaf base new`),
//! so a frame name must not contain the `;` separator or a line break. Such
//! characters are replaced by look-alikes ([`frame_name`]); markup needs no
//! care here because inferno escapes every name when it writes the XML.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use leakwatch_profile::Profile;

use super::{Exporter, Svg};

/// Width of the drawing in pixels; fixed so the text inferno fits into each
/// frame is decided once, at render time, the same on every machine.
pub const WIDTH: usize = 1200;

/// Stands in for `;` inside a frame name: U+037E GREEK QUESTION MARK, which
/// is drawn exactly like a semicolon but is not inferno's separator.
pub const SEMICOLON_LOOKALIKE: char = '\u{37E}';

/// Two profiles to compare.
#[derive(Debug, Clone, Copy)]
pub struct FlameDiff<'a> {
    /// The title drawn on top.
    pub title: &'a str,
    /// The older profile.
    pub base: &'a Profile,
    /// The newer profile; frame widths are its values.
    pub new: &'a Profile,
    /// The sample type to compare, e.g. `inuse_space`; `None` takes each
    /// profile's default (its last sample type, as pprof does).
    pub sample_type: Option<&'a str>,
}

impl Exporter<FlameDiff<'_>> for Svg {
    fn export(&self, diff: &FlameDiff<'_>) -> anyhow::Result<Vec<u8>> {
        let base_index = sample_index(diff.base, diff.sample_type, "base")?;
        let new_index = sample_index(diff.new, diff.sample_type, "new")?;
        let unit = diff
            .new
            .str(diff.new.sample_types[new_index].unit)
            .to_owned();
        let type_name = diff.new.str(diff.new.sample_types[new_index].ty).to_owned();

        let mut stacks = StackTable::default();
        stacks.add(diff.base, base_index, Side::Base);
        stacks.add(diff.new, new_index, Side::New);
        if !stacks.has_new_values() {
            anyhow::bail!(
                "the newer profile has no {type_name} samples, so the flame graph would be empty"
            );
        }
        let folded = stacks.folded();

        let mut opts = inferno::flamegraph::Options::default();
        opts.title = diff.title.to_owned();
        opts.subtitle = Some(format!(
            "{type_name}: widths from the newer profile; red grew, blue shrank"
        ));
        opts.count_name = if unit.is_empty() {
            "samples".into()
        } else {
            unit
        };
        opts.image_width = Some(WIDTH);
        opts.font_type = "sans-serif".into();
        // Colours of a differential graph come from the deltas; this only
        // keeps anything else inferno colours from depending on chance.
        opts.deterministic = true;
        let mut svg = Vec::new();
        // inferno sorts the lines itself (the default `no_sort: false`).
        inferno::flamegraph::from_lines(&mut opts, folded.lines(), &mut svg)
            .map_err(|e| anyhow::anyhow!("cannot draw the flame graph: {e}"))?;
        Ok(svg)
    }
}

/// Index of the sample type `spec` in `p` (pprof's `-sample_index`
/// spelling), or its default. `which` names the profile in the error.
fn sample_index(p: &Profile, spec: Option<&str>, which: &str) -> anyhow::Result<usize> {
    leakwatch_profile::aggregate::sample_index(p, spec)
        .map_err(|e| anyhow::anyhow!("the {which} profile: {e}"))
}

/// Which profile a value belongs to.
#[derive(Debug, Clone, Copy)]
enum Side {
    Base,
    New,
}

/// The stacks of both profiles, each a sequence of interned frame texts
/// (root first), with their summed values. Keyed by text because location
/// ids are each profile's own; one lookup per sample, not per frame, because
/// on a large profile a lookup per frame is tens of millions of cache misses.
#[derive(Debug, Default)]
struct StackTable {
    /// Frame texts (one location's frames, root first, `;`-joined), interned.
    frames: Vec<String>,
    frame_ids: HashMap<String, u32>,
    stacks: HashMap<Box<[u32]>, (u64, u64), BuildHasherDefault<IdHasher>>,
}

impl StackTable {
    fn intern(&mut self, text: String) -> u32 {
        if let Some(&id) = self.frame_ids.get(&text) {
            return id;
        }
        let id = self.frames.len() as u32;
        self.frames.push(text.clone());
        self.frame_ids.insert(text, id);
        id
    }

    /// Adds every sample of `p` with its value of sample type `index`.
    /// Negative values (never in a heap profile) count as zero: a flame
    /// graph has no negative widths.
    fn add(&mut self, p: &Profile, index: usize, side: Side) {
        let names: HashMap<u64, &str> = p.functions.iter().map(|f| (f.id, p.str(f.name))).collect();
        let mut location_frame: HashMap<u64, u32, BuildHasherDefault<IdHasher>> =
            HashMap::default();
        for loc in &p.locations {
            // Lines are innermost first; a root-first stack wants them reversed.
            let text = if loc.lines.is_empty() {
                format!("0x{:x}", loc.address)
            } else {
                let frames: Vec<String> = loc
                    .lines
                    .iter()
                    .rev()
                    .map(|l| frame_name(names.get(&l.function_id).copied().unwrap_or("")))
                    .collect();
                frames.join(";")
            };
            let id = self.intern(text);
            location_frame.insert(loc.id, id);
        }
        let unknown = self.intern("?".to_owned());
        let mut stack: Vec<u32> = Vec::new();
        for s in &p.samples {
            let v = s.values.get(index).copied().unwrap_or(0).max(0) as u64;
            if v == 0 {
                continue;
            }
            stack.clear();
            stack.extend(
                s.location_ids
                    .iter()
                    .rev()
                    .map(|id| location_frame.get(id).copied().unwrap_or(unknown)),
            );
            if stack.is_empty() {
                stack.push(unknown);
            }
            let counts = match self.stacks.get_mut(stack.as_slice()) {
                Some(c) => c,
                None => self
                    .stacks
                    .entry(stack.clone().into_boxed_slice())
                    .or_default(),
            };
            match side {
                Side::Base => counts.0 += v,
                Side::New => counts.1 += v,
            }
        }
    }

    fn has_new_values(&self) -> bool {
        self.stacks.values().any(|&(_, new)| new > 0)
    }

    /// The folded lines, `root;…;leaf base new`, one per stack, unsorted.
    fn folded(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        for (stack, (base, new)) in &self.stacks {
            for (i, &f) in stack.iter().enumerate() {
                if i > 0 {
                    out.push(';');
                }
                out.push_str(&self.frames[f as usize]);
            }
            let _ = writeln!(out, " {base} {new}");
        }
        out
    }
}

/// Hashes ids and id sequences with a multiply-rotate per word and a
/// SplitMix64 finish: several times faster than SipHash on the stack table's
/// millions of keys, where SipHash's resistance to crafted collisions buys
/// nothing worth the time (the keys are interned ids, not input bytes).
#[derive(Debug, Default)]
struct IdHasher(u64);

impl IdHasher {
    fn mix(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(23) ^ word).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.mix(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        let mut tail = [0u8; 8];
        let rest = chunks.remainder();
        if !rest.is_empty() {
            tail[..rest.len()].copy_from_slice(rest);
            self.mix(u64::from_le_bytes(tail));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.mix(n);
    }

    fn write_usize(&mut self, n: usize) {
        self.mix(n as u64);
    }
}

/// A function name made safe for a folded line: `;` becomes its look-alike,
/// control characters (line breaks, tabs) become spaces, and an unknown name
/// becomes `?`.
pub fn frame_name(name: &str) -> String {
    let name = name.trim();
    if name.is_empty() {
        return "?".to_owned();
    }
    name.chars()
        .map(|c| match c {
            ';' => SEMICOLON_LOOKALIKE,
            c if c.is_control() => ' ',
            c => c,
        })
        .collect()
}

/// Draws the differential flame graph of `base` → `new` for `sample_type`
/// (pprof's `-sample_index`; `None` for the default) and writes it to
/// `path`: the `--flame FILE` option of `leakwatch diff`.
pub fn write(
    path: &std::path::Path,
    base: &Profile,
    new: &Profile,
    sample_type: Option<&str>,
    title: &str,
) -> anyhow::Result<()> {
    let svg = Svg.export(&FlameDiff {
        title,
        base,
        new,
        sample_type,
    })?;
    super::write_output(path, "--flame", &svg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use leakwatch_profile::{Function, Line, Location, Sample, ValueType};

    /// One location holding an inlined call (`inner` inlined into `outer`),
    /// one without lines, and a sample with no location at all.
    fn profile(bytes: i64) -> Profile {
        let mut p = Profile::default();
        p.sample_types = vec![ValueType {
            ty: p.intern("inuse_space"),
            unit: p.intern("bytes"),
        }];
        for (id, name) in [(1, "outer"), (2, "inner"), (3, "main.main")] {
            let name = p.intern(name);
            p.functions.push(Function {
                id,
                name,
                ..Default::default()
            });
        }
        let line = |f| Line {
            function_id: f,
            line: 1,
            column: 0,
        };
        p.locations = vec![
            Location {
                id: 10,
                lines: vec![line(2), line(1)],
                ..Default::default()
            },
            Location {
                id: 11,
                lines: vec![line(3)],
                ..Default::default()
            },
            Location {
                id: 12,
                address: 0xbeef,
                ..Default::default()
            },
        ];
        p.samples = vec![
            Sample {
                location_ids: vec![10, 11],
                values: vec![bytes],
                labels: vec![],
            },
            Sample {
                location_ids: vec![12, 11],
                values: vec![7],
                labels: vec![],
            },
            Sample {
                location_ids: vec![],
                values: vec![5],
                labels: vec![],
            },
            Sample {
                location_ids: vec![10, 11],
                values: vec![-3],
                labels: vec![],
            },
        ];
        p
    }

    #[test]
    fn folded_lines_join_inlined_frames_root_first_and_sum_both_sides() {
        let mut t = StackTable::default();
        t.add(&profile(100), 0, Side::Base);
        t.add(&profile(300), 0, Side::New);
        let folded = t.folded();
        let mut lines: Vec<&str> = folded.lines().collect();
        lines.sort_unstable();
        // Negative values count as zero; a sample without locations is `?`.
        assert_eq!(
            lines,
            [
                "? 5 5",
                "main.main;0xbeef 7 7",
                "main.main;outer;inner 100 300"
            ]
        );
    }
}
