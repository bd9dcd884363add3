//! Embedding rows as unit vectors, and the dot-product kernels of the similarity graphs.
//!
//! - [`Matrix`] borrows `(rows, dim)` f32 or IEEE f16 rows; [`Matrix::unit_row_into`] scales one
//!   row to unit length (f16 widened exactly by [`f16_to_f32`]), so cosine = dot product.
//! - [`dot`] is the reference similarity: eight accumulators in a fixed order, so its result
//!   depends only on its inputs (never on the thread that computes it). Every reported edge
//!   similarity is a [`dot`].
//! - [`for_each_product`] is the blocked kernel: every (query, base) product of two row blocks,
//!   tiled 3 × 4 rows in registers (AVX2 + FMA when the CPU has them, a portable loop
//!   otherwise) over base blocks that stay in L2. Its products may differ from [`dot`] in the last
//!   bits (FMA rounds once), so callers use it with a small margin below their cut and re-score
//!   what passes with [`dot`].
//!
//! Blocks ([`UnitBlock`]) hold unit rows at a stride rounded up to 8 floats and a row count
//! rounded up to the tile, both zero-padded; padded rows are never reported.

use crate::error::{Error, Result};
use rayon::prelude::*;

/// Rows per parallel work item.
pub const ROWS_PER_TASK: usize = 64;

/// Query rows per register tile.
const QUERY_TILE: usize = 3;
/// Base rows per register tile.
const BASE_TILE: usize = 4;
/// Base rows swept by all query tiles before moving on (stays in L2: 128 × 1.5 KB at d = 384).
const BASE_BLOCK: usize = 128;

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
        let padded = self.rows.div_ceil(BASE_TILE * QUERY_TILE) * BASE_TILE * QUERY_TILE;
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
        let padded = self.rows.div_ceil(BASE_TILE * QUERY_TILE) * BASE_TILE * QUERY_TILE;
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

    fn padded_rows(&self) -> usize {
        self.values.len() / self.stride.max(1)
    }
}

/// Calls `visit(query, base, product)` for every row pair of two blocks of the same dimension;
/// with `upper_only` (the same block twice), only for `base > query`.
///
/// Products are the fast kernel's (see the module docs): compare them with a margin, re-score
/// with [`dot`]. The visit order is fixed (it does not depend on threads).
pub fn for_each_product(
    queries: &UnitBlock,
    base: &UnitBlock,
    upper_only: bool,
    mut visit: impl FnMut(usize, usize, f32),
) {
    debug_assert_eq!(queries.stride, base.stride);
    let stride = queries.stride;
    let (query_rows, base_rows) = (queries.padded_rows(), base.padded_rows());
    for block_start in (0..base_rows).step_by(BASE_BLOCK) {
        let block_end = (block_start + BASE_BLOCK).min(base_rows);
        for query in
            (0..query_rows.min(queries.rows.div_ceil(QUERY_TILE) * QUERY_TILE)).step_by(QUERY_TILE)
        {
            let first_base = if upper_only {
                // Tiles wholly at or below the diagonal hold no pair with base > query.
                block_start.max((query + 1) / BASE_TILE * BASE_TILE)
            } else {
                block_start
            };
            for start in (first_base..block_end.min(base.rows.div_ceil(BASE_TILE) * BASE_TILE))
                .step_by(BASE_TILE)
            {
                let tile = tile_products(
                    &queries.values[query * stride..(query + QUERY_TILE) * stride],
                    &base.values[start * stride..(start + BASE_TILE) * stride],
                    stride,
                );
                for (offset, products) in tile.iter().enumerate() {
                    let query_row = query + offset;
                    if query_row >= queries.rows {
                        break;
                    }
                    for (base_offset, &product) in products.iter().enumerate() {
                        let base_row = start + base_offset;
                        if base_row < base.rows && (!upper_only || base_row > query_row) {
                            visit(query_row, base_row, product);
                        }
                    }
                }
            }
        }
    }
}

/// The 3 × 4 products of a query tile and a base tile (rows at `stride`, a multiple of 8).
fn tile_products(queries: &[f32], base: &[f32], stride: usize) -> [[f32; BASE_TILE]; QUERY_TILE] {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU supports AVX2 and FMA (checked above); the slices hold 3 and 4 rows of
        // `stride` floats, a multiple of 8, which is what the kernel reads.
        return unsafe { tile_products_avx2(queries, base, stride) };
    }
    tile_products_portable(queries, base, stride)
}

