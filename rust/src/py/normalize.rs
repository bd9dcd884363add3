//! `normalize(texts, ...)`: a text column in, the same kind of column out.

use super::arrow::TextColumn;
use super::run_detached;
use crate::normalize::{normalize_packed, NormalizeOptions};
use pyo3::prelude::*;

#[pyfunction]
#[pyo3(signature = (texts, *, options = None, num_threads = None))]
pub fn normalize<'py>(
    py: Python<'py>,
    texts: &Bound<'py, PyAny>,
    options: Option<NormalizeOptions>,
    num_threads: Option<usize>,
) -> PyResult<Py<PyAny>> {
    let column = TextColumn::extract(texts)?;
    let rows = column.rows(py, 0)?;
    let options = options.unwrap_or_default();
    let normalized = run_detached(py, num_threads, || Ok(normalize_packed(&rows, &options)))?;
    column.same_kind(py, normalized)
}
