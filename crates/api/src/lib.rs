//! meshscope's HTTP API on the query port (16686 by default).
//!
//! This crate owns the HTTP surface that people and tools read from: health (`/healthz`,
//! `/readyz`) and self-metrics (`/metrics`, Prometheus text format). The query endpoints, the
//! Jaeger-compatible API and the web UI are added here as they land. It turns requests into
//! calls on `meshscope-query` and `meshscope-storage`; it never decodes OTLP and never writes
//! data.

mod health;

pub use health::{ApiState, router};
