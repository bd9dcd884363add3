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

/// The index's rules from Python's `amfast.decontam.DecontamOptions`, read whole (one attribute
/// per field; the fields the index does not use, such as `min_overlap`, are not read).
#[derive(FromPyObject)]
#[allow(clippy::struct_excessive_bools)] // independent switches, one per documented rule
pub struct DecontamOptions {
    ngram: usize,
    min_exact_words: usize,
    exact: bool,
    content: bool,
    content_threshold: f64,
    content_no_digits_threshold: f64,
    content_row_fraction: f64,
    min_content_weight: f64,
    min_content_weight_no_digits: f64,
}

impl DecontamOptions {
    fn ngram_options(&self, normalize: NormalizeOptions) -> NgramOptions {
        NgramOptions {
            ngram: self.ngram,
            normalize,
            min_exact_words: self.min_exact_words,
            exact: self.exact,
            content: self.content.then_some(ContentOptions {
                threshold: self.content_threshold,
                no_digits_threshold: self.content_no_digits_threshold,
                row_fraction: self.content_row_fraction,
                min_weight: self.min_content_weight,
                min_weight_no_digits: self.min_content_weight_no_digits,
            }),
        }
    }
}

#[pyclass(name = "NgramIndex", module = "amfast._core")]
pub struct PyNgramIndex {
    inner: NgramIndex,
    num_threads: Option<usize>,
}

#[pymethods]
impl PyNgramIndex {
    #[new]
    #[pyo3(signature = (*, decontam, normalize = None, num_threads = None))]
    fn new(
        py: Python<'_>,
        decontam: DecontamOptions,
        normalize: Option<NormalizeOptions>,
        num_threads: Option<usize>,
    ) -> PyResult<Self> {
        let inner = NgramIndex::new(decontam.ngram_options(normalize.unwrap_or_default()))
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
