//! Sorting values keyed by a uniform 64-bit hash (shingle hashes, LSH band keys): one counting
//! pass on the hash's top bits puts every value in its final bucket (about one value each), then
//! one insertion pass over the whole slice finishes the sort. Large inputs take a first pass on
//! the top byte so each bucket pass runs in cache. For hashes this beats a comparison sort of
//! the whole slice (verify sorts one 225-value shingle set per candidate row;
//! `candidate_pairs` 200k band keys per band).

/// Reusable buffers of [`BucketSorter::sort`].
#[derive(Debug, Default)]
pub struct BucketSorter<T> {
    scratch: Vec<T>,
    bounds: Vec<usize>,
}

/// Below this many values a plain comparison sort is as fast.
const SMALL: usize = 32;

/// Above this many values the scatter's random writes leave the cache, so a first pass splits
/// the values into 256 partitions on the hash's top byte (256 sequential write streams), and
/// each partition is then sorted in cache.
const ONE_PASS_MAX: usize = 1 << 15;

impl<T: Copy + Ord + Default> BucketSorter<T> {
    /// Sorts `values` by `Ord`. `hash(value)` must be the leading part of that order (values
    /// with a smaller hash sort first) and close to uniform over `u64`; the result is correct
    /// for any hash, only slower when it is skewed.
    pub fn sort(&mut self, values: &mut Vec<T>, hash: impl Fn(&T) -> u64) {
        let len = values.len();
        if len < SMALL {
            values.sort_unstable();
            return;
        }
        self.scratch.clear();
        self.scratch.resize(len, T::default());
        if len <= ONE_PASS_MAX {
            scatter(
                values,
                &mut self.scratch,
                &mut self.bounds,
                0,
                bucket_bits(len),
                &hash,
            );
            insertion_sort(&mut self.scratch);
            std::mem::swap(values, &mut self.scratch);
            return;
        }
        scatter(values, &mut self.scratch, &mut self.bounds, 0, 8, &hash);
        let mut partition_ends = [0usize; 256];
        partition_ends.copy_from_slice(&self.bounds[..256]);
        let mut start = 0;
        for end in partition_ends {
            let (source, target) = (&self.scratch[start..end], &mut values[start..end]);
            scatter(
                source,
                target,
                &mut self.bounds,
                8,
                bucket_bits(end - start),
                &hash,
            );
            insertion_sort(target);
            start = end;
        }
    }
}

/// Bucket bits for `len` values: about one value per bucket, at most 2^16 buckets.
fn bucket_bits(len: usize) -> u32 {
    (usize::BITS - len.leading_zeros()).clamp(1, 16)
}

/// Places `source` into `target` by the `bits` hash bits that follow the top `skip` bits
/// (ascending bucket order, stable within a bucket). Leaves `bounds[b]` at bucket b's end.
fn scatter<T: Copy>(
    source: &[T],
    target: &mut [T],
    bounds: &mut Vec<usize>,
    skip: u32,
    bits: u32,
    hash: &impl Fn(&T) -> u64,
) {
    let bucket = |value: &T| ((hash(value) << skip) >> (64 - bits)) as usize;
    bounds.clear();
    bounds.resize((1 << bits) + 1, 0);
    for value in source {
        bounds[bucket(value) + 1] += 1;
    }
    for index in 1..bounds.len() {
        bounds[index] += bounds[index - 1];
    }
    // `bounds[b]` walks from bucket b's start to its end as values are placed.
    for &value in source {
        let slot = &mut bounds[bucket(&value)];
        target[*slot] = value;
        *slot += 1;
    }
}

/// Insertion sort: linear when every value is already close to its place. A skewed hash can
/// leave values far from it; past a budget of moves the slice goes to a comparison sort.
fn insertion_sort<T: Copy + Ord>(values: &mut [T]) {
    let mut budget = values.len().saturating_mul(8);
    for index in 1..values.len() {
        let value = values[index];
        let mut slot = index;
        while slot > 0 && value < values[slot - 1] {
            values[slot] = values[slot - 1];
            slot -= 1;
        }
        values[slot] = value;
        budget = budget.saturating_sub(index - slot);
        if budget == 0 {
            values.sort_unstable();
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hashing::splitmix64;
    use proptest::prelude::*;

    #[test]
    fn sorts_hashes_and_pairs_keyed_by_hash() {
        let mut state = 5u64;
        let mut sorter = BucketSorter::default();
        for len in [0, 1, 31, 32, 225, 5_000, ONE_PASS_MAX + 1, 200_000] {
            let mut values: Vec<u64> = (0..len).map(|_| splitmix64(&mut state)).collect();
            values.extend_from_within(..len / 3);
            let mut expected = values.clone();
            expected.sort_unstable();
            sorter.sort(&mut values, |&value| value);
            assert_eq!(values, expected, "len {len}");
        }
        let mut entries: Vec<(u64, u32)> = (0..1_000u32)
            .map(|row| ((splitmix64(&mut state) % 50) << 58, row))
            .rev()
            .collect();
        let mut expected = entries.clone();
        expected.sort_unstable();
        BucketSorter::default().sort(&mut entries, |entry| entry.0);
        assert_eq!(entries, expected);
    }

    proptest! {
        #[test]
        fn any_hash_distribution_sorts(values in proptest::collection::vec(any::<u64>(), 0..300), skew in 0u32..64) {
            let mut values: Vec<u64> = values.into_iter().map(|value| value >> skew).collect();
            let mut expected = values.clone();
            expected.sort_unstable();
            BucketSorter::default().sort(&mut values, |&value| value);
            prop_assert_eq!(values, expected);
        }
    }
}
