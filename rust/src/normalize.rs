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

use unicode_normalization::{is_nfkc_quick, IsNormalized, UnicodeNormalization};

/// Options of [`normalize_into`]; the defaults match Python's `amfast.normalize`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// Collects tokens into `out`, inserting exactly one space between tokens.
struct TokenWriter<'a> {
    out: &'a mut String,
    pending_separator: bool,
}

impl TokenWriter<'_> {
    #[inline]
    fn separator(&mut self) {
        self.pending_separator = true;
    }

    #[inline]
    fn word_char(&mut self, ch: char) {
        if self.pending_separator && !self.out.is_empty() {
            self.out.push(' ');
        }
        self.pending_separator = false;
        self.out.push(ch);
    }

    #[inline]
    fn operator(&mut self, ch: char) {
        let ascii = match ch {
            '\u{2212}' => '-',
            '\u{00D7}' => '*',
            '\u{00F7}' => '/',
            other => other,
        };
        self.separator();
        self.word_char(ascii);
        self.separator();
    }

    #[inline]
    fn push(&mut self, ch: char, class: Class, options: NormalizeOptions) {
        match class {
            Class::Word => self.word_char(ch),
            Class::Digit if options.keep_digits => self.word_char(ch),
            Class::Operator if options.math_operators => self.operator(ch),
            _ => self.separator(),
        }
    }
}

/// Normalizes `text` into `out` (cleared first). Reusing `out` across rows avoids allocation.
pub fn normalize_into(text: &str, options: &NormalizeOptions, out: &mut String) {
    out.clear();
    let stripped;
    let text = if options.strip_latex && text.bytes().any(|b| b == b'\\' || b == b'$') {
        stripped = strip_latex_wrappers(text);
        stripped.as_str()
    } else {
        text
    };
    if text.is_ascii() {
        normalize_ascii(text.as_bytes(), *options, out);
    } else {
        normalize_unicode(text, *options, out);
    }
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
type AsciiTable = [u8; 128];

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

fn normalize_ascii(bytes: &[u8], options: NormalizeOptions, out: &mut String) {
    let bits = usize::from(options.lowercase || options.case_fold)
        | usize::from(options.keep_digits) << 1
        | usize::from(options.math_operators) << 2;
    let table = &ASCII_TABLES[bits];
    let mut buffer = std::mem::take(out).into_bytes();
    buffer.clear();
    buffer.reserve(bytes.len() * 2);
    let mut position = 0;
    while position < bytes.len() {
        let action = table[usize::from(bytes[position] & 0x7F)];
        if action == 0 {
            position += 1;
        } else if action & 0x80 == 0 {
            // A whole word: map its bytes in one pass instead of branching per byte.
            let length = bytes[position..]
                .iter()
                .take_while(|&&byte| {
                    let action = table[usize::from(byte & 0x7F)];
                    action != 0 && action & 0x80 == 0
                })
                .count();
            if !buffer.is_empty() {
                buffer.push(b' ');
            }
            let word = &bytes[position..position + length];
            buffer.extend(word.iter().map(|&byte| table[usize::from(byte & 0x7F)]));
            position += length;
        } else {
            if !buffer.is_empty() {
                buffer.push(b' ');
            }
            buffer.push(action & 0x7F);
            position += 1;
        }
    }
    // Only ASCII bytes were written, so this conversion cannot fail; the fallback keeps the
    // function total without an unwrap.
    *out = String::from_utf8(buffer)
        .unwrap_or_else(|error| String::from_utf8_lossy(error.as_bytes()).into_owned());
}

fn normalize_unicode(text: &str, options: NormalizeOptions, out: &mut String) {
    let composed: String = if is_nfkc_quick(text.chars()) == IsNormalized::Yes {
        text.to_owned()
    } else {
        text.nfkc().collect()
    };
    let cased = if options.case_fold {
        let folded = caseless::default_case_fold_str(&composed);
        renormalize(folded)
    } else if options.lowercase {
        let mut lowered = String::with_capacity(composed.len());
        for ch in composed.chars() {
            lowered.extend(ch.to_lowercase());
        }
        renormalize(lowered)
    } else {
        composed
    };
    let mut writer = TokenWriter {
        out,
        pending_separator: false,
    };
    for ch in cased.chars() {
        writer.push(ch, char_class(ch), options);
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
    fn uppercase_survives_when_lowercasing_is_off() {
        let options = NormalizeOptions {
            lowercase: false,
            ..NormalizeOptions::default()
        };
        assert_eq!(normalize("Hello WORLD", &options), "Hello WORLD");
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
        fn ascii_fast_path_matches_unicode_path(text in "[ -~]{0,60}", options in any_options()) {
            let mut via_unicode = String::new();
            normalize_unicode(&text, options, &mut via_unicode);
            let mut via_ascii = String::new();
            normalize_ascii(text.as_bytes(), options, &mut via_ascii);
            prop_assert_eq!(via_ascii, via_unicode);
        }
    }
}
