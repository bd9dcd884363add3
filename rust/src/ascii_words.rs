//! The ASCII word path of [`crate::normalize`] (no operator tokens): bytes map to lower-case
//! word bytes or separators, runs of separators become one space, and word starts are recorded.
//!
//! Written eagerly: every byte is stored (mapped, or a space for a separator) and the write
//! position advances past a word byte or the first separator after a word, so a separator run
//! leaves one trailing space that the caller turns back into its lazy `pending_separator`.
//! [`run`] does 64 bytes at a time with AVX-512 VBMI2 where the CPU has it, else 16 bytes at a
//! time with SSSE3 (classify and lowercase in vector registers, then gather the kept bytes of
//! each 8-byte half with one `pshufb`) and the rest byte by byte; all produce the same bytes
//! (property-tested).

/// Per-byte action: 0 = separator, else the byte to emit (already lower-cased if asked).
pub type AsciiTable = [u8; 128];

/// Where the output stands: next write position, whether the last kept byte was a word byte,
/// and how many word starts are recorded.
#[derive(Debug, Clone, Copy)]
pub struct Cursor {
    pub written: usize,
    pub after_word: bool,
    pub starts: usize,
}

/// Bytes of slack `out` needs past `written + bytes.len()`: the vector paths store whole
/// 8-byte (SSSE3) or 64-byte (AVX-512) groups.
pub const SLACK: usize = 64;

/// Slots of slack `starts` needs: the vector paths store four (SSSE3) or sixteen (AVX-512)
/// word starts at a time whether or not that many are real.
pub const START_SLACK: usize = 16;

/// Maps `bytes` into `out` from `cursor.written`; with `starts`, records each word's output
/// offset at `starts[cursor.starts..]`. `out` must hold `written + bytes.len() + SLACK` bytes
/// and `starts` `cursor.starts + bytes.len() / 2 + 2 + START_SLACK` slots.
pub fn run(
    bytes: &[u8],
    table: &AsciiTable,
    out: &mut [u8],
    starts: Option<&mut [u32]>,
    cursor: Cursor,
) -> Cursor {
    run_with(bytes, table, out, starts, cursor, Kernel::Widest)
}

/// Which loop maps the bytes: the widest the CPU has, or a narrower one (tests compare them).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kernel {
    /// The byte loop only.
    Bytes,
    /// SSSE3 for whole 16-byte chunks, then the byte loop (chosen by name only in tests; the
    /// widest kernel falls back to it without AVX-512).
    #[cfg_attr(not(test), allow(dead_code))]
    Ssse3,
    /// AVX-512 (all bytes) where the CPU has it, else SSSE3 where it has that, else bytes.
    Widest,
}

