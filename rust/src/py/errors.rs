//! Exception classes of amfast, created here and re-exported by `amfast.errors`, and the one
//! mapping from core errors to them.
//!
//! Every class derives from `AmfastError`, and also from the builtin a caller would expect
//! (`ValueError` for bad rows, `RuntimeError` for bugs), so both `except AmfastError` and
//! `except ValueError` work. pyo3's `create_exception!` takes a single base, so the two
//! derived classes are built with `type(name, bases, namespace)` when first needed.

use crate::error::Error;
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple, PyType};
use std::any::Any;

create_exception!(
    amfast._core,
    AmfastError,
    PyException,
    "Base class of every error amfast raises on purpose."
);

static INVALID_ROW_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static INTERNAL_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// A class named `name` deriving from `AmfastError` and `builtin`.
fn derived_class<'py>(
    py: Python<'py>,
    cell: &'static PyOnceLock<Py<PyType>>,
    name: &str,
    builtin: Bound<'py, PyType>,
    doc: &str,
) -> PyResult<Bound<'py, PyType>> {
    let class = cell.get_or_try_init(py, || {
        let bases = PyTuple::new(py, [py.get_type::<AmfastError>(), builtin])?;
        let namespace = PyDict::new(py);
        namespace.set_item("__module__", "amfast._core")?;
        namespace.set_item("__doc__", doc)?;
        let class = py.get_type::<PyType>().call1((name, bases, namespace))?;
        Ok::<_, PyErr>(class.cast_into::<PyType>()?.unbind())
    })?;
    Ok(class.bind(py).clone())
}

/// `InvalidRowError(AmfastError, ValueError)`.
pub fn invalid_row_error(py: Python<'_>) -> PyResult<Bound<'_, PyType>> {
    derived_class(
        py,
        &INVALID_ROW_ERROR,
        "InvalidRowError",
        py.get_type::<PyValueError>(),
        "An input row is unusable; `.row` holds its index and the message starts with `row N:`.",
    )
}

/// `AmfastInternalError(AmfastError, RuntimeError)`.
pub fn internal_error_class(py: Python<'_>) -> PyResult<Bound<'_, PyType>> {
    derived_class(
        py,
        &INTERNAL_ERROR,
        "AmfastInternalError",
        py.get_type::<PyRuntimeError>(),
        "A bug in amfast (a Rust panic was caught); please report it with the message.",
    )
}

/// Maps a core error to its Python exception, setting `.row` where the error names a row.
pub fn to_pyerr(py: Python<'_>, error: Error) -> PyErr {
    match &error {
        Error::Row { row, .. } => {
            let class = match invalid_row_error(py) {
                Ok(class) => class,
                Err(class_error) => return class_error,
            };
            let err = PyErr::from_type(class, error.to_string());
            if let Err(setattr_error) = err.value(py).setattr("row", *row) {
                return setattr_error;
            }
            err
        }
        Error::InvalidArgument(message) => PyValueError::new_err(message.clone()),
    }
}

/// The exception a caught panic becomes: `AmfastInternalError("bug: ...")`.
pub fn internal_error(py: Python<'_>, panic: &(dyn Any + Send)) -> PyErr {
    let message = panic
        .downcast_ref::<&str>()
        .map(ToString::to_string)
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned());
    match internal_error_class(py) {
        Ok(class) => PyErr::from_type(class, format!("bug: {message}")),
        Err(class_error) => class_error,
    }
}

/// A row error raised from the binding layer itself (before any core call).
pub fn row_error(py: Python<'_>, row: usize, reason: &str) -> PyErr {
    to_pyerr(py, Error::row(row, reason))
}

pub fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = module.py();
    module.add("AmfastError", py.get_type::<AmfastError>())?;
    module.add("InvalidRowError", invalid_row_error(py)?)?;
    module.add("AmfastInternalError", internal_error_class(py)?)?;
    Ok(())
}
