//! Benchmark index for decontamination: which benchmark item does a training row copy?
//!
//! Two rules over [`crate::normalize`]d text, plus the content rules of
//! [`crate::content_words`] when `content` is set:
//!
//! - exact without digits: the 128-bit hash of the text normalized with digits deleted equals
//!   a benchmark item's (catches copies whose numbers were changed, as in GSM-Hard);
//! - n-gram overlap: the row shares word n-grams (13 by default, as in GPT-3's and Llama's
//!   decontamination) with a benchmark item. A benchmark item shorter than `n` words is one
//!   whole-text n-gram ([`crate::shingle`]), so short items still match verbatim copies.
//!
//! Items come in groups (one per benchmark, one `add` call each). The index is a sorted
//! `(n-gram hash, item)` array and a sorted `(text hash, item)` array (binary search; no
//! per-entry allocation). Queries run in parallel and normalize each row once for all groups;
//! for each row and group the result is the matching item of each rule and the n-gram counts,
//! and depends only on the input.

use crate::content_words::{
    features_into, ContentIndex, ContentMatch, ContentOptions, FeatureScratch, Features,
    QueryScratch,
};
use crate::error::{Error, Result};
use crate::hashing::content_hash;
use crate::normalize::{normalize_into, NormalizeOptions};
use crate::shingle::word_shingles_into;
use rayon::prelude::*;

/// Options of [`NgramIndex`].
#[derive(Debug, Clone, Copy)]
pub struct NgramOptions {
    /// Words per n-gram.
    pub ngram: usize,
    /// Normalization before n-grams (digits are always deleted for the exact rule).
    pub normalize: NormalizeOptions,
    /// The exact rule ignores texts with fewer words than this once digits are removed
    /// ("find x" must not match every "find x" with other numbers).
    pub min_exact_words: usize,
    /// Apply the exact-without-digits rule at all (it costs a second normalization per row).
    pub exact: bool,
    /// The content-word rules' settings; None turns them off.
    pub content: Option<ContentOptions>,
}

/// Per query row and group (row-major, `rows × groups`): the matching item of each rule (-1:
/// none) and the n-gram counts; `ngram_count` has one entry per row.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Contamination {
    pub groups: usize,
    /// Benchmark item equal to the row once normalized without digits, or -1.
    pub exact_item: Vec<i64>,
    /// Benchmark item sharing the most n-grams with the row, or -1.
    pub ngram_item: Vec<i64>,
    /// Distinct n-grams the row shares with `ngram_item`.
    pub ngram_overlap: Vec<u32>,
    /// Distinct n-grams of `ngram_item` (0 when none).
    pub item_ngram_count: Vec<u32>,
    /// Distinct n-grams of the row.
    pub ngram_count: Vec<u32>,
    /// Content rule (numbers counted): the matching item or -1, and the best item share.
    pub content_item: Vec<i64>,
    pub content_share: Vec<f32>,
    /// Content rule without numbers: the matching item or -1, and the best item share.
    pub content_no_digits_item: Vec<i64>,
    pub content_no_digits_share: Vec<f32>,
}

/// One row's matches in one group (see [`Contamination`]).
#[derive(Debug, Clone, Copy)]
struct Found {
    exact_item: i64,
    ngram_item: i64,
    overlap: u32,
    item_grams: u32,
}

impl Default for Found {
    fn default() -> Self {
        Self {
            exact_item: -1,
            ngram_item: -1,
            overlap: 0,
            item_grams: 0,
        }
    }
}

/// Index over the n-grams and digit-free text hashes of benchmark items.
#[derive(Debug, Clone)]
pub struct NgramIndex {
    options: NgramOptions,
    items: usize,
    group_starts: Vec<u32>,
    item_grams: Vec<u32>,
    grams: Vec<(u64, u32)>,
    exact: Vec<(u128, u32)>,
    content: Option<ContentIndex>,
}

#[derive(Default)]
struct Scratch {
    normalized: String,
    words: Vec<u64>,
    grams: Vec<u64>,
    content: QueryScratch,
    matches: Vec<ContentMatch>,
}

impl Scratch {
    /// Distinct n-gram hashes of `text`, sorted.
    fn grams(&mut self, text: &str, options: &NgramOptions) -> &[u64] {
        normalize_into(text, &options.normalize, &mut self.normalized);
        word_shingles_into(
            &self.normalized,
            options.ngram,
            &mut self.words,
            &mut self.grams,
        );
        self.grams.sort_unstable();
        self.grams.dedup();
        &self.grams
    }

    /// Hash of `text` normalized without digits, unless too short to be a real match.
    fn digitless_hash(&mut self, text: &str, options: &NgramOptions) -> Option<u128> {
        let digitless = NormalizeOptions {
            keep_digits: false,
            ..options.normalize
        };
        normalize_into(text, &digitless, &mut self.normalized);
        let words = self.normalized.split(' ').filter(|w| !w.is_empty()).count();
        (words >= options.min_exact_words.max(1)).then(|| content_hash(&self.normalized))
    }
}

