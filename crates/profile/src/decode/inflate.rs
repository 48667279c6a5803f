//! Whole-buffer gzip inflate with libdeflate: the fast path of
//! [`super::gunzip`].
//!
//! libdeflate inflates about twice as fast as a streaming inflater, but only
//! into a buffer that already has the decompressed size. That size is
//! taken from the gzip trailer (ISIZE, the size mod 2^32 of the last
//! member), which is input and may lie; so the fast path is only a first
//! try. It is taken when ISIZE is possible for deflate, within the limit
//! and at most [`MAX_FAST`]; it succeeds only when the input is exactly one
//! member whose data fills the buffer exactly and whose CRC matches.
//! Everything else — several members, a trailer that lies, corrupt data, a
//! bomb — returns `None`, and the streaming path decides, with the errors
//! and the memory bounds it always had.

use std::ffi::c_void;
use std::ptr::NonNull;

use libdeflate_sys::{
    libdeflate_alloc_decompressor, libdeflate_decompressor, libdeflate_free_decompressor,
    libdeflate_gzip_decompress_ex, libdeflate_result_LIBDEFLATE_SUCCESS,
};

/// Largest ISIZE the fast path allocates for: what the streaming path
/// holds before it starts to suspect a bomb (its stage), so that a lying
/// trailer costs no more memory here than there.
pub(super) const MAX_FAST: u64 = super::STAGE;

/// Deflate's best ratio is about 1032:1; an ISIZE beyond it is a lie.
const MAX_RATIO: u64 = 1032;

/// gzip's fixed header (10 bytes) and trailer (8 bytes).
const MIN_MEMBER: usize = 18;

/// The decompressed bytes of `gz` when it is one gzip member whose trailer
/// tells its size truly, within `limit`; `None` when the streaming path
/// must decide.
pub(super) fn whole(gz: &[u8], limit: u64) -> Option<Vec<u8>> {
    let size = trailer_size(gz)?;
    if size == 0 || size > limit.min(MAX_FAST) {
        return None;
    }
    // Zeroed pages are mapped lazily: a trailer that lies within the bounds
    // above costs address space, not resident memory, until written.
    let mut out = vec![0u8; size as usize];
    let used = Decompressor::new()?.gzip(gz, &mut out)?;
    (used.input == gz.len() && used.output == out.len()).then_some(out)
}

/// The trailer's ISIZE, when possible for deflate given the input's size.
fn trailer_size(gz: &[u8]) -> Option<u64> {
    if gz.len() < MIN_MEMBER {
        return None;
    }
    let tail: [u8; 4] = gz[gz.len() - 4..].try_into().ok()?;
    let size = u64::from(u32::from_le_bytes(tail));
    (size <= (gz.len() as u64).saturating_mul(MAX_RATIO)).then_some(size)
}

/// Bytes consumed and produced by one member.
struct Used {
    input: usize,
    output: usize,
}

/// An owned libdeflate decompressor (about 32 KiB of tables).
struct Decompressor(NonNull<libdeflate_decompressor>);

impl Decompressor {
    fn new() -> Option<Self> {
        // SAFETY: no preconditions; NULL (out of memory) is checked.
        NonNull::new(unsafe { libdeflate_alloc_decompressor() }).map(Decompressor)
    }

    /// Inflates the first gzip member of `gz` into `out`, checking its CRC
    /// and ISIZE; `None` on bad data or when `out` is too small.
    fn gzip(&mut self, gz: &[u8], out: &mut [u8]) -> Option<Used> {
        let (mut input, mut output) = (0usize, 0usize);
        // SAFETY: the pointers and lengths come from live slices that
        // outlive the call, libdeflate writes at most `out.len()` bytes,
        // and the decompressor is exclusively borrowed.
        let result = unsafe {
            libdeflate_gzip_decompress_ex(
                self.0.as_ptr(),
                gz.as_ptr().cast::<c_void>(),
                gz.len(),
                out.as_mut_ptr().cast::<c_void>(),
                out.len(),
                &mut input,
                &mut output,
            )
        };
        (result == libdeflate_result_LIBDEFLATE_SUCCESS).then_some(Used { input, output })
    }
}

impl Drop for Decompressor {
    fn drop(&mut self) {
        // SAFETY: allocated by libdeflate_alloc_decompressor, freed once.
        unsafe { libdeflate_free_decompressor(self.0.as_ptr()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(data).unwrap();
        gz.finish().unwrap()
    }

    fn text(n: usize) -> Vec<u8> {
        (0..n).map(|i| b"leak watch "[i % 11]).collect()
    }

    #[test]
    fn one_member_is_inflated_whole() {
        let data = text(100_000);
        assert_eq!(whole(&gzip(&data), 1 << 20).unwrap(), data);
    }

    #[test]
    fn several_members_are_left_to_the_streaming_path() {
        // The same member twice: the first alone matches the last trailer.
        let one = gzip(&text(5000));
        let two = [one.clone(), one].concat();
        assert_eq!(whole(&two, 1 << 20), None);
    }

    #[test]
    fn lying_trailers_and_limits_fall_back() {
        let data = text(100_000);
        let gz = gzip(&data);
        let n = gz.len();
        for claim in [99_999u32, 100_001, 1, 0, u32::MAX] {
            let mut lie = gz.clone();
            lie[n - 4..].copy_from_slice(&claim.to_le_bytes());
            assert_eq!(whole(&lie, 1 << 30), None, "{claim}");
        }
        // Over the limit: the streaming path refuses it, with its error.
        assert_eq!(whole(&gz, 99_999), None);
        assert_eq!(whole(&gz, 100_000).unwrap().len(), 100_000);
        // Corrupt data.
        let mut bad = gz.clone();
        bad[n / 2] ^= 0xff;
        assert_eq!(whole(&bad, 1 << 30), None);
        assert_eq!(whole(&gz[..10], 1 << 30), None);
    }
}
