//! The one error type of the HTTP API: a status and a safe message, rendered as
//! `{"error": "..."}` (native API) or in Jaeger's envelope (Jaeger-compatible API).

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use meshscope_query::ErrorKind;
use serde_json::json;

/// An API error: logged with its detail, answered with safe text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// Answer in Jaeger's `{data, total, limit, offset, errors}` envelope.
    jaeger: bool,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            jaeger: false,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// The query engine or the service graph is not there yet (the server is replaying its
    /// write-ahead log, then the stored spans the graph has not counted).
    pub fn not_ready() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: replaying the write-ahead log and resuming the service graph",
        )
    }

    /// The same error in Jaeger's envelope.
    pub fn jaeger(mut self) -> Self {
        self.jaeger = true;
        self
    }

    /// The HTTP status of a query error kind: the one place the API maps them.
    pub fn status_of(kind: ErrorKind) -> StatusCode {
        match kind {
            ErrorKind::BadRequest | ErrorKind::NotAllowed => StatusCode::BAD_REQUEST,
            ErrorKind::Timeout => StatusCode::GATEWAY_TIMEOUT,
            ErrorKind::LimitExceeded => StatusCode::UNPROCESSABLE_ENTITY,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<meshscope_query::Error> for ApiError {
    fn from(error: meshscope_query::Error) -> Self {
        let status = Self::status_of(error.kind());
        if status.is_server_error() && status != StatusCode::GATEWAY_TIMEOUT {
            tracing::error!(error = %error, "query failed");
            return Self::new(
                status,
                "internal error while running the query (see the server log)",
            );
        }
        Self::new(status, error.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_client_error() {
            tracing::debug!(status = self.status.as_u16(), message = %self.message, "request refused");
        }
        let body = if self.jaeger {
            json!({
                "data": null,
                "total": 0,
                "limit": 0,
                "offset": 0,
                "errors": [{"code": self.status.as_u16(), "msg": self.message}],
            })
        } else {
            json!({ "error": self.message })
        };
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