impl NgramIndex {
    /// An empty index.
    ///
    /// # Errors
    /// `ngram` is zero.
    pub fn new(options: NgramOptions) -> Result<Self> {
        if options.ngram == 0 {
            return Err(Error::invalid("ngram must be >= 1"));
        }
        Ok(Self {
            options,
            items: 0,
            group_starts: Vec::new(),
            item_grams: Vec::new(),
            grams: Vec::new(),
            exact: Vec::new(),
            content: options.content.map(ContentIndex::new),
        })
    }

    /// Benchmark items added so far.
    #[must_use]
    pub fn len(&self) -> usize {
        self.items
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.items == 0
    }

    /// Distinct n-grams in the index.
    #[must_use]
    pub fn ngram_count(&self) -> usize {
        self.grams.len()
    }

    /// Groups (benchmarks) added so far.
    #[must_use]
    pub fn groups(&self) -> usize {
        self.group_starts.len()
    }

    /// Adds one group of benchmark items, numbered after those already added.
    ///
    /// # Errors
    /// A null item (named by its item number).
    pub fn add(&mut self, texts: &[Option<&str>]) -> Result<()> {
        let first = self.items;
        if u32::try_from(first + texts.len()).is_err() {
            return Err(Error::invalid(format!("more than {} items", u32::MAX)));
        }
        let options = self.options;
        self.group_starts.push(first as u32);
        let per_item: Vec<(Vec<u64>, Option<u128>, Features)> = texts
            .par_iter()
            .enumerate()
            .map_init(
                || (Scratch::default(), FeatureScratch::default()),
                |(scratch, feature_scratch), (position, text)| {
                    let text = text.ok_or_else(|| Error::row(first + position, "text is null"))?;
                    let grams = scratch.grams(text, &options).to_vec();
                    let hash = if options.exact {
                        scratch.digitless_hash(text, &options)
                    } else {
                        None
                    };
                    let mut features = Features::default();
                    if options.content.is_some() {
                        features_into(text, feature_scratch, &mut features);
                    }
                    Ok((grams, hash, features))
                },
            )
            .collect::<Result<_>>()?;
        let mut content = Vec::with_capacity(per_item.len());
        for (position, (grams, hash, features)) in per_item.into_iter().enumerate() {
            content.push(features);
            let item = (first + position) as u32;
            self.item_grams.push(grams.len() as u32);
            self.grams
                .extend(grams.into_iter().map(|gram| (gram, item)));
            if let Some(hash) = hash {
                self.exact.push((hash, item));
            }
        }
        if let Some(index) = &mut self.content {
            index.add(content);
        }
        self.grams.par_sort_unstable();
        self.grams.dedup();
        self.exact.par_sort_unstable();
        self.items += texts.len();
        Ok(())
    }

    /// Which benchmark items each text matches; `first_row` numbers the rows in errors.
    ///
    /// # Errors
    /// A null text (named by `first_row` + its position).
    pub fn query(&self, texts: &[Option<&str>], first_row: usize) -> Result<Contamination> {
        let groups = self.groups();
        let rows: Vec<(Vec<Found>, u32, Vec<ContentMatch>)> = texts
            .par_iter()
            .enumerate()
            .with_min_len(64)
            .map_init(
                || (Scratch::default(), Vec::<u32>::new()),
                |(scratch, hits), (position, text)| {
                    let text =
                        text.ok_or_else(|| Error::row(first_row + position, "text is null"))?;
                    let (found, grams) = self.match_one(text, scratch, hits);
                    if let Some(content) = &self.content {
                        content.query_into(
                            text,
                            groups,
                            |item| self.group_of(item),
                            &mut scratch.content,
                            &mut scratch.matches,
                        );
                    }
                    Ok((found, grams, scratch.matches.clone()))
                },
            )
            .collect::<Result<_>>()?;
        let mut result = Contamination {
            groups,
            ..Contamination::default()
        };
        for (per_group, grams, content) in rows {
            let (with_digits, no_digits) = if content.is_empty() {
                let none = vec![ContentMatch::default(); 2 * groups];
                (none[..groups].to_vec(), none[groups..].to_vec())
            } else {
                (content[..groups].to_vec(), content[groups..].to_vec())
            };
            for (with, without) in with_digits.into_iter().zip(no_digits) {
                result.content_item.push(with.item);
                result.content_share.push(with.share);
                result.content_no_digits_item.push(without.item);
                result.content_no_digits_share.push(without.share);
            }
            for found in per_group {
                result.exact_item.push(found.exact_item);
                result.ngram_item.push(found.ngram_item);
                result.ngram_overlap.push(found.overlap);
                result.item_ngram_count.push(found.item_grams);
            }
            result.ngram_count.push(grams);
        }
        Ok(result)
    }

