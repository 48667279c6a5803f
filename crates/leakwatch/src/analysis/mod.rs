//! From a recording to a verdict: series, trend statistics, attribution.
//!
//! [`series`] extracts what was observed, [`stats`] and [`growth`] decide
//! whether a series grows, [`sites`] names where, and [`verdict`] combines
//! them into the `leakwatch.verdict/1` document. `docs/method.md` explains
//! the method and its references.

pub mod growth;
pub mod series;
pub mod sites;
pub mod stats;
pub mod verdict;

pub use series::{observe, Observations};
pub use verdict::{decide, Decision, Options, Verdict};
