//! Go's own proof of leaked goroutines: the `goroutineleak` profile (Go
//! 1.26+, `GOEXPERIMENT=goroutineleakprofile`) lists the goroutines the
//! garbage collector found blocked on channels, mutexes or wait groups that
//! nothing reachable can ever unblock. Unlike a rising count, which needs a
//! window long enough for a trend, one such goroutine is a leak.

use super::sites::{self, Frame, ProfileKind as SiteKind};
use crate::recording::{ProfileKind, Recording};

/// What the latest readable goroutine leak profile of a recording says.
#[derive(Debug, Clone, PartialEq)]
pub struct LeakProof {
    /// Seconds since the window's start when it was taken.
    pub t: f64,
    /// Leaked goroutines it lists (0: the detector found none).
    pub total: u64,
    /// Where they are blocked, most first: the function (runtime frames
    /// left out, as for goroutine profiles), how many, and the call chain,
    /// leaf first.
    pub sites: Vec<(String, u64, Vec<Frame>)>,
}

/// The latest goroutine leak profile of `rec` that can be read; `None`
/// when the recording has none. Profiles that cannot be read are added to
/// `unreadable` (file: error).
pub fn observe(rec: &Recording, unreadable: &mut Vec<String>) -> Option<LeakProof> {
    let entries: Vec<_> = rec.profiles_of(ProfileKind::GoroutineLeak).collect();
    // Leaked goroutines never recover, so the newest profile holds them
    // all (of the current process); older ones are read only when it
    // cannot be.
    for entry in entries.iter().rev() {
        let path = rec.profile_path(entry);
        let reduced = std::fs::read(&path)
            .map_err(|e| e.to_string())
            .and_then(|bytes| {
                leakwatch_profile::decode(&bytes, &leakwatch_profile::Limits::default())
                    .map_err(|e| e.to_string())
            })
            .and_then(|p| sites::reduce(&p, SiteKind::Goroutine, true));
        match reduced {
            Ok(mut r) => {
                let mut sites: Vec<(String, u64, Vec<Frame>)> = r
                    .sites
                    .iter()
                    .filter(|(_, v)| v.value > 0)
                    .map(|(name, v)| {
                        let chain = r.chains.remove(name).unwrap_or_default();
                        (name.clone(), v.value as u64, chain)
                    })
                    .collect();
                sites.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                return Some(LeakProof {
                    t: entry.time.seconds_since(rec.meta.start),
                    total: r.total.max(0) as u64,
                    sites,
                });
            }
            Err(e) => unreadable.push(format!("{}: {e}", path.display())),
        }
    }
    None
}
