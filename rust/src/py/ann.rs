//! `similarity_graph`, `select_representatives` and `best_matches` over numpy embeddings.

use super::errors::to_pyerr;
use super::numpy::{borrow_i64, matrix, vector, Embeddings};
use super::run_detached;
use crate::ann::{
    self, Assignment, CellLists, Cells, Graph, GraphOptions, Method, Probe, Quantization,
};
use crate::select::{self, Keep};
use numpy::{PyArray1, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::sync::{Mutex, PoisonError};

/// Left rows, right rows and cosines of the edges.
type Edges<'py> = (
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<f32>>,
);

/// Python's `amfast.dedup.GraphOptions`, read whole (one attribute per field).
#[derive(FromPyObject)]
pub struct GraphSettings {
    method: String,
    nprobe: usize,
    probe_margin: Option<f32>,
    cells: Option<usize>,
    k: usize,
    connectivity: usize,
    expansion_add: usize,
    expansion_search: usize,
    quantization: String,
}

impl GraphSettings {
    /// The core's options at `threshold`.
    fn graph_options(&self, py: Python<'_>, threshold: f32) -> PyResult<GraphOptions> {
        Ok(GraphOptions {
            threshold,
            method: Method::parse(&self.method).map_err(|error| to_pyerr(py, error))?,
            k: self.k,
            connectivity: self.connectivity,
            expansion_add: self.expansion_add,
            expansion_search: self.expansion_search,
            quantization: Quantization::parse(&self.quantization)
                .map_err(|error| to_pyerr(py, error))?,
            nprobe: self.nprobe,
            probe_margin: self.probe_margin,
            cells: self.cells.unwrap_or(0),
        })
    }
}

#[pyfunction]
#[pyo3(signature = (embeddings, options, *, threshold = 0.95, num_threads = None))]
pub fn similarity_graph<'py>(
    py: Python<'py>,
    embeddings: &Bound<'py, PyAny>,
    options: GraphSettings,
    threshold: f32,
    num_threads: Option<usize>,
) -> PyResult<Edges<'py>> {
    let options = options.graph_options(py, threshold)?;
    let embeddings = Embeddings::extract(embeddings, "embeddings")?;
    let matrix = embeddings.matrix("embeddings")?;
    let graph = run_detached(py, num_threads, || ann::similarity_graph(&matrix, &options))?;
    let widen = |rows: Vec<u32>| rows.into_iter().map(i64::from).collect::<Vec<_>>();
    Ok((
        vector(py, widen(graph.left)),
        vector(py, widen(graph.right)),
        vector(py, graph.similarity),
    ))
}

/// The edges as numpy arrays (row ids widened to int64, numpy's index type).
fn edges(py: Python<'_>, edges: Vec<ann::Edge>) -> Edges<'_> {
    let left = edges.iter().map(|&(left, _, _)| i64::from(left)).collect();
    let right = edges
        .iter()
        .map(|&(_, right, _)| i64::from(right))
        .collect();
    let similarity = edges.iter().map(|&(_, _, similarity)| similarity).collect();
    (vector(py, left), vector(py, right), vector(py, similarity))
}

#[pyfunction]
#[pyo3(signature = (embeddings, options, *, threshold = 0.95, assign = None, num_threads = None))]
pub fn plan_cells<'py>(
    py: Python<'py>,
    embeddings: &Bound<'py, PyAny>,
    options: GraphSettings,
    threshold: f32,
    assign: Option<Py<PyAny>>,
    num_threads: Option<usize>,
) -> PyResult<Bound<'py, PyDict>> {
    let options = options.graph_options(py, threshold)?;
    let embeddings = Embeddings::extract(embeddings, "embeddings")?;
    let matrix = embeddings.matrix("embeddings")?;
    // The callback's own exception, raised again as it was once the core has stopped.
    let raised: Mutex<Option<PyErr>> = Mutex::new(None);
    let planned = run_detached(py, num_threads, || match &assign {
        None => ann::plan_cells(&matrix, &options),
        Some(assign) => ann::plan_cells_with(&matrix, &options, &mut |rows, centroids, probe| {
            Python::attach(|py| call_assign(py, assign, rows, centroids, matrix.dim(), probe))
                .map_err(|error| {
                    *raised.lock().unwrap_or_else(PoisonError::into_inner) = Some(error);
                    crate::error::Error::invalid("assign raised")
                })
        }),
    });
    if let Some(error) = raised.into_inner().unwrap_or_else(PoisonError::into_inner) {
        return Err(error);
    }
    let plan = planned?;
    // A Vec's length is at most isize::MAX, so every offset fits in i64.
    let offsets = |offsets: Vec<usize>| {
        let widened: Vec<i64> = offsets
            .into_iter()
            .map(|offset| i64::try_from(offset).unwrap_or(i64::MAX))
            .collect();
        vector(py, widened)
    };
    let rows = |rows: Vec<u32>| vector(py, rows.into_iter().map(i64::from).collect());
    let (copy_left, copy_right, _) = edges(py, plan.copies);
    let out = PyDict::new(py);
    out.set_item("copy_left", copy_left)?;
    out.set_item("copy_right", copy_right)?;
    out.set_item("primary_offsets", offsets(plan.cells.primary.offsets))?;
    out.set_item("primary_rows", rows(plan.cells.primary.rows))?;
    out.set_item("probe_offsets", offsets(plan.cells.probes.offsets))?;
    out.set_item("probe_rows", rows(plan.cells.probes.rows))?;
    Ok(out)
}

