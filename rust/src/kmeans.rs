//! Spherical k-means cells over unit rows: the partition of the clustered similarity graph.
//!
//! Spherical k-means (Dhillon & Modha 2001): centroids are unit vectors, a row belongs to the
//! centroid with the largest dot product, and a centroid moves to the normalized sum of its rows.
//! It is trained on an evenly spaced sample ([`SAMPLE_PER_CELL`] rows per cell, as FAISS IVF
//! trains on a sample), then every row is assigned to its `nprobe` nearest centroids. A cell that
//! ends up with more than [`OVERSIZED`] times the average number of rows is split by k-means on
//! its own rows and everything is assigned again (at most [`SPLIT_ROUNDS`] times), so the work per
//! cell stays bounded on skewed data.
//!
//! Determinism: the sample, the initial centroids (evenly spaced sample rows) and every sum are
//! taken in row order, argmax ties go to the lower centroid, and each centroid is summed by one
//! task: the cells do not depend on the thread count.

use crate::error::{Error, Result};
use crate::vectors::{dot, for_each_product, Matrix, UnitBlock};
use rayon::prelude::*;

/// Sample rows per cell used to train the centroids.
pub const SAMPLE_PER_CELL: usize = 40;
/// Lloyd iterations on the sample.
pub const ITERATIONS: usize = 8;
/// A cell with more rows than this times the average is split.
pub const OVERSIZED: usize = 4;
/// Rounds of splitting oversized cells.
pub const SPLIT_ROUNDS: usize = 2;
/// Cells below this size are never split (their sweep is cheap whatever the average).
const MIN_SPLIT_ROWS: usize = 4096;
/// Rows assigned per parallel work item.
const ASSIGN_BLOCK: usize = 240;

/// Rows grouped by cell: `rows[offsets[cell]..offsets[cell + 1]]`, in ascending position order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CellLists {
    pub offsets: Vec<usize>,
    pub rows: Vec<u32>,
}

impl CellLists {
    /// Groups `position -> cell` (one entry per row; `u32::MAX` = none) by cell.
    fn group(cells: usize, cell_of: impl Iterator<Item = u32> + Clone) -> Self {
        let mut offsets = vec![0usize; cells + 1];
        for cell in cell_of.clone().filter(|&cell| cell != u32::MAX) {
            offsets[cell as usize + 1] += 1;
        }
        for cell in 0..cells {
            offsets[cell + 1] += offsets[cell];
        }
        let mut next = offsets.clone();
        let mut rows = vec![0u32; offsets[cells]];
        for (position, cell) in (0u32..).zip(cell_of) {
            if cell != u32::MAX {
                rows[next[cell as usize]] = position;
                next[cell as usize] += 1;
            }
        }
        Self { offsets, rows }
    }

    /// Lists from their parts (e.g. a subset of cells sent to another process), checked: the
    /// offsets start at 0, never decrease and end at `rows.len()`.
    ///
    /// # Errors
    /// Offsets that do not describe `rows`.
    pub fn from_parts(offsets: Vec<usize>, rows: Vec<u32>) -> Result<Self> {
        let ordered = offsets.windows(2).all(|pair| pair[0] <= pair[1]);
        if offsets.first() != Some(&0) || offsets.last() != Some(&rows.len()) || !ordered {
            return Err(Error::invalid(format!(
                "cell offsets must rise from 0 to the {} rows listed",
                rows.len()
            )));
        }
        Ok(Self { offsets, rows })
    }

    /// The rows of `cell`.
    #[must_use]
    pub fn cell(&self, cell: usize) -> &[u32] {
        &self.rows[self.offsets[cell]..self.offsets[cell + 1]]
    }

    /// Number of cells.
    #[must_use]
    pub fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The partition: each row's nearest cell (`primary`) and the cells it also probes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cells {
    /// Rows by nearest cell.
    pub primary: CellLists,
    /// Rows by the further cells they probe (see [`Probe`]).
    pub probes: CellLists,
}

/// Which cells a row is compared with, besides its nearest.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Probe {
    /// At most this many cells per row, the nearest first.
    pub nprobe: usize,
    /// Only cells whose centroid cosine with the row is within this of the nearest cell's
    /// (`f32::INFINITY`: always the `nprobe` nearest).
    pub margin: f32,
}

/// Each row's nearest cell, and its further probed cells (`counts[r]` of them, row after row in
/// `extra`, best first).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Assignment {
    pub primary: Vec<u32>,
    pub extra: Vec<u32>,
    pub counts: Vec<u32>,
}

