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

#[test]
fn diff_flame_draws_markup_and_semicolons_as_text() {
    let scratch = support::scratch();
    let (base, new) = write_pair(scratch.path());
    let svg_path = scratch.path().join("flame.svg");
    support::run_ok(support::leakwatch().args([
        "diff",
        base.to_str().unwrap(),
        new.to_str().unwrap(),
        "--flame",
        svg_path.to_str().unwrap(),
    ]));
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    let opts = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..Default::default()
    };
    let doc = roxmltree::Document::parse_with_options(&svg, opts).expect("well-formed XML");

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
