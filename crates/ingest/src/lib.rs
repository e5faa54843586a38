//! meshscope's OTLP receivers: the way in for every span.
//!
//! This crate owns the wire: OTLP/gRPC (`TraceService/Export`) and OTLP/HTTP (`POST
//! /v1/traces`, protobuf or JSON, gzip/zstd/deflate), body limits and decompression, the
//! OTLP/JSON decoder, per-span validation, conversion of OTLP into `spans` record batches
//! (via `meshscope-model`), and admission control. A request is acknowledged only after
//! [`meshscope_storage::Storage::append`] has made its batch durable.
//!
//! It is the only crate that knows protobuf and OTLP. It does not know SQL, the query API or
//! how storage lays out its files, and it never depends on `meshscope-query`.
//!
//! Key types: [`Ingestor`] (the shared path), [`TraceGrpcService`] and [`http::router`].

mod body;
mod convert;
mod error;
mod grpc;
pub mod http;
pub mod otlp_json;
mod pipeline;

pub use body::{Encoding, decompress};
pub use convert::{Converted, traces_to_batch};
pub use error::{Error, Result};
pub use grpc::TraceGrpcService;
pub use pipeline::{Admission, Ingestor, Limits, Protocol};
