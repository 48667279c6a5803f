//! What the target looks like now: its memory as the kernel accounts it
//! (`/proc`, the cgroup) and its profiles as its pprof endpoint serves them.
//!
//! Everything here reads one snapshot and returns; scheduling, retrying and
//! recording belong to the caller.

pub mod cgroup;
pub mod http;
pub mod metrics;
pub mod proc;
