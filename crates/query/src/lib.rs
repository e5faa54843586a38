//! meshscope's query engine: DataFusion over everything stored, the head and the Parquet
//! partitions, read-only.
//!
//! # Where it sits
//! `storage` → **`query`** → `api`. It reads [`meshscope_storage::TableSnapshot`]s (one per
//! query, so a flush in progress never shows a row twice or not at all) and never writes.
//! It knows nothing of HTTP or JSON: the API renders what it returns.
//!
//! # Key types
//! - [`QueryEngine`]: the engine, with its own tokio runtime (queries never run on the threads
//!   serving ingest) and per-query limits ([`QueryConfig`]: timeout, memory, result size,
//!   concurrency).
//! - [`SnapshotTable`]: the `spans` table over one snapshot; time predicates prune files and
//!   head batches before planning, and DataFusion's Parquet reader prunes row groups by
//!   statistics and bloom filters (a `trace_id` lookup reads one row group per file that may
//!   hold it), pages by the page index, and rows while decoding. Filters on map lookups
//!   (`attributes['k'] = …`) skip the row groups and head batches that hold no such key
//!   ([`KeyRequirements`]).
//! - SQL ([`QueryEngine::sql`]) in a read-only sandbox: SELECT / EXPLAIN / SHOW / DESCRIBE
//!   only; no DDL, DML, COPY or external tables; no table functions; no file access.
//! - Traces: [`QueryEngine::trace`] (by id), [`QueryEngine::search`] ([`SearchQuery`] →
//!   [`TraceSummary`]), [`QueryEngine::search_traces`], [`QueryEngine::services`],
//!   [`QueryEngine::operations`]; spans come back as [`SpanRecord`]s with typed attributes.
//!   The rows of known trace ids are read without planning a query (`lookup`): the key index
//!   names the row groups, the page index the pages, a row filter the rows.
//! - Metrics and logs ([`QueryEngine::metric_rate`], [`QueryEngine::metric_quantile`],
//!   [`QueryEngine::trace_logs`]): a counter's rate over a window with resets handled, a
//!   quantile from histogram buckets, the log records of a trace.
//! - [`QueryStats`]: what a query read (files, row groups pruned, bytes scanned).

// tests may unwrap; the library itself is checked without this in the non-test build
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod config;
mod engine;
mod error;
mod lookup;
mod map_keys;
mod operations;
mod provider;
mod sandbox;
mod search;
mod signals;
mod stats;
mod trace;

#[cfg(test)]
mod engine_tests;
#[cfg(test)]
mod slt;
#[cfg(test)]
mod test_data;

pub use config::QueryConfig;
pub use engine::{QueryEngine, QueryOutput, describe_metrics};
pub use error::{Error, ErrorKind, Result};
pub use map_keys::{KeyRequirements, MapKey};
pub use operations::Operation;
pub use provider::{ScanChoice, SnapshotTable, TimeBounds};
pub use search::{
    AttributeFilter, MAX_SEARCH_LIMIT, MatchOp, SearchQuery, ServiceSpans, TRACE_SPREAD_NS,
    TraceSummary, attribute_predicate, normalize_trace_id,
};
pub use signals::{LogRecord, MetricQuantile, MetricRate, MetricSelector, SeriesRate, decode_logs};
pub use stats::{QueryStats, ScanStats};
pub use trace::{
    AttrValue, Attributes, EventRecord, LinkRecord, PlainJson, SPAN_COLUMNS, SpanRecord,
    decode_spans, parse_typed_json, parse_typed_json_object,
};
