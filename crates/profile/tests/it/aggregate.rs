//! Aggregation and diff on small hand-built profiles whose right answers are
//! worked out by hand from pprof's rules. The same rules are checked against
//! `go tool pprof` itself on real Go profiles in
//! `crates/leakwatch/tests/it/oracle.rs`.

use leakwatch_profile::aggregate::{aggregate, sample_index, Granularity, Options, Row, Table};
use leakwatch_profile::diff::{diff, diff_profile, DiffError, BASE_LABEL};
use leakwatch_profile::{Frame, Profile, ProfileBuilder, Sample};

/// A builder of heap profiles (`alloc_space`, `inuse_space`) in one binary.
fn heap() -> ProfileBuilder {
    ProfileBuilder::new(&[("alloc_space", "bytes"), ("inuse_space", "bytes")]).mapping("/bin/app")
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
    let p = heap()
        .sample(&["f", "g", "f", "main"], &[0, 10])
        .sample(&["g", "main"], &[0, 5])
        .build();
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
    let p = heap()
        .sample_inlined(
            &[
                &[
                    Frame::at("newBuf", "/src/buf.go", 4),
                    Frame::at("caller", "/src/main.go", 9),
                ],
                &["main".into()],
            ],
            &[0, 7],
        )
        .build();
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
    let p = heap()
        .sample(
            &[
                Frame::at("f", "/src/a.go", 3),
                Frame::at("main", "/src/main.go", 1),
            ],
            &[0, 4],
        )
        .sample(
            &[
                Frame::at("f", "/src/a.go", 5),
                Frame::at("main", "/src/main.go", 1),
            ],
            &[0, 6],
        )
        .sample(
            &[
                Frame::at("g", "/src/a.go", 9),
                Frame::at("main", "/src/main.go", 2),
            ],
            &[0, 1],
        )
        .build();
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
    let p = heap()
        .sample(&[Frame::at("f", "/src/a.go", 3), "main".into()], &[0, 4])
        .sample(&[Frame::at("f", "/src/a.go", 5), "main".into()], &[0, 6])
        .sample(&["g", "main"], &[0, 1])
        .build();
    let t = aggregate(&p, &by(Granularity::Stack)).unwrap();
    assert_eq!(rows(&t), vec![("f ← main", 10, 10), ("g ← main", 1, 1)]);
    assert_eq!(t.rows[0].stack, vec!["f", "main"]);
}

#[test]
fn ties_sort_like_pprof_by_name_before_cum() {
    let p = heap()
        .sample(&["b", "z"], &[0, 5])
        .sample(&["a", "y"], &[0, 5])
        .sample(&["y"], &[0, 1])
        .build();
    let t = aggregate(&p, &by(Granularity::Function)).unwrap();
    let names: Vec<&str> = t.rows.iter().map(|r| r.name.as_str()).collect();
    // flat 5: a, b by name; flat 1: y; flat 0: z.
    assert_eq!(names, vec!["a", "b", "y", "z"]);
}

#[test]
fn zero_samples_and_zero_rows_are_left_out() {
    let p = heap()
        .sample(&["f", "main"], &[3, 0])
        .sample(&["g", "main"], &[0, 2])
        .build();
    let t = aggregate(&p, &by(Granularity::Function)).unwrap();
    assert_eq!(rows(&t), vec![("g", 2, 2), ("main", 0, 2)]);
}

#[test]
fn drop_frames_prune_allocator_frames_like_pprof() {
    let mut b = heap();
    b.sample(
        &[
            "runtime.mallocgc",
            "runtime.makeslice",
            "main.f",
            "main.main",
        ],
        &[0, 8],
    );
    // Only allocator frames: pprof keeps them rather than emptying the stack.
    b.sample(&["runtime.mallocgc", "runtime.makeslice"], &[0, 1]);
    // An allocator frame inlined into user code: only the inlined line goes.
    b.sample_inlined(&[&["runtime.makeslice", "main.g"], &["main.main"]], &[0, 2]);
    let mut p = b.build();
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
    let mut p = heap().sample(&["f"], &[0, 1]).build();
    p.drop_frames = p.intern("(unclosed");
    let e = aggregate(&p, &by(Granularity::Function)).unwrap_err();
    assert!(e.to_string().contains("drop_frames"), "{e}");
}

#[test]
fn sample_index_follows_pprof() {
    let mut p = ProfileBuilder::new(&[
        ("alloc_objects", "count"),
        ("alloc_space", "bytes"),
        ("inuse_objects", "count"),
        ("inuse_space", "bytes"),
    ])
    .build();
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
    let legacy = ProfileBuilder::new(&[("objects", "count"), ("space", "bytes")]).build();
    assert_eq!(sample_index(&legacy, Some("inuse_space")).unwrap(), 1);
    let empty = Profile::default();
    assert!(sample_index(&empty, None).is_err());
}

#[test]
fn a_dangling_location_is_an_error_not_a_panic() {
    let mut p = heap().sample(&["f"], &[0, 1]).build();
    p.samples[0].location_ids.push(99);
    let e = aggregate(&p, &by(Granularity::Function)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "sample 0 refers to location 99, which does not exist"
    );
    let mut p = heap().sample(&["f"], &[0, 1]).build();
    p.samples[0].values.pop();
    assert!(aggregate(&p, &by(Granularity::Function)).is_err());
}

fn base_and_new() -> (Profile, Profile) {
    let base = heap()
        .sample(&["grow", "main"], &[0, 100])
        .sample(&["shrink", "main"], &[0, 50])
        .sample(&["gone", "main"], &[0, 7])
        .build();
    // Built in another order, so ids and string indices differ from base.
    let new = heap()
        .sample(&["fresh", "main"], &[0, 30])
        .sample(&["shrink", "main"], &[0, 20])
        .sample(&["grow", "main"], &[0, 400])
        .build();
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
    let other = ProfileBuilder::new(&[("samples", "count"), ("cpu", "nanoseconds")]).build();
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
