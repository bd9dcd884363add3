//! Word n-gram shingles of a normalized text, as 64-bit hashes (spec in [`crate::hashing`]).
//!
//! The text is split on single spaces (what [`crate::normalize`] emits). A text with at least
//! `n` words yields its `words - n + 1` consecutive n-grams; a text with `1..n` words yields one
//! whole-text shingle, so short texts never collapse together; an empty text yields none.

use crate::hashing::{
    shingle_hash, shingle_hashes_fixed, word_hash_bytes, word_hashes_from_starts,
};

/// Appends the shingle hashes of `normalized` to `shingles` (cleared first), using
/// `word_hashes` as scratch space. Order follows the text; duplicates are kept.
pub fn word_shingles_into(
    normalized: &str,
    ngram: usize,
    word_hashes: &mut Vec<u64>,
    shingles: &mut Vec<u64>,
) {
    word_hashes.clear();
    shingles.clear();
    if normalized.is_empty() {
        return;
    }
    // memchr's SIMD scan is several times faster than `str::split` on short words.
    let bytes = normalized.as_bytes();
    let mut start = 0;
    for end in memchr::memchr_iter(b' ', bytes).chain(std::iter::once(bytes.len())) {
        word_hashes.push(word_hash_bytes(&bytes[start..end]));
        start = end + 1;
    }
    hash_windows(word_hashes, ngram, shingles);
}

/// Appends the shingle hash of every window of `ngram` word hashes (one window of all of them
/// when there are fewer). The default width gets its own copy of the loop with the window
/// unrolled and vectorized.
fn hash_windows(word_hashes: &[u64], ngram: usize, shingles: &mut Vec<u64>) {
    const DEFAULT_WIDTH: usize = 5;
    let width = ngram.max(1).min(word_hashes.len());
    if width == DEFAULT_WIDTH {
        shingle_hashes_fixed::<DEFAULT_WIDTH>(word_hashes, shingles);
    } else {
        shingles.extend(word_hashes.windows(width).map(shingle_hash));
    }
}

/// [`word_shingles_into`] for a text whose word start offsets are already known (from
/// [`crate::normalize::normalize_words_into`]); skips the scan for spaces.
pub fn word_shingles_from_starts(
    normalized: &str,
    word_starts: &[u32],
    ngram: usize,
    word_hashes: &mut Vec<u64>,
    shingles: &mut Vec<u64>,
) {
    word_hashes.clear();
    shingles.clear();
    word_hashes_from_starts(normalized.as_bytes(), word_starts, word_hashes);
    if word_hashes.is_empty() {
        return;
    }
    hash_windows(word_hashes, ngram, shingles);
}

/// Exact Jaccard similarity of two sorted, de-duplicated sets. Two empty sets score 0: a row
/// with no words is never a near duplicate (exact dedup handles empty rows).
#[must_use]
pub fn jaccard(left: &[u64], right: &[u64]) -> f64 {
    if left.is_empty() || right.is_empty() {
        return 0.0;
    }
    // Branch-free merge: which side advances is data-dependent and unpredictable, so both
    // indices step by comparison results instead of by a three-way branch.
    let (mut i, mut j, mut common) = (0, 0, 0usize);
    while i < left.len() && j < right.len() {
        let (a, b) = (left[i], right[j]);
        common += usize::from(a == b);
        i += usize::from(a <= b);
        j += usize::from(b <= a);
    }
    common as f64 / (left.len() + right.len() - common) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(text: &str, n: usize) -> Vec<u64> {
        let (mut scratch, mut out) = (Vec::new(), Vec::new());
        word_shingles_into(text, n, &mut scratch, &mut out);
        out.sort_unstable();
        out.dedup();
        out
    }

    #[test]
    fn counts_ngrams() {
        let (mut scratch, mut out) = (Vec::new(), Vec::new());
        word_shingles_into("a b c d e f g", 5, &mut scratch, &mut out);
        assert_eq!(out.len(), 3);
        word_shingles_into("a b", 5, &mut scratch, &mut out);
        assert_eq!(out.len(), 1);
        word_shingles_into("", 5, &mut scratch, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn short_texts_do_not_collapse() {
        assert_ne!(set("what is 2", 5), set("what is 3", 5));
        assert!(jaccard(&set("what is 2", 5), &set("what is 3", 5)) < f64::EPSILON);
        assert!((jaccard(&set("what is 2", 5), &set("what is 2", 5)) - 1.0).abs() < 1e-12);
    }

    proptest::proptest! {
        #[test]
        fn known_word_starts_give_the_same_shingles(text in "\\PC{0,60}", ngram in 1usize..6) {
            let options = crate::normalize::NormalizeOptions::default();
            let (mut normalized, mut starts) = (String::new(), Vec::new());
            crate::normalize::normalize_words_into(&text, &options, &mut normalized, &mut starts);
            let (mut scratch, mut scanned, mut known) = (Vec::new(), Vec::new(), Vec::new());
            word_shingles_into(&normalized, ngram, &mut scratch, &mut scanned);
            word_shingles_from_starts(&normalized, &starts, ngram, &mut scratch, &mut known);
            proptest::prop_assert_eq!(scanned, known);
        }
    }

    #[test]
    fn jaccard_matches_hand_count() {
        let left = [1, 2, 3, 4];
        let right = [3, 4, 5];
        assert!((jaccard(&left, &right) - 2.0 / 5.0).abs() < 1e-12);
        assert!(jaccard(&[], &[]).abs() < f64::EPSILON);
    }
}
