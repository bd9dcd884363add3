//! Text normalization for dedup and decontamination.
//!
//! Pipeline: optional LaTeX-wrapper stripping → Unicode NFKC → lowercase (or full case folding)
//! → tokens. A token is a maximal run of word characters (Unicode alphanumerics and combining
//! marks); everything else is a separator, and runs of separators become one ASCII space, with
//! none at either end. Options delete digits (each deleted digit acts as a separator, so the
//! characters on either side never merge into a new token or compose under NFKC) and keep the
//! math operators `+ - * / = ^ < >` as one-character tokens.
//!
//! Invariant: `normalize(normalize(x)) == normalize(x)` for every option set (property-tested).
//! Pure-ASCII input takes a byte-table fast path, which is exact because NFKC is the identity on
//! ASCII.

use crate::ascii_words;
use unicode_normalization::{is_nfkc_quick, IsNormalized, UnicodeNormalization};

/// Options of [`normalize_into`]; the defaults match Python's `amfast.normalize`.
///
/// From Python, the `amfast.normalize.NormalizeOptions` object is read whole (one attribute
/// per field), so the option list is declared once on each side of the boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "python", derive(pyo3::FromPyObject))]
#[allow(clippy::struct_excessive_bools)] // independent switches, one per documented option
pub struct NormalizeOptions {
    /// Map letters to lower case (`str.lower` semantics, per character).
    pub lowercase: bool,
    /// Full Unicode case folding (`ß` → `ss`); implies lower case.
    pub case_fold: bool,
    /// Keep digits; `false` deletes them (used to compare problems that differ only in numbers).
    pub keep_digits: bool,
    /// Keep `+ - * / = ^ < >` (and `−`, `×`, `÷`) as one-character tokens.
    pub math_operators: bool,
    /// Drop `$`, `\left`, `\right`, `\displaystyle` and `\,` before anything else.
    pub strip_latex: bool,
}

