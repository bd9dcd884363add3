//! Exact and near-duplicate detection over text rows, batch by batch.
//!
//! Exact: [`ExactIndex`] keeps one 128-bit content hash per row ([`crate::hashing`]) and groups
//! equal hashes by sorting. Near: [`NearIndex`] runs in two passes so memory stays bounded by
//! `bands` u64 keys per row, not by the text:
//!
//! 1. `add` (per batch): normalize → word n-gram shingles → MinHash → band keys.
//! 2. `candidate_pairs`: per band, sort `(key, row)` and pair rows sharing a key.
//! 3. `verify` (the same batches again, in order): shingle sets of the rows in a candidate
//!    pair only, then every candidate pair's exact Jaccard; pairs under the threshold are dropped,
//!    which is what keeps band collisions from chaining unrelated documents.
//! 4. `finish`: a keep policy of [`crate::select`] over the verified edges. The default,
//!    [`Keep::Greedy`], visits rows by `(priority, row id)` and drops a row only for an already
//!    kept row whose exact Jaccard with it is at or above the threshold, so templated problems
//!    cannot chain into one cluster; [`Keep::Component`] keeps one row per connected component.
//!    Every row gets its cluster (connected component), representative and exact Jaccard to it.
//!
//! Shingle width follows the text's word count ([`NearOptions::shingle_width`], rule
//! [`SHINGLE_SPEC`]): a one-word edit changes up to `2n` of a text's `w - n + 1` word n-grams, so
//! at threshold 0.8 word 5-grams only catch it from about 50 words on. Texts under
//! `unigram_below` words are shingled as word 1-grams, under `bigram_below` as 2-grams, longer
//! ones as `ngram`-grams; the pair is still decided by the exact Jaccard of those sets. The
//! whole-text hash of a shingle includes its width, so texts in different bands never match.
//!
//! Results depend only on the input and options, never on the thread count.

use crate::bucket_sort::BucketSorter;
use crate::error::{Error, Result};
use crate::hashing::content_hash;
use crate::lsh::{band_candidate_pairs, band_keys_into, check_bands};
use crate::minhash::MinHasher;
use crate::normalize::{normalize_into, normalize_words_into, NormalizeOptions};
use crate::select::{select, Keep, Pairs};
use crate::shingle::{jaccard, word_shingles_from_starts};
use rayon::prelude::*;
use xxhash_rust::xxh3::xxh3_64;

/// Per-thread buffers for turning one row into shingles without allocating.
#[derive(Default)]
struct Scratch {
    normalized: String,
    word_starts: Vec<u32>,
    word_hashes: Vec<u64>,
    shingles: Vec<u64>,
}

impl Scratch {
    /// Normalizes `text` and leaves its word n-gram shingles (text order) in `self.shingles`.
    fn shingle(&mut self, text: &str, options: &NearOptions) -> &[u64] {
        normalize_words_into(
            text,
            &options.normalize,
            &mut self.normalized,
            &mut self.word_starts,
        );
        word_shingles_from_starts(
            &self.normalized,
            &self.word_starts,
            options.shingle_width(self.word_starts.len()),
            &mut self.word_hashes,
            &mut self.shingles,
        );
        &self.shingles
    }

    /// The sorted, de-duplicated shingle set of `text` (what exact Jaccard compares).
    fn shingle_set(
        &mut self,
        text: &str,
        options: &NearOptions,
        sorter: &mut BucketSorter<u64>,
    ) -> &[u64] {
        self.shingle(text, options);
        // `sort` swaps buffers with the sorter, so both stay allocated across rows.
        sorter.sort(&mut self.shingles, |&hash| hash);
        self.shingles.dedup();
        &self.shingles
    }
}

/// Rows processed per parallel work item: large enough to amortize scheduling.
const ROWS_PER_TASK: usize = 256;

fn require_text(text: Option<&str>, row: usize) -> Result<&str> {
    text.ok_or_else(|| Error::row(row, "text is null"))
}

