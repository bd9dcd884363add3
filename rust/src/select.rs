//! Keep policies over a verified pair graph, shared by near dedup (MinHash, exact Jaccard) and
//! semantic dedup (embeddings, exact cosine).
//!
//! The input is the list of verified pairs (every edge already at or above the threshold) and an
//! optional priority per row; smaller `(priority, row id)` is kept first.
//!
//! - [`Keep::Greedy`] (the default of both dedups): rows are visited in `(priority, row id)`
//!   order and a row is dropped iff it has an edge to a row already *kept*; it then points at the
//!   most similar such row. A dropped row never keeps another one out, so there are no chains:
//!   every dropped row is at or above the threshold with its representative. This is the
//!   "compare against kept rows only" rule that avoids SemDeDup's over-removal along chains.
//! - [`Keep::Component`]: one row per connected component (union-find), the smallest
//!   `(priority, row id)`. A row can then be dropped for a representative it is not similar to
//!   (A~B, B~C, A kept, C dropped); kept for callers that want transitive clusters.
//!
//! Cluster ids are the connected components (lowest row id) under both policies. Results depend
//! only on the input, never on the thread count or on the order of the edges.

use crate::ann::{dot, Graph, Matrix};
use crate::error::{Error, Result};
use crate::unionfind::UnionFind;
use rayon::prelude::*;

/// Rows per parallel work item when scoring representatives.
const ROWS_PER_TASK: usize = 256;

/// How [`select`] keeps rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Keep {
    /// In priority order, drop a row iff it has an edge to an already kept row (no chaining).
    #[default]
    Greedy,
    /// One row per connected component.
    Component,
}

impl Keep {
    /// Parses `greedy` or `component`.
    ///
    /// # Errors
    /// Any other name.
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "greedy" => Ok(Self::Greedy),
            "component" => Ok(Self::Component),
            other => Err(Error::invalid(format!(
                "unknown keep strategy {other:?}; use greedy or component"
            ))),
        }
    }
}

/// Verified pairs, borrowed: `left[i]`–`right[i]` with similarity `similarity[i]`.
#[derive(Debug, Clone, Copy)]
pub struct Pairs<'a> {
    pub left: &'a [u32],
    pub right: &'a [u32],
    pub similarity: &'a [f32],
}

/// Per row: connected component (lowest row id), the row kept in its place, and the similarity
/// with that row (1.0 when kept).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Selection {
    pub cluster: Vec<i64>,
    pub representative: Vec<i64>,
    pub similarity: Vec<f32>,
}

fn check(rows: usize, pairs: &Pairs<'_>, priority: Option<&[i64]>) -> Result<()> {
    if let Some(values) = priority {
        if values.len() != rows {
            return Err(Error::invalid(format!(
                "priority has {} values but there are {rows} rows",
                values.len()
            )));
        }
    }
    if pairs.left.len() != pairs.right.len() || pairs.left.len() != pairs.similarity.len() {
        return Err(Error::invalid("edge arrays have different lengths"));
    }
    if let Some(bad) = pairs
        .left
        .iter()
        .chain(pairs.right)
        .find(|&&row| row as usize >= rows)
    {
        return Err(Error::invalid(format!(
            "edge names row {bad} but there are {rows} rows"
        )));
    }
    Ok(())
}

/// Chooses the rows to keep among `rows` rows joined by `pairs`; `score(row, kept)` gives the
/// similarity reported for a dropped row and its representative (e.g. the exact Jaccard or
/// cosine, recomputed so that component representatives get theirs too).
///
/// # Errors
/// Edges naming rows outside `0..rows`, arrays of different lengths, a priority of the wrong
/// length, or an error of `score`.
pub fn select<F>(
    rows: usize,
    pairs: &Pairs<'_>,
    priority: Option<&[i64]>,
    keep: Keep,
    score: F,
) -> Result<Selection>
where
    F: Fn(usize, usize) -> Result<f32> + Sync,
{
    check(rows, pairs, priority)?;
    let mut sets = UnionFind::new(rows);
    for (&left, &right) in pairs.left.iter().zip(pairs.right) {
        sets.union(left, right);
    }
    let roots = sets.roots();
    let representative = match keep {
        Keep::Component => component_representatives(&roots, priority),
        Keep::Greedy => greedy_representatives(rows, pairs, priority),
    };
    let similarity = (0..rows)
        .into_par_iter()
        .with_min_len(ROWS_PER_TASK)
        .map(|row| {
            let kept = representative[row] as usize;
            if kept == row {
                Ok(1.0)
            } else {
                score(row, kept)
            }
        })
        .collect::<Result<Vec<f32>>>()?;
    Ok(Selection {
        cluster: roots.into_iter().map(i64::from).collect(),
        representative: representative.into_iter().map(i64::from).collect(),
        similarity,
    })
}

