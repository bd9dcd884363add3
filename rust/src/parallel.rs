//! Explicit thread counts: every parallel entry point takes `num_threads` (None = all cores)
//! instead of reading globals or environment variables.

use crate::error::{Error, Result};

/// Runs `work` on a rayon pool of `num_threads` threads (`None` or 0: rayon's global pool).
pub fn install<T: Send>(num_threads: Option<usize>, work: impl FnOnce() -> T + Send) -> Result<T> {
    match num_threads {
        None | Some(0) => Ok(work()),
        Some(threads) => rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map(|pool| pool.install(work))
            .map_err(|error| Error::invalid(format!("cannot start {threads} threads: {error}"))),
    }
}