fn check_priority(priority: Option<&[i64]>, rows: usize) -> Result<()> {
    match priority {
        Some(values) if values.len() != rows => Err(Error::invalid(format!(
            "priority has {} values but the index holds {rows} rows",
            values.len()
        ))),
        _ => Ok(()),
    }
}

fn next_row_count(current: usize, added: usize) -> Result<usize> {
    let total = current + added;
    if u32::try_from(total).is_err() {
        return Err(Error::invalid(format!(
            "more than {} rows in one index",
            u32::MAX
        )));
    }
    Ok(total)
}

/// Result of exact dedup: per row, its content hash and the row kept in its place.
#[derive(Debug, Clone)]
pub struct ExactDuplicates {
    pub hashes: Vec<u128>,
    pub representative: Vec<i64>,
}

/// Exact dedup on the hash of the normalized text.
#[derive(Debug, Default)]
pub struct ExactIndex {
    options: NormalizeOptions,
    hashes: Vec<u128>,
}

impl ExactIndex {
    #[must_use]
    pub fn new(options: NormalizeOptions) -> Self {
        Self {
            options,
            hashes: Vec::new(),
        }
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }

    /// Hashes one batch; rows are numbered after those already added.
    pub fn add(&mut self, texts: &[Option<&str>]) -> Result<()> {
        next_row_count(self.hashes.len(), texts.len())?;
        let offset = self.hashes.len();
        let options = self.options;
        let hashes: Vec<u128> = texts
            .par_iter()
            .enumerate()
            .with_min_len(ROWS_PER_TASK)
            .map_init(String::new, |buffer, (row, text)| {
                let text = require_text(*text, offset + row)?;
                normalize_into(text, &options, buffer);
                Ok(content_hash(buffer))
            })
            .collect::<Result<_>>()?;
        self.hashes.extend(hashes);
        Ok(())
    }

    /// Groups equal hashes; each group keeps its lowest `(priority, row id)`.
    pub fn finish(self, priority: Option<&[i64]>) -> Result<ExactDuplicates> {
        check_priority(priority, self.hashes.len())?;
        let rank = |row: u32| priority.map_or(0, |values| values[row as usize]);
        let mut order: Vec<u32> = (0..self.hashes.len() as u32).collect();
        order.par_sort_unstable_by_key(|&row| (self.hashes[row as usize], rank(row), row));
        let mut representative = vec![0i64; self.hashes.len()];
        for group in order.chunk_by(|&a, &b| self.hashes[a as usize] == self.hashes[b as usize]) {
            for &row in group {
                representative[row as usize] = i64::from(group[0]);
            }
        }
        Ok(ExactDuplicates {
            hashes: self.hashes,
            representative,
        })
    }
}

/// Options of near-duplicate detection.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NearOptions {
    pub threshold: f64,
    pub num_perm: usize,
    pub bands: usize,
    pub rows: usize,
    pub ngram: usize,
    pub seed: u64,
    /// Never merge two texts whose multisets of numbers differ.
    pub number_guard: bool,
    /// Texts with fewer words than this are shingled as single words (0: never).
    pub unigram_below: usize,
    /// Texts with fewer words than this (and at least `unigram_below`) as word pairs (0: never).
    pub bigram_below: usize,
    /// How rows are kept among verified pairs.
    pub keep: Keep,
    pub normalize: NormalizeOptions,
}

/// Name of the shingling rule: which word n-grams a text yields (hashes per `amfast-hash-v1`).
/// v1 was a fixed `ngram` width; v2 narrows it for short texts ([`NearOptions::shingle_width`]).
pub const SHINGLE_SPEC: &str = "amfast-shingle-v2";

impl NearOptions {
    pub fn validate(&self) -> Result<()> {
        if !(self.threshold > 0.0 && self.threshold <= 1.0) {
            return Err(Error::invalid(format!(
                "threshold must be in (0, 1], got {}",
                self.threshold
            )));
        }
        if self.ngram == 0 {
            return Err(Error::invalid("ngram must be at least 1"));
        }
        check_bands(self.num_perm, self.bands, self.rows)
    }

