//! Quality metrics of text rows, one pass per row: the measurements behind `amfast.filters`.
//!
//! Per row, [`quality_metrics`] computes, in parallel (rayon) and without allocation per row:
//!
//! - `words`: whitespace-separated words; `tokens`: an approximate token count (Latin/digit word
//!   runs, each CJK character, each other non-space symbol).
//! - Consecutive repetition (the AM paper's n-gram repetition rule): over content tokens
//!   (lower-cased alphanumeric runs; each CJK character is a token), the longest stretch where one
//!   phrase of `p <= repeat_max_period` tokens repeats back to back at least `repeat_min_repeats`
//!   times. For each period `p`, a run of `r` positions with `t[i] == t[i + p]` is a periodic
//!   stretch of `r + p` tokens, i.e. `(r + p) / p` repeats: `O(tokens * max_period)`.
//! - Language (zh / en / other) by script units outside LaTeX (`$...$`, `\(...\)`, `\[...\]`
//!   and `\command` names are skipped): a Han character is one zh unit, a Latin word of two or
//!   more letters one en unit, a word in any other script one other unit. "en" therefore means
//!   Latin script. Mixing: the text is cut into sentences; a sentence with at least
//!   [`MIN_SENTENCE_UNITS`] units has its own language, and `mixed_fraction` is the share of
//!   units in sentences whose language differs from the text's.
//! - `unusual_fraction`: non-space characters outside the scripts and symbol blocks of math
//!   text in English and Chinese (ASCII, Latin, Greek, general punctuation, arrows, math
//!   operators, CJK, full-width forms) — mojibake, emoji, private-use, control characters.
//! - `urls`, `image_refs` (markup, image file names, "如图", "shown in the figure"...),
//!   `tables` (Markdown separator rows, HTML and LaTeX tables).
//! - `think_form`: 0 when `<think>…</think>` then `<answer>…</answer>` each occur exactly once,
//!   in that order, non-empty; otherwise the first failing [`ThinkForm`] code.
//!
//! Frequent n-grams over a whole dataset: [`row_ngram_hashes`] gives each row's distinct word
//! n-gram hashes (hash spec `amfast-hash-v1` over the same content tokens), and
//! [`NgramCounter`] counts in how many rows each occurs, then counts per row the n-grams seen in
//! more than `min_count` rows. Null rows have every metric at zero (and a missing think form).

use crate::error::{Error, Result};
use crate::hashing::{shingle_hash, word_hash_bytes};
use memchr::memmem;
use rayon::prelude::*;

/// A sentence needs this many script units to have a language of its own.
pub const MIN_SENTENCE_UNITS: u32 = 3;

/// Rows per parallel work item.
const ROWS_PER_TASK: usize = 64;

/// Options of [`quality_metrics`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QualityOptions {
    /// Longest repeated phrase, in tokens, the repetition metric looks for.
    pub repeat_max_period: usize,
    /// Back-to-back repeats a phrase needs before its stretch counts.
    pub repeat_min_repeats: usize,
}

impl Default for QualityOptions {
    fn default() -> Self {
        Self {
            repeat_max_period: 20,
            repeat_min_repeats: 4,
        }
    }
}

impl QualityOptions {
    pub fn validate(&self) -> Result<()> {
        if self.repeat_max_period == 0 {
            return Err(Error::invalid("repeat_max_period must be at least 1"));
        }
        if self.repeat_min_repeats < 2 {
            return Err(Error::invalid("repeat_min_repeats must be at least 2"));
        }
        Ok(())
    }
}

/// Language codes of [`QualityMetrics::language`].
pub mod language {
    pub const NONE: u8 = 0;
    pub const EN: u8 = 1;
    pub const ZH: u8 = 2;
    pub const OTHER: u8 = 3;
}

/// Codes of [`QualityMetrics::think_form`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum ThinkForm {
    Ok = 0,
    /// A tag of the four is absent.
    Missing = 1,
    /// A tag occurs more than once.
    Repeated = 2,
    /// Not `<think> </think> <answer> </answer>` in that order.
    Order = 3,
    /// The think or the answer part is blank.
    Empty = 4,
}

