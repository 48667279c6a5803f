//! From a recording to a verdict: series, trend statistics, attribution.

pub mod growth;
pub mod sites;
pub mod stats;