    /// Words per shingle for a text of `words` words: 1 under `unigram_below`, 2 under
    /// `bigram_below`, else `ngram` (never wider than `ngram`).
    #[must_use]
    pub fn shingle_width(&self, words: usize) -> usize {
        let width = if words < self.unigram_below {
            1
        } else if words < self.bigram_below {
            2
        } else {
            self.ngram
        };
        width.min(self.ngram)
    }
}

/// Result of near dedup. Row ids are `i64` so they move into numpy as they are.
#[derive(Debug, Clone, Default)]
pub struct NearDuplicates {
    /// Lowest row id of the row's cluster (its own id when it has no duplicate).
    pub cluster: Vec<i64>,
    /// Row kept in this row's place; a row is kept iff it is its own representative.
    pub representative: Vec<i64>,
    /// Exact Jaccard of the row's shingle set with its representative's (1.0 when kept).
    pub similarity: Vec<f32>,
    /// Verified pairs (left < right) with their exact Jaccard.
    pub pair_left: Vec<i64>,
    pub pair_right: Vec<i64>,
    pub pair_similarity: Vec<f32>,
    /// Number of LSH candidate pairs that were checked.
    pub candidates: usize,
}

/// Shingle sets (CSR) and number keys of consecutive rows of [`VerifiedRows::rows`], as one
/// parallel task produced them: kept as they are, so no set is copied twice.
#[derive(Debug, Default)]
struct SetSegment {
    /// Position in `VerifiedRows::rows` of this segment's first row.
    first_slot: usize,
    offsets: Vec<usize>,
    shingles: Vec<u64>,
    number_keys: Vec<u64>,
}

/// Shingle sets and number keys of the rows that appear in candidate pairs.
#[derive(Debug, Default)]
struct VerifiedRows {
    rows: Vec<u32>,
    segments: Vec<SetSegment>,
    /// Rows of the input consumed so far by `verify`.
    cursor: usize,
}

impl VerifiedRows {
    fn set(&self, row: u32) -> Option<(&[u64], u64)> {
        let slot = self.rows.binary_search(&row).ok()?;
        let segment = &self.segments[self
            .segments
            .partition_point(|segment| segment.first_slot <= slot)
            .checked_sub(1)?];
        let index = slot - segment.first_slot;
        let range = segment.offsets[index]..segment.offsets[index + 1];
        Some((&segment.shingles[range], segment.number_keys[index]))
    }
}

/// Streaming MinHash-LSH index with exact verification (see the module docs for the passes).
#[derive(Debug)]
pub struct NearIndex {
    options: NearOptions,
    hasher: MinHasher,
    /// Row-major: `bands` keys per row. Rows with no shingles get no keys (marked in `empty`).
    band_keys: Vec<u64>,
    empty: Vec<bool>,
    pairs: Option<Vec<(u32, u32)>>,
    verified: VerifiedRows,
}

/// Per row, [`number_key`] (what the number guard compares), in parallel.
///
/// # Errors
/// A null row.
pub fn number_keys(texts: &[Option<&str>]) -> Result<Vec<u64>> {
    texts
        .par_iter()
        .enumerate()
        .with_min_len(ROWS_PER_TASK)
        .map(|(row, text)| Ok(number_key(require_text(*text, row)?)))
        .collect()
}

/// Hash of the sorted multiset of digit runs in `text` (fullwidth digits count as ASCII).
#[must_use]
pub fn number_key(text: &str) -> u64 {
    let mut numbers: Vec<String> = Vec::new();
    let mut current = String::new();
    for ch in text.chars() {
        let digit = match ch {
            '0'..='9' => Some(ch),
            '\u{FF10}'..='\u{FF19}' => char::from_u32(ch as u32 - 0xFF10 + u32::from(b'0')),
            _ => None,
        };
        match digit {
            Some(digit) => current.push(digit),
            None if !current.is_empty() => numbers.push(std::mem::take(&mut current)),
            None => {}
        }
    }
    if !current.is_empty() {
        numbers.push(current);
    }
    numbers.sort_unstable();
    xxh3_64(numbers.join(" ").as_bytes())
}

