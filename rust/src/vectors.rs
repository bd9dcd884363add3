//! Embedding rows as unit vectors, and the dot-product kernels of the similarity graphs.
//!
//! - [`Matrix`] borrows `(rows, dim)` f32 or IEEE f16 rows; [`Matrix::unit_row_into`] scales one
//!   row to unit length (f16 widened exactly by [`f16_to_f32`]), so cosine = dot product.
//! - [`dot`] is the reference similarity: eight accumulators in a fixed order, so its result
//!   depends only on its inputs (never on the thread that computes it). Every reported edge
//!   similarity is a [`dot`].
//! - [`for_each_product`] is the blocked kernel: every (query, base) product of two row blocks,
//!   from an AVX-512 register-tiled kernel over packed base rows, or matrixmultiply's packed
//!   sgemm (AVX2/FMA micro-kernels chosen at run time) on CPUs without AVX-512. Its products may differ from [`dot`] in
//!   the last bits (FMA rounds once, another summation order), so callers use it with a small
//!   margin below their cut and re-score what passes with [`dot`].
//!
//! Blocks ([`UnitBlock`]) hold unit rows at a stride rounded up to 8 floats and a row count
//! rounded up to the AVX-512 query tile, both zero-padded; padded rows are never reported.

use crate::error::{Error, Result};
use rayon::prelude::*;

/// Rows per parallel work item.
pub const ROWS_PER_TASK: usize = 64;

/// A row-major `(rows, dim)` matrix of f32 or IEEE f16 (raw bits), borrowed.
#[derive(Debug, Clone, Copy)]
pub enum Vectors<'a> {
    F32(&'a [f32]),
    F16(&'a [u16]),
}

/// Borrowed embedding rows.
#[derive(Debug, Clone, Copy)]
pub struct Matrix<'a> {
    data: Vectors<'a>,
    rows: usize,
    dim: usize,
}

impl<'a> Matrix<'a> {
    /// Wraps `data` as rows of `dim` values.
    ///
    /// # Errors
    /// `dim` is 0 or does not divide the length; more than `u32::MAX` rows.
    pub fn new(data: Vectors<'a>, dim: usize) -> Result<Self> {
        let len = match data {
            Vectors::F32(values) => values.len(),
            Vectors::F16(values) => values.len(),
        };
        if dim == 0 || len % dim != 0 {
            return Err(Error::invalid(format!(
                "{len} values do not form rows of dimension {dim}"
            )));
        }
        if u32::try_from(len / dim).is_err() {
            return Err(Error::invalid(format!("more than {} rows", u32::MAX)));
        }
        Ok(Self {
            data,
            rows: len / dim,
            dim,
        })
    }

    #[must_use]
    pub fn rows(&self) -> usize {
        self.rows
    }

    #[must_use]
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The stored bytes of one row (little-endian), for copy detection.
    pub(crate) fn raw_bytes(&self, row: usize) -> Vec<u8> {
        let range = row * self.dim..(row + 1) * self.dim;
        match self.data {
            Vectors::F32(values) => values[range].iter().flat_map(|v| v.to_le_bytes()).collect(),
            Vectors::F16(values) => values[range].iter().flat_map(|v| v.to_le_bytes()).collect(),
        }
    }

    /// Writes row `row`, scaled to unit length, into `out` (`dim` long).
    ///
    /// # Errors
    /// A row error when the row has a NaN/infinite value or zero length.
    pub fn unit_row_into(&self, row: usize, out: &mut [f32]) -> Result<()> {
        let range = row * self.dim..(row + 1) * self.dim;
        match self.data {
            Vectors::F32(values) => out.copy_from_slice(&values[range]),
            Vectors::F16(values) => {
                for (slot, &bits) in out.iter_mut().zip(&values[range]) {
                    *slot = f16_to_f32(bits);
                }
            }
        }
        let norm = dot(out, out).sqrt();
        if !norm.is_finite() {
            return Err(Error::row(row, "embedding has a NaN or infinite value"));
        }
        if norm == 0.0 {
            return Err(Error::row(row, "embedding is all zeros (no direction)"));
        }
        for value in out.iter_mut() {
            *value /= norm;
        }
        Ok(())
    }

