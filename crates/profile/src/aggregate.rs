//! Flat and cumulative values per function, line, file or stack — the
//! numbers of `go tool pprof -top`.
//!
//! The semantics are pprof's (`internal/graph` and the driver's
//! granularities), so that a table here equals pprof's row for row:
//!
//! - every line of a location is a node of its own, so inlined functions
//!   appear as rows;
//! - a node's *cum* counts each sample once even when the node appears
//!   several times in its stack (recursion);
//! - *flat* goes to the innermost frame of the (pruned) stack;
//! - `total` is the sum of the absolute sample values;
//! - `drop_frames`/`keep_frames` prune stacks first ([`crate::prune`]).
//!
//! The work per sample is integer only: locations and functions are mapped
//! to dense indices and to their nodes once, and a generation counter marks
//! the nodes already counted in the current sample.
//!
//! ```
//! use leakwatch_profile::aggregate::{aggregate, Granularity, Options};
//! # let profile = leakwatch_profile::Profile::default();
//! # if !profile.sample_types.is_empty() {
//! let table = aggregate(&profile, &Options { by: Granularity::Function, sample_index: None })?;
//! for row in table.rows.iter().take(10) {
//!     println!("{:>12} {:>12} {}", row.flat, row.cum, row.name);
//! }
//! # }
//! # Ok::<(), leakwatch_profile::aggregate::AggregateError>(())
//! ```

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::HashMap;
use std::ops::Range;

use crate::prune::{location_decisions, stack_start, LocationPrune, PruneError, PruneRules};
use crate::{DecodeError, IdIndex, Location, Profile, SampleRef, SampleSource};

/// What one row of a table stands for (pprof's granularity).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Granularity {
    /// One row per function (pprof's default, `-functions`).
    #[default]
    Function,
    /// One row per function and source line (`-lines`).
    Line,
    /// One row per source file (`-files`).
    File,
    /// One row per distinct stack of functions (no pprof equivalent).
    Stack,
}

/// What to aggregate.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The grouping of the rows.
    pub by: Granularity,
    /// pprof's `-sample_index`: a sample type name (`inuse_space`; the
    /// `inuse_` prefix may be omitted for legacy `space`/`objects` types) or
    /// a number. `None` picks `default_sample_type`, else the last type.
    pub sample_index: Option<String>,
}

/// The result of [`aggregate`] or [`crate::diff::diff`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// The sample type the values are of, e.g. `inuse_space`.
    pub sample_type: String,
    /// Its unit, e.g. `bytes`.
    pub unit: String,
    /// The grouping of the rows.
    pub by: Granularity,
    /// Sum of the absolute sample values (for a diff: of the new profile).
    pub total: i64,
    /// For a diff, the base profile's total; 0 otherwise.
    pub base_total: i64,
    /// The rows, in display order (see [`aggregate`] and
    /// [`crate::diff::diff`]). Rows whose flat and cum are both zero are left
    /// out, as pprof does.
    pub rows: Vec<Row>,
}

/// One row of a [`Table`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// What pprof prints for the node: `main.f`, `main.f /src/a.go:12`,
    /// `/src/a.go`, `[binary]` or `<unknown>`; for stacks the functions,
    /// leaf first, joined by ` ← `.
    pub name: String,
    /// The function, when the grouping has one.
    pub function: Option<String>,
    /// The source file, when known (for `Function`, the function's file).
    pub file: Option<String>,
    /// The line, for [`Granularity::Line`].
    pub line: Option<i64>,
    /// For [`Granularity::Stack`], the function names, leaf first.
    pub stack: Vec<String>,
    /// Value of samples whose innermost frame is this node.
    pub flat: i64,
    /// Value of samples with this node anywhere in the stack.
    pub cum: i64,
}

