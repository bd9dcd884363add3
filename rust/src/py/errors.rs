//! Exception classes of amfast, declared here and re-exported by `amfast.errors`, and the one
//! mapping from core errors to them.

use crate::error::Error;
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use std::any::Any;

create_exception!(
    amfast._core,
    AmfastError,
    PyException,
    "Base class of amfast's own errors that are not ValueError/TypeError."
);
create_exception!(
    amfast._core,
    InvalidRowError,
    PyValueError,
    "An input row is unusable; `.row` holds its index and the message starts with `row N:`."
);
create_exception!(
    amfast._core,
    AmfastInternalError,
    PyRuntimeError,
    "A bug in amfast (a Rust panic was caught); please report it with the message."
);

/// Maps a core error to its Python exception, setting `.row` where the error names a row.
pub fn to_pyerr(py: Python<'_>, error: Error) -> PyErr {
    match &error {
        Error::Row { row, .. } => {
            let err = InvalidRowError::new_err(error.to_string());
            if let Err(setattr_error) = err.value(py).setattr("row", *row) {
                return setattr_error;
            }
            err
        }
        Error::InvalidArgument(message) => PyValueError::new_err(message.clone()),
    }
}

pub fn internal_error(panic: &(dyn Any + Send)) -> PyErr {
    let message = panic
        .downcast_ref::<&str>()
        .map(ToString::to_string)
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned());
    AmfastInternalError::new_err(format!("bug: {message}"))
}

/// A row error raised from the binding layer itself (before any core call).
pub fn row_error(py: Python<'_>, row: usize, reason: &str) -> PyErr {
    to_pyerr(py, Error::row(row, reason))
}

pub fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = module.py();
    module.add("AmfastError", py.get_type::<AmfastError>())?;
    module.add("InvalidRowError", py.get_type::<InvalidRowError>())?;
    module.add("AmfastInternalError", py.get_type::<AmfastInternalError>())?;
    Ok(())
}
