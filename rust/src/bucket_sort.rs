//! Sorting values keyed by a uniform 64-bit hash (shingle hashes, LSH band keys): one counting
//! pass on the hash's top bits puts every value in its final bucket (about one value each), then
//! one insertion pass over the whole slice finishes the sort. For hashes this beats a comparison sort of the whole slice
//! (verify sorts one 225-value shingle set per candidate row; `candidate_pairs` 200k band keys
//! per band).

/// Reusable buffers of [`BucketSorter::sort`].
#[derive(Debug, Default)]
pub struct BucketSorter<T> {
    scratch: Vec<T>,
    bounds: Vec<usize>,
}

/// Below this many values a plain comparison sort is as fast.
const SMALL: usize = 32;

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
        // About one value per bucket: after the scatter every value sits within its bucket's
        // few slots of its place, so one insertion pass finishes the sort in near-linear time
        // (sorting each bucket on its own paid a call and mispredicted branches per bucket).
        let bits = (usize::BITS - len.leading_zeros()).clamp(1, 16);
        let shift = 64 - bits;
        let bucket = |value: &T| (hash(value) >> shift) as usize;
        self.bounds.clear();
        self.bounds.resize((1 << bits) + 1, 0);
        for value in values.iter() {
            self.bounds[bucket(value) + 1] += 1;
        }
        for index in 1..self.bounds.len() {
            self.bounds[index] += self.bounds[index - 1];
        }
        self.scratch.clear();
        self.scratch.resize(len, T::default());
        // `bounds[b]` walks from bucket b's start to its end as values are placed.
        for &value in values.iter() {
            let slot = &mut self.bounds[bucket(&value)];
            self.scratch[*slot] = value;
            *slot += 1;
        }
        insertion_sort(&mut self.scratch);
        std::mem::swap(values, &mut self.scratch);
    }
}

/// Insertion sort: linear when every value is already close to its place.
fn insertion_sort<T: Copy + Ord>(values: &mut [T]) {
    for index in 1..values.len() {
        let value = values[index];
        let mut slot = index;
        while slot > 0 && value < values[slot - 1] {
            values[slot] = values[slot - 1];
            slot -= 1;
        }
        values[slot] = value;
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
        for len in [0, 1, 31, 32, 225, 5_000] {
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
