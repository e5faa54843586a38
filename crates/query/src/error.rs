//! The crate's one error type, and the kinds the API maps to HTTP statuses.

use std::time::Duration;

use datafusion::error::DataFusionError;

/// What went wrong with a query, in a form callers can map to a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The request is malformed or names something that does not exist (HTTP 400).
    BadRequest,
    /// The statement is valid SQL but not allowed in the read-only sandbox (HTTP 400).
    NotAllowed,
    /// The query ran longer than its time limit (HTTP 504).
    Timeout,
    /// The query needed more memory, or produced a larger result, than allowed (HTTP 422).
    LimitExceeded,
    /// The engine or storage failed (HTTP 500).
    Internal,
}

/// Everything that can go wrong in a query.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A parameter or query text is invalid.
    #[error("{0}")]
    InvalidRequest(String),

    /// The statement is refused by the read-only sandbox.
    #[error("{0}")]
    NotAllowed(String),

    /// The query was cancelled at its time limit; its memory is released.
    #[error("query timed out after {}", humanize(*.0))]
    Timeout(Duration),

    /// An operator could not reserve memory under the per-query limit.
    #[error("query exceeded its memory limit of {limit_bytes} bytes: {detail}")]
    MemoryLimit { limit_bytes: usize, detail: String },

    /// The result is larger than a response may be.
    #[error(
        "query result exceeds {limit_bytes} bytes; add a LIMIT, select fewer columns or aggregate"
    )]
    ResultTooLarge { limit_bytes: usize },

    /// DataFusion refused or failed the query.
    #[error("{0}")]
    DataFusion(#[from] DataFusionError),

    /// Reading the table snapshot failed.
    #[error("storage: {0}")]
    Storage(#[from] meshscope_storage::Error),

    /// A query task panicked or its runtime is gone.
    #[error("query task failed: {0}")]
    Task(String),

    /// A stored value could not be decoded (a damaged or foreign file).
    #[error("cannot decode stored spans: {0}")]
    Decode(String),
}

impl Error {
    /// The kind of failure, for status mapping.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidRequest(_) => ErrorKind::BadRequest,
            Error::NotAllowed(_) => ErrorKind::NotAllowed,
            Error::Timeout(_) => ErrorKind::Timeout,
            Error::MemoryLimit { .. } | Error::ResultTooLarge { .. } => ErrorKind::LimitExceeded,
            Error::DataFusion(e) => datafusion_kind(e),
            Error::Storage(_) | Error::Task(_) | Error::Decode(_) => ErrorKind::Internal,
        }
    }
}

fn datafusion_kind(error: &DataFusionError) -> ErrorKind {
    // Simplification evaluates the query's constant expressions: when it fails, the query's
    // own values are invalid (a regex that does not compile, a literal that does not cast).
    let mut link = error;
    while let DataFusionError::Context(context, inner) = link {
        if context.starts_with("Optimizer rule 'simplify_expressions'") {
            return ErrorKind::BadRequest;
        }
        link = inner;
    }
    match error.find_root() {
        DataFusionError::SQL(..)
        | DataFusionError::Plan(_)
        | DataFusionError::SchemaError(..)
        | DataFusionError::NotImplemented(_)
        | DataFusionError::Configuration(_)
        | DataFusionError::Execution(_)
        | DataFusionError::ArrowError(..) => ErrorKind::BadRequest,
        DataFusionError::ResourcesExhausted(_) => ErrorKind::LimitExceeded,
        _ => ErrorKind::Internal,
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `1.5s`, `250ms`: the way limits read in messages.
pub(crate) fn humanize(d: Duration) -> String {
    if d.as_millis() < 1000 {
        format!("{}ms", d.as_millis())
    } else if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{:.3}s", d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_messages() {
        let e = Error::Timeout(Duration::from_millis(1500));
        assert_eq!(e.to_string(), "query timed out after 1.500s");
        assert_eq!(e.kind(), ErrorKind::Timeout);
        assert_eq!(
            Error::Timeout(Duration::from_secs(30)).to_string(),
            "query timed out after 30s"
        );
        let plan = Error::DataFusion(DataFusionError::Plan("no such column".into()));
        assert_eq!(plan.kind(), ErrorKind::BadRequest);
        let wrapped = Error::DataFusion(DataFusionError::Context(
            "while planning".into(),
            Box::new(DataFusionError::Internal("bug".into())),
        ));
        assert_eq!(wrapped.kind(), ErrorKind::Internal);
        let simplify = Error::DataFusion(DataFusionError::Context(
            "Optimizer rule 'simplify_expressions' failed".into(),
            Box::new(DataFusionError::External("regex parse error".into())),
        ));
        assert_eq!(simplify.kind(), ErrorKind::BadRequest);
        assert_eq!(
            Error::ResultTooLarge { limit_bytes: 10 }.kind(),
            ErrorKind::LimitExceeded
        );
    }
}
