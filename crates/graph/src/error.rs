//! The crate's one error type.

/// Everything that can go wrong in the graph crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An [`AggregatorConfig`](crate::AggregatorConfig) value is not usable.
    #[error("invalid graph configuration: {0}")]
    InvalidConfig(String),

    /// A record batch lacks a column the operation needs.
    #[error("missing column {column:?}")]
    MissingColumn { column: String },

    /// A column has a type the operation cannot read.
    #[error("column {column:?} has type {found}, expected {expected}")]
    ColumnType {
        column: String,
        expected: &'static str,
        found: String,
    },

    /// A serialized latency sketch is damaged or of an unknown version.
    #[error("corrupt latency sketch: {0}")]
    CorruptSketch(String),

    /// A query-side helper was given an unusable range, step or filter.
    #[error("invalid query: {0}")]
    InvalidQuery(String),

    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
