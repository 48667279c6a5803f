//! Decoding: sniff the format (gzip, protobuf, Go legacy text) and build a
//! validated [`Profile`].
//!
//! Formats, in the order they are recognized:
//! - gzip (one or more concatenated members), decompressed under
//!   [`Limits::max_decompressed`] and sniffed again;
//! - Go text profiles: `heap profile: …` (the `text` module's heap parser),
//!   `goroutine profile: total N` (any `NAME profile: total N` count
//!   profile, `goroutineleak` included) and the mutex and block profiles
//!   (`--- mutex:`, `--- contention:`); the same heap parser reads
//!   gperftools' (tcmalloc's) heap profiles (`@ heapprofile`,
//!   `@ heap_v2/N`, growth profiles);
//! - jemalloc's `heap_v2/N` heap dumps (the `jemalloc` module);
//! - pprof protobuf (the `proto` module).
//!
//! A memory map at the end of a text profile (`MAPPED_LIBRARIES:`, as
//! jemalloc and gperftools write it) becomes the profile's mappings (the
//! `maps` module), so that addresses of position-independent executables
//! and shared libraries are symbolized right. Formats pprof reads and
//! leakwatch does not (threadz, C++ contention, legacy CPU, Java) are named in
//! the error, with how to convert them.
//!
//! [`decode()`] builds the whole model. [`scan::scan`] builds all of it
//! but the samples of a protobuf, which are read from the bytes when they
//! are asked for (see [`scan`](mod@scan)): what `top` and `diff` need, in
//! a fraction of the time and memory.

mod inflate;
mod jemalloc;
mod maps;
mod proto;
pub mod scan;
mod text;
mod wire;

use std::borrow::Cow;
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
    let compressed = is_gzip(bytes);
    let bytes = uncompressed(Cow::Borrowed(bytes), limits)?;
    match sniff(&bytes) {
        Format::Text(kind) => decode_text(&bytes, kind),
        Format::Protobuf => {
            let (profile, summary) = proto::decode_profile(&bytes)?;
            validate::validate_with(&profile, Some(summary))?;
            Ok(profile)
        }
        Format::Unknown => Err(unknown_format(&bytes, compressed)),
    }
}

/// `bytes`, decompressed when they are gzip; never empty.
fn uncompressed<'a>(bytes: Cow<'a, [u8]>, limits: &Limits) -> Result<Cow<'a, [u8]>, DecodeError> {
    if bytes.is_empty() {
        return Err(DecodeError::Empty);
    }
    if is_gzip(&bytes) {
        let inner = gunzip(&bytes, limits)?;
        if inner.is_empty() {
            return Err(DecodeError::Empty);
        }
        return Ok(Cow::Owned(inner));
    }
    Ok(bytes)
}

/// What uncompressed bytes hold.
enum Format {
    Text(text::Kind),
    Protobuf,
    Unknown,
}

fn sniff(bytes: &[u8]) -> Format {
    if let Some(kind) = text::sniff(bytes) {
        Format::Text(kind)
    } else if proto::plausible_start(bytes[0]) {
        Format::Protobuf
    } else {
        Format::Unknown
    }
}

fn decode_text(bytes: &[u8], kind: text::Kind) -> Result<Profile, DecodeError> {
    let profile = text::parse(bytes, kind)?;
    validate::validate(&profile)?;
    Ok(profile)
}

/// The error for bytes no reader takes: the format's name when it is one
/// pprof reads and leakwatch does not, otherwise their first bytes.
/// `compressed`: they came out of gzip.
fn unknown_format(bytes: &[u8], compressed: bool) -> DecodeError {
    if let Some(format) = unsupported_format(bytes) {
        return DecodeError::UnsupportedFormat { format };
    }
    let start = describe_start(bytes);
    if compressed {
        DecodeError::UnknownCompressedFormat { start }
    } else {
        DecodeError::UnknownFormat { start }
    }
}

/// Recognizes the legacy formats pprof reads that leakwatch does not, by
/// their headers as pprof's own readers recognize them.
fn unsupported_format(bytes: &[u8]) -> Option<&'static str> {
    let first = bytes
        .split(|&b| b == b'\n')
        .map(|l| l.trim_ascii())
        .find(|l| !l.is_empty())
        .unwrap_or(b"");
    let text: &[(&[u8], &'static str)] = &[
        (b"--- threadz", "a threadz profile"),
        (b"--- heapz 1 ---", "a Java heap profile"),
        (b"--- contentionz 1 ---", "a Java contention profile"),
        // Go's `--- contention:` and `--- mutex:` are read (the `text`
        // module); gperftools' headers differ after the word.
        (b"--- contentionz", "a legacy contention profile"),
        (
            b"--- contention",
            "a legacy contention profile (gperftools)",
        ),
        (
            b"--- symbol",
            "a symbolized legacy profile (`jeprof --raw` or `pprof -raw`)",
        ),
    ];
    if let Some((_, name)) = text.iter().find(|(head, _)| first.starts_with(head)) {
        return Some(name);
    }
    legacy_cpu(bytes)
}

/// gperftools' binary CPU profile (and its Java variant): a header of five
/// words `0, 3, 0 (C++) or 1 (Java), period, 0`, in 32 or 64 bits of
/// either byte order.
fn legacy_cpu(bytes: &[u8]) -> Option<&'static str> {
    for width in [4usize, 8] {
        if bytes.len() < 5 * width {
            continue;
        }
        for little in [true, false] {
            let word = |i: usize| {
                let w = &bytes[i * width..(i + 1) * width];
                let fold = |acc: u64, &b: &u8| acc << 8 | u64::from(b);
                if little {
                    w.iter().rev().fold(0, fold)
                } else {
                    w.iter().fold(0, fold)
                }
            };
            if word(0) == 0 && word(1) == 3 && word(3) > 0 && word(4) == 0 {
                match word(2) {
                    0 => return Some("a legacy CPU profile (gperftools' profiler)"),
                    1 => return Some("a Java CPU profile"),
                    _ => {}
                }
            }
        }
    }
    None
}