impl Default for NormalizeOptions {
    fn default() -> Self {
        Self {
            lowercase: true,
            case_fold: false,
            keep_digits: true,
            math_operators: false,
            strip_latex: false,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Class {
    Word,
    Digit,
    Operator,
    Separator,
}

const fn ascii_class(byte: u8) -> Class {
    match byte {
        b'a'..=b'z' | b'A'..=b'Z' => Class::Word,
        b'0'..=b'9' => Class::Digit,
        b'+' | b'-' | b'*' | b'/' | b'=' | b'^' | b'<' | b'>' => Class::Operator,
        _ => Class::Separator,
    }
}

const ASCII_CLASSES: [Class; 128] = {
    let mut table = [Class::Separator; 128];
    let mut byte = 0;
    while byte < 128 {
        table[byte] = ascii_class(byte as u8);
        byte += 1;
    }
    table
};

fn char_class(ch: char) -> Class {
    if ch.is_ascii() {
        return ASCII_CLASSES[ch as usize];
    }
    if ch.is_numeric() {
        Class::Digit
    } else if ch.is_alphanumeric() || unicode_normalization::char::is_combining_mark(ch) {
        Class::Word
    } else if matches!(ch, '\u{2212}' | '\u{00D7}' | '\u{00F7}') {
        Class::Operator
    } else {
        Class::Separator
    }
}

/// Collects tokens as UTF-8 bytes, inserting exactly one space between tokens. Shared by the
/// ASCII table path and the Unicode path so a word may run across both.
struct Tokens<'a> {
    buffer: Vec<u8>,
    pending_separator: bool,
    /// Byte offset of each token's start, when the caller wants them (shingling does).
    word_starts: Option<&'a mut Vec<u32>>,
}

impl<'a> Tokens<'a> {
    #[allow(clippy::manual_inspect)] // `inspect` would only lend the `&mut`, not move it on
    fn new(reuse: String, capacity: usize, word_starts: Option<&'a mut Vec<u32>>) -> Self {
        let mut buffer = reuse.into_bytes();
        buffer.clear();
        buffer.reserve(capacity);
        let word_starts = word_starts.map(|starts| {
            starts.clear();
            starts
        });
        Self {
            buffer,
            pending_separator: false,
            word_starts,
        }
    }

    #[inline]
    fn start_token(&mut self) {
        let starts_token = if self.buffer.is_empty() {
            true
        } else if self.pending_separator {
            self.buffer.push(b' ');
            true
        } else {
            false
        };
        if starts_token {
            if let Some(starts) = self.word_starts.as_deref_mut() {
                starts.push(self.buffer.len() as u32);
            }
        }
        self.pending_separator = false;
    }

    #[inline]
    fn word_char(&mut self, ch: char) {
        self.start_token();
        let mut encoded = [0u8; 4];
        self.buffer
            .extend_from_slice(ch.encode_utf8(&mut encoded).as_bytes());
    }

    #[inline]
    fn operator(&mut self, ascii: u8) {
        self.pending_separator = true;
        self.start_token();
        self.buffer.push(ascii);
        self.pending_separator = true;
    }

    #[inline]
    fn push_char(&mut self, ch: char, options: NormalizeOptions) {
        match char_class(ch) {
            Class::Word => self.word_char(ch),
            Class::Digit if options.keep_digits => self.word_char(ch),
            Class::Operator if options.math_operators => self.operator(match ch {
                '\u{2212}' => b'-',
                '\u{00D7}' => b'*',
                '\u{00F7}' => b'/',
                other => other as u8,
            }),
            _ => self.pending_separator = true,
        }
    }

    /// The ASCII fast path, one table lookup per byte.
    fn ascii_run(&mut self, bytes: &[u8], table: &AsciiTable) {
        if table[usize::from(b'+')] & 0x80 != 0 {
            self.ascii_run_with_operators(bytes, table);
        } else {
            self.ascii_words(bytes, table);
        }
    }

    /// ASCII without operator tokens (see [`crate::ascii_words`]): separators are written
    /// eagerly there, so the lazy `pending_separator` form is restored at both ends of the run.
    fn ascii_words(&mut self, bytes: &[u8], table: &AsciiTable) {
        if bytes.is_empty() {
            return;
        }
        let after_word = !self.buffer.is_empty() && !self.pending_separator;
        if self.pending_separator && !self.buffer.is_empty() {
            self.buffer.push(b' ');
        }
        let written = self.buffer.len();
        self.buffer
            .resize(written + bytes.len() + ascii_words::SLACK, 0);
        let mut cursor = ascii_words::Cursor {
            written,
            after_word,
            starts: 0,
        };
        if let Some(starts) = self.word_starts.as_deref_mut() {
            cursor.starts = starts.len();
            // A run of n bytes starts at most n / 2 + 1 words; the rest is room for the stores
            // `run` makes past the last start.
            starts.resize(
                cursor.starts + bytes.len() / 2 + 2 + ascii_words::START_SLACK,
                0,
            );
            cursor = ascii_words::run(bytes, table, &mut self.buffer, Some(starts), cursor);
            starts.truncate(cursor.starts);
        } else {
            cursor = ascii_words::run(bytes, table, &mut self.buffer, None, cursor);
        }
        self.buffer.truncate(cursor.written);
        self.pending_separator = self.buffer.last() == Some(&b' ');
        if self.pending_separator {
            self.buffer.pop();
        }
    }

    /// ASCII with operator tokens: tight loops over runs of separators and of word bytes.
    fn ascii_run_with_operators(&mut self, bytes: &[u8], table: &AsciiTable) {
        let action = |byte: u8| table[usize::from(byte & 0x7F)];
        let mut position = 0;
        while position < bytes.len() {
            let first = action(bytes[position]);
            position += 1;
            if first == 0 {
                self.pending_separator = true;
                while position < bytes.len() && action(bytes[position]) == 0 {
                    position += 1;
                }
            } else if first & 0x80 != 0 {
                self.operator(first & 0x7F);
            } else {
                self.start_token();
                self.buffer.push(first);
                while let Some(&byte) = bytes.get(position) {
                    let mapped = action(byte);
                    if mapped == 0 || mapped & 0x80 != 0 {
                        break;
                    }
                    self.buffer.push(mapped);
                    position += 1;
                }
            }
        }
    }

    fn finish(self) -> String {
        debug_assert!(std::str::from_utf8(&self.buffer).is_ok());
        // SAFETY: every write is an ASCII byte (table values, spaces, operators) or a whole
        // `char::encode_utf8`, and the buffer is only ever truncated after an ASCII byte, so it
        // is valid UTF-8; re-validating cost 2% of near dedup.
        unsafe { String::from_utf8_unchecked(self.buffer) }
    }
}

/// Normalizes `text` into `out` (cleared first). Reusing `out` across rows avoids allocation.
pub fn normalize_into(text: &str, options: &NormalizeOptions, out: &mut String) {
    normalize_with_words(text, *options, out, None);
}

/// [`normalize_into`] that also records the byte offset where each word (token) starts, so
/// shingling need not scan the output again. Offsets are `u32`: rows are limited to 4 GiB.
pub fn normalize_words_into(
    text: &str,
    options: &NormalizeOptions,
    out: &mut String,
    word_starts: &mut Vec<u32>,
) {
    normalize_with_words(text, *options, out, Some(word_starts));
}

fn normalize_with_words(
    text: &str,
    options: NormalizeOptions,
    out: &mut String,
    word_starts: Option<&mut Vec<u32>>,
) {
    out.clear();
    let stripped;
    let text = if options.strip_latex && text.bytes().any(|b| b == b'\\' || b == b'$') {
        stripped = strip_latex_wrappers(text);
        stripped.as_str()
    } else {
        text
    };
    let mut tokens = Tokens::new(
        std::mem::take(out),
        text.len() + text.len() / 2,
        word_starts,
    );
    let table = ascii_table_for(options);
    if text.is_ascii() {
        tokens.ascii_run(text.as_bytes(), table);
    } else {
        normalize_mixed(text, options, table, &mut tokens);
    }
    *out = tokens.finish();
}

/// Convenience wrapper returning a new `String`.
#[must_use]
pub fn normalize(text: &str, options: &NormalizeOptions) -> String {
    let mut out = String::with_capacity(text.len());
    normalize_into(text, options, &mut out);
    out
}

/// Per-byte action of the ASCII fast path: 0 = separator, `b` = emit `b` as part of a word,
/// `b | 0x80` = emit `b` as a one-character operator token.
type AsciiTable = ascii_words::AsciiTable;

const fn ascii_table(lower: bool, keep_digits: bool, math_operators: bool) -> AsciiTable {
    let mut table = [0u8; 128];
    let mut byte = 0;
    while byte < 128 {
        let value = byte as u8;
        table[byte] = match ascii_class(value) {
            Class::Word if lower => value.to_ascii_lowercase(),
            Class::Word => value,
            Class::Digit if keep_digits => value,
            Class::Operator if math_operators => value | 0x80,
            _ => 0,
        };
        byte += 1;
    }
    table
}

/// One table per combination of (lowercase, `keep_digits`, `math_operators`), indexed by bits.
const ASCII_TABLES: [AsciiTable; 8] = {
    let mut tables = [[0u8; 128]; 8];
    let mut bits = 0;
    while bits < 8 {
        tables[bits] = ascii_table(bits & 1 != 0, bits & 2 != 0, bits & 4 != 0);
        bits += 1;
    }
    tables
};

fn ascii_table_for(options: NormalizeOptions) -> &'static AsciiTable {
    let bits = usize::from(options.lowercase || options.case_fold)
        | usize::from(options.keep_digits) << 1
        | usize::from(options.math_operators) << 2;
    &ASCII_TABLES[bits]
}

/// Text with some non-ASCII: ASCII runs take the table path, non-ASCII segments the Unicode
/// path. Exact because NFKC never composes across an ASCII character (ASCII characters are
/// starters and never the second half of a composition) and case mapping is per character; the
/// one exception, a combining mark after an ASCII letter (`e` + U+0301), is handled by moving
/// that letter into the Unicode segment.
fn normalize_mixed(text: &str, options: NormalizeOptions, table: &AsciiTable, tokens: &mut Tokens) {
    let bytes = text.as_bytes();
    let mut position = 0;
    while position < bytes.len() {
        let ascii_end = position + ascii_prefix_len(&bytes[position..]);
        let segment_end = ascii_end
            + bytes[ascii_end..]
                .iter()
                .take_while(|b| !b.is_ascii())
                .count();
        let starts_with_mark = text[ascii_end..]
            .chars()
            .next()
            .is_some_and(unicode_normalization::char::is_combining_mark);
        let split = if starts_with_mark && ascii_end > position {
            ascii_end - 1
        } else {
            ascii_end
        };
        tokens.ascii_run(&bytes[position..split], table);
        unicode_segment(&text[split..segment_end], options, table, tokens);
        position = segment_end;
    }
}

/// Length of the leading ASCII run of `bytes`, 16 bytes at a time (`is_ascii` on a chunk
/// tests whole machine words) then byte by byte.
fn ascii_prefix_len(bytes: &[u8]) -> usize {
    const CHUNK: usize = 16;
    let whole = bytes
        .chunks_exact(CHUNK)
        .take_while(|chunk| chunk.is_ascii())
        .count()
        * CHUNK;
    whole
        + bytes[whole..]
            .iter()
            .take_while(|byte| byte.is_ascii())
            .count()
}

/// How a non-ASCII character can skip the full NFKC machinery. Each class is NFKC-stable (or
/// maps to ASCII), has no case, and never composes with the character before it; the caller
/// also requires that no combining mark follows.
enum FastChar {
    /// CJK unified ideographs: stable word characters.
    Ideograph,
    /// Fullwidth ASCII forms (U+FF01..U+FF5E): NFKC maps them to the ASCII character.
    Fullwidth(u8),
    /// CJK punctuation that NFKC leaves alone and that is not alphanumeric.
    Separator,
}

fn fast_char(ch: char) -> Option<FastChar> {
    match ch {
        '\u{4E00}'..='\u{9FFF}' | '\u{3400}'..='\u{4DBF}' => Some(FastChar::Ideograph),
        '\u{FF01}'..='\u{FF5E}' => u8::try_from(ch as u32 - 0xFEE0)
            .ok()
            .map(FastChar::Fullwidth),
        '\u{3001}'..='\u{3003}' | '\u{3008}'..='\u{3011}' | '\u{3014}'..='\u{301F}' => {
            Some(FastChar::Separator)
        }
        _ => None,
    }
}

/// A non-ASCII segment: characters of a fast class are handled one by one; runs of other
/// characters go through [`reference_segment`]. Splitting there is exact because a fast
/// character never composes with its neighbours (see [`FastChar`]).
fn unicode_segment(text: &str, options: NormalizeOptions, table: &AsciiTable, tokens: &mut Tokens) {
    let mut slow_start: Option<usize> = None;
    let mut characters = text.char_indices().peekable();
    while let Some((position, ch)) = characters.next() {
        // Combining marks are never ASCII nor in a fast class: test those cheap cases first.
        let mark_follows = characters.peek().is_some_and(|&(_, next)| {
            !next.is_ascii()
                && fast_char(next).is_none()
                && unicode_normalization::char::is_combining_mark(next)
        });
        let fast = if mark_follows { None } else { fast_char(ch) };
        let Some(fast) = fast else {
            slow_start.get_or_insert(position);
            continue;
        };
        if let Some(start) = slow_start.take() {
            reference_segment(&text[start..position], options, tokens);
        }
        match fast {
            FastChar::Ideograph => tokens.word_char(ch),
            FastChar::Fullwidth(ascii) => tokens.ascii_run(&[ascii], table),
            FastChar::Separator => tokens.pending_separator = true,
        }
    }
    if let Some(start) = slow_start {
        reference_segment(&text[start..], options, tokens);
    }
}

/// The reference path: NFKC, case mapping, NFKC again if needed, then one class per character.
fn reference_segment(text: &str, options: NormalizeOptions, tokens: &mut Tokens) {
    if text.is_empty() {
        return;
    }
    let composed: String = if is_nfkc_quick(text.chars()) == IsNormalized::Yes {
        text.to_owned()
    } else {
        text.nfkc().collect()
    };
    let cased = if options.case_fold {
        renormalize(caseless::default_case_fold_str(&composed))
    } else if options.lowercase {
        let mut lowered = String::with_capacity(composed.len());
        for ch in composed.chars() {
            lowered.extend(ch.to_lowercase());
        }
        renormalize(lowered)
    } else {
        composed
    };
    for ch in cased.chars() {
        tokens.push_char(ch, options);
    }
}

/// Case mapping can leave sequences NFKC would compose (e.g. `İ` → `i` + U+0307); composing them
/// again is what makes the whole function idempotent.
fn renormalize(text: String) -> String {
    if is_nfkc_quick(text.chars()) == IsNormalized::Yes {
        text
    } else {
        text.nfkc().collect()
    }
}

const LATEX_COMMANDS: [&str; 3] = ["\\displaystyle", "\\right", "\\left"];

/// Normalized rows packed back to back in one UTF-8 buffer, the layout of an Arrow string
/// array: building outputs from it needs no per-row allocation.
#[derive(Debug, Default)]
pub struct PackedTexts {
    /// Every normalized text, back to back.
    pub values: Vec<u8>,
    /// Row `i` is `values[offsets[i]..offsets[i + 1]]`; there are `rows + 1` offsets.
    pub offsets: Vec<usize>,
    /// `false` where the input row was null (its range is empty).
    pub valid: Vec<bool>,
}

impl PackedTexts {
    /// Row `row`, or `None` for a null input row.
    #[must_use]
    pub fn row(&self, row: usize) -> Option<&str> {
        self.row_in(&self.values, row)
    }

