//! `ProfileBuilder`: what it builds survives validation and an encode →
//! decode round trip, and its options change only what they say.

use leakwatch_profile::aggregate::{aggregate, Granularity, Options};
use leakwatch_profile::validate::validate;
use leakwatch_profile::{decode, encode, Frame, Limits, Profile, ProfileBuilder};

const HEAP: &[(&str, &str)] = &[("inuse_objects", "count"), ("inuse_space", "bytes")];

fn stacks(b: &mut ProfileBuilder) -> &mut ProfileBuilder {
    b.sample(
        &["main.newEntry", "main.(*cache).get", "main.main"],
        &[2, 200],
    )
    .sample(&["main.newEntry", "main.other", "main.main"], &[1, 100])
    .sample(&["main.render", "main.main"], &[5, 50])
}

fn roundtrip(p: &Profile) -> Profile {
    decode(&encode(p), &Limits::default()).expect("a built profile decodes")
}

/// (name, flat, cum) of every row by `by`.
fn table(p: &Profile, by: Granularity) -> Vec<(String, i64, i64)> {
    let opts = Options {
        by,
        sample_index: None,
    };
    let t = aggregate(p, &opts).unwrap();
    t.rows
        .into_iter()
        .map(|r| (r.name, r.flat, r.cum))
        .collect()
}

#[test]
fn shared_functions_and_locations_by_default() {
    let p = stacks(&mut ProfileBuilder::new(HEAP)).build();
    validate(&p).unwrap();
    assert_eq!(roundtrip(&p), p);
    assert_eq!(p.sample_type_names(), ["inuse_objects", "inuse_space"]);
    // Five distinct functions, each at one location, ids in order of use.
    assert_eq!(p.functions.len(), 5);
    assert_eq!(p.locations.len(), 5);
    assert_eq!(p.samples[0].location_ids, [1, 2, 3]);
    assert_eq!(p.samples[1].location_ids, [1, 4, 3]);
    assert_eq!(p.samples[2].location_ids, [5, 3]);
    let f = &p.functions[0];
    assert_eq!(
        (p.str(f.name), p.str(f.filename)),
        ("main.newEntry", "/src/main.go")
    );
    assert!(p.locations.iter().all(|l| l.lines[0].line == 1));
    let addresses: std::collections::HashSet<u64> = p.locations.iter().map(|l| l.address).collect();
    assert_eq!(addresses.len(), 5, "every location has its own address");
}

#[test]
fn a_location_per_frame_keeps_functions_shared_and_tables_equal() {
    let shared = stacks(&mut ProfileBuilder::new(HEAP)).build();
    let separate = stacks(&mut ProfileBuilder::new(HEAP).location_per_frame()).build();
    validate(&separate).unwrap();
    assert_eq!(roundtrip(&separate), separate);
    assert_eq!(separate.locations.len(), 8, "one per frame of each sample");
    assert_eq!(separate.functions, shared.functions);
    assert_eq!(
        table(&separate, Granularity::Function),
        table(&shared, Granularity::Function)
    );
    assert_eq!(
        table(&separate, Granularity::Function),
        [
            ("main.newEntry".to_owned(), 300, 300),
            ("main.render".to_owned(), 50, 50),
            ("main.(*cache).get".to_owned(), 0, 200),
            ("main.main".to_owned(), 0, 350),
            ("main.other".to_owned(), 0, 100),
        ]
    );
}

#[test]
fn files_and_lines_come_from_the_frame_or_the_defaults() {
    let mut b = ProfileBuilder::new(HEAP).file("/src/<evil>.go").line(7);
    b.sample(
        &[Frame::at("f", "/src/a.go", 3), Frame::from("main")],
        &[1, 4],
    )
    .sample(&[Frame::at("f", "/src/a.go", 5), "main".into()], &[1, 6])
    // Same name, other file: another function.
    .sample(&[Frame::at("f", "/src/b.go", 5), "main".into()], &[1, 1]);
    let p = b.build();
    validate(&p).unwrap();
    assert_eq!(
        table(&p, Granularity::Line),
        [
            ("f /src/a.go:5".to_owned(), 6, 6),
            ("f /src/a.go:3".to_owned(), 4, 4),
            ("f /src/b.go:5".to_owned(), 1, 1),
            ("main /src/<evil>.go:7".to_owned(), 0, 11),
        ]
    );
    // f:3 and f:5 are two locations of one function.
    assert_eq!(p.functions.len(), 3);
    assert_eq!(p.locations.len(), 4);
}

#[test]
fn inlined_frames_share_a_location_innermost_first() {
    let mut b = ProfileBuilder::new(HEAP).mapping("/bin/app");
    b.sample_inlined(&[&["runtime.makeslice", "main.g"], &["main.main"]], &[1, 2])
        .sample(&["main.g", "main.main"], &[1, 3]);
    let p = b.build();
    validate(&p).unwrap();
    assert_eq!(roundtrip(&p), p);
    let names = |l: &leakwatch_profile::Location| -> Vec<&str> {
        l.lines
            .iter()
            .map(|line| p.str(p.functions[line.function_id as usize - 1].name))
            .collect()
    };
    assert_eq!(names(&p.locations[0]), ["runtime.makeslice", "main.g"]);
    // main.g alone is a location of its own; main.main is shared.
    assert_eq!(p.samples[1].location_ids, [3, 2]);
    assert_eq!(p.mappings.len(), 1);
    assert_eq!(p.str(p.mappings[0].filename), "/bin/app");
    assert!(p.locations.iter().all(|l| l.mapping_id == 1));
}

#[test]
fn locations_take_the_mapping_in_force_when_created() {
    let mut b = ProfileBuilder::new(HEAP);
    b.sample(&["main.main"], &[1, 1]);
    let mut b = b.mapping("/bin/app");
    b.sample(&["main.main"], &[1, 1]);
    let p = b.build();
    validate(&p).unwrap();
    let mappings: Vec<u64> = p.locations.iter().map(|l| l.mapping_id).collect();
    assert_eq!(mappings, [0, 1], "the same frame in another mapping");
}

#[test]
fn build_is_a_snapshot_and_the_builder_goes_on() {
    let mut b = ProfileBuilder::new(&[("goroutine", "count")]);
    b.sample(&["main.awaitReply", "main.main"], &[1]);
    let first = b.build();
    b.sample(&["main.awaitReply", "main.main"], &[2]);
    let second = b.build();
    assert_eq!(first.samples.len(), 1);
    assert_eq!(second.samples.len(), 2);
    assert_eq!(first.locations, second.locations);
    validate(&second).unwrap();
}

#[test]
#[should_panic(expected = "sample 0 has 1 values, but the profile has 2 sample types")]
fn a_sample_with_the_wrong_number_of_values_is_refused() {
    ProfileBuilder::new(HEAP).sample(&["main.main"], &[1]);
}