/// Why a table could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum AggregateError {
    /// The profile declares no sample types, so there is nothing to sum.
    #[error("the profile has no sample types")]
    NoSampleTypes,
    /// A numeric sample index beyond the sample types.
    #[error(
        "sample index {index} is out of range: the profile has {count} sample types ({available})"
    )]
    SampleIndexOutOfRange {
        /// The index asked for.
        index: String,
        /// How many sample types there are.
        count: usize,
        /// Their names, comma separated.
        available: String,
    },
    /// A sample type name the profile does not have.
    #[error("unknown sample type {name:?}: the profile has {available}")]
    UnknownSampleType {
        /// The name asked for.
        name: String,
        /// The names there are, comma separated.
        available: String,
    },
    /// A sample has fewer values than the chosen sample index needs.
    #[error("sample {sample} has {got} values, but the profile has {want} sample types")]
    ValueCount {
        /// Index of the sample.
        sample: usize,
        /// Its number of values.
        got: usize,
        /// The number of sample types.
        want: usize,
    },
    /// The profile's pruning rules do not compile.
    #[error(transparent)]
    Prune(#[from] PruneError),
    /// Zero or duplicate mapping, location or function ids.
    #[error(transparent)]
    Ids(#[from] DecodeError),
    /// A sample of a [`crate::ScannedProfile`] does not decode or validate:
    /// the profile is malformed (see [`AggregateError::decode_error`]).
    #[error(transparent)]
    Sample(DecodeError),
}

impl AggregateError {
    /// The decoding error, when the profile itself turned out malformed
    /// while its samples were read: callers report it the way they report
    /// a profile that does not decode.
    pub fn decode_error(&self) -> Option<&DecodeError> {
        match self {
            AggregateError::Sample(e) => Some(e),
            _ => None,
        }
    }

    /// `self`, unless `source` has a defective sample: that is reported
    /// first, as decoding the whole profile first would have.
    pub(crate) fn after_samples_of(self, source: &impl SampleSource) -> AggregateError {
        if self.decode_error().is_some() {
            return self;
        }
        match source.check_samples() {
            Err(e) => AggregateError::Sample(e),
            Ok(()) => self,
        }
    }
}

/// Why the sample loop stopped.
enum Stop {
    Aggregate(AggregateError),
    Decode(DecodeError),
}

impl From<DecodeError> for Stop {
    fn from(e: DecodeError) -> Self {
        Stop::Decode(e)
    }
}

impl From<Stop> for AggregateError {
    fn from(stop: Stop) -> Self {
        match stop {
            Stop::Aggregate(e) => e,
            Stop::Decode(e) => AggregateError::Sample(e),
        }
    }
}

/// Resolves pprof's `-sample_index` (see [`Options::sample_index`]) to an
/// index into `profile.sample_types`.
pub fn sample_index(profile: &Profile, spec: Option<&str>) -> Result<usize, AggregateError> {
    let n = profile.sample_types.len();
    if n == 0 {
        return Err(AggregateError::NoSampleTypes);
    }
    let names = profile.sample_type_names();
    let spec = match spec {
        Some(s) if !s.is_empty() => s,
        _ => {
            let default = profile.str(profile.default_sample_type);
            if !default.is_empty() {
                if let Some(i) = names.iter().position(|t| *t == default) {
                    return Ok(i);
                }
            }
            return Ok(n - 1);
        }
    };
    if let Ok(i) = spec.parse::<i64>() {
        return usize::try_from(i).ok().filter(|&i| i < n).ok_or_else(|| {
            AggregateError::SampleIndexOutOfRange {
                index: spec.to_owned(),
                count: n,
                available: names.join(", "),
            }
        });
    }
    let legacy = spec.strip_prefix("inuse_").unwrap_or(spec);
    names
        .iter()
        .position(|t| *t == spec || *t == legacy)
        .ok_or_else(|| AggregateError::UnknownSampleType {
            name: spec.to_owned(),
            available: names.join(", "),
        })
}

/// Computes flat and cum per node of `opts.by` for one sample type, from a
/// decoded [`Profile`] or a [`crate::ScannedProfile`].
///
/// Rows are in the order of `go tool pprof -top`: largest |flat| first, then
/// by name, then largest |cum|.
pub fn aggregate(source: &impl SampleSource, opts: &Options) -> Result<Table, AggregateError> {
    aggregate_tables(source, opts).map_err(|e| e.after_samples_of(source))
}

fn aggregate_tables(source: &impl SampleSource, opts: &Options) -> Result<Table, AggregateError> {
    let profile = source.tables();
    let index = sample_index(profile, opts.sample_index.as_deref())?;
    let rules = PruneRules::of(profile)?;
    let nodes = NodeValues::compute(source, opts.by, index, rules.as_ref(), cores())?;
    let ty = profile.sample_types[index];
    let total = nodes.total;
    let mut rows: Vec<(NodeKey, Row)> = nodes.into_rows();
    rows.sort_by(|(ka, a), (kb, b)| top_order(a, b).then_with(|| ka.cmp(kb)));
    Ok(Table {
        sample_type: profile.str(ty.ty).to_owned(),
        unit: profile.str(ty.unit).to_owned(),
        by: opts.by,
        total,
        base_total: 0,
        rows: rows.into_iter().map(|(_, r)| r).collect(),
    })
}

/// pprof's `FlatNameOrder`: |flat| descending, name, |cum| descending.
pub(crate) fn top_order(a: &Row, b: &Row) -> Ordering {
    b.flat
        .unsigned_abs()
        .cmp(&a.flat.unsigned_abs())
        .then_with(|| a.name.cmp(&b.name))
        .then_with(|| b.cum.unsigned_abs().cmp(&a.cum.unsigned_abs()))
}

/// What identifies a node, as pprof's `NodeInfo` does once the granularity
/// has cleared the fields it does not use (addresses are always cleared
/// here). Two locations whose lines give equal keys are one row.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct NodeKey {
    name: String,
    file: String,
    line: i64,
    start_line: i64,
    objfile: String,
}

