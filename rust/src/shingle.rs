//! Word n-gram shingles of a normalized text, as 64-bit hashes (spec in [`crate::hashing`]).
//!
//! The text is split on single spaces (what [`crate::normalize`] emits). A text with at least
//! `n` words yields its `words - n + 1` consecutive n-grams; a text with `1..n` words yields one
//! whole-text shingle, so short texts never collapse together; an empty text yields none.

use crate::hashing::{shingle_hash, shingle_hash_fixed, word_hash_bytes};

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
/// unrolled: the hashes of consecutive windows then overlap in the pipeline.
fn hash_windows(word_hashes: &[u64], ngram: usize, shingles: &mut Vec<u64>) {
    const DEFAULT_WIDTH: usize = 5;
    let width = ngram.max(1).min(word_hashes.len());
    if width == DEFAULT_WIDTH {
        shingles.extend(
            word_hashes
                .windows(DEFAULT_WIDTH)
                .map(shingle_hash_fixed::<DEFAULT_WIDTH>),
        );
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
    let bytes = normalized.as_bytes();
    let ends = word_starts.iter().skip(1).map(|&next| next as usize - 1);
    for (&start, end) in word_starts
        .iter()
        .zip(ends.chain(std::iter::once(bytes.len())))
    {
        word_hashes.push(word_hash_bytes(&bytes[start as usize..end]));
    }
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
    let (mut i, mut j, mut common) = (0, 0, 0usize);
    while i < left.len() && j < right.len() {
        match left[i].cmp(&right[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                common += 1;
                i += 1;
                j += 1;
            }
        }
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