    /// [`Self::row`] read from `values`, these rows' packed bytes after they were moved out of
    /// `self` (into an Arrow buffer).
    #[must_use]
    pub fn row_in<'a>(&self, values: &'a [u8], row: usize) -> Option<&'a str> {
        let bytes = &values[self.offsets[row]..self.offsets[row + 1]];
        // Every row was written from a `String`, so it is valid UTF-8 on its own.
        self.valid[row].then(|| std::str::from_utf8(bytes).unwrap_or_default())
    }
}

/// Normalizes every row in parallel into one [`PackedTexts`]; nulls stay null.
#[must_use]
pub fn normalize_packed(texts: &[Option<&str>], options: &NormalizeOptions) -> PackedTexts {
    use rayon::prelude::*;
    const ROWS_PER_TASK: usize = 1024;
    let parts: Vec<(Vec<u8>, Vec<usize>)> = texts
        .par_chunks(ROWS_PER_TASK)
        .map(|chunk| {
            let (mut values, mut ends, mut buffer) = (Vec::new(), Vec::new(), String::new());
            for text in chunk {
                if let Some(text) = text {
                    normalize_into(text, options, &mut buffer);
                    values.extend_from_slice(buffer.as_bytes());
                }
                ends.push(values.len());
            }
            (values, ends)
        })
        .collect();
    let mut packed = PackedTexts {
        values: Vec::with_capacity(parts.iter().map(|(values, _)| values.len()).sum()),
        offsets: Vec::with_capacity(texts.len() + 1),
        valid: texts.iter().map(Option::is_some).collect(),
    };
    packed.offsets.push(0);
    for (values, ends) in parts {
        let base = packed.values.len();
        packed.offsets.extend(ends.iter().map(|end| base + end));
        packed.values.extend_from_slice(&values);
    }
    packed
}

