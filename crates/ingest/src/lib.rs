//! meshscope's OTLP and Zipkin receivers: the way in for every span.
//!
//! This crate owns the wire: OTLP/gRPC (`TraceService/Export`, `MetricsService/Export`,
//! `LogsService/Export`), OTLP/HTTP (`POST /v1/traces`, `/v1/metrics`, `/v1/logs`, protobuf
//! or JSON, gzip/zstd/deflate) and Zipkin v2 (`POST /api/v2/spans`, JSON or protobuf, mapped
//! to OTLP); body limits and decompression, the OTLP/JSON decoder, reading trace requests in
//! place from their protobuf bytes (`wire.rs`), per-item validation, conversion of OTLP into
//! record batches of the `spans`, metrics and `logs` tables (via `meshscope-model`), and
//! admission control. A request is acknowledged only after
//! [`meshscope_storage::Storage::append`] has made its batch durable.
//!
//! It is the only crate that knows protobuf and OTLP. It does not know SQL, the query API or
//! how storage lays out its files, and it never depends on `meshscope-query`.
//!
//! Key types: [`Ingestor`] (the shared path; `export_traces` in `pipeline.rs`,
//! `export_metrics` and `export_logs` in `signals.rs`), [`TraceGrpcService`],
//! [`MetricsGrpcService`], [`LogsGrpcService`], [`http::router`] and [`zipkin::router`].

mod body;
mod convert;
mod convert_logs;
mod convert_metrics;
mod error;
mod grpc;
pub mod http;
pub mod otlp_json;
mod pipeline;
mod signals;
mod wire;
pub mod zipkin;

pub use body::{Encoding, decompress};
pub use convert::{Converted, traces_protobuf_to_batch, traces_to_batch};
pub use convert_logs::{ConvertedLogs, logs_to_batch};
pub use convert_metrics::{ConvertedMetrics, metrics_to_batches};
pub use error::{Error, Result};
pub use grpc::{
    GrpcSignal, LogsGrpcService, LogsSignal, MetricsGrpcService, MetricsSignal, SignalGrpcService,
    TraceGrpcService, TracesSignal,
};
pub use pipeline::{Admission, Ingestor, Limits, Protocol, SpanObserver};
pub use signals::describe_metrics;
