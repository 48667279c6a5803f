//! Aggregation and diff on small hand-built profiles whose right answers are
//! worked out by hand from pprof's rules. The same rules are checked against
//! `go tool pprof` itself on real Go profiles in
//! `crates/leakwatch/tests/oracle.rs`.

use leakwatch_profile::aggregate::{aggregate, sample_index, Granularity, Options, Row, Table};
use leakwatch_profile::diff::{diff, diff_profile, DiffError, BASE_LABEL};
use leakwatch_profile::{Function, Line, Location, Mapping, Profile, Sample, ValueType};

/// Builds profiles frame by frame: a frame is `function:line`, and a
/// location is one or more frames (inlined callee first).
struct Builder {
    p: Profile,
}

impl Builder {
    fn new(types: &[(&str, &str)]) -> Builder {
        let mut p = Profile::default();
        p.intern("");
        for (t, u) in types {
            let ty = p.intern(t);
            let unit = p.intern(u);
            p.sample_types.push(ValueType { ty, unit });
        }
        let filename = p.intern("/bin/app");
        p.mappings.push(Mapping {
            id: 1,
            filename,
            has_functions: true,
            ..Mapping::default()
        });
        Builder { p }
    }

    fn heap() -> Builder {
        Builder::new(&[("alloc_space", "bytes"), ("inuse_space", "bytes")])
    }

    fn function(&mut self, name: &str, file: &str) -> u64 {
        let name_idx = self.p.intern(name);
        let file_idx = self.p.intern(file);
        if let Some(f) = self
            .p
            .functions
            .iter()
            .find(|f| f.name == name_idx && f.filename == file_idx)
        {
            return f.id;
        }
        let id = self.p.functions.len() as u64 + 1;
        self.p.functions.push(Function {
            id,
            name: name_idx,
            system_name: name_idx,
            filename: file_idx,
            start_line: 0,
        });
        id
    }

    /// A location of `frames` (`"name@file:line"`, innermost first).
    fn location(&mut self, frames: &[&str]) -> u64 {
        let lines = frames
            .iter()
            .map(|f| {
                let (name, rest) = f.split_once('@').unwrap_or((f, "/src/main.go:1"));
                let (file, line) = rest.split_once(':').unwrap();
                Line {
                    function_id: self.function(name, file),
                    line: line.parse().unwrap(),
                    column: 0,
                }
            })
            .collect::<Vec<_>>();
        if let Some(l) = self.p.locations.iter().find(|l| l.lines == lines) {
            return l.id;
        }
        let id = self.p.locations.len() as u64 + 1;
        self.p.locations.push(Location {
            id,
            mapping_id: 1,
            address: 0x1000 + id,
            lines,
            is_folded: false,
        });
        id
    }

    /// A sample whose stack is `locations` (leaf first), each a list of
    /// frames.
    fn sample(&mut self, stack: &[&[&str]], values: &[i64]) -> &mut Builder {
        let location_ids = stack.iter().map(|frames| self.location(frames)).collect();
        self.p.samples.push(Sample {
            location_ids,
            values: values.to_vec(),
            labels: Vec::new(),
        });
        self
    }

    fn done(&mut self) -> Profile {
        std::mem::take(&mut self.p)
    }
}

fn by(by: Granularity) -> Options {
    Options {
        by,
        sample_index: None,
    }
}

/// (name, flat, cum) of every row, in order.
fn rows(t: &Table) -> Vec<(&str, i64, i64)> {
    t.rows
        .iter()
        .map(|r: &Row| (r.name.as_str(), r.flat, r.cum))
        .collect()
}

#[test]
fn recursion_counts_cum_once_per_sample() {
    let p = Builder::heap()
        .sample(&[&["f"], &["g"], &["f"], &["main"]], &[0, 10])
        .sample(&[&["g"], &["main"]], &[0, 5])
        .done();
    let t = aggregate(&p, &by(Granularity::Function)).unwrap();
    assert_eq!(t.total, 15);
    assert_eq!(t.sample_type, "inuse_space");
    assert_eq!(t.unit, "bytes");
    assert_eq!(
        rows(&t),
        vec![("f", 10, 10), ("g", 5, 15), ("main", 0, 15)],
        "f appears twice in one stack but counts once"
    );
}

#[test]
fn inlined_frames_are_nodes_of_their_own() {
    let p = Builder::heap()
        .sample(
            &[
                &["newBuf@/src/buf.go:4", "caller@/src/main.go:9"],
                &["main"],
            ],
            &[0, 7],
        )
        .done();
    let t = aggregate(&p, &by(Granularity::Function)).unwrap();
    assert_eq!(
        rows(&t),
        vec![("newBuf", 7, 7), ("caller", 0, 7), ("main", 0, 7)]
    );
    assert_eq!(t.rows[0].file.as_deref(), Some("/src/buf.go"));
    assert_eq!(t.rows[0].line, None);
}

