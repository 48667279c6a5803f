//! From a recording to a verdict: series, trend statistics, attribution.
//!
//! [`series`] extracts what was observed, [`stats`] and [`growth`] decide
//! whether a series grows, [`sites`] names where, [`leak_proof`] reads Go's
//! own proof of leaked goroutines, and [`verdict`] combines
//! them into the `leakwatch.verdict/1` document. `docs/method.md` explains
//! the method and its references.

pub mod growth;
pub mod leak_proof;
pub mod series;
pub mod sites;
pub mod stats;
pub mod verdict;

pub use series::{observe, Observations};
pub use verdict::{decide, Decision, Options, Verdict};

/// A recording and what it says: the one path from a recording directory
/// to a verdict, for `analyze`, `check` and `demo` alike.
#[derive(Debug)]
pub struct Judgement {
    /// The recording read.
    pub recording: crate::recording::Recording,
    /// The series observed in it.
    pub observations: Observations,
    /// The verdict on them.
    pub verdict: Verdict,
}

/// Reads the recording in `dir` and decides.
pub fn judge(dir: &std::path::Path, opts: &Options) -> anyhow::Result<Judgement> {
    judge_until(dir, opts, None)
}

/// [`judge`] on the part of the recording up to `until` (`analyze
/// --until`), or on all of it.
pub fn judge_until(
    dir: &std::path::Path,
    opts: &Options,
    until: Option<crate::recording::Until>,
) -> anyhow::Result<Judgement> {
    use anyhow::Context;
    let mut recording =
        crate::recording::Recording::open(dir).context("cannot read the recording")?;
    if let Some(until) = until {
        recording
            .cut(until)
            .with_context(|| format!("cannot analyze {}", dir.display()))?;
    }
    let observations = observe(&recording);
    let verdict = decide(&observations, opts);
    Ok(Judgement {
        recording,
        observations,
        verdict,
    })
}