/// `assign(rows, centroids, nprobe, probe_margin)` -> `(primary, extra, counts)`, checked.
fn call_assign(
    py: Python<'_>,
    assign: &Py<PyAny>,
    rows: &[u32],
    centroids: &[f32],
    dim: usize,
    probe: Probe,
) -> PyResult<Assignment> {
    let cells = centroids.len() / dim;
    let row_ids = vector(py, rows.iter().map(|&row| i64::from(row)).collect());
    let centroid_rows = matrix(py, centroids.to_vec(), dim)?;
    let found = assign.call1(py, (row_ids, centroid_rows, probe.nprobe, probe.margin))?;
    let (primary, extra, counts): (
        PyReadonlyArray1<'_, i64>,
        PyReadonlyArray1<'_, i64>,
        PyReadonlyArray1<'_, i64>,
    ) = found.extract(py).map_err(|_| {
        PyTypeError::new_err("assign must return (primary, extra, counts) as int64 numpy arrays")
    })?;
    let cell_ids = |array: &PyReadonlyArray1<'_, i64>, name: &str| -> PyResult<Vec<u32>> {
        rows_u32(py, borrow_i64(array)?, name)
    };
    Assignment::from_parts(
        cell_ids(&primary, "primary")?,
        cell_ids(&extra, "extra")?,
        cell_ids(&counts, "counts")?,
        rows.len(),
        cells,
    )
    .map_err(|error| to_pyerr(py, error))
}

/// Per row its nearest cell, the further cells it probes (all rows' in a row), and their counts.
type AssignedCells<'py> = (
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<i64>>,
    Bound<'py, PyArray1<i64>>,
);

#[pyfunction]
#[pyo3(signature = (embeddings, rows, centroids, *, nprobe, probe_margin, num_threads = None))]
pub fn assign_cells<'py>(
    py: Python<'py>,
    embeddings: &Bound<'py, PyAny>,
    rows: PyReadonlyArray1<'py, i64>,
    centroids: PyReadonlyArray2<'py, f32>,
    nprobe: usize,
    probe_margin: f32,
    num_threads: Option<usize>,
) -> PyResult<AssignedCells<'py>> {
    let embeddings = Embeddings::extract(embeddings, "embeddings")?;
    let matrix = embeddings.matrix("embeddings")?;
    let rows = rows_u32(py, borrow_i64(&rows)?, "rows")?;
    let centroids = centroids
        .as_slice()
        .map_err(|_| PyValueError::new_err("centroids must be a C-contiguous float32 array"))?;
    let probe = Probe {
        nprobe,
        margin: probe_margin,
    };
    let assigned = run_detached(py, num_threads, || {
        crate::kmeans::assign_rows(&matrix, &rows, centroids, probe)
    })?;
    let widen = |cells: Vec<u32>| vector(py, cells.into_iter().map(i64::from).collect());
    Ok((
        widen(assigned.primary),
        widen(assigned.extra),
        widen(assigned.counts),
    ))
}

/// Cell lists from numpy offsets and row ids (named in errors).
fn cell_lists(
    py: Python<'_>,
    offsets: &PyReadonlyArray1<'_, i64>,
    rows: &PyReadonlyArray1<'_, i64>,
    name: &str,
) -> PyResult<CellLists> {
    let offsets = borrow_i64(offsets)?
        .iter()
        .map(|&offset| {
            usize::try_from(offset).map_err(|_| {
                to_pyerr(
                    py,
                    crate::error::Error::invalid(format!("{name} offset {offset} is negative")),
                )
            })
        })
        .collect::<PyResult<Vec<_>>>()?;
    let rows = rows_u32(py, borrow_i64(rows)?, name)?;
    CellLists::from_parts(offsets, rows)
        .map_err(|error| to_pyerr(py, crate::error::Error::invalid(format!("{name}: {error}"))))
}

