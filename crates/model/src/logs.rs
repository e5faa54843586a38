//! The `logs` table: one row per log record, and a builder that turns records into batches.
//!
//! `time` is the record's time, or its observed time when it has none; `trace_id` and
//! `span_id` are lowercase hex (`''` when the record is outside a trace), so logs join `spans`
//! on `trace_id`. The body keeps any `AnyValue`: `body` is its display form (as attribute
//! values are displayed) and `body_type` its type (`string`, `int`, `double`, `bool`, `bytes`,
//! `array`, `map`, `empty`), so the typed body can be restored.

use std::sync::{Arc, OnceLock};

use arrow::array::{
    ArrayBuilder, ArrayRef, Int32Builder, StringBuilder, TimestampNanosecondBuilder, UInt32Builder,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;

use crate::error::{Error, Result};
use crate::signal::{ContextColumns, SignalResource, append_id, utc_ns};
use crate::spans::ScopeContext;
use crate::value::Value;

/// Name of the table in SQL, on disk and in the WAL.
pub const TABLE: &str = "logs";

/// Column names of the `logs` table.
pub mod col {
    pub use crate::signal::col::*;
    pub const TIME: &str = "time";
    pub const OBSERVED_TIME: &str = "observed_time";
    pub const FLAGS: &str = "flags";
    pub const SEVERITY_NUMBER: &str = "severity_number";
    pub const SEVERITY_TEXT: &str = "severity_text";
    pub const EVENT_NAME: &str = "event_name";
    pub const BODY: &str = "body";
    pub const BODY_TYPE: &str = "body_type";
    pub const DROPPED_ATTRIBUTES_COUNT: &str = "dropped_attributes_count";
}

/// The `body_type` of a string body (other bodies use the attribute type tags).
pub const STRING_BODY: &str = "string";

/// One log record, borrowed from a decoded request. Ids and times are validated by the caller.
#[derive(Debug, Clone)]
pub struct LogInput<'a> {
    /// The record's time, or its observed time when it has none.
    pub time_ns: i64,
    /// `None` when the record has no observed time.
    pub observed_ns: Option<i64>,
    pub trace_id: Option<[u8; 16]>,
    pub span_id: Option<[u8; 8]>,
    pub flags: u32,
    pub severity_number: i32,
    pub severity_text: &'a str,
    pub event_name: &'a str,
    pub body: &'a Value<'a>,
    pub attributes: &'a [(&'a str, Value<'a>)],
    pub dropped_attributes_count: u32,
}

/// The Arrow schema of the `logs` table.
pub fn schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            let mut fields = vec![
                Field::new(col::TIME, utc_ns(), false),
                Field::new(col::OBSERVED_TIME, utc_ns(), true),
                Field::new(col::TRACE_ID, DataType::Utf8, false),
                Field::new(col::SPAN_ID, DataType::Utf8, false),
                Field::new(col::FLAGS, DataType::UInt32, false),
                Field::new(col::SERVICE_NAME, DataType::Utf8, false),
                Field::new(col::SEVERITY_NUMBER, DataType::Int32, false),
                Field::new(col::SEVERITY_TEXT, DataType::Utf8, false),
                Field::new(col::EVENT_NAME, DataType::Utf8, false),
                Field::new(col::BODY, DataType::Utf8, false),
                Field::new(col::BODY_TYPE, DataType::Utf8, false),
                Field::new(col::DROPPED_ATTRIBUTES_COUNT, DataType::UInt32, false),
            ];
            fields.extend(ContextColumns::fields());
            Arc::new(Schema::new(fields))
        })
        .clone()
}

/// Builds `logs` record batches one record at a time.
pub struct LogBatchBuilder {
    time: TimestampNanosecondBuilder,
    observed_time: TimestampNanosecondBuilder,
    trace_id: StringBuilder,
    span_id: StringBuilder,
    flags: UInt32Builder,
    service_name: StringBuilder,
    severity_number: Int32Builder,
    severity_text: StringBuilder,
    event_name: StringBuilder,
    body: StringBuilder,
    body_type: StringBuilder,
    dropped_attributes_count: UInt32Builder,
    context: ContextColumns,
    scratch: String,
}

impl Default for LogBatchBuilder {
    fn default() -> Self {
        Self::with_capacity(1024)
    }
}

