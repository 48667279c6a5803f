//! The differential flame graph: where two heap profiles differ, drawn with
//! inferno. Widths come from the newer profile; a frame is red where it grew
//! and blue where it shrank, as in Brendan Gregg's differential flame graphs.
//! Roots are drawn on top (an icicle graph, as pprof and speedscope draw
//! them).
//!
//! The stacks are the tables' stacks: pruned with the profile's
//! `drop_frames`/`keep_frames` by the very functions `leakwatch top` and
//! `diff` use ([`leakwatch_profile::prune`]), so allocator internals
//! (jemalloc's `prof_backtrace_impl`, `malloc`, a `Vec`'s growth) are cut
//! and the frame on top is the function that allocated. A frame without a
//! function is named as the tables name it, after its binary
//! (`[libc.so.6]`).
//!
//! Under each root, the frames that every drawn stack shares (thread start,
//! an async runtime's worker loop: sixty frames in a tokio service) are
//! folded into one frame labelled `⋯ 60 frames (tokio, std, core, …) from
//! clone3 to …` when there are at least [`FOLD_MIN`] of them, so the graph
//! starts where the stacks diverge; the subtitle says so.
//!
//! Stacks are handed to inferno as folded lines (`root;…;leaf base new`),
//! so a frame name must not contain the `;` separator or a line break. Such
//! characters are replaced by look-alikes ([`frame_name`]); markup needs no
//! care here because inferno escapes every name when it writes the XML.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use leakwatch_profile::aggregate::unnamed_frame;
use leakwatch_profile::prune::{self, LocationPrune, PruneRules};
use leakwatch_profile::{IdIndex, Profile};

use super::{Exporter, Svg};

/// Width of the drawing in pixels; fixed so the text inferno fits into each
/// frame is decided once, at render time, the same on every machine.
pub const WIDTH: usize = 1200;

/// Stands in for `;` inside a frame name: U+037E GREEK QUESTION MARK, which
/// is drawn exactly like a semicolon but is not inferno's separator.
pub const SEMICOLON_LOOKALIKE: char = '\u{37E}';

/// The fewest frames shared at a root that are folded into one: a shorter
/// column costs little height and its frames may be the program's own.
pub const FOLD_MIN: usize = 8;

/// Starts and ends the label of a folded frame, so that it cannot be taken
/// for a function's name.
pub const FOLD_MARK: char = '\u{22EF}';

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

        // A diff table prunes both profiles with the newer one's rules (as
        // pprof does with the first profile it loads); so does this graph.
        let rules =
            PruneRules::of(diff.new).map_err(|e| anyhow::anyhow!("the new profile: {e}"))?;
        let mut stacks = StackTable::default();
        stacks.add(diff.base, base_index, Side::Base, rules.as_ref())?;
        stacks.add(diff.new, new_index, Side::New, rules.as_ref())?;
        if !stacks.has_new_values() {
            anyhow::bail!(
                "the newer profile has no {type_name} samples, so the flame graph would be empty"
            );
        }

        let mut opts = inferno::flamegraph::Options::default();
        let folds = stacks.fold_roots(opts.min_width);
        let folded = stacks.folded();
        opts.title = diff.title.to_owned();
        let mut subtitle =
            format!("{type_name}: widths from the newer profile; red grew, blue shrank");
        if folds > 0 {
            subtitle.push_str(&format!(
                "; {FOLD_MARK} folds the root frames that every stack above it shares"
            ));
        }
        opts.subtitle = Some(subtitle);
        opts.count_name = if unit.is_empty() {
            "samples".into()
        } else {
            unit
        };
        opts.image_width = Some(WIDTH);
        // Roots on top, as pprof's and speedscope's flame graphs draw them:
        // the roots and the frames just above them are what a reader looks
        // at first, and a thin but deep stack elsewhere must not push them
        // below the fold of the report's page.
        opts.direction = inferno::flamegraph::Direction::Inverted;
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

