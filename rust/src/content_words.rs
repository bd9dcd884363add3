//! Content-word containment: which benchmark item does a reworded training row copy?
//!
//! Paraphrases ("Find" → "Determine", "integer" → "whole number", sentences reordered,
//! instructions around the problem) break the long n-grams of [`crate::ngram_index`] but keep
//! most of an item's *content*: its rare words, its numbers and the symbols of its formulas.
//!
//! A text's features: it is normalized (lower case, NFKC, `$`/`\left`/`\right` dropped, math
//! operators kept as tokens), tokens split into letter runs and digit runs, stopwords and
//! formatting commands (`\text`, `\quad` ...) dropped, spellings unified (`\dfrac` → `frac`,
//! `\leq` → `le`), plural `s` stripped; the features are the distinct tokens and adjacent token
//! pairs (pairs keep a formula's shape: `x ^` `^ 2`). Two feature sets per text: with numbers,
//! and without them (for copies whose numbers were changed).
//!
//! A feature's weight is its inverse document frequency over the indexed items,
//! `ln(1 + N/df) / ln(1 + N)` (in (0, 1]; 1 for a feature no item has), so generic words count
//! little. For an item and a row: `item share` = weight of the shared features / weight of the
//! item's, `row share` = the same over the row's. A row matches an item when the item's weight is
//! at least `min_weight` (short generic items such as "Compute 8 choose 4" are left to the
//! exact rules), the item share is at least `threshold` and the row share at least
//! `row_fraction` (a long text that merely contains the item's words is not a copy). Candidates
//! come from an inverted index of the rarer features (sorted `(feature, item)` pairs) with a
//! dense accumulator per worker; common features are merged in exactly, only for items that can
//! still pass (see `Tier`). The result depends only on the input.

use crate::hashing::{fmix64, word_hash_bytes};
use crate::normalize::{normalize_into, NormalizeOptions};

/// English function words plus words that only say "solve this" (`find`, `compute` ...); sorted.
const STOPWORDS: &[&str] = &[
    "a",
    "about",
    "above",
    "after",
    "again",
    "against",
    "all",
    "also",
    "am",
    "an",
    "and",
    "any",
    "are",
    "as",
    "at",
    "be",
    "because",
    "been",
    "before",
    "being",
    "below",
    "between",
    "both",
    "but",
    "by",
    "calculate",
    "can",
    "compute",
    "could",
    "determine",
    "did",
    "do",
    "does",
    "doing",
    "down",
    "during",
    "each",
    "evaluate",
    "every",
    "few",
    "find",
    "for",
    "from",
    "further",
    "given",
    "had",
    "has",
    "have",
    "having",
    "he",
    "her",
    "here",
    "hers",
    "herself",
    "him",
    "himself",
    "his",
    "how",
    "i",
    "if",
    "in",
    "into",
    "is",
    "it",
    "its",
    "itself",
    "just",
    "let",
    "many",
    "may",
    "me",
    "might",
    "more",
    "most",
    "much",
    "must",
    "my",
    "myself",
    "no",
    "nor",
    "not",
    "now",
    "of",
    "off",
    "on",
    "once",
    "only",
    "or",
    "other",
    "our",
    "ours",
    "ourselves",
    "out",
    "over",
    "own",
    "same",
    "shall",
    "she",
    "should",
    "so",
    "some",
    "such",
    "than",
    "that",
    "the",
    "their",
    "theirs",
    "them",
    "themselves",
    "then",
    "there",
    "these",
    "they",
    "this",
    "those",
    "through",
    "to",
    "too",
    "under",
    "until",
    "up",
    "us",
    "very",
    "was",
    "we",
    "were",
    "what",
    "when",
    "where",
    "which",
    "while",
    "who",
    "whom",
    "why",
    "will",
    "with",
    "would",
    "you",
    "your",
    "yours",
    "yourself",
    "yourselves",
];

/// LaTeX formatting commands that say nothing about the problem; sorted.
const FORMATTING: &[&str] = &[
    "displaystyle",
    "left",
    "mathbf",
    "mathrm",
    "mbox",
    "qquad",
    "quad",
    "right",
    "text",
];

