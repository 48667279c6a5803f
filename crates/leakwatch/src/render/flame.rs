//! The differential flame graph: where two heap profiles differ, drawn with
//! inferno. Widths come from the newer profile; a frame is red where it grew
//! and blue where it shrank, as in Brendan Gregg's differential flame graphs.
//!
//! Stacks are handed to inferno as folded lines (`root;…;leaf base new`),
//! so a frame name must not contain the `;` separator or a line break. Such
//! characters are replaced by look-alikes ([`frame_name`]); markup needs no
//! care here because inferno escapes every name when it writes the XML.

use std::collections::HashMap;

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

        let mut counts: HashMap<String, (u64, u64)> = HashMap::new();
        for (stack, v) in folded(diff.base, base_index) {
            counts.entry(stack).or_default().0 += v;
        }
        for (stack, v) in folded(diff.new, new_index) {
            counts.entry(stack).or_default().1 += v;
        }
        counts.retain(|_, (a, b)| *a > 0 || *b > 0);
        if counts.values().all(|&(_, new)| new == 0) {
            anyhow::bail!(
                "the newer profile has no {type_name} samples, so the flame graph would be empty"
            );
        }
        // inferno requires its input lines sorted as strings.
        let mut lines: Vec<String> = counts
            .into_iter()
            .map(|(stack, (a, b))| format!("{stack} {a} {b}"))
            .collect();
        lines.sort_unstable();

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
        inferno::flamegraph::from_lines(&mut opts, lines.iter().map(String::as_str), &mut svg)
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

/// The profile's stacks, root first and joined by `;`, with the summed value
/// of sample type `index`. Negative values (never in a heap profile) count
/// as zero: a flame graph has no negative widths.
pub fn folded(p: &Profile, index: usize) -> HashMap<String, u64> {
    let functions: HashMap<u64, &str> = p.functions.iter().map(|f| (f.id, p.str(f.name))).collect();
    let mut location_frames: HashMap<u64, Vec<String>> = HashMap::with_capacity(p.locations.len());
    for loc in &p.locations {
        // Lines are innermost first; a root-first stack wants them reversed.
        let frames = if loc.lines.is_empty() {
            vec![format!("0x{:x}", loc.address)]
        } else {
            loc.lines
                .iter()
                .rev()
                .map(|l| frame_name(functions.get(&l.function_id).copied().unwrap_or("")))
                .collect()
        };
        location_frames.insert(loc.id, frames);
    }
    let mut out: HashMap<String, u64> = HashMap::new();
    let mut stack = String::new();
    for s in &p.samples {
        let v = s.values.get(index).copied().unwrap_or(0).max(0) as u64;
        if v == 0 {
            continue;
        }
        stack.clear();
        for id in s.location_ids.iter().rev() {
            let frames = location_frames.get(id).map(Vec::as_slice).unwrap_or(&[]);
            for f in frames {
                if !stack.is_empty() {
                    stack.push(';');
                }
                stack.push_str(f);
            }
        }
        if stack.is_empty() {
            stack.push('?');
        }
        *out.entry(stack.clone()).or_default() += v;
    }
    out
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