/// [`select`] over an embedding graph, scoring with the exact f32 cosine of the unit rows.
///
/// # Errors
/// As [`select`]; a zero or NaN row of `matrix`.
pub fn select_by_cosine(
    matrix: &Matrix<'_>,
    graph: &Graph,
    priority: Option<&[i64]>,
    keep: Keep,
) -> Result<Selection> {
    let pairs = Pairs {
        left: &graph.left,
        right: &graph.right,
        similarity: &graph.similarity,
    };
    let dim = matrix.dim();
    select(matrix.rows(), &pairs, priority, keep, |row, kept| {
        let (mut own, mut other) = (vec![0f32; dim], vec![0f32; dim]);
        matrix.unit_row_into(row, &mut own)?;
        matrix.unit_row_into(kept, &mut other)?;
        Ok(dot(&own, &other))
    })
}

/// For each row, the row of its group that wins on `(priority, row id)`.
#[must_use]
pub fn component_representatives(roots: &[u32], priority: Option<&[i64]>) -> Vec<u32> {
    let rank = |row: u32| (priority.map_or(0, |values| values[row as usize]), row);
    let mut best: Vec<u32> = (0..roots.len() as u32).collect();
    for (row, &root) in roots.iter().enumerate() {
        let row = row as u32;
        if rank(row) < rank(best[root as usize]) {
            best[root as usize] = row;
        }
    }
    roots.iter().map(|&root| best[root as usize]).collect()
}

/// Greedy keep: only rows that have an edge take part; they are visited by rank.
fn greedy_representatives(rows: usize, pairs: &Pairs<'_>, priority: Option<&[i64]>) -> Vec<u32> {
    let rank = |row: u32| (priority.map_or(0, |values| values[row as usize]), row);
    let neighbours = Adjacency::new(rows, pairs);
    let mut order: Vec<u32> = (0..rows as u32)
        .filter(|&row| !neighbours.of(row).is_empty())
        .collect();
    order.par_sort_unstable_by_key(|&row| rank(row));
    let mut representative: Vec<u32> = (0..rows as u32).collect();
    let mut kept = vec![false; rows];
    for row in order {
        // The most similar kept neighbour; ties go to the better-ranked row.
        let best = neighbours
            .of(row)
            .iter()
            .filter(|(other, _)| kept[*other as usize])
            .max_by(|a, b| a.1.total_cmp(&b.1).then_with(|| rank(b.0).cmp(&rank(a.0))));
        match best {
            Some(&(other, _)) => representative[row as usize] = other,
            None => kept[row as usize] = true,
        }
    }
    representative
}

/// Neighbours of every row in one buffer (CSR): 8 bytes per row and 8 per edge end, instead of
/// a vector per row.
struct Adjacency {
    offsets: Vec<usize>,
    edges: Vec<(u32, f32)>,
}

impl Adjacency {
    fn new(rows: usize, pairs: &Pairs<'_>) -> Self {
        let mut offsets = vec![0usize; rows + 1];
        for &row in pairs.left.iter().chain(pairs.right) {
            offsets[row as usize + 1] += 1;
        }
        for row in 0..rows {
            offsets[row + 1] += offsets[row];
        }
        let mut fill = offsets.clone();
        let mut edges = vec![(0u32, 0f32); offsets[rows]];
        for ((&left, &right), &similarity) in
            pairs.left.iter().zip(pairs.right).zip(pairs.similarity)
        {
            edges[fill[left as usize]] = (right, similarity);
            fill[left as usize] += 1;
            edges[fill[right as usize]] = (left, similarity);
            fill[right as usize] += 1;
        }
        Self { offsets, edges }
    }