#[pyfunction]
#[pyo3(signature = (
    embeddings, primary_offsets, primary_rows, probe_offsets, probe_rows, *, threshold = 0.95,
    num_threads = None
))]
#[allow(clippy::too_many_arguments)]
pub fn cell_pairs<'py>(
    py: Python<'py>,
    embeddings: &Bound<'py, PyAny>,
    primary_offsets: PyReadonlyArray1<'py, i64>,
    primary_rows: PyReadonlyArray1<'py, i64>,
    probe_offsets: PyReadonlyArray1<'py, i64>,
    probe_rows: PyReadonlyArray1<'py, i64>,
    threshold: f32,
    num_threads: Option<usize>,
) -> PyResult<Edges<'py>> {
    let cells = Cells {
        primary: cell_lists(py, &primary_offsets, &primary_rows, "primary")?,
        probes: cell_lists(py, &probe_offsets, &probe_rows, "probe")?,
    };
    let embeddings = Embeddings::extract(embeddings, "embeddings")?;
    let matrix = embeddings.matrix("embeddings")?;
    let found = run_detached(py, num_threads, || {
        ann::cell_pairs(&matrix, &cells, threshold)
    })?;
    Ok(edges(py, found))
}

fn rows_u32(py: Python<'_>, rows: &[i64], name: &str) -> PyResult<Vec<u32>> {
    rows.iter()
        .map(|&row| {
            u32::try_from(row).map_err(|_| {
                to_pyerr(
                    py,
                    crate::error::Error::invalid(format!("{name} holds an invalid row id {row}")),
                )
            })
        })
        .collect()
}

#[pyfunction]
#[pyo3(signature = (embeddings, left, right, similarity, *, priority = None, keep = "greedy", num_threads = None))]
#[allow(clippy::too_many_arguments)]
pub fn select_representatives<'py>(
    py: Python<'py>,
    embeddings: &Bound<'py, PyAny>,
    left: PyReadonlyArray1<'py, i64>,
    right: PyReadonlyArray1<'py, i64>,
    similarity: PyReadonlyArray1<'py, f32>,
    priority: Option<PyReadonlyArray1<'py, i64>>,
    keep: &str,
    num_threads: Option<usize>,
) -> PyResult<Bound<'py, PyDict>> {
    let keep = Keep::parse(keep).map_err(|error| to_pyerr(py, error))?;
    let embeddings = Embeddings::extract(embeddings, "embeddings")?;
    let matrix = embeddings.matrix("embeddings")?;
    let graph = Graph {
        left: rows_u32(py, borrow_i64(&left)?, "left")?,
        right: rows_u32(py, borrow_i64(&right)?, "right")?,
        similarity: similarity.as_slice()?.to_vec(),
    };
    let priority = priority.as_ref().map(borrow_i64).transpose()?;
    let selection = run_detached(py, num_threads, || {
        select::select_by_cosine(&matrix, &graph, priority, keep)
    })?;
    let out = PyDict::new(py);
    out.set_item("cluster", vector(py, selection.cluster))?;
    out.set_item("representative", vector(py, selection.representative))?;
    out.set_item("similarity", vector(py, selection.similarity))?;
    Ok(out)
}

/// Nearest base row and cosine per query.
type Nearest<'py> = (Bound<'py, PyArray1<i64>>, Bound<'py, PyArray1<f32>>);

#[pyfunction]
#[pyo3(signature = (queries, base, *, num_threads = None))]
pub fn best_matches<'py>(
    py: Python<'py>,
    queries: &Bound<'py, PyAny>,
    base: &Bound<'py, PyAny>,
    num_threads: Option<usize>,
) -> PyResult<Nearest<'py>> {
    let queries = Embeddings::extract(queries, "queries")?;
    let base = Embeddings::extract(base, "base")?;
    let (queries, base) = (queries.matrix("queries")?, base.matrix("base")?);
    let (index, similarity) = run_detached(py, num_threads, || ann::best_matches(&queries, &base))?;
    Ok((vector(py, index), vector(py, similarity)))
}
