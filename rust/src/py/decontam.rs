//! `NgramIndex`: benchmark n-grams and digit-free hashes, queried by text columns.

use super::arrow::TextColumn;
use super::errors::to_pyerr;
use super::numpy::{matrix, vector};
use super::run_detached;
use crate::ngram_index::{NgramIndex, NgramOptions};
use crate::normalize::NormalizeOptions;
use pyo3::prelude::*;
use pyo3::types::PyDict;

#[pyclass(name = "NgramIndex", module = "amfast._core")]
pub struct PyNgramIndex {
    inner: NgramIndex,
    num_threads: Option<usize>,
}

#[pymethods]
impl PyNgramIndex {
    #[new]
    #[pyo3(signature = (
        *, ngram = 13, min_exact_words = 10, exact = true, normalize = None, num_threads = None
    ))]
    fn new(
        py: Python<'_>,
        ngram: usize,
        min_exact_words: usize,
        exact: bool,
        normalize: Option<NormalizeOptions>,
        num_threads: Option<usize>,
    ) -> PyResult<Self> {
        let normalize = normalize.unwrap_or_default();
        let inner = NgramIndex::new(NgramOptions {
            ngram,
            normalize,
            min_exact_words,
            exact,
        })
        .map_err(|error| to_pyerr(py, error))?;
        Ok(Self { inner, num_threads })
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    /// Groups (benchmarks) added.
    #[getter]
    fn groups(&self) -> usize {
        self.inner.groups()
    }

    /// Distinct n-grams held.
    #[getter]
    fn ngram_count(&self) -> usize {
        self.inner.ngram_count()
    }

    /// Adds one group (benchmark) of items.
    fn add(&mut self, py: Python<'_>, texts: &Bound<'_, PyAny>) -> PyResult<()> {
        let column = TextColumn::extract(texts)?;
        let rows = column.rows(py, self.inner.len())?;
        let threads = self.num_threads;
        let index = &mut self.inner;
        run_detached(py, threads, || index.add(&rows))
    }

    #[pyo3(signature = (texts, *, first_row = 0))]
    fn query<'py>(
        &self,
        py: Python<'py>,
        texts: &Bound<'py, PyAny>,
        first_row: usize,
    ) -> PyResult<Bound<'py, PyDict>> {
        let column = TextColumn::extract(texts)?;
        let rows = column.rows(py, first_row)?;
        let index = &self.inner;
        let found = run_detached(py, self.num_threads, || index.query(&rows, first_row))?;
        let groups = found.groups.max(1);
        let out = PyDict::new(py);
        out.set_item("exact_item", matrix(py, found.exact_item, groups)?)?;
        out.set_item("ngram_item", matrix(py, found.ngram_item, groups)?)?;
        out.set_item("ngram_overlap", matrix(py, found.ngram_overlap, groups)?)?;
        out.set_item(
            "item_ngram_count",
            matrix(py, found.item_ngram_count, groups)?,
        )?;
        out.set_item("ngram_count", vector(py, found.ngram_count))?;
        Ok(out)
    }
}
