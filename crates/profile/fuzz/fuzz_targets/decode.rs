//! Fuzzes every decoder through the one entry point that sniffs the format
//! (gzip, protobuf, Go text). Decoding must never panic, and a profile that
//! decodes must survive encode → decode unchanged.
#![no_main]

use leakwatch_profile::{decode, encode, Limits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // A small cap keeps gzip inputs from spending the run decompressing.
    let limits = Limits {
        max_decompressed: 64 << 20,
    };
    if let Ok(profile) = decode(data, &limits) {
        let mut expected = profile.clone();
        expected.memstats = None;
        let again = decode(&encode(&profile), &limits).expect("an encoded profile decodes");
        assert_eq!(again, expected);
    }
});
