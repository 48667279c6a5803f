//! Differences between two profiles with pprof's `-diff_base` semantics.