    fn of(&self, row: u32) -> &[(u32, f32)] {
        &self.edges[self.offsets[row as usize]..self.offsets[row as usize + 1]]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ann::{similarity_graph, GraphOptions, Method, Vectors};
    use proptest::prelude::*;

    fn by_edge(
        left: &[u32],
        right: &[u32],
        similarity: &[f32],
    ) -> impl Fn(usize, usize) -> Result<f32> {
        let edges: Vec<(u32, u32, f32)> = left
            .iter()
            .zip(right)
            .zip(similarity)
            .map(|((&a, &b), &s)| (a.min(b), a.max(b), s))
            .collect();
        move |row, kept| {
            let (a, b) = (row.min(kept) as u32, row.max(kept) as u32);
            Ok(edges
                .iter()
                .find(|edge| (edge.0, edge.1) == (a, b))
                .map_or(0.0, |edge| edge.2))
        }
    }

    #[test]
    fn greedy_keep_does_not_chain_but_components_do() {
        // At 0°, 20° and 40°: 0-1 and 1-2 are edges, 0-2 is not: greedy keeps 0 and 2,
        // components keep only 0.
        let data = vec![1.0, 0.0, 0.939_7, 0.342, 0.766, 0.642_8];
        let matrix = Matrix::new(Vectors::F32(&data), 2).unwrap();
        let graph = similarity_graph(
            &matrix,
            &GraphOptions {
                threshold: 0.9,
                method: Method::Exact,
                ..GraphOptions::default()
            },
        )
        .unwrap();
        assert_eq!(
            (graph.left.clone(), graph.right.clone()),
            (vec![0, 1], vec![1, 2])
        );
        let greedy = select_by_cosine(&matrix, &graph, None, Keep::Greedy).unwrap();
        assert_eq!(greedy.representative, vec![0, 0, 2]);
        assert_eq!(greedy.cluster, vec![0, 0, 0]);
        let component = select_by_cosine(&matrix, &graph, None, Keep::Component).unwrap();
        assert_eq!(component.representative, vec![0, 0, 0]);
        assert!(component.similarity[2] < 0.9);
        let by_priority =
            select_by_cosine(&matrix, &graph, Some(&[5, 0, 5]), Keep::Greedy).unwrap();
        assert_eq!(by_priority.representative, vec![1, 1, 1]);
    }

    #[test]
    fn bad_edges_and_priorities_are_errors() {
        let pairs = Pairs {
            left: &[0],
            right: &[3],
            similarity: &[1.0],
        };
        let score = |_: usize, _: usize| Ok(1.0);
        assert!(select(3, &pairs, None, Keep::Greedy, score).is_err());
        let pairs = Pairs {
            left: &[0],
            right: &[1],
            similarity: &[1.0],
        };
        assert!(select(3, &pairs, Some(&[1, 2]), Keep::Greedy, score).is_err());
    }

    proptest! {
        #[test]
        fn greedy_drops_only_for_kept_rows_at_or_above_the_threshold(
            edges in proptest::collection::vec((0u32..40, 0u32..40, 0.8f32..1.0), 0..120),
            priority in proptest::collection::vec(0i64..5, 40),
        ) {
            let edges: Vec<_> = edges.into_iter().filter(|e| e.0 != e.1).collect();
            let left: Vec<u32> = edges.iter().map(|e| e.0).collect();
            let right: Vec<u32> = edges.iter().map(|e| e.1).collect();
            let similarity: Vec<f32> = edges.iter().map(|e| e.2).collect();
            let pairs = Pairs { left: &left, right: &right, similarity: &similarity };
            let score = by_edge(&left, &right, &similarity);
            let result = select(40, &pairs, Some(priority.as_slice()), Keep::Greedy, score).unwrap();
            for row in 0..40 {
                let kept = usize::try_from(result.representative[row]).unwrap();
                // A representative is itself kept, and a dropped row has an edge to it.
                prop_assert_eq!(usize::try_from(result.representative[kept]).unwrap(), kept);
                if kept != row {
                    prop_assert!(result.similarity[row] >= 0.8);
                    prop_assert!((priority[kept], kept) < (priority[row], row));
                }
            }
            // No two kept rows share an edge.
            for (&a, &b) in left.iter().zip(&right) {
                let (a, b) = (a as usize, b as usize);
                let is_kept = |row: usize| usize::try_from(result.representative[row]) == Ok(row);
                prop_assert!(!is_kept(a) || !is_kept(b));
            }
            // The order of the edges does not matter.
            let (rl, rr, rs): (Vec<u32>, Vec<u32>, Vec<f32>) = (
                left.iter().rev().copied().collect(),
                right.iter().rev().copied().collect(),
                similarity.iter().rev().copied().collect(),
            );
            let reversed = Pairs { left: &rr, right: &rl, similarity: &rs };
            let again = select(40, &reversed, Some(priority.as_slice()), Keep::Greedy,
                by_edge(&rl, &rr, &rs)).unwrap();
            prop_assert_eq!(again.representative, result.representative);
        }
    }
}