/// Spellings of one symbol, unified; sorted by the first.
const SPELLINGS: &[(&str, &str)] = &[
    ("cdots", "dots"),
    ("dfrac", "frac"),
    ("geq", "ge"),
    ("ldots", "dots"),
    ("leq", "le"),
    ("neq", "ne"),
    ("tfrac", "frac"),
];

/// Tag mixed into number tokens so "2" the number and a word never collide.
const NUMBER_TAG: u64 = 0x6e75_6d62_6572_0001;

/// Options of the content rules (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ContentOptions {
    /// Item share (numbers counted) that flags a row.
    pub threshold: f64,
    /// Item share with numbers ignored that flags a row (a renumbered copy).
    pub no_digits_threshold: f64,
    /// Row share both rules need.
    pub row_fraction: f64,
    /// Feature weight an item needs for the rule with numbers.
    pub min_weight: f64,
    /// Feature weight an item needs for the rule without numbers.
    pub min_weight_no_digits: f64,
}

/// The two feature sets of one text (sorted, distinct).
#[derive(Debug, Default, Clone)]
pub struct Features {
    pub with_digits: Vec<u64>,
    pub no_digits: Vec<u64>,
}

/// Reusable buffers of [`features_into`].
#[derive(Default)]
pub struct FeatureScratch {
    normalized: String,
    tokens: Vec<(u64, bool)>,
    plain: Vec<u64>,
}

fn normalize_options() -> NormalizeOptions {
    NormalizeOptions {
        lowercase: true,
        case_fold: false,
        keep_digits: true,
        math_operators: true,
        strip_latex: true,
    }
}

/// The token's hash, or None for a stopword or formatting command.
fn word_token(word: &str) -> Option<u64> {
    if STOPWORDS.binary_search(&word).is_ok() || FORMATTING.binary_search(&word).is_ok() {
        return None;
    }
    let word = SPELLINGS
        .binary_search_by(|(from, _)| from.cmp(&word))
        .map_or(word, |found| SPELLINGS[found].1);
    Some(word_hash_bytes(stem(word).as_bytes()))
}

/// Plural `s` removed (`integers` → `integer`, `ies` → `y`); `ss`, `us`, `is` kept.
fn stem(word: &str) -> &str {
    if word.len() > 3
        && word.ends_with('s')
        && !word.ends_with("ss")
        && !word.ends_with("us")
        && !word.ends_with("is")
        && !word.ends_with("ies")
    {
        return &word[..word.len() - 1];
    }
    word
}

/// Appends the distinct tokens and adjacent pairs of `tokens` to `out`, sorted.
fn token_features(tokens: &[u64], out: &mut Vec<u64>) {
    out.clear();
    out.extend_from_slice(tokens);
    out.extend(
        tokens
            .windows(2)
            .map(|pair| fmix64(pair[0].rotate_left(23) ^ pair[1] ^ 0x5061_6972)),
    );
    out.sort_unstable();
    out.dedup();
}

/// The features of `text` (see the module docs) into `features`.
pub fn features_into(text: &str, scratch: &mut FeatureScratch, features: &mut Features) {
    normalize_into(text, &normalize_options(), &mut scratch.normalized);
    scratch.tokens.clear();
    for token in scratch.normalized.split(' ').filter(|t| !t.is_empty()) {
        // "3x" is the number 3 and the variable x.
        let mut rest = token;
        while let Some(first) = rest.chars().next() {
            let numeric = first.is_numeric();
            let end = rest
                .find(|c: char| c.is_numeric() != numeric)
                .unwrap_or(rest.len());
            let (piece, tail) = rest.split_at(end);
            rest = tail;
            if numeric {
                scratch
                    .tokens
                    .push((word_hash_bytes(piece.as_bytes()) ^ NUMBER_TAG, true));
            } else if let Some(hash) = word_token(piece) {
                scratch.tokens.push((hash, false));
            }
        }
    }
    scratch.plain.clear();
    scratch
        .plain
        .extend(scratch.tokens.iter().map(|&(hash, _)| hash));
    token_features(&scratch.plain, &mut features.with_digits);
    scratch.plain.clear();
    scratch
        .plain
        .extend(scratch.tokens.iter().filter(|(_, n)| !n).map(|&(h, _)| h));
    token_features(&scratch.plain, &mut features.no_digits);
}

