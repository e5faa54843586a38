//! The `spans` table: its Arrow schema and a builder that turns spans into record batches.
//!
//! One row per span. Ids are lowercase hex strings (what SQL users type); times are
//! `Timestamp(ns, UTC)`; kind and status are short lowercase words. Attributes are kept twice
//! over: every attribute in a `Map<Utf8, Utf8>` of display forms (with the type of each
//! non-string value in a companion map, so the typed value can be restored), and the mesh's
//! most used ones also in typed columns (see [`crate::promote`]).

use std::sync::{Arc, OnceLock};

use arrow::array::{
    ArrayBuilder, ArrayRef, Int64Builder, ListBuilder, StringBuilder, StructBuilder,
    TimestampNanosecondBuilder, UInt32Builder,
};
use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;

use crate::error::{Error, Result};
use crate::promote::{self, PromotedType, Promotion, RESOURCE_PROMOTIONS, SPAN_PROMOTIONS};
use crate::signal::{ContextColumns, SignalResource, utc_ns};
use crate::value::{Value, write_typed_json, write_typed_json_object};

/// Name of the table in SQL, on disk and in the WAL.
pub const TABLE: &str = "spans";

/// Column names of the `spans` table.
pub mod col {
    pub const TRACE_ID: &str = "trace_id";
    pub const SPAN_ID: &str = "span_id";
    pub const PARENT_SPAN_ID: &str = "parent_span_id";
    pub const TRACE_STATE: &str = "trace_state";
    pub const FLAGS: &str = "flags";
    pub const SERVICE_NAME: &str = "service_name";
    pub const NAME: &str = "name";
    pub const KIND: &str = "kind";
    pub const START_TIME: &str = "start_time";
    pub const END_TIME: &str = "end_time";
    pub const DURATION_NS: &str = "duration_ns";
    pub const STATUS_CODE: &str = "status_code";
    pub const STATUS_MESSAGE: &str = "status_message";
    pub const ATTRIBUTES: &str = "attributes";
    pub const ATTRIBUTE_TYPES: &str = "attribute_types";
    pub const RESOURCE_ATTRIBUTES: &str = "resource_attributes";
    pub const RESOURCE_ATTRIBUTE_TYPES: &str = "resource_attribute_types";
    pub const RESOURCE_SCHEMA_URL: &str = "resource_schema_url";
    pub const SCOPE_NAME: &str = "scope_name";
    pub const SCOPE_VERSION: &str = "scope_version";
    pub const SCOPE_ATTRIBUTES: &str = "scope_attributes";
    pub const SCOPE_SCHEMA_URL: &str = "scope_schema_url";
    pub const EVENTS: &str = "events";
    pub const LINKS: &str = "links";
    pub const DROPPED_ATTRIBUTES_COUNT: &str = "dropped_attributes_count";
    pub const DROPPED_EVENTS_COUNT: &str = "dropped_events_count";
    pub const DROPPED_LINKS_COUNT: &str = "dropped_links_count";
}

/// OTLP span kind, stored as a lowercase word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SpanKind {
    Unspecified,
    Internal,
    Server,
    Client,
    Producer,
    Consumer,
}

impl SpanKind {
    /// From the OTLP enum number; unknown numbers read as unspecified.
    pub fn from_otlp(n: i32) -> Self {
        match n {
            1 => Self::Internal,
            2 => Self::Server,
            3 => Self::Client,
            4 => Self::Producer,
            5 => Self::Consumer,
            _ => Self::Unspecified,
        }
    }

    pub fn to_otlp(self) -> i32 {
        match self {
            Self::Unspecified => 0,
            Self::Internal => 1,
            Self::Server => 2,
            Self::Client => 3,
            Self::Producer => 4,
            Self::Consumer => 5,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unspecified => "unspecified",
            Self::Internal => "internal",
            Self::Server => "server",
            Self::Client => "client",
            Self::Producer => "producer",
            Self::Consumer => "consumer",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Unspecified,
            Self::Internal,
            Self::Server,
            Self::Client,
            Self::Producer,
            Self::Consumer,
        ]
        .into_iter()
        .find(|k| k.as_str().eq_ignore_ascii_case(s))
    }
}

/// OTLP status code, stored as a lowercase word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusCode {
    Unset,
    Ok,
    Error,
}

