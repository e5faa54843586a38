//! Errors of the data model.

/// Errors raised while building record batches.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    /// Rows that lack a column, or hold one of another type, than the operation needs.
    #[error("unexpected schema: {0}")]
    Schema(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
