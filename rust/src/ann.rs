//! Similarity graph over embedding rows: every pair of rows with cosine >= `threshold`.
//!
//! Three candidate generators, one verification:
//!
//! - [`Method::Clustered`] (the batch default): spherical k-means cells on a sample
//!   ([`default_cells`]: 2·√N, [`crate::kmeans`]); every row is compared exactly with the rows of
//!   its nearest cell and of each further cell whose centroid cosine is within `probe_margin` of
//!   the nearest's (at most `nprobe` cells; an IVF-flat search with a threshold instead of a
//!   top-k, and an adaptive probe count: rows near a cell boundary probe more). Per cell,
//!   blocked products of its own rows with each other and with the rows that probe it, fused
//!   with the threshold test ([`crate::vectors::for_each_product`]). A pair is missed only when
//!   neither row probes the other's cell. Deterministic for any thread count.
//! - [`Method::Hnsw`]: a usearch HNSW index (Malkov & Yashunin 2016) over the unit-normalized
//!   rows, stored as f32 / f16 / bf16 / i8. Rows are added in parallel; then every row asks for
//!   its `k` nearest neighbours, doubling `k` (up to [`MAX_NEIGHBORS`]) while the farthest one is
//!   still above the threshold, so large duplicate clusters keep all their edges.
//! - [`Method::Exact`]: a blocked product of the normalized rows with themselves (O(N²·d)); for
//!   small N and to measure the recall of the HNSW path.
//!
//! Every candidate is re-scored with the exact f32 cosine ([`dot`] of normalized rows), so the
//! similarities of both methods are identical and quantization never lets a pair below the
//! threshold through. Rows whose vectors are bit-identical are collapsed before any search (HNSW
//! recovers exact copies worst: they become sinks): only the first row of such a group takes part
//! in the search, and every later copy gets one edge to it with similarity 1.0.
//!
//! Memory of the clustered path: the borrowed input, the centroids, 4·`nprobe` bytes per row of
//! cell lists, and per worker thread two blocks of 1,024 unit rows; rows are normalized into those
//! blocks as each cell is swept (never copied as a whole), and oversized cells are split by
//! k-means and swept block by block, so skewed data cannot grow the working set.
//!
//! Memory of the HNSW path: the borrowed input, usearch's quantized vectors (N·d·2 bytes at
//! f16), its graph (about N·2M·4 bytes at level 0), 16 bytes per row for copy detection, and
//! the edges; rows are normalized on the fly, never copied as f32. At N = 10M, d = 384, f16 that
//! is about 7.7 GB + 1.3 GB + 0.2 GB next to the caller's array. The exact path copies the
//! unique rows once as unit f32 (N·d·4 bytes).
//!
//! Output edges are sorted `(left, right)` with `left < right`. The exact and clustered methods'
//! output depends only on the input. The HNSW graph depends on the insertion interleaving: with one thread it is
//! deterministic; with more, the verified edge set only differs when the graph misses a pair.
//!
//! [`crate::select`] turns a graph into a keep decision (shared with MinHash near dedup).

use crate::error::{Error, Result};
pub use crate::kmeans::{Assignment, CellLists, Cells, Probe};
use crate::vectors::{dot4, for_each_product, UnitBlock, ROWS_PER_TASK};
use rayon::prelude::*;
use xxhash_rust::xxh3::xxh3_64;

// The row types and kernels live in `vectors`; re-exported so callers keep one import path.
pub use crate::vectors::{dot, f16_to_f32, Matrix, Vectors};

/// Upper bound on the neighbours one row asks the HNSW index for.
pub const MAX_NEIGHBORS: usize = 4096;

/// How the HNSW index stores vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantization {
    F32,
    F16,
    BF16,
    I8,
}

impl Quantization {
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "f32" => Ok(Self::F32),
            "f16" => Ok(Self::F16),
            "bf16" => Ok(Self::BF16),
            "i8" => Ok(Self::I8),
            other => Err(Error::invalid(format!(
                "unknown quantization {other:?}; use f32, f16, bf16 or i8"
            ))),
        }
    }

    /// How far below the threshold an approximate similarity may be and still get re-scored.
    fn margin(self) -> f32 {
        match self {
            Self::F32 => 0.001,
            Self::F16 | Self::BF16 => 0.02,
            Self::I8 => 0.05,
        }
    }
}

/// Candidate generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Clustered,
    Hnsw,
    Exact,
}

impl Method {
    pub fn parse(name: &str) -> Result<Self> {
        match name {
            "clustered" => Ok(Self::Clustered),
            "hnsw" => Ok(Self::Hnsw),
            "exact" => Ok(Self::Exact),
            other => Err(Error::invalid(format!(
                "unknown method {other:?}; use clustered, hnsw or exact"
            ))),
        }
    }
}

