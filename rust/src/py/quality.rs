//! `quality_metrics`, `row_ngram_hashes` and `NgramCounter`: quality-filter measurements.

use super::arrow::TextColumn;
use super::numpy::vector;
use super::run_detached;
use crate::quality::{self, QualityOptions};
use numpy::PyReadonlyArray1;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

#[pyfunction]
#[pyo3(signature = (texts, *, repeat_max_period = 20, repeat_min_repeats = 4, num_threads = None))]
pub fn quality_metrics<'py>(
    py: Python<'py>,
    texts: &Bound<'py, PyAny>,
    repeat_max_period: usize,
    repeat_min_repeats: usize,
    num_threads: Option<usize>,
) -> PyResult<Bound<'py, PyDict>> {
    let column = TextColumn::extract(texts)?;
    let rows = column.rows(py, 0)?;
    let options = QualityOptions {
        repeat_max_period,
        repeat_min_repeats,
    };
    let metrics = run_detached(py, num_threads, || {
        quality::quality_metrics(&rows, &options)
    })?;
    let out = PyDict::new(py);
    out.set_item("words", vector(py, metrics.words))?;
    out.set_item("tokens", vector(py, metrics.tokens))?;
    out.set_item("repeat_span", vector(py, metrics.repeat_span))?;
    out.set_item("repeat_period", vector(py, metrics.repeat_period))?;
    out.set_item("repeat_count", vector(py, metrics.repeat_count))?;
    out.set_item("language", vector(py, metrics.language))?;
    out.set_item("cjk_fraction", vector(py, metrics.cjk_fraction))?;
    out.set_item("mixed_fraction", vector(py, metrics.mixed_fraction))?;
    out.set_item("unusual_fraction", vector(py, metrics.unusual_fraction))?;
    out.set_item("urls", vector(py, metrics.urls))?;
    out.set_item("image_refs", vector(py, metrics.image_refs))?;
    out.set_item("tables", vector(py, metrics.tables))?;
    out.set_item("think_form", vector(py, metrics.think_form))?;
    Ok(out)
}

/// `(row, hash)` numpy columns.
type RowHashes<'py> = (
    Bound<'py, numpy::PyArray1<i64>>,
    Bound<'py, numpy::PyArray1<u64>>,
);

#[pyfunction]
#[pyo3(signature = (texts, ngram, *, first_row = 0, num_threads = None))]
pub fn row_ngram_hashes<'py>(
    py: Python<'py>,
    texts: &Bound<'py, PyAny>,
    ngram: usize,
    first_row: usize,
    num_threads: Option<usize>,
) -> PyResult<RowHashes<'py>> {
    let column = TextColumn::extract(texts)?;
    let rows = column.rows(py, first_row)?;
    let (row_ids, hashes) = run_detached(py, num_threads, || {
        quality::row_ngram_hashes(&rows, ngram, first_row)
    })?;
    Ok((vector(py, row_ids), vector(py, hashes)))
}

#[pyfunction]
#[pyo3(signature = (texts, ngram, frequent, *, num_threads = None))]
pub fn count_frequent_ngrams<'py>(
    py: Python<'py>,
    texts: &Bound<'py, PyAny>,
    ngram: usize,
    frequent: PyReadonlyArray1<'py, u64>,
    num_threads: Option<usize>,
) -> PyResult<Bound<'py, numpy::PyArray1<u32>>> {
    let column = TextColumn::extract(texts)?;
    let rows = column.rows(py, 0)?;
    let frequent = frequent
        .as_slice()
        .map_err(|_| PyValueError::new_err("frequent must be a contiguous uint64 array"))?;
    if frequent.windows(2).any(|pair| pair[0] >= pair[1]) {
        return Err(PyValueError::new_err(
            "frequent must be sorted and distinct",
        ));
    }
    if ngram == 0 {
        return Err(PyValueError::new_err("ngram must be at least 1"));
    }
    let counts = run_detached(py, num_threads, || {
        Ok(quality::count_in(&rows, ngram, frequent))
    })?;
    Ok(vector(py, counts))
}

#[pyclass(name = "NgramCounter", module = "amfast._core")]
pub struct PyNgramCounter {
    inner: quality::NgramCounter,
    num_threads: Option<usize>,
}

#[pymethods]
impl PyNgramCounter {
    #[new]
    #[pyo3(signature = (ngram, *, num_threads = None))]
    fn new(py: Python<'_>, ngram: usize, num_threads: Option<usize>) -> PyResult<Self> {
        let inner = quality::NgramCounter::new(ngram)
            .map_err(|error| super::errors::to_pyerr(py, error))?;
        Ok(Self { inner, num_threads })
    }

    fn add(&mut self, py: Python<'_>, texts: &Bound<'_, PyAny>) -> PyResult<()> {
        let column = TextColumn::extract(texts)?;
        let rows = column.rows(py, 0)?;
        let inner = &mut self.inner;
        run_detached(py, self.num_threads, || inner.add(&rows))
    }

    fn finish(&mut self, py: Python<'_>, min_count: usize) -> PyResult<usize> {
        let inner = &mut self.inner;
        run_detached(py, self.num_threads, || Ok(inner.finish(min_count)))
    }

    fn count_frequent<'py>(
        &self,
        py: Python<'py>,
        texts: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, numpy::PyArray1<u32>>> {
        let column = TextColumn::extract(texts)?;
        let rows = column.rows(py, 0)?;
        let inner = &self.inner;
        let counts = run_detached(py, self.num_threads, || inner.count_frequent(&rows))?;
        Ok(vector(py, counts))
    }
}
