//! Reading the protobuf wire format: varints, field keys and
//! length-delimited payloads, every length checked against the bytes left.

use crate::DecodeError;

/// Wire type of varint fields (`int64`, `uint64`, `bool`).
pub(crate) const VARINT: u8 = 0;
/// Wire type of 64-bit fixed fields.
pub(crate) const FIXED64: u8 = 1;
/// Wire type of length-delimited fields (messages, strings, packed).
pub(crate) const LEN: u8 = 2;
/// Wire type of 32-bit fixed fields.
pub(crate) const FIXED32: u8 = 5;

/// A cursor over one message's bytes. `base` is the absolute offset of
/// `buf[0]` in the whole protobuf, so errors point at the right byte.
pub(crate) struct Wire<'a> {
    buf: &'a [u8],
    pos: usize,
    base: usize,
}

/// A decoded field key.
#[derive(Clone, Copy)]
pub(crate) struct Key {
    pub field: u64,
    pub wire_type: u8,
    /// Absolute offset of the key, for error messages.
    pub offset: usize,
}

impl<'a> Wire<'a> {
    pub(crate) fn new(buf: &'a [u8], base: usize) -> Self {
        Wire { buf, pos: 0, base }
    }

    #[inline]
    pub(crate) fn at_end(&self) -> bool {
        self.pos >= self.buf.len()
    }

    /// Absolute offset of the cursor.
    #[inline]
    pub(crate) fn offset(&self) -> usize {
        self.base + self.pos
    }

    #[inline(always)]
    pub(crate) fn varint(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        // One-byte varints dominate (small ids, string indices), so they get
        // a branch of their own.
        if let Some(&b) = self.buf.get(self.pos) {
            if b < 0x80 {
                self.pos += 1;
                return Ok(u64::from(b));
            }
        }
        self.varint_slow(what)
    }

    fn varint_slow(&mut self, what: &'static str) -> Result<u64, DecodeError> {
        let start = self.pos;
        let mut value = 0u64;
        let mut shift = 0u32;
        loop {
            let Some(&b) = self.buf.get(self.pos) else {
                return Err(truncated(what, self.base + start));
            };
            self.pos += 1;
            value |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(value);
            }
            shift += 7;
            if shift >= 70 {
                return Err(DecodeError::VarintTooLong {
                    what,
                    offset: self.base + start,
                });
            }
        }
    }

    /// The next field key, or an error for field 0 or a wire type
    /// protobuf does not define (3 and 4, the deprecated groups, included).
    #[inline]
    pub(crate) fn key(&mut self, message: &'static str) -> Result<Key, DecodeError> {
        let offset = self.offset();
        let raw = self.varint(message)?;
        let field = raw >> 3;
        let wire_type = (raw & 7) as u8;
        if field == 0 || !matches!(wire_type, VARINT | FIXED64 | LEN | FIXED32) {
            return Err(DecodeError::BadKey {
                message,
                field,
                wire_type,
                offset,
            });
        }
        Ok(Key {
            field,
            wire_type,
            offset,
        })
    }

    /// A length-delimited payload and its absolute offset; `key_offset`
    /// (where the field starts) is what errors point at.
    #[inline]
    pub(crate) fn bytes(
        &mut self,
        what: &'static str,
        key_offset: usize,
    ) -> Result<(&'a [u8], usize), DecodeError> {
        let start = key_offset;
        let len = self.varint(what)?;
        let left = self.buf.len() - self.pos;
        if len > left as u64 {
            return Err(truncated(what, start));
        }
        let len = len as usize;
        let at = self.pos;
        self.pos += len;
        Ok((&self.buf[at..at + len], self.base + at))
    }

    /// Skips an unknown field's payload.
    pub(crate) fn skip(&mut self, key: Key, what: &'static str) -> Result<(), DecodeError> {
        let width = match key.wire_type {
            VARINT => return self.varint(what).map(drop),
            LEN => return self.bytes(what, key.offset).map(drop),
            FIXED64 => 8,
            _ => 4,
        };
        if self.buf.len() - self.pos < width {
            return Err(truncated(what, key.offset));
        }
        self.pos += width;
        Ok(())
    }
}

