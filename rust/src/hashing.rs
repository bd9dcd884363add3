//! Stable content hashes, spec `amfast-hash-v1`.
//!
//! - Exact-dedup key: `xxh3_128(utf8(normalized_text), seed = 0)`; the empty text has a hash too,
//!   so all empty rows are exact duplicates of each other.
//! - Word hash: `xxh3_64(utf8(word), seed = 0)`.
//! - Text key (the embedding cache's): `xxh3_128(utf8(text), seed = 0)` of the text as given,
//!   not normalized (a model sees the raw text, so two spellings are two entries).
//! - Shingle hash of consecutive word hashes `w_1..w_k`: `acc = 0x243F_6A88_85A3_08D3`; for each
//!   `w`: `acc = (rotl(acc, 23) ^ w) * 0x9E37_79B9_7F4A_7C15 (mod 2^64)`; result
//!   `fmix64(acc ^ k)` (MurmurHash3's 64-bit finalizer). Order-sensitive, and `k` enters the
//!   result, so a text with `k < n` words (one whole-text shingle) can only equal the shingle of
//!   a text with exactly the same words.
//!
//! These definitions are frozen: golden-vector tests pin them, and a change bumps the version.

use crate::error::{Error, Result};
use rayon::prelude::*;
use xxhash_rust::xxh3::{xxh3_128, xxh3_64};

/// Name of the hash specification every hash in this module follows.
pub const HASH_SPEC: &str = "amfast-hash-v1";

/// 128-bit exact-dedup key of an already normalized text.
#[inline]
#[must_use]
pub fn content_hash(normalized: &str) -> u128 {
    xxh3_128(normalized.as_bytes())
}

/// Per row, the 128-bit key of the text as given (see the module docs), in parallel.
///
/// # Errors
/// A null row.
pub fn text_keys(texts: &[Option<&str>]) -> Result<Vec<u128>> {
    texts
        .par_iter()
        .enumerate()
        .with_min_len(1024)
        .map(|(row, text)| {
            text.map(|text| xxh3_128(text.as_bytes()))
                .ok_or_else(|| Error::row(row, "text is null"))
        })
        .collect()
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

/// Bytes 0..24 of XXH3's default secret (the xxHash specification): what its 1..=8-byte paths
/// read, folded into the two constants below.
const XXH3_SECRET_HEAD: [u8; 24] = [
    0xb8, 0xfe, 0x6c, 0x39, 0x23, 0xa4, 0x4b, 0xbe, 0x7c, 0x01, 0x81, 0x2c, 0xf7, 0x21, 0xad, 0x1c,
    0xde, 0xd4, 0x6d, 0xe9, 0x83, 0x90, 0x97, 0xdb,
];

const fn secret_u64(offset: usize) -> u64 {
    let mut value = 0u64;
    let mut index = 8;
    while index > 0 {
        index -= 1;
        value = (value << 8) | XXH3_SECRET_HEAD[offset + index] as u64;
    }
    value
}

const FLIP_1_TO_3: u64 = (secret_u64(0) as u32 ^ (secret_u64(4) as u32)) as u64;
const FLIP_4_TO_8: u64 = secret_u64(8) ^ secret_u64(16);

/// Appends [`word_hash_bytes`] of every word of `text` to `out`, where word `i` starts at
/// `starts[i]` and ends one byte (the separating space) before `starts[i + 1]`; the last word
/// ends with the text. XXH3 has a code path per length class, and the words of real text (half
/// of them 1..=3 bytes, 40% 4..=8) mispredict that branch about every other word. On CPUs with
/// AVX-512DQ eight words are hashed at once instead: both short paths computed on every lane,
/// the right one selected per lane, longer words hashed one by one.
pub fn word_hashes_from_starts(text: &[u8], starts: &[u32], out: &mut Vec<u64>) {
    let first = out.len();
    out.resize(first + starts.len(), 0);
    let hashes = &mut out[first..];
    #[cfg(target_arch = "x86_64")]
    {
        if has_avx512dq() && std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, AVX-512F and AVX-512DQ, checked just above.
            unsafe { word_hashes_avx512(text, starts, hashes) };
            return;
        }
    }
    scalar_word_hashes(text, starts, 0, hashes);
}

/// AVX-512F and DQ (64-bit lane multiplies), each checked: a VM may report one without the other.
#[cfg(target_arch = "x86_64")]
fn has_avx512dq() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512dq")
}

