//! The integration tests of `demo`, one binary: each module is one topic.

mod common;
mod in_process_symbols;
mod symbolize;