impl StatusCode {
    pub fn from_otlp(n: i32) -> Self {
        match n {
            1 => Self::Ok,
            2 => Self::Error,
            _ => Self::Unset,
        }
    }

    pub fn to_otlp(self) -> i32 {
        match self {
            Self::Unset => 0,
            Self::Ok => 1,
            Self::Error => 2,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unset => "unset",
            Self::Ok => "ok",
            Self::Error => "error",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Unset, Self::Ok, Self::Error]
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s))
    }
}

/// The service name used when a resource has none, as the OpenTelemetry SDKs do.
pub const UNKNOWN_SERVICE: &str = "unknown_service";

/// A span event.
#[derive(Debug, Clone)]
pub struct EventInput<'a> {
    pub time_ns: i64,
    pub name: &'a str,
    pub attributes: Vec<(&'a str, Value<'a>)>,
    pub dropped_attributes_count: u32,
}

/// A span link.
#[derive(Debug, Clone)]
pub struct LinkInput<'a> {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub trace_state: &'a str,
    pub attributes: Vec<(&'a str, Value<'a>)>,
    pub dropped_attributes_count: u32,
    pub flags: u32,
}

/// One span, borrowed from a decoded request. Ids are validated by the caller.
#[derive(Debug, Clone)]
pub struct SpanInput<'a> {
    pub trace_id: [u8; 16],
    pub span_id: [u8; 8],
    pub parent_span_id: Option<[u8; 8]>,
    pub trace_state: &'a str,
    pub flags: u32,
    pub name: &'a str,
    pub kind: SpanKind,
    pub start_ns: i64,
    pub end_ns: i64,
    pub status: StatusCode,
    pub status_message: &'a str,
    pub attributes: &'a [(&'a str, Value<'a>)],
    pub dropped_attributes_count: u32,
    pub events: &'a [EventInput<'a>],
    pub dropped_events_count: u32,
    pub links: &'a [LinkInput<'a>],
    pub dropped_links_count: u32,
}

/// What every span of one resource shares, rendered once: the resource's attribute columns
/// (as for metrics and logs) and its promoted attributes.
#[derive(Debug, Clone, Default)]
pub struct ResourceContext {
    resource: SignalResource,
    promoted: Vec<Option<String>>,
}