/// Options of [`similarity_graph`].
#[derive(Debug, Clone, Copy)]
pub struct GraphOptions {
    /// Minimum exact cosine of an edge.
    pub threshold: f32,
    pub method: Method,
    /// Neighbours asked per row first (doubled while all are above the threshold).
    pub k: usize,
    /// HNSW links per node (M).
    pub connectivity: usize,
    /// HNSW candidate list while adding (efConstruction).
    pub expansion_add: usize,
    /// HNSW candidate list while searching (efSearch).
    pub expansion_search: usize,
    pub quantization: Quantization,
    /// Clustered: most cells each row is compared with (its nearest first).
    pub nprobe: usize,
    /// Clustered: a row is compared with a further cell only when the cell's centroid cosine is
    /// within this of its nearest cell's (`f32::INFINITY`: always its `nprobe` nearest; None:
    /// [`default_probe_margin`]).
    pub probe_margin: Option<f32>,
    /// Clustered: k-means cells (0: [`default_cells`] of the unique rows).
    pub cells: usize,
}

/// Most cells a row is compared with by default (a cap: the margin decides below it).
pub const DEFAULT_NPROBE: usize = 32;
/// Spreads of the default probe margin (see [`default_probe_margin`]).
pub const PROBE_MARGIN_SPREADS: f32 = 2.5;

/// The default probe margin: [`PROBE_MARGIN_SPREADS`] × √((2 − 2·threshold) / dim). Two rows at
/// cosine `threshold` are √(2 − 2·threshold) apart; projected on a centroid, that difference
/// spreads by about its length / √dim, which is how much the two rows' centroid cosines (and so
/// their nearest cells) can disagree. 0.040 at 384 dimensions and 0.95 (recall 0.9999 on the
/// bench's planted pairs at 200k rows, benches/ann_vs_faiss.py).
#[must_use]
pub fn default_probe_margin(threshold: f32, dim: usize) -> f32 {
    PROBE_MARGIN_SPREADS * ((2.0 - 2.0 * threshold).max(0.0) / dim.max(1) as f32).sqrt()
}

/// The default cell count for `count` unique rows: 2·√count. Assigning rows costs `cells`
/// products per row and sweeping cells about `count / cells` per probe, so a count near
/// √(count · probes) balances them; k-means on 40 rows per cell then costs a constant per row.
#[must_use]
pub fn default_cells(count: usize) -> usize {
    // ⌈2·√count⌉ = ⌈√(4·count)⌉, in integers.
    let square = 4 * count;
    let mut cells = square.isqrt();
    if cells * cells < square {
        cells += 1;
    }
    cells.max(1)
}

impl Default for GraphOptions {
    fn default() -> Self {
        Self {
            threshold: 0.95,
            method: Method::Clustered,
            k: 32,
            connectivity: 16,
            expansion_add: 128,
            expansion_search: 128,
            quantization: Quantization::F16,
            nprobe: DEFAULT_NPROBE,
            probe_margin: None,
            cells: 0,
        }
    }
}

impl GraphOptions {
    fn validate(&self) -> Result<()> {
        if !(self.threshold > -1.0 && self.threshold <= 1.0) {
            return Err(Error::invalid(format!(
                "threshold must be in (-1, 1], got {}",
                self.threshold
            )));
        }
        if self.k == 0 || self.connectivity < 2 || self.expansion_add == 0 {
            return Err(Error::invalid(
                "k, expansion_add and expansion_search must be >= 1 and connectivity >= 2",
            ));
        }
        if self.expansion_search == 0 {
            return Err(Error::invalid("expansion_search must be >= 1"));
        }
        if self.nprobe == 0 {
            return Err(Error::invalid("nprobe must be >= 1"));
        }
        if let Some(margin) = self.probe_margin {
            if margin.is_nan() || margin < 0.0 {
                return Err(Error::invalid(format!(
                    "probe_margin must be >= 0, got {margin}"
                )));
            }
        }
        Ok(())
    }
}

/// Edges with cosine >= threshold, sorted, `left < right`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Graph {
    pub left: Vec<u32>,
    pub right: Vec<u32>,
    pub similarity: Vec<f32>,
}

