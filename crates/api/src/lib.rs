//! meshscope's HTTP API on the query port (16686 by default).
//!
//! This crate owns the HTTP surface that people and tools read from:
//!
//! - health (`/healthz`, `/readyz`) and self-metrics (`/metrics`, Prometheus text format);
//! - the native query API (`/api/v1/traces/{id}` as OTLP/JSON, `/api/v1/search`,
//!   `/api/v1/services`, `/api/v1/services/{service}/operations`, `POST /api/v1/sql` with JSON,
//!   CSV or Arrow IPC answers), in `native` and `sql`;
//! - the Jaeger-compatible API (`/api/services`, `/api/operations`, `/api/traces`, …) that
//!   Grafana's Jaeger data source and Jaeger UI call, in `jaeger` and `jaeger_model`.
//!
//! It turns requests into calls on `meshscope-query` and renders the answers; it is the only
//! crate that knows HTTP and JSON. It never decodes OTLP and never writes data. Every error
//! goes through [`ApiError`] (`{"error": "..."}`, or Jaeger's envelope on Jaeger routes).

mod error;
mod graph;
mod health;
mod jaeger;
mod jaeger_model;
mod native;
mod otlp_json;
mod params;
mod signals;
mod sql;
mod ui;

#[cfg(test)]
mod api_tests;

use axum::Router;

pub use error::{ApiError, ApiResult};
pub use graph::{AggregateSource, LoadedAggregates};
pub use health::ApiState;
pub use params::{parse_duration_ns, parse_epoch_us_or_ms, parse_time_ns};
pub use sql::{ARROW_STREAM, arrow_bytes, csv_bytes, json_rows};

/// Every route of the query port.
pub fn router(state: ApiState) -> Router {
    Router::new()
        .merge(health::routes())
        .merge(native::routes())
        .merge(signals::routes())
        .merge(jaeger::routes())
        .merge(graph::routes())
        .merge(ui::routes())
        .with_state(state)
}
