//! Decoding: sniff the format (gzip, protobuf, Go legacy text) and build a
//! validated [`Profile`].
//!
//! Formats, in the order they are recognized:
//! - gzip (one or more concatenated members), decompressed under
//!   [`Limits::max_decompressed`] and sniffed again;
//! - Go text profiles: `heap profile: …` ([`text`]'s heap parser) and
//!   `goroutine profile: total N` (any `NAME profile: total N` count profile);
//! - pprof protobuf ([`proto`]).

mod proto;
mod text;
mod wire;

use std::io::Read;

use flate2::read::MultiGzDecoder;

use crate::{validate, DecodeError, Profile};

/// Resource limits for decoding untrusted input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// Decodes a profile in any supported format and validates it.
///
/// The error names the defect but not the source: callers prefix the file
/// or URL.
pub fn decode(bytes: &[u8], limits: &Limits) -> Result<Profile, DecodeError> {
    if bytes.is_empty() {
        return Err(DecodeError::Empty);
    }
    if is_gzip(bytes) {
        let inner = gunzip(bytes, limits)?;
        if inner.is_empty() {
            return Err(DecodeError::Empty);
        }
        return decode_uncompressed(&inner);
    }
    decode_uncompressed(bytes)
}

fn decode_uncompressed(bytes: &[u8]) -> Result<Profile, DecodeError> {
    if let Some(kind) = text::sniff(bytes) {
        let profile = text::parse(bytes, kind)?;
        validate::validate(&profile)?;
        Ok(profile)
    } else if proto::plausible_start(bytes[0]) {
        let (profile, location_range) = proto::decode_profile(bytes)?;
        validate::validate_with(&profile, Some(location_range))?;
        Ok(profile)
    } else {
        Err(DecodeError::UnknownFormat {
            start: describe_start(bytes),
        })
    }
}

/// Whether `bytes` start with the gzip magic number.
pub fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x1f, 0x8b])
}

/// Decompresses all gzip members of `bytes`, refusing to produce more than
/// `limits.max_decompressed` bytes.
pub fn gunzip(bytes: &[u8], limits: &Limits) -> Result<Vec<u8>, DecodeError> {
    let limit = limits.max_decompressed;
    let mut out = Vec::with_capacity(size_hint(bytes, limit));
    // Reading one byte past the limit tells "exactly at the limit" from "over".
    let mut reader = MultiGzDecoder::new(bytes).take(limit.saturating_add(1));
    reader
        .read_to_end(&mut out)
        .map_err(|e| DecodeError::Gzip {
            detail: e.to_string(),
        })?;
    if out.len() as u64 > limit {
        return Err(DecodeError::TooLarge { limit });
    }
    Ok(out)
}

/// Capacity to reserve for the decompressed data. The gzip trailer's ISIZE
/// (size mod 2^32 of the last member) is a hint from the input, so it is
/// used only when it is possible for deflate (at most ~1032:1), within the
/// limit, and at most 128 MiB; beyond that the vector grows as data
/// actually arrives, so a lying trailer cannot reserve gigabytes.
fn size_hint(bytes: &[u8], limit: u64) -> usize {
    const MAX_RATIO: u64 = 1032;
    const MAX_HINT: u64 = 128 << 20;
    let limit = limit.min(MAX_HINT);
    let Some(tail) = bytes.len().checked_sub(4).map(|at| &bytes[at..]) else {
        return 0;
    };
    let isize = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
    let plausible = isize <= (bytes.len() as u64).saturating_mul(MAX_RATIO);
    if plausible && isize <= limit {
        isize as usize
    } else {
        bytes.len().saturating_mul(4).min(limit as usize)
    }
}

/// The first bytes of unrecognized input, as text when they are printable
/// and as hex otherwise.
fn describe_start(bytes: &[u8]) -> String {
    let head = &bytes[..bytes.len().min(16)];
    let printable = head
        .iter()
        .all(|&b| b.is_ascii_graphic() || b == b' ' || b == b'\t' || b == b'\n');
    if printable {
        format!("{:?}", String::from_utf8_lossy(head))
    } else {
        let hex: Vec<String> = head.iter().map(|b| format!("{b:02x}")).collect();
        format!("bytes {}", hex.join(" "))
    }
}
