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
use pyo3::types::{PyList, PyString};
use pyo3_arrow::{PyArray, PyChunkedArray};
use std::sync::Arc;

use crate::normalize::PackedTexts;
use arrow_buffer::{Buffer, NullBuffer, OffsetBuffer, ScalarBuffer};

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
    /// string type) from packed per-row outputs. Arrow outputs take over `packed`'s values
    /// buffer and slice it per chunk: no per-row allocation, no copy.
    pub fn same_kind(&self, py: Python<'py>, mut packed: PackedTexts) -> PyResult<Py<PyAny>> {
        match self {
            Self::Python(rows) => {
                let values = (0..rows.len()).map(|row| packed.row(row));
                Ok(PyList::new(py, values)?.into_any().unbind())
            }
            Self::Arrow {
                chunks,
                field,
                chunked,
            } => {
                let mut first_row = 0;
                let mut outputs: Vec<ArrayRef> = Vec::with_capacity(chunks.len());
                let values = Buffer::from_vec(std::mem::take(&mut packed.values));
                for chunk in chunks {
                    let rows = first_row..first_row + chunk.len();
                    outputs.push(packed_array(&packed, &values, rows, field.data_type())?);
                    first_row += chunk.len();
                }
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

/// One Arrow array of `data_type` holding rows `rows` of `packed`, whose values are in
/// `values`.
fn packed_array(
    packed: &PackedTexts,
    values: &Buffer,
    rows: std::ops::Range<usize>,
    data_type: &arrow_schema_type,
) -> PyResult<ArrayRef> {
    let valid = &packed.valid[rows.clone()];
    let nulls = valid
        .contains(&false)
        .then(|| NullBuffer::from(valid.to_vec()));
    let all_values = values;
    let base = packed.offsets[rows.start];
    let values = values.slice_with_length(base, packed.offsets[rows.end] - base);
    let relative = packed.offsets[rows.start..=rows.end]
        .iter()
        .map(|offset| offset - base);
    Ok(match data_type {
        arrow_schema_type::Utf8 => {
            let offsets = relative
                .map(i32::try_from)
                .collect::<Result<Vec<i32>, _>>()
                .map_err(|_| {
                    PyTypeError::new_err(
                        "normalized chunk exceeds 2 GiB, too large for an Arrow `string` array; \
                         cast the input to large_string",
                    )
                })?;
            let offsets = OffsetBuffer::new(ScalarBuffer::from(offsets));
            // SAFETY: each row was written from a `String`, so every row range is UTF-8 (Arrow
            // would re-validate all of it, ~4% of `normalize`).
            Arc::new(unsafe { StringArray::new_unchecked(offsets, values, nulls) })
        }
        arrow_schema_type::LargeUtf8 => {
            // A Vec cannot exceed isize::MAX bytes, so every offset fits in i64.
            let offsets: Vec<i64> = relative
                .map(|offset| i64::try_from(offset).unwrap_or(i64::MAX))
                .collect();
            let offsets = OffsetBuffer::new(ScalarBuffer::from(offsets));
            // SAFETY: as for `Utf8` above.
            Arc::new(unsafe { LargeStringArray::new_unchecked(offsets, values, nulls) })
        }
        // Views point into their own buffers: built row by row from the adopted values.
        _ => Arc::new(
            rows.map(|row| packed.row_in(all_values, row))
                .collect::<StringViewArray>(),
        ),
    })
}

use arrow_schema::{DataType as arrow_schema_type, FieldRef};

fn type_name(value: &Bound<'_, PyAny>) -> String {
    value
        .get_type()
        .name()
        .map_or_else(|_| "an unknown type".to_owned(), |name| name.to_string())
}
