//! `leakwatch diff BASE NEW --flame out.svg`: the differential flame graph
//! written by the binary from two real profile files, read back as XML.

use crate::support;

use leakwatch_profile::{encode_gzip, Profile, ProfileBuilder};

/// A heap profile of `stacks` (leaf first, with bytes).
fn heap_profile(stacks: &[(&[&str], i64)]) -> Profile {
    let mut b = ProfileBuilder::new(&[("inuse_objects", "count"), ("inuse_space", "bytes")]);
    for (frames, bytes) in stacks {
        b.sample(frames, &[bytes / 32, *bytes]);
    }
    b.build()
}

/// Markup, quotes, and an entity whose `;` must become the look-alike too.
const EVIL: &str = "<script>alert(\"x\")</script>&amp;";
const SEMI: &str = "std::map<int; char>::insert";

fn write_pair(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let base = heap_profile(&[
        (
            &["main.newEntry", "main.(*cache).get", "main.main"],
            10 << 20,
        ),
        (&["bytes.growSlice", "main.render", "main.main"], 8 << 20),
        (&[EVIL, SEMI, "main.main"], 1 << 20),
    ]);
    let new = heap_profile(&[
        (
            &["main.newEntry", "main.(*cache).get", "main.main"],
            90 << 20,
        ),
        (&["bytes.growSlice", "main.render", "main.main"], 2 << 20),
        (&[EVIL, SEMI, "main.main"], 4 << 20),
    ]);
    let (b, n) = (dir.join("base.pb.gz"), dir.join("new.pb.gz"));
    std::fs::write(&b, encode_gzip(&base)).unwrap();
    std::fs::write(&n, encode_gzip(&new)).unwrap();
    (b, n)
}

/// `leakwatch diff BASE NEW --flame DIR/flame.svg`: the SVG it wrote.
fn diff_flame(dir: &std::path::Path, base: &std::path::Path, new: &std::path::Path) -> String {
    let svg_path = dir.join("flame.svg");
    support::run_ok(support::leakwatch().args([
        "diff",
        base.to_str().unwrap(),
        new.to_str().unwrap(),
        "--flame",
        svg_path.to_str().unwrap(),
    ]));
    std::fs::read_to_string(&svg_path).unwrap()
}

fn parse(svg: &str) -> roxmltree::Document<'_> {
    let opts = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..Default::default()
    };
    roxmltree::Document::parse_with_options(svg, opts).expect("well-formed XML")
}

#[test]
fn diff_flame_draws_markup_and_semicolons_as_text() {
    let scratch = support::scratch();
    let (base, new) = write_pair(scratch.path());
    let svg = diff_flame(scratch.path(), &base, &new);
    let doc = parse(&svg);

    let titles: Vec<&str> = doc
        .descendants()
        .filter(|n| n.has_tag_name(("http://www.w3.org/2000/svg", "title")))
        .filter_map(|n| n.text())
        .collect();
    assert!(
        titles
            .iter()
            .any(|t| t.starts_with(&format!("{} (", EVIL.replace(';', "\u{37e}")))),
        "the markup name is one frame, as text: {titles:?}"
    );
    // `;` would split the frame in two; its look-alike keeps it whole.
    let whole = SEMI.replace(';', "\u{37e}");
    assert!(
        titles.iter().any(|t| t.starts_with(&format!("{whole} ("))),
        "{titles:?}"
    );
    assert!(
        !titles.iter().any(|t| t.starts_with(" char>::insert")),
        "{titles:?}"
    );
    // The only script is inferno's own, and no name leaked into markup.
    let scripts: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name(("http://www.w3.org/2000/svg", "script")))
        .collect();
    assert_eq!(scripts.len(), 1, "inferno's interactive script only");
    assert!(!scripts[0].text().unwrap_or("").contains("alert("));
    // Growth (main.newEntry: 10 → 90 MiB) has the widest frame after the roots.
    let width_of = |prefix: &str| -> f64 {
        doc.descendants()
            .find(|n| {
                n.has_tag_name(("http://www.w3.org/2000/svg", "g"))
                    && n.children()
                        .any(|c| c.text().is_some_and(|t| t.starts_with(prefix)))
            })
            .and_then(|g| {
                g.descendants()
                    .find(|n| n.has_tag_name(("http://www.w3.org/2000/svg", "rect")))
            })
            .and_then(|r| r.attribute(("http://github.com/jonhoo/inferno", "w")))
            .and_then(|w| w.parse().ok())
            .unwrap_or_else(|| panic!("no frame {prefix}"))
    };
    // Widths come from the newer profile: 90 MiB of 96 MiB.
    assert_eq!(width_of("main.newEntry ("), f64::from(90u32 << 20));
    assert_eq!(width_of("bytes.growSlice ("), f64::from(2u32 << 20));
}

#[test]
fn diff_flame_to_an_unwritable_path_names_the_flag_and_the_path() {
    let scratch = support::scratch();
    let (base, new) = write_pair(scratch.path());
    let bad = scratch.path().join("no/such/dir/flame.svg");
    let out = support::run_err(support::leakwatch().args([
        "diff",
        base.to_str().unwrap(),
        new.to_str().unwrap(),
        "--flame",
        bad.to_str().unwrap(),
    ]));
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--flame") && err.contains("no/such/dir/flame.svg"),
        "{err}"
    );
}