/// For each row, the first row with a bit-identical vector (itself when it is the first).
fn first_copies(matrix: &Matrix<'_>) -> Vec<u32> {
    let mut keyed: Vec<(u64, u32)> = (0..matrix.rows() as u32)
        .into_par_iter()
        .map(|row| (xxh3_64(&matrix.raw_bytes(row as usize)), row))
        .collect();
    keyed.par_sort_unstable();
    let mut first: Vec<u32> = (0..matrix.rows() as u32).collect();
    for group in keyed.chunk_by(|a, b| a.0 == b.0) {
        // Equal hashes are compared byte for byte: a collision must not merge rows.
        for (position, &(_, row)) in group.iter().enumerate() {
            let bytes = matrix.raw_bytes(row as usize);
            if let Some(&(_, earlier)) = group[..position].iter().find(|(_, other)| {
                first[*other as usize] == *other && matrix.raw_bytes(*other as usize) == bytes
            }) {
                first[row as usize] = earlier;
            }
        }
    }
    first
}

/// The rows that take part in the search (the first of each bit-identical group, ascending) and
/// one edge `(first copy, copy, 1.0)` per later copy.
fn unique_rows(matrix: &Matrix<'_>) -> (Vec<u32>, Vec<Edge>) {
    let first = first_copies(matrix);
    let unique = (0..matrix.rows() as u32)
        .filter(|&row| first[row as usize] == row)
        .collect();
    let copies = first
        .iter()
        .enumerate()
        .filter(|&(row, &first)| first as usize != row)
        .map(|(row, &first)| (first, row as u32, 1.0))
        .collect();
    (unique, copies)
}

/// Every pair of rows with exact cosine >= `options.threshold`.
///
/// # Errors
/// Invalid options; a row with a NaN/infinite value or zero length; a usearch failure.
pub fn similarity_graph(matrix: &Matrix<'_>, options: &GraphOptions) -> Result<Graph> {
    options.validate()?;
    let (unique, copies) = unique_rows(matrix);
    let mut pairs = match options.method {
        Method::Exact => exact_pairs_checked(matrix, &unique, options.threshold)?,
        Method::Hnsw => hnsw_pairs(matrix, &unique, options)?,
        Method::Clustered => {
            let cells = partition(matrix, &unique, options, &mut assign_here(matrix))?;
            cell_pairs(matrix, &cells, options.threshold)?
        }
    };
    pairs.extend(copies);
    Ok(Graph::from_edges(pairs))
}

impl Graph {
    /// The graph of `edges` found in any order, any number of times (a pair found from both of
    /// its rows' cells, or by several workers): sorted by `(left, right)`, each pair once.
    #[must_use]
    pub fn from_edges(mut edges: Vec<Edge>) -> Self {
        edges.par_sort_unstable_by_key(|&(left, right, _)| (left, right));
        edges.dedup_by_key(|&mut (left, right, _)| (left, right));
        let mut graph = Self::default();
        for (left, right, similarity) in edges {
            graph.left.push(left);
            graph.right.push(right);
            graph.similarity.push(similarity);
        }
        graph
    }
}

/// The clustered method cut in two, so that its cells can be swept elsewhere (Ray tasks, one
/// group of cells each): [`plan_cells`] here, [`cell_pairs`] on any subset of the cells, and
/// [`Graph::from_edges`] over the copies and every subset's pairs gives [`similarity_graph`]'s
/// graph, edge for edge.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CellPlan {
    /// `(first copy, copy, 1.0)` for every row bit-identical to an earlier one.
    pub copies: Vec<Edge>,
    /// The other rows (matrix row ids) by nearest cell and by further probed cells.
    pub cells: Cells,
}

/// Assigns rows to centroids for [`plan_cells_with`]: `(rows, centroids, probe)` to what
/// [`crate::kmeans::assign_rows`] returns for them.
pub type AssignCells<'a> = dyn FnMut(&[u32], &[f32], Probe) -> Result<Assignment> + 'a;

/// Assignment in this process.
fn assign_here<'a>(
    matrix: &'a Matrix<'a>,
) -> impl FnMut(&[u32], &[f32], Probe) -> Result<Assignment> + 'a {
    move |rows, centroids, probe| crate::kmeans::assign_rows(matrix, rows, centroids, probe)
}

/// The copies and cells of the clustered graph (see [`CellPlan`]); `options.method` is ignored.
///
/// # Errors
/// Invalid options; a row with a NaN/infinite value or zero length.
pub fn plan_cells(matrix: &Matrix<'_>, options: &GraphOptions) -> Result<CellPlan> {
    plan_cells_with(matrix, options, &mut assign_here(matrix))
}

