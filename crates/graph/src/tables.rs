//! The aggregate tables: names, column names, Arrow schemas and storage descriptors.
//!
//! Both tables hold one row per closed minute and key. Their names and column names are public
//! SQL API, like those of `spans`.
//!
//! ## `span_metrics` — RED per minute, service, operation and span kind
//! | column | type | meaning |
//! |---|---|---|
//! | `minute` | Timestamp(ns, UTC) | start of the minute of the spans' `start_time` |
//! | `service_name` | Utf8 | the span's service |
//! | `name` | Utf8 | the span name (the operation) |
//! | `kind` | Utf8 | `server`, `client`, `producer`, `consumer`, `internal`, `unspecified` |
//! | `calls` | Int64 | spans |
//! | `errors` | Int64 | spans with status `error`, or server spans with HTTP status ≥ 500 or a gRPC status other than 0 |
//! | `duration_sum_ns` | Int64 | sum of `duration_ns` (saturating) |
//! | `duration_min_ns` | Int64 | smallest `duration_ns` |
//! | `duration_max_ns` | Int64 | largest `duration_ns` |
//! | `duration_sketch` | Binary | [`LatencySketch`](crate::LatencySketch) of `duration_ns`, format v1 |
//!
//! ## `service_edges` — calls between services per minute
//! | column | type | meaning |
//! |---|---|---|
//! | `minute` | Timestamp(ns, UTC) | start of the minute of the calling (client / producer) span's `start_time` |
//! | `parent` | Utf8 | the calling service |
//! | `child` | Utf8 | the called service, or a virtual node's name |
//! | `child_type` | Utf8 | `service`, `database`, `queue` or `external` |
//! | `calls` | Int64 | calls (one per client / producer span, or per server child of it) |
//! | `errors` | Int64 | calls where either half is an error (client: status `error`; server: as in `span_metrics`) |
//! | `unpaired` | Int64 | calls seen from the calling side only (the row's `child` came from the client span's attributes) |
//! | `duration_sum_ns`, `duration_min_ns`, `duration_max_ns`, `duration_sketch` | | of the calling span's duration, as in `span_metrics` |
//!
//! Rows of one minute are unique per (`service_name`, `name`, `kind`) and per (`parent`,
//! `child`, `child_type`). Summing `calls` over any set of rows is meaningful; percentiles come
//! from merging `duration_sketch`es.
//!
//! ## `span_metrics_hourly`, `service_edges_hourly` — hourly rollups
//! The same columns with `hour` (start of the UTC hour) instead of `minute`: one row per key
//! and hour, the merge of that hour's minute rows (see [`rollup_hour`](crate::rollup_hour)).
//! Questions over days read these (24 rows per key and day instead of 1,440); the query-side
//! helpers use an hour's rollup rows when present and its minute rows otherwise.

use std::sync::{Arc, OnceLock};

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// Name of the RED table.
pub const SPAN_METRICS: &str = "span_metrics";
/// Name of the edge table.
pub const SERVICE_EDGES: &str = "service_edges";
/// Name of the hourly rollup of `span_metrics`.
pub const SPAN_METRICS_HOURLY: &str = "span_metrics_hourly";
/// Name of the hourly rollup of `service_edges`.
pub const SERVICE_EDGES_HOURLY: &str = "service_edges_hourly";

/// One minute in nanoseconds: the aggregation step.
pub const MINUTE_NS: i64 = 60_000_000_000;
/// One hour in nanoseconds: the rollup step.
pub const HOUR_NS: i64 = 60 * MINUTE_NS;

/// Column names of `span_metrics` and `service_edges`.
pub mod col {
    pub const MINUTE: &str = "minute";
    /// The time column of the hourly tables.
    pub const HOUR: &str = "hour";
    pub const SERVICE_NAME: &str = "service_name";
    pub const NAME: &str = "name";
    pub const KIND: &str = "kind";
    pub const PARENT: &str = "parent";
    pub const CHILD: &str = "child";
    pub const CHILD_TYPE: &str = "child_type";
    pub const CALLS: &str = "calls";
    pub const ERRORS: &str = "errors";
    pub const UNPAIRED: &str = "unpaired";
    pub const DURATION_SUM_NS: &str = "duration_sum_ns";
    pub const DURATION_MIN_NS: &str = "duration_min_ns";
    pub const DURATION_MAX_NS: &str = "duration_max_ns";
    pub const DURATION_SKETCH: &str = "duration_sketch";
}

/// What storage needs to register a table, as plain data (this crate does not depend on
/// storage): build a `meshscope_storage::TableSpec` field by field from it.
#[derive(Debug, Clone)]
pub struct TableDescriptor {
    pub name: &'static str,
    pub schema: SchemaRef,
    /// The `Timestamp(ns, UTC)` column rows are partitioned by.
    pub time_column: &'static str,
    /// Sort order inside a Parquet file.
    pub sort_columns: &'static [&'static str],
    /// Columns worth a Parquet bloom filter (none: the files are small).
    pub bloom_filter_columns: &'static [&'static str],
}

fn utc_ns() -> DataType {
    DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()))
}

fn measures() -> [Field; 4] {
    [
        Field::new(col::DURATION_SUM_NS, DataType::Int64, false),
        Field::new(col::DURATION_MIN_NS, DataType::Int64, false),
        Field::new(col::DURATION_MAX_NS, DataType::Int64, false),
        Field::new(col::DURATION_SKETCH, DataType::Binary, false),
    ]
}