#[test]
fn lines_and_files_are_their_own_granularities() {
    let p = Builder::heap()
        .sample(&[&["f@/src/a.go:3"], &["main@/src/main.go:1"]], &[0, 4])
        .sample(&[&["f@/src/a.go:5"], &["main@/src/main.go:1"]], &[0, 6])
        .sample(&[&["g@/src/a.go:9"], &["main@/src/main.go:2"]], &[0, 1])
        .done();
    let t = aggregate(&p, &by(Granularity::Line)).unwrap();
    assert_eq!(
        rows(&t),
        vec![
            ("f /src/a.go:5", 6, 6),
            ("f /src/a.go:3", 4, 4),
            ("g /src/a.go:9", 1, 1),
            ("main /src/main.go:1", 0, 10),
            ("main /src/main.go:2", 0, 1),
        ]
    );
    assert_eq!(t.rows[0].line, Some(5));
    assert_eq!(t.rows[0].function.as_deref(), Some("f"));
    let t = aggregate(&p, &by(Granularity::File)).unwrap();
    assert_eq!(
        rows(&t),
        vec![("/src/a.go", 11, 11), ("/src/main.go", 0, 11)]
    );
    assert_eq!(t.rows[0].function, None);
}

#[test]
fn stacks_are_rows_leaf_first() {
    let p = Builder::heap()
        .sample(&[&["f@/src/a.go:3"], &["main"]], &[0, 4])
        .sample(&[&["f@/src/a.go:5"], &["main"]], &[0, 6])
        .sample(&[&["g"], &["main"]], &[0, 1])
        .done();
    let t = aggregate(&p, &by(Granularity::Stack)).unwrap();
    assert_eq!(rows(&t), vec![("f ← main", 10, 10), ("g ← main", 1, 1)]);
    assert_eq!(t.rows[0].stack, vec!["f", "main"]);
}

#[test]
fn ties_sort_like_pprof_by_name_before_cum() {
    let p = Builder::heap()
        .sample(&[&["b"], &["z"]], &[0, 5])
        .sample(&[&["a"], &["y"]], &[0, 5])
        .sample(&[&["y"]], &[0, 1])
        .done();
    let t = aggregate(&p, &by(Granularity::Function)).unwrap();
    let names: Vec<&str> = t.rows.iter().map(|r| r.name.as_str()).collect();
    // flat 5: a, b by name; flat 1: y; flat 0: z.
    assert_eq!(names, vec!["a", "b", "y", "z"]);
}

#[test]
fn zero_samples_and_zero_rows_are_left_out() {
    let p = Builder::heap()
        .sample(&[&["f"], &["main"]], &[3, 0])
        .sample(&[&["g"], &["main"]], &[0, 2])
        .done();
    let t = aggregate(&p, &by(Granularity::Function)).unwrap();
    assert_eq!(rows(&t), vec![("g", 2, 2), ("main", 0, 2)]);
}

#[test]
fn drop_frames_prune_allocator_frames_like_pprof() {
    let mut b = Builder::heap();
    b.sample(
        &[
            &["runtime.mallocgc"],
            &["runtime.makeslice"],
            &["main.f"],
            &["main.main"],
        ],
        &[0, 8],
    );
    // Only allocator frames: pprof keeps them rather than emptying the stack.
    b.sample(&[&["runtime.mallocgc"], &["runtime.makeslice"]], &[0, 1]);
    // An allocator frame inlined into user code: only the inlined line goes.
    b.sample(&[&["runtime.makeslice", "main.g"], &["main.main"]], &[0, 2]);
    let mut p = b.done();
    p.drop_frames = p.intern("runtime\\..*");
    p.keep_frames = p.intern("runtime\\.main");
    let t = aggregate(&p, &by(Granularity::Function)).unwrap();
    assert_eq!(
        rows(&t),
        vec![
            ("main.f", 8, 8),
            ("main.g", 2, 2),
            ("runtime.mallocgc", 1, 1),
            ("main.main", 0, 10),
            ("runtime.makeslice", 0, 1),
        ]
    );
}

#[test]
fn a_bad_drop_frames_regex_is_an_error() {
    let mut p = Builder::heap().sample(&[&["f"]], &[0, 1]).done();
    p.drop_frames = p.intern("(unclosed");
    let e = aggregate(&p, &by(Granularity::Function)).unwrap_err();
    assert!(e.to_string().contains("drop_frames"), "{e}");
}

