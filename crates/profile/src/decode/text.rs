//! Go's legacy text profiles (`?debug=1`): heap and count profiles.

use crate::{DecodeError, Profile};

/// Which text profile the input looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(dead_code)] // constructed once the text parsers land
pub(crate) enum Kind {
    /// `heap profile: N: M [A: B] @ heap/R`
    Heap,
    /// `NAME profile: total N` (goroutine, threadcreate, …)
    Count,
}

/// Recognizes a Go text profile by its first meaningful line.
pub(crate) fn sniff(bytes: &[u8]) -> Option<Kind> {
    let _ = bytes;
    None
}

/// Parses a text profile of the sniffed kind.
pub(crate) fn parse(bytes: &[u8], kind: Kind) -> Result<Profile, DecodeError> {
    let _ = (bytes, kind);
    Err(DecodeError::TextLine {
        line: 1,
        problem: "text profiles are not supported yet".into(),
    })
}