impl ResourceContext {
    pub fn new(attributes: &[(&str, Value<'_>)], schema_url: &str) -> Self {
        let mut promoted: Vec<Option<(u8, String)>> = vec![None; RESOURCE_PROMOTIONS.len()];
        for (key, value) in attributes {
            if let Some((i, rank)) = promote::lookup_resource(key)
                && promoted[i].as_ref().is_none_or(|(r, _)| rank < *r)
            {
                promoted[i] = Some((rank, value.to_display_string()));
            }
        }
        Self {
            resource: SignalResource::new(attributes, schema_url),
            promoted: promoted.into_iter().map(|p| p.map(|(_, v)| v)).collect(),
        }
    }

    pub fn service_name(&self) -> &str {
        self.resource.service_name()
    }
}

/// What every span of one instrumentation scope shares.
#[derive(Debug, Clone, Default)]
pub struct ScopeContext {
    pub name: String,
    pub version: String,
    /// Typed JSON object of the scope's attributes (empty when it has none).
    pub attributes_json: String,
    pub schema_url: String,
}

impl ScopeContext {
    pub fn new(
        name: &str,
        version: &str,
        attributes: &[(&str, Value<'_>)],
        schema_url: &str,
    ) -> Self {
        let mut attributes_json = String::new();
        if !attributes.is_empty() {
            write_typed_json_object(attributes, &mut attributes_json);
        }
        Self {
            name: name.to_owned(),
            version: version.to_owned(),
            attributes_json,
            schema_url: schema_url.to_owned(),
        }
    }
}

fn event_fields() -> Fields {
    Fields::from(vec![
        Field::new("time", utc_ns(), false),
        Field::new("name", DataType::Utf8, false),
        Field::new("attributes", DataType::Utf8, false),
        Field::new("dropped_attributes_count", DataType::UInt32, false),
    ])
}

fn link_fields() -> Fields {
    Fields::from(vec![
        Field::new("trace_id", DataType::Utf8, false),
        Field::new("span_id", DataType::Utf8, false),
        Field::new("trace_state", DataType::Utf8, false),
        Field::new("attributes", DataType::Utf8, false),
        Field::new("dropped_attributes_count", DataType::UInt32, false),
        Field::new("flags", DataType::UInt32, false),
    ])
}

fn list_item(fields: Fields) -> Arc<Field> {
    Arc::new(Field::new("item", DataType::Struct(fields), false))
}

fn promoted_field(p: &Promotion) -> Field {
    match p.ty {
        PromotedType::Str => Field::new(p.column, DataType::Utf8, true),
        PromotedType::Int => Field::new(p.column, DataType::Int64, true),
    }
}

/// The column that places a span in time (partitions, retention, time-range pruning).
pub const TIME_COLUMN: &str = col::START_TIME;

/// The order of rows in the table's files: a trace's spans lie together, in time order, so a
/// lookup by trace id reads one page of each column.
pub const SORT_COLUMNS: &[&str] = &[col::TRACE_ID, col::START_TIME];

/// Columns with a bloom filter per row group: lookups by trace id skip the groups without it.
pub const BLOOM_FILTER_COLUMNS: &[&str] = &[col::TRACE_ID];

/// Columns that Parquet files of the `spans` table do not store, because readers compute
/// them: `end_time` is `start_time + duration_ns` (see [`end_time_ns`]). Storing it cost about
/// 3.7 bytes per span, a fifteenth of a file. The head and the WAL keep it.
pub const DERIVED_COLUMNS: &[&str] = &[col::END_TIME];

/// `end_time` of a span from the columns files store, in nanoseconds since the epoch.
pub fn end_time_ns(start_ns: i64, duration_ns: i64) -> i64 {
    start_ns.saturating_add(duration_ns)
}

/// The Arrow schema of the `spans` table.
pub fn schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            let mut fields = vec![
                Field::new(col::TRACE_ID, DataType::Utf8, false),
                Field::new(col::SPAN_ID, DataType::Utf8, false),
                Field::new(col::PARENT_SPAN_ID, DataType::Utf8, false),
                Field::new(col::TRACE_STATE, DataType::Utf8, false),
                Field::new(col::FLAGS, DataType::UInt32, false),
                Field::new(col::SERVICE_NAME, DataType::Utf8, false),
                Field::new(col::NAME, DataType::Utf8, false),
                Field::new(col::KIND, DataType::Utf8, false),
                Field::new(col::START_TIME, utc_ns(), false),
                Field::new(col::END_TIME, utc_ns(), false),
                Field::new(col::DURATION_NS, DataType::Int64, false),
                Field::new(col::STATUS_CODE, DataType::Utf8, false),
                Field::new(col::STATUS_MESSAGE, DataType::Utf8, false),
            ];
            fields.extend(SPAN_PROMOTIONS.iter().map(promoted_field));
            fields.extend(RESOURCE_PROMOTIONS.iter().map(promoted_field));
            fields.extend(ContextColumns::fields());
            fields.extend([
                Field::new(
                    col::EVENTS,
                    DataType::List(list_item(event_fields())),
                    false,
                ),
                Field::new(col::LINKS, DataType::List(list_item(link_fields())), false),
                Field::new(col::DROPPED_ATTRIBUTES_COUNT, DataType::UInt32, false),
                Field::new(col::DROPPED_EVENTS_COUNT, DataType::UInt32, false),
                Field::new(col::DROPPED_LINKS_COUNT, DataType::UInt32, false),
            ]);
            Arc::new(Schema::new(fields))
        })
        .clone()
}

/// Writes `bytes` as lowercase hex into `buf` and returns it as text.
pub fn hex_id<'b>(bytes: &[u8], buf: &'b mut [u8; 32]) -> &'b str {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let n = bytes.len().min(16);
    for (i, b) in bytes[..n].iter().enumerate() {
        buf[2 * i] = DIGITS[(b >> 4) as usize];
        buf[2 * i + 1] = DIGITS[(b & 0xf) as usize];
    }
    // Only ASCII hex digits were written.
    std::str::from_utf8(&buf[..2 * n]).unwrap_or_default()
}

enum PromotedBuilder {
    Str(StringBuilder),
    Int(Int64Builder),
}

