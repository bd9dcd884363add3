//! Stable content hashes, spec `amfast-hash-v1`.
//!
//! - Exact-dedup key: `xxh3_128(utf8(normalized_text), seed = 0)`; the empty text has a hash too,
//!   so all empty rows are exact duplicates of each other.
//! - Word hash: `xxh3_64(utf8(word), seed = 0)`.
//! - Shingle hash of consecutive word hashes `w_1..w_k`: `acc = 0x243F_6A88_85A3_08D3`; for each
//!   `w`: `acc = (rotl(acc, 23) ^ w) * 0x9E37_79B9_7F4A_7C15 (mod 2^64)`; result
//!   `fmix64(acc ^ k)` (MurmurHash3's 64-bit finalizer). Order-sensitive, and `k` enters the
//!   result, so a text with `k < n` words (one whole-text shingle) can only equal the shingle of
//!   a text with exactly the same words.
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
    word_hash_bytes(word.as_bytes())
}

/// [`word_hash`] of a word's UTF-8 bytes.
#[inline]
#[must_use]
pub fn word_hash_bytes(word: &[u8]) -> u64 {
    xxh3_64(word)
}

/// 64-bit hash of consecutive word hashes (one shingle).
#[inline]
#[must_use]
pub fn shingle_hash(word_hashes: &[u64]) -> u64 {
    fold_shingle(word_hashes)
}

/// [`shingle_hash`] of a window of exactly `WIDTH` word hashes (the caller checks the length),
/// with the loop unrolled at compile time.
#[inline]
#[must_use]
pub fn shingle_hash_fixed<const WIDTH: usize>(word_hashes: &[u64]) -> u64 {
    match <&[u64; WIDTH]>::try_from(word_hashes) {
        Ok(window) => fold_shingle(window),
        Err(_) => shingle_hash(word_hashes),
    }
}

/// The shingle hash spec itself. Always inlined, so a window whose length is a constant at the
/// call site (`shingle_hash_fixed`) gets the loop unrolled.
#[allow(clippy::inline_always)]
#[inline(always)]
fn fold_shingle(word_hashes: &[u64]) -> u64 {
    let mut acc: u64 = 0x243F_6A88_85A3_08D3;
    for &word in word_hashes {
        acc = (acc.rotate_left(23) ^ word).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    fmix64(acc ^ word_hashes.len() as u64)
}

/// MurmurHash3's 64-bit finalizer: full avalanche of every input bit.
#[inline]
#[must_use]
pub fn fmix64(mut value: u64) -> u64 {
    value ^= value >> 33;
    value = value.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    value ^= value >> 33;
    value = value.wrapping_mul(0xC4CE_B9FE_1A85_EC53);
    value ^ (value >> 33)
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
    fn fixed_width_shingle_hash_is_the_same_hash() {
        let words: Vec<u64> = (0..5).map(|i| word_hash(&format!("w{i}"))).collect();
        assert_eq!(shingle_hash_fixed::<5>(&words), shingle_hash(&words));
        assert_eq!(
            shingle_hash_fixed::<5>(&words[..3]),
            shingle_hash(&words[..3])
        );
    }

    #[test]
    fn golden_shingle_hash() {
        let words = [word_hash("hello"), word_hash("world")];
        assert_eq!(shingle_hash(&words), 0x0e01_69c1_9be0_a736);
        assert_eq!(shingle_hash(&[]), fmix64(0x243F_6A88_85A3_08D3));
    }
}
