//! numpy in and out: inputs are borrowed read-only, outputs are Rust `Vec`s moved into numpy
//! arrays without copying.

use numpy::{PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// Moves a vector into a 1-D numpy array (no copy).
pub fn vector<T: numpy::Element>(py: Python<'_>, values: Vec<T>) -> Bound<'_, PyArray1<T>> {
    PyArray1::from_vec(py, values)
}

/// Moves a row-major vector into a `(rows, columns)` numpy array (no copy: a reshaped view).
pub fn matrix<T: numpy::Element>(
    py: Python<'_>,
    values: Vec<T>,
    columns: usize,
) -> PyResult<Bound<'_, PyArray2<T>>> {
    let rows = values.len().checked_div(columns).unwrap_or(0);
    PyArray1::from_vec(py, values).reshape([rows, columns])
}

/// Borrows a contiguous int64 vector (e.g. a priority per row).
pub fn borrow_i64<'a>(array: &'a PyReadonlyArray1<'_, i64>) -> PyResult<&'a [i64]> {
    array
        .as_slice()
        .map_err(|_| PyValueError::new_err("priority must be a contiguous int64 array"))
}