impl PromotedBuilder {
    fn new(p: &Promotion, capacity: usize) -> Self {
        match p.ty {
            PromotedType::Str => Self::Str(StringBuilder::with_capacity(capacity, capacity * 4)),
            PromotedType::Int => Self::Int(Int64Builder::with_capacity(capacity)),
        }
    }

    fn append(&mut self, value: Option<&Value<'_>>, scratch: &mut String) {
        match self {
            Self::Str(b) => match value {
                Some(Value::Str(s)) => b.append_value(s),
                Some(v) => {
                    scratch.clear();
                    v.render(scratch);
                    b.append_value(scratch.as_str());
                }
                None => b.append_null(),
            },
            Self::Int(b) => b.append_option(value.and_then(Value::as_i64)),
        }
    }

    fn append_str(&mut self, value: Option<&str>) {
        match self {
            Self::Str(b) => b.append_option(value),
            Self::Int(b) => b.append_option(value.and_then(|v| v.trim().parse().ok())),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Self::Str(b) => Arc::new(b.finish()),
            Self::Int(b) => Arc::new(b.finish()),
        }
    }
}

/// How much a batch will hold, so that its builders allocate once: buffers that grow by
/// doubling copy their contents and keep up to half their capacity unused, which the head
/// then holds in memory until a flush.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchHint {
    pub spans: usize,
    /// Span attributes over all spans.
    pub attributes: usize,
    /// Resource attributes over all spans (each span repeats its resource's).
    pub resource_attributes: usize,
}

impl BatchHint {
    /// A hint for `spans` spans with typical attribute counts.
    pub fn spans(spans: usize) -> Self {
        Self {
            spans,
            attributes: spans * 8,
            resource_attributes: spans * 8,
        }
    }
}

fn new_struct_list(fields: Fields) -> ListBuilder<StructBuilder> {
    ListBuilder::new(StructBuilder::from_fields(fields.clone(), 0)).with_field(list_item(fields))
}

/// Builds `spans` record batches one span at a time.
pub struct SpanBatchBuilder {
    trace_id: StringBuilder,
    span_id: StringBuilder,
    parent_span_id: StringBuilder,
    trace_state: StringBuilder,
    flags: UInt32Builder,
    service_name: StringBuilder,
    name: StringBuilder,
    kind: StringBuilder,
    start_time: TimestampNanosecondBuilder,
    end_time: TimestampNanosecondBuilder,
    duration_ns: Int64Builder,
    status_code: StringBuilder,
    status_message: StringBuilder,
    span_promoted: Vec<PromotedBuilder>,
    resource_promoted: Vec<PromotedBuilder>,
    /// Attributes, resource and scope: the columns metrics and logs end with too.
    context: ContextColumns,
    events: ListBuilder<StructBuilder>,
    links: ListBuilder<StructBuilder>,
    dropped_attributes_count: UInt32Builder,
    dropped_events_count: UInt32Builder,
    dropped_links_count: UInt32Builder,
    scratch: String,
    promoted_scratch: Vec<Option<(u8, usize)>>,
}

impl Default for SpanBatchBuilder {
    fn default() -> Self {
        Self::with_capacity(1024)
    }
}

impl SpanBatchBuilder {
    pub fn with_capacity(capacity: usize) -> Self {
        Self::with_hint(BatchHint::spans(capacity))
    }

