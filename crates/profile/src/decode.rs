//! Decoding: sniff the format (gzip, protobuf, Go legacy text) and build a
//! validated [`Profile`].

use crate::{DecodeError, Profile};

/// Resource limits for decoding untrusted input.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest decompressed size accepted, in bytes (a gzip bomb stops here).
    pub max_decompressed: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_decompressed: 2 << 30,
        }
    }
}

/// Decodes a profile in any supported format.
pub fn decode(bytes: &[u8], _limits: &Limits) -> Result<Profile, DecodeError> {
    if bytes.is_empty() {
        return Err(DecodeError::Empty);
    }
    Err(DecodeError::Other("not implemented yet".into()))
}
