//! Per-kernel timings of the near-dedup path (normalize, shingle, MinHash, band keys) on a
//! fixed-seed synthetic corpus, pure Rust: `cargo run --release --no-default-features
//! --example kernels`. Shows where time goes; peer comparisons live in the Python benches.

use _core::hashing::splitmix64;
use _core::lsh::band_keys_into;
use _core::minhash::MinHasher;
use _core::normalize::{normalize_into, NormalizeOptions};
use _core::shingle::word_shingles_into;
use std::hint::black_box;
use std::time::Instant;

const DOCS: usize = 20_000;

fn corpus() -> Vec<String> {
    let mut state = 1u64;
    let vocabulary: Vec<String> = (0..20_000)
        .map(|i| format!("w{i}x{}", splitmix64(&mut state) % 1000))
        .collect();
    (0..DOCS)
        .map(|_| {
            let words = 50 + (splitmix64(&mut state) % 350) as usize;
            let mut text: Vec<&str> = Vec::with_capacity(words);
            for _ in 0..words {
                text.push(&vocabulary[(splitmix64(&mut state) % 20_000) as usize]);
            }
            text.join(" ") + "."
        })
        .collect()
}

fn report(name: &str, started: Instant, bytes: usize) {
    let seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "{name:<10} {:>7.2} us/doc {:>8.0} MB/s",
        seconds * 1e6 / DOCS as f64,
        bytes as f64 / seconds / 1e6
    );
}

fn main() {
    let docs = corpus();
    let bytes: usize = docs.iter().map(String::len).sum();
    let options = NormalizeOptions::default();
    let mut buffer = String::new();
    let started = Instant::now();
    for doc in &docs {
        normalize_into(doc, &options, &mut buffer);
        black_box(&buffer);
    }
    report("normalize", started, bytes);

    let normalized: Vec<String> = docs
        .iter()
        .map(|doc| {
            let mut out = String::new();
            normalize_into(doc, &options, &mut out);
            out
        })
        .collect();
    let (mut words, mut shingles) = (Vec::new(), Vec::new());
    let started = Instant::now();
    for doc in &normalized {
        word_shingles_into(doc, 5, &mut words, &mut shingles);
        black_box(&shingles);
    }
    report("shingles", started, bytes);

    let sets: Vec<Vec<u64>> = normalized
        .iter()
        .map(|doc| {
            word_shingles_into(doc, 5, &mut words, &mut shingles);
            shingles.clone()
        })
        .collect();
    let hasher = MinHasher::new(128, 1);
    let mut signature = vec![0u32; 128];
    let mut keys = vec![0u64; 16];
    let started = Instant::now();
    for set in &sets {
        hasher.signature_into(set, &mut signature);
        black_box(&signature);
    }
    report("minhash", started, bytes);
    let started = Instant::now();
    for _ in 0..DOCS {
        band_keys_into(&signature, 16, 8, &mut keys);
        black_box(&keys);
    }
    report("band keys", started, bytes);
}
