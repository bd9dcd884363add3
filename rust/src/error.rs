//! Core error type: every data error carries the row it happened on, so the Python layer can
//! report `row 1234: <problem>` and expose `.row` on the exception. No pyo3 here or below.

/// What went wrong in the core, with enough context to name the row.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A single input row is unusable (null where text is required, out-of-range value...).
    #[error("row {row}: {reason}")]
    Row { row: u64, reason: String },
    /// The call's arguments are inconsistent (bad threshold, wrong lengths, wrong call order).
    #[error("{0}")]
    InvalidArgument(String),
}

impl Error {
    pub fn row(row: usize, reason: impl Into<String>) -> Self {
        Self::Row {
            row: row as u64,
            reason: reason.into(),
        }
    }

    pub fn invalid(reason: impl Into<String>) -> Self {
        Self::InvalidArgument(reason.into())
    }
}

pub type Result<T> = std::result::Result<T, Error>;
