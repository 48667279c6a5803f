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

pub mod aggregate;
pub mod decode;
pub mod diff;
pub mod encode;
pub mod error;
pub mod index;
pub mod intern;
pub mod model;
pub mod prune;
pub mod validate;

pub use decode::{decode, Limits};
pub use encode::{encode, encode_gzip};
pub use error::DecodeError;
pub use index::IdIndex;
pub use intern::Interner;
pub use model::*;
