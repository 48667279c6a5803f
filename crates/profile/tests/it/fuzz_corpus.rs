//! The fuzzing campaign's regression corpus, replayed on the stable
//! toolchain: every input under `crates/profile/fuzz/regression-corpus/TARGET/`
//! goes through the check that target's fuzzer runs (the checks are
//! `crates/profile/fuzz/src/lib.rs`, included here as they are), so what the
//! fuzzer once found stays fixed. `bench/fuzz` refreshes the corpus; see
//! docs/fuzzing.md.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;

#[path = "../../fuzz/src/lib.rs"]
mod checks;

fn corpus_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fuzz/regression-corpus")
}

/// The files of one target's corpus, sorted for a stable order.
fn inputs(target: &str) -> Vec<PathBuf> {
    let dir = corpus_root().join(target);
    let entries = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("the corpus of target {target}, {}: {e}", dir.display()));
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_target_has_a_corpus_and_every_corpus_a_target() {
    for target in checks::TARGETS {
        // An empty folder would make the replay below test nothing.
        assert!(
            !inputs(target.name).is_empty(),
            "the corpus of target {} is empty: run bench/fuzz",
            target.name
        );
    }
    for entry in std::fs::read_dir(corpus_root()).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(
            checks::TARGETS.iter().any(|t| t.name == name),
            "corpus folder {name} belongs to no target in fuzz/src/lib.rs"
        );
    }
}

#[test]
fn the_regression_corpus_passes_every_check() {
    let mut failed = Vec::new();
    let mut replayed = 0;
    for target in checks::TARGETS {
        for path in inputs(target.name) {
            let data = std::fs::read(&path).unwrap();
            if catch_unwind(AssertUnwindSafe(|| (target.check)(&data))).is_err() {
                failed.push(path.display().to_string());
            }
            replayed += 1;
        }
    }
    assert!(
        failed.is_empty(),
        "inputs that fail their check: {failed:#?}"
    );
    eprintln!("{replayed} corpus inputs passed");
}
