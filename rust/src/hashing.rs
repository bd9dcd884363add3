//! Stable content hashes, spec `amfast-hash-v1`.
//!
//! - Exact-dedup key: `xxh3_128(utf8(normalized_text), seed = 0)`; the empty text has a hash too,
//!   so all empty rows are exact duplicates of each other.
//! - Word hash: `xxh3_64(utf8(word), seed = 0)`.
//! - Shingle hash: `xxh3_64` over the little-endian bytes of the consecutive word hashes it covers
//!   (`8 * n` bytes for an n-gram). A text with `k < n` words has one shingle over all `k` word
//!   hashes: it can only equal the shingle of a text with exactly the same words.
//!
//! These definitions are frozen: golden-vector tests pin them, and a change bumps the version.

use xxhash_rust::xxh3::{xxh3_128, xxh3_64};

/// Name of the hash specification every hash in this module follows.
pub const HASH_SPEC: &str = "amfast-hash-v1";

/// 128-bit exact-dedup key of an already normalized text.
#[inline]
#[must_use]
pub fn content_hash(normalized: &str) -> u128 {
    xxh3_128(normalized.as_bytes())
}

/// 64-bit hash of one word.
#[inline]
#[must_use]
pub fn word_hash(word: &str) -> u64 {
    xxh3_64(word.as_bytes())
}

/// 64-bit hash of consecutive word hashes (one shingle).
#[inline]
#[must_use]
pub fn shingle_hash(word_hashes: &[u64]) -> u64 {
    const MAX_INLINE: usize = 16;
    let mut bytes = [0u8; 8 * MAX_INLINE];
    if word_hashes.len() <= MAX_INLINE {
        for (chunk, hash) in bytes.chunks_exact_mut(8).zip(word_hashes) {
            chunk.copy_from_slice(&hash.to_le_bytes());
        }
        xxh3_64(&bytes[..8 * word_hashes.len()])
    } else {
        let bytes: Vec<u8> = word_hashes
            .iter()
            .flat_map(|hash| hash.to_le_bytes())
            .collect();
        xxh3_64(&bytes)
    }
}

/// splitmix64: expands one user seed into a stream of well-mixed 64-bit values.
#[inline]
#[must_use]
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Golden vectors (cross-checked with the Python `xxhash` package): if one of these changes, the hash spec changed and HASH_SPEC must be bumped.
    #[test]
    fn golden_content_hashes() {
        assert_eq!(content_hash(""), 0x99aa_06d3_0147_98d8_6001_c324_468d_497f);
        assert_eq!(
            content_hash("hello world"),
            0xdf8d_09e9_3f87_4900_a99b_8775_cc15_b6c7_u128
        );
    }

    #[test]
    fn golden_word_and_shingle_hashes() {
        assert_eq!(word_hash("hello"), 0x9555_e855_5c62_dcfd);
        let words = [word_hash("a"), word_hash("b")];
        assert_eq!(shingle_hash(&words), shingle_hash(&words));
        assert_ne!(shingle_hash(&words), shingle_hash(&[words[1], words[0]]));
        assert_ne!(shingle_hash(&words[..1]), shingle_hash(&words));
    }

    #[test]
    fn long_shingles_hash_like_short_ones() {
        let hashes: Vec<u64> = (0..20).map(|i| word_hash(&i.to_string())).collect();
        let bytes: Vec<u8> = hashes[..16].iter().flat_map(|h| h.to_le_bytes()).collect();
        assert_eq!(shingle_hash(&hashes[..16]), xxh3_64(&bytes));
        assert_ne!(shingle_hash(&hashes), shingle_hash(&hashes[..16]));
    }
}