/// [`plan_cells`] with the rows assigned to the cells' centroids by `assign` (e.g. blocks of
/// rows as Ray tasks): the same plan when `assign` returns what
/// [`crate::kmeans::assign_rows`] would. Training and splitting run here.
///
/// # Errors
/// Invalid options; a row with a NaN/infinite value or zero length; an error of `assign`.
pub fn plan_cells_with(
    matrix: &Matrix<'_>,
    options: &GraphOptions,
    assign: &mut AssignCells<'_>,
) -> Result<CellPlan> {
    options.validate()?;
    let (unique, copies) = unique_rows(matrix);
    let cells = partition(matrix, &unique, options, assign)?;
    Ok(CellPlan { copies, cells })
}

/// The k-means cells of rows `ids` (see [`crate::kmeans`]), holding matrix row ids.
fn partition(
    matrix: &Matrix<'_>,
    ids: &[u32],
    options: &GraphOptions,
    assign: &mut AssignCells<'_>,
) -> Result<Cells> {
    if ids.len() < 2 {
        // No pair, but a lone zero or NaN row is still an error, as on the other paths.
        matrix.unit_rows(ids)?;
        return Ok(Cells {
            primary: CellLists {
                offsets: vec![0, ids.len()],
                rows: ids.to_vec(),
            },
            probes: CellLists {
                offsets: vec![0, 0],
                rows: Vec::new(),
            },
        });
    }
    let cells = if options.cells == 0 {
        default_cells(ids.len())
    } else {
        options.cells
    };
    let probe = Probe {
        nprobe: options.nprobe,
        margin: options
            .probe_margin
            .unwrap_or_else(|| default_probe_margin(options.threshold, matrix.dim())),
    };
    let mut cells = crate::kmeans::cells_with(matrix, ids, cells, &mut |centroids| {
        assign(ids, centroids, probe)
    })?;
    // Positions in `ids` to row ids; `ids` ascends, so every cell's rows still ascend.
    for row in cells
        .primary
        .rows
        .iter_mut()
        .chain(cells.probes.rows.iter_mut())
    {
        *row = ids[*row as usize];
    }
    Ok(cells)
}

/// `(left, right, cosine)`.
pub type Edge = (u32, u32, f32);

/// Blocked self-product of `unit` (rows `ids`): every pair above `threshold`.
fn exact_pairs(unit: &[f32], ids: &[u32], dim: usize, threshold: f32) -> Vec<Edge> {
    let count = ids.len();
    (0..count.div_ceil(ROWS_PER_TASK))
        .into_par_iter()
        .flat_map_iter(|block| {
            let start = block * ROWS_PER_TASK;
            let end = (start + ROWS_PER_TASK).min(count);
            let mut found = Vec::new();
            let row_of = |row: usize| &unit[row * dim..(row + 1) * dim];
            // One column row against the whole block of query rows: the block stays in cache,
            // and four query rows share each load of the column.
            for column in start + 1..count {
                let right = row_of(column);
                let last = end.min(column);
                let mut row = start;
                while row < last {
                    let similarities = if row + 4 <= last {
                        dot4(
                            [
                                row_of(row),
                                row_of(row + 1),
                                row_of(row + 2),
                                row_of(row + 3),
                            ],
                            right,
                        )
                    } else {
                        [dot(row_of(row), right), f32::NAN, f32::NAN, f32::NAN]
                    };
                    for (offset, similarity) in similarities.into_iter().enumerate() {
                        if similarity >= threshold {
                            found.push((ids[row + offset], ids[column], similarity));
                        }
                    }
                    row += if row + 4 <= last { 4 } else { 1 };
                }
            }
            found
        })
        .collect()
}

fn usearch_error(error: &impl std::fmt::Display) -> Error {
    Error::invalid(format!("usearch: {error}"))
}

