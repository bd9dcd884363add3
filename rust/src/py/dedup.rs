//! `ExactIndex` and `NearIndex`: batch-at-a-time dedup indexes over text columns.

use super::arrow::TextColumn;
use super::numpy::{borrow_i64, matrix, vector};
use super::run_detached;
use crate::dedup::{self, NearOptions};
use crate::error::Error;
use crate::lsh;
use crate::normalize::NormalizeOptions;
use crate::select::Keep;
use crate::unionfind;
use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::prelude::*;
use pyo3::types::PyDict;

/// Left and right row ids of pairs, as two int64 numpy arrays.
type RowPairs<'py> = (
    Bound<'py, numpy::PyArray1<i64>>,
    Bound<'py, numpy::PyArray1<i64>>,
);

fn finished() -> PyErr {
    pyo3::exceptions::PyRuntimeError::new_err("this index is finished; build a new one")
}

#[pyclass(name = "ExactIndex", module = "amfast._core")]
pub struct PyExactIndex {
    inner: Option<dedup::ExactIndex>,
    num_threads: Option<usize>,
}

#[pymethods]
impl PyExactIndex {
    #[new]
    #[pyo3(signature = (*, normalize = None, num_threads = None))]
    fn new(normalize: Option<NormalizeOptions>, num_threads: Option<usize>) -> Self {
        Self {
            inner: Some(dedup::ExactIndex::new(normalize.unwrap_or_default())),
            num_threads,
        }
    }

    fn __len__(&self) -> usize {
        self.inner.as_ref().map_or(0, dedup::ExactIndex::len)
    }

    fn add(&mut self, py: Python<'_>, texts: &Bound<'_, PyAny>) -> PyResult<()> {
        let column = TextColumn::extract(texts)?;
        let first_row = self.__len__();
        let rows = column.rows(py, first_row)?;
        let index = self.inner.as_mut().ok_or_else(finished)?;
        run_detached(py, self.num_threads, || index.add(&rows))
    }

    #[pyo3(signature = (priority = None))]
    fn finish<'py>(
        &mut self,
        py: Python<'py>,
        priority: Option<PyReadonlyArray1<'py, i64>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let index = self.inner.take().ok_or_else(finished)?;
        let priority = priority.as_ref().map(borrow_i64).transpose()?;
        let result = run_detached(py, self.num_threads, || index.finish(priority))?;
        let halves: Vec<u64> = result
            .hashes
            .iter()
            .flat_map(|hash| [(hash >> 64) as u64, *hash as u64])
            .collect();
        let out = PyDict::new(py);
        out.set_item("hashes", matrix(py, halves, 2)?)?;
        out.set_item("representative", vector(py, result.representative))?;
        Ok(out)
    }
}

/// Python's `amfast.dedup.MinHashOptions`, read whole (one attribute per field).
#[derive(FromPyObject)]
pub struct MinHashOptions {
    threshold: f64,
    num_perm: usize,
    bands: Option<usize>,
    rows: Option<usize>,
    ngram: usize,
    seed: u64,
    number_guard: bool,
    unigram_below: usize,
    bigram_below: usize,
    keep: String,
}

impl MinHashOptions {
    /// The core's options; `bands` and `rows` chosen for the target recall when both are unset.
    fn near_options(&self, normalize: NormalizeOptions) -> Result<NearOptions, Error> {
        let (bands, rows) = match (self.bands, self.rows) {
            (Some(bands), Some(rows)) => (bands, rows),
            (None, None) => {
                lsh::choose_bands(self.threshold, self.num_perm, DEFAULT_TARGET_RECALL)?
            }
            _ => return Err(Error::invalid("give both bands and rows, or neither")),
        };
        Ok(NearOptions {
            threshold: self.threshold,
            num_perm: self.num_perm,
            bands,
            rows,
            ngram: self.ngram,
            seed: self.seed,
            number_guard: self.number_guard,
            unigram_below: self.unigram_below,
            bigram_below: self.bigram_below,
            keep: Keep::parse(&self.keep)?,
            normalize,
        })
    }
}

#[pyclass(name = "NearIndex", module = "amfast._core")]
pub struct PyNearIndex {
    inner: Option<dedup::NearIndex>,
    num_threads: Option<usize>,
}

impl PyNearIndex {
    fn index(&mut self) -> PyResult<&mut dedup::NearIndex> {
        self.inner.as_mut().ok_or_else(finished)
    }
}

#[pymethods]
impl PyNearIndex {
    #[new]
    #[pyo3(signature = (*, minhash, normalize = None, num_threads = None))]
    fn new(
        py: Python<'_>,
        minhash: MinHashOptions,
        normalize: Option<NormalizeOptions>,
        num_threads: Option<usize>,
    ) -> PyResult<Self> {
        let options = minhash
            .near_options(normalize.unwrap_or_default())
            .map_err(|error| super::errors::to_pyerr(py, error))?;
        let inner =
            dedup::NearIndex::new(options).map_err(|error| super::errors::to_pyerr(py, error))?;
        Ok(Self {
            inner: Some(inner),
            num_threads,
        })
    }