/// Word `index`'s byte range under the layout of [`word_hashes_from_starts`].
#[inline]
fn word_range(text: &[u8], starts: &[u32], index: usize) -> (usize, usize) {
    let end = starts
        .get(index + 1)
        .map_or(text.len(), |&next| next as usize - 1);
    (starts[index] as usize, end)
}

/// `xxh3_64` of words `from..` one by one, into `hashes[from..]`.
#[inline]
fn scalar_word_hashes(text: &[u8], starts: &[u32], from: usize, hashes: &mut [u64]) {
    for (index, hash) in hashes.iter_mut().enumerate().skip(from) {
        let (start, end) = word_range(text, starts, index);
        *hash = xxh3_64(&text[start..end]);
    }
}

/// [`word_hashes_from_starts`] eight words at a time. Each block gathers, per word, the 4 bytes
/// at its start, middle and end (what XXH3's 1..=8-byte paths read), runs both paths on all
/// lanes and keeps the one for each word's length. Words that are empty or longer than 8 bytes,
/// blocks within 4 bytes of either end of `text`, and the words after the last full block are
/// hashed one by one.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,avx512f,avx512dq")]
// Intrinsics take signed lanes and untyped pointers; `loadu` and gathers need no alignment.
#[allow(clippy::cast_possible_wrap, clippy::cast_ptr_alignment)]
unsafe fn word_hashes_avx512(text: &[u8], starts: &[u32], hashes: &mut [u64]) {
    use std::arch::x86_64::{
        __m256i, __m512i, _mm256_add_epi32, _mm256_and_si256, _mm256_i32gather_epi32,
        _mm256_loadu_si256, _mm256_or_si256, _mm256_set1_epi32, _mm256_slli_epi32,
        _mm256_srli_epi32, _mm256_sub_epi32, _mm512_add_epi64, _mm512_cmpgt_epu64_mask,
        _mm512_cmple_epu64_mask, _mm512_cvtepu32_epi64, _mm512_mask_blend_epi64,
        _mm512_mullo_epi64, _mm512_rol_epi64, _mm512_set1_epi64, _mm512_slli_epi64,
        _mm512_srli_epi64, _mm512_storeu_si512, _mm512_sub_epi64, _mm512_xor_si512,
    };
    const LANES: usize = 8;
    let blocks = starts.len().saturating_sub(1) / LANES;
    // Gather offsets are i32; a longer text goes one word at a time.
    let gatherable = i32::try_from(text.len()).is_ok();
    let base = text.as_ptr().cast::<i32>();
    let splat = |value: u64| _mm512_set1_epi64(value as i64);
    for block in 0..blocks {
        let first = block * LANES;
        let bounds = &starts[first..=first + LANES];
        // Increasing starts plus the two end checks keep every gathered read inside `text`;
        // anything else (only a caller's malformed starts) goes the checked way.
        let increasing = bounds.windows(2).all(|pair| pair[0] < pair[1]);
        if !gatherable || !increasing || bounds[0] < 4 || bounds[LANES] as usize + 3 > text.len() {
            scalar_word_hashes(
                text,
                &starts[..=first + LANES],
                first,
                &mut hashes[..first + LANES],
            );
            continue;
        }
        // SAFETY: `bounds` holds 9 values, so both 8-value loads stay inside it.
        let (start, next) = unsafe {
            (
                _mm256_loadu_si256(bounds.as_ptr().cast::<__m256i>()),
                _mm256_loadu_si256(bounds.as_ptr().add(1).cast::<__m256i>()),
            )
        };
        let end = _mm256_sub_epi32(next, _mm256_set1_epi32(1));
        let len = _mm256_sub_epi32(end, start);
        // SAFETY: every gathered 4-byte read lies in `text`: starts increase from >= 4 and the
        // last word ends at least 4 bytes before the text does (checked above); a word's middle
        // and `end - 4` lie between its start - 4 and its end.
        let (head, middle, tail) = unsafe {
            (
                _mm256_i32gather_epi32::<1>(base, start),
                _mm256_i32gather_epi32::<1>(
                    base,
                    _mm256_add_epi32(start, _mm256_srli_epi32::<1>(len)),
                ),
                _mm256_i32gather_epi32::<1>(base, _mm256_sub_epi32(end, _mm256_set1_epi32(4))),
            )
        };
        // 1..=3 bytes: first, middle and last byte with the length, then XXH64's avalanche.
        let low_byte = _mm256_set1_epi32(0xFF);
        let combined = _mm256_or_si256(
            _mm256_or_si256(
                _mm256_slli_epi32::<16>(_mm256_and_si256(head, low_byte)),
                _mm256_slli_epi32::<24>(middle),
            ),
            _mm256_or_si256(_mm256_srli_epi32::<24>(tail), _mm256_slli_epi32::<8>(len)),
        );
        let mut tiny = _mm512_xor_si512(_mm512_cvtepu32_epi64(combined), splat(FLIP_1_TO_3));
        tiny = _mm512_xor_si512(tiny, _mm512_srli_epi64::<33>(tiny));
        tiny = _mm512_mullo_epi64(tiny, splat(XXH64_PRIME_2));
        tiny = _mm512_xor_si512(tiny, _mm512_srli_epi64::<29>(tiny));
        tiny = _mm512_mullo_epi64(tiny, splat(XXH64_PRIME_3));
        tiny = _mm512_xor_si512(tiny, _mm512_srli_epi64::<32>(tiny));
        // 4..=8 bytes: last 4 bytes + (first 4 << 32), then rrmxmx.
        let len = _mm512_cvtepu32_epi64(len);
        let mut small = _mm512_add_epi64(
            _mm512_cvtepu32_epi64(tail),
            _mm512_slli_epi64::<32>(_mm512_cvtepu32_epi64(head)),
        );
        small = _mm512_xor_si512(small, splat(FLIP_4_TO_8));
        small = _mm512_xor_si512(
            small,
            _mm512_xor_si512(_mm512_rol_epi64::<49>(small), _mm512_rol_epi64::<24>(small)),
        );
        small = _mm512_mullo_epi64(small, splat(RRMXMX_MULTIPLIER));
        small = _mm512_xor_si512(small, _mm512_add_epi64(_mm512_srli_epi64::<35>(small), len));
        small = _mm512_mullo_epi64(small, splat(RRMXMX_MULTIPLIER));
        small = _mm512_xor_si512(small, _mm512_srli_epi64::<28>(small));
        let is_tiny = _mm512_cmple_epu64_mask(len, splat(3));
        let blended: __m512i = _mm512_mask_blend_epi64(is_tiny, small, tiny);
        let out = &mut hashes[first..first + LANES];
        // SAFETY: `out` holds exactly 8 u64.
        unsafe { _mm512_storeu_si512(out.as_mut_ptr().cast::<__m512i>(), blended) };
        // Empty or longer than 8 bytes: `len - 1 > 7` as unsigned.
        let mut others = _mm512_cmpgt_epu64_mask(_mm512_sub_epi64(len, splat(1)), splat(7));
        while others != 0 {
            let lane = others.trailing_zeros() as usize;
            others &= others - 1;
            let (start, end) = word_range(text, starts, first + lane);
            out[lane] = xxh3_64(&text[start..end]);
        }
    }
    scalar_word_hashes(text, starts, blocks * LANES, hashes);
}

