//! The heap profile library behind leakwatch.
//!
//! Everything here is pure: bytes in, a [`Profile`] out, tables and diffs
//! computed on it, bytes back out. No network, no clock, no command line.
//!
//! ```no_run
//! use leakwatch_profile::{decode, Limits};
//! let bytes = std::fs::read("heap.pb.gz").unwrap();
//! let profile = decode(&bytes, &Limits::default()).unwrap();
//! println!("{} samples", profile.samples.len());
//! ```
//!
//! ## Reading profiles
//!
//! [`decode()`] sniffs the format and returns a validated [`Profile`]:
//!
//! - pprof protobuf, raw or gzipped (concatenated gzip members too), every
//!   field of `profile.proto` — decoded by hand straight into the model,
//!   packed or unpacked repeated fields, unknown fields skipped;
//! - Go's legacy text heap profile (`/debug/pprof/heap?debug=1`), built the
//!   way `go tool pprof` builds it (same sample types, unsampled values,
//!   `drop_frames`) but with functions named from Go's `#` comment lines,
//!   and with the `# runtime.MemStats` trailer in [`Profile::memstats`];
//! - Go's text count profiles (`/debug/pprof/goroutine?debug=1`).
//!
//! Decoding is bounded: gzip output stops at [`Limits::max_decompressed`],
//! and no length read from the input is trusted before it is checked
//! against the bytes actually present. Every defect is a [`DecodeError`]
//! naming it (`sample 12 refers to location 99, which does not exist`);
//! callers add the file or URL.
//!
//! Validation ([`validate::validate`], run by [`decode()`]) guarantees that
//! `strings[0] == ""`, ids are nonzero and unique, every id and string
//! index resolves, and every sample has one value per sample type — so
//! downstream code may index without checking. [`IdIndex`] is the id →
//! position lookup it builds (arithmetic for Go's dense ids), reusable by
//! aggregation.
//!
//! ## Reading only what a table needs
//!
//! [`scan()`] reads what [`decode()`] reads and fails where it fails, with
//! the same message, but leaves a protobuf's samples in their encoded form:
//! a [`ScannedProfile`] hands them out one at a time, checked as they are
//! read, in buffers reused from sample to sample. Aggregation and diffs
//! ([`aggregate::aggregate`], [`diff::diff`]) take any [`SampleSource`] — a
//! [`Profile`] or a [`ScannedProfile`] — and give identical tables; on a Go
//! heap profile of 600k samples the scan needs a tenth of the memory of a
//! decode and a fraction of its time.
//!
//! ## Writing profiles
//!
//! [`encode()`] and [`encode_gzip`] write pprof protobuf with packed repeated
//! fields. `decode(encode(p)) == p` for every decoded profile, except that
//! [`Profile::memstats`] is dropped: profile.proto has no field for it.
//!
//! [`ProfileBuilder`] writes the model itself from stacks of function
//! names — synthetic profiles for tests, examples and converters.

pub mod aggregate;
pub mod build;
pub mod decode;
pub mod diff;
pub mod encode;
pub mod error;
pub mod index;
pub mod intern;
pub mod model;
pub mod prune;
pub mod symbolize;
pub mod validate;

pub use build::{Frame, ProfileBuilder};
pub use decode::scan::{scan, SampleRef, SampleSource, ScannedProfile};
pub use decode::{decode, Limits};
pub use encode::{encode, encode_gzip};
pub use error::DecodeError;
pub use index::IdIndex;
pub use intern::Interner;
pub use model::*;
