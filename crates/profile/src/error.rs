//! Errors of decoding and validating a profile.
//!
//! Each variant is one concrete defect, and its message says what was found
//! where, so a user can tell a truncated download from a gzip bomb from a
//! profile written by a buggy exporter. Callers prefix the file or URL.

/// Why bytes could not become a [`crate::Profile`]. The messages name the
/// defect; callers add the file or URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The input is empty.
    #[error("empty input: no profile data")]
    Empty,
    /// Neither gzip, nor pprof protobuf, nor a Go text profile.
    #[error(
        "unrecognized profile format: not gzip, not pprof protobuf, not a Go text profile \
         (input starts with {start})"
    )]
    UnknownFormat {
        /// The first bytes of the input, escaped for display.
        start: String,
    },
    /// The gzip stream is corrupt or ends early.
    #[error("corrupt or truncated gzip data: {detail}")]
    Gzip {
        /// What the decompressor reported.
        detail: String,
    },
    /// Decompression would exceed [`crate::Limits::max_decompressed`].
    #[error(
        "decompressed size exceeds the {} limit (gzip bomb?); raise it with --max-decompressed",
        human_bytes(*limit)
    )]
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// A protobuf field runs past the end of its enclosing message.
    #[error("truncated protobuf: {what} at byte {offset} runs past the end of the data")]
    Truncated {
        /// The field or message being read, e.g. `Sample.location_id`.
        what: &'static str,
        /// Byte offset (in the decompressed protobuf) where it starts.
        offset: usize,
    },
    /// A varint longer than 10 bytes.
    #[error("malformed protobuf: varint in {what} at byte {offset} is longer than 10 bytes")]
    VarintTooLong {
        /// The field being read.
        what: &'static str,
        /// Byte offset of the varint.
        offset: usize,
    },
    /// A field key with field number 0 or an unknown wire type.
    #[error("malformed protobuf: invalid field key (field {field}, wire type {wire_type}) in {message} at byte {offset}")]
    BadKey {
        /// The message being read, e.g. `Profile`.
        message: &'static str,
        /// Field number from the key.
        field: u64,
        /// Wire type from the key.
        wire_type: u8,
        /// Byte offset of the key.
        offset: usize,
    },
    /// A known field encoded with the wrong wire type.
    #[error("malformed protobuf: {what} at byte {offset} has wire type {wire_type}, expected {expected}")]
    WireType {
        /// The field, e.g. `Profile.time_nanos`.
        what: &'static str,
        /// The wire type found.
        wire_type: u8,
        /// The wire type(s) the schema allows.
        expected: &'static str,
        /// Byte offset of the field key.
        offset: usize,
    },
    /// A string index so large no string table can hold it (or negative).
    #[error("malformed protobuf: {what} at byte {offset} refers to string {index}, which no string table can hold")]
    StringIndexHuge {
        /// The field holding the index.
        what: &'static str,
        /// The index as read (an `int64`, shown unsigned).
        index: u64,
        /// Byte offset of the field.
        offset: usize,
    },
    /// The profile has no string table at all.
    #[error("string_table is missing; it must start with \"\"")]
    StringTableMissing,
    /// `string_table[0]` is not the empty string.
    #[error("string_table[0] must be empty, found {found:?}")]
    StringTableStart {
        /// The first string found.
        found: String,
    },
    /// A string index past the end of the string table.
    #[error("{what} refers to string {index}, but the string table has only {len} entries")]
    StringIndex {
        /// What holds the index, e.g. `function 3 (id 7) name`.
        what: String,
        /// The index.
        index: u32,
        /// Length of the string table.
        len: usize,
    },
    /// A mapping, location or function with id 0.
    #[error("{kind} #{position} has id 0; ids must be nonzero")]
    ZeroId {
        /// `mapping`, `location` or `function`.
        kind: &'static str,
        /// Its position in the profile (0-based).
        position: usize,
    },
    /// Two mappings, locations or functions with the same id.
    #[error("duplicate {kind} id {id} ({kind}s #{first} and #{second})")]
    DuplicateId {
        /// `mapping`, `location` or `function`.
        kind: &'static str,
        /// The repeated id.
        id: u64,
        /// Position of the first holder.
        first: usize,
        /// Position of the second holder.
        second: usize,
    },
    /// A sample refers to a location id that does not exist.
    #[error("sample {sample} refers to location {id}, which does not exist")]
    DanglingLocation {
        /// Sample position (0-based).
        sample: usize,
        /// The missing location id.
        id: u64,
    },
    /// A location refers to a mapping id that does not exist.
    #[error("location {location} refers to mapping {mapping}, which does not exist")]
    DanglingMapping {
        /// The location's id.
        location: u64,
        /// The missing mapping id.
        mapping: u64,
    },
    /// A location line refers to a function id that does not exist.
    #[error("location {location} refers to function {function}, which does not exist")]
    DanglingFunction {
        /// The location's id.
        location: u64,
        /// The missing function id.
        function: u64,
    },
    /// A sample whose value count differs from the sample type count.
    #[error("sample {sample} has {found} values, but the profile has {expected} sample types")]
    ValueCount {
        /// Sample position (0-based).
        sample: usize,
        /// Values found.
        found: usize,
        /// Number of sample types.
        expected: usize,
    },
    /// The first line of a Go text profile is not a header we know.
    #[error("bad {kind} header {found:?}: expected {expected}")]
    TextHeader {
        /// `heap profile` or `count profile`.
        kind: &'static str,
        /// The header line as found (shortened).
        found: String,
        /// The expected shape.
        expected: &'static str,
    },
    /// A line of a Go text profile that cannot be parsed.
    #[error("line {line}: {problem}")]
    TextLine {
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        problem: String,
    },
    /// A profile format that is recognized but not read here.
    #[error(
        "this is {format}, which leakwatch does not read; `go tool pprof -proto FILE > out.pb.gz` \
         converts what pprof reads to a profile leakwatch reads"
    )]
    UnsupportedFormat {
        /// What it is, e.g. `a threadz profile`.
        format: &'static str,
    },
    /// gzip data that decompressed to no format known.
    #[error(
        "unrecognized profile format: gzip data, but what it holds is not pprof protobuf, not a Go \
         text profile, not a heap dump (it starts with {start})"
    )]
    UnknownCompressedFormat {
        /// The first decompressed bytes, escaped for display.
        start: String,
    },
}

/// `bytes` in binary units with one decimal, e.g. `2.0 GiB`. The library
/// cannot use the binary crate's unit helpers, and an error message needs
/// only this one shape.
pub(crate) fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// At most `max` characters of `s`, with `…` when cut; keeps messages
/// about hostile input short.
pub(crate) fn shorten(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_bytes_uses_binary_units() {
        assert_eq!(human_bytes(2 << 30), "2.0 GiB");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(12), "12 B");
    }

    #[test]
    fn shorten_cuts_on_char_boundaries() {
        assert_eq!(shorten("héllo", 2), "hé…");
        assert_eq!(shorten("ab", 5), "ab");
    }
}
