//! Union-find (disjoint sets) over row ids with a deterministic root: the lowest row id of each
//! set. Linking always hangs the larger root under the smaller, so the result does not depend on
//! the order in which edges arrive. Path halving keeps finds near-constant.

/// Disjoint sets over `0..len`.
#[derive(Debug, Clone)]
pub struct UnionFind {
    parent: Vec<u32>,
}

impl UnionFind {
    #[must_use]
    pub fn new(len: usize) -> Self {
        Self {
            parent: (0..len as u32).collect(),
        }
    }

    /// The lowest row id of `row`'s set.
    pub fn find(&mut self, mut row: u32) -> u32 {
        while self.parent[row as usize] != row {
            let grandparent = self.parent[self.parent[row as usize] as usize];
            self.parent[row as usize] = grandparent;
            row = grandparent;
        }
        row
    }

    pub fn union(&mut self, left: u32, right: u32) {
        let (left, right) = (self.find(left), self.find(right));
        if left != right {
            let (low, high) = if left < right {
                (left, right)
            } else {
                (right, left)
            };
            self.parent[high as usize] = low;
        }
    }

    /// Root (lowest row id) of every row.
    #[must_use]
    pub fn roots(mut self) -> Vec<u32> {
        (0..self.parent.len() as u32)
            .map(|row| self.find(row))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn joins_chains_to_the_lowest_id() {
        let mut sets = UnionFind::new(6);
        sets.union(5, 3);
        sets.union(3, 4);
        sets.union(1, 2);
        assert_eq!(sets.roots(), vec![0, 1, 1, 3, 3, 3]);
    }

    proptest! {
        #[test]
        fn roots_ignore_edge_order(
            edges in proptest::collection::vec((0u32..50, 0u32..50), 0..80),
            shuffle_seed in any::<u64>(),
        ) {
            let mut forward = UnionFind::new(50);
            for &(a, b) in &edges { forward.union(a, b); }
            let mut shuffled = edges.clone();
            let mut state = shuffle_seed;
            for i in (1..shuffled.len()).rev() {
                let j = (crate::hashing::splitmix64(&mut state) % (i as u64 + 1)) as usize;
                shuffled.swap(i, j);
            }
            let mut backward = UnionFind::new(50);
            for &(a, b) in &shuffled { backward.union(b, a); }
            prop_assert_eq!(forward.roots(), backward.roots());
        }
    }
}