/// Whether `bytes` start with the gzip magic number.
pub fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x1f, 0x8b])
}

/// Decompresses all gzip members of `bytes`, refusing to produce more than
/// `limits.max_decompressed` bytes.
///
/// One member whose trailer tells its true size is inflated whole by
/// libdeflate (the `inflate` module); anything else, and any failure
/// there, goes through the streaming inflater, which gives the errors.
///
/// Memory stays bounded for bombs too: past 256 MiB of output, if
/// the data is far more compressed than profiles ever are, the rest is only
/// counted, not stored. A bomb is then refused having held at most
/// 256 MiB; genuine data that compressible is decompressed again
/// into a buffer of the now known size.
pub fn gunzip(bytes: &[u8], limits: &Limits) -> Result<Vec<u8>, DecodeError> {
    if let Some(out) = inflate::whole(bytes, limits.max_decompressed) {
        return Ok(out);
    }
    gunzip_staged(bytes, limits.max_decompressed, STAGE)
}

fn gunzip_staged(bytes: &[u8], limit: u64, stage: u64) -> Result<Vec<u8>, DecodeError> {
    let stage = limit.min(stage);
    let mut out = Vec::with_capacity(size_hint(bytes, limit));
    let mut decoder = MultiGzDecoder::new(bytes);
    // Reading one byte past a bound tells "exactly at it" from "over it".
    read_to_end_bounded(&mut decoder, stage, &mut out)?;
    if out.len() as u64 <= stage {
        return Ok(out);
    }
    if out.len() as u64 > limit {
        return Err(DecodeError::TooLarge { limit });
    }
    if out.len() as u64 / (bytes.len() as u64).max(1) < SUSPICIOUS_RATIO {
        read_to_end_bounded(&mut decoder, limit, &mut out)?;
        if out.len() as u64 > limit {
            return Err(DecodeError::TooLarge { limit });
        }
        return Ok(out);
    }
    let total = out.len() as u64 + count_bounded(&mut decoder, limit - out.len() as u64)?;
    if total > limit {
        return Err(DecodeError::TooLarge { limit });
    }
    out.clear();
    out.reserve_exact(total as usize);
    MultiGzDecoder::new(bytes)
        .read_to_end(&mut out)
        .map_err(gzip_error)?;
    Ok(out)
}

/// Output held before very compressible data is only counted.
const STAGE: u64 = 256 << 20;

/// Decompressed-to-compressed ratio above which data is treated as a
/// possible bomb. Profiles compress 3–20×; deflate cannot exceed ~1032×.
const SUSPICIOUS_RATIO: u64 = 64;

/// Appends from `r` to `out` until `out` holds `bound + 1` bytes or `r` ends.
fn read_to_end_bounded(
    r: &mut impl Read,
    bound: u64,
    out: &mut Vec<u8>,
) -> Result<(), DecodeError> {
    let want = (bound + 1).saturating_sub(out.len() as u64);
    r.take(want).read_to_end(out).map_err(gzip_error)?;
    Ok(())
}

/// Reads and discards up to `bound + 1` bytes of `r`, returning how many.
fn count_bounded(r: &mut impl Read, bound: u64) -> Result<u64, DecodeError> {
    let mut buf = vec![0u8; 1 << 18];
    let mut total = 0u64;
    while total <= bound {
        let n = r.read(&mut buf).map_err(gzip_error)?;
        if n == 0 {
            break;
        }
        total += n as u64;
    }
    Ok(total)
}

fn gzip_error(e: std::io::Error) -> DecodeError {
    DecodeError::Gzip {
        detail: e.to_string(),
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(data).unwrap();
        gz.finish().unwrap()
    }

    #[test]
    fn very_compressible_data_past_the_stage_is_counted_then_decompressed() {
        let data = vec![7u8; 300_000];
        let gz = gzip(&data);
        assert!(data.len() as u64 / gz.len() as u64 >= SUSPICIOUS_RATIO);
        // Within the limit: decompressed again, in full.
        assert_eq!(gunzip_staged(&gz, 1 << 20, 1000).unwrap(), data);
        // Exactly at the limit is fine, one byte less is not.
        assert_eq!(gunzip_staged(&gz, 300_000, 1000).unwrap().len(), 300_000);
        assert_eq!(
            gunzip_staged(&gz, 299_999, 1000).unwrap_err(),
            DecodeError::TooLarge { limit: 299_999 }
        );
    }

    #[test]
    fn ordinary_data_past_the_stage_is_kept() {
        // Pseudo-random bytes barely compress.
        let mut x = 1u32;
        let data: Vec<u8> = (0..200_000)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (x >> 16) as u8
            })
            .collect();
        let gz = gzip(&data);
        assert_eq!(gunzip_staged(&gz, 1 << 20, 1000).unwrap(), data);
        assert_eq!(
            gunzip_staged(&gz, 150_000, 1000).unwrap_err(),
            DecodeError::TooLarge { limit: 150_000 }
        );
    }

    #[test]
    fn size_hints_from_the_trailer_are_capped() {
        let gz = gzip(&[0u8; 1000]);
        assert_eq!(size_hint(&gz, 1 << 30), 1000);
        // A trailer claiming 4 GiB from a few bytes is not believed.
        let mut lie = gz.clone();
        let n = lie.len();
        lie[n - 4..].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(size_hint(&lie, 1 << 40) < 1 << 20);
    }
}