    /// A builder sized for what `hint` says the batch will hold.
    pub fn with_hint(hint: BatchHint) -> Self {
        let capacity = hint.spans;
        // most of these are short or empty: grow past the estimate rather than hold unused
        // capacity
        let strings = || StringBuilder::with_capacity(capacity, capacity * 8);
        let ids = |len: usize| StringBuilder::with_capacity(capacity, capacity * len);
        let ts = || TimestampNanosecondBuilder::with_capacity(capacity).with_timezone("UTC");
        Self {
            trace_id: ids(32),
            span_id: ids(16),
            parent_span_id: ids(16),
            trace_state: strings(),
            flags: UInt32Builder::with_capacity(capacity),
            service_name: strings(),
            name: strings(),
            kind: ids(6),
            start_time: ts(),
            end_time: ts(),
            duration_ns: Int64Builder::with_capacity(capacity),
            status_code: ids(5),
            status_message: strings(),
            span_promoted: SPAN_PROMOTIONS
                .iter()
                .map(|p| PromotedBuilder::new(p, capacity))
                .collect(),
            resource_promoted: RESOURCE_PROMOTIONS
                .iter()
                .map(|p| PromotedBuilder::new(p, capacity))
                .collect(),
            context: ContextColumns::with_hint(capacity, hint.attributes, hint.resource_attributes),
            events: new_struct_list(event_fields()),
            links: new_struct_list(link_fields()),
            dropped_attributes_count: UInt32Builder::with_capacity(capacity),
            dropped_events_count: UInt32Builder::with_capacity(capacity),
            dropped_links_count: UInt32Builder::with_capacity(capacity),
            scratch: String::with_capacity(256),
            promoted_scratch: Vec::with_capacity(SPAN_PROMOTIONS.len()),
        }
    }