/// One feature set's index. Features in more than `common_df` items ("x", "=", "number") would
/// make every row visit most items, so only the rarer ones have postings; each item keeps its
/// common features (sorted, with weights), which are merged in only for items that can still
/// reach the threshold: the result is exact, the work per row is the rare postings.
#[derive(Debug, Clone, Default)]
struct Tier {
    /// Every `(feature, item)`, sorted: the source the rest is rebuilt from after `add`.
    all: Vec<(u64, u32)>,
    /// `(feature, items having it, where its postings start)`, sorted: one search per feature.
    dictionary: Vec<(u64, u32, u32)>,
    /// `(feature, item)` of the features in at most `common_df` items, sorted.
    postings: Vec<(u64, u32)>,
    common_df: usize,
    item_weight: Vec<f64>,
    item_common_weight: Vec<f64>,
    item_common: Vec<Vec<(u64, f64)>>,
    /// Items whose common features alone could reach the threshold (checked for every row).
    generic: Vec<u32>,
}

impl Tier {
    fn rebuild(&mut self, items: usize, threshold: f64, min_weight: f64) {
        self.all.sort_unstable();
        self.all.dedup();
        self.common_df = (items / 50).max(4);
        self.dictionary.clear();
        self.postings.clear();
        self.item_weight = vec![0.0; items];
        self.item_common_weight = vec![0.0; items];
        self.item_common = vec![Vec::new(); items];
        for run in self.all.chunk_by(|a, b| a.0 == b.0) {
            let (feature, df) = (run[0].0, run.len());
            let weight = idf(df, items);
            self.dictionary
                .push((feature, df as u32, self.postings.len() as u32));
            let common = df > self.common_df;
            if !common {
                self.postings.extend_from_slice(run);
            }
            for &(_, item) in run {
                let item = item as usize;
                self.item_weight[item] += weight;
                if common {
                    self.item_common_weight[item] += weight;
                    self.item_common[item].push((feature, weight));
                }
            }
        }
        self.generic = (0..items)
            .filter(|&item| {
                self.item_weight[item] >= min_weight
                    && self.item_common_weight[item] >= threshold * self.item_weight[item]
            })
            .map(|item| item as u32)
            .collect();
    }
}

/// A row's best item in one group for one tier.
#[derive(Debug, Clone, Copy)]
pub struct ContentMatch {
    /// The best item (highest item share, then lowest id) passing all the rule's conditions,
    /// else -1.
    pub item: i64,
    /// Item share of the best item that passes `min_weight` and `row_fraction` and could
    /// reach the threshold, passing or not (0 when none could).
    pub share: f32,
}

impl Default for ContentMatch {
    fn default() -> Self {
        Self {
            item: -1,
            share: 0.0,
        }
    }
}

/// Per-worker buffers of [`ContentIndex::query_into`].
#[derive(Default)]
pub struct QueryScratch {
    features: Features,
    feature_scratch: FeatureScratch,
    weights: Vec<f64>,
    touched: Vec<u32>,
    common: Vec<u64>,
}

/// The content rules' index over benchmark items (both tiers).
#[derive(Debug, Clone)]
pub struct ContentIndex {
    options: ContentOptions,
    items: usize,
    tiers: [Tier; 2],
}

impl ContentIndex {
    #[must_use]
    pub fn new(options: ContentOptions) -> Self {
        Self {
            options,
            items: 0,
            tiers: [Tier::default(), Tier::default()],
        }
    }

    fn settings(&self, tier: usize) -> (f64, f64) {
        if tier == 0 {
            (self.options.threshold, self.options.min_weight)
        } else {
            (
                self.options.no_digits_threshold,
                self.options.min_weight_no_digits,
            )
        }
    }