/// The stacks of both profiles, each a sequence of interned frame names
/// (root first, inlined frames each a frame of their own), with their summed
/// values. Keyed by name because location ids are each profile's own; one
/// lookup per sample, not per frame, because on a large profile a lookup per
/// frame is tens of millions of cache misses.
#[derive(Debug, Default)]
struct StackTable {
    /// Frame names, interned.
    frames: Vec<String>,
    /// Per frame, what it belongs to (crate, Go package or binary), for the
    /// labels of folded frames.
    owners: Vec<String>,
    frame_ids: HashMap<String, u32>,
    stacks: HashMap<Box<[u32]>, (u64, u64), BuildHasherDefault<IdHasher>>,
}

impl StackTable {
    fn intern(&mut self, text: String, objfile: &str) -> u32 {
        if let Some(&id) = self.frame_ids.get(&text) {
            return id;
        }
        let id = self.frames.len() as u32;
        self.owners.push(owner(&text, objfile));
        self.frames.push(text.clone());
        self.frame_ids.insert(text, id);
        id
    }

    /// Adds every sample of `p` with its value of sample type `index`,
    /// pruned by `rules` exactly as the tables prune it. Negative values
    /// (never in a heap profile) count as zero: a flame graph has no
    /// negative widths.
    fn add(
        &mut self,
        p: &Profile,
        index: usize,
        side: Side,
        rules: Option<&PruneRules>,
    ) -> anyhow::Result<()> {
        let functions = IdIndex::of_functions(&p.functions)?;
        let mappings = IdIndex::of_mappings(&p.mappings)?;
        let locations = IdIndex::of_locations(&p.locations)?;
        let decisions = rules.map(|rules| prune::location_decisions(p, &functions, rules));

        // Each location's frames, root first, at
        // `location_frames[starts[i]..starts[i + 1]]`.
        let mut starts = Vec::with_capacity(p.locations.len() + 1);
        let mut location_frames: Vec<u32> = Vec::with_capacity(p.locations.len());
        starts.push(0);
        for (li, loc) in p.locations.iter().enumerate() {
            let skip = decisions.as_ref().map_or(0, |d| d[li].skipped_lines());
            let lines = loc.lines.get(skip..).unwrap_or(&[]);
            let objfile = mappings
                .get(loc.mapping_id)
                .map_or("", |mi| p.str(p.mappings[mi].filename));
            if lines.is_empty() {
                // The address says more than the tables' `<unknown>` when
                // there is no binary to name the frame after.
                let text = if objfile.is_empty() {
                    format!("0x{:x}", loc.address)
                } else {
                    frame_name(&unnamed_frame(objfile))
                };
                let id = self.intern(text, objfile);
                location_frames.push(id);
            }
            // Lines are innermost first; a root-first stack wants them reversed.
            for line in lines.iter().rev() {
                let name = functions
                    .get(line.function_id)
                    .map_or("", |fi| p.str(p.functions[fi].name));
                let id = self.intern(frame_name(name), objfile);
                location_frames.push(id);
            }
            starts.push(location_frames.len());
        }

        let unknown = self.intern("?".to_owned(), "");
        let mut locs: Vec<Option<usize>> = Vec::new();
        let mut stack: Vec<u32> = Vec::new();
        for s in &p.samples {
            let v = s.values.get(index).copied().unwrap_or(0).max(0) as u64;
            if v == 0 {
                continue;
            }
            locs.clear();
            locs.extend(s.location_ids.iter().map(|&id| locations.get(id)));
            let start = decisions.as_ref().map_or(0, |d| {
                prune::stack_start(
                    locs.iter()
                        .map(|l| l.map_or(LocationPrune::Keep, |li| d[li])),
                )
            });
            stack.clear();
            for l in locs[start..].iter().rev() {
                match *l {
                    Some(li) => {
                        stack.extend_from_slice(&location_frames[starts[li]..starts[li + 1]])
                    }
                    None => stack.push(unknown),
                }
            }
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
        Ok(())
    }

    fn has_new_values(&self) -> bool {
        self.stacks.values().any(|&(_, new)| new > 0)
    }

    /// Under each root, folds the frames that every drawn stack shares into
    /// one labelled frame, when there are at least [`FOLD_MIN`] of them;
    /// returns how many roots were folded.
    ///
    /// A stack is drawn when its newer value is at least `min_width` percent
    /// of the newer total (inferno's `min_width`): one inferno leaves out
    /// cannot stop a fold, while one that is seen always does. The fold
    /// never takes a stack's last frame, the function that allocated. A
    /// stack that does not share the whole folded chain is left as it is,
    /// beside the folded one, so that every width still adds up.
    fn fold_roots(&mut self, min_width: f64) -> usize {
        let total: u64 = self.stacks.values().map(|&(_, new)| new).sum();
        if total == 0 {
            return 0;
        }
        // Per root: the prefix shared by its drawn stacks, and the length
        // of the shortest one.
        let mut shared: HashMap<u32, (Vec<u32>, usize)> = HashMap::new();
        for (stack, &(_, new)) in &self.stacks {
            if (new as f64) * 100.0 / (total as f64) < min_width {
                continue;
            }
            match shared.get_mut(&stack[0]) {
                None => {
                    shared.insert(stack[0], (stack.to_vec(), stack.len()));
                }
                Some((prefix, shortest)) => {
                    let common = prefix
                        .iter()
                        .zip(stack.iter())
                        .take_while(|(a, b)| a == b)
                        .count();
                    prefix.truncate(common);
                    *shortest = (*shortest).min(stack.len());
                }
            }
        }
        let mut chains: Vec<Vec<u32>> = shared
            .into_values()
            .filter_map(|(mut prefix, shortest)| {
                prefix.truncate(shortest - 1);
                (prefix.len() >= FOLD_MIN).then_some(prefix)
            })
            .collect();
        if chains.is_empty() {
            return 0;
        }
        chains.sort_unstable();
        let folds: Vec<(Vec<u32>, u32)> = chains
            .into_iter()
            .map(|chain| {
                let label = self.fold_label(&chain);
                let id = self.intern(label, "");
                (chain, id)
            })
            .collect();
        let stacks = std::mem::take(&mut self.stacks);
        for (stack, (base, new)) in stacks {
            let fold = folds
                .iter()
                .find(|(chain, _)| stack.len() > chain.len() && stack.starts_with(chain));
            let key: Box<[u32]> = match fold {
                Some((chain, id)) => std::iter::once(*id)
                    .chain(stack[chain.len()..].iter().copied())
                    .collect(),
                None => stack,
            };
            let counts = self.stacks.entry(key).or_default();
            counts.0 += base;
            counts.1 += new;
        }
        folds.len()
    }

    /// `⋯ 60 frames (tokio, std, core, …) from clone3 to
    /// tokio::runtime::task::core::Core<T,S>::poll ⋯`: how many frames, the
    /// three crates (packages, binaries) most of them belong to, and the
    /// first and last, so that the reader knows where the fold ends.
    fn fold_label(&self, chain: &[u32]) -> String {
        let mut owners: Vec<(&str, usize, usize)> = Vec::new();
        for (i, &f) in chain.iter().enumerate() {
            let owner = self.owners[f as usize].as_str();
            match owners.iter_mut().find(|(o, _, _)| *o == owner) {
                Some((_, count, _)) => *count += 1,
                None => owners.push((owner, 1, i)),
            }
        }
        owners.sort_by(|a, b| b.1.cmp(&a.1).then(a.2.cmp(&b.2)));
        let mut names: Vec<&str> = owners.iter().take(3).map(|(o, _, _)| *o).collect();
        if owners.len() > 3 {
            names.push("…");
        }
        let first = &self.frames[chain[0] as usize];
        let last = &self.frames[chain[chain.len() - 1] as usize];
        format!(
            "{FOLD_MARK} {} frames ({}) from {first} to {last} {FOLD_MARK}",
            chain.len(),
            names.join(", ")
        )
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

/// What a frame belongs to, for a fold's label: the crate or namespace of a
/// Rust or C++ name (`tokio` of `<tokio::…::BlockingTask<T> as …>::poll`),
/// the package of a Go name (`net/http` of `net/http.(*conn).serve`), else
/// the binary (`libc.so.6` of `clone3` and of `[libc.so.6]`).
fn owner(name: &str, objfile: &str) -> String {
    if let Some(colons) = name.find("::") {
        let before = &name[..colons];
        let start = before
            .rfind(|c: char| !(c.is_alphanumeric() || c == '_'))
            .map_or(0, |i| i + 1);
        if start < before.len() {
            return before[start..].to_owned();
        }
    }
    let named = !(name.starts_with('[') || name.starts_with("0x") || name == "?");
    if named {
        let package_start = name.rfind('/').map_or(0, |i| i + 1);
        if let Some(dot) = name[package_start..].find('.').filter(|&d| d > 0) {
            return name[..package_start + dot].to_owned();
        }
    }
    match objfile.rsplit('/').next() {
        Some(binary) if !binary.is_empty() => binary.to_owned(),
        _ => "?".to_owned(),
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
        t.add(&profile(100), 0, Side::Base, None).unwrap();
        t.add(&profile(300), 0, Side::New, None).unwrap();
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

    /// A table of `stacks` (root first, frames named by letters and
    /// numbers) with their newer values; the base is empty.
    fn table(stacks: &[(Vec<String>, u64)]) -> StackTable {
        let mut t = StackTable::default();
        for (stack, new) in stacks {
            let ids: Box<[u32]> = stack.iter().map(|f| t.intern(f.clone(), "")).collect();
            t.stacks.insert(ids, (0, *new));
        }
        t
    }

    fn chain(prefix: &str, n: usize) -> Vec<String> {
        (0..n).map(|i| format!("{prefix}::f{i}")).collect()
    }

    fn with(mut stack: Vec<String>, more: &[&str]) -> Vec<String> {
        stack.extend(more.iter().map(|s| s.to_string()));
        stack
    }

    fn sorted_lines(t: &StackTable) -> Vec<String> {
        let mut lines: Vec<String> = t.folded().lines().map(str::to_owned).collect();
        lines.sort_unstable();
        lines
    }

    #[test]
    fn folds_what_every_drawn_stack_of_a_root_shares_and_never_a_leaf() {
        let runtime = chain("tokio", 10);
        let mut t = table(&[
            (with(runtime.clone(), &["app::a", "app::leak"]), 1_000_000),
            (with(runtime.clone(), &["app::b"]), 500_000),
            // Too narrow for inferno to draw (under 0.01%): no say in the
            // fold, and left whole beside it.
            (with(runtime[..3].to_vec(), &["app::rare"]), 10),
            // Another root: one stack of 12 frames; all but its leaf fold.
            (with(chain("std", 11), &["app::main_alloc"]), 200_000),
            // A root whose shared frames are too few to fold.
            (with(chain("short", FOLD_MIN - 1), &["x", "y"]), 100_000),
            (with(chain("short", FOLD_MIN - 1), &["z"]), 100_000),
        ]);
        assert_eq!(t.fold_roots(0.01), 2);
        let tokio =
            format!("{FOLD_MARK} 10 frames (tokio) from tokio::f0 to tokio::f9 {FOLD_MARK}");
        let std = format!("{FOLD_MARK} 11 frames (std) from std::f0 to std::f10 {FOLD_MARK}");
        let short = chain("short", FOLD_MIN - 1).join(";");
        let mut want = vec![
            format!("{tokio};app::a;app::leak 0 1000000"),
            format!("{tokio};app::b 0 500000"),
            format!("tokio::f0;tokio::f1;tokio::f2;app::rare 0 10"),
            format!("{std};app::main_alloc 0 200000"),
            format!("{short};x;y 0 100000"),
            format!("{short};z 0 100000"),
        ];
        want.sort_unstable();
        assert_eq!(sorted_lines(&t), want);
    }

    #[test]
    fn a_drawn_stack_that_leaves_the_column_early_stops_the_fold_there() {
        let runtime = chain("tokio", 20);
        let mut t = table(&[
            (with(runtime.clone(), &["app::leak"]), 1_000_000),
            // 1% of the bytes, drawn: the column is shared up to f11 only.
            (with(runtime[..12].to_vec(), &["tokio::park"]), 10_000),
        ]);
        assert_eq!(t.fold_roots(0.01), 1);
        let lines = sorted_lines(&t);
        assert!(
            lines[0].starts_with(&format!(
                "{FOLD_MARK} 12 frames (tokio) from tokio::f0 to tokio::f11 {FOLD_MARK};tokio::f12;"
            )),
            "{lines:?}"
        );
        assert!(lines[1].ends_with(";tokio::park 0 10000"), "{lines:?}");
    }

    #[test]
    fn the_label_names_the_crates_most_folded_frames_belong_to() {
        assert_eq!(owner("<tokio::runtime::blocking::task::BlockingTask<T> as core::future::future::Future>::poll", ""), "tokio");
        assert_eq!(
            owner("std::thread::lifecycle::spawn_unchecked::{{closure}}", ""),
            "std"
        );
        assert_eq!(
            owner(
                "<T as alloc::slice::<impl [T]>::to_vec_in::ConvertVec>::to_vec",
                ""
            ),
            "alloc"
        );
        assert_eq!(owner("net/http.(*conn).serve", "/srv/app"), "net/http");
        assert_eq!(owner("runtime.goexit", "/srv/app"), "runtime");
        assert_eq!(
            owner("clone3", "/lib/x86_64-linux-gnu/libc.so.6"),
            "libc.so.6"
        );
        assert_eq!(
            owner("[libc.so.6]", "/lib/x86_64-linux-gnu/libc.so.6"),
            "libc.so.6"
        );
        assert_eq!(owner("0xbeef", ""), "?");

        let mut frames = vec!["clone3".to_owned()];
        frames.extend(chain("std", 3));
        frames.extend(chain("tokio", 5));
        frames.push("core::ops::function::FnOnce::call_once".to_owned());
        frames.push("alloc::boxed::Box<F>::call_once".to_owned());
        let mut t = StackTable::default();
        let ids: Vec<u32> = frames
            .iter()
            .map(|f| t.intern(f.clone(), "/lib/x86_64-linux-gnu/libc.so.6"))
            .collect();
        assert_eq!(
            t.fold_label(&ids),
            format!(
                "{FOLD_MARK} 11 frames (tokio, std, libc.so.6, …) from clone3 to \
                 alloc::boxed::Box<F>::call_once {FOLD_MARK}"
            )
        );
    }

    #[test]
    fn frames_are_pruned_like_the_tables_and_unnamed_ones_named_after_their_library() {
        use leakwatch_profile::ProfileBuilder;
        let mut b = ProfileBuilder::new(&[("inuse_space", "bytes")])
            .mapping("/lib/x86_64-linux-gnu/libc.so.6");
        b.sample(
            &[
                "prof_backtrace_impl",
                "_rjem_malloc",
                "app::leak",
                "app::main",
            ],
            &[64],
        );
        let mut p = b.build();
        p.drop_frames = p.intern(leakwatch_profile::symbolize::NATIVE_ALLOCATOR_FRAMES);
        // An address-only frame in the library, called by app::main.
        let unnamed = p.locations.iter().map(|l| l.id).max().unwrap() + 1;
        p.locations.push(Location {
            id: unnamed,
            mapping_id: p.mappings[0].id,
            address: 0x1098eb,
            ..Default::default()
        });
        p.samples[0].location_ids.push(unnamed);
        let rules = PruneRules::of(&p).unwrap();
        let mut t = StackTable::default();
        t.add(&p, 0, Side::New, rules.as_ref()).unwrap();
        assert_eq!(sorted_lines(&t), ["[libc.so.6];app::main;app::leak 0 64"]);
    }
}
