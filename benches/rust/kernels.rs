//! Per-kernel timings of the near-dedup path (normalize, shingle, MinHash, band keys), pure
//! Rust: `cargo run --release --no-default-features --example kernels [DOCS]`, where DOCS is
//! an optional file of NUL-separated documents (real text; the default is a fixed-seed
//! synthetic corpus). Each kernel reports its best of five runs. Shows where time goes; peer
//! comparisons live in the Python benches.

use _core::hashing::splitmix64;
use _core::hashing::word_hashes_from_starts;
use _core::lsh::band_keys_into;
use _core::minhash::MinHasher;
use _core::normalize::{normalize_into, normalize_words_into, NormalizeOptions};
use _core::shingle::word_shingles_from_starts;
use std::hint::black_box;
use std::time::Instant;

const DOCS: usize = 20_000;
const RUNS: usize = 5;

fn corpus() -> Vec<String> {
    if let Some(path) = std::env::args().nth(1) {
        let bytes = std::fs::read(&path).unwrap_or_else(|error| panic!("{path}: {error}"));
        return String::from_utf8_lossy(&bytes)
            .split('\0')
            .map(str::to_owned)
            .collect();
    }
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

/// Runs `kernel` over every document `RUNS` times and prints the best run.
fn time<T>(name: &str, docs: &[T], bytes: usize, mut kernel: impl FnMut(&T)) {
    let mut best = f64::INFINITY;
    for _ in 0..RUNS {
        let started = Instant::now();
        docs.iter().for_each(&mut kernel);
        best = best.min(started.elapsed().as_secs_f64());
    }
    eprintln!(
        "{name:<10} {:>7.2} us/doc {:>8.0} MB/s",
        best * 1e6 / docs.len() as f64,
        bytes as f64 / best / 1e6
    );
}

fn main() {
    let docs = corpus();
    let bytes: usize = docs.iter().map(String::len).sum();
    let options = NormalizeOptions::default();
    let mut buffer = String::new();
    let mut starts = Vec::new();
    time("normalize", &docs, bytes, |doc| {
        normalize_into(doc, &options, &mut buffer);
        black_box(&buffer);
    });
    time("words", &docs, bytes, |doc| {
        normalize_words_into(doc, &options, &mut buffer, &mut starts);
        black_box(&starts);
    });

    let split: Vec<(String, Vec<u32>)> = docs
        .iter()
        .map(|doc| {
            let (mut out, mut starts) = (String::new(), Vec::new());
            normalize_words_into(doc, &options, &mut out, &mut starts);
            (out, starts)
        })
        .collect();
    let (mut words, mut shingles) = (Vec::new(), Vec::new());
    time("word hash", &split, bytes, |(doc, starts)| {
        words.clear();
        word_hashes_from_starts(doc.as_bytes(), starts, &mut words);
        black_box(&words);
    });
    // The same words through plain xxh3_64, one by one: the baseline of "word hash".
    time("xxh3 word", &split, bytes, |(doc, starts)| {
        words.clear();
        let ends = starts.iter().skip(1).map(|&next| next as usize - 1);
        let ranges = starts.iter().map(|&start| start as usize);
        for (start, end) in ranges.zip(ends.chain(std::iter::once(doc.len()))) {
            words.push(xxhash_rust::xxh3::xxh3_64(&doc.as_bytes()[start..end]));
        }
        black_box(&words);
    });
    time("shingles", &split, bytes, |(doc, starts)| {
        word_shingles_from_starts(doc, starts, 5, &mut words, &mut shingles);
        black_box(&shingles);
    });

    let sets: Vec<Vec<u64>> = split
        .iter()
        .map(|(doc, starts)| {
            word_shingles_from_starts(doc, starts, 5, &mut words, &mut shingles);
            shingles.clone()
        })
        .collect();
    let hasher = MinHasher::new(128, 1);
    let mut signature = vec![0u32; 128];
    let mut keys = vec![0u64; 16];
    time("minhash", &sets, bytes, |set| {
        hasher.signature_into(set, &mut signature);
        black_box(&signature);
    });
    time("band keys", &sets, bytes, |_| {
        band_keys_into(&signature, 16, 8, &mut keys);
        black_box(&keys);
    });
}
