//! Text columns in: a Python sequence of `str | None`, or an Arrow string / large_string /
//! string_view array or chunked array (anything with `__arrow_c_array__` or
//! `__arrow_c_stream__`). Arrow buffers are borrowed, not copied; Python strings are borrowed
//! through their cached UTF-8 form while this module holds a reference to each of them.

use super::errors::row_error;
use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, LargeStringArray, StringArray, StringViewArray};
use pyo3::exceptions::PyTypeError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::PyString;
use pyo3_arrow::{PyArray, PyChunkedArray};
use std::sync::Arc;

/// A column of optional texts, kept alive for the duration of one call.
pub enum TextColumn<'py> {
    Python(Vec<Option<Bound<'py, PyString>>>),
    Arrow {
        chunks: Vec<ArrayRef>,
        field: FieldRef,
        chunked: bool,
    },
}

impl<'py> TextColumn<'py> {
    pub fn extract(texts: &Bound<'py, PyAny>) -> PyResult<Self> {
        let py = texts.py();
        if texts.is_instance_of::<PyString>() {
            return Err(PyTypeError::new_err(
                "expected a list of strings or an Arrow string array, got a single str",
            ));
        }
        if texts.hasattr(intern!(py, "__arrow_c_array__"))? {
            let array: PyArray = texts.extract()?;
            let (array, field) = array.into_inner();
            return Self::arrow(vec![array], field, false);
        }
        if texts.hasattr(intern!(py, "__arrow_c_stream__"))? {
            let chunked: PyChunkedArray = texts.extract()?;
            let (chunks, field) = chunked.into_inner();
            return Self::arrow(chunks, field, true);
        }
        let iterator = texts.try_iter().map_err(|_| {
            PyTypeError::new_err(format!(
                "expected a list of strings or an Arrow string array, got {}",
                type_name(texts)
            ))
        })?;
        let mut rows = Vec::new();
        for (row, item) in iterator.enumerate() {
            let item = item?;
            if item.is_none() {
                rows.push(None);
            } else if let Ok(text) = item.cast_into::<PyString>() {
                rows.push(Some(text));
            } else {
                return Err(PyTypeError::new_err(format!(
                    "row {row}: expected str or None, got {}",
                    type_name(&texts.get_item(row)?)
                )));
            }
        }
        Ok(Self::Python(rows))
    }

    fn arrow(chunks: Vec<ArrayRef>, field: FieldRef, chunked: bool) -> PyResult<Self> {
        let data_type = field.data_type();
        if !matches!(
            data_type,
            arrow_schema_type::Utf8 | arrow_schema_type::LargeUtf8 | arrow_schema_type::Utf8View
        ) {
            return Err(PyTypeError::new_err(format!(
                "expected an Arrow string, large_string or string_view array, got {data_type}"
            )));
        }
        Ok(Self::Arrow {
            chunks,
            field,
            chunked,
        })
    }

    /// Borrowed views of every row, in order. Python strings that are not valid UTF-8 (lone
    /// surrogates) are reported with their global row, `first_row` + their position.
    pub fn rows(&self, py: Python<'_>, first_row: usize) -> PyResult<Vec<Option<&str>>> {
        match self {
            Self::Python(rows) => rows
                .iter()
                .enumerate()
                .map(|(row, text)| {
                    text.as_ref()
                        .map(|text| {
                            text.to_str().map_err(|_| {
                                row_error(
                                    py,
                                    first_row + row,
                                    "text is not valid UTF-8 (lone surrogate)",
                                )
                            })
                        })
                        .transpose()
                })
                .collect(),
            Self::Arrow { chunks, .. } => {
                let mut rows = Vec::with_capacity(chunks.iter().map(Array::len).sum());
                for chunk in chunks {
                    match chunk.data_type() {
                        arrow_schema_type::Utf8 => rows.extend(chunk.as_string::<i32>().iter()),
                        arrow_schema_type::LargeUtf8 => {
                            rows.extend(chunk.as_string::<i64>().iter());
                        }
                        _ => rows.extend(chunk.as_string_view().iter()),
                    }
                }
                Ok(rows)
            }
        }
    }

    /// Builds an output column of the same kind (list, Arrow array or chunked array, same
    /// string type) from one output per row. The new strings are necessarily fresh buffers.
    pub fn same_kind(&self, py: Python<'py>, values: Vec<Option<String>>) -> PyResult<Py<PyAny>> {
        match self {
            Self::Python(_) => Ok(values.into_pyobject(py)?.into_any().unbind()),
            Self::Arrow {
                chunks,
                field,
                chunked,
            } => {
                let mut values = values.into_iter();
                let outputs: Vec<ArrayRef> = chunks
                    .iter()
                    .map(|chunk| {
                        let part = values.by_ref().take(chunk.len());
                        let array: ArrayRef = match field.data_type() {
                            arrow_schema_type::Utf8 => Arc::new(part.collect::<StringArray>()),
                            arrow_schema_type::LargeUtf8 => {
                                Arc::new(part.collect::<LargeStringArray>())
                            }
                            _ => Arc::new(part.collect::<StringViewArray>()),
                        };
                        array
                    })
                    .collect();
                // The output keeps the input's name and type; only the values are new.
                let field = Arc::new(field.as_ref().clone().with_nullable(true));
                if *chunked {
                    Ok(PyChunkedArray::try_new(outputs, field)?
                        .into_pyarrow(py)?
                        .unbind())
                } else {
                    let array = outputs.into_iter().next().ok_or_else(|| {
                        PyTypeError::new_err("an Arrow array input produced no chunk")
                    })?;
                    let array = PyArray::try_new(array, field)
                        .map_err(|error| PyTypeError::new_err(error.to_string()))?;
                    let exported = array.to_pyarrow(py)?.unbind();
                    Ok(exported)
                }
            }
        }
    }
}

use arrow_schema::{DataType as arrow_schema_type, FieldRef};

fn type_name(value: &Bound<'_, PyAny>) -> String {
    value
        .get_type()
        .name()
        .map_or_else(|_| "an unknown type".to_owned(), |name| name.to_string())
}
