//! pprof's frame pruning: a profile's `drop_frames`/`keep_frames` regexps
//! remove allocator internals (and everything they call) from its stacks.
//!
//! `go tool pprof` applies these rules to every profile it loads
//! (`Profile.RemoveUninteresting` in pprof's `profile/prune.go`); Go's legacy
//! text heap profiles carry them, so a table that skipped them would disagree
//! with pprof. Pruning here does not modify the profile: it computes, per
//! location, how many inlined frames to skip, and per sample, how many
//! leaf-side locations to skip — which the aggregation then honours.

use regex::Regex;

use crate::{IdIndex, Profile};

/// Why pruning rules could not be compiled.
#[derive(Debug, thiserror::Error)]
pub enum PruneError {
    /// `drop_frames` or `keep_frames` is not a valid regular expression.
    #[error("the profile's {field} is not a valid regular expression ({pattern:?}): {reason}")]
    BadRegex {
        /// `drop_frames` or `keep_frames`.
        field: &'static str,
        /// The pattern as stored in the profile.
        pattern: String,
        /// What the regex compiler said.
        reason: String,
    },
}

/// The compiled `drop_frames`/`keep_frames` of a profile.
#[derive(Debug, Clone)]
pub struct PruneRules {
    drop: Regex,
    keep: Option<Regex>,
}

impl PruneRules {
    /// The rules of `profile`, or `None` when it has no `drop_frames` (pprof
    /// ignores `keep_frames` alone).
    pub fn of(profile: &Profile) -> Result<Option<PruneRules>, PruneError> {
        PruneRules::from_patterns(
            profile.str(profile.drop_frames),
            profile.str(profile.keep_frames),
        )
    }

    /// Compiles the rules from the two patterns; an empty `drop` means none.
    /// Like pprof, each pattern must match a whole (simplified) function name.
    pub fn from_patterns(drop: &str, keep: &str) -> Result<Option<PruneRules>, PruneError> {
        if drop.is_empty() {
            return Ok(None);
        }
        let drop = compile("drop_frames", drop)?;
        let keep = if keep.is_empty() {
            None
        } else {
            Some(compile("keep_frames", keep)?)
        };
        Ok(Some(PruneRules { drop, keep }))
    }

    /// Whether frames of a function named `name` are dropped, together with
    /// everything they call.
    pub fn drops(&self, name: &str) -> bool {
        let simple = simplify_function_name(name);
        self.drop.is_match(simple) && !self.keep.as_ref().is_some_and(|k| k.is_match(simple))
    }
}

fn compile(field: &'static str, pattern: &str) -> Result<Regex, PruneError> {
    Regex::new(&format!("^({pattern})$")).map_err(|e| PruneError::BadRegex {
        field,
        pattern: pattern.to_owned(),
        reason: e.to_string(),
    })
}

/// Names whose parentheses are part of the name, not an argument list.
const RESERVED: [&str; 2] = ["(anonymous namespace)", "operator()"];

/// pprof's `simplifyFunc`: strips a leading `.` (PPC ELF v1) and cuts the
/// name at the first `(` that does not belong to a reserved name. Note that
/// this turns Go's `main.(*cache).get` into `main.` — pprof matches the
/// rules against that, so we do too.
pub fn simplify_function_name(name: &str) -> &str {
    let name = name.strip_prefix('.').unwrap_or(name);
    let bytes = name.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let rest = &name[i..];
        if let Some(r) = RESERVED.iter().find(|r| rest.starts_with(**r)) {
            i += r.len();
            continue;
        }
        if bytes[i] == b'(' {
            return &name[..i];
        }
        // By whole characters: names from a binary may be any UTF-8.
        i += rest.chars().next().map_or(1, char::len_utf8);
    }
    name
}

/// What pruning does to one location.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LocationPrune {
    /// Nothing matched.
    #[default]
    Keep,
    /// A frame matched: keep only `lines[skip..]` (the callers of the
    /// matched frame within this location), and cut the stack below it.
    Beneath {
        /// How many innermost lines to skip.
        skip: u32,
    },
    /// The outermost frame matched: the whole location goes.
    Whole,
}

impl LocationPrune {
    /// Decides for one location from whether each of its lines' function
    /// is dropped by the rules (innermost line first; a line without a
    /// function, or with an empty name, never is).
    pub fn decide(
        dropped: impl DoubleEndedIterator<Item = bool> + ExactSizeIterator,
    ) -> LocationPrune {
        let n = dropped.len();
        // Scan from the outermost frame inwards; the first match decides.
        for (k, dropped) in dropped.rev().enumerate() {
            let i = n - 1 - k;
            if dropped {
                return if i == n - 1 {
                    LocationPrune::Whole
                } else {
                    LocationPrune::Beneath { skip: i as u32 + 1 }
                };
            }
        }
        LocationPrune::Keep
    }