impl LogBatchBuilder {
    pub fn with_capacity(capacity: usize) -> Self {
        let strings = || StringBuilder::with_capacity(capacity, capacity * 8);
        let ts = || TimestampNanosecondBuilder::with_capacity(capacity).with_timezone("UTC");
        Self {
            time: ts(),
            observed_time: ts(),
            trace_id: StringBuilder::with_capacity(capacity, capacity * 32),
            span_id: StringBuilder::with_capacity(capacity, capacity * 16),
            flags: UInt32Builder::with_capacity(capacity),
            service_name: strings(),
            severity_number: Int32Builder::with_capacity(capacity),
            severity_text: strings(),
            event_name: strings(),
            body: StringBuilder::with_capacity(capacity, capacity * 64),
            body_type: strings(),
            dropped_attributes_count: UInt32Builder::with_capacity(capacity),
            context: ContextColumns::with_capacity(capacity),
            scratch: String::with_capacity(256),
        }
    }

    pub fn len(&self) -> usize {
        self.time.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn append(&mut self, resource: &SignalResource, scope: &ScopeContext, log: &LogInput<'_>) {
        self.time.append_value(log.time_ns);
        self.observed_time.append_option(log.observed_ns);
        append_id(&mut self.trace_id, log.trace_id.as_ref().map(|t| &t[..]));
        append_id(&mut self.span_id, log.span_id.as_ref().map(|s| &s[..]));
        self.flags.append_value(log.flags);
        self.service_name.append_value(resource.service_name());
        self.severity_number.append_value(log.severity_number);
        self.severity_text.append_value(log.severity_text);
        self.event_name.append_value(log.event_name);
        self.scratch.clear();
        log.body.render(&mut self.scratch);
        self.body.append_value(&self.scratch);
        self.body_type
            .append_value(log.body.type_tag().unwrap_or(STRING_BODY));
        self.dropped_attributes_count
            .append_value(log.dropped_attributes_count);
        self.context.append(resource, scope, log.attributes);
    }

    /// Takes the rows appended so far as a record batch of [`schema`].
    pub fn finish(&mut self) -> Result<RecordBatch> {
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(self.time.finish()),
            Arc::new(self.observed_time.finish()),
            Arc::new(self.trace_id.finish()),
            Arc::new(self.span_id.finish()),
            Arc::new(self.flags.finish()),
            Arc::new(self.service_name.finish()),
            Arc::new(self.severity_number.finish()),
            Arc::new(self.severity_text.finish()),
            Arc::new(self.event_name.finish()),
            Arc::new(self.body.finish()),
            Arc::new(self.body_type.finish()),
            Arc::new(self.dropped_attributes_count.finish()),
        ];
        columns.extend(self.context.finish());
        RecordBatch::try_new(schema(), columns).map_err(Error::Arrow)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray};

    #[test]
    fn builds_a_batch_of_the_schema() {
        let resource = SignalResource::new(&[("service.name", Value::Str("cart"))], "");
        let scope = ScopeContext::new("logger", "", &[("k", Value::Int(1))], "");
        let body = Value::Map(vec![("msg", Value::Str("hi")), ("n", Value::Double(1.0))]);
        let text = Value::Str("plain");
        let attrs = [("user", Value::Str("u1")), ("retry", Value::Bool(true))];
        let mut b = LogBatchBuilder::with_capacity(2);
        b.append(
            &resource,
            &scope,
            &LogInput {
                time_ns: 1,
                observed_ns: Some(2),
                trace_id: Some([0x5b; 16]),
                span_id: Some([0xee; 8]),
                flags: 1,
                severity_number: 17,
                severity_text: "ERROR",
                event_name: "",
                body: &body,
                attributes: &attrs,
                dropped_attributes_count: 0,
            },
        );
        b.append(
            &resource,
            &scope,
            &LogInput {
                time_ns: 3,
                observed_ns: None,
                trace_id: None,
                span_id: None,
                flags: 0,
                severity_number: 9,
                severity_text: "",
                event_name: "login",
                body: &text,
                attributes: &[],
                dropped_attributes_count: 2,
            },
        );
        let batch = b.finish().expect("batch");
        assert_eq!(batch.schema(), schema());
        let s = |c: &str, r: usize| {
            batch
                .column_by_name(c)
                .expect(c)
                .as_string::<i32>()
                .value(r)
                .to_owned()
        };
        assert_eq!(s(col::TRACE_ID, 0), "5b".repeat(16));
        assert_eq!(s(col::TRACE_ID, 1), "");
        assert_eq!(s(col::BODY, 0), r#"{"msg":"hi","n":1.0}"#);
        assert_eq!(s(col::BODY_TYPE, 0), "map");
        assert_eq!(s(col::BODY, 1), "plain");
        assert_eq!(s(col::BODY_TYPE, 1), "string");
        assert_eq!(s(col::SCOPE_ATTRIBUTES, 0), r#"{"k":1}"#);
        assert!(
            batch
                .column_by_name(col::OBSERVED_TIME)
                .expect("col")
                .is_null(1)
        );
    }
}