fn run_with(
    bytes: &[u8],
    table: &AsciiTable,
    out: &mut [u8],
    mut starts: Option<&mut [u32]>,
    mut cursor: Cursor,
    kernel: Kernel,
) -> Cursor {
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if kernel != Kernel::Bytes {
        let options = VectorOptions::of(table);
        let starts = starts.as_deref_mut();
        if kernel == Kernel::Widest
            && std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512vbmi2")
            && std::arch::is_x86_feature_detected!("bmi2")
            && std::arch::is_x86_feature_detected!("popcnt")
        {
            // SAFETY: the CPU has AVX-512F/BW/VBMI2, BMI2 and POPCNT, checked just above.
            done = unsafe { wide::run(bytes, options, out, starts, &mut cursor) };
        } else if std::arch::is_x86_feature_detected!("ssse3")
            && std::arch::is_x86_feature_detected!("popcnt")
        {
            // SAFETY: the CPU has SSSE3 and POPCNT, checked just above.
            done = unsafe { vector::run(bytes, options, out, starts, &mut cursor) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = kernel;
    scalar(&bytes[done..], table, out, starts, &mut cursor);
    cursor
}

#[allow(clippy::needless_bitwise_bool)] // `&` on bools keeps the loop free of branches
fn scalar(
    bytes: &[u8],
    table: &AsciiTable,
    out: &mut [u8],
    starts: Option<&mut [u32]>,
    cursor: &mut Cursor,
) {
    let Cursor {
        mut written,
        mut after_word,
        starts: mut count,
    } = *cursor;
    if let Some(start_slots) = starts {
        for &byte in bytes {
            let mapped = table[usize::from(byte & 0x7F)];
            let is_word = mapped != 0;
            out[written] = if is_word { mapped } else { b' ' };
            start_slots[count] = written as u32;
            count += usize::from(is_word & !after_word);
            written += usize::from(is_word | after_word);
            after_word = is_word;
        }
    } else {
        for &byte in bytes {
            let mapped = table[usize::from(byte & 0x7F)];
            let is_word = mapped != 0;
            out[written] = if is_word { mapped } else { b' ' };
            written += usize::from(is_word | after_word);
            after_word = is_word;
        }
    }
    *cursor = Cursor {
        written,
        after_word,
        starts: count,
    };
}

/// The two switches a table without operators can encode, read back from the table.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
struct VectorOptions {
    lowercase: bool,
    keep_digits: bool,
}

#[cfg(target_arch = "x86_64")]
impl VectorOptions {
    fn of(table: &AsciiTable) -> Self {
        Self {
            lowercase: table[usize::from(b'A')] == b'a',
            keep_digits: table[usize::from(b'0')] != 0,
        }
    }
}

// The intrinsics take signed lanes and words; only the bit patterns matter here.
#[cfg(target_arch = "x86_64")]
#[allow(clippy::cast_possible_wrap, clippy::cast_sign_loss)]
mod vector {
    use super::{Cursor, VectorOptions, START_SLACK};
    use std::arch::x86_64::{
        __m128i, _mm_and_si128, _mm_andnot_si128, _mm_cmpgt_epi8, _mm_cvtsi128_si64,
        _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8, _mm_set_epi64x,
        _mm_shuffle_epi8, _mm_srli_si128,
    };

    /// `pshufb` control per 8-bit keep mask: the kept lanes' indices first, in order.
    const GATHER: [u64; 256] = {
        let mut table = [0u64; 256];
        let mut mask = 0;
        while mask < 256 {
            let (mut control, mut slot, mut lane) = (0u64, 0, 0);
            while lane < 8 {
                if mask & (1 << lane) != 0 {
                    control |= (lane as u64) << (8 * slot);
                    slot += 1;
                }
                lane += 1;
            }
            table[mask] = control;
            mask += 1;
        }
        table
    };

    /// Lanes whose signed byte lies in `low..=high` (ASCII input, so signed compares suffice).
    #[inline]
    #[target_feature(enable = "ssse3")]
    fn in_range(bytes: __m128i, low: u8, high: u8) -> __m128i {
        _mm_and_si128(
            _mm_cmpgt_epi8(bytes, _mm_set1_epi8((low - 1) as i8)),
            _mm_cmpgt_epi8(_mm_set1_epi8((high + 1) as i8), bytes),
        )
    }

    /// Stores the kept lanes of the low 8 bytes of `mapped` at `out[written..]`; returns how
    /// many were kept.
    #[inline]
    #[target_feature(enable = "ssse3,popcnt")]
    fn store_kept(mapped: __m128i, keep: u32, out: &mut [u8], written: usize) -> usize {
        let control = _mm_set_epi64x(0, GATHER[keep as usize] as i64);
        let gathered = _mm_cvtsi128_si64(_mm_shuffle_epi8(mapped, control)) as u64;
        out[written..written + 8].copy_from_slice(&gathered.to_le_bytes());
        keep.count_ones() as usize
    }

    /// Whole 16-byte chunks of `bytes`; returns how many bytes were consumed.
    #[target_feature(enable = "ssse3,popcnt")]
    pub(super) fn run(
        bytes: &[u8],
        options: VectorOptions,
        out: &mut [u8],
        mut starts: Option<&mut [u32]>,
        cursor: &mut Cursor,
    ) -> usize {
        let space = _mm_set1_epi8(b' ' as i8);
        let case_bit = _mm_set1_epi8(0x20);
        let mut previous_word = u32::from(cursor.after_word);
        let mut chunks = bytes.chunks_exact(16);
        for chunk in &mut chunks {
            // SAFETY: `chunk` is exactly 16 readable bytes; `loadu` has no alignment need.
            let raw = unsafe { _mm_loadu_si128(chunk.as_ptr().cast()) };
            let upper = in_range(raw, b'A', b'Z');
            let letter = _mm_or_si128(upper, in_range(raw, b'a', b'z'));
            let word = if options.keep_digits {
                _mm_or_si128(letter, in_range(raw, b'0', b'9'))
            } else {
                letter
            };
            let value = if options.lowercase {
                _mm_or_si128(raw, _mm_and_si128(upper, case_bit))
            } else {
                raw
            };
            let mapped = _mm_or_si128(_mm_and_si128(word, value), _mm_andnot_si128(word, space));
            let word_bits = _mm_movemask_epi8(word) as u32;
            let follows_word = (word_bits << 1 | previous_word) & 0xFFFF;
            let keep = word_bits | follows_word;
            let base = cursor.written;
            if let Some(start_slots) = starts.as_deref_mut() {
                // A start's output offset is `base` + the kept bytes before its lane. The first
                // four are stored unconditionally (a loop whose trip count follows the text
                // mispredicts its exit on most chunks); only the count says which are real.
                let word_starts = u64::from(word_bits & !follows_word);
                let offset = |lane: u32| {
                    (base + (u64::from(keep) & ((1 << lane) - 1)).count_ones() as usize) as u32
                };
                let first = cursor.starts;
                let mut rest = word_starts;
                for slot in &mut start_slots[first..first + START_SLACK] {
                    // Bit 16 stands in for "no start left": its offset is harmless.
                    *slot = offset((rest | 1 << 16).trailing_zeros());
                    rest &= rest.wrapping_sub(1);
                }
                let mut index = first + START_SLACK;
                while rest != 0 {
                    start_slots[index] = offset(rest.trailing_zeros());
                    index += 1;
                    rest &= rest - 1;
                }
                cursor.starts += word_starts.count_ones() as usize;
            }
            let low = store_kept(mapped, keep & 0xFF, out, base);
            let high = store_kept(_mm_srli_si128::<8>(mapped), keep >> 8, out, base + low);
            cursor.written = base + low + high;
            previous_word = word_bits >> 15;
        }
        cursor.after_word = previous_word != 0;
        bytes.len() - chunks.remainder().len()
    }
}

/// 64 bytes a step with AVX-512: classification into mask registers, `vpcompressb` packs the
/// kept bytes, `pext` maps word starts to output positions, and `vpcompressd` writes those
/// positions sixteen at a time. The tail goes through a masked load, so short ASCII runs of
/// mixed-script rows never reach the byte loop.
#[cfg(target_arch = "x86_64")]
#[allow(clippy::cast_possible_wrap, clippy::cast_ptr_alignment)]
mod wide {
    use super::{Cursor, VectorOptions};
    use std::arch::x86_64::{
        __m512i, _mm512_add_epi32, _mm512_cmpge_epu8_mask, _mm512_cmple_epu8_mask,
        _mm512_loadu_si512, _mm512_mask_blend_epi8, _mm512_maskz_compress_epi32,
        _mm512_maskz_compress_epi8, _mm512_maskz_loadu_epi8, _mm512_or_si512, _mm512_set1_epi32,
        _mm512_set1_epi8, _mm512_setr_epi32, _mm512_storeu_si512, _pext_u64,
    };

    /// Bytes in `low..=high`, as a mask.
    #[inline]
    #[target_feature(enable = "avx512bw")]
    fn in_range(bytes: __m512i, low: u8, high: u8) -> u64 {
        _mm512_cmpge_epu8_mask(bytes, _mm512_set1_epi8(low as i8))
            & _mm512_cmple_epu8_mask(bytes, _mm512_set1_epi8(high as i8))
    }

    /// All of `bytes`, 64 at a time; the last partial chunk through a masked load (masked-out
    /// lanes never fault). Returns how many bytes were consumed (all of them).
    #[target_feature(enable = "avx512bw,avx512vbmi2,bmi2,popcnt")]
    pub(super) fn run(
        bytes: &[u8],
        options: VectorOptions,
        out: &mut [u8],
        mut starts: Option<&mut [u32]>,
        cursor: &mut Cursor,
    ) -> usize {
        let mut chunks = bytes.chunks_exact(64);
        for chunk in &mut chunks {
            // SAFETY: `chunk` is exactly 64 readable bytes; `loadu` has no alignment need.
            let raw = unsafe { _mm512_loadu_si512(chunk.as_ptr().cast()) };
            step(raw, u64::MAX, options, out, starts.as_deref_mut(), cursor);
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let valid = (1u64 << rest.len()) - 1;
            // SAFETY: only the first `rest.len()` bytes are read; the other lanes are masked.
            let raw = unsafe { _mm512_maskz_loadu_epi8(valid, rest.as_ptr().cast()) };
            step(raw, valid, options, out, starts, cursor);
        }
        bytes.len()
    }

    /// One chunk: the lanes in `valid` (a low run of bits) are input bytes.
    #[inline]
    #[target_feature(enable = "avx512bw,avx512vbmi2,bmi2,popcnt")]
    fn step(
        raw: __m512i,
        valid: u64,
        options: VectorOptions,
        out: &mut [u8],
        starts: Option<&mut [u32]>,
        cursor: &mut Cursor,
    ) {
        let upper = in_range(raw, b'A', b'Z');
        let letter = upper | in_range(raw, b'a', b'z');
        let word = valid
            & if options.keep_digits {
                letter | in_range(raw, b'0', b'9')
            } else {
                letter
            };
        let value = if options.lowercase {
            _mm512_mask_blend_epi8(upper, raw, _mm512_or_si512(raw, _mm512_set1_epi8(0x20)))
        } else {
            raw
        };
        let mapped = _mm512_mask_blend_epi8(word, _mm512_set1_epi8(b' ' as i8), value);
        let follows_word = (word << 1 | u64::from(cursor.after_word)) & valid;
        let keep = word | follows_word;
        let base = cursor.written;
        let packed = _mm512_maskz_compress_epi8(keep, mapped);
        let target = &mut out[base..base + 64];
        // SAFETY: `target` is exactly 64 writable bytes.
        unsafe { _mm512_storeu_si512(target.as_mut_ptr().cast(), packed) };
        if let Some(start_slots) = starts {
            // Bit j: the j-th kept byte starts a word, i.e. output offset base + j.
            let mut output_starts = _pext_u64(word & !follows_word, keep);
            let lanes = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
            let mut offset = base as u32;
            for _ in 0..4 {
                let group = output_starts as u16;
                let positions = _mm512_maskz_compress_epi32(
                    group,
                    _mm512_add_epi32(lanes, _mm512_set1_epi32(offset as i32)),
                );
                let slots = &mut start_slots[cursor.starts..cursor.starts + 16];
                // SAFETY: `slots` is exactly 16 writable u32.
                unsafe { _mm512_storeu_si512(slots.as_mut_ptr().cast(), positions) };
                cursor.starts += group.count_ones() as usize;
                output_starts >>= 16;
                offset += 16;
            }
        }
        cursor.written = base + keep.count_ones() as usize;
        // The last valid lane decides whether the next chunk continues a word.
        cursor.after_word = word >> valid.ilog2() & 1 != 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn table(lowercase: bool, keep_digits: bool) -> AsciiTable {
        let mut table = [0u8; 128];
        for byte in 0..128u8 {
            table[usize::from(byte)] = match byte {
                b'A'..=b'Z' if lowercase => byte.to_ascii_lowercase(),
                b'a'..=b'z' | b'A'..=b'Z' => byte,
                b'0'..=b'9' if keep_digits => byte,
                _ => 0,
            };
        }
        table
    }

    fn map(
        text: &[u8],
        table: &AsciiTable,
        after_word: bool,
        kernel: Kernel,
    ) -> (Vec<u8>, Vec<u32>) {
        let mut out = vec![0u8; text.len() + SLACK + 3];
        let mut starts = vec![0u32; text.len() / 2 + 2 + START_SLACK];
        let cursor = Cursor {
            written: 3,
            after_word,
            starts: 0,
        };
        let end = run_with(text, table, &mut out, Some(&mut starts), cursor, kernel);
        out.truncate(end.written);
        starts.truncate(end.starts);
        (out[3..].to_vec(), starts)
    }

    #[test]
    fn collapses_separators_and_records_starts() {
        let text = b"  Hello,   World 42! x_y and more words past sixteen bytes  ";
        let (out, starts) = map(text, &table(true, true), false, Kernel::Widest);
        assert_eq!(
            out,
            b"hello world 42 x y and more words past sixteen bytes "
        );
        assert_eq!(starts[..3], [3, 9, 15]);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        #[test]
        fn vector_paths_match_the_byte_loop(
            text in "[ -~]{0,200}|([a-zA-Z0-9]{0,7}[ ,.!_]{0,3}){0,40}",
            lowercase in any::<bool>(),
            keep_digits in any::<bool>(),
            after_word in any::<bool>(),
        ) {
            let table = table(lowercase, keep_digits);
            let bytes = text.as_bytes();
            let bytes_only = map(bytes, &table, after_word, Kernel::Bytes);
            prop_assert_eq!(&map(bytes, &table, after_word, Kernel::Ssse3), &bytes_only);
            prop_assert_eq!(&map(bytes, &table, after_word, Kernel::Widest), &bytes_only);
        }
    }
}