fn tile_products_portable(
    queries: &[f32],
    base: &[f32],
    stride: usize,
) -> [[f32; BASE_TILE]; QUERY_TILE] {
    let mut acc = [[[0f32; 8]; BASE_TILE]; QUERY_TILE];
    for column in (0..stride).step_by(8) {
        for (query, sums) in acc.iter_mut().enumerate() {
            let left = &queries[query * stride + column..query * stride + column + 8];
            for (other, lanes) in sums.iter_mut().enumerate() {
                let right = &base[other * stride + column..other * stride + column + 8];
                for lane in 0..8 {
                    lanes[lane] += left[lane] * right[lane];
                }
            }
        }
    }
    acc.map(|sums| sums.map(|lanes| lanes.iter().sum()))
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn tile_products_avx2(
    queries: &[f32],
    base: &[f32],
    stride: usize,
) -> [[f32; BASE_TILE]; QUERY_TILE] {
    use std::arch::x86_64::{
        __m256, _mm256_castps256_ps128, _mm256_extractf128_ps, _mm256_fmadd_ps, _mm256_loadu_ps,
        _mm256_setzero_ps, _mm_add_ps, _mm_cvtss_f32, _mm_hadd_ps,
    };
    assert!(queries.len() >= QUERY_TILE * stride && base.len() >= BASE_TILE * stride);
    let (query_ptr, base_ptr) = (queries.as_ptr(), base.as_ptr());
    let mut acc: [[__m256; BASE_TILE]; QUERY_TILE] = [[_mm256_setzero_ps(); BASE_TILE]; QUERY_TILE];
    for column in (0..stride).step_by(8) {
        // SAFETY: every offset is below 3 (or 4) rows of `stride` floats (asserted above), and
        // `column + 8 <= stride`.
        let left = unsafe {
            [
                _mm256_loadu_ps(query_ptr.add(column)),
                _mm256_loadu_ps(query_ptr.add(stride + column)),
                _mm256_loadu_ps(query_ptr.add(2 * stride + column)),
            ]
        };
        // The index is both a pointer offset and a column of the accumulator grid.
        #[allow(clippy::needless_range_loop)]
        for other in 0..BASE_TILE {
            // SAFETY: as above.
            let right = unsafe { _mm256_loadu_ps(base_ptr.add(other * stride + column)) };
            for query in 0..QUERY_TILE {
                acc[query][other] = _mm256_fmadd_ps(left[query], right, acc[query][other]);
            }
        }
    }
    acc.map(|sums| {
        sums.map(|lanes| {
            let half = _mm_add_ps(
                _mm256_castps256_ps128(lanes),
                _mm256_extractf128_ps(lanes, 1),
            );
            let pair = _mm_hadd_ps(half, half);
            _mm_cvtss_f32(_mm_hadd_ps(pair, pair))
        })
    })
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

    #[test]
    fn blocked_products_visit_every_pair_once_and_match_dot() {
        // Odd sizes and a dimension that is not a multiple of 8 exercise every padding path.
        for (query_rows, base_rows, dim) in [(7, 130, 37), (1, 1, 3), (260, 5, 16), (0, 9, 8)] {
            let (queries, base) = (random(query_rows, dim, 1), random(base_rows, dim, 2));
            let mut query_block = UnitBlock::new(dim);
            query_block.fill_from(&queries);
            let mut base_block = UnitBlock::new(dim);
            base_block.fill_from(&base);
            let mut seen = vec![0u8; query_rows * base_rows];
            for_each_product(&query_block, &base_block, false, |query, other, product| {
                seen[query * base_rows + other] += 1;
                let exact = dot(&queries[query * dim..][..dim], &base[other * dim..][..dim]);
                assert!((product - exact).abs() < 1e-4, "{product} vs {exact}");
            });
            assert!(seen.iter().all(|&count| count == 1));
        }
    }

    #[test]
    fn upper_only_visits_each_unordered_pair_of_one_block_once() {
        let (rows, dim) = (29, 12);
        let data = random(rows, dim, 5);
        let mut block = UnitBlock::new(dim);
        block.fill_from(&data);
        let mut seen = vec![0u8; rows * rows];
        for_each_product(&block, &block, true, |query, other, _| {
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
