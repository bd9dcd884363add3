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
            return Self::arrow(vec![array.array().clone()], false);
        }
        if texts.hasattr(intern!(py, "__arrow_c_stream__"))? {
            let chunked: PyChunkedArray = texts.extract()?;
            return Self::arrow(chunked.chunks().to_vec(), true);
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

    fn arrow(chunks: Vec<ArrayRef>, chunked: bool) -> PyResult<Self> {
        for chunk in &chunks {
            let data_type = chunk.data_type();
            if !matches!(
                data_type,
                arrow_schema_type::Utf8
                    | arrow_schema_type::LargeUtf8
                    | arrow_schema_type::Utf8View
            ) {
                return Err(PyTypeError::new_err(format!(
                    "expected an Arrow string, large_string or string_view array, got {data_type}"
                )));
            }
        }
        Ok(Self::Arrow { chunks, chunked })
    }

    /// Borrowed views of every row, in order. Python strings that are not valid UTF-8 (lone
    /// surrogates) are reported with their row.
    pub fn rows(&self, py: Python<'_>) -> PyResult<Vec<Option<&str>>> {
        match self {
            Self::Python(rows) => rows
                .iter()
                .enumerate()
                .map(|(row, text)| {
                    text.as_ref()
                        .map(|text| {
                            text.to_str().map_err(|_| {
                                row_error(py, row, "text is not valid UTF-8 (lone surrogate)")
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
            Self::Arrow { chunks, chunked } => {
                let mut values = values.into_iter();
                let outputs: Vec<ArrayRef> = chunks
                    .iter()
                    .map(|chunk| {
                        let part = values.by_ref().take(chunk.len());
                        let array: ArrayRef = match chunk.data_type() {
                            arrow_schema_type::Utf8 => Arc::new(part.collect::<StringArray>()),
                            arrow_schema_type::LargeUtf8 => {
                                Arc::new(part.collect::<LargeStringArray>())
                            }
                            _ => Arc::new(part.collect::<StringViewArray>()),
                        };
                        array
                    })
                    .collect();
                if *chunked {
                    let field = chunks.first().map(|chunk| chunk.data_type().clone());
                    let output = match field {
                        Some(_) => PyChunkedArray::from_array_refs(outputs)?,
                        None => PyChunkedArray::try_new(
                            Vec::new(),
                            Arc::new(arrow_schema::Field::new("", arrow_schema_type::Utf8, true)),
                        )?,
                    };
                    Ok(output.into_pyarrow(py)?.unbind())
                } else {
                    let array = outputs.into_iter().next().ok_or_else(|| {
                        PyTypeError::new_err("an Arrow array input produced no chunk")
                    })?;
                    Ok(PyArray::from_array_ref(array).to_pyarrow(py)?.unbind())
                }
            }
        }
    }
}

use arrow_schema::DataType as arrow_schema_type;

fn type_name(value: &Bound<'_, PyAny>) -> String {
    value
        .get_type()
        .name()
        .map_or_else(|_| "an unknown type".to_owned(), |name| name.to_string())
}