impl NearIndex {
    pub fn new(options: NearOptions) -> Result<Self> {
        options.validate()?;
        Ok(Self {
            hasher: MinHasher::new(options.num_perm, options.seed),
            options,
            band_keys: Vec::new(),
            empty: Vec::new(),
            pairs: None,
            verified: VerifiedRows::default(),
        })
    }

    #[must_use]
    pub fn options(&self) -> &NearOptions {
        &self.options
    }

    #[must_use]
    pub fn len(&self) -> usize {
        self.empty.len()
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.empty.is_empty()
    }

    /// MinHash signatures of a batch, row-major `(rows, num_perm)`; null rows are an error.
    pub fn signatures(&self, texts: &[Option<&str>], first_row: usize) -> Result<Vec<u32>> {
        let width = self.options.num_perm;
        let mut signatures = vec![0u32; texts.len() * width];
        signatures
            .par_chunks_mut(width)
            .zip(texts.par_iter())
            .enumerate()
            .with_min_len(ROWS_PER_TASK)
            .try_for_each_init(Scratch::default, |scratch, (row, (signature, text))| {
                let text = require_text(*text, first_row + row)?;
                self.hasher
                    .signature_into(scratch.shingle(text, &self.options), signature);
                Ok(())
            })?;
        Ok(signatures)
    }

    /// Pass 1: band keys of one batch. Rows are numbered after those already added.
    pub fn add(&mut self, texts: &[Option<&str>]) -> Result<()> {
        if self.pairs.is_some() {
            return Err(Error::invalid(
                "cannot add rows after candidate pairs were computed",
            ));
        }
        next_row_count(self.len(), texts.len())?;
        let (bands, rows) = (self.options.bands, self.options.rows);
        let first_row = self.len();
        let options = &self.options;
        let mut keys = vec![0u64; texts.len() * bands];
        let empty: Vec<bool> = keys
            .par_chunks_mut(bands)
            .zip(texts.par_iter())
            .enumerate()
            .with_min_len(ROWS_PER_TASK)
            .map_init(
                || (Scratch::default(), vec![0u32; options.num_perm]),
                |(scratch, signature), (row, (row_keys, text))| {
                    let text = require_text(*text, first_row + row)?;
                    let shingles = scratch.shingle(text, options);
                    if shingles.is_empty() {
                        return Ok(true);
                    }
                    self.hasher.signature_into(shingles, signature);
                    band_keys_into(signature, bands, rows, row_keys);
                    Ok(false)
                },
            )
            .collect::<Result<_>>()?;
        self.band_keys.extend(keys);
        self.empty.extend(empty);
        Ok(())
    }

    /// Pass 2 setup: all LSH candidate pairs `(low, high)`, sorted and unique. Ends `add`.
    pub fn candidate_pairs(&mut self) -> &[(u32, u32)] {
        if self.pairs.is_none() {
            let bands = self.options.bands;
            // One sequential pass turns the row-major keys into band columns (reading a column
            // straight from row-major keys strides over all of them once per band).
            let keys = std::mem::take(&mut self.band_keys);
            let filled = self.empty.iter().filter(|&&empty| !empty).count();
            let mut columns: Vec<Vec<(u64, u32)>> =
                (0..bands).map(|_| Vec::with_capacity(filled)).collect();
            for ((row, row_keys), _) in keys
                .chunks_exact(bands)
                .enumerate()
                .zip(&self.empty)
                .filter(|(_, &empty)| !empty)
            {
                for (column, &key) in columns.iter_mut().zip(row_keys) {
                    column.push((key, row as u32));
                }
            }
            drop(keys);
            let mut pairs: Vec<(u32, u32)> = columns
                .into_par_iter()
                .flat_map_iter(band_candidate_pairs)
                .collect();
            pairs.par_sort_unstable();
            pairs.dedup();
            let mut rows: Vec<u32> = pairs.iter().flat_map(|&(a, b)| [a, b]).collect();
            rows.par_sort_unstable();
            rows.dedup();
            self.verified = VerifiedRows {
                rows,
                ..VerifiedRows::default()
            };
            self.pairs = Some(pairs);
        }
        self.pairs.as_deref().unwrap_or_default()
    }