impl NodeKey {
    /// pprof's `NodeInfo.PrintableName` for an address-free node.
    fn printable_name(&self) -> String {
        let mut parts: Vec<Cow<'_, str>> = Vec::with_capacity(2);
        if !self.name.is_empty() {
            parts.push(Cow::Borrowed(&self.name));
        }
        if self.line != 0 {
            parts.push(Cow::Owned(format!("{}:{}", self.file, self.line)));
        } else if !self.file.is_empty() {
            parts.push(Cow::Borrowed(&self.file));
        } else if !self.name.is_empty() {
            // The function name says it all.
        } else {
            parts.push(Cow::Owned(unnamed_frame(&self.objfile)));
        }
        parts.join(" ")
    }
}

/// pprof's name for a frame without a function: `[libc.so.6]` after the
/// binary it is in, `<unknown>` when that is not known either.
pub fn unnamed_frame(objfile: &str) -> String {
    if objfile.is_empty() {
        return "<unknown>".to_owned();
    }
    let base = objfile.rsplit('/').next().unwrap_or(objfile);
    format!("[{base}]")
}

/// What a row shows beyond its key.
#[derive(Debug, Clone, Default)]
struct NodeDisplay {
    /// The function's source file, for function rows (pprof clears it from
    /// the key; the JSON still reports it).
    file: String,
    /// For stacks: the function nodes, leaf first.
    stack: Vec<u32>,
}

/// Flat and cum per node of one profile, before sorting.
pub(crate) struct NodeValues {
    by: Granularity,
    keys: Vec<NodeKey>,
    display: Vec<NodeDisplay>,
    flat: Vec<i64>,
    cum: Vec<i64>,
    /// Sum of the absolute sample values (pprof's report total).
    pub(crate) total: i64,
    /// For stacks: the function nodes the stacks are made of.
    frames: Vec<NodeKey>,
}