impl Assignment {
    /// An assignment made elsewhere (e.g. by Ray tasks), checked against the `rows` it assigns
    /// and the number of `cells`.
    ///
    /// # Errors
    /// Lengths that do not match `rows`, or a cell id outside `cells`.
    pub fn from_parts(
        primary: Vec<u32>,
        extra: Vec<u32>,
        counts: Vec<u32>,
        rows: usize,
        cells: usize,
    ) -> Result<Self> {
        let probed: usize = counts.iter().map(|&count| count as usize).sum();
        if primary.len() != rows || counts.len() != rows || probed != extra.len() {
            return Err(Error::invalid(format!(
                "an assignment of {rows} rows needs {rows} primary cells and counts and as many \
                 extra cells as the counts add up to; got {}, {} and {} (counts add up to \
                 {probed})",
                primary.len(),
                counts.len(),
                extra.len()
            )));
        }
        if let Some(&cell) = primary
            .iter()
            .chain(&extra)
            .find(|&&cell| cell as usize >= cells)
        {
            return Err(Error::invalid(format!(
                "assigned cell {cell} is outside the {cells} centroids"
            )));
        }
        Ok(Self {
            primary,
            extra,
            counts,
        })
    }
}

/// Assigns rows `ids` to the given centroids: where [`cells_with`] does it.
pub type AssignRows<'a> = dyn FnMut(&[f32]) -> Result<Assignment> + 'a;

/// Trains `cells` spherical k-means cells on rows `ids` of `matrix` and assigns every row to its
/// nearest cell and the further cells `probe` selects, splitting oversized cells. Positions in the
/// lists index `ids`.
///
/// # Errors
/// A row with a NaN/infinite value or zero length.
pub fn cells(matrix: &Matrix<'_>, ids: &[u32], cells: usize, probe: Probe) -> Result<Cells> {
    cells_with(matrix, ids, cells, &mut |centroids| {
        assign(matrix, ids, centroids, probe)
    })
}

/// [`cells`], with every assignment of all of `ids` to the current centroids made by
/// `assign_rows` (in order; e.g. blocks of rows as Ray tasks calling [`assign_rows`]). Training
/// and the split of oversized cells run here.
///
/// # Errors
/// A row with a NaN/infinite value or zero length; an error of `assign_rows`.
pub fn cells_with(
    matrix: &Matrix<'_>,
    ids: &[u32],
    cells: usize,
    assign_rows: &mut AssignRows<'_>,
) -> Result<Cells> {
    let count = ids.len();
    let cells = cells.clamp(1, count.max(1));
    let centroids = train(matrix, &evenly_spaced(ids, cells * SAMPLE_PER_CELL), cells)?;
    let target = (count / cells).max(1);
    partition(
        matrix,
        ids,
        centroids,
        (OVERSIZED * target).max(MIN_SPLIT_ROWS),
        target,
        assign_rows,
    )
}

/// Every row of `rows` assigned to its nearest of `centroids` (row-major, unit length, as
/// [`cells_with`] passes them) and the further ones `probe` selects: one block of an assignment
/// made elsewhere.
///
/// # Errors
/// A row outside the matrix, centroids that are not whole rows, a NaN/infinite or zero row.
pub fn assign_rows(
    matrix: &Matrix<'_>,
    rows: &[u32],
    centroids: &[f32],
    probe: Probe,
) -> Result<Assignment> {
    if centroids.is_empty() || !centroids.len().is_multiple_of(matrix.dim()) {
        return Err(Error::invalid(format!(
            "centroids must be whole rows of {} values, got {} values",
            matrix.dim(),
            centroids.len()
        )));
    }
    if let Some(&row) = rows.iter().find(|&&row| row as usize >= matrix.rows()) {
        return Err(Error::invalid(format!(
            "row {row} is outside the {} embedding rows",
            matrix.rows()
        )));
    }
    assign(matrix, rows, centroids, probe)
}