/// HNSW candidates, re-scored exactly. No f32 copy of the rows is kept (memory is the borrowed
/// input, usearch's quantized vectors and its graph): each row is unit-normalized into a
/// per-thread buffer when added, queried or re-scored, by the same function as the exact path.
fn hnsw_pairs(matrix: &Matrix<'_>, ids: &[u32], options: &GraphOptions) -> Result<Vec<Edge>> {
    use usearch::ffi::{IndexOptions, MetricKind, ScalarKind};
    let (count, dim) = (ids.len(), matrix.dim());
    let unit_row =
        |position: usize, out: &mut [f32]| matrix.unit_row_into(ids[position] as usize, out);
    if count < 2 {
        // No pair, but a lone zero or NaN row is still an error, as on the exact path.
        let mut row = vec![0f32; dim];
        for position in 0..count {
            unit_row(position, &mut row)?;
        }
        return Ok(Vec::new());
    }
    let quantization = match options.quantization {
        Quantization::F32 => ScalarKind::F32,
        Quantization::F16 => ScalarKind::F16,
        Quantization::BF16 => ScalarKind::BF16,
        Quantization::I8 => ScalarKind::I8,
    };
    let index = usearch::Index::new(&IndexOptions {
        dimensions: dim,
        metric: MetricKind::Cos,
        quantization,
        connectivity: options.connectivity,
        expansion_add: options.expansion_add,
        expansion_search: options.expansion_search,
        multi: false,
    })
    .map_err(|error| usearch_error(&error))?;
    // usearch keeps one search context per concurrent caller: reserve one per rayon thread.
    index
        .reserve_capacity_and_threads(count, rayon::current_num_threads())
        .map_err(|error| usearch_error(&error))?;
    // Rows go in one by one, in row order: concurrent inserts make the graph (and so the
    // edges found near the threshold) depend on thread timing. Searches below run in parallel
    // on the finished graph, which is deterministic.
    let mut row = vec![0f32; dim];
    for position in 0..count {
        unit_row(position, &mut row)?;
        index
            .add(position as u64, &row)
            .map_err(|error| usearch_error(&error))?;
    }
    let floor = options.threshold - options.quantization.margin();
    let per_block: Vec<Vec<Edge>> = (0..count.div_ceil(ROWS_PER_TASK))
        .into_par_iter()
        .map_init(
            || (vec![0f32; dim], vec![0f32; dim]),
            |(query, candidate), block| {
                let mut found = Vec::new();
                for position in block * ROWS_PER_TASK..((block + 1) * ROWS_PER_TASK).min(count) {
                    unit_row(position, query)?;
                    let query = &*query;
                    let mut wanted = (options.k + 1).min(count);
                    let matches = loop {
                        let matches = index
                            .search(query, wanted)
                            .map_err(|error| usearch_error(&error))?;
                        let farthest_above = matches
                            .distances
                            .last()
                            .is_some_and(|&distance| 1.0 - distance >= floor);
                        if matches.keys.len() < wanted
                            || !farthest_above
                            || wanted >= count.min(MAX_NEIGHBORS)
                        {
                            break matches;
                        }
                        wanted = (wanted * 2).min(count).min(MAX_NEIGHBORS);
                    };
                    for (&key, &distance) in matches.keys.iter().zip(&matches.distances) {
                        let other = key as usize;
                        if other == position || 1.0 - distance < floor || other >= count {
                            continue;
                        }
                        unit_row(other, candidate)?;
                        let similarity = dot(query, candidate);
                        if similarity >= options.threshold {
                            let (a, b) =
                                (ids[position].min(ids[other]), ids[position].max(ids[other]));
                            found.push((a, b, similarity));
                        }
                    }
                }
                Ok(found)
            },
        )
        .collect::<Result<_>>()?;
    Ok(per_block.into_iter().flatten().collect())
}

/// How far below the threshold a product of the blocked kernel may be and still get re-scored
/// with [`dot`] (FMA and summation order move unit-vector products by ~1e-6).
const KERNEL_MARGIN: f32 = 1e-4;

/// Rows of one cell gathered per block: bounds the memory of a task whatever the cell size.
const CELL_BLOCK: usize = 1024;