/// Metrics of every row, as parallel columns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QualityMetrics {
    pub words: Vec<u32>,
    pub tokens: Vec<u32>,
    pub repeat_span: Vec<u32>,
    pub repeat_period: Vec<u32>,
    pub repeat_count: Vec<u32>,
    pub language: Vec<u8>,
    pub cjk_fraction: Vec<f32>,
    pub mixed_fraction: Vec<f32>,
    pub unusual_fraction: Vec<f32>,
    pub urls: Vec<u32>,
    pub image_refs: Vec<u32>,
    pub tables: Vec<u32>,
    pub think_form: Vec<u8>,
}

#[derive(Debug, Clone, Copy, Default)]
struct RowMetrics {
    words: u32,
    tokens: u32,
    repeat: (u32, u32, u32),
    language: u8,
    cjk_fraction: f32,
    mixed_fraction: f32,
    unusual_fraction: f32,
    urls: u32,
    image_refs: u32,
    tables: u32,
    think_form: u8,
}

/// Per-thread buffers.
#[derive(Default)]
struct Scratch {
    word: Vec<u8>,
    tokens: Vec<u64>,
    lower: Vec<u8>,
}

fn is_han(ch: char) -> bool {
    matches!(ch as u32, 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2EBEF)
}

fn is_cjk(ch: char) -> bool {
    is_han(ch) || matches!(ch as u32, 0x3040..=0x30FF | 0xAC00..=0xD7AF)
}

fn is_usual(ch: char) -> bool {
    matches!(ch as u32,
        0x00..=0x24F          // ASCII, Latin-1, Latin Extended A/B
        | 0x300..=0x3FF       // combining marks, Greek
        | 0x2000..=0x2BFF     // punctuation, super/subscripts, letterlike, arrows, math, shapes
        | 0x3000..=0x303F     // CJK punctuation
        | 0xFF00..=0xFFEF     // full-width forms
        | 0x1D400..=0x1D7FF   // mathematical alphanumerics
    ) || is_cjk(ch)
}

/// Content tokens of `text` as word hashes (see the module docs).
fn content_tokens(text: &str, word: &mut Vec<u8>, out: &mut Vec<u64>) {
    fn flush(word: &mut Vec<u8>, out: &mut Vec<u64>) {
        if !word.is_empty() {
            out.push(word_hash_bytes(word));
            word.clear();
        }
    }
    out.clear();
    word.clear();
    let mut buffer = [0u8; 4];
    for ch in text.chars() {
        if ch.is_ascii_alphanumeric() {
            word.push(ch.to_ascii_lowercase() as u8);
        } else if is_cjk(ch) {
            flush(word, out);
            out.push(word_hash_bytes(ch.encode_utf8(&mut buffer).as_bytes()));
        } else if ch.is_alphanumeric() {
            for lower in ch.to_lowercase() {
                word.extend_from_slice(lower.encode_utf8(&mut buffer).as_bytes());
            }
        } else {
            flush(word, out);
        }
    }
    flush(word, out);
}

/// `(span, period, repeats)` of the longest qualifying periodic stretch, or zeros.
fn repetition(tokens: &[u64], max_period: usize, min_repeats: usize) -> (u32, u32, u32) {
    let mut best = (0usize, 0usize, 0usize);
    for period in 1..=max_period.min(tokens.len() / 2) {
        let mut run = 0usize;
        for (left, right) in tokens.iter().zip(&tokens[period..]) {
            if left == right {
                run += 1;
                let repeats = (run + period) / period;
                if repeats >= min_repeats && repeats * period > best.0 {
                    best = (repeats * period, period, repeats);
                }
            } else {
                run = 0;
            }
        }
    }
    (best.0 as u32, best.1 as u32, best.2 as u32)
}

#[derive(Clone, Copy, Default)]
struct Units {
    en: u32,
    zh: u32,
    other: u32,
}

impl Units {
    fn total(self) -> u32 {
        self.en + self.zh + self.other
    }

    fn language(self) -> u8 {
        if self.total() == 0 {
            language::NONE
        } else if self.zh >= self.en && self.zh >= self.other {
            language::ZH
        } else if self.en >= self.other {
            language::EN
        } else {
            language::OTHER
        }
    }

    fn count(self, code: u8) -> u32 {
        match code {
            language::EN => self.en,
            language::ZH => self.zh,
            _ => self.other,
        }
    }
}