impl NodeValues {
    /// Aggregates `profile`'s sample type `index` by `by`, pruning stacks
    /// with `rules` (pprof prunes with the rules of the first profile it
    /// loads, so a diff passes the new profile's rules for both). The
    /// samples are read in up to `parts` parts side by side (not by stack,
    /// whose numbering follows the order samples are met).
    pub(crate) fn compute(
        source: &impl SampleSource,
        by: Granularity,
        index: usize,
        rules: Option<&PruneRules>,
        parts: usize,
    ) -> Result<NodeValues, AggregateError> {
        let profile = source.tables();
        let graph = LocationGraph::build(profile, by, rules)?;
        let n_nodes = graph.nodes.keys.len();
        let mut out = NodeValues {
            by,
            keys: Vec::new(),
            display: Vec::new(),
            flat: Vec::new(),
            cum: Vec::new(),
            total: 0,
            frames: Vec::new(),
        };

        if by != Granularity::Stack {
            let ranges = split(source.sample_count(), parts);
            let count = |range: Range<usize>| {
                let mut counter = FlatCum::new(n_nodes);
                let total = each_stack(source, &graph, index, range, |stack, v| {
                    counter.add(&graph, stack, v)
                })?;
                Ok::<_, AggregateError>((counter, total))
            };
            let mut counted = std::thread::scope(|s| {
                let (first, rest) = ranges.split_first().expect("split gives a part");
                let rest: Vec<_> = rest.iter().map(|r| s.spawn(|| count(r.clone()))).collect();
                let mut all = vec![count(first.clone())];
                all.extend(rest.into_iter().map(|h| {
                    h.join()
                        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
                }));
                all
            })
            .into_iter();
            // The first part's error first: the one reading in order meets.
            let (mut counter, mut total) = counted.next().expect("split gives a part")?;
            for part in counted {
                let (c, t) = part?;
                counter.merge(&c);
                total = total.saturating_add(t);
            }
            out.total = total;
            out.flat = counter.flat;
            out.cum = counter.cum;
            let GraphNodes { keys, display } = graph.nodes;
            out.keys = keys;
            out.display = display;
            return Ok(out);
        }

        let mut stacks: HashMap<Box<[u32]>, u32> = HashMap::new();
        let mut stack_keys: Vec<Box<[u32]>> = Vec::new();
        let mut stack_values: Vec<i64> = Vec::new();
        let mut frames: Vec<u32> = Vec::new();
        out.total = each_stack(source, &graph, index, 0..usize::MAX, |stack, v| {
            frames.clear();
            for &li in stack {
                frames.extend_from_slice(graph.nodes_of(li));
            }
            let node = match stacks.get(frames.as_slice()) {
                Some(&n) => n,
                None => {
                    let n = stack_keys.len() as u32;
                    let key: Box<[u32]> = frames.as_slice().into();
                    stacks.insert(key.clone(), n);
                    stack_keys.push(key);
                    stack_values.push(0);
                    n
                }
            };
            let slot = &mut stack_values[node as usize];
            *slot = slot.saturating_add(v);
        })?;
        out.frames = graph.nodes.keys;
        out.keys = stack_keys
            .iter()
            .map(|s| stack_key(&out.frames, s))
            .collect();
        out.display = stack_keys
            .into_iter()
            .map(|s| NodeDisplay {
                file: String::new(),
                stack: s.into_vec(),
            })
            .collect();
        out.cum.clone_from(&stack_values);
        out.flat = stack_values;
        Ok(out)
    }

    /// The nodes with a nonzero value, as (key, row) pairs in no order.
    pub(crate) fn into_rows(self) -> Vec<(NodeKey, Row)> {
        let NodeValues {
            by,
            keys,
            display,
            flat,
            cum,
            frames,
            ..
        } = self;
        keys.into_iter()
            .zip(display)
            .zip(flat.into_iter().zip(cum))
            .filter(|(_, (f, c))| *f != 0 || *c != 0)
            .map(|((key, display), (flat, cum))| {
                let row = make_row(by, &key, &display, &frames, flat, cum);
                (key, row)
            })
            .collect()
    }

    /// Subtracts `base` from these values node by node (by key); nodes only
    /// in `base` are added with negated values.
    pub(crate) fn subtract(self, base: NodeValues) -> Vec<(NodeKey, Row)> {
        let mut rows: HashMap<NodeKey, Row> = self.into_rows().into_iter().collect();
        for (key, row) in base.into_rows() {
            match rows.get_mut(&key) {
                Some(r) => {
                    r.flat = r.flat.saturating_sub(row.flat);
                    r.cum = r.cum.saturating_sub(row.cum);
                }
                None => {
                    let mut row = row;
                    row.flat = row.flat.saturating_neg();
                    row.cum = row.cum.saturating_neg();
                    rows.insert(key, row);
                }
            }
        }
        rows.into_iter()
            .filter(|(_, r)| r.flat != 0 || r.cum != 0)
            .collect()
    }
}

