//! The integration tests of `profile`, one binary: each module is one topic.

mod common;
mod aggregate;
mod build;
mod fuzz_corpus;
mod go_profiles;
mod malformed;
mod mutation;
mod roundtrip;
mod scan;
mod symbolize;