fn red_fields(time: &'static str) -> Vec<Field> {
    let mut fields = vec![
        Field::new(time, utc_ns(), false),
        Field::new(col::SERVICE_NAME, DataType::Utf8, false),
        Field::new(col::NAME, DataType::Utf8, false),
        Field::new(col::KIND, DataType::Utf8, false),
        Field::new(col::CALLS, DataType::Int64, false),
        Field::new(col::ERRORS, DataType::Int64, false),
    ];
    fields.extend(measures());
    fields
}

fn edge_fields(time: &'static str) -> Vec<Field> {
    let mut fields = vec![
        Field::new(time, utc_ns(), false),
        Field::new(col::PARENT, DataType::Utf8, false),
        Field::new(col::CHILD, DataType::Utf8, false),
        Field::new(col::CHILD_TYPE, DataType::Utf8, false),
        Field::new(col::CALLS, DataType::Int64, false),
        Field::new(col::ERRORS, DataType::Int64, false),
        Field::new(col::UNPAIRED, DataType::Int64, false),
    ];
    fields.extend(measures());
    fields
}

macro_rules! cached_schema {
    ($fields:expr) => {{
        static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
        SCHEMA
            .get_or_init(|| Arc::new(Schema::new($fields)))
            .clone()
    }};
}

/// The Arrow schema of `span_metrics`.
pub fn span_metrics_schema() -> SchemaRef {
    cached_schema!(red_fields(col::MINUTE))
}

/// The Arrow schema of `service_edges`.
pub fn service_edges_schema() -> SchemaRef {
    cached_schema!(edge_fields(col::MINUTE))
}

/// The Arrow schema of `span_metrics_hourly`.
pub fn span_metrics_hourly_schema() -> SchemaRef {
    cached_schema!(red_fields(col::HOUR))
}

/// The Arrow schema of `service_edges_hourly`.
pub fn service_edges_hourly_schema() -> SchemaRef {
    cached_schema!(edge_fields(col::HOUR))
}

/// Storage descriptor of `span_metrics`.
pub fn span_metrics_table() -> TableDescriptor {
    TableDescriptor {
        name: SPAN_METRICS,
        schema: span_metrics_schema(),
        time_column: col::MINUTE,
        sort_columns: &[col::SERVICE_NAME, col::NAME, col::KIND, col::MINUTE],
        bloom_filter_columns: &[],
    }
}

/// Storage descriptor of `service_edges`.
pub fn service_edges_table() -> TableDescriptor {
    TableDescriptor {
        name: SERVICE_EDGES,
        schema: service_edges_schema(),
        time_column: col::MINUTE,
        sort_columns: &[col::PARENT, col::CHILD, col::CHILD_TYPE, col::MINUTE],
        bloom_filter_columns: &[],
    }
}

/// Storage descriptor of `span_metrics_hourly`.
pub fn span_metrics_hourly_table() -> TableDescriptor {
    TableDescriptor {
        name: SPAN_METRICS_HOURLY,
        schema: span_metrics_hourly_schema(),
        time_column: col::HOUR,
        sort_columns: &[col::SERVICE_NAME, col::NAME, col::KIND, col::HOUR],
        bloom_filter_columns: &[],
    }
}

/// Storage descriptor of `service_edges_hourly`.
pub fn service_edges_hourly_table() -> TableDescriptor {
    TableDescriptor {
        name: SERVICE_EDGES_HOURLY,
        schema: service_edges_hourly_schema(),
        time_column: col::HOUR,
        sort_columns: &[col::PARENT, col::CHILD, col::CHILD_TYPE, col::HOUR],
        bloom_filter_columns: &[],
    }
}

/// The four aggregate tables, to register next to `spans`.
pub fn tables() -> Vec<TableDescriptor> {
    vec![
        span_metrics_table(),
        service_edges_table(),
        span_metrics_hourly_table(),
        service_edges_hourly_table(),
    ]
}

/// The start of the minute holding `t_ns` (floor, also for times before 1970).
pub fn minute_of(t_ns: i64) -> i64 {
    t_ns.div_euclid(MINUTE_NS) * MINUTE_NS
}

/// The start of the hour holding `t_ns`.
pub fn hour_of(t_ns: i64) -> i64 {
    t_ns.div_euclid(HOUR_NS) * HOUR_NS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptors_name_columns_of_their_schemas() {
        for table in tables() {
            let field = table.schema.field_with_name(table.time_column).unwrap();
            assert_eq!(table.schema.index_of(table.time_column).unwrap(), 0);
            assert_eq!(field.data_type(), &utc_ns());
            for c in table.sort_columns.iter().chain(table.bloom_filter_columns) {
                let field = table.schema.field_with_name(c).unwrap();
                assert!(!field.data_type().is_nested());
            }
            assert!(
                table
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_')
            );
        }
    }

    #[test]
    fn minutes_floor() {
        assert_eq!(minute_of(0), 0);
        assert_eq!(minute_of(MINUTE_NS - 1), 0);
        assert_eq!(minute_of(MINUTE_NS), MINUTE_NS);
        assert_eq!(minute_of(-1), -MINUTE_NS);
        assert_eq!(hour_of(HOUR_NS + MINUTE_NS), HOUR_NS);
    }
}
