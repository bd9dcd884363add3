//! Union-find (disjoint sets) over row ids with a deterministic root: the lowest row id of each
//! set. Linking always hangs the larger root under the smaller, so the result does not depend on
//! the order in which edges arrive. Path halving keeps finds near-constant.

use crate::error::{Error, Result};

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

/// Connected components of an edge list over arbitrary (sparse) row ids: `(rows, component)`,
/// `rows` the sorted distinct ids named by an edge and `component` the lowest row of each one's
/// component. Memory is proportional to the edges, not to the largest id.
///
/// # Errors
/// Edge arrays of different lengths, a negative id, or more than `u32::MAX` distinct rows.
pub fn edge_components(left: &[i64], right: &[i64]) -> Result<(Vec<i64>, Vec<i64>)> {
    if left.len() != right.len() {
        return Err(Error::invalid(format!(
            "left has {} rows but right has {}",
            left.len(),
            right.len()
        )));
    }
    if let Some(bad) = left.iter().chain(right).find(|&&row| row < 0) {
        return Err(Error::invalid(format!("negative row id {bad}")));
    }
    let mut rows: Vec<i64> = left.iter().chain(right).copied().collect();
    rows.sort_unstable();
    rows.dedup();
    if u32::try_from(rows.len()).is_err() {
        return Err(Error::invalid(format!("more than {} rows", u32::MAX)));
    }
    // Dense positions keep the sorted order, so the lowest position names the lowest row.
    let position = |row: i64| rows.partition_point(|&other| other < row) as u32;
    let mut sets = UnionFind::new(rows.len());
    for (&a, &b) in left.iter().zip(right) {
        sets.union(position(a), position(b));
    }
    let component = sets
        .roots()
        .into_iter()
        .map(|root| rows[root as usize])
        .collect();
    Ok((rows, component))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn edge_components_name_each_component_by_its_lowest_row() {
        let (rows, component) = edge_components(&[5, 1, 7], &[9, 5, 8]).unwrap();
        assert_eq!(rows, vec![1, 5, 7, 8, 9]);
        assert_eq!(component, vec![1, 1, 7, 7, 1]);
        assert!(edge_components(&[1], &[]).is_err());
        assert!(edge_components(&[-1], &[2]).is_err());
        assert_eq!(edge_components(&[], &[]).unwrap(), (vec![], vec![]));
    }

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