const XXH64_PRIME_2: u64 = 0xC2B2_AE3D_27D4_EB4F;
const XXH64_PRIME_3: u64 = 0x1656_67B1_9E37_79F9;
const RRMXMX_MULTIPLIER: u64 = 0x9FB2_1C65_1E98_DF25;

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

/// Appends [`shingle_hash`] of every window of `WIDTH` consecutive word hashes (none when there
/// are fewer words). On CPUs with AVX-512DQ eight windows are hashed per instruction
/// (`vpmullq`); elsewhere the unrolled scalar loop overlaps consecutive windows.
pub fn shingle_hashes_fixed<const WIDTH: usize>(word_hashes: &[u64], out: &mut Vec<u64>) {
    #[cfg(target_arch = "x86_64")]
    {
        if has_avx512dq() {
            // SAFETY: the CPU supports AVX-512F and AVX-512DQ, checked just above.
            unsafe { shingle_lanes_avx512::<WIDTH>(word_hashes, out) };
            return;
        }
    }
    shingle_windows_scalar::<WIDTH>(word_hashes, out);
}

/// [`shingle_hashes_fixed`] eight windows per step: window `i + lane` of a block reads word
/// hashes `i + lane .. i + lane + WIDTH`, so offset `k` of all eight lanes is one unaligned load.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512dq")]
// Intrinsics take signed lanes and untyped pointers; `loadu`/`storeu` need no alignment.
#[allow(clippy::cast_possible_wrap, clippy::cast_ptr_alignment)]
unsafe fn shingle_lanes_avx512<const WIDTH: usize>(word_hashes: &[u64], out: &mut Vec<u64>) {
    use std::arch::x86_64::{
        __m512i, _mm512_loadu_si512, _mm512_mullo_epi64, _mm512_rol_epi64, _mm512_set1_epi64,
        _mm512_srli_epi64, _mm512_storeu_si512, _mm512_xor_si512,
    };
    const LANES: usize = 8;
    let Some(windows) = (word_hashes.len() + 1).checked_sub(WIDTH) else {
        return;
    };
    let first = out.len();
    out.resize(first + windows, 0);
    let hashes = &mut out[first..];
    let splat = |value: u64| _mm512_set1_epi64(value as i64);
    let blocks = windows / LANES;
    for block in 0..blocks {
        let start = block * LANES;
        let mut acc = splat(SHINGLE_SEED);
        for offset in 0..WIDTH {
            let words = &word_hashes[start + offset..start + offset + LANES];
            // SAFETY: `words` is exactly 8 readable u64.
            let words = unsafe { _mm512_loadu_si512(words.as_ptr().cast::<__m512i>()) };
            acc = _mm512_xor_si512(_mm512_rol_epi64::<SHINGLE_ROTATION>(acc), words);
            acc = _mm512_mullo_epi64(acc, splat(SHINGLE_MULTIPLIER));
        }
        // fmix64(acc ^ WIDTH)
        acc = _mm512_xor_si512(acc, splat(WIDTH as u64));
        acc = _mm512_xor_si512(acc, _mm512_srli_epi64::<33>(acc));
        acc = _mm512_mullo_epi64(acc, splat(FMIX_1));
        acc = _mm512_xor_si512(acc, _mm512_srli_epi64::<33>(acc));
        acc = _mm512_mullo_epi64(acc, splat(FMIX_2));
        acc = _mm512_xor_si512(acc, _mm512_srli_epi64::<33>(acc));
        let target = &mut hashes[start..start + LANES];
        // SAFETY: `target` is exactly 8 writable u64.
        unsafe { _mm512_storeu_si512(target.as_mut_ptr().cast::<__m512i>(), acc) };
    }
    for (start, hash) in hashes.iter_mut().enumerate().skip(blocks * LANES) {
        *hash = shingle_hash_fixed::<WIDTH>(&word_hashes[start..start + WIDTH]);
    }
}