/// Assigns rows `ids` to their cells among `centroids` (by `assign_rows`); a cell with more than
/// `cap` rows is replaced by cells of about `target` rows trained on its own rows, then all rows
/// are assigned again ([`SPLIT_ROUNDS`] times at most).
fn partition(
    matrix: &Matrix<'_>,
    ids: &[u32],
    mut centroids: Vec<f32>,
    cap: usize,
    target: usize,
    assign_rows: &mut AssignRows<'_>,
) -> Result<Cells> {
    let mut assigned = assign_rows(&centroids)?;
    for _ in 0..SPLIT_ROUNDS {
        let primary = CellLists::group(
            centroids.len() / matrix.dim(),
            assigned.primary.iter().copied(),
        );
        let oversized: Vec<usize> = (0..primary.len())
            .filter(|&cell| primary.cell(cell).len() > cap)
            .collect();
        if oversized.is_empty() {
            break;
        }
        let replacements = oversized
            .par_iter()
            .map(|&cell| {
                let members: Vec<u32> = primary
                    .cell(cell)
                    .iter()
                    .map(|&position| ids[position as usize])
                    .collect();
                let parts = members.len().div_ceil(target);
                train(
                    matrix,
                    &evenly_spaced(&members, parts * SAMPLE_PER_CELL),
                    parts,
                )
            })
            .collect::<Result<Vec<_>>>()?;
        let dim = matrix.dim();
        let mut next: Vec<f32> = centroids
            .chunks_exact(dim)
            .enumerate()
            .filter(|(cell, _)| oversized.binary_search(cell).is_err())
            .flat_map(|(_, centroid)| centroid.iter().copied())
            .collect();
        next.extend(replacements.into_iter().flatten());
        centroids = next;
        assigned = assign_rows(&centroids)?;
    }
    let total = centroids.len() / matrix.dim();
    let primary = CellLists::group(total, assigned.primary.iter().copied());
    // Grouped like `CellLists::group`, but a row has any number of probed cells.
    let mut offsets = vec![0usize; total + 1];
    for &cell in &assigned.extra {
        offsets[cell as usize + 1] += 1;
    }
    for cell in 0..total {
        offsets[cell + 1] += offsets[cell];
    }
    let mut next = offsets.clone();
    let mut rows = vec![0u32; assigned.extra.len()];
    let mut extra = assigned.extra.iter();
    for (position, &count) in (0u32..).zip(&assigned.counts) {
        for &cell in extra.by_ref().take(count as usize) {
            rows[next[cell as usize]] = position;
            next[cell as usize] += 1;
        }
    }
    Ok(Cells {
        primary,
        probes: CellLists { offsets, rows },
    })
}

/// `wanted` rows of `rows` at even spacing (all of them when there are fewer).
fn evenly_spaced(rows: &[u32], wanted: usize) -> Vec<u32> {
    if wanted >= rows.len() {
        return rows.to_vec();
    }
    (0..wanted)
        .map(|index| rows[index * rows.len() / wanted])
        .collect()
}

/// `cells` unit centroids (row-major) from Lloyd iterations on rows `sample`.
fn train(matrix: &Matrix<'_>, sample: &[u32], cells: usize) -> Result<Vec<f32>> {
    let dim = matrix.dim();
    let unit = matrix.unit_rows(sample)?;
    let cells = cells.clamp(1, sample.len().max(1));
    let mut centroids: Vec<f32> =
        evenly_spaced(&(0..sample.len() as u32).collect::<Vec<_>>(), cells)
            .iter()
            .flat_map(|&row| {
                unit[row as usize * dim..(row as usize + 1) * dim]
                    .iter()
                    .copied()
            })
            .collect();
    let mut block = UnitBlock::new(dim);
    for _ in 0..ITERATIONS {
        block.fill_from(&centroids);
        let nearest = nearest_of_unit(&unit, dim, &block);
        let members = CellLists::group(cells, nearest.iter().copied());
        centroids
            .par_chunks_mut(dim)
            .enumerate()
            .for_each(|(cell, centroid)| {
                let rows = members.cell(cell);
                if rows.is_empty() {
                    return; // An empty cell keeps its centroid.
                }
                centroid.fill(0.0);
                for &row in rows {
                    let values = &unit[row as usize * dim..(row as usize + 1) * dim];
                    for (sum, value) in centroid.iter_mut().zip(values) {
                        *sum += value;
                    }
                }
                let norm = dot(centroid, centroid).sqrt();
                if norm > 0.0 {
                    for value in centroid.iter_mut() {
                        *value /= norm;
                    }
                }
            });
    }
    Ok(centroids)
}

