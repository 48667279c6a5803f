//! The integration tests of `profile`, one binary: each module is one topic.

mod aggregate;
mod build;
mod common;
mod fuzz_corpus;
mod go_profiles;
mod go_text;
mod malformed;
mod mutation;
mod native_dumps;
mod roundtrip;
mod scan;
mod symbolize;