/// `(language, cjk_fraction, mixed_fraction)`.
fn language_of(text: &str) -> (u8, f32, f32) {
    let mut total = Units::default();
    let mut sentences: Vec<Units> = Vec::new();
    let mut sentence = Units::default();
    let mut in_math = false;
    let mut in_command = false;
    let mut word_len = 0u32;
    let mut word_latin = true;
    let mut previous = '\0';
    let end_word = |word_len: &mut u32, latin: bool, sentence: &mut Units| {
        if latin && *word_len >= 2 {
            sentence.en += 1;
        } else if !latin && *word_len >= 1 {
            sentence.other += 1;
        }
        *word_len = 0;
    };
    for ch in text.chars() {
        let escaped = previous == '\\';
        previous = if escaped && ch == '\\' { '\0' } else { ch };
        if ch == '$' && !escaped {
            end_word(&mut word_len, word_latin, &mut sentence);
            in_math = !in_math;
            continue;
        }
        if escaped && matches!(ch, '(' | '[') {
            in_math = true;
            continue;
        }
        if escaped && matches!(ch, ')' | ']') {
            in_math = false;
            continue;
        }
        if in_command {
            if ch.is_ascii_alphabetic() {
                continue;
            }
            in_command = false;
        }
        if ch == '\\' {
            end_word(&mut word_len, word_latin, &mut sentence);
            in_command = true;
            continue;
        }
        if in_math {
            continue;
        }
        if is_han(ch) {
            end_word(&mut word_len, word_latin, &mut sentence);
            sentence.zh += 1;
        } else if ch.is_alphabetic() && !is_cjk(ch) {
            let latin = (ch as u32) <= 0x24F;
            if word_len > 0 && latin != word_latin {
                end_word(&mut word_len, word_latin, &mut sentence);
            }
            word_latin = latin;
            word_len += 1;
        } else {
            end_word(&mut word_len, word_latin, &mut sentence);
            if matches!(ch, '\n' | '。' | '！' | '？' | '.' | '!' | '?' | ';' | '；') {
                sentences.push(std::mem::take(&mut sentence));
            }
        }
    }
    end_word(&mut word_len, word_latin, &mut sentence);
    sentences.push(sentence);
    for part in &sentences {
        total.en += part.en;
        total.zh += part.zh;
        total.other += part.other;
    }
    let code = total.language();
    if code == language::NONE {
        return (code, 0.0, 0.0);
    }
    let (mut judged, mut mixed) = (0u32, 0u32);
    for part in sentences
        .iter()
        .filter(|part| part.total() >= MIN_SENTENCE_UNITS)
    {
        judged += part.total();
        if part.language() != code {
            mixed += part.total() - part.count(code);
        }
    }
    let cjk = total.zh as f32 / total.total() as f32;
    let mixed = if judged == 0 {
        0.0
    } else {
        mixed as f32 / judged as f32
    };
    (code, cjk, mixed)
}

