//! The on-disk recording of a watch: a directory of append-only files that
//! stays readable at every instant (see `docs/recording.md`).
//!
//! [`writer`] produces it, [`reader`] reads it back (finished, in progress or
//! torn by a killed watcher), [`format`] holds the records both agree on,
//! [`window`] what span and evidence a recording covers and [`cut`] the
//! recording as it stood at an earlier moment.

pub mod cut;
pub mod format;
pub mod reader;
pub mod thin;
pub mod window;
pub mod writer;

pub use cut::Until;
pub use format::{
    Event, EventLine, Meta, ProfileEntry, ProfileKind, RuntimeLine, Sample, Timestamp,
};
pub use reader::Recording;
pub use window::{window, Window};
pub use writer::{store_profile, RecordingWriter};