    /// Rows `rows` at unit length, row-major (a copy: `rows.len() * dim` f32).
    ///
    /// # Errors
    /// A row with a NaN/infinite value or zero length.
    pub fn unit_rows(&self, rows: &[u32]) -> Result<Vec<f32>> {
        let mut out = vec![0f32; rows.len() * self.dim];
        out.par_chunks_mut(self.dim * ROWS_PER_TASK)
            .zip(rows.par_chunks(ROWS_PER_TASK))
            .try_for_each(|(block, chunk)| {
                for (slot, &row) in block.chunks_mut(self.dim).zip(chunk) {
                    self.unit_row_into(row as usize, slot)?;
                }
                Ok(())
            })?;
        Ok(out)
    }
}

/// IEEE 754 half (raw bits) to f32.
#[must_use]
pub fn f16_to_f32(bits: u16) -> f32 {
    let sign = u32::from(bits >> 15) << 31;
    let exponent = u32::from((bits >> 10) & 0x1f);
    let mantissa = u32::from(bits & 0x3ff);
    let magnitude = match (exponent, mantissa) {
        (0, 0) => 0,
        (0, _) => {
            // Subnormal: mantissa * 2^-24, exact in f32.
            let value = mantissa as f32 * 2f32.powi(-24);
            return if sign == 0 { value } else { -value };
        }
        (0x1f, 0) => 0xff << 23,
        (0x1f, _) => (0xff << 23) | (mantissa << 13),
        _ => ((exponent + 127 - 15) << 23) | (mantissa << 13),
    };
    f32::from_bits(sign | magnitude)
}

