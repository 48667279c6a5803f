//! Helpers shared by the profile library's integration tests: fixtures,
//! the Go fixture generator (built once per run), and `go tool pprof` as
//! the oracle.

#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use leakwatch_profile::aggregate::{aggregate, AggregateError, Options};
use leakwatch_profile::{decode, scan, DecodeError, Limits, Profile, SampleSource};

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A file under `testdata/profiles/` (see `testdata/gen-fixtures`).
pub fn fixture(name: &str) -> Vec<u8> {
    let path = repo_root().join("testdata/profiles").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

pub fn decode_fixture(name: &str) -> Profile {
    decode(&fixture(name), &Limits::default()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Total of sample type `index` over all samples.
pub fn total(p: &Profile, index: usize) -> i64 {
    p.samples.iter().map(|s| s.values[index]).sum()
}

/// Names of the functions of `p`.
pub fn function_names(p: &Profile) -> std::collections::BTreeSet<String> {
    p.functions
        .iter()
        .map(|f| p.str(f.name).to_owned())
        .collect()
}

fn go() -> Command {
    let mut c = Command::new("go");
    c.env("GOTOOLCHAIN", "local").env("GOFLAGS", "");
    c
}

/// The total `go tool pprof -top -unit=B` reports for `sample_index`.
pub fn pprof_total(file: &Path, sample_index: &str) -> i64 {
    let out = go()
        .args(["tool", "pprof", "-top", "-unit=B"])
        .arg(format!("-sample_index={sample_index}"))
        .arg(file)
        .output()
        .expect("running `go tool pprof` (is Go installed? scripts/test installs it)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "go tool pprof failed on {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    // "Showing nodes accounting for 12137B, 99.48% of 12200B total"
    let line = stdout
        .lines()
        .find(|l| l.ends_with(" total"))
        .unwrap_or_else(|| panic!("no total in pprof output:\n{stdout}"));
    let word = line.split_whitespace().rev().nth(1).unwrap();
    word.trim_end_matches('B').parse().unwrap()
}

/// A directory with profiles freshly written by the fixture generator,
/// built once per test run into `target/go-bin/gen-fixtures`.
pub fn fresh_profiles() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = repo_root();
        let bin_dir = root.join("target/go-bin");
        std::fs::create_dir_all(&bin_dir).unwrap();
        let bin = bin_dir.join("gen-fixtures");
        let status = go()
            .current_dir(root.join("testdata/gen-fixtures"))
            .args(["build", "-o"])
            .arg(&bin)
            .arg(".")
            .status()
            .expect("running `go build` (is Go installed? scripts/test installs it)");
        assert!(status.success(), "go build of testdata/gen-fixtures failed");
        let dir = bin_dir.join("fresh-profiles");
        std::fs::create_dir_all(&dir).unwrap();
        let status = Command::new(&bin)
            .arg("-out")
            .arg(&dir)
            .arg("-scale")
            .arg("3")
            .status()
            .unwrap();
        assert!(status.success(), "gen-fixtures failed");
        dir
    })
}

/// The error of the scan path on `bytes`, if any: from `scan`, else from
/// reading the samples — where aggregation must report the same one.
pub fn scan_error(bytes: &[u8], limits: &Limits) -> Option<DecodeError> {
    let s = match scan(bytes.to_vec(), limits) {
        Ok(s) => s,
        Err(e) => return Some(e),
    };
    let from_samples = s.check_samples().err();
    if s.tables().sample_types.is_empty() {
        return from_samples;
    }
    let from_aggregate = match aggregate(&s, &Options::default()) {
        Err(AggregateError::Sample(e)) => Some(e),
        _ => None,
    };
    assert_eq!(
        from_aggregate, from_samples,
        "aggregation reported another defect"
    );
    from_samples
}
