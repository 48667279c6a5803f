//! Random mutations of real profiles, for a couple of seconds in the normal
//! test suite: decoding must never panic, and whatever decodes must survive
//! encode → decode unchanged. This is the stable-toolchain companion of the
//! cargo-fuzz target in `crates/profile/fuzz` (see docs/fuzzing.md).
//!
//! Deterministic: the seed is fixed unless `LEAKWATCH_MUTATION_SEED` is
//! set, and a failing input is written to `target/mutation-failure.bin`.

use crate::common;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use common::{fixture, repo_root};
use leakwatch_profile::{decode, encode, encode_gzip, Limits};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut Rng, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut b = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = b.len();
        match rng.below(8) {
            0 if len > 0 => {
                let at = rng.below(len);
                b[at] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let at = rng.below(len);
                b[at] = rng.next() as u8;
            }
            2 if len > 0 => {
                // Interesting varint bytes: continuation, max, zero.
                let at = rng.below(len);
                b[at] = [0x80, 0xff, 0x00, 0x7f, 0x01][rng.below(5)];
            }
            3 if len > 1 => {
                let at = rng.below(len);
                let n = rng.below((len - at).min(64));
                b.drain(at..at + n);
            }
            4 if len > 1 => {
                let at = rng.below(len);
                let n = rng.below((len - at).min(64));
                let chunk = b[at..at + n].to_vec();
                let to = rng.below(len);
                b.splice(to..to, chunk);
            }
            5 => b.truncate(rng.below(len + 1)),
            6 if !other.is_empty() => {
                let at = rng.below(other.len());
                let n = rng.below((other.len() - at).min(128));
                let to = rng.below(len + 1);
                b.splice(to..to, other[at..at + n].iter().copied());
            }
            _ => {
                let to = rng.below(len + 1);
                let n = rng.below(16);
                let bytes: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                b.splice(to..to, bytes);
            }
        }
    }
    b
}

fn check(input: &[u8], limits: &Limits) {
    if let Ok(p) = decode(input, limits) {
        let mut expected = p.clone();
        expected.memstats = None;
        let again = decode(&encode(&p), limits).expect("an encoded profile decodes");
        assert_eq!(again, expected, "decode(encode(p)) != p");
    }
}

#[test]
fn mutated_profiles_never_panic() {
    let limits = Limits {
        max_decompressed: 16 << 20,
    };
    let raw_heap = leakwatch_profile::decode::gunzip(&fixture("heap.pb.gz"), &limits).unwrap();
    let raw_goroutine =
        leakwatch_profile::decode::gunzip(&fixture("goroutine.pb.gz"), &limits).unwrap();
    let goroutine_txt = fixture("goroutine.txt");
    // The heap text fixture is long; its start has the header, rows and
    // comment lines, its end the MemStats trailer.
    let heap_txt = fixture("heap.txt");
    let heap_head = heap_txt[..2048.min(heap_txt.len())].to_vec();
    let heap_tail = heap_txt[heap_txt.len().saturating_sub(1500)..].to_vec();
    let mut heap_txt_small = heap_head.clone();
    heap_txt_small.extend(b"\n# runtime.MemStats\n");
    heap_txt_small.extend(&heap_tail);
    let small = decode(&raw_goroutine, &limits).unwrap();
    let corpus: Vec<Vec<u8>> = vec![
        raw_heap,
        raw_goroutine,
        goroutine_txt,
        heap_txt_small,
        encode(&small),
        encode_gzip(&small),
    ];

    let seed = std::env::var("LEAKWATCH_MUTATION_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_1ea4_u64);
    let mut rng = Rng(seed | 1);
    let budget = Duration::from_secs(2);
    let started = Instant::now();
    let mut runs = 0u64;
    while started.elapsed() < budget {
        let input = &corpus[rng.below(corpus.len())];
        let other = &corpus[rng.below(corpus.len())];
        let mutated = mutate(&mut rng, input, other);
        if catch_unwind(AssertUnwindSafe(|| check(&mutated, &limits))).is_err() {
            let path = repo_root().join("target/mutation-failure.bin");
            std::fs::write(&path, &mutated).unwrap();
            panic!(
                "decoding a mutated profile panicked (seed {seed}, run {runs}); input saved to {}",
                path.display()
            );
        }
        runs += 1;
    }
    eprintln!("{runs} mutated profiles decoded without panic");
    assert!(runs > 100, "only {runs} runs in {budget:?}");
}