#[cold]
pub(crate) fn truncated(what: &'static str, offset: usize) -> DecodeError {
    DecodeError::Truncated { what, offset }
}

#[cold]
pub(crate) fn wire_type(what: &'static str, key: Key, expected: &'static str) -> DecodeError {
    DecodeError::WireType {
        what,
        wire_type: key.wire_type,
        expected,
        offset: key.offset,
    }
}

/// Appends the varints of a packed repeated field to `out`, sized from the
/// payload first: a varint ends at each byte below 0x80, so the count is
/// exact and bounded by the input, never by a claimed length.
///
/// Sample stacks are packed fields, and reading them is most of the time
/// a scan takes: so the bytes are read in one tight loop, and only a
/// defective field is read again by [`Wire::varint`], for its error.
#[inline]
pub(crate) fn packed<T>(
    data: &[u8],
    base: usize,
    what: &'static str,
    out: &mut Vec<T>,
    convert: impl Fn(u64) -> T,
) -> Result<(), DecodeError> {
    let count = data.iter().filter(|&&b| b < 0x80).count();
    out.reserve(count);
    let before = out.len();
    if count == data.len() {
        // Every varint is one byte: small ids, the common case.
        out.extend(data.iter().map(|&b| convert(u64::from(b))));
        return Ok(());
    }
    let (mut value, mut shift) = (0u64, 0u32);
    for &b in data {
        value |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            out.push(convert(value));
            (value, shift) = (0, 0);
        } else {
            shift += 7;
            if shift >= 70 {
                break;
            }
        }
    }
    if shift == 0 {
        return Ok(());
    }
    out.truncate(before);
    let mut w = Wire::new(data, base);
    while !w.at_end() {
        out.push(convert(w.varint(what)?));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_of_every_length_decode() {
        for v in [0u64, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
            let mut buf = Vec::new();
            let mut x = v;
            while x >= 0x80 {
                buf.push((x as u8) | 0x80);
                x >>= 7;
            }
            buf.push(x as u8);
            assert_eq!(Wire::new(&buf, 0).varint("t").unwrap(), v);
        }
    }

    #[test]
    fn packed_fields_decode_as_varint_by_varint() {
        let encode = |values: &[u64]| {
            let mut buf = Vec::new();
            for &v in values {
                let mut x = v;
                while x >= 0x80 {
                    buf.push((x as u8) | 0x80);
                    x >>= 7;
                }
                buf.push(x as u8);
            }
            buf
        };
        let slow = |data: &[u8]| {
            let mut w = Wire::new(data, 5);
            let mut out = Vec::new();
            while !w.at_end() {
                out.push(w.varint("t")?);
            }
            Ok(out)
        };
        let fast = |data: &[u8]| {
            let mut out = vec![9u64];
            packed(data, 5, "t", &mut out, |v| v).map(|()| out[1..].to_vec())
        };
        let cases: Vec<Vec<u8>> = vec![
            encode(&[1, 2, 3, 127]),
            encode(&[1, 300, 70_000, u64::MAX, 0]),
            [encode(&[1, 2]), vec![0x80]].concat(),
            [encode(&[7]), vec![0xff; 11]].concat(),
            vec![],
        ];
        for data in cases {
            assert_eq!(fast(&data), slow(&data), "{data:?}");
        }
    }

    #[test]
    fn overlong_and_truncated_varints_are_errors() {
        let long = [0xffu8; 11];
        assert!(matches!(
            Wire::new(&long, 0).varint("t"),
            Err(DecodeError::VarintTooLong { .. })
        ));
        assert!(matches!(
            Wire::new(&[0x80, 0x80], 5).varint("t"),
            Err(DecodeError::Truncated { offset: 5, .. })
        ));
    }

    #[test]
    fn lengths_past_the_end_are_refused_before_slicing() {
        // Claims 2^62 bytes with 1 byte present.
        let buf = [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40, 0x00];
        assert!(matches!(
            Wire::new(&buf, 0).bytes("t", 0),
            Err(DecodeError::Truncated { .. })
        ));
    }
}
