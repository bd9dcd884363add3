//! `NgramIndex`: benchmark n-grams and digit-free hashes, queried by text columns.

use super::arrow::TextColumn;
use super::errors::to_pyerr;
use super::numpy::{matrix, vector};
use super::run_detached;
use crate::content_words::ContentOptions;
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
        *, ngram = 13, min_exact_words = 10, exact = true, content = true,
        content_threshold = 0.65, content_no_digits_threshold = 0.8, content_row_fraction = 0.3,
        min_content_weight = 4.0, min_content_weight_no_digits = 8.0, normalize = None,
        num_threads = None
    ))]
    #[allow(clippy::too_many_arguments)] // the rules' settings, as DecontamOptions holds them
    fn new(
        py: Python<'_>,
        ngram: usize,
        min_exact_words: usize,
        exact: bool,
        content: bool,
        content_threshold: f64,
        content_no_digits_threshold: f64,
        content_row_fraction: f64,
        min_content_weight: f64,
        min_content_weight_no_digits: f64,
        normalize: Option<NormalizeOptions>,
        num_threads: Option<usize>,
    ) -> PyResult<Self> {
        let normalize = normalize.unwrap_or_default();
        let inner = NgramIndex::new(NgramOptions {
            ngram,
            normalize,
            min_exact_words,
            exact,
            content: content.then_some(ContentOptions {
                threshold: content_threshold,
                no_digits_threshold: content_no_digits_threshold,
                row_fraction: content_row_fraction,
                min_weight: min_content_weight,
                min_weight_no_digits: min_content_weight_no_digits,
            }),
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
        out.set_item("content_item", matrix(py, found.content_item, groups)?)?;
        out.set_item("content_share", matrix(py, found.content_share, groups)?)?;
        out.set_item(
            "content_no_digits_item",
            matrix(py, found.content_no_digits_item, groups)?,
        )?;
        out.set_item(
            "content_no_digits_share",
            matrix(py, found.content_no_digits_share, groups)?,
        )?;
        Ok(out)
    }
}