    /// Rows consumed so far by [`Self::verify`].
    #[must_use]
    pub fn verified_rows(&self) -> usize {
        self.verified.cursor
    }

    /// Pass 2: feed the same rows again, in the same batches or any other split, in order.
    /// Only rows that appear in a candidate pair are shingled and kept.
    pub fn verify(&mut self, texts: &[Option<&str>]) -> Result<()> {
        self.candidate_pairs();
        let start = self.verified.cursor;
        let end = start + texts.len();
        if end > self.len() {
            return Err(Error::invalid(format!(
                "verify received {end} rows in total but only {} were added",
                self.len()
            )));
        }
        let rows = &self.verified.rows;
        let low = rows.partition_point(|&row| (row as usize) < start);
        let high = rows.partition_point(|&row| (row as usize) < end);
        let options = &self.options;
        let segments: Vec<SetSegment> = rows[low..high]
            .par_chunks(ROWS_PER_TASK)
            .enumerate()
            .map_init(
                || (Scratch::default(), BucketSorter::default()),
                |(scratch, sorter), (task, task_rows)| {
                    let mut segment = SetSegment {
                        first_slot: low + task * ROWS_PER_TASK,
                        offsets: Vec::with_capacity(task_rows.len() + 1),
                        number_keys: Vec::with_capacity(task_rows.len()),
                        shingles: Vec::new(),
                    };
                    segment.offsets.push(0);
                    for &row in task_rows {
                        let text = require_text(texts[row as usize - start], row as usize)?;
                        let set = scratch.shingle_set(text, options, sorter);
                        segment.shingles.extend_from_slice(set);
                        segment.offsets.push(segment.shingles.len());
                        segment.number_keys.push(if options.number_guard {
                            number_key(text)
                        } else {
                            0
                        });
                    }
                    Ok(segment)
                },
            )
            .collect::<Result<_>>()?;
        self.verified.segments.extend(segments);
        self.verified.cursor = end;
        Ok(())
    }

