//! Gzip framing: mutated headers and members, and content compressed by the
//! check that must decode as it does uncompressed
//! (`leakwatch_profile_fuzz::gzip`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| leakwatch_profile_fuzz::gzip(data));