    /// `(bands, rows)` in use.
    #[getter]
    fn banding(&self) -> PyResult<(usize, usize)> {
        let options = self.inner.as_ref().ok_or_else(finished)?.options();
        Ok((options.bands, options.rows))
    }

    fn __len__(&self) -> usize {
        self.inner.as_ref().map_or(0, dedup::NearIndex::len)
    }

    fn signatures<'py>(
        &mut self,
        py: Python<'py>,
        texts: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, numpy::PyArray2<u32>>> {
        let column = TextColumn::extract(texts)?;
        let rows = column.rows(py, 0)?;
        let threads = self.num_threads;
        let index = self.index()?;
        let width = index.options().num_perm;
        let signatures = run_detached(py, threads, || index.signatures(&rows, 0))?;
        matrix(py, signatures, width)
    }

    fn add(&mut self, py: Python<'_>, texts: &Bound<'_, PyAny>) -> PyResult<()> {
        let column = TextColumn::extract(texts)?;
        let first_row = self.__len__();
        let rows = column.rows(py, first_row)?;
        let threads = self.num_threads;
        let index = self.index()?;
        run_detached(py, threads, || index.add(&rows))
    }

    fn candidate_pairs<'py>(&mut self, py: Python<'py>) -> PyResult<RowPairs<'py>> {
        let threads = self.num_threads;
        let index = self.index()?;
        let pairs = run_detached(py, threads, || Ok(index.candidate_pairs().to_vec()))?;
        let (left, right): (Vec<i64>, Vec<i64>) = pairs
            .into_iter()
            .map(|(a, b)| (i64::from(a), i64::from(b)))
            .unzip();
        Ok((vector(py, left), vector(py, right)))
    }

    fn verify(&mut self, py: Python<'_>, texts: &Bound<'_, PyAny>) -> PyResult<()> {
        let column = TextColumn::extract(texts)?;
        let first_row = self
            .inner
            .as_ref()
            .map_or(0, dedup::NearIndex::verified_rows);
        let rows = column.rows(py, first_row)?;
        let threads = self.num_threads;
        let index = self.index()?;
        run_detached(py, threads, || index.verify(&rows))
    }

    #[pyo3(signature = (priority = None))]
    fn finish<'py>(
        &mut self,
        py: Python<'py>,
        priority: Option<PyReadonlyArray1<'py, i64>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let index = self.inner.take().ok_or_else(finished)?;
        let priority = priority.as_ref().map(borrow_i64).transpose()?;
        let result = run_detached(py, self.num_threads, || index.finish(priority))?;
        let out = PyDict::new(py);
        out.set_item("cluster", vector(py, result.cluster))?;
        out.set_item("representative", vector(py, result.representative))?;
        out.set_item("similarity", vector(py, result.similarity))?;
        out.set_item("pair_left", vector(py, result.pair_left))?;
        out.set_item("pair_right", vector(py, result.pair_right))?;
        out.set_item("pair_similarity", vector(py, result.pair_similarity))?;
        out.set_item("candidates", result.candidates)?;
        Ok(out)
    }
}

/// Recall the automatic banding guarantees at the threshold.
pub const DEFAULT_TARGET_RECALL: f64 = 0.95;

#[pyfunction]
#[pyo3(signature = (threshold, num_perm = 128, target_recall = 0.95))]
pub fn choose_bands(
    py: Python<'_>,
    threshold: f64,
    num_perm: usize,
    target_recall: f64,
) -> PyResult<(usize, usize)> {
    lsh::choose_bands(threshold, num_perm, target_recall)
        .map_err(|error| super::errors::to_pyerr(py, error))
}

#[pyfunction]
pub fn candidate_probability(similarity: f64, bands: usize, rows: usize) -> f64 {
    lsh::candidate_probability(similarity, bands, rows)
}

#[pyfunction]
#[pyo3(signature = (texts, *, num_threads = None))]
pub fn number_keys<'py>(
    py: Python<'py>,
    texts: &Bound<'py, PyAny>,
    num_threads: Option<usize>,
) -> PyResult<Bound<'py, PyArray1<u64>>> {
    let column = TextColumn::extract(texts)?;
    let rows = column.rows(py, 0)?;
    let keys = run_detached(py, num_threads, || dedup::number_keys(&rows))?;
    Ok(vector(py, keys))
}

#[pyfunction]
#[pyo3(signature = (left, right, *, num_threads = None))]
pub fn connected_components<'py>(
    py: Python<'py>,
    left: PyReadonlyArray1<'py, i64>,
    right: PyReadonlyArray1<'py, i64>,
    num_threads: Option<usize>,
) -> PyResult<RowPairs<'py>> {
    let (left, right) = (left.as_slice()?, right.as_slice()?);
    let (rows, component) =
        run_detached(py, num_threads, || unionfind::edge_components(left, right))?;
    Ok((vector(py, rows), vector(py, component)))
}