#[test]
fn sample_index_follows_pprof() {
    let mut p = Builder::new(&[
        ("alloc_objects", "count"),
        ("alloc_space", "bytes"),
        ("inuse_objects", "count"),
        ("inuse_space", "bytes"),
    ])
    .done();
    assert_eq!(sample_index(&p, None).unwrap(), 3, "last type by default");
    assert_eq!(sample_index(&p, Some("alloc_objects")).unwrap(), 0);
    assert_eq!(sample_index(&p, Some("1")).unwrap(), 1);
    p.default_sample_type = p.intern("alloc_space");
    assert_eq!(sample_index(&p, None).unwrap(), 1, "default_sample_type");
    assert_eq!(
        sample_index(&p, Some("4")).unwrap_err().to_string(),
        "sample index 4 is out of range: the profile has 4 sample types (alloc_objects, alloc_space, inuse_objects, inuse_space)"
    );
    assert_eq!(
        sample_index(&p, Some("bogus")).unwrap_err().to_string(),
        "unknown sample type \"bogus\": the profile has alloc_objects, alloc_space, inuse_objects, inuse_space"
    );
    let legacy = Builder::new(&[("objects", "count"), ("space", "bytes")]).done();
    assert_eq!(sample_index(&legacy, Some("inuse_space")).unwrap(), 1);
    let empty = Profile::default();
    assert!(sample_index(&empty, None).is_err());
}

#[test]
fn a_dangling_location_is_an_error_not_a_panic() {
    let mut p = Builder::heap().sample(&[&["f"]], &[0, 1]).done();
    p.samples[0].location_ids.push(99);
    let e = aggregate(&p, &by(Granularity::Function)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "sample 0 refers to location id 99, which does not exist"
    );
    let mut p = Builder::heap().sample(&[&["f"]], &[0, 1]).done();
    p.samples[0].values.pop();
    assert!(aggregate(&p, &by(Granularity::Function)).is_err());
}

fn base_and_new() -> (Profile, Profile) {
    let base = Builder::heap()
        .sample(&[&["grow"], &["main"]], &[0, 100])
        .sample(&[&["shrink"], &["main"]], &[0, 50])
        .sample(&[&["gone"], &["main"]], &[0, 7])
        .done();
    // Built in another order, so ids and string indices differ from base.
    let new = Builder::heap()
        .sample(&[&["fresh"], &["main"]], &[0, 30])
        .sample(&[&["shrink"], &["main"]], &[0, 20])
        .sample(&[&["grow"], &["main"]], &[0, 400])
        .done();
    (base, new)
}

#[test]
fn diff_is_new_minus_base_sorted_by_growth() {
    let (base, new) = base_and_new();
    let t = diff(&base, &new, &by(Granularity::Function)).unwrap();
    assert_eq!(t.total, 450);
    assert_eq!(t.base_total, 157);
    assert_eq!(
        rows(&t),
        vec![
            ("grow", 300, 300),
            ("fresh", 30, 30),
            ("main", 0, 293),
            ("gone", -7, -7),
            ("shrink", -30, -30),
        ]
    );
}

#[test]
fn diff_of_incompatible_profiles_names_both_types() {
    let (base, _) = base_and_new();
    let other = Builder::new(&[("samples", "count"), ("cpu", "nanoseconds")]).done();
    let e = diff(&base, &other, &by(Granularity::Function)).unwrap_err();
    assert!(matches!(e, DiffError::Incompatible { .. }));
    assert_eq!(
        e.to_string(),
        "incompatible profiles: the base has sample types [alloc_space/bytes, inuse_space/bytes], the new one [samples/count, cpu/nanoseconds]"
    );
    assert!(diff_profile(&base, &other).is_err());
}

#[test]
fn diff_profile_aggregates_to_the_diff() {
    let (base, new) = base_and_new();
    let merged = diff_profile(&base, &new).unwrap();
    assert_eq!(merged.samples.len(), 6);
    let label_key = merged.strings.iter().position(|s| s == BASE_LABEL).unwrap() as u32;
    let labelled: Vec<&Sample> = merged
        .samples
        .iter()
        .filter(|s| s.labels.iter().any(|l| l.key == label_key))
        .collect();
    assert_eq!(labelled.len(), 3, "every base sample carries pprof::base");
    assert!(labelled.iter().all(|s| s.values.iter().all(|v| *v <= 0)));

    // Aggregating the merged profile sums new and negated base samples:
    // the same rows as the diff (the order differs: top sorts by |flat|).
    let mut from_merged = rows(&aggregate(&merged, &by(Granularity::Line)).unwrap())
        .into_iter()
        .map(|(n, f, c)| (n.to_owned(), f, c))
        .collect::<Vec<_>>();
    let mut from_diff = rows(&diff(&base, &new, &by(Granularity::Line)).unwrap())
        .into_iter()
        .map(|(n, f, c)| (n.to_owned(), f, c))
        .collect::<Vec<_>>();
    from_merged.sort();
    from_diff.sort();
    assert_eq!(from_merged, from_diff);
}