/// [`shingle_hashes_fixed`] one window at a time, the window unrolled (consecutive windows
/// overlap in the pipeline).
fn shingle_windows_scalar<const WIDTH: usize>(word_hashes: &[u64], out: &mut Vec<u64>) {
    if word_hashes.len() >= WIDTH {
        out.extend(word_hashes.windows(WIDTH).map(shingle_hash_fixed::<WIDTH>));
    }
}

const SHINGLE_SEED: u64 = 0x243F_6A88_85A3_08D3;
const SHINGLE_MULTIPLIER: u64 = 0x9E37_79B9_7F4A_7C15;
// i32: the rotate intrinsic takes its count as an i32 const parameter.
const SHINGLE_ROTATION: i32 = 23;
const FMIX_1: u64 = 0xFF51_AFD7_ED55_8CCD;
const FMIX_2: u64 = 0xC4CE_B9FE_1A85_EC53;

/// One word of the shingle hash spec: `acc = (rotl(acc, 23) ^ word) * 0x9E37_79B9_7F4A_7C15`.
#[allow(clippy::inline_always)]
#[inline(always)]
fn shingle_step(acc: u64, word: u64) -> u64 {
    (acc.rotate_left(SHINGLE_ROTATION.unsigned_abs()) ^ word).wrapping_mul(SHINGLE_MULTIPLIER)
}

/// The shingle hash spec itself. Always inlined, so a window whose length is a constant at the
/// call site (`shingle_hash_fixed`) gets the loop unrolled.
#[allow(clippy::inline_always)]
#[inline(always)]
fn fold_shingle(word_hashes: &[u64]) -> u64 {
    let acc = word_hashes
        .iter()
        .fold(SHINGLE_SEED, |acc, &word| shingle_step(acc, word));
    fmix64(acc ^ word_hashes.len() as u64)
}

