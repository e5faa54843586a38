//! Ingest errors, and the one place that maps them to HTTP statuses and gRPC codes.

use std::time::Duration;

use meshscope_storage::Error as StorageError;

/// Why a request was not accepted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The body could not be decoded (bad protobuf, JSON or compression).
    #[error("{0}")]
    InvalidArgument(String),
    /// The body (compressed or decompressed) is over the configured limit.
    #[error("{0}")]
    TooLarge(String),
    /// The request's content type or encoding is not one OTLP/HTTP uses.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The server is over its memory or WAL limits; the client should retry later.
    #[error("{reason}; retry after {}s", retry_after_secs(*.retry_after))]
    Overloaded {
        reason: String,
        retry_after: Duration,
    },
    /// Storage failed to make the batch durable.
    #[error("storage: {0}")]
    Storage(#[from] meshscope_storage::Error),
    #[error("internal: {0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Whole seconds for a `Retry-After` header: rounded up, at least one.
pub fn retry_after_secs(d: Duration) -> u64 {
    d.as_secs_f64().ceil().max(1.0) as u64
}

impl Error {
    /// The HTTP status OTLP/HTTP answers with.
    pub fn http_status(&self) -> http::StatusCode {
        use http::StatusCode as S;
        match self {
            Error::InvalidArgument(_) => S::BAD_REQUEST,
            Error::TooLarge(_) => S::PAYLOAD_TOO_LARGE,
            Error::UnsupportedMediaType(_) => S::UNSUPPORTED_MEDIA_TYPE,
            Error::Overloaded { .. } => S::SERVICE_UNAVAILABLE,
            Error::Storage(StorageError::Backpressure { .. }) => S::SERVICE_UNAVAILABLE,
            Error::Storage(_) | Error::Internal(_) => S::INTERNAL_SERVER_ERROR,
        }
    }

    /// The gRPC code OTLP/gRPC answers with.
    pub fn grpc_code(&self) -> tonic::Code {
        use tonic::Code as C;
        match self {
            Error::InvalidArgument(_) | Error::UnsupportedMediaType(_) => C::InvalidArgument,
            Error::TooLarge(_) => C::ResourceExhausted,
            Error::Overloaded { .. } => C::Unavailable,
            Error::Storage(StorageError::Backpressure { .. }) => C::Unavailable,
            Error::Storage(_) | Error::Internal(_) => C::Internal,
        }
    }

    /// How long the client should wait before retrying, for retryable errors.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Overloaded { retry_after, .. } => Some(*retry_after),
            Error::Storage(StorageError::Backpressure { retry_after }) => Some(*retry_after),
            _ => None,
        }
    }

    /// A short label for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::InvalidArgument(_) => "invalid",
            Error::TooLarge(_) => "too_large",
            Error::UnsupportedMediaType(_) => "unsupported_media_type",
            Error::Overloaded { .. } => "overloaded",
            Error::Storage(StorageError::Backpressure { .. }) => "overloaded",
            Error::Storage(_) => "storage",
            Error::Internal(_) => "internal",
        }
    }

    /// The error as a gRPC status; retryable ones carry `RetryInfo`.
    pub fn to_grpc_status(&self) -> tonic::Status {
        use tonic_types::{ErrorDetails, StatusExt};
        let message = self.to_string();
        match self.retry_after() {
            Some(delay) => tonic::Status::with_error_details(
                self.grpc_code(),
                message,
                ErrorDetails::with_retry_info(Some(delay)),
            ),
            None => tonic::Status::new(self.grpc_code(), message),
        }
    }
}
