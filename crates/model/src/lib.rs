//! meshscope's data model: the tables it stores and how a span becomes an Arrow row.
//!
//! This crate owns the `spans` schema (column names are public SQL API), the attributes
//! promoted to typed columns, and the display and typed-JSON forms of attribute values. It is
//! the bottom layer: every other crate may use it, and it does no I/O and knows nothing of
//! OTLP, protobuf, HTTP, the WAL or Parquet files. Receivers translate their wire formats
//! into [`SpanInput`]s; [`SpanBatchBuilder`] turns those into record batches of
//! [`spans::schema`].

mod error;
pub mod promote;
pub mod spans;
pub mod value;

pub use error::{Error, Result};
pub use promote::{PromotedType, Promotion, RESOURCE_PROMOTIONS, SPAN_PROMOTIONS};
pub use spans::{
    EventInput, LinkInput, ResourceContext, ScopeContext, SpanBatchBuilder, SpanInput, SpanKind,
    StatusCode,
};
pub use value::Value;