/// Per row of `unit`, its nearest centroid of `centroids` (ties: the lower).
fn nearest_of_unit(unit: &[f32], dim: usize, centroids: &UnitBlock) -> Vec<u32> {
    let rows = unit.len() / dim;
    let mut nearest = vec![0u32; rows];
    nearest
        .par_chunks_mut(ASSIGN_BLOCK)
        .zip(unit.par_chunks(ASSIGN_BLOCK * dim))
        .for_each_init(
            || (UnitBlock::new(dim), Vec::new()),
            |(block, best), (out, values)| {
                block.fill_from(values);
                best.clear();
                best.resize(out.len(), f32::NEG_INFINITY);
                // For one row, centroids are visited in ascending order, so a strict `>` keeps
                // the lower centroid on ties.
                for_each_product(block, centroids, false, |row, centroid, product| {
                    if product > best[row] {
                        best[row] = product;
                        out[row] = centroid as u32;
                    }
                });
            },
        );
    nearest
}

/// Every row of `ids` assigned to its nearest centroid and the further ones `probe` selects.
fn assign(matrix: &Matrix<'_>, ids: &[u32], centroids: &[f32], probe: Probe) -> Result<Assignment> {
    let dim = matrix.dim();
    let total = centroids.len() / dim;
    let mut centroid_block = UnitBlock::new(dim);
    centroid_block.fill_from(centroids);
    let blocks: Vec<Assignment> = ids
        .par_chunks(ASSIGN_BLOCK)
        .map_init(
            || (UnitBlock::new(dim), Vec::new(), Vec::new()),
            |(block, products, ranked), rows| {
                block.fill(matrix, rows.iter().copied())?;
                let mut out = Assignment {
                    primary: Vec::with_capacity(rows.len()),
                    extra: Vec::new(),
                    counts: Vec::with_capacity(rows.len()),
                };
                products.clear();
                products.resize(rows.len() * total, f32::NEG_INFINITY);
                for_each_product(block, &centroid_block, false, |row, centroid, product| {
                    products[row * total + centroid] = product;
                });
                for row_products in products.chunks_exact(total) {
                    select_cells(row_products, probe, ranked, &mut out);
                }
                Ok(out)
            },
        )
        .collect::<Result<_>>()?;
    let mut all = Assignment {
        primary: Vec::with_capacity(ids.len()),
        extra: Vec::with_capacity(blocks.iter().map(|block| block.extra.len()).sum()),
        counts: Vec::with_capacity(ids.len()),
    };
    for block in blocks {
        all.primary.extend(block.primary);
        all.extra.extend(block.extra);
        all.counts.extend(block.counts);
    }
    Ok(all)
}

