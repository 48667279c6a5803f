//! The scan path (`leakwatch_profile::scan`) against the full decode: the
//! same errors, tables, samples and aggregates
//! (`leakwatch_profile_fuzz::scan_agrees`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| leakwatch_profile_fuzz::scan_agrees(data));