/// Dot product with eight independent accumulators (vectorizes; fixed summation order, so the
/// result does not depend on the thread that computes it).
#[must_use]
pub fn dot(left: &[f32], right: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (left_chunks, right_chunks) = (left.chunks_exact(8), right.chunks_exact(8));
    let tail: f32 = left_chunks
        .remainder()
        .iter()
        .zip(right_chunks.remainder())
        .map(|(a, b)| a * b)
        .sum();
    for (a, b) in left_chunks.zip(right_chunks) {
        for lane in 0..8 {
            acc[lane] += a[lane] * b[lane];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// [`dot`] of four rows with one vector, each bit-identical to `dot` (same operation order).
#[must_use]
pub fn dot4(rows: [&[f32]; 4], right: &[f32]) -> [f32; 4] {
    let mut acc = [[0f32; 8]; 4];
    let whole = right.len() / 8 * 8;
    for base in (0..whole).step_by(8) {
        let column = &right[base..base + 8];
        for (sums, row) in acc.iter_mut().zip(rows) {
            let values = &row[base..base + 8];
            for lane in 0..8 {
                sums[lane] += values[lane] * column[lane];
            }
        }
    }
    std::array::from_fn(|index| {
        let tail: f32 = rows[index][whole..]
            .iter()
            .zip(&right[whole..])
            .map(|(a, b)| a * b)
            .sum();
        acc[index].iter().sum::<f32>() + tail
    })
}

/// Unit rows gathered from a [`Matrix`], zero-padded for [`for_each_product`].
#[derive(Debug, Clone, Default)]
pub struct UnitBlock {
    values: Vec<f32>,
    rows: usize,
    dim: usize,
    stride: usize,
}

impl UnitBlock {
    /// An empty block for rows of `dim` values.
    #[must_use]
    pub fn new(dim: usize) -> Self {
        Self {
            values: Vec::new(),
            rows: 0,
            dim,
            stride: dim.div_ceil(8) * 8,
        }
    }

    /// Replaces the contents with rows `rows` of `matrix`, at unit length (buffer reused).
    ///
    /// # Errors
    /// A row with a NaN/infinite value or zero length.
    pub fn fill(
        &mut self,
        matrix: &Matrix<'_>,
        rows: impl ExactSizeIterator<Item = u32>,
    ) -> Result<()> {
        self.rows = rows.len();
        let padded = self.rows.div_ceil(QUERY_TILE) * QUERY_TILE;
        self.values.clear();
        self.values.resize(padded * self.stride, 0.0);
        for (slot, row) in self.values.chunks_exact_mut(self.stride).zip(rows) {
            matrix.unit_row_into(row as usize, &mut slot[..self.dim])?;
        }
        Ok(())
    }

    /// Replaces the contents with the rows of `values` (row-major, `dim` each, unit already).
    pub fn fill_from(&mut self, values: &[f32]) {
        self.rows = values.len() / self.dim;
        let padded = self.rows.div_ceil(QUERY_TILE) * QUERY_TILE;
        self.values.clear();
        self.values.resize(padded * self.stride, 0.0);
        for (slot, row) in self
            .values
            .chunks_exact_mut(self.stride)
            .zip(values.chunks_exact(self.dim))
        {
            slot[..self.dim].copy_from_slice(row);
        }
    }

    #[must_use]
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Row `index` (its `dim` values, without padding).
    #[must_use]
    pub fn row(&self, index: usize) -> &[f32] {
        &self.values[index * self.stride..index * self.stride + self.dim]
    }
}

/// Query rows per product chunk of the sgemm path: bounds the product buffer (`QUERY_CHUNK` ×
/// base rows f32) and lets `upper_only` skip most of the lower triangle.
const QUERY_CHUNK: usize = 256;
/// Base rows per product chunk (the sgemm path's buffer is at most `QUERY_CHUNK` × `BASE_CHUNK`
/// f32, 1 MB; the AVX-512 path packs this many rows, 384 KB at d = 384, which stays in L2).
const BASE_CHUNK: usize = 1024;
/// Query rows per AVX-512 register tile (blocks are zero-padded to a multiple of it).
const QUERY_TILE: usize = 12;
/// Base rows per AVX-512 register tile: two 16-lane registers per query row.
const BASE_TILE: usize = 32;

/// Calls `visit(query, base, product)` for every row pair of two blocks of the same dimension;
/// with `upper_only` (the same block twice), only for `base > query`.
///
/// Products come from an AVX-512 register-tiled kernel when the CPU has AVX-512F, else from
/// matrixmultiply's packed sgemm (AVX2/FMA or portable micro-kernels); either may differ from
/// [`dot`] in the last bits, so compare them with a margin and re-score with [`dot`]. Products
/// do not depend on the thread count. For one query row, base rows are visited in ascending
/// order.
pub fn for_each_product(
    queries: &UnitBlock,
    base: &UnitBlock,
    upper_only: bool,
    visit: impl FnMut(usize, usize, f32),
) {
    debug_assert_eq!(queries.stride, base.stride);
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: the CPU has AVX-512F (checked above).
        unsafe { products_avx512(queries, base, upper_only, visit) };
        return;
    }
    products_sgemm(queries, base, upper_only, visit);
}

/// [`for_each_product`] through matrixmultiply's sgemm, chunk by chunk.
#[allow(clippy::cast_possible_wrap)]
fn products_sgemm(
    queries: &UnitBlock,
    base: &UnitBlock,
    upper_only: bool,
    mut visit: impl FnMut(usize, usize, f32),
) {
    let (stride, dim) = (queries.stride, queries.dim);
    let mut products = Vec::new();
    for base_start in (0..base.rows).step_by(BASE_CHUNK) {
        let base_end = (base_start + BASE_CHUNK).min(base.rows);
        for query_start in (0..queries.rows).step_by(QUERY_CHUNK) {
            let query_end = (query_start + QUERY_CHUNK).min(queries.rows);
            // Upper only: base rows at or below this chunk's first query row pair with none.
            let first = if upper_only {
                base_start.max(query_start + 1)
            } else {
                base_start
            };
            if first >= base_end {
                continue;
            }
            let (rows, columns) = (query_end - query_start, base_end - first);
            products.clear();
            products.resize(rows * columns, 0.0);
            // SAFETY: A is `rows` query rows of `dim` values at row stride `stride` starting at
            // row `query_start`; B is base rows `first..base_end` read as a `dim` × `columns`
            // matrix (row stride 1, column stride `stride`); both lie inside their blocks'
            // buffers. C is the `rows` × `columns` buffer just sized. Strides fit in isize
            // (buffers are allocations).
            unsafe {
                matrixmultiply::sgemm(
                    rows,
                    dim,
                    columns,
                    1.0,
                    queries.values.as_ptr().add(query_start * stride),
                    stride as isize,
                    1,
                    base.values.as_ptr().add(first * stride),
                    1,
                    stride as isize,
                    0.0,
                    products.as_mut_ptr(),
                    columns as isize,
                    1,
                );
            }
            for (offset, row) in products.chunks_exact(columns).enumerate() {
                let query = query_start + offset;
                let skip = if upper_only {
                    (query + 1).saturating_sub(first)
                } else {
                    0
                };
                for (column, &product) in row.iter().enumerate().skip(skip) {
                    visit(query, first + column, product);
                }
            }
        }
    }
}

/// [`for_each_product`] with an AVX-512 kernel: query rows are packed `QUERY_TILE` and base rows
/// `BASE_TILE` at a time (see [`pack`]), and each register tile multiplies one query panel
/// (broadcast) with one base panel into 24 accumulators.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn products_avx512(
    queries: &UnitBlock,
    base: &UnitBlock,
    upper_only: bool,
    mut visit: impl FnMut(usize, usize, f32),
) {
    let dim = queries.dim;
    let (mut panels, mut query_panels) = (Vec::new(), Vec::new());
    pack(queries, 0..queries.rows, QUERY_TILE, &mut query_panels);
    let mut tile = [0f32; QUERY_TILE * BASE_TILE];
    for base_start in (0..base.rows).step_by(BASE_CHUNK) {
        let base_end = (base_start + BASE_CHUNK).min(base.rows);
        // Query tiles whose every row is at or past the chunk's last base row pair with none.
        let query_end = if upper_only {
            queries.rows.min(base_end - 1)
        } else {
            queries.rows
        };
        if query_end == 0 {
            continue;
        }
        pack(base, base_start..base_end, BASE_TILE, &mut panels);
        for query in (0..query_end).step_by(QUERY_TILE) {
            let query_panel = &query_panels[query * dim..][..QUERY_TILE * dim];
            for (panel_index, panel) in panels.chunks_exact(BASE_TILE * dim).enumerate() {
                let panel_start = base_start + panel_index * BASE_TILE;
                if upper_only && panel_start + BASE_TILE <= query + 1 {
                    continue; // Every base row of the panel is at or below every query row.
                }
                // SAFETY: the CPU has AVX-512F (this function's own feature).
                unsafe { tile_avx512(query_panel, panel, dim, &mut tile) };
                for (offset, products) in tile.chunks_exact(BASE_TILE).enumerate() {
                    let query_row = query + offset;
                    if query_row >= queries.rows {
                        break;
                    }
                    let end = (base_end - panel_start).min(BASE_TILE);
                    let start = if upper_only {
                        (query_row + 1).saturating_sub(panel_start).min(end)
                    } else {
                        0
                    };
                    for (column, &product) in products[start..end].iter().enumerate() {
                        visit(query_row, panel_start + start + column, product);
                    }
                }
            }
        }
    }
}

/// `QUERY_TILE` × `BASE_TILE` products of one packed query panel (for each of the `dim` values,
/// the tile's 12 rows side by side) and one packed base panel, written row-major into `out`.
/// The 24 accumulators are named variables so that they stay in registers.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[allow(clippy::too_many_lines)]
unsafe fn tile_avx512(
    queries: &[f32],
    panel: &[f32],
    dim: usize,
    out: &mut [f32; QUERY_TILE * BASE_TILE],
) {
    use std::arch::x86_64::{
        _mm512_fmadd_ps, _mm512_loadu_ps, _mm512_set1_ps, _mm512_setzero_ps, _mm512_storeu_ps,
    };
    assert!(panel.len() >= dim * BASE_TILE && queries.len() >= dim * QUERY_TILE);
    let (mut a, mut b) = (queries.as_ptr(), panel.as_ptr());
    macro_rules! tile {
        ($($low:ident $high:ident $row:literal),*) => {{
            $(let mut $low = _mm512_setzero_ps(); let mut $high = _mm512_setzero_ps();)*
            for _ in 0..dim {
                // SAFETY: `dim` steps of `QUERY_TILE` and `BASE_TILE` floats stay inside the
                // panels (asserted above).
                unsafe {
                    let low = _mm512_loadu_ps(b);
                    let high = _mm512_loadu_ps(b.add(16));
                    $(
                        let value = _mm512_set1_ps(*a.add($row));
                        $low = _mm512_fmadd_ps(value, low, $low);
                        $high = _mm512_fmadd_ps(value, high, $high);
                    )*
                    a = a.add(QUERY_TILE);
                    b = b.add(BASE_TILE);
                }
            }
            let out = out.as_mut_ptr();
            // SAFETY: `out` holds `QUERY_TILE * BASE_TILE` floats.
            unsafe {
                $(
                    _mm512_storeu_ps(out.add($row * BASE_TILE), $low);
                    _mm512_storeu_ps(out.add($row * BASE_TILE + 16), $high);
                )*
            }
        }};
    }
    tile!(
        l0 h0 0, l1 h1 1, l2 h2 2, l3 h3 3, l4 h4 4, l5 h5 5,
        l6 h6 6, l7 h7 7, l8 h8 8, l9 h9 9, l10 h10 10, l11 h11 11
    );
}

/// Packs rows `rows` of `block` into panels of `tile` rows: for each of the `dim` values, the
/// panel's rows side by side (zero-padded past the end).
fn pack(block: &UnitBlock, rows: std::ops::Range<usize>, tile: usize, out: &mut Vec<f32>) {
    let dim = block.dim;
    out.clear();
    out.resize(rows.len().div_ceil(tile) * tile * dim, 0.0);
    for (offset, row) in rows.enumerate() {
        let panel = &mut out[offset / tile * tile * dim..][..tile * dim];
        for (index, &value) in block.row(row).iter().enumerate() {
            panel[index * tile + offset % tile] = value;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hashing::splitmix64;

    fn random(rows: usize, dim: usize, seed: u64) -> Vec<f32> {
        let mut state = seed;
        (0..rows * dim)
            .map(|_| (splitmix64(&mut state) >> 40) as f32 / (1u64 << 24) as f32 - 0.5)
            .collect()
    }

    #[test]
    fn dot4_matches_dot_bit_for_bit() {
        let data = random(8, 37, 11);
        let rows: Vec<&[f32]> = data.chunks(37).collect();
        let four = dot4([rows[0], rows[1], rows[2], rows[3]], rows[5]);
        for (index, value) in four.iter().enumerate() {
            assert_eq!(value.to_bits(), dot(rows[index], rows[5]).to_bits());
        }
    }

    #[test]
    fn f16_rows_match_f32_rows() {
        let values = [1.0f32, -2.0, 0.5, 0.0, 65504.0, -0.000_061_035_156];
        let bits = [0x3c00u16, 0xc000, 0x3800, 0x0000, 0x7bff, 0x8400];
        for (value, bits) in values.iter().zip(bits) {
            assert_eq!(f16_to_f32(bits).to_bits(), value.to_bits());
        }
        assert!((f16_to_f32(0x0001) - 5.960_464_5e-8).abs() < 1e-12);
    }

    /// Both kernels: the one `for_each_product` picks on this CPU, and the sgemm fallback.
    type Kernel = fn(&UnitBlock, &UnitBlock, bool, &mut dyn FnMut(usize, usize, f32));
    const KERNELS: [Kernel; 2] = [
        |queries, base, upper, visit| for_each_product(queries, base, upper, visit),
        |queries, base, upper, visit| products_sgemm(queries, base, upper, visit),
    ];

    #[test]
    fn blocked_products_visit_every_pair_once_and_match_dot() {
        // Odd sizes, more than one base chunk and a dimension that is not a multiple of 8
        // exercise every padding path.
        for kernel in KERNELS {
            for (query_rows, base_rows, dim) in [
                (7, 130, 37),
                (1, 1, 3),
                (260, 5, 16),
                (0, 9, 8),
                (13, 1_100, 8),
            ] {
                let (queries, base) = (random(query_rows, dim, 1), random(base_rows, dim, 2));
                let mut query_block = UnitBlock::new(dim);
                query_block.fill_from(&queries);
                let mut base_block = UnitBlock::new(dim);
                base_block.fill_from(&base);
                let mut seen = vec![0u8; query_rows * base_rows];
                let mut last = (usize::MAX, 0);
                kernel(
                    &query_block,
                    &base_block,
                    false,
                    &mut |query, other, product| {
                        seen[query * base_rows + other] += 1;
                        let exact =
                            dot(&queries[query * dim..][..dim], &base[other * dim..][..dim]);
                        assert!((product - exact).abs() < 1e-4, "{product} vs {exact}");
                        if last.0 == query {
                            assert!(other > last.1, "base rows ascend for one query row");
                        }
                        last = (query, other);
                    },
                );
                assert!(seen.iter().all(|&count| count == 1));
            }
        }
    }

    #[test]
    fn upper_only_visits_each_unordered_pair_of_one_block_once() {
        for (rows, dim) in [(29, 12), (1_100, 8)] {
            let data = random(rows, dim, 5);
            let mut block = UnitBlock::new(dim);
            block.fill_from(&data);
            for kernel in KERNELS {
                let mut seen = vec![0u8; rows * rows];
                kernel(&block, &block, true, &mut |query, other, _| {
                    assert!(other > query);
                    seen[query * rows + other] += 1;
                });
                let expected = rows * (rows - 1) / 2;
                assert_eq!(
                    seen.iter().map(|&count| usize::from(count)).sum::<usize>(),
                    expected
                );
                assert!(seen.iter().all(|&count| count <= 1));
            }
        }
    }
}