/// Flat and cum per node, and the marks that count a node once per sample.
struct FlatCum {
    flat: Vec<i64>,
    cum: Vec<i64>,
    /// `seen[n] == generation` when node `n` is already counted in the
    /// current sample: cheaper than clearing a set for each sample.
    seen: Vec<u32>,
    generation: u32,
}

impl FlatCum {
    fn new(nodes: usize) -> Self {
        FlatCum {
            flat: vec![0; nodes],
            cum: vec![0; nodes],
            seen: vec![0; nodes],
            generation: 0,
        }
    }

    /// Adds the counts of another part of the same profile's samples.
    fn merge(&mut self, other: &FlatCum) {
        for (a, b) in self.flat.iter_mut().zip(&other.flat) {
            *a = a.saturating_add(*b);
        }
        for (a, b) in self.cum.iter_mut().zip(&other.cum) {
            *a = a.saturating_add(*b);
        }
    }

    /// Adds one sample whose (pruned) stack is `stack`, leaf first.
    #[inline]
    fn add(&mut self, graph: &LocationGraph, stack: &[u32], v: i64) {
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            // The counter wrapped: old marks could collide.
            self.seen.fill(0);
            self.generation = 1;
        }
        // Root first, outermost inlined frame first, as pprof walks; the
        // last node visited is the leaf and gets the flat value.
        let mut leaf = None;
        for &li in stack.iter().rev() {
            let single = graph.single[li as usize];
            if single != MULTIPLE {
                self.visit(single, v);
                leaf = Some(single);
            } else {
                for &n in graph.nodes_of(li).iter().rev() {
                    self.visit(n, v);
                    leaf = Some(n);
                }
            }
        }
        if let Some(n) = leaf {
            let f = &mut self.flat[n as usize];
            *f = f.saturating_add(v);
        }
    }

    #[inline(always)]
    fn visit(&mut self, n: u32, v: i64) {
        let n = n as usize;
        // Without a branch: whether a node repeats in a stack (recursion,
        // a helper called at every level) is data the predictor cannot
        // learn, and a mispredicted branch per frame cost more than this.
        let fresh = i64::from(self.seen[n] != self.generation);
        self.seen[n] = self.generation;
        self.cum[n] = self.cum[n].saturating_add(v & -fresh);
    }
}

/// Reads the samples numbered `range`, calling `f` with each nonzero
/// sample's pruned stack (location positions, leaf first) and its value of
/// sample type `index`; returns the sum of the absolute values (pprof's
/// report total).
fn each_stack(
    source: &impl SampleSource,
    graph: &LocationGraph,
    index: usize,
    range: Range<usize>,
    mut f: impl FnMut(&[u32], i64),
) -> Result<i64, AggregateError> {
    let want = source.tables().sample_types.len();
    let mut total = 0i64;
    let mut si = range.start;
    source.try_for_each_sample_in(range, |sample: SampleRef<'_>| -> Result<(), Stop> {
        let this = si;
        si += 1;
        let Some(&v) = sample.values.get(index) else {
            return Err(Stop::Aggregate(AggregateError::ValueCount {
                sample: this,
                got: sample.values.len(),
                want,
            }));
        };
        total = total.saturating_add(v.saturating_abs());
        // A zero sample adds nothing anywhere (pprof skips it too).
        if v == 0 {
            return Ok(());
        }
        let locs = sample.locations;
        let start = match &graph.prune {
            Some(decisions) => stack_start(locs.iter().map(|&li| decisions[li as usize])),
            None => 0,
        };
        f(&locs[start..], v);
        Ok(())
    })?;
    Ok(total)
}

/// Samples below which a part is not worth a thread of its own.
const MIN_PART: usize = 50_000;

/// `0..n` cut into at most `parts` ranges of at least [`MIN_PART`]
/// samples (one range when `n` is small); the last one is open-ended.
fn split(n: usize, parts: usize) -> Vec<Range<usize>> {
    let parts = parts.clamp(1, (n / MIN_PART).max(1));
    let size = n.div_ceil(parts);
    let mut out: Vec<Range<usize>> = (0..parts).map(|i| i * size..(i + 1) * size).collect();
    if let Some(last) = out.last_mut() {
        last.end = usize::MAX;
    }
    out
}

