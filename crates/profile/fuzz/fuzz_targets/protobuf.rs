//! The pprof protobuf decoder: no panic, and what decodes comes back
//! unchanged from encode → decode (`leakwatch_profile_fuzz::protobuf`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| leakwatch_profile_fuzz::protobuf(data));