/// Every pair with exact cosine >= `threshold` among the rows of each cell of `cells` and between
/// them and the rows that probe the cell (the clustered method's candidates: blocked products
/// fused with the threshold test, re-scored with [`dot`]). Cells are swept in parallel, largest
/// first; each task holds two blocks of [`CELL_BLOCK`] unit rows. A pair may be found twice (from
/// both rows' cells): [`Graph::from_edges`] keeps it once.
///
/// # Errors
/// A row id outside the matrix; a row with a NaN/infinite value or zero length.
pub fn cell_pairs(matrix: &Matrix<'_>, cells: &Cells, threshold: f32) -> Result<Vec<Edge>> {
    if cells.primary.len() != cells.probes.len() {
        return Err(Error::invalid(format!(
            "{} cells of own rows but {} of probing rows",
            cells.primary.len(),
            cells.probes.len()
        )));
    }
    if let Some(&row) = cells
        .primary
        .rows
        .iter()
        .chain(&cells.probes.rows)
        .find(|&&row| row as usize >= matrix.rows())
    {
        return Err(Error::invalid(format!(
            "cell row {row} is outside the {} embedding rows",
            matrix.rows()
        )));
    }
    // Largest cells first, so no big cell starts last and runs alone.
    let mut order: Vec<usize> = (0..cells.primary.len()).collect();
    order.sort_by_key(|&cell| {
        let own = cells.primary.cell(cell).len();
        (
            std::cmp::Reverse(own * (own + cells.probes.cell(cell).len())),
            cell,
        )
    });
    let dim = matrix.dim();
    let per_cell: Vec<Vec<Edge>> = order
        .into_par_iter()
        .map_init(
            || (UnitBlock::new(dim), UnitBlock::new(dim)),
            |(base, queries), cell| {
                let own = cells.primary.cell(cell);
                let probing = cells.probes.cell(cell);
                let mut found = Vec::new();
                let mut sweep = |queries: &UnitBlock,
                                 query_rows: &[u32],
                                 base: &UnitBlock,
                                 base_rows: &[u32],
                                 upper_only: bool| {
                    for_each_product(queries, base, upper_only, |query, other, product| {
                        if product < threshold - KERNEL_MARGIN {
                            return;
                        }
                        let similarity = dot(queries.row(query), base.row(other));
                        if similarity >= threshold {
                            let (a, b) = (query_rows[query], base_rows[other]);
                            found.push((a.min(b), a.max(b), similarity));
                        }
                    });
                };
                for (index, base_rows) in own.chunks(CELL_BLOCK).enumerate() {
                    base.fill(matrix, base_rows.iter().copied())?;
                    sweep(base, base_rows, base, base_rows, true);
                    let later = own.chunks(CELL_BLOCK).skip(index + 1);
                    for query_rows in later.chain(probing.chunks(CELL_BLOCK)) {
                        queries.fill(matrix, query_rows.iter().copied())?;
                        sweep(queries, query_rows, base, base_rows, false);
                    }
                }
                Ok(found)
            },
        )
        .collect::<Result<_>>()?;
    Ok(per_cell.into_iter().flatten().collect())
}

/// [`exact_pairs`] after unit-normalizing `ids` (which reports bad rows).
fn exact_pairs_checked(matrix: &Matrix<'_>, ids: &[u32], threshold: f32) -> Result<Vec<Edge>> {
    let unit = matrix.unit_rows(ids)?;
    Ok(exact_pairs(&unit, ids, matrix.dim(), threshold))
}