/// Threads to read one profile's samples on: the machine's cores.
pub(crate) fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The key of a stack: its frames' keys, so that equal stacks of two
/// profiles meet in a diff.
fn stack_key(frames: &[NodeKey], stack: &[u32]) -> NodeKey {
    let mut name = String::new();
    for (i, &f) in stack.iter().enumerate() {
        if i > 0 {
            name.push('\n');
        }
        let k = &frames[f as usize];
        name.push_str(&k.printable_name());
        if k.name.is_empty() {
            // Unnamed frames differ by binary and start line.
            name.push_str(&format!("\t{}\t{}", k.objfile, k.start_line));
        }
    }
    NodeKey {
        name,
        file: String::new(),
        line: 0,
        start_line: 0,
        objfile: String::new(),
    }
}

fn make_row(
    by: Granularity,
    key: &NodeKey,
    display: &NodeDisplay,
    frames: &[NodeKey],
    flat: i64,
    cum: i64,
) -> Row {
    let non_empty = |s: &str| (!s.is_empty()).then(|| s.to_owned());
    match by {
        Granularity::Stack => {
            let stack: Vec<String> = display
                .stack
                .iter()
                .map(|&f| frames[f as usize].printable_name())
                .collect();
            Row {
                name: stack.join(" ← "),
                function: stack.first().cloned(),
                file: None,
                line: None,
                stack,
                flat,
                cum,
            }
        }
        _ => Row {
            name: key.printable_name(),
            function: non_empty(&key.name),
            file: non_empty(&key.file).or_else(|| non_empty(&display.file)),
            line: (key.line != 0).then_some(key.line),
            stack: Vec::new(),
            flat,
            cum,
        },
    }
}

/// The nodes and their keys.
#[derive(Default)]
struct GraphNodes {
    keys: Vec<NodeKey>,
    display: Vec<NodeDisplay>,
}

/// Marks a location with more than one node in [`LocationGraph::single`].
const MULTIPLE: u32 = u32::MAX;

/// Every location of a profile mapped to its nodes, once.
struct LocationGraph {
    /// `location_nodes[starts[i]..starts[i + 1]]` are location `i`'s nodes,
    /// innermost (inlined callee) first, like its lines.
    starts: Vec<u32>,
    location_nodes: Vec<u32>,
    /// Per location, its node when it has exactly one (most do), else
    /// [`MULTIPLE`]: saves the range lookup in the hot loop.
    single: Vec<u32>,
    /// Per location, what pruning does to it (when the profile prunes).
    prune: Option<Vec<LocationPrune>>,
    nodes: GraphNodes,
}

impl LocationGraph {
    fn build(
        profile: &Profile,
        by: Granularity,
        rules: Option<&PruneRules>,
    ) -> Result<LocationGraph, DecodeError> {
        let functions = IdIndex::of_functions(&profile.functions)?;
        let mappings = IdIndex::of_mappings(&profile.mappings)?;
        // Stacks are made of function nodes.
        let node_by = match by {
            Granularity::Stack => Granularity::Function,
            other => other,
        };
        let mut builder = NodeBuilder {
            profile,
            by: node_by,
            interned: HashMap::new(),
            by_line: HashMap::new(),
            nodes: GraphNodes::default(),
        };

        let prune = rules.map(|rules| location_decisions(profile, &functions, rules));

        // Samples arrive with their locations looked up; duplicate ids are
        // still this profile's defect to report, samples or not.
        IdIndex::of_locations(&profile.locations)?;
        let mut starts = Vec::with_capacity(profile.locations.len() + 1);
        let mut location_nodes = Vec::with_capacity(profile.locations.len());
        starts.push(0);
        for (li, loc) in profile.locations.iter().enumerate() {
            let skip = prune
                .as_ref()
                .map_or(0, |p: &Vec<LocationPrune>| p[li].skipped_lines());
            let mapping = mappings.get(loc.mapping_id);
            let objfile = mapping.map_or("", |mi| profile.str(profile.mappings[mi].filename));
            let mapping_slot = mapping.map_or(u32::MAX, |mi| mi as u32);
            builder.location(
                loc,
                skip,
                (mapping_slot, objfile),
                &functions,
                &mut location_nodes,
            );
            starts.push(location_nodes.len() as u32);
        }
        let single = starts
            .windows(2)
            .map(|w| {
                if w[1] - w[0] == 1 {
                    location_nodes[w[0] as usize]
                } else {
                    MULTIPLE
                }
            })
            .collect();
        Ok(LocationGraph {
            starts,
            location_nodes,
            single,
            prune,
            nodes: builder.nodes,
        })
    }