/// MurmurHash3's 64-bit finalizer: full avalanche of every input bit.
#[inline]
#[must_use]
pub fn fmix64(mut value: u64) -> u64 {
    value ^= value >> 33;
    value = value.wrapping_mul(FMIX_1);
    value ^= value >> 33;
    value = value.wrapping_mul(FMIX_2);
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
    fn text_keys_are_xxh3_128_of_the_raw_text_and_name_a_null_row() {
        let keys = text_keys(&[Some("hello world"), Some("Hello  World")]).unwrap();
        assert_eq!(keys[0], 0xdf8d_09e9_3f87_4900_a99b_8775_cc15_b6c7_u128);
        assert_ne!(keys[0], keys[1], "text keys do not normalize");
        let error = text_keys(&[Some("a"), None]).unwrap_err();
        assert_eq!(error.to_string(), "row 1: text is null");
    }

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

    proptest::proptest! {
        #[test]
        fn word_hashes_of_any_split_are_xxh3(text in "([a-z]{0,3} ){0,20}[a-z]{0,20}( [a-z0-9é]{0,12}){0,20}") {
            let bytes = text.as_bytes();
            let starts: Vec<u32> = std::iter::once(0)
                .chain(memchr::memchr_iter(b' ', bytes).map(|space| space as u32 + 1))
                .collect();
            let mut hashes = vec![7];
            word_hashes_from_starts(bytes, &starts, &mut hashes);
            let expected: Vec<u64> = std::iter::once(7).chain(text.split(' ').map(word_hash)).collect();
            proptest::prop_assert_eq!(&hashes, &expected);
            let mut portable = vec![7; expected.len()];
            scalar_word_hashes(bytes, &starts, 1, &mut portable[1..]);
            proptest::prop_assert_eq!(&portable[2..], &expected[2..]);
        }
    }

    #[test]
    fn vector_word_hashes_match_xxh3_on_long_texts() {
        let mut state = 3u64;
        let words: Vec<String> = (0..2_000)
            .map(|_| {
                let len = (splitmix64(&mut state) % 14) as usize;
                (0..len)
                    .map(|_| char::from(b'a' + (splitmix64(&mut state) % 26) as u8))
                    .collect()
            })
            .collect();
        let text = words.join(" ");
        let starts: Vec<u32> = std::iter::once(0)
            .chain(memchr::memchr_iter(b' ', text.as_bytes()).map(|space| space as u32 + 1))
            .collect();
        let mut hashes = Vec::new();
        word_hashes_from_starts(text.as_bytes(), &starts, &mut hashes);
        let expected: Vec<u64> = words.iter().map(|word| word_hash(word)).collect();
        assert_eq!(hashes, expected);
    }

    #[test]
    fn malformed_starts_panic_instead_of_reading_out_of_bounds() {
        let text = "word ".repeat(20);
        let mut starts: Vec<u32> = (0..20).map(|word| word * 5).collect();
        starts[3] = 90; // a start past its successor: no block may gather from it
        let result = std::panic::catch_unwind(|| {
            word_hashes_from_starts(text.as_bytes(), &starts, &mut Vec::new());
        });
        assert!(result.is_err());
    }

    #[test]
    fn vector_shingle_windows_match_the_spec() {
        let words: Vec<u64> = (0..40).map(|i| word_hash(&format!("w{i}"))).collect();
        for count in 0..words.len() {
            let mut hashes = vec![7];
            shingle_hashes_fixed::<5>(&words[..count], &mut hashes);
            let expected: Vec<u64> = std::iter::once(7)
                .chain(words[..count].windows(5).map(shingle_hash))
                .collect();
            assert_eq!(hashes, expected, "{count} words");
            let mut portable = vec![7];
            shingle_windows_scalar::<5>(&words[..count], &mut portable);
            assert_eq!(portable, expected, "{count} words, portable");
        }
    }

    #[test]
    fn golden_shingle_hash() {
        let words = [word_hash("hello"), word_hash("world")];
        assert_eq!(shingle_hash(&words), 0x0e01_69c1_9be0_a736);
        assert_eq!(shingle_hash(&[]), fmix64(0x243F_6A88_85A3_08D3));
    }
}