    /// Adds items (numbered after those already added), then rebuilds both tiers: a new item
    /// changes the document frequencies, so every weight.
    pub fn add(&mut self, items: Vec<Features>) {
        for features in items {
            let item = self.items as u32;
            self.tiers[0]
                .all
                .extend(features.with_digits.into_iter().map(|f| (f, item)));
            self.tiers[1]
                .all
                .extend(features.no_digits.into_iter().map(|f| (f, item)));
            self.items += 1;
        }
        for tier in 0..2 {
            let (threshold, min_weight) = self.settings(tier);
            self.tiers[tier].rebuild(self.items, threshold, min_weight);
        }
    }

    /// Per group (`group_of(item)` names it, `groups` of them): the best match of each tier,
    /// written to `out` as `[with digits; groups]` then `[no digits; groups]`.
    pub fn query_into(
        &self,
        text: &str,
        groups: usize,
        group_of: impl Fn(u32) -> usize,
        scratch: &mut QueryScratch,
        out: &mut Vec<ContentMatch>,
    ) {
        out.clear();
        out.resize(2 * groups, ContentMatch::default());
        if self.items == 0 {
            return;
        }
        features_into(text, &mut scratch.feature_scratch, &mut scratch.features);
        scratch.weights.resize(self.items, 0.0);
        for (tier_number, tier) in self.tiers.iter().enumerate() {
            let features = if tier_number == 0 {
                &scratch.features.with_digits
            } else {
                &scratch.features.no_digits
            };
            let (threshold, min_weight) = self.settings(tier_number);
            let mut row_weight = 0.0;
            scratch.touched.clear();
            scratch.common.clear();
            for &feature in features {
                let at = tier
                    .dictionary
                    .partition_point(|&(other, _, _)| other < feature);
                let (df, start) = match tier.dictionary.get(at) {
                    Some(&(other, df, start)) if other == feature => (df as usize, start as usize),
                    _ => (0, 0),
                };
                if df == 0 {
                    row_weight += 1.0;
                    continue;
                }
                let weight = idf(df, self.items);
                row_weight += weight;
                if df > tier.common_df {
                    scratch.common.push(feature);
                    continue;
                }
                for &(_, item) in &tier.postings[start..start + df] {
                    if scratch.weights[item as usize] == 0.0 {
                        scratch.touched.push(item);
                    }
                    scratch.weights[item as usize] += weight;
                }
            }
            scratch.touched.extend_from_slice(&tier.generic);
            scratch.touched.sort_unstable();
            scratch.touched.dedup();
            let slots = &mut out[tier_number * groups..(tier_number + 1) * groups];
            for &item in &scratch.touched {
                let rare = std::mem::take(&mut scratch.weights[item as usize]);
                let item = item as usize;
                let item_weight = tier.item_weight[item];
                let bound = rare + tier.item_common_weight[item];
                if item_weight < min_weight
                    || bound < threshold * item_weight
                    || bound < self.options.row_fraction * row_weight
                {
                    continue;
                }
                let shared = rare + shared_weight(&scratch.common, &tier.item_common[item]);
                if shared < self.options.row_fraction * row_weight {
                    continue;
                }
                let share = (shared / item_weight) as f32;
                let slot = &mut slots[group_of(item as u32)];
                // Items are visited in order, so ties keep the lowest.
                if share > slot.share {
                    slot.share = share;
                    slot.item = if f64::from(share) >= threshold {
                        i64::from(item as u32)
                    } else {
                        -1
                    };
                }
            }
        }
    }
}

/// Summed weight of the features of `item` (sorted, weighted) that `row` (sorted) has.
fn shared_weight(row: &[u64], item: &[(u64, f64)]) -> f64 {
    let (mut i, mut j, mut total) = (0, 0, 0.0);
    while i < row.len() && j < item.len() {
        match row[i].cmp(&item[j].0) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                total += item[j].1;
                i += 1;
                j += 1;
            }
        }
    }
    total
}