fn count_all(haystack: &[u8], finders: &[memmem::Finder<'_>]) -> u32 {
    finders
        .iter()
        .map(|finder| finder.find_iter(haystack).count() as u32)
        .sum()
}

const URL_MARKERS: [&[u8]; 3] = [b"http://", b"https://", b"www."];
const IMAGE_MARKERS: [&[u8]; 13] = [
    b"![",
    b"<img",
    b".png",
    b".jpg",
    b".jpeg",
    b".gif",
    b".svg",
    b"figure below",
    b"shown in the figure",
    b"shown in the diagram",
    "如图".as_bytes(),
    "下图".as_bytes(),
    "图中".as_bytes(),
];
const TABLE_MARKERS: [&[u8]; 5] = [b"|---", b"| ---", b"|:--", b"<table", b"\\begin{tabular"];

const THINK_TAGS: [&str; 4] = ["<think>", "</think>", "<answer>", "</answer>"];

/// The substring searchers of every row, built once per call: building a `memmem::Finder`
/// costs more than running it over a short row.
struct Markers {
    urls: Vec<memmem::Finder<'static>>,
    image_refs: Vec<memmem::Finder<'static>>,
    tables: Vec<memmem::Finder<'static>>,
    think_tags: Vec<memmem::Finder<'static>>,
}

impl Markers {
    fn new() -> Self {
        fn finders(needles: &[&'static [u8]]) -> Vec<memmem::Finder<'static>> {
            needles
                .iter()
                .map(|needle| memmem::Finder::new(*needle))
                .collect()
        }
        Self {
            urls: finders(&URL_MARKERS),
            image_refs: finders(&IMAGE_MARKERS),
            tables: finders(&TABLE_MARKERS),
            think_tags: finders(&THINK_TAGS.map(str::as_bytes)),
        }
    }
}

fn think_form(text: &str, markers: &Markers) -> ThinkForm {
    let bytes = text.as_bytes();
    let mut positions = [0usize; 4];
    for (slot, finder) in markers.think_tags.iter().enumerate() {
        let mut found = finder.find_iter(bytes);
        match (found.next(), found.next()) {
            (None, _) => return ThinkForm::Missing,
            (Some(_), Some(_)) => return ThinkForm::Repeated,
            (Some(position), None) => positions[slot] = position,
        }
    }
    let [open_think, close_think, open_answer, close_answer] = positions;
    if !(open_think < close_think && close_think < open_answer && open_answer < close_answer) {
        return ThinkForm::Order;
    }
    let think = &text[open_think + THINK_TAGS[0].len()..close_think];
    let answer = &text[open_answer + THINK_TAGS[2].len()..close_answer];
    if think.trim().is_empty() || answer.trim().is_empty() {
        return ThinkForm::Empty;
    }
    ThinkForm::Ok
}

fn row_metrics(
    text: Option<&str>,
    options: &QualityOptions,
    markers: &Markers,
    scratch: &mut Scratch,
) -> RowMetrics {
    let Some(text) = text else {
        return RowMetrics {
            think_form: ThinkForm::Missing as u8,
            ..RowMetrics::default()
        };
    };
    content_tokens(text, &mut scratch.word, &mut scratch.tokens);
    let repeat = repetition(
        &scratch.tokens,
        options.repeat_max_period,
        options.repeat_min_repeats,
    );
    let (mut non_space, mut unusual, mut symbols) = (0u32, 0u32, 0u32);
    for ch in text.chars().filter(|ch| !ch.is_whitespace()) {
        non_space += 1;
        if !is_usual(ch) {
            unusual += 1;
        }
        if !ch.is_alphanumeric() {
            symbols += 1;
        }
    }
    scratch.lower.clear();
    scratch
        .lower
        .extend(text.bytes().map(|byte| byte.to_ascii_lowercase()));
    let (language, cjk_fraction, mixed_fraction) = language_of(text);
    RowMetrics {
        words: text.split_whitespace().count() as u32,
        tokens: scratch.tokens.len() as u32 + symbols,
        repeat,
        language,
        cjk_fraction,
        mixed_fraction,
        unusual_fraction: if non_space == 0 {
            0.0
        } else {
            unusual as f32 / non_space as f32
        },
        urls: count_all(&scratch.lower, &markers.urls),
        image_refs: count_all(&scratch.lower, &markers.image_refs),
        tables: count_all(&scratch.lower, &markers.tables),
        think_form: think_form(text, markers) as u8,
    }
}

/// Every metric of every row (see the module docs).
///
/// # Errors
/// Invalid options.
pub fn quality_metrics(texts: &[Option<&str>], options: &QualityOptions) -> Result<QualityMetrics> {
    options.validate()?;
    let markers = Markers::new();
    let rows: Vec<RowMetrics> = texts
        .par_iter()
        .with_min_len(ROWS_PER_TASK)
        .map_init(Scratch::default, |scratch, text| {
            row_metrics(*text, options, &markers, scratch)
        })
        .collect();
    let mut out = QualityMetrics::default();
    for row in rows {
        out.words.push(row.words);
        out.tokens.push(row.tokens);
        out.repeat_span.push(row.repeat.0);
        out.repeat_period.push(row.repeat.1);
        out.repeat_count.push(row.repeat.2);
        out.language.push(row.language);
        out.cjk_fraction.push(row.cjk_fraction);
        out.mixed_fraction.push(row.mixed_fraction);
        out.unusual_fraction.push(row.unusual_fraction);
        out.urls.push(row.urls);
        out.image_refs.push(row.image_refs);
        out.tables.push(row.tables);
        out.think_form.push(row.think_form);
    }
    Ok(out)
}

fn distinct_ngrams(text: &str, ngram: usize, scratch: &mut Scratch, out: &mut Vec<u64>) {
    content_tokens(text, &mut scratch.word, &mut scratch.tokens);
    out.clear();
    out.extend(scratch.tokens.windows(ngram).map(shingle_hash));
    out.sort_unstable();
    out.dedup();
}

fn check_ngram(ngram: usize) -> Result<()> {
    if ngram == 0 {
        return Err(Error::invalid("ngram must be at least 1"));
    }
    Ok(())
}

/// Each row's distinct word n-gram hashes as `(row, hash)` columns, rows numbered from
/// `first_row`, in row order then hash order. Rows shorter than `ngram` tokens have none.
///
/// # Errors
/// `ngram` is 0.
pub fn row_ngram_hashes(
    texts: &[Option<&str>],
    ngram: usize,
    first_row: usize,
) -> Result<(Vec<i64>, Vec<u64>)> {
    check_ngram(ngram)?;
    let per_row: Vec<Vec<u64>> = texts
        .par_iter()
        .with_min_len(ROWS_PER_TASK)
        .map_init(Scratch::default, |scratch, text| {
            let mut hashes = Vec::new();
            if let Some(text) = text {
                distinct_ngrams(text, ngram, scratch, &mut hashes);
            }
            hashes
        })
        .collect();
    let total = per_row.iter().map(Vec::len).sum();
    let (mut rows, mut hashes) = (Vec::with_capacity(total), Vec::with_capacity(total));
    for (row, row_hashes) in per_row.into_iter().enumerate() {
        rows.extend(std::iter::repeat_n(
            // A Vec cannot hold more than i64::MAX rows, so this never saturates.
            i64::try_from(first_row + row).unwrap_or(i64::MAX),
            row_hashes.len(),
        ));
        hashes.extend(row_hashes);
    }
    Ok((rows, hashes))
}

/// Dataset-wide n-gram document frequencies in two passes: `add` every batch, `finish`, then
/// `count_frequent` per batch. Memory: 8 bytes per (row, distinct n-gram) until `finish`.
#[derive(Debug, Clone)]
pub struct NgramCounter {
    ngram: usize,
    hashes: Vec<u64>,
    frequent: Option<Vec<u64>>,
}

impl NgramCounter {
    /// # Errors
    /// `ngram` is 0.
    pub fn new(ngram: usize) -> Result<Self> {
        check_ngram(ngram)?;
        Ok(Self {
            ngram,
            hashes: Vec::new(),
            frequent: None,
        })
    }

    /// Adds the distinct n-grams of each row of a batch.
    ///
    /// # Errors
    /// Called after [`Self::finish`].
    pub fn add(&mut self, texts: &[Option<&str>]) -> Result<()> {
        if self.frequent.is_some() {
            return Err(Error::invalid("add after finish"));
        }
        let (_, hashes) = row_ngram_hashes(texts, self.ngram, 0)?;
        self.hashes.extend(hashes);
        Ok(())
    }

    /// Keeps the n-grams found in more than `min_count` rows; returns how many there are.
    pub fn finish(&mut self, min_count: usize) -> usize {
        let mut hashes = std::mem::take(&mut self.hashes);
        hashes.par_sort_unstable();
        let frequent = frequent_hashes(&hashes, min_count);
        let count = frequent.len();
        self.frequent = Some(frequent);
        count
    }

    /// Per row, how many of its distinct n-grams are frequent.
    ///
    /// # Errors
    /// Called before [`Self::finish`].
    pub fn count_frequent(&self, texts: &[Option<&str>]) -> Result<Vec<u32>> {
        let frequent = self
            .frequent
            .as_deref()
            .ok_or_else(|| Error::invalid("count_frequent before finish"))?;
        Ok(count_in(texts, self.ngram, frequent))
    }
}

/// The hashes of a sorted slice that occur more than `min_count` times, once each.
#[must_use]
pub fn frequent_hashes(sorted: &[u64], min_count: usize) -> Vec<u64> {
    sorted
        .chunk_by(|left, right| left == right)
        .filter(|run| run.len() > min_count)
        .map(|run| run[0])
        .collect()
}

/// Per row, how many of its distinct n-grams are in the sorted `frequent`.
#[must_use]
pub fn count_in(texts: &[Option<&str>], ngram: usize, frequent: &[u64]) -> Vec<u32> {
    texts
        .par_iter()
        .with_min_len(ROWS_PER_TASK)
        .map_init(
            || (Scratch::default(), Vec::new()),
            |(scratch, hashes), text| {
                let Some(text) = text else { return 0 };
                if frequent.is_empty() {
                    return 0;
                }
                distinct_ngrams(text, ngram, scratch, hashes);
                hashes
                    .iter()
                    .filter(|hash| frequent.binary_search(hash).is_ok())
                    .count() as u32
            },
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics(text: &str) -> QualityMetrics {
        quality_metrics(&[Some(text)], &QualityOptions::default()).unwrap()
    }

    #[test]
    fn repetition_finds_a_phrase_repeated_back_to_back() {
        let text = format!("intro {} outro", "so we try again ".repeat(6));
        let found = metrics(&text);
        assert_eq!(found.repeat_period, [4]);
        assert_eq!(found.repeat_count, [6]);
        assert_eq!(found.repeat_span, [24]);
        assert_eq!(metrics("a plain sentence without loops").repeat_span, [0]);
    }

    #[test]
    fn repetition_needs_the_minimum_repeats() {
        let found = metrics("one two one two one two");
        assert_eq!(found.repeat_span, [0], "three repeats < 4");
        let found = metrics("one two one two one two one two");
        assert_eq!((found.repeat_period[0], found.repeat_count[0]), (2, 4));
    }

    #[test]
    fn language_ignores_latex_and_sees_mixing() {
        let zh = metrics("已知函数 $f(x)=\\sin x$ 的最小正周期是多少？");
        assert_eq!(zh.language, [language::ZH]);
        assert!(zh.mixed_fraction[0].abs() < f32::EPSILON);
        let en = metrics("Find the value of $x$ such that \\frac{a}{b} holds.");
        assert_eq!(en.language, [language::EN]);
        let mixed = metrics(
            "Let us compute the area of the triangle first. 然后我们计算这个三角形的面积和周长。",
        );
        assert!(mixed.mixed_fraction[0] > 0.3, "{:?}", mixed.mixed_fraction);
        assert_eq!(metrics("12 + 34 = 46").language, [language::NONE]);
        assert_eq!(
            metrics("Сколько будет два плюс два").language,
            [language::OTHER]
        );
    }

    #[test]
    fn think_form_codes() {
        let form = |text: &str| metrics(text).think_form[0];
        assert_eq!(
            form("<think>a</think> <answer>b</answer>"),
            ThinkForm::Ok as u8
        );
        assert_eq!(form("<think>a</think>"), ThinkForm::Missing as u8);
        assert_eq!(
            form("<think>a</think><think>a</think><answer>b</answer>"),
            ThinkForm::Repeated as u8
        );
        assert_eq!(
            form("<answer>b</answer><think>a</think>"),
            ThinkForm::Order as u8
        );
        assert_eq!(
            form("<think> </think><answer>b</answer>"),
            ThinkForm::Empty as u8
        );
    }

    #[test]
    fn markers_and_unusual_characters() {
        let found = metrics("See https://x.org and ![fig](a.png)\n|---|---|\n如图所示");
        assert_eq!(found.urls, [1]);
        assert_eq!(found.image_refs, [3], "![, .png and 如图");
        assert!(found.tables[0] > 0);
        assert!(metrics("😀😀 ab").unusual_fraction[0] > 0.4);
        assert!(metrics("数学 αβ ≤ x²").unusual_fraction[0] < f32::EPSILON);
        assert!(metrics("\u{E000}\u{E001} ab").unusual_fraction[0] > 0.4);
        assert_eq!(metrics("a b  c\nd").words, [4]);
    }

    #[test]
    fn null_rows_have_zero_metrics() {
        let found = quality_metrics(&[None], &QualityOptions::default()).unwrap();
        assert_eq!(found.words, [0]);
        assert_eq!(found.think_form, [ThinkForm::Missing as u8]);
    }

    #[test]
    fn frequent_ngrams_count_rows_not_occurrences() {
        let texts = [
            Some("a b c a b c a b c"),
            Some("x a b c y"),
            Some("p q r s"),
        ];
        let mut counter = NgramCounter::new(3).unwrap();
        counter.add(&texts).unwrap();
        assert_eq!(counter.finish(1), 1, "only 'a b c' is in more than one row");
        assert_eq!(counter.count_frequent(&texts).unwrap(), [1, 1, 0]);
        let (rows, hashes) = row_ngram_hashes(&texts, 3, 10).unwrap();
        assert_eq!(rows.len(), hashes.len());
        assert_eq!(rows[0], 10);
        assert!(NgramCounter::new(0).is_err());
    }
}
