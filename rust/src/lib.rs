//! amfast core: normalization, hashing, MinHash-LSH near-dedup, exact dedup, quality
//! metrics, the embedding similarity graph (usearch) and the decontamination n-gram index.
//!
//! The algorithm modules take plain slices and return [`error::Result`]; only this file and
//! [`py`] know about Python (feature `python`, on by default).

// Tests may unwrap: a panic there is a failed test, not a crash reaching users.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod ann;
pub mod ascii_words;
pub mod bucket_sort;
pub mod content_words;
pub mod dedup;
pub mod error;
pub mod hashing;
pub mod kmeans;
pub mod lsh;
pub mod minhash;
pub mod ngram_index;
pub mod normalize;
pub mod parallel;
pub mod quality;
pub mod select;
pub mod shingle;
pub mod unionfind;
pub mod vectors;

#[cfg(feature = "python")]
mod py;

#[cfg(feature = "python")]
use pyo3::prelude::*;

#[cfg(feature = "python")]
#[pymodule]
fn _core(module: &Bound<'_, PyModule>) -> PyResult<()> {
    // numpy's C API is otherwise loaded on the first array a call returns, which runs Python
    // code mid-job: a Ctrl-C landing there made the numpy crate panic instead of exiting 130.
    numpy::PyArray1::<u8>::zeros(module.py(), 0, false);
    py::errors::register(module)?;
    module.add_function(wrap_pyfunction!(py::normalize::normalize, module)?)?;
    module.add_function(wrap_pyfunction!(py::dedup::choose_bands, module)?)?;
    module.add_function(wrap_pyfunction!(py::dedup::candidate_probability, module)?)?;
    module.add_class::<py::dedup::PyExactIndex>()?;
    module.add_class::<py::dedup::PyNearIndex>()?;
    module.add_function(wrap_pyfunction!(py::dedup::number_keys, module)?)?;
    module.add_function(wrap_pyfunction!(py::dedup::connected_components, module)?)?;
    module.add_function(wrap_pyfunction!(py::embed::text_keys, module)?)?;
    module.add_function(wrap_pyfunction!(py::quality::quality_metrics, module)?)?;
    module.add_function(wrap_pyfunction!(py::quality::row_ngram_hashes, module)?)?;
    module.add_function(wrap_pyfunction!(
        py::quality::count_frequent_ngrams,
        module
    )?)?;
    module.add_class::<py::quality::PyNgramCounter>()?;
    module.add_function(wrap_pyfunction!(py::ann::similarity_graph, module)?)?;
    module.add_function(wrap_pyfunction!(py::ann::plan_cells, module)?)?;
    module.add_function(wrap_pyfunction!(py::ann::cell_pairs, module)?)?;
    module.add_function(wrap_pyfunction!(py::ann::assign_cells, module)?)?;
    module.add_function(wrap_pyfunction!(py::ann::select_representatives, module)?)?;
    module.add_function(wrap_pyfunction!(py::ann::best_matches, module)?)?;
    module.add_class::<py::decontam::PyNgramIndex>()?;
    module.add("HASH_SPEC", hashing::HASH_SPEC)?;
    module.add("MINHASH_SPEC", minhash::MINHASH_SPEC)?;
    module.add("SHINGLE_SPEC", dedup::SHINGLE_SPEC)?;
    module.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
