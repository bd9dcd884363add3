//! `text_keys(texts)`: the embedding cache's keys of a text column, in one call.

use super::arrow::TextColumn;
use super::numpy::matrix;
use super::run_detached;
use crate::hashing;
use numpy::PyArray2;
use pyo3::prelude::*;

#[pyfunction]
#[pyo3(signature = (texts, *, num_threads = None))]
pub fn text_keys<'py>(
    py: Python<'py>,
    texts: &Bound<'py, PyAny>,
    num_threads: Option<usize>,
) -> PyResult<Bound<'py, PyArray2<u64>>> {
    let column = TextColumn::extract(texts)?;
    let rows = column.rows(py, 0)?;
    let keys = run_detached(py, num_threads, || hashing::text_keys(&rows))?;
    let halves: Vec<u64> = keys
        .iter()
        .flat_map(|key| [(key >> 64) as u64, *key as u64])
        .collect();
    matrix(py, halves, 2)
}