/// Appends one row's nearest centroid (ties: the lower) and its further probed ones (up to
/// `nprobe - 1` within `margin` of the nearest, best first) to `out`.
fn select_cells(
    products: &[f32],
    probe: Probe,
    ranked: &mut Vec<(f32, u32)>,
    out: &mut Assignment,
) {
    let (mut best, mut nearest) = (f32::NEG_INFINITY, 0u32);
    for (centroid, &product) in (0u32..).zip(products) {
        // Strict `>`: the lower centroid keeps a tie.
        if product > best {
            (best, nearest) = (product, centroid);
        }
    }
    out.primary.push(nearest);
    let wanted = probe.nprobe.saturating_sub(1);
    ranked.clear();
    if wanted > 0 {
        let floor = best - probe.margin;
        ranked.extend(
            (0u32..)
                .zip(products)
                .filter(|&(centroid, &product)| centroid != nearest && product >= floor)
                .map(|(centroid, &product)| (product, centroid)),
        );
    }
    // Best first, ties by the lower centroid: a total order, so the choice is deterministic.
    let order = |a: &(f32, u32), b: &(f32, u32)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
    if ranked.len() > wanted {
        ranked.select_nth_unstable_by(wanted, order);
        ranked.truncate(wanted);
    }
    ranked.sort_unstable_by(order);
    out.extra
        .extend(ranked.iter().map(|&(_, centroid)| centroid));
    out.counts.push(ranked.len() as u32);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hashing::splitmix64;
    use crate::vectors::Vectors;

    /// Always the `nprobe` nearest cells.
    fn fixed(nprobe: usize) -> Probe {
        Probe {
            nprobe,
            margin: f32::INFINITY,
        }
    }

    /// Rows around `centres` unit directions (axis `i` for centre `i`), `per` rows each.
    fn around_axes(centres: usize, per: usize, dim: usize) -> Vec<f32> {
        let mut data = Vec::new();
        for row in 0..centres * per {
            let mut values = vec![0.01 * ((row % 7) as f32); dim];
            values[row % centres] = 1.0;
            data.extend(values);
        }
        data
    }

    #[test]
    fn every_row_has_one_primary_cell_and_nprobe_minus_one_probes() {
        let data = around_axes(8, 50, 16);
        let matrix = Matrix::new(Vectors::F32(&data), 16).unwrap();
        let ids: Vec<u32> = (0..400).collect();
        let cells = cells(&matrix, &ids, 8, fixed(3)).unwrap();
        let mut primary: Vec<u32> = cells.primary.rows.clone();
        primary.sort_unstable();
        assert_eq!(primary, ids);
        let mut probes = cells.probes.rows.clone();
        probes.sort_unstable();
        let twice: Vec<u32> = ids.iter().flat_map(|&row| [row, row]).collect();
        assert_eq!(probes, twice);
        for cell in 0..cells.primary.len() {
            let own = cells.primary.cell(cell);
            assert!(cells.probes.cell(cell).iter().all(|row| !own.contains(row)));
        }
    }

    #[test]
    fn rows_near_one_axis_share_a_cell() {
        let data = around_axes(4, 25, 8);
        let matrix = Matrix::new(Vectors::F32(&data), 8).unwrap();
        let ids: Vec<u32> = (0..100).collect();
        let cells = cells(&matrix, &ids, 4, fixed(1)).unwrap();
        for cell in 0..cells.primary.len() {
            let rows = cells.primary.cell(cell);
            assert!(rows.iter().all(|&row| row % 4 == rows[0] % 4), "{rows:?}");
        }
    }

    #[test]
    fn an_oversized_cell_is_split_below_the_cap() {
        // 1,500 of 2,000 rows crowd around axis 0 and the only centroid there takes them all;
        // splitting brings every cell under the cap, and every row keeps one primary cell.
        let dim = 16;
        let mut state = 9u64;
        let mut data = Vec::new();
        for row in 0..2_000usize {
            let mut values: Vec<f32> = (0..dim)
                .map(|_| (splitmix64(&mut state) >> 40) as f32 / (1u64 << 24) as f32 - 0.5)
                .collect();
            values[if row < 1_500 { 0 } else { 1 + row % 4 }] += 3.0;
            data.extend(values);
        }
        let matrix = Matrix::new(Vectors::F32(&data), dim).unwrap();
        let ids: Vec<u32> = (0..2_000).collect();
        let centroids: Vec<f32> = (0..5)
            .flat_map(|axis| (0..dim).map(move |index| f32::from(u8::from(index == axis))))
            .collect();
        let cells = partition(&matrix, &ids, centroids, 400, 100, &mut |centroids| {
            assign(&matrix, &ids, centroids, fixed(2))
        })
        .unwrap();
        let sizes: Vec<usize> = (0..cells.primary.len())
            .map(|cell| cells.primary.cell(cell).len())
            .collect();
        assert!(sizes.iter().all(|&size| size <= 400), "{sizes:?}");
        assert_eq!(sizes.iter().sum::<usize>(), 2_000);
        assert!(cells.primary.len() >= 4 + 15);
    }

    #[test]
    fn a_margin_probes_only_the_cells_close_to_the_nearest() {
        // Three unit centroids; the row is 0.8 from the first, 0.75 from the second and 0 from
        // the third: a margin of 0.1 probes the second only, a margin of 0.01 none, and nprobe
        // caps the count whatever the margin.
        let centroids = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0];
        let row = [0.8f32, 0.75, 0.0];
        let matrix = Matrix::new(Vectors::F32(&row), 3).unwrap();
        let probed = |nprobe, margin| {
            let assigned = assign(&matrix, &[0], &centroids, Probe { nprobe, margin }).unwrap();
            (assigned.primary, assigned.extra)
        };
        assert_eq!(probed(3, 0.1), (vec![0], vec![1]));
        assert_eq!(probed(3, 0.01), (vec![0], vec![]));
        assert_eq!(probed(3, 2.0), (vec![0], vec![1, 2]));
        assert_eq!(probed(2, 2.0), (vec![0], vec![1]));
        assert_eq!(probed(1, 2.0), (vec![0], vec![]));
    }

    #[test]
    fn cells_ignore_the_thread_count() {
        let data = around_axes(13, 40, 24);
        let matrix = Matrix::new(Vectors::F32(&data), 24).unwrap();
        let ids: Vec<u32> = (0..520).collect();
        let one = crate::parallel::install(Some(1), || cells(&matrix, &ids, 9, fixed(2))).unwrap();
        let three =
            crate::parallel::install(Some(3), || cells(&matrix, &ids, 9, fixed(2))).unwrap();
        assert_eq!(one.unwrap(), three.unwrap());
    }
}