    fn nodes_of(&self, location: u32) -> &[u32] {
        let l = location as usize;
        &self.location_nodes[self.starts[l] as usize..self.starts[l + 1] as usize]
    }
}

/// Interns nodes while locations are mapped.
struct NodeBuilder<'p> {
    profile: &'p Profile,
    by: Granularity,
    interned: HashMap<NodeKey, u32>,
    /// (function index, line, mapping index) → node: a location's line is
    /// resolved once per distinct combination, not once per location.
    by_line: HashMap<(u32, i64, u32), u32>,
    nodes: GraphNodes,
}

impl NodeKey {
    /// The node of a frame with no function: named only by its binary.
    fn anonymous(objfile: &str) -> NodeKey {
        NodeKey {
            name: String::new(),
            file: String::new(),
            line: 0,
            start_line: 0,
            objfile: objfile.to_owned(),
        }
    }
}

impl NodeBuilder<'_> {
    fn location(
        &mut self,
        loc: &Location,
        skip: usize,
        (mapping_slot, objfile): (u32, &str),
        functions: &IdIndex,
        out: &mut Vec<u32>,
    ) {
        let lines = loc.lines.get(skip..).unwrap_or(&[]);
        if lines.is_empty() {
            // pprof gives a location without lines one anonymous node.
            out.push(self.intern(NodeKey::anonymous(objfile), String::new()));
            return;
        }
        for line in lines {
            let Some(fi) = functions.get(line.function_id) else {
                out.push(self.intern(NodeKey::anonymous(objfile), String::new()));
                continue;
            };
            let line_no = if self.by == Granularity::Line {
                line.line
            } else {
                0
            };
            let cache_key = (fi as u32, line_no, mapping_slot);
            if let Some(&n) = self.by_line.get(&cache_key) {
                out.push(n);
                continue;
            }
            let f = &self.profile.functions[fi];
            let name = self.profile.str(f.name);
            let file = clean_path(self.profile.str(f.filename));
            let (name, file_in_key, display_file) = match self.by {
                Granularity::File => ("", file.as_ref(), ""),
                Granularity::Line => (name, file.as_ref(), ""),
                _ => (name, "", file.as_ref()),
            };
            // pprof keeps the binary and start line in the key only when the
            // node has no function name.
            let (objfile_in_key, start_line) = if name.is_empty() {
                (objfile, f.start_line)
            } else {
                ("", 0)
            };
            let key = NodeKey {
                name: name.to_owned(),
                file: file_in_key.to_owned(),
                line: line_no,
                start_line,
                objfile: objfile_in_key.to_owned(),
            };
            let n = self.intern(key, display_file.to_owned());
            self.by_line.insert(cache_key, n);
            out.push(n);
        }
    }

    fn intern(&mut self, key: NodeKey, display_file: String) -> u32 {
        if let Some(&n) = self.interned.get(&key) {
            return n;
        }
        let n = self.nodes.keys.len() as u32;
        self.interned.insert(key.clone(), n);
        self.nodes.keys.push(key);
        self.nodes.display.push(NodeDisplay {
            file: display_file,
            stack: Vec::new(),
        });
        n
    }
}

/// pprof's treatment of source paths: the `/proc/self/cwd/` prefix of
/// builds in a sandbox is trimmed, then the path is cleaned like Go's
/// `filepath.Clean`.
fn clean_path(path: &str) -> Cow<'_, str> {
    if path.is_empty() {
        return Cow::Borrowed(path);
    }
    let trimmed = path
        .strip_prefix("/proc/self/cwd/./")
        .or_else(|| path.strip_prefix("/proc/self/cwd/"))
        .unwrap_or(path);
    if is_clean(trimmed) {
        return Cow::Borrowed(trimmed);
    }
    Cow::Owned(go_clean(trimmed))
}