/// Replaces `$`, `\,` and the sizing commands `\left`, `\right`, `\displaystyle` with a space.
/// A command only matches when no letter follows, so `\leftarrow` and `\rightarrow` survive.
#[must_use]
pub fn strip_latex_wrappers(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(position) = rest.find(['\\', '$']) {
        out.push_str(&rest[..position]);
        let tail = &rest[position..];
        if let Some(after) = tail.strip_prefix('$').or_else(|| tail.strip_prefix("\\,")) {
            out.push(' ');
            rest = after;
            continue;
        }
        let command = LATEX_COMMANDS.iter().find(|command| {
            tail.starts_with(**command)
                && !tail[command.len()..].starts_with(|c: char| c.is_ascii_alphabetic())
        });
        if let Some(command) = command {
            out.push(' ');
            rest = &tail[command.len()..];
        } else {
            out.push('\\');
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn norm(text: &str) -> String {
        normalize(text, &NormalizeOptions::default())
    }

    #[test]
    fn collapses_punctuation_and_whitespace_runs() {
        assert_eq!(norm("  Hello,   World!!  "), "hello world");
        assert_eq!(norm("a_b-c"), "a b c");
        assert_eq!(norm(""), "");
        assert_eq!(norm("?!."), "");
    }

    #[test]
    fn applies_nfkc_before_lowercasing() {
        assert_eq!(norm("Ｆｕｌｌｗｉｄｔｈ １２３"), "fullwidth 123");
        assert_eq!(norm("ﬁne"), "fine");
        assert_eq!(norm("Crème Brûlée"), "crème brûlée");
        assert_eq!(norm("x²"), "x2");
    }

    #[test]
    fn keeps_cjk_characters_as_word_characters() {
        assert_eq!(norm("小明有３个苹果，吃了1个。"), "小明有3个苹果 吃了1个");
    }

    #[test]
    fn case_folding_is_full() {
        let options = NormalizeOptions {
            case_fold: true,
            ..NormalizeOptions::default()
        };
        assert_eq!(normalize("Straße", &options), "strasse");
        assert_eq!(norm("Straße"), "straße");
    }

    #[test]
    fn deleting_digits_leaves_a_separator() {
        let options = NormalizeOptions {
            keep_digits: false,
            ..NormalizeOptions::default()
        };
        assert_eq!(
            normalize("Tom has 12 apples and x2y", &options),
            "tom has apples and x y"
        );
    }

    #[test]
    fn math_operators_become_tokens() {
        let options = NormalizeOptions {
            math_operators: true,
            ..NormalizeOptions::default()
        };
        assert_eq!(normalize("2x+3=y^2, a<b", &options), "2x + 3 = y ^ 2 a < b");
        assert_eq!(normalize("6 × 7 − 1", &options), "6 * 7 - 1");
        assert_eq!(norm("2x+3=y"), "2x 3 y");
    }

    #[test]
    fn strips_latex_sizing_but_not_arrows() {
        let options = NormalizeOptions {
            strip_latex: true,
            ..NormalizeOptions::default()
        };
        assert_eq!(
            normalize(
                r"$\left( \frac{1}{2} \right)$ \leftarrow \displaystyle x\,y",
                &options
            ),
            "frac 1 2 leftarrow x y"
        );
        assert_eq!(norm(r"\left( x \right)"), "left x right");
    }

    #[test]
    fn packed_rows_match_row_by_row_normalization() {
        let texts = [Some("Hello,  World"), None, Some(""), Some("中文，ＡＢ")];
        let packed = normalize_packed(&texts, &NormalizeOptions::default());
        let rows: Vec<Option<&str>> = (0..texts.len()).map(|row| packed.row(row)).collect();
        assert_eq!(
            rows,
            vec![Some("hello world"), None, Some(""), Some("中文 ab")]
        );
        assert_eq!(packed.offsets.len(), texts.len() + 1);
    }

    #[test]
    fn word_starts_point_at_each_token() {
        let options = NormalizeOptions {
            math_operators: true,
            ..NormalizeOptions::default()
        };
        let (mut out, mut starts) = (String::new(), Vec::new());
        normalize_words_into("  Été, x+1 中文，ok", &options, &mut out, &mut starts);
        assert_eq!(out, "été x + 1 中文 ok");
        let mut expected = Vec::new();
        let mut offset = 0;
        for word in out.split(' ') {
            expected.push(offset as u32);
            offset += word.len() + 1;
        }
        assert_eq!(starts, expected);
    }

    #[test]
    fn uppercase_survives_when_lowercasing_is_off() {
        let options = NormalizeOptions {
            lowercase: false,
            ..NormalizeOptions::default()
        };
        assert_eq!(normalize("Hello WORLD", &options), "Hello WORLD");
    }

    /// `normalize` and the slow, obviously-right path over the whole text, with the same
    /// options (LaTeX stripping is tested on its own).
    fn fast_and_reference(text: &str, options: NormalizeOptions) -> (String, String) {
        let options = NormalizeOptions {
            strip_latex: false,
            ..options
        };
        let mut reference = Tokens::new(String::new(), 0, None);
        reference_segment(text, options, &mut reference);
        (normalize(text, &options), reference.finish())
    }

    fn any_options() -> impl Strategy<Value = NormalizeOptions> {
        (
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(
                |(lowercase, case_fold, keep_digits, math_operators, strip_latex)| {
                    NormalizeOptions {
                        lowercase,
                        case_fold,
                        keep_digits,
                        math_operators,
                        strip_latex,
                    }
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn normalization_is_idempotent(text in "\\PC{0,40}", options in any_options()) {
            let once = normalize(&text, &options);
            prop_assert_eq!(normalize(&once, &options), once);
        }

        #[test]
        fn normalization_is_idempotent_on_tricky_unicode(
            text in "[a-zA-Z0-9İıßẞΣσςﬁ²½\u{0301}\u{0307}\u{0345}Ωé\u{1E9E}ǅ\\$ ,+−×]{0,24}",
            options in any_options(),
        ) {
            let once = normalize(&text, &options);
            prop_assert_eq!(normalize(&once, &options), once);
        }

        #[test]
        fn output_has_single_spaces_and_no_edges(text in "\\PC{0,40}", options in any_options()) {
            let out = normalize(&text, &options);
            prop_assert!(!out.starts_with(' ') && !out.ends_with(' '));
            prop_assert!(!out.contains("  "));
        }

        #[test]
        fn long_ascii_runs_match_the_reference_path(
            text in "([a-zA-Z0-9]{0,24}[ ,.+=_()$]{0,14}){0,8}",
            options in any_options(),
        ) {
            let (fast, reference) = fast_and_reference(&text, options);
            prop_assert_eq!(fast, reference);
        }

        #[test]
        fn word_starts_follow_the_spaces(
            text in "([ -~]{0,16}|[a-zé\u{0301}Ａ-Ｚ０-９一-龥，。 ]{0,6}){0,6}",
            options in any_options(),
        ) {
            let (mut out, mut starts) = (String::new(), Vec::new());
            normalize_words_into(&text, &options, &mut out, &mut starts);
            let expected: Vec<u32> = if out.is_empty() {
                Vec::new()
            } else {
                std::iter::once(0)
                    .chain(out.match_indices(' ').map(|(space, _)| space as u32 + 1))
                    .collect()
            };
            prop_assert_eq!(starts, expected);
        }

        #[test]
        fn fast_paths_match_the_reference_path(
            text in "([ -~]{0,12}|[a-zé\u{0301}\u{0307}\u{3099}İß²ﬁ−×Ａ-Ｚａ-ｚ０-９！-～一-龥、-〿，。 ]{0,6}){0,6}",
            options in any_options(),
        ) {
            let (fast, reference) = fast_and_reference(&text, options);
            prop_assert_eq!(fast, reference);
        }
    }
}