/// Weight of a feature `df` of `items` items have (1 when only one has it, ~0 when all do).
fn idf(df: usize, items: usize) -> f64 {
    let items = items as f64;
    (1.0 + items / df as f64).ln() / (1.0 + items).ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTIONS: ContentOptions = ContentOptions {
        threshold: 0.65,
        no_digits_threshold: 0.8,
        row_fraction: 0.3,
        min_weight: 1.0,
        min_weight_no_digits: 1.0,
    };

    fn features(text: &str) -> Features {
        let mut out = Features::default();
        features_into(text, &mut FeatureScratch::default(), &mut out);
        out
    }

    fn query(index: &ContentIndex, text: &str) -> Vec<ContentMatch> {
        let mut out = Vec::new();
        index.query_into(text, 1, |_| 0, &mut QueryScratch::default(), &mut out);
        out
    }

    fn index(items: &[&str]) -> ContentIndex {
        let mut index = ContentIndex::new(OPTIONS);
        index.add(items.iter().map(|text| features(text)).collect());
        index
    }

    #[test]
    fn word_lists_are_sorted_for_binary_search() {
        assert!(STOPWORDS.windows(2).all(|pair| pair[0] < pair[1]));
        assert!(FORMATTING.windows(2).all(|pair| pair[0] < pair[1]));
        assert!(SPELLINGS.windows(2).all(|pair| pair[0].0 < pair[1].0));
    }

    #[test]
    fn stopwords_case_latex_spelling_and_plurals_do_not_change_features() {
        assert_eq!(
            features("Find the integers $x$ with \\dfrac{x}{2} \\leq 7.").with_digits,
            features("determine INTEGER x: \\frac{x}{2} \\le 7").with_digits
        );
    }

    #[test]
    fn numbers_are_features_only_in_the_first_set() {
        let (three, five) = (features("3x apples"), features("5x apples"));
        assert_ne!(three.with_digits, five.with_digits);
        assert_eq!(three.no_digits, five.no_digits);
    }

    #[test]
    fn reworded_and_reordered_copies_match_and_unrelated_rows_do_not() {
        let index = index(&[
            "Tom buys 12 red marbles and 7 blue marbles at the toy store. How many marbles \
             does Tom have now?",
            "A circle of radius 5 is inscribed in a square. What is the area of the square?",
            "Sara reads 30 pages of her novel every evening for two weeks.",
        ]);
        let reworded = "How many marbles does Tom own now? He purchases 12 red marbles and \
                        7 blue marbles at the toy shop.";
        assert_eq!(query(&index, reworded)[0].item, 0);
        let renumbered = "Tom buys 15 red marbles and 4 blue marbles at the toy store. How many \
                          marbles does Tom have now?";
        let found = query(&index, renumbered);
        assert_eq!(found[1].item, 0);
        assert!(found[1].share > found[0].share);
        let unrelated = "A train leaves the station at noon travelling at 60 miles per hour.";
        assert_eq!(query(&index, unrelated)[0].item, -1);
        assert_eq!(query(&index, unrelated)[1].item, -1);
    }

    #[test]
    fn long_rows_holding_an_items_words_need_the_row_fraction() {
        let index = index(&["A circle of radius 5 is inscribed in a square."]);
        let long = "A circle of radius 5 is inscribed in a square. A train leaves Paris at \
                    noon; a ship sails from Lisbon at dawn, carrying wheat, copper, timber and \
                    olive oil. Pilots fly planes over harbours, rivers and mountains while \
                    farmers harvest grapes in autumn.";
        assert_eq!(query(&index, long)[0].item, -1);
        assert!(query(&index, long)[0].share.abs() < f32::EPSILON);
    }

    #[test]
    fn items_below_the_minimum_weight_never_match() {
        let mut strict = ContentIndex::new(ContentOptions {
            min_weight: 100.0,
            min_weight_no_digits: 100.0,
            ..OPTIONS
        });
        strict.add(vec![features("Compute 8 choose 4.")]);
        assert_eq!(query(&strict, "Compute 8 choose 4.")[0].item, -1);
    }
}
