//! numpy in and out: inputs are borrowed read-only, outputs are Rust `Vec`s moved into numpy
//! arrays without copying.

use numpy::{PyArray1, PyArray2, PyArrayMethods, PyReadonlyArray1, PyUntypedArrayMethods};
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

/// A borrowed `(rows, dim)` float32 or float16 embedding array.
pub enum Embeddings<'py> {
    F32(numpy::PyReadonlyArray2<'py, f32>),
    F16(numpy::PyReadonlyArray2<'py, u16>),
}

impl<'py> Embeddings<'py> {
    /// Borrows `array` read-only; float16 is viewed as its raw bits (no copy).
    pub fn extract(array: &Bound<'py, PyAny>, name: &str) -> PyResult<Self> {
        let wrong = || {
            pyo3::exceptions::PyTypeError::new_err(format!(
                "{name} must be a 2-D float32 or float16 numpy array"
            ))
        };
        let dtype: String = array
            .getattr("dtype")
            .and_then(|dtype| dtype.getattr("name"))
            .and_then(|name| name.extract())
            .map_err(|_| wrong())?;
        match dtype.as_str() {
            "float32" => Ok(Self::F32(array.extract().map_err(|_| wrong())?)),
            "float16" => Ok(Self::F16(
                array
                    .call_method1("view", ("uint16",))?
                    .extract()
                    .map_err(|_| wrong())?,
            )),
            _ => Err(wrong()),
        }
    }

    /// The rows as a core matrix.
    pub fn matrix(&self, name: &str) -> PyResult<crate::ann::Matrix<'_>> {
        use crate::ann::{Matrix, Vectors};
        let not_contiguous = || {
            PyValueError::new_err(format!(
                "{name} must be C-contiguous (np.ascontiguousarray)"
            ))
        };
        let (data, dim) = match self {
            Self::F32(array) => (
                Vectors::F32(array.as_slice().map_err(|_| not_contiguous())?),
                array.shape()[1],
            ),
            Self::F16(array) => (
                Vectors::F16(array.as_slice().map_err(|_| not_contiguous())?),
                array.shape()[1],
            ),
        };
        Matrix::new(data, dim).map_err(|error| PyValueError::new_err(format!("{name}: {error}")))
    }
}