/// For each query row, the most similar base row and its cosine (exact, blocked). Used to
/// compare a corpus with a benchmark's embeddings.
///
/// # Errors
/// Different dimensions; a NaN/infinite or zero row (queries are numbered from 0, base rows are
/// reported as errors of the base).
pub fn best_matches(queries: &Matrix<'_>, base: &Matrix<'_>) -> Result<(Vec<i64>, Vec<f32>)> {
    if queries.dim() != base.dim() {
        return Err(Error::invalid(format!(
            "queries have dimension {} but the base has {}",
            queries.dim(),
            base.dim()
        )));
    }
    let all_base: Vec<u32> = (0..base.rows() as u32).collect();
    let base_unit = base.unit_rows(&all_base)?;
    let dim = base.dim();
    let results: Vec<(i64, f32)> = (0..queries.rows())
        .into_par_iter()
        .with_min_len(ROWS_PER_TASK)
        .map_init(
            || vec![0f32; dim],
            |query, row| {
                queries.unit_row_into(row, query)?;
                let mut best = (-1i64, f32::NEG_INFINITY);
                for (position, candidate) in (0i64..).zip(base_unit.chunks_exact(dim)) {
                    let similarity = dot(query, candidate);
                    if similarity > best.1 {
                        best = (position, similarity);
                    }
                }
                Ok(best)
            },
        )
        .collect::<Result<_>>()?;
    Ok(results.into_iter().unzip())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hashing::splitmix64;

    /// `rows` random unit vectors plus, for every 10th, a slightly perturbed copy appended.
    fn planted(rows: usize, dim: usize, noise: f32, seed: u64) -> Vec<f32> {
        let mut state = seed;
        let mut uniform = || (splitmix64(&mut state) >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
        let mut data: Vec<f32> = (0..rows * dim).map(|_| uniform()).collect();
        for row in (0..rows).step_by(10) {
            let copy: Vec<f32> = data[row * dim..(row + 1) * dim]
                .iter()
                .map(|v| v + noise * uniform())
                .collect();
            data.extend(copy);
        }
        data
    }

    fn graph(data: &[f32], dim: usize, method: Method, threshold: f32) -> Graph {
        let matrix = Matrix::new(Vectors::F32(data), dim).unwrap();
        let options = GraphOptions {
            threshold,
            method,
            ..GraphOptions::default()
        };
        similarity_graph(&matrix, &options).unwrap()
    }

    #[test]
    fn hnsw_finds_the_planted_pairs_of_the_exact_method() {
        let data = planted(2_000, 32, 0.05, 7);
        let exact = graph(&data, 32, Method::Exact, 0.9);
        assert_eq!(exact.left.len(), 200);
        let one =
            crate::parallel::install(Some(1), || graph(&data, 32, Method::Hnsw, 0.9)).unwrap();
        let four =
            crate::parallel::install(Some(4), || graph(&data, 32, Method::Hnsw, 0.9)).unwrap();
        assert_eq!(one, exact);
        assert_eq!(four, one);
    }

    #[test]
    fn clustered_pairs_are_exact_pairs_and_every_cell_probed_finds_all() {
        let data = planted(3_000, 24, 0.3, 5);
        let exact = graph(&data, 24, Method::Exact, 0.8);
        assert!(exact.left.len() > 100);
        let clustered = |nprobe, cells| {
            let matrix = Matrix::new(Vectors::F32(&data), 24).unwrap();
            let options = GraphOptions {
                threshold: 0.8,
                nprobe,
                cells,
                ..GraphOptions::default()
            };
            similarity_graph(&matrix, &options).unwrap()
        };
        let pairs = |graph: &Graph| {
            graph
                .left
                .iter()
                .zip(&graph.right)
                .zip(&graph.similarity)
                .map(|((&a, &b), &s)| (a, b, s.to_bits()))
                .collect::<std::collections::BTreeSet<_>>()
        };
        let two = clustered(2, 30);
        assert!(pairs(&two).is_subset(&pairs(&exact)));
        assert_eq!(clustered(30, 30), exact);
        let one = crate::parallel::install(Some(1), || clustered(2, 30)).unwrap();
        let three = crate::parallel::install(Some(3), || clustered(2, 30)).unwrap();
        assert_eq!(one, two);
        assert_eq!(three, two);
    }

    /// The lists of `cells`' cells `chosen`, renumbered from 0 (what one Ray task gets).
    fn subset(lists: &CellLists, chosen: &[usize]) -> CellLists {
        let mut offsets = vec![0];
        let mut rows = Vec::new();
        for &cell in chosen {
            rows.extend_from_slice(lists.cell(cell));
            offsets.push(rows.len());
        }
        CellLists::from_parts(offsets, rows).unwrap()
    }

    #[test]
    fn cells_swept_in_any_groups_give_the_clustered_graph() {
        let mut data = planted(3_000, 24, 0.3, 11);
        data.extend_from_within(..24 * 5); // bit-identical copies of rows 0..5
        let matrix = Matrix::new(Vectors::F32(&data), 24).unwrap();
        let options = GraphOptions {
            threshold: 0.8,
            nprobe: 3,
            cells: 40,
            ..GraphOptions::default()
        };
        let whole = similarity_graph(&matrix, &options).unwrap();
        let plan = plan_cells(&matrix, &options).unwrap();
        assert_eq!(plan.copies.len(), 5);
        let total = plan.cells.primary.len();
        for groups in [1, 3, 7] {
            let mut edges = plan.copies.clone();
            for group in 0..groups {
                let chosen: Vec<usize> = (group..total).step_by(groups).collect();
                let cells = Cells {
                    primary: subset(&plan.cells.primary, &chosen),
                    probes: subset(&plan.cells.probes, &chosen),
                };
                edges.extend(cell_pairs(&matrix, &cells, options.threshold).unwrap());
            }
            assert_eq!(Graph::from_edges(edges), whole, "{groups} groups");
        }
    }

    #[test]
    fn rows_assigned_in_blocks_elsewhere_give_the_same_plan() {
        let data = planted(3_000, 24, 0.3, 13);
        let matrix = Matrix::new(Vectors::F32(&data), 24).unwrap();
        let options = GraphOptions {
            threshold: 0.8,
            cells: 40,
            ..GraphOptions::default()
        };
        let here = plan_cells(&matrix, &options).unwrap();
        let mut calls = 0;
        let elsewhere = plan_cells_with(&matrix, &options, &mut |rows, centroids, probe| {
            calls += 1;
            // As Ray tasks would: uneven blocks, each assigned apart, then joined in order.
            let mut joined = Assignment::default();
            for block in rows.chunks(333) {
                let part = crate::kmeans::assign_rows(&matrix, block, centroids, probe)?;
                joined.primary.extend(part.primary);
                joined.extra.extend(part.extra);
                joined.counts.extend(part.counts);
            }
            Assignment::from_parts(
                joined.primary,
                joined.extra,
                joined.counts,
                rows.len(),
                centroids.len() / 24,
            )
        })
        .unwrap();
        assert!(calls >= 1);
        assert_eq!(elsewhere, here);
        let failing = plan_cells_with(&matrix, &options, &mut |_, _, _| {
            Err(Error::invalid("the cluster went away"))
        });
        assert_eq!(
            failing.unwrap_err(),
            Error::invalid("the cluster went away")
        );
    }

    #[test]
    fn assignments_from_other_processes_are_checked() {
        assert!(Assignment::from_parts(vec![0, 1], vec![], vec![0, 0], 2, 2).is_ok());
        assert!(Assignment::from_parts(vec![0], vec![], vec![0, 0], 2, 2).is_err());
        assert!(Assignment::from_parts(vec![0, 1], vec![1], vec![0, 0], 2, 2).is_err());
        let outside = Assignment::from_parts(vec![0, 5], vec![], vec![0, 0], 2, 2).unwrap_err();
        assert!(outside.to_string().contains("cell 5"), "{outside}");
        let data = vec![1.0, 0.0, 0.0, 1.0];
        let matrix = Matrix::new(Vectors::F32(&data), 2).unwrap();
        let probe = Probe {
            nprobe: 1,
            margin: 0.0,
        };
        assert!(crate::kmeans::assign_rows(&matrix, &[0, 2], &[1.0, 0.0], probe).is_err());
        assert!(crate::kmeans::assign_rows(&matrix, &[0], &[1.0, 0.0, 1.0], probe).is_err());
    }

    #[test]
    fn cell_lists_from_other_processes_are_checked() {
        assert!(CellLists::from_parts(vec![0, 2, 1], vec![0, 1]).is_err());
        assert!(CellLists::from_parts(vec![1, 2], vec![0, 1]).is_err());
        assert!(CellLists::from_parts(vec![0, 3], vec![0, 1]).is_err());
        let data = vec![1.0, 0.0, 0.0, 1.0];
        let matrix = Matrix::new(Vectors::F32(&data), 2).unwrap();
        let cells = Cells {
            primary: CellLists::from_parts(vec![0, 2], vec![0, 9]).unwrap(),
            probes: CellLists::from_parts(vec![0, 0], vec![]).unwrap(),
        };
        let error = cell_pairs(&matrix, &cells, 0.9).unwrap_err();
        assert!(error.to_string().contains("cell row 9"), "{error}");
    }

    #[test]
    fn exact_method_ignores_the_thread_count() {
        let data = planted(500, 16, 0.1, 3);
        let one =
            crate::parallel::install(Some(1), || graph(&data, 16, Method::Exact, 0.8)).unwrap();
        let two =
            crate::parallel::install(Some(2), || graph(&data, 16, Method::Exact, 0.8)).unwrap();
        assert_eq!(one, two);
    }

    #[test]
    fn identical_vectors_link_to_their_first_copy() {
        let data = vec![1.0, 0.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0];
        for method in [Method::Exact, Method::Hnsw, Method::Clustered] {
            let result = graph(&data, 2, method, 0.99);
            assert_eq!((result.left, result.right), (vec![0, 0], vec![2, 3]));
        }
    }

    #[test]
    fn a_lone_bad_row_is_reported_by_both_methods() {
        for method in [Method::Hnsw, Method::Exact, Method::Clustered] {
            for (data, reason) in [
                (
                    vec![0.0, 0.0, 0.0, 0.0],
                    "embedding is all zeros (no direction)",
                ),
                (
                    vec![f32::NAN, 1.0, f32::INFINITY, 1.0],
                    "embedding has a NaN or infinite value",
                ),
            ] {
                let matrix = Matrix::new(Vectors::F32(&data), 2).unwrap();
                let options = GraphOptions {
                    method,
                    ..GraphOptions::default()
                };
                let error = similarity_graph(&matrix, &options).unwrap_err();
                assert_eq!(error, Error::row(0, reason), "{method:?}");
            }
        }
    }

    #[test]
    fn zero_rows_are_reported_with_their_index() {
        let data = vec![1.0, 0.0, 0.0, 0.0];
        let matrix = Matrix::new(Vectors::F32(&data), 2).unwrap();
        let error = similarity_graph(&matrix, &GraphOptions::default()).unwrap_err();
        assert_eq!(
            error,
            Error::row(1, "embedding is all zeros (no direction)")
        );
    }

    #[test]
    fn best_matches_finds_the_closest_base_row() {
        let base = vec![1.0, 0.0, 0.0, 1.0];
        let queries = vec![0.1, 0.9, 0.8, 0.2];
        let base = Matrix::new(Vectors::F32(&base), 2).unwrap();
        let queries = Matrix::new(Vectors::F32(&queries), 2).unwrap();
        let (index, _) = best_matches(&queries, &base).unwrap();
        assert_eq!(index, vec![1, 0]);
    }
}