    fn group_of(&self, item: u32) -> usize {
        self.group_starts.partition_point(|&start| start <= item) - 1
    }

    fn match_one(
        &self,
        text: &str,
        scratch: &mut Scratch,
        hits: &mut Vec<u32>,
    ) -> (Vec<Found>, u32) {
        let mut found = vec![Found::default(); self.groups()];
        if self.options.exact {
            if let Some(hash) = scratch.digitless_hash(text, &self.options) {
                let start = self.exact.partition_point(|&(other, _)| other < hash);
                // Sorted by (hash, item): the first item of each group is its lowest.
                for &(_, item) in self.exact[start..]
                    .iter()
                    .take_while(|(other, _)| *other == hash)
                {
                    let slot = &mut found[self.group_of(item)];
                    if slot.exact_item < 0 {
                        slot.exact_item = i64::from(item);
                    }
                }
            }
        }
        let grams = scratch.grams(text, &self.options);
        hits.clear();
        for &gram in grams {
            let start = self.grams.partition_point(|&(other, _)| other < gram);
            hits.extend(
                self.grams[start..]
                    .iter()
                    .take_while(|&&(other, _)| other == gram)
                    .map(|&(_, item)| item),
            );
        }
        hits.sort_unstable();
        // Per group, the item whose n-grams the row covers best (share of the item, then
        // count): a short item copied whole beats a long one sharing boilerplate.
        for run in hits.chunk_by(|a, b| a == b) {
            let (item, overlap) = (run[0], run.len() as u32);
            let total = self.item_grams[item as usize].max(1);
            let slot = &mut found[self.group_of(item)];
            let (mine, theirs) = (
                u64::from(overlap) * u64::from(slot.item_grams.max(1)),
                u64::from(slot.overlap) * u64::from(total),
            );
            if slot.ngram_item < 0 || mine > theirs || (mine == theirs && overlap > slot.overlap) {
                slot.ngram_item = i64::from(item);
                slot.overlap = overlap;
                slot.item_grams = total;
            }
        }
        (found, grams.len() as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(items: &[&str], ngram: usize) -> NgramIndex {
        let mut index = NgramIndex::new(NgramOptions {
            ngram,
            normalize: NormalizeOptions::default(),
            min_exact_words: 3,
            exact: true,
            content: None,
        })
        .unwrap();
        let items: Vec<Option<&str>> = items.iter().copied().map(Some).collect();
        index.add(&items).unwrap();
        index
    }

    #[test]
    fn number_changed_copies_match_exactly_without_digits() {
        let index = index(&["Janet has 16 eggs and eats 3 of them each day."], 13);
        let found = index
            .query(&[Some("Janet has 20 eggs and eats 5 of them each day!")], 0)
            .unwrap();
        assert_eq!(found.exact_item, vec![0]);
        assert_eq!(found.ngram_item, vec![-1]);
    }

    #[test]
    fn shared_ngrams_point_at_the_item_with_most_overlap() {
        let index = index(
            &[
                "alpha beta gamma delta epsilon zeta eta theta",
                "one two three four five six seven eight",
            ],
            3,
        );
        let found = index
            .query(
                &[
                    Some("prefix one two three four five and more"),
                    Some("unrelated words only here"),
                ],
                0,
            )
            .unwrap();
        assert_eq!(found.ngram_item, vec![1, -1]);
        assert_eq!(found.ngram_overlap, vec![3, 0]);
        assert_eq!(found.item_ngram_count, vec![6, 0]);
        assert_eq!(found.exact_item, vec![-1, -1]);
    }

    #[test]
    fn short_texts_need_min_exact_words() {
        let index = index(&["Find x."], 13);
        let found = index.query(&[Some("find x"), Some("find x 2")], 0).unwrap();
        assert_eq!(found.exact_item, vec![-1, -1]);
        // The whole-text n-gram of a short item still catches a verbatim copy.
        assert_eq!(found.ngram_item, vec![0, -1]);
    }

    #[test]
    fn each_group_reports_its_own_match() {
        let mut both = index(&["one two three four five six"], 3);
        both.add(&[
            Some("seven eight nine ten"),
            Some("one two three four five six"),
        ])
        .unwrap();
        let found = both
            .query(&[Some("one two three four five six")], 0)
            .unwrap();
        assert_eq!(found.groups, 2);
        assert_eq!(found.ngram_item, vec![0, 2]);
        assert_eq!(found.exact_item, vec![0, 2]);
        assert_eq!(found.ngram_count, vec![4]);
    }

    #[test]
    fn null_rows_are_named() {
        let index = index(&["a b c"], 2);
        let error = index.query(&[Some("a"), None], 10).unwrap_err();
        assert_eq!(error, Error::row(11, "text is null"));
    }
}
