//! meshscope's data model: the tables it stores and how a span becomes an Arrow row.
//!
//! This crate owns the `spans` schema (column names are public SQL API), the attributes
//! promoted to typed columns, and the display and typed-JSON forms of attribute values. It is
//! the bottom layer: every other crate may use it, and it does no I/O and knows nothing of
//! OTLP, protobuf, HTTP, the WAL or Parquet files. Receivers translate their wire formats
//! into [`SpanInput`]s; [`SpanBatchBuilder`] turns those into record batches of
//! [`spans::schema`].
//!
//! The metrics tables (`metric_points`, `metric_histograms`, `metric_exp_histograms`,
//! `metric_summaries`, in [`metrics`]) and the `logs` table ([`logs`]) follow the same
//! conventions (hex ids, UTC nanosecond times, attribute maps with their types, resource and
//! scope columns); [`signal`] holds what they share.

mod error;
pub mod logs;
pub mod metrics;
pub mod promote;
pub mod signal;
pub mod spans;
pub mod value;

pub use error::{Error, Result};
pub use logs::{LogBatchBuilder, LogInput};
pub use metrics::{
    ExemplarInput, ExpHistogramBuilder, ExpHistogramInput, HistogramBuilder, HistogramInput,
    MetricContext, Number, NumberKind, NumberPointBuilder, PointInput, SummaryBuilder,
    SummaryInput, Temporality,
};
pub use promote::{PromotedType, Promotion, RESOURCE_PROMOTIONS, SPAN_PROMOTIONS};
pub use signal::SignalResource;
pub use spans::{
    BatchHint, EventInput, LinkInput, ResourceContext, ScopeContext, SpanBatchBuilder, SpanInput,
    SpanKind, StatusCode,
};
pub use value::Value;