/// A thread's way down to the code that allocates in a tokio service,
/// root first: 30 frames that every stack shares.
fn runtime_column() -> Vec<String> {
    let mut frames = vec![
        "clone3".to_owned(),
        "start_thread".to_owned(),
        "std::sys::thread::unix::Thread::new::thread_start".to_owned(),
    ];
    frames.extend((0..27).map(|i| format!("tokio::runtime::task::harness::poll_{i}")));
    frames
}

/// A native (jemalloc) heap profile as the symbolizer leaves it: allocator
/// frames on top of every stack, and `drop_frames` to cut them.
fn native_profile(new_entry: i64, render: i64) -> Profile {
    let allocator = [
        "prof_backtrace_impl",
        "_rjem_je_prof_backtrace",
        "imalloc_body",
        "_rjem_je_malloc_default",
        "alloc::alloc::alloc",
        "alloc::raw_vec::RawVecInner<A>::try_allocate_in",
    ];
    let stack = |user: &[&str]| -> Vec<String> {
        let mut leaf_first: Vec<String> = allocator.iter().map(|s| s.to_string()).collect();
        leaf_first.extend(user.iter().map(|s| s.to_string()));
        leaf_first.extend(runtime_column().into_iter().rev());
        leaf_first
    };
    let cache = stack(&["app::cache::new_entry", "app::cache::get_or_insert"]);
    let page = stack(&["app::page::render", "app::page::serve"]);
    let mut b = ProfileBuilder::new(&[("inuse_space", "bytes")]);
    b.sample(
        &cache.iter().map(String::as_str).collect::<Vec<_>>(),
        &[new_entry],
    );
    b.sample(
        &page.iter().map(String::as_str).collect::<Vec<_>>(),
        &[render],
    );
    let mut p = b.build();
    p.drop_frames = p.intern(leakwatch_profile::symbolize::NATIVE_ALLOCATOR_FRAMES);
    p
}

#[test]
fn diff_flame_tops_stacks_with_the_allocating_function_and_folds_the_runtime_column() {
    let scratch = support::scratch();
    let (base, new) = (
        scratch.path().join("base.pb.gz"),
        scratch.path().join("new.pb.gz"),
    );
    std::fs::write(&base, encode_gzip(&native_profile(1 << 20, 2 << 20))).unwrap();
    std::fs::write(&new, encode_gzip(&native_profile(9 << 20, 2 << 20))).unwrap();
    let svg = diff_flame(scratch.path(), &base, &new);
    let doc = parse(&svg);
    const SVG: &str = "http://www.w3.org/2000/svg";
    // (title, width, y, fill) of every frame drawn.
    let frames: Vec<(String, f64, f64, String)> = doc
        .descendants()
        .filter(|n| n.has_tag_name((SVG, "g")))
        .filter_map(|g| {
            let title = g.children().find(|c| c.has_tag_name((SVG, "title")))?;
            let rect = g.children().find(|c| c.has_tag_name((SVG, "rect")))?;
            Some((
                title.text()?.to_owned(),
                rect.attribute(("http://github.com/jonhoo/inferno", "w"))?
                    .parse()
                    .ok()?,
                rect.attribute("y")?.parse().ok()?,
                rect.attribute("fill")?.to_owned(),
            ))
        })
        .collect();
    let titles: Vec<&str> = frames.iter().map(|f| f.0.as_str()).collect();

    // The tables' pruning: no allocator frame is drawn.
    for allocator in ["prof_backtrace_impl", "_rjem_", "imalloc", "alloc::"] {
        assert!(
            !titles.iter().any(|t| t.starts_with(allocator)),
            "{allocator} is drawn: {titles:?}"
        );
    }
    // The widest red frame is the function that allocated what grew.
    let red = |fill: &str| fill.starts_with("rgb(255,") && !fill.starts_with("rgb(255,255,");
    let widest_red = frames
        .iter()
        .filter(|f| red(&f.3))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .expect("a red frame");
    assert!(
        widest_red.0.starts_with("app::cache::new_entry ("),
        "{widest_red:?}"
    );
    assert_eq!(widest_red.1, f64::from(9u32 << 20));

    // The runtime column is one frame, as wide as everything, that says
    // what it folds; none of its frames is drawn on its own.
    let fold = frames
        .iter()
        .find(|f| f.0.starts_with("\u{22ef} 30 frames (tokio, "))
        .unwrap_or_else(|| panic!("no folded frame: {titles:?}"));
    assert!(
        fold.0
            .contains("from clone3 to tokio::runtime::task::harness::poll_26"),
        "{}",
        fold.0
    );
    assert_eq!(fold.1, f64::from(11u32 << 20));
    assert!(
        !titles.iter().any(|t| t.starts_with("start_thread (")
            || t.starts_with("tokio::runtime::task::harness::poll_3 (")),
        "{titles:?}"
    );
    // `all`, the fold, and two frames of the program: four rows.
    let mut rows: Vec<u64> = frames.iter().map(|f| f.2 as u64).collect();
    rows.sort_unstable();
    rows.dedup();
    assert_eq!(rows.len(), 4, "{titles:?}");
    assert!(svg.contains("folds the root frames that every stack above it shares"));
}
