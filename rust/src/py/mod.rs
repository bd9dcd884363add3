//! The binding layer: converts types, releases the GIL and maps errors. No algorithms here.

pub mod ann;
pub mod arrow;
pub mod decontam;
pub mod dedup;
pub mod embed;
pub mod errors;
pub mod normalize;
pub mod numpy;
pub mod quality;

use crate::error::Result;
use pyo3::prelude::*;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Runs `work` with the GIL released on a pool of `num_threads` threads, turning core errors
/// into Python exceptions and a panic into `AmfastInternalError` (never `PanicException`).
pub fn run_detached<T, F>(py: Python<'_>, num_threads: Option<usize>, work: F) -> PyResult<T>
where
    T: Send,
    F: FnOnce() -> Result<T> + Send,
{
    let outcome = py.detach(|| {
        catch_unwind(AssertUnwindSafe(|| {
            crate::parallel::install(num_threads, work)
        }))
    });
    match outcome {
        Ok(Ok(Ok(value))) => Ok(value),
        Ok(Ok(Err(error)) | Err(error)) => Err(errors::to_pyerr(py, error)),
        Err(panic) => Err(errors::internal_error(py, panic.as_ref())),
    }
}
