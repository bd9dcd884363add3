//! `normalize(texts, ...)`: a text column in, the same kind of column out.

use super::arrow::TextColumn;
use super::run_detached;
use crate::normalize::{normalize_packed, NormalizeOptions};
use pyo3::prelude::*;

#[allow(clippy::fn_params_excessive_bools)] // one flag per documented option, as in the .pyi
pub fn options(
    lowercase: bool,
    case_fold: bool,
    keep_digits: bool,
    math_operators: bool,
    strip_latex: bool,
) -> NormalizeOptions {
    NormalizeOptions {
        lowercase,
        case_fold,
        keep_digits,
        math_operators,
        strip_latex,
    }
}

#[pyfunction]
#[pyo3(signature = (
    texts, *, lowercase = true, case_fold = false, keep_digits = true, math_operators = false,
    strip_latex = false, num_threads = None
))]
#[allow(clippy::fn_params_excessive_bools, clippy::too_many_arguments)]
pub fn normalize<'py>(
    py: Python<'py>,
    texts: &Bound<'py, PyAny>,
    lowercase: bool,
    case_fold: bool,
    keep_digits: bool,
    math_operators: bool,
    strip_latex: bool,
    num_threads: Option<usize>,
) -> PyResult<Py<PyAny>> {
    let column = TextColumn::extract(texts)?;
    let rows = column.rows(py, 0)?;
    let options = options(
        lowercase,
        case_fold,
        keep_digits,
        math_operators,
        strip_latex,
    );
    let normalized = run_detached(py, num_threads, || Ok(normalize_packed(&rows, &options)))?;
    column.same_kind(py, normalized)
}
