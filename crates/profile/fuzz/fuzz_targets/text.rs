//! Go's legacy text heap and count profiles: no panic, and what decodes
//! comes back unchanged from encode → decode (`leakwatch_profile_fuzz::text`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| leakwatch_profile_fuzz::text(data));