fn is_clean(p: &str) -> bool {
    !p.is_empty()
        && (p == "/" || !p.ends_with('/'))
        && !p.contains("//")
        && p.split('/').all(|c| c != "." && c != "..")
}

/// Go's `path/filepath.Clean` for Unix paths.
fn go_clean(p: &str) -> String {
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            c => parts.push(c),
        }
    }
    let body = parts.join("/");
    match (rooted, body.is_empty()) {
        (true, _) => format!("/{body}"),
        (false, true) => ".".to_owned(),
        (false, false) => body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{encode, scan, Limits, ProfileBuilder};

    /// A profile with enough samples to be split, with recursion (a node
    /// twice in a stack) so that cum counts once per sample.
    fn many_samples(n: usize) -> Profile {
        let names = ["main.a", "main.b", "main.c", "main.d", "main.e"];
        let mut b = ProfileBuilder::new(&[("inuse_space", "bytes")]).location_per_frame();
        for i in 0..n {
            let stack: Vec<&str> = (0..1 + i % 7).map(|d| names[(i / (d + 1)) % 5]).collect();
            b.sample(&stack, &[(i % 1000) as i64 - 100]);
        }
        b.build()
    }

    fn rows(v: NodeValues) -> Vec<(NodeKey, Row)> {
        let mut rows = v.into_rows();
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        rows
    }

    #[test]
    fn samples_read_in_parts_add_up_to_reading_them_in_one() {
        let p = many_samples(4 * MIN_PART + 17);
        let scanned = scan(encode(&p), &Limits::default()).unwrap();
        for by in [Granularity::Function, Granularity::Line] {
            let one = NodeValues::compute(&p, by, 0, None, 1).unwrap();
            let total = one.total;
            let one = rows(one);
            for parts in [2, 3, 8] {
                let split = NodeValues::compute(&scanned, by, 0, None, parts).unwrap();
                assert_eq!(split.total, total);
                assert_eq!(rows(split), one, "{by:?} in {parts} parts");
            }
        }
        let one = split(10, 4);
        assert_eq!((one.len(), one[0].start, one[0].end), (1, 0, usize::MAX));
        assert_eq!(split(2 * MIN_PART, 4), [0..MIN_PART, MIN_PART..usize::MAX]);
    }

    #[test]
    fn the_first_parts_defect_is_the_one_reported() {
        let mut p = many_samples(2 * MIN_PART);
        p.samples[MIN_PART + 5].location_ids[0] = u64::MAX;
        p.samples[7].location_ids[0] = u64::MAX - 1;
        let e = NodeValues::compute(&p, Granularity::Function, 0, None, 2).err();
        assert_eq!(
            e.map(|e| e.to_string()),
            Some(
                DecodeError::DanglingLocation {
                    sample: 7,
                    id: u64::MAX - 1
                }
                .to_string()
            )
        );
    }

    #[test]
    fn paths_are_cleaned_like_go() {
        assert_eq!(clean_path("/a/b/../c//d/./e.go"), "/a/c/d/e.go");
        assert_eq!(clean_path("/proc/self/cwd/./src/x.go"), "src/x.go");
        assert_eq!(clean_path("a/../../b"), "../b");
        assert_eq!(clean_path("/../x"), "/x");
        assert_eq!(clean_path("/src/main.go"), "/src/main.go");
        assert_eq!(clean_path(""), "");
    }

    #[test]
    fn printable_names_follow_pprof() {
        let k = |name: &str, file: &str, line: i64, objfile: &str| NodeKey {
            name: name.into(),
            file: file.into(),
            line,
            start_line: 0,
            objfile: objfile.into(),
        };
        assert_eq!(k("main.f", "", 0, "").printable_name(), "main.f");
        assert_eq!(
            k("main.f", "/a.go", 3, "").printable_name(),
            "main.f /a.go:3"
        );
        assert_eq!(k("", "/a.go", 0, "/bin/x").printable_name(), "/a.go");
        assert_eq!(k("", "", 0, "/bin/x").printable_name(), "[x]");
        assert_eq!(k("", "", 0, "").printable_name(), "<unknown>");
    }
}