    /// How many innermost lines of the location to skip.
    pub fn skipped_lines(self) -> usize {
        match self {
            LocationPrune::Beneath { skip } => skip as usize,
            _ => 0,
        }
    }
}

/// What `rules` do to each location of `profile`, in the order of
/// `profile.locations`; `functions` is the profile's function index.
///
/// Everything that draws or counts pruned stacks (the tables of
/// [`crate::aggregate`] and [`crate::diff`], leakwatch's flame graph) takes
/// its decisions from here, so they cannot disagree about a frame.
pub fn location_decisions(
    profile: &Profile,
    functions: &IdIndex,
    rules: &PruneRules,
) -> Vec<LocationPrune> {
    let mut drops: Vec<Option<bool>> = vec![None; profile.functions.len()];
    profile
        .locations
        .iter()
        .map(|loc| {
            let dropped = loc.lines.iter().map(|l| {
                let Some(fi) = functions.get(l.function_id) else {
                    return false;
                };
                // Cache the verdict per function: a function has many
                // locations, and the regex is the costly part.
                *drops[fi].get_or_insert_with(|| {
                    let name = profile.str(profile.functions[fi].name);
                    !name.is_empty() && rules.drops(name)
                })
            });
            LocationPrune::decide(dropped)
        })
        .collect()
}

/// How many leaf-side locations of a stack to skip, given each location's
/// decision (`stack` is leaf first, as in a sample). Frames before the first
/// kept frame from the root are never pruned, so that a stack made only of
/// matching frames does not vanish.
pub fn stack_start(
    stack: impl DoubleEndedIterator<Item = LocationPrune> + ExactSizeIterator,
) -> usize {
    let n = stack.len();
    let mut found_user = false;
    for (k, decision) in stack.rev().enumerate() {
        let i = n - 1 - k;
        match decision {
            LocationPrune::Keep => found_user = true,
            _ if !found_user => {}
            LocationPrune::Whole => return i + 1,
            LocationPrune::Beneath { .. } => return i,
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simplify_cuts_argument_lists_but_not_reserved_names() {
        assert_eq!(simplify_function_name("main.(*cache).get"), "main.");
        assert_eq!(simplify_function_name(".foo(int)"), "foo");
        assert_eq!(
            simplify_function_name("(anonymous namespace)::f(int)"),
            "(anonymous namespace)::f"
        );
        assert_eq!(
            simplify_function_name("A::operator()(int)"),
            "A::operator()"
        );
        assert_eq!(
            simplify_function_name("runtime.mallocgc"),
            "runtime.mallocgc"
        );
        assert_eq!(simplify_function_name("main.größe(x)"), "main.größe");
        assert_eq!(simplify_function_name("\u{fffd}é"), "\u{fffd}é");
    }

    #[test]
    fn rules_match_whole_names_and_keep_overrides() {
        let r = PruneRules::from_patterns("runtime\\..*|malloc", "runtime\\.keepme")
            .unwrap()
            .unwrap();
        assert!(r.drops("runtime.mallocgc"));
        assert!(!r.drops("runtime.keepme"));
        assert!(r.drops("malloc"));
        assert!(!r.drops("xmalloc"), "patterns are anchored");
        assert!(PruneRules::from_patterns("", "x").unwrap().is_none());
    }

    #[test]
    fn bad_regex_is_an_error_naming_the_field() {
        let e = PruneRules::from_patterns("a(", "").unwrap_err();
        assert!(e.to_string().contains("drop_frames"), "{e}");
    }

    #[test]
    fn location_and_stack_decisions_follow_pprof() {
        // [malloc(inlined), caller]: the malloc line goes, the caller stays.
        let d = LocationPrune::decide([true, false].into_iter());
        assert_eq!(d, LocationPrune::Beneath { skip: 1 });
        let d = LocationPrune::decide([false, true].into_iter());
        assert_eq!(d, LocationPrune::Whole);
        use LocationPrune::*;
        // leaf first: [Whole(malloc), Keep(main)] → drop the leaf.
        assert_eq!(stack_start([Whole, Keep].into_iter()), 1);
        // [Keep(memset), Beneath, Keep(main)] → start at the Beneath location.
        assert_eq!(
            stack_start([Keep, Beneath { skip: 1 }, Keep].into_iter()),
            1
        );
        // All matching: nothing is pruned.
        assert_eq!(stack_start([Whole, Whole].into_iter()), 0);
    }
}