    /// Verifies the candidate pairs and keeps rows by the index's [`Keep`] policy, smaller
    /// `(priority, row id)` first.
    ///
    /// # Errors
    /// `verify` did not see every row; a priority of the wrong length.
    pub fn finish(mut self, priority: Option<&[i64]>) -> Result<NearDuplicates> {
        let pairs = self.candidate_pairs().to_vec();
        if self.verified.cursor != self.len() {
            return Err(Error::invalid(format!(
                "verify saw {} of {} rows; feed every batch again before finishing",
                self.verified.cursor,
                self.len()
            )));
        }
        check_priority(priority, self.len())?;
        let threshold = self.options.threshold;
        let verified = &self.verified;
        let scored: Vec<Option<f32>> = pairs
            .par_iter()
            .with_min_len(ROWS_PER_TASK)
            .map(|&(left, right)| {
                let (left_set, left_numbers) = verified.set(left)?;
                let (right_set, right_numbers) = verified.set(right)?;
                if left_numbers != right_numbers {
                    return None;
                }
                let similarity = jaccard(left_set, right_set);
                (similarity >= threshold).then_some(similarity as f32)
            })
            .collect();
        let (mut left, mut right, mut similarity) = (Vec::new(), Vec::new(), Vec::new());
        for (&(a, b), score) in pairs.iter().zip(&scored) {
            if let Some(value) = *score {
                left.push(a);
                right.push(b);
                similarity.push(value);
            }
        }
        let edges = Pairs {
            left: &left,
            right: &right,
            similarity: &similarity,
        };
        let selection = select(
            self.len(),
            &edges,
            priority,
            self.options.keep,
            |row, kept| {
                Ok(
                    match (verified.set(row as u32), verified.set(kept as u32)) {
                        (Some((own, _)), Some((other, _))) => jaccard(own, other) as f32,
                        _ => 0.0,
                    },
                )
            },
        )?;
        Ok(NearDuplicates {
            cluster: selection.cluster,
            representative: selection.representative,
            similarity: selection.similarity,
            pair_left: left.into_iter().map(i64::from).collect(),
            pair_right: right.into_iter().map(i64::from).collect(),
            pair_similarity: similarity,
            candidates: pairs.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(threshold: f64) -> NearOptions {
        NearOptions {
            threshold,
            num_perm: 128,
            bands: 16,
            rows: 8,
            ngram: 3,
            seed: 1,
            number_guard: false,
            unigram_below: 0,
            bigram_below: 0,
            keep: Keep::Component,
            normalize: NormalizeOptions::default(),
        }
    }

    fn run(texts: &[&str], options: NearOptions, priority: Option<&[i64]>) -> NearDuplicates {
        let rows: Vec<Option<&str>> = texts.iter().map(|t| Some(*t)).collect();
        let mut index = NearIndex::new(options).unwrap();
        index.add(&rows[..1]).unwrap();
        index.add(&rows[1..]).unwrap();
        index.verify(&rows).unwrap();
        index.finish(priority).unwrap()
    }

    const BASE: &str = "the quick brown fox jumps over the lazy dog near the river bank today \
                        while the small cat sleeps on the warm mat by the door";

    #[test]
    fn near_copies_cluster_to_the_lowest_row() {
        let variant = BASE.replace("today", "today!").to_uppercase();
        let other = "an entirely different sentence about linear algebra and eigenvalues of \
                     symmetric matrices over the real numbers";
        let result = run(&[other, BASE, &variant], options(0.8), None);
        assert_eq!(result.representative, vec![0, 1, 1]);
        assert_eq!(result.cluster, vec![0, 1, 1]);
        assert!((result.similarity[2] - 1.0).abs() < 1e-6);
        assert_eq!(
            (result.pair_left.clone(), result.pair_right.clone()),
            (vec![1], vec![2])
        );
    }

    #[test]
    fn priority_chooses_the_representative() {
        let result = run(&[BASE, BASE], options(0.8), Some(&[5, 1]));
        assert_eq!(result.representative, vec![1, 1]);
        assert_eq!(result.cluster, vec![0, 0]);
    }

    #[test]
    fn number_guard_keeps_problems_with_other_numbers() {
        let left = "a train travels 120 km in 2 hours at a constant speed what is its speed in km \
                    per hour on this long flat track";
        let right = left.replace("120", "150");
        // 32 × 4 bands make the pair (J ≈ 0.74) a candidate with near certainty.
        let plain = NearOptions {
            bands: 32,
            rows: 4,
            ..options(0.7)
        };
        let guarded = NearOptions {
            number_guard: true,
            ..plain
        };
        assert_eq!(run(&[left, &right], plain, None).representative, vec![0, 0]);
        assert_eq!(
            run(&[left, &right], guarded, None).representative,
            vec![0, 1]
        );
    }

    #[test]
    fn verification_rejects_pairs_under_the_threshold() {
        // With one band of one row every pair sharing a min-hash collides; verification must
        // still refuse pairs below the threshold.
        let mut loose = options(0.9);
        loose.bands = 1;
        loose.rows = 1;
        let half = BASE.split(' ').take(12).collect::<Vec<_>>().join(" ") + " totally new tail";
        let result = run(&[BASE, &half], loose, None);
        assert_eq!(result.representative, vec![0, 1]);
    }

    /// `count` texts of 100 words, each one more word away from the first (J ~ 0.90 per step).
    fn chain(count: usize) -> Vec<String> {
        let mut words: Vec<String> = (0..100).map(|i| format!("w{i}")).collect();
        (0..count)
            .map(|step| {
                if step > 0 {
                    words[step * 15] = format!("changed{step}");
                }
                words.join(" ")
            })
            .collect()
    }

    #[test]
    fn greedy_keep_drops_a_row_only_for_a_similar_kept_row() {
        let texts = chain(6);
        let rows: Vec<&str> = texts.iter().map(String::as_str).collect();
        let mut greedy = options(0.8);
        greedy.keep = Keep::Greedy;
        greedy.ngram = 5;
        // 32 × 4 bands make the pairs at J ≈ 0.81 candidates with near certainty.
        greedy.bands = 32;
        greedy.rows = 4;
        let component = NearOptions {
            keep: Keep::Component,
            ..greedy
        };
        let chained = run(&rows, component, None);
        assert_eq!(chained.representative, vec![0; 6]);
        assert!(chained.similarity[5] < 0.8);
        let result = run(&rows, greedy, None);
        assert_eq!(result.representative, vec![0, 0, 0, 3, 3, 3]);
        assert_eq!(result.cluster, vec![0; 6]);
        assert!(result
            .similarity
            .iter()
            .all(|&similarity| similarity >= 0.8));
    }

    #[test]
    fn short_texts_are_shingled_narrower() {
        let left = "what is the sum of all the positive divisors of the number sixty four";
        let right = "what is the sum of all the positive divisors of the whole number sixty four";
        let fixed = NearOptions {
            ngram: 5,
            bands: 32,
            rows: 4,
            ..options(0.8)
        };
        let short = NearOptions {
            unigram_below: 20,
            bigram_below: 50,
            ..fixed
        };
        assert_eq!(short.shingle_width(14), 1);
        assert_eq!(short.shingle_width(20), 2);
        assert_eq!(short.shingle_width(50), 5);
        assert_eq!(run(&[left, right], fixed, None).representative, vec![0, 1]);
        assert_eq!(run(&[left, right], short, None).representative, vec![0, 0]);
    }

    #[test]
    fn number_keys_ignore_order_and_separators() {
        let keys = number_keys(&[Some("7 and 12"), Some("12, then 7"), Some("７ and 13")]).unwrap();
        assert_eq!(keys[0], keys[1]);
        assert_ne!(keys[0], keys[2]);
    }

    #[test]
    fn null_rows_are_named() {
        let mut index = NearIndex::new(options(0.8)).unwrap();
        let error = index.add(&[Some("a"), None]).unwrap_err();
        assert_eq!(error.to_string(), "row 1: text is null");
    }

    #[test]
    fn finishing_before_verification_is_an_error() {
        let mut index = NearIndex::new(options(0.8)).unwrap();
        index.add(&[Some(BASE), Some(BASE)]).unwrap();
        assert!(index.finish(None).is_err());
    }

    #[test]
    fn exact_index_groups_equal_normalized_text() {
        let mut index = ExactIndex::new(NormalizeOptions::default());
        index.add(&[Some("Hello, World"), Some("x")]).unwrap();
        index.add(&[Some("hello world!"), Some("")]).unwrap();
        let result = index.finish(Some(&[3, 0, 1, 0])).unwrap();
        assert_eq!(result.representative, vec![2, 1, 2, 3]);
    }

    #[test]
    fn results_do_not_depend_on_thread_count() {
        let texts: Vec<String> = (0..300)
            .map(|i| format!("{BASE} variant {} extra {}", i % 37, i % 11))
            .collect();
        let rows: Vec<&str> = texts.iter().map(String::as_str).collect();
        let one = crate::parallel::install(Some(1), || run(&rows, options(0.8), None)).unwrap();
        let two = crate::parallel::install(Some(2), || run(&rows, options(0.8), None)).unwrap();
        assert_eq!(one.representative, two.representative);
        assert_eq!(one.pair_left, two.pair_left);
    }
}
