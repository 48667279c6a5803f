//! Errors of decoding and validating a profile.

/// Why bytes could not become a [`crate::Profile`]. The messages name the
/// defect; callers add the file or URL.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The input is empty.
    #[error("empty input: no profile data")]
    Empty,
    /// Anything else; to be split into precise variants.
    #[error("{0}")]
    Other(String),
}