    /// Number of spans appended since the last [`finish`](Self::finish).
    pub fn len(&self) -> usize {
        self.trace_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends one span of `resource` and `scope`.
    pub fn append(
        &mut self,
        resource: &ResourceContext,
        scope: &ScopeContext,
        span: &SpanInput<'_>,
    ) {
        let mut buf = [0u8; 32];
        self.trace_id.append_value(hex_id(&span.trace_id, &mut buf));
        self.span_id.append_value(hex_id(&span.span_id, &mut buf));
        match &span.parent_span_id {
            Some(p) => self.parent_span_id.append_value(hex_id(p, &mut buf)),
            None => self.parent_span_id.append_value(""),
        }
        self.trace_state.append_value(span.trace_state);
        self.flags.append_value(span.flags);
        self.service_name.append_value(resource.service_name());
        self.name.append_value(span.name);
        self.kind.append_value(span.kind.as_str());
        self.start_time.append_value(span.start_ns);
        self.end_time.append_value(span.end_ns);
        self.duration_ns
            .append_value(span.end_ns.saturating_sub(span.start_ns));
        self.status_code.append_value(span.status.as_str());
        self.status_message.append_value(span.status_message);

        self.append_promoted(resource, span.attributes);
        self.context
            .append(&resource.resource, scope, span.attributes);

        self.append_events(span.events);
        self.append_links(span.links);
        self.dropped_attributes_count
            .append_value(span.dropped_attributes_count);
        self.dropped_events_count
            .append_value(span.dropped_events_count);
        self.dropped_links_count
            .append_value(span.dropped_links_count);
    }

    /// The promoted columns: each from the best-ranked of its span attributes, the resource's
    /// from the resource or, when it lacks them, from the span.
    fn append_promoted(&mut self, resource: &ResourceContext, attributes: &[(&str, Value<'_>)]) {
        self.promoted_scratch.clear();
        self.promoted_scratch.resize(SPAN_PROMOTIONS.len(), None);
        for (index, (key, _)) in attributes.iter().enumerate() {
            if let Some((i, rank)) = promote::lookup_span(key)
                && self.promoted_scratch[i].is_none_or(|(r, _)| rank < r)
            {
                self.promoted_scratch[i] = Some((rank, index));
            }
        }
        for (builder, found) in self.span_promoted.iter_mut().zip(&self.promoted_scratch) {
            let value = found.map(|(_, index)| &attributes[index].1);
            builder.append(value, &mut self.scratch);
        }
        for (i, builder) in self.resource_promoted.iter_mut().enumerate() {
            match resource.promoted.get(i).and_then(Option::as_deref) {
                Some(v) => builder.append_str(Some(v)),
                None => {
                    let fallback = RESOURCE_PROMOTIONS[i]
                        .keys
                        .iter()
                        .find_map(|k| attributes.iter().find(|(key, _)| key == k))
                        .map(|(_, v)| v);
                    builder.append(fallback, &mut self.scratch);
                }
            }
        }
    }

    fn append_events(&mut self, events: &[EventInput<'_>]) {
        let list = &mut self.events;
        for event in events {
            let item = list.values();
            self.scratch.clear();
            write_typed_json(&Value::Map(event.attributes.clone()), &mut self.scratch);
            field::<TimestampNanosecondBuilder>(item, 0).append_value(event.time_ns);
            field::<StringBuilder>(item, 1).append_value(event.name);
            field::<StringBuilder>(item, 2).append_value(&self.scratch);
            field::<UInt32Builder>(item, 3).append_value(event.dropped_attributes_count);
            item.append(true);
        }
        list.append(true);
    }

    fn append_links(&mut self, links: &[LinkInput<'_>]) {
        let list = &mut self.links;
        let mut buf = [0u8; 32];
        for link in links {
            let item = list.values();
            self.scratch.clear();
            write_typed_json(&Value::Map(link.attributes.clone()), &mut self.scratch);
            field::<StringBuilder>(item, 0).append_value(hex_id(&link.trace_id, &mut buf));
            field::<StringBuilder>(item, 1).append_value(hex_id(&link.span_id, &mut buf));
            field::<StringBuilder>(item, 2).append_value(link.trace_state);
            field::<StringBuilder>(item, 3).append_value(&self.scratch);
            field::<UInt32Builder>(item, 4).append_value(link.dropped_attributes_count);
            field::<UInt32Builder>(item, 5).append_value(link.flags);
            item.append(true);
        }
        list.append(true);
    }

    /// Takes the rows appended so far as a record batch of [`schema`].
    pub fn finish(&mut self) -> Result<RecordBatch> {
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(self.trace_id.finish()),
            Arc::new(self.span_id.finish()),
            Arc::new(self.parent_span_id.finish()),
            Arc::new(self.trace_state.finish()),
            Arc::new(self.flags.finish()),
            Arc::new(self.service_name.finish()),
            Arc::new(self.name.finish()),
            Arc::new(self.kind.finish()),
            Arc::new(self.start_time.finish()),
            Arc::new(self.end_time.finish()),
            Arc::new(self.duration_ns.finish()),
            Arc::new(self.status_code.finish()),
            Arc::new(self.status_message.finish()),
        ];
        columns.extend(self.span_promoted.iter_mut().map(PromotedBuilder::finish));
        columns.extend(
            self.resource_promoted
                .iter_mut()
                .map(PromotedBuilder::finish),
        );
        columns.extend(self.context.finish());
        columns.extend([
            Arc::new(self.events.finish()) as ArrayRef,
            Arc::new(self.links.finish()),
            Arc::new(self.dropped_attributes_count.finish()),
            Arc::new(self.dropped_events_count.finish()),
            Arc::new(self.dropped_links_count.finish()),
        ]);
        RecordBatch::try_new(schema(), columns).map_err(Error::Arrow)
    }
}

fn field<T: ArrayBuilder>(item: &mut StructBuilder, i: usize) -> &mut T {
    // The struct builders are created from `event_fields` / `link_fields`, whose types match
    // the indices used by the callers; a mismatch is a programming error caught by the tests.
    #[allow(clippy::expect_used)]
    item.field_builder::<T>(i)
        .expect("struct field builder type matches its schema")
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{Int64Type, TimestampNanosecondType};

    fn sample(builder: &mut SpanBatchBuilder) {
        let resource = ResourceContext::new(
            &[
                ("service.name", Value::Str("checkout")),
                ("k8s.namespace.name", Value::Str("shop")),
                ("replicas", Value::Int(3)),
            ],
            "https://opentelemetry.io/schemas/1.26.0",
        );
        let scope = ScopeContext::new("io.opentelemetry.http", "1.2.0", &[], "");
        let attrs = [
            ("http.method", Value::Str("GET")),
            ("http.request.method", Value::Str("POST")),
            ("http.status_code", Value::Str("503")),
            ("retry", Value::Bool(true)),
            ("k8s.pod.name", Value::Str("checkout-7d9f")),
        ];
        let events = [EventInput {
            time_ns: 1_700_000_000_500_000_000,
            name: "exception",
            attributes: vec![("exception.type", Value::Str("Timeout"))],
            dropped_attributes_count: 0,
        }];
        let links = [LinkInput {
            trace_id: [0xab; 16],
            span_id: [0xcd; 8],
            trace_state: "",
            attributes: vec![],
            dropped_attributes_count: 0,
            flags: 1,
        }];
        builder.append(
            &resource,
            &scope,
            &SpanInput {
                trace_id: [0x5b; 16],
                span_id: [0xee; 8],
                parent_span_id: None,
                trace_state: "k=v",
                flags: 1,
                name: "POST /cart",
                kind: SpanKind::Server,
                start_ns: 1_700_000_000_000_000_000,
                end_ns: 1_700_000_001_000_000_000,
                status: StatusCode::Error,
                status_message: "upstream timeout",
                attributes: &attrs,
                dropped_attributes_count: 2,
                events: &events,
                dropped_events_count: 0,
                links: &links,
                dropped_links_count: 0,
            },
        );
    }

    #[test]
    fn builds_a_batch_of_the_schema() {
        let mut builder = SpanBatchBuilder::with_capacity(4);
        sample(&mut builder);
        sample(&mut builder);
        let batch = builder.finish().expect("batch");
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(batch.schema(), schema());

        let s = |name: &str| {
            batch
                .column_by_name(name)
                .expect(name)
                .as_string::<i32>()
                .value(0)
                .to_owned()
        };
        assert_eq!(s(col::TRACE_ID), "5b".repeat(16));
        assert_eq!(s(col::SPAN_ID), "ee".repeat(8));
        assert_eq!(s(col::PARENT_SPAN_ID), "");
        assert_eq!(s(col::SERVICE_NAME), "checkout");
        assert_eq!(s(col::KIND), "server");
        assert_eq!(s(col::STATUS_CODE), "error");
        // the new semantic-convention name wins over the old one
        assert_eq!(s("http_method"), "POST");
        assert_eq!(s("k8s_namespace"), "shop");
        // resource promotions fall back to span attributes
        assert_eq!(s("k8s_pod"), "checkout-7d9f");
        let status = batch.column_by_name("http_status_code").expect("col");
        assert_eq!(status.as_primitive::<Int64Type>().value(0), 503);
        let duration = batch.column_by_name(col::DURATION_NS).expect("col");
        assert_eq!(duration.as_primitive::<Int64Type>().value(0), 1_000_000_000);
        let start = batch.column_by_name(col::START_TIME).expect("col");
        assert_eq!(
            start.as_primitive::<TimestampNanosecondType>().value(0),
            1_700_000_000_000_000_000
        );
        assert!(batch.column_by_name("db_system").expect("col").is_null(0));

        let attrs = batch.column_by_name(col::ATTRIBUTES).expect("col").as_map();
        let entry = attrs.value(0);
        assert_eq!(entry.len(), 5);
        let types = batch
            .column_by_name(col::ATTRIBUTE_TYPES)
            .expect("col")
            .as_map();
        let t = types.value(0);
        assert_eq!(t.column(0).as_string::<i32>().value(0), "retry");
        assert_eq!(t.column(1).as_string::<i32>().value(0), "bool");

        let events = batch
            .column_by_name(col::EVENTS)
            .expect("col")
            .as_list::<i32>();
        let e = events.value(0);
        let e = e.as_struct();
        assert_eq!(e.column(1).as_string::<i32>().value(0), "exception");
        assert_eq!(
            e.column(2).as_string::<i32>().value(0),
            r#"{"exception.type":"Timeout"}"#
        );
        let links = batch
            .column_by_name(col::LINKS)
            .expect("col")
            .as_list::<i32>();
        let l = links.value(1);
        assert_eq!(
            l.as_struct().column(0).as_string::<i32>().value(0),
            "ab".repeat(16)
        );
    }

    #[test]
    fn empty_resource_gets_unknown_service() {
        let resource = ResourceContext::new(&[], "");
        assert_eq!(resource.service_name(), UNKNOWN_SERVICE);
        let mut builder = SpanBatchBuilder::default();
        assert!(builder.is_empty());
        let batch = builder.finish().expect("empty batch");
        assert_eq!(batch.num_rows(), 0);
    }

    #[test]
    fn enum_words_round_trip() {
        for n in 0..6 {
            let kind = SpanKind::from_otlp(n);
            assert_eq!(kind.to_otlp(), n);
            assert_eq!(SpanKind::parse(kind.as_str()), Some(kind));
        }
        for n in 0..3 {
            let status = StatusCode::from_otlp(n);
            assert_eq!(StatusCode::parse(status.as_str()), Some(status));
            assert_eq!(status.to_otlp(), n);
        }
    }
}
