//! Health and self-metrics endpoints.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use meshscope_query::QueryEngine;

use crate::error::ApiError;
use crate::graph::AggregateSource;

/// What the API needs from the running server.
#[derive(Clone)]
pub struct ApiState {
    /// Turns true once the write-ahead log is replayed and the receivers accept data.
    pub ready: Arc<AtomicBool>,
    /// Renders the self-metrics in Prometheus text format.
    pub render_metrics: Arc<dyn Fn() -> String + Send + Sync>,
    /// The query engine, set once storage is open (query endpoints answer 503 until then).
    pub query: Arc<OnceLock<QueryEngine>>,
    /// The service graph's aggregates, set once the aggregation has resumed (graph and RED
    /// endpoints answer 503 until then).
    pub aggregates: Arc<OnceLock<Arc<dyn AggregateSource>>>,
}

impl ApiState {
    /// The query engine, or a 503 while the server is still replaying its write-ahead log.
    pub fn engine(&self) -> Result<&QueryEngine, ApiError> {
        self.query.get().ok_or_else(ApiError::not_ready)
    }

    /// The aggregate source, or a 503 while the server is still starting.
    pub fn aggregates(&self) -> Result<&Arc<dyn AggregateSource>, ApiError> {
        self.aggregates.get().ok_or_else(ApiError::not_ready)
    }
}

/// The health and self-metrics routes.
pub(crate) fn routes() -> Router<ApiState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn readyz(State(state): State<ApiState>) -> Response {
    if state.ready.load(Ordering::Acquire) {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: replaying the write-ahead log and resuming the service graph\n",
        )
            .into_response()
    }
}

async fn metrics(State(state): State<ApiState>) -> Response {
    let body = (state.render_metrics)();
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router;
    use axum::body::Body;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    fn state(ready: bool) -> ApiState {
        ApiState {
            ready: Arc::new(AtomicBool::new(ready)),
            render_metrics: Arc::new(|| "meshscope_up 1\n".to_owned()),
            query: Arc::default(),
            aggregates: Arc::default(),
        }
    }

    async fn get(state: ApiState, path: &str) -> (StatusCode, String) {
        let response = router(state)
            .oneshot(
                axum::http::Request::get(path)
                    .body(Body::empty())
                    .expect("request"),
            )
            .await
            .expect("response");
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn health_readiness_and_metrics() {
        assert_eq!(
            get(state(false), "/healthz").await,
            (StatusCode::OK, "ok\n".into())
        );
        let (status, body) = get(state(false), "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body.contains("replaying the write-ahead log"));
        assert_eq!(get(state(true), "/readyz").await.0, StatusCode::OK);
        assert_eq!(
            get(state(true), "/metrics").await,
            (StatusCode::OK, "meshscope_up 1\n".into())
        );
    }
}
