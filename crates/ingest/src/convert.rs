//! OTLP traces → `spans` record batches, with per-span validation.
//!
//! A request is read in place from its protobuf bytes ([`crate::wire`]): ids, names and
//! attributes go from the body straight into the batch's builders. A body that is not a valid
//! `ExportTraceServiceRequest` is refused whole, as a decoder would refuse it. A span whose ids
//! or times are unusable is rejected on its own (and counted for the response's
//! `partial_success`); the rest of the request is kept.

use std::fmt::Write as _;

use arrow::record_batch::RecordBatch;
use meshscope_model::{
    BatchHint, EventInput, LinkInput, ResourceContext, ScopeContext, SpanBatchBuilder, SpanInput,
    SpanKind, StatusCode, Value,
};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use prost::Message;

use crate::error::{Error, Result};
use crate::wire::{Fields, Wire, WireError, WireResult, each_message};

/// Earliest start time accepted: 2000-01-01T00:00:00Z.
pub const MIN_TIME_NS: i64 = 946_684_800_000_000_000;
/// How far in the future (past the receiver's clock) a span may end.
pub const MAX_FUTURE_NS: i64 = 24 * 3600 * 1_000_000_000;
/// Nesting depth of attribute values kept; deeper values are cut to empty.
const MAX_VALUE_DEPTH: usize = 16;
/// How many rejection reasons a response spells out.
const MAX_REASONS: usize = 3;
/// Most bytes of resource and scope data, as encoded, that the rows of one request may copy.
/// Every row carries its resource's and its scope's attributes, so a request with a large
/// resource and many small items would otherwise expand far past its own size. 256 MiB: a
/// collector's batch of 8,192 spans may share 32 kB of resource and scope attributes, and no
/// one request can take more than most of the default head (320 MiB).
pub const MAX_COPIED_BYTES: usize = 256 << 20;

/// Refuses a request whose `rows` rows would copy `copied` bytes of the resource and scope
/// data they share, when that is more than [`MAX_COPIED_BYTES`].
pub(crate) fn check_copied(request: &str, items: &str, rows: usize, copied: usize) -> Result<()> {
    if copied <= MAX_COPIED_BYTES {
        return Ok(());
    }
    Err(Error::TooLarge(format!(
        "{request}: its {rows} {items} would copy {copied} bytes of resource and scope data \
         (limit {MAX_COPIED_BYTES}); send fewer {items} per resource and scope"
    )))
}

/// The spans of one request that passed validation, and what was rejected.
#[derive(Debug)]
pub struct Converted {
    pub batch: RecordBatch,
    pub accepted: usize,
    pub rejected: usize,
    /// Why spans were rejected (the first few reasons), empty when none were.
    pub message: String,
}

impl From<WireError> for Error {
    fn from(e: WireError) -> Self {
        Error::InvalidArgument(format!("invalid ExportTraceServiceRequest protobuf: {e}"))
    }
}

/// Converts and validates every span of `request`. `now_ns` bounds future timestamps.
pub fn traces_to_batch(request: &ExportTraceServiceRequest, now_ns: i64) -> Result<Converted> {
    traces_protobuf_to_batch(&request.encode_to_vec(), now_ns)
}

/// Converts and validates every span of an `ExportTraceServiceRequest` given as protobuf,
/// reading it in place. `now_ns` bounds future timestamps. A body that is not a valid request
/// is an [`Error::InvalidArgument`].
pub fn traces_protobuf_to_batch(body: &[u8], now_ns: i64) -> Result<Converted> {
    let shape = count(body);
    check_copied(
        "ExportTraceServiceRequest",
        "spans",
        shape.hint.spans,
        shape.copied,
    )?;
    let mut conversion = Conversion {
        builder: SpanBatchBuilder::with_hint(shape.hint),
        now_ns,
        total: 0,
        rejected: 0,
        message: String::new(),
    };
    let mut ri = 0;
    each_message(
        body,
        0,
        (1, "ExportTraceServiceRequest.resource_spans"),
        |resource_spans| {
            conversion.resource_spans(resource_spans, ri, 1)?;
            ri += 1;
            Ok::<_, Error>(())
        },
    )?;
    conversion.finish()
}

/// What a request's spans share while they are converted.
struct Conversion {
    builder: SpanBatchBuilder,
    now_ns: i64,
    total: usize,
    rejected: usize,
    message: String,
}

/// The fields of one span other than its attributes, events and links.
#[derive(Default)]
struct SpanFields<'a> {
    trace_id: &'a [u8],
    span_id: &'a [u8],
    trace_state: &'a str,
    parent_span_id: &'a [u8],
    flags: u32,
    name: &'a str,
    kind: i32,
    start: u64,
    end: u64,
    dropped_attributes_count: u32,
    dropped_events_count: u32,
    dropped_links_count: u32,
    status_message: &'a str,
    status_code: i32,
}

/// A span's repeated fields, reused from span to span.
#[derive(Default)]
struct SpanLists<'a> {
    attributes: Vec<(&'a str, Value<'a>)>,
    events: Vec<EventInput<'a>>,
    links: Vec<LinkInput<'a>>,
    /// Links left out because their ids are unusable.
    bad_links: u32,
}

impl Conversion {
    fn resource_spans(&mut self, message: &[u8], ri: usize, depth: u32) -> Result<()> {
        let mut attributes = Vec::new();
        let mut schema_url = "";
        for field in Fields::of(message, depth)? {
            match field? {
                (1, wire) => {
                    let resource = wire.bytes("ResourceSpans.resource")?;
                    merge_resource(resource, depth + 1, &mut attributes)?;
                }
                (2, wire) => {
                    wire.bytes("ResourceSpans.scope_spans")?;
                }
                (3, wire) => schema_url = wire.string("ResourceSpans.schema_url")?,
                _ => {}
            }
        }
        // the resource may follow its spans: read them once it is known
        let resource = ResourceContext::new(&attributes, schema_url);
        let mut si = 0;
        each_message(
            message,
            depth,
            (2, "ResourceSpans.scope_spans"),
            |scope_spans| {
                self.scope_spans(scope_spans, &resource, (ri, si), depth + 1)?;
                si += 1;
                Ok(())
            },
        )
    }

    fn scope_spans(
        &mut self,
        message: &[u8],
        resource: &ResourceContext,
        (ri, si): (usize, usize),
        depth: u32,
    ) -> Result<()> {
        let mut scope = ScopeFields::default();
        let mut schema_url = "";
        for field in Fields::of(message, depth)? {
            match field? {
                (1, wire) => {
                    scope.merge(wire.bytes("ScopeSpans.scope")?, depth + 1)?;
                }
                (2, wire) => {
                    wire.bytes("ScopeSpans.spans")?;
                }
                (3, wire) => schema_url = wire.string("ScopeSpans.schema_url")?,
                _ => {}
            }
        }
        let scope = ScopeContext::new(scope.name, scope.version, &scope.attributes, schema_url);
        let mut lists = SpanLists::default();
        let mut pi = 0;
        each_message(message, depth, (2, "ScopeSpans.spans"), |span| {
            self.span(
                span,
                depth + 1,
                (resource, &scope),
                &mut lists,
                (ri, si, pi),
            )?;
            pi += 1;
            Ok(())
        })
    }

    /// Reads, checks and appends (or rejects) one span; `lists` is reused from span to span.
    fn span<'a>(
        &mut self,
        message: &'a [u8],
        depth: u32,
        (resource, scope): (&ResourceContext, &ScopeContext),
        lists: &mut SpanLists<'a>,
        (ri, si, pi): (usize, usize, usize),
    ) -> Result<()> {
        lists.attributes.clear();
        lists.events.clear();
        lists.links.clear();
        lists.bad_links = 0;
        let mut fields = SpanFields::default();
        read_span(message, depth, &mut fields, lists)?;
        self.total += 1;
        match check_span(&fields, self.now_ns) {
            Ok(checked) => self.builder.append(
                resource,
                scope,
                &SpanInput {
                    trace_id: checked.trace_id,
                    span_id: checked.span_id,
                    parent_span_id: checked.parent_span_id,
                    trace_state: fields.trace_state,
                    flags: fields.flags,
                    name: fields.name,
                    kind: SpanKind::from_otlp(fields.kind),
                    start_ns: checked.start_ns,
                    end_ns: checked.end_ns,
                    status: StatusCode::from_otlp(fields.status_code),
                    status_message: fields.status_message,
                    attributes: &lists.attributes,
                    dropped_attributes_count: fields.dropped_attributes_count,
                    events: &lists.events,
                    dropped_events_count: fields.dropped_events_count,
                    links: &lists.links,
                    dropped_links_count: fields.dropped_links_count.saturating_add(lists.bad_links),
                },
            ),
            Err(reason) => self.reject(format_args!(
                "resourceSpans[{ri}].scopeSpans[{si}].spans[{pi}]: {reason}"
            )),
        }
        Ok(())
    }

    fn reject(&mut self, reason: std::fmt::Arguments<'_>) {
        self.rejected += 1;
        if self.rejected <= MAX_REASONS {
            if !self.message.is_empty() {
                self.message.push_str("; ");
            }
            let _ = self.message.write_fmt(reason);
        }
    }

    fn finish(mut self) -> Result<Converted> {
        if self.rejected > MAX_REASONS {
            let _ = write!(self.message, "; and {} more", self.rejected - MAX_REASONS);
        }
        if self.rejected > 0 {
            let head = format!("{} of {} spans rejected: ", self.rejected, self.total);
            self.message.insert_str(0, &head);
        }
        let batch = self
            .builder
            .finish()
            .map_err(|e| Error::Internal(e.to_string()))?;
        Ok(Converted {
            accepted: batch.num_rows(),
            batch,
            rejected: self.rejected,
            message: self.message,
        })
    }
}

/// What a request holds, from a quick look at its field numbers (whatever is malformed, the
/// conversion finds and reports).
struct Shape {
    /// Spans and attributes, so that the builders allocate once.
    hint: BatchHint,
    /// Bytes of resource and scope data the spans' rows would copy.
    copied: usize,
}

fn count(body: &[u8]) -> Shape {
    /// Calls `f` with the number and bytes of every length-delimited field of `message`.
    fn each<'a>(message: &'a [u8], mut f: impl FnMut(u32, &'a [u8])) {
        let Ok(fields) = Fields::of(message, 0) else {
            return;
        };
        for (n, wire) in fields.map_while(WireResult::ok) {
            if let Wire::Len(inner) = wire {
                f(n, inner);
            }
        }
    }
    let mut shape = Shape {
        hint: BatchHint::default(),
        copied: 0,
    };
    each(body, |n, resource_spans| {
        if n != 1 {
            return;
        }
        // resource attributes and bytes (with the schema URL), and the spans that copy them
        let (mut resource_attributes, mut resource_bytes) = (0usize, 0usize);
        let (mut spans, mut scope_copied) = (0usize, 0usize);
        each(resource_spans, |n, field| match n {
            1 => {
                resource_bytes = resource_bytes.saturating_add(field.len());
                each(field, |n, _| resource_attributes += usize::from(n == 1));
            }
            2 => {
                let (mut scope_spans, mut scope_bytes) = (0usize, 0usize);
                each(field, |n, field| match n {
                    // the scope and its schema URL
                    1 | 3 => scope_bytes = scope_bytes.saturating_add(field.len()),
                    2 => {
                        scope_spans += 1;
                        each(field, |n, _| shape.hint.attributes += usize::from(n == 9));
                    }
                    _ => {}
                });
                spans += scope_spans;
                scope_copied = scope_copied.saturating_add(scope_spans.saturating_mul(scope_bytes));
            }
            3 => resource_bytes = resource_bytes.saturating_add(field.len()),
            _ => {}
        });
        shape.hint.spans += spans;
        shape.hint.resource_attributes = shape
            .hint
            .resource_attributes
            .saturating_add(spans.saturating_mul(resource_attributes));
        shape.copied = shape
            .copied
            .saturating_add(spans.saturating_mul(resource_bytes))
            .saturating_add(scope_copied);
    });
    // The hint sizes allocations, so it must not exceed what the body can fill: a body of
    // empty spans or attributes would otherwise reserve far more than the rows that pass.
    let hint = &mut shape.hint;
    hint.spans = hint.spans.min(body.len() / MIN_SPAN_BYTES);
    hint.attributes = hint.attributes.min(body.len() / MIN_ATTRIBUTE_BYTES);
    hint.resource_attributes = hint
        .resource_attributes
        .min(hint.spans.saturating_mul(MAX_HINT_RESOURCE_ATTRIBUTES));
    shape
}

/// Bytes of the smallest span that passes validation: its trace id, span id and two times
/// with their field keys.
const MIN_SPAN_BYTES: usize = 18 + 10 + 9 + 9;
/// Bytes an attribute takes at least in a realistic request (key, value and framing), for the
/// allocation hint only.
const MIN_ATTRIBUTE_BYTES: usize = 16;
/// Resource attributes per span the allocation hint reserves room for at most.
const MAX_HINT_RESOURCE_ATTRIBUTES: usize = 64;

/// Reads one span's fields into `fields` and `lists`.
fn read_span<'a>(
    message: &'a [u8],
    depth: u32,
    fields: &mut SpanFields<'a>,
    lists: &mut SpanLists<'a>,
) -> WireResult<()> {
    for field in Fields::of(message, depth)? {
        match field? {
            (1, wire) => fields.trace_id = wire.bytes("Span.trace_id")?,
            (2, wire) => fields.span_id = wire.bytes("Span.span_id")?,
            (3, wire) => fields.trace_state = wire.string("Span.trace_state")?,
            (4, wire) => fields.parent_span_id = wire.bytes("Span.parent_span_id")?,
            (5, wire) => fields.name = wire.string("Span.name")?,
            (6, wire) => fields.kind = wire.varint("Span.kind")? as i32,
            (7, wire) => fields.start = wire.fixed64("Span.start_time_unix_nano")?,
            (8, wire) => fields.end = wire.fixed64("Span.end_time_unix_nano")?,
            (9, wire) => {
                let kv = wire.bytes("Span.attributes")?;
                lists.attributes.push(key_value_at(kv, depth + 1)?);
            }
            (10, wire) => {
                fields.dropped_attributes_count =
                    wire.varint("Span.dropped_attributes_count")? as u32;
            }
            (11, wire) => {
                let event = wire.bytes("Span.events")?;
                lists.events.push(read_event(event, depth + 1)?);
            }
            (12, wire) => {
                fields.dropped_events_count = wire.varint("Span.dropped_events_count")? as u32;
            }
            (13, wire) => {
                let link = wire.bytes("Span.links")?;
                match read_link(link, depth + 1)? {
                    Some(link) => lists.links.push(link),
                    None => lists.bad_links = lists.bad_links.saturating_add(1),
                }
            }
            (14, wire) => {
                fields.dropped_links_count = wire.varint("Span.dropped_links_count")? as u32;
            }
            (15, wire) => {
                for field in Fields::of(wire.bytes("Span.status")?, depth + 1)? {
                    match field? {
                        (2, wire) => fields.status_message = wire.string("Status.message")?,
                        (3, wire) => fields.status_code = wire.varint("Status.code")? as i32,
                        _ => {}
                    }
                }
            }
            (16, wire) => fields.flags = wire.fixed32("Span.flags")?,
            _ => {}
        }
    }
    Ok(())
}

fn read_event(message: &[u8], depth: u32) -> WireResult<EventInput<'_>> {
    let mut event = EventInput {
        time_ns: 0,
        name: "",
        attributes: Vec::new(),
        dropped_attributes_count: 0,
    };
    for field in Fields::of(message, depth)? {
        match field? {
            (1, wire) => event.time_ns = clamp_time(wire.fixed64("Event.time_unix_nano")?),
            (2, wire) => event.name = wire.string("Event.name")?,
            (3, wire) => {
                let kv = wire.bytes("Event.attributes")?;
                event.attributes.push(key_value_at(kv, depth + 1)?);
            }
            (4, wire) => {
                event.dropped_attributes_count =
                    wire.varint("Event.dropped_attributes_count")? as u32;
            }
            _ => {}
        }
    }
    Ok(event)
}

/// A link, or `None` when its ids are unusable (it is then dropped and counted).
fn read_link(message: &[u8], depth: u32) -> WireResult<Option<LinkInput<'_>>> {
    let (mut trace_id, mut span_id): (&[u8], &[u8]) = (&[], &[]);
    let mut trace_state = "";
    let mut attributes = Vec::new();
    let (mut dropped_attributes_count, mut flags) = (0, 0);
    for field in Fields::of(message, depth)? {
        match field? {
            (1, wire) => trace_id = wire.bytes("Link.trace_id")?,
            (2, wire) => span_id = wire.bytes("Link.span_id")?,
            (3, wire) => trace_state = wire.string("Link.trace_state")?,
            (4, wire) => attributes.push(key_value_at(wire.bytes("Link.attributes")?, depth + 1)?),
            (5, wire) => {
                dropped_attributes_count = wire.varint("Link.dropped_attributes_count")? as u32;
            }
            (6, wire) => flags = wire.fixed32("Link.flags")?,
            _ => {}
        }
    }
    Ok(
        link_ids(trace_id, span_id).map(|(trace_id, span_id)| LinkInput {
            trace_id,
            span_id,
            trace_state,
            attributes,
            dropped_attributes_count,
            flags,
        }),
    )
}

/// Merges one occurrence of a `Resource` into its attributes. Entity references are not kept,
/// but are checked like the rest of the message.
fn merge_resource<'a>(
    message: &'a [u8],
    depth: u32,
    attributes: &mut Vec<(&'a str, Value<'a>)>,
) -> WireResult<()> {
    for field in Fields::of(message, depth)? {
        match field? {
            (1, wire) => {
                attributes.push(key_value_at(wire.bytes("Resource.attributes")?, depth + 1)?)
            }
            (2, wire) => {
                wire.varint("Resource.dropped_attributes_count")?;
            }
            (3, wire) => {
                for field in Fields::of(wire.bytes("Resource.entity_refs")?, depth + 1)? {
                    match field? {
                        (1, wire) => wire.string("EntityRef.schema_url").map(drop)?,
                        (2, wire) => wire.string("EntityRef.type").map(drop)?,
                        (3, wire) => wire.string("EntityRef.id_keys").map(drop)?,
                        (4, wire) => wire.string("EntityRef.description_keys").map(drop)?,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// An `InstrumentationScope`, merged over its occurrences.
#[derive(Default)]
struct ScopeFields<'a> {
    name: &'a str,
    version: &'a str,
    attributes: Vec<(&'a str, Value<'a>)>,
}

impl<'a> ScopeFields<'a> {
    fn merge(&mut self, message: &'a [u8], depth: u32) -> WireResult<()> {
        for field in Fields::of(message, depth)? {
            match field? {
                (1, wire) => self.name = wire.string("InstrumentationScope.name")?,
                (2, wire) => self.version = wire.string("InstrumentationScope.version")?,
                (3, wire) => {
                    let kv = wire.bytes("InstrumentationScope.attributes")?;
                    self.attributes.push(key_value_at(kv, depth + 1)?);
                }
                (4, wire) => {
                    wire.varint("InstrumentationScope.dropped_attributes_count")?;
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// A `KeyValue` (an attribute), its value borrowed from the body.
fn key_value_at(message: &[u8], depth: u32) -> WireResult<(&str, Value<'_>)> {
    let mut key = "";
    let mut value = Value::Empty;
    for field in Fields::of(message, depth)? {
        match field? {
            (1, wire) => key = wire.string("KeyValue.key")?,
            (2, wire) => merge_any_value(wire.bytes("KeyValue.value")?, depth + 1, 0, &mut value)?,
            (3, wire) => {
                wire.varint("KeyValue.key_strindex")?;
            }
            _ => {}
        }
    }
    Ok((key, value))
}

/// Merges one occurrence of an `AnyValue` nested `level` values deep into `value`. Values
/// deeper than [`MAX_VALUE_DEPTH`] are read (and checked) but kept as empty.
fn merge_any_value<'a>(
    message: &'a [u8],
    depth: u32,
    level: usize,
    value: &mut Value<'a>,
) -> WireResult<()> {
    for field in Fields::of(message, depth)? {
        match field? {
            (1, wire) => *value = Value::Str(wire.string("AnyValue.string_value")?),
            (2, wire) => *value = Value::Bool(wire.varint("AnyValue.bool_value")? != 0),
            (3, wire) => *value = Value::Int(wire.varint("AnyValue.int_value")? as i64),
            (4, wire) => {
                *value = Value::Double(f64::from_bits(wire.fixed64("AnyValue.double_value")?));
            }
            (5, wire) => {
                let array = wire.bytes("AnyValue.array_value")?;
                if !matches!(value, Value::Array(_)) {
                    *value = Value::Array(Vec::new());
                }
                if let Value::Array(items) = value {
                    each_message(array, depth + 1, (1, "ArrayValue.values"), |item| {
                        items.push(any_value_at(item, depth + 2, level + 1)?);
                        Ok::<_, WireError>(())
                    })?;
                }
            }
            (6, wire) => {
                let list = wire.bytes("AnyValue.kvlist_value")?;
                if !matches!(value, Value::Map(_)) {
                    *value = Value::Map(Vec::new());
                }
                if let Value::Map(entries) = value {
                    each_message(list, depth + 1, (1, "KeyValueList.values"), |kv| {
                        let (key, entry) = key_value_at(kv, depth + 2)?;
                        entries.push((key, cut(entry, level + 1)));
                        Ok::<_, WireError>(())
                    })?;
                }
            }
            (7, wire) => *value = Value::Bytes(wire.bytes("AnyValue.bytes_value")?),
            (8, wire) => {
                let index = wire.varint("AnyValue.string_value_strindex")? as i32;
                *value = Value::Int(i64::from(index));
            }
            _ => {}
        }
    }
    Ok(())
}

fn any_value_at(message: &[u8], depth: u32, level: usize) -> WireResult<Value<'_>> {
    let mut value = Value::Empty;
    merge_any_value(message, depth, level, &mut value)?;
    Ok(cut(value, level))
}

/// `value`, or empty when it lies deeper than [`MAX_VALUE_DEPTH`].
fn cut(value: Value<'_>, level: usize) -> Value<'_> {
    if level > MAX_VALUE_DEPTH {
        Value::Empty
    } else {
        value
    }
}

struct Checked {
    trace_id: [u8; 16],
    span_id: [u8; 8],
    parent_span_id: Option<[u8; 8]>,
    start_ns: i64,
    end_ns: i64,
}

fn check_span(span: &SpanFields<'_>, now_ns: i64) -> std::result::Result<Checked, String> {
    let trace_id: [u8; 16] = span
        .trace_id
        .try_into()
        .map_err(|_| format!("trace_id must be 16 bytes, got {}", span.trace_id.len()))?;
    if trace_id == [0; 16] {
        return Err("trace_id is all zeros".into());
    }
    let span_id: [u8; 8] = span
        .span_id
        .try_into()
        .map_err(|_| format!("span_id must be 8 bytes, got {}", span.span_id.len()))?;
    if span_id == [0; 8] {
        return Err("span_id is all zeros".into());
    }
    let parent_span_id = match span.parent_span_id.len() {
        0 => None,
        8 => {
            let mut p = [0u8; 8];
            p.copy_from_slice(span.parent_span_id);
            (p != [0; 8]).then_some(p)
        }
        n => return Err(format!("parent_span_id must be 0 or 8 bytes, got {n}")),
    };
    let max_ns = now_ns.saturating_add(MAX_FUTURE_NS);
    let start = span.start;
    let end = span.end;
    if start == 0 {
        return Err("start_time_unix_nano is missing".into());
    }
    let start_ns = i64::try_from(start)
        .ok()
        .filter(|t| (MIN_TIME_NS..=max_ns).contains(t))
        .ok_or_else(|| {
            format!("start_time_unix_nano {start} is outside 2000-01-01 .. now + 24h")
        })?;
    let end_ns = i64::try_from(end)
        .ok()
        .filter(|t| *t <= max_ns)
        .ok_or_else(|| format!("end_time_unix_nano {end} is later than now + 24h"))?;
    if end_ns < start_ns {
        return Err(format!(
            "end_time_unix_nano {end} is before start_time_unix_nano {start}"
        ));
    }
    Ok(Checked {
        trace_id,
        span_id,
        parent_span_id,
        start_ns,
        end_ns,
    })
}

fn link_ids(trace_id: &[u8], span_id: &[u8]) -> Option<([u8; 16], [u8; 8])> {
    let t: [u8; 16] = trace_id.try_into().ok()?;
    let s: [u8; 8] = span_id.try_into().ok()?;
    (t != [0; 16] && s != [0; 8]).then_some((t, s))
}

fn clamp_time(t: u64) -> i64 {
    i64::try_from(t).unwrap_or(i64::MAX)
}

/// Borrows OTLP key-values as model values.
pub fn key_values(kvs: &[KeyValue]) -> Vec<(&str, Value<'_>)> {
    kvs.iter().map(key_value).collect()
}

fn key_value(kv: &KeyValue) -> (&str, Value<'_>) {
    (kv.key.as_str(), any_value(kv.value.as_ref(), 0))
}

/// Borrows an OTLP `AnyValue` as a model value.
pub fn any_value(value: Option<&AnyValue>, depth: usize) -> Value<'_> {
    use any_value::Value as V;
    if depth > MAX_VALUE_DEPTH {
        return Value::Empty;
    }
    match value.and_then(|v| v.value.as_ref()) {
        None => Value::Empty,
        Some(V::StringValue(s)) => Value::Str(s),
        Some(V::BoolValue(b)) => Value::Bool(*b),
        Some(V::IntValue(i)) => Value::Int(*i),
        Some(V::DoubleValue(d)) => Value::Double(*d),
        Some(V::BytesValue(b)) => Value::Bytes(b),
        Some(V::ArrayValue(a)) => Value::Array(
            a.values
                .iter()
                .map(|v| any_value(Some(v), depth + 1))
                .collect(),
        ),
        Some(V::KvlistValue(kv)) => Value::Map(
            kv.values
                .iter()
                .map(|kv| (kv.key.as_str(), any_value(kv.value.as_ref(), depth + 1)))
                .collect(),
        ),
        Some(V::StringValueStrindex(i)) => Value::Int(i64::from(*i)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::AsArray;
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status, span};

    const NOW: i64 = 1_764_000_000_000_000_000;

    fn good_span(i: u8) -> Span {
        Span {
            trace_id: vec![i.max(1); 16],
            span_id: vec![i.max(1); 8],
            name: format!("op-{i}"),
            kind: 2,
            start_time_unix_nano: (NOW - 1_000_000) as u64,
            end_time_unix_nano: NOW as u64,
            status: Some(Status {
                code: 2,
                message: "boom".into(),
            }),
            links: vec![
                span::Link {
                    trace_id: vec![7; 16],
                    span_id: vec![7; 8],
                    ..Default::default()
                },
                span::Link {
                    trace_id: vec![7; 3],
                    span_id: vec![7; 8],
                    ..Default::default()
                },
            ],
            ..Default::default()
        }
    }

    fn request(spans: Vec<Span>) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![KeyValue {
                        key: "service.name".into(),
                        value: Some(AnyValue {
                            value: Some(any_value::Value::StringValue("cart".into())),
                        }),
                        ..Default::default()
                    }],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    #[test]
    fn rejects_bad_spans_and_keeps_the_rest() {
        type Mutation = Box<dyn Fn(&mut Span)>;
        let bad: Vec<(Mutation, &str)> = vec![
            (
                Box::new(|s| s.trace_id = vec![0; 16]),
                "trace_id is all zeros",
            ),
            (
                Box::new(|s| s.trace_id = vec![1; 15]),
                "trace_id must be 16 bytes, got 15",
            ),
            (Box::new(|s| s.span_id = vec![0; 8]), "span_id is all zeros"),
            (
                Box::new(|s| s.span_id = vec![]),
                "span_id must be 8 bytes, got 0",
            ),
            (
                Box::new(|s| s.parent_span_id = vec![1; 4]),
                "parent_span_id must be 0 or 8 bytes",
            ),
            (
                Box::new(|s| s.start_time_unix_nano = 0),
                "start_time_unix_nano is missing",
            ),
            (
                Box::new(|s| s.start_time_unix_nano = 1_000),
                "outside 2000-01-01",
            ),
            (
                Box::new(|s| s.start_time_unix_nano = u64::MAX),
                "outside 2000-01-01",
            ),
            (
                Box::new(|s| s.end_time_unix_nano = u64::MAX),
                "later than now + 24h",
            ),
            (
                Box::new(|s| s.end_time_unix_nano = 1),
                "is before start_time_unix_nano",
            ),
        ];
        for (mutate, expect) in &bad {
            let mut broken = good_span(9);
            mutate(&mut broken);
            let converted =
                traces_to_batch(&request(vec![good_span(1), broken, good_span(2)]), NOW)
                    .expect("convert");
            assert_eq!(converted.accepted, 2, "{expect}");
            assert_eq!(converted.rejected, 1, "{expect}");
            assert!(
                converted.message.starts_with(
                    "1 of 3 spans rejected: resourceSpans[0].scopeSpans[0].spans[1]: "
                ),
                "{}",
                converted.message
            );
            assert!(
                converted.message.contains(expect),
                "{} !~ {expect}",
                converted.message
            );
        }
    }

    #[test]
    fn converts_fields() {
        let mut root = good_span(3);
        root.parent_span_id = vec![0; 8];
        let converted = traces_to_batch(&request(vec![root]), NOW).expect("convert");
        assert_eq!(converted.rejected, 0);
        assert!(converted.message.is_empty());
        let b = &converted.batch;
        let s = |c: &str| {
            b.column_by_name(c)
                .expect(c)
                .as_string::<i32>()
                .value(0)
                .to_owned()
        };
        assert_eq!(s("trace_id"), "03".repeat(16));
        assert_eq!(s("parent_span_id"), "", "all-zero parent means root");
        assert_eq!(s("service_name"), "cart");
        assert_eq!(s("kind"), "server");
        assert_eq!(s("status_code"), "error");
        assert_eq!(s("status_message"), "boom");
        let links = b.column_by_name("links").expect("links").as_list::<i32>();
        assert_eq!(links.value(0).len(), 1, "the malformed link is dropped");
        let dropped = b
            .column_by_name("dropped_links_count")
            .expect("col")
            .as_primitive::<arrow::datatypes::UInt32Type>();
        assert_eq!(dropped.value(0), 1);
    }

    #[test]
    fn many_rejections_are_summarised() {
        let spans = (0..10)
            .map(|_| {
                let mut s = good_span(1);
                s.trace_id.clear();
                s
            })
            .collect();
        let converted = traces_to_batch(&request(spans), NOW).expect("convert");
        assert_eq!(converted.rejected, 10);
        assert_eq!(converted.batch.num_rows(), 0);
        assert!(converted.message.starts_with("10 of 10 spans rejected"));
        assert!(
            converted.message.ends_with("; and 7 more"),
            "{}",
            converted.message
        );
    }

    #[test]
    fn deep_values_are_cut() {
        let mut v = AnyValue {
            value: Some(any_value::Value::StringValue("leaf".into())),
        };
        for _ in 0..100 {
            v = AnyValue {
                value: Some(any_value::Value::ArrayValue(
                    opentelemetry_proto::tonic::common::v1::ArrayValue { values: vec![v] },
                )),
            };
        }
        let mut depth = 0;
        let mut cur = any_value(Some(&v), 0);
        while let Value::Array(mut items) = cur {
            depth += 1;
            cur = items.pop().expect("one item");
        }
        assert_eq!(cur, Value::Empty);
        assert_eq!(depth, MAX_VALUE_DEPTH + 1);
    }

    /// A protobuf writer for bodies that encoders do not produce: fields out of order,
    /// repeated message fields, unknown fields and groups.
    #[derive(Default)]
    struct Writer(Vec<u8>);

    impl Writer {
        fn key(mut self, number: u32, wire_type: u32) -> Self {
            prost::encoding::encode_varint(u64::from(number << 3 | wire_type), &mut self.0);
            self
        }
        fn varint(self, number: u32, value: u64) -> Self {
            let mut w = self.key(number, 0);
            prost::encoding::encode_varint(value, &mut w.0);
            w
        }
        fn fixed64(self, number: u32, value: u64) -> Self {
            let mut w = self.key(number, 1);
            w.0.extend(value.to_le_bytes());
            w
        }
        fn fixed32(self, number: u32, value: u32) -> Self {
            let mut w = self.key(number, 5);
            w.0.extend(value.to_le_bytes());
            w
        }
        fn bytes(self, number: u32, value: &[u8]) -> Self {
            let mut w = self.key(number, 2);
            prost::encoding::encode_varint(value.len() as u64, &mut w.0);
            w.0.extend(value);
            w
        }
        fn message(self, number: u32, value: Writer) -> Self {
            self.bytes(number, &value.0)
        }
        /// Unknown fields of every wire type, a group among them.
        fn noise(self) -> Self {
            self.varint(900, 7)
                .fixed64(901, 1)
                .bytes(902, b"\xff not a string")
                .fixed32(903, 2)
                .key(904, 3)
                .varint(1, 5)
                .key(904, 4)
        }
    }

    fn string_value(s: &str) -> Writer {
        Writer::default().bytes(1, s.as_bytes())
    }

    fn key_value(key: &str, value: Writer) -> Writer {
        Writer::default()
            .message(2, value)
            .noise()
            .bytes(1, key.as_bytes())
    }

    /// What prost makes of `body`, converted: the reference the in-place reading must match.
    fn via_prost(body: &[u8]) -> Option<Converted> {
        let request = ExportTraceServiceRequest::decode(body).ok()?;
        Some(traces_to_batch(&request, NOW).expect("a decoded request converts"))
    }

    fn assert_same(a: &Converted, b: &Converted) {
        assert_eq!(a.batch, b.batch);
        assert_eq!(
            (a.accepted, a.rejected, &a.message),
            (b.accepted, b.rejected, &b.message)
        );
    }

    fn map_entries(batch: &RecordBatch, column: &str, row: usize) -> Vec<(String, String)> {
        let map = batch.column_by_name(column).expect(column).as_map();
        let entries = map.value(row);
        let keys = entries.column(0).as_string::<i32>();
        let values = entries.column(1).as_string::<i32>();
        (0..arrow::array::Array::len(&entries))
            .map(|i| (keys.value(i).to_owned(), values.value(i).to_owned()))
            .collect()
    }

    /// A span written the way no encoder writes it: every field after the ones it depends
    /// on, repeated message fields, unknown fields and a group throughout.
    fn scrambled_request() -> Vec<u8> {
        let span = Writer::default()
            .noise()
            .message(15, Writer::default().bytes(2, b"first").varint(3, 1))
            .message(9, key_value("http.request.method", string_value("GET")))
            .message(
                9,
                key_value(
                    "tags",
                    Writer::default()
                        .message(5, Writer::default().message(1, string_value("a")))
                        .message(
                            5,
                            Writer::default().message(1, Writer::default().varint(3, 7)),
                        ),
                ),
            )
            .message(
                9,
                key_value(
                    "replaced",
                    Writer::default().message(5, Writer::default()).varint(2, 1),
                ),
            )
            .fixed64(8, NOW as u64)
            .fixed64(7, (NOW - 5_000) as u64)
            .bytes(5, b"GET /cart")
            .varint(6, 2)
            .bytes(2, &[2; 8])
            .bytes(1, &[1; 16])
            .message(15, Writer::default().varint(3, 2))
            .message(
                13,
                Writer::default()
                    .bytes(1, &[3; 16])
                    .bytes(2, &[4; 8])
                    .fixed32(6, 1),
            )
            .message(13, Writer::default().bytes(1, &[3; 15]).bytes(2, &[4; 8]))
            .varint(14, 2)
            .message(
                11,
                Writer::default()
                    .fixed64(1, NOW as u64)
                    .bytes(2, b"retry")
                    .noise(),
            )
            .fixed32(16, 0x101);
        let scope_spans = Writer::default()
            .message(2, span)
            .noise()
            .message(1, Writer::default().bytes(1, b"envoy"))
            .message(1, Writer::default().bytes(2, b"1.31"))
            .bytes(3, b"https://opentelemetry.io/schemas/1.26.0");
        let resource_spans = Writer::default()
            .message(2, scope_spans)
            .message(
                1,
                Writer::default().message(1, key_value("service.name", string_value("cart"))),
            )
            .noise()
            .message(
                1,
                Writer::default()
                    .message(1, key_value("k8s.pod.name", string_value("cart-0")))
                    .message(
                        3,
                        Writer::default()
                            .bytes(2, b"k8s.pod")
                            .bytes(3, b"k8s.pod.uid"),
                    ),
            );
        Writer::default().noise().message(1, resource_spans).0
    }

    #[test]
    fn reads_fields_in_any_order_and_merges_repeated_messages() {
        let body = scrambled_request();
        let converted = traces_protobuf_to_batch(&body, NOW).expect("valid body");
        assert_same(&converted, &via_prost(&body).expect("prost decodes it"));
        let b = &converted.batch;
        assert_eq!(b.num_rows(), 1);
        let s = |c: &str| {
            b.column_by_name(c)
                .expect(c)
                .as_string::<i32>()
                .value(0)
                .to_owned()
        };
        assert_eq!(s("trace_id"), "01".repeat(16));
        assert_eq!(s("span_id"), "02".repeat(8));
        assert_eq!(s("name"), "GET /cart");
        assert_eq!(s("kind"), "server");
        assert_eq!(s("status_code"), "error", "the later Status.code wins");
        assert_eq!(
            s("status_message"),
            "first",
            "and the earlier message stays"
        );
        assert_eq!(s("service_name"), "cart");
        assert_eq!(s("scope_name"), "envoy");
        assert_eq!(s("scope_version"), "1.31");
        assert_eq!(s("http_method"), "GET");
        assert_eq!(s("k8s_pod"), "cart-0", "both Resource occurrences count");
        let attributes = map_entries(b, "attributes", 0);
        assert_eq!(
            attributes,
            [
                ("http.request.method".to_owned(), "GET".to_owned()),
                ("tags".to_owned(), r#"["a",7]"#.to_owned()),
                ("replaced".to_owned(), "true".to_owned()),
            ]
        );
        let links = b.column_by_name("links").expect("links").as_list::<i32>();
        assert_eq!(
            links.value(0).len(),
            1,
            "the link with a short trace id is dropped"
        );
        let dropped = b
            .column_by_name("dropped_links_count")
            .expect("col")
            .as_primitive::<arrow::datatypes::UInt32Type>();
        assert_eq!(dropped.value(0), 3);
        let events = b.column_by_name("events").expect("events").as_list::<i32>();
        assert_eq!(events.value(0).len(), 1);
    }

    #[test]
    fn values_deeper_than_the_limit_are_cut_but_checked() {
        let mut value = string_value("leaf");
        for _ in 0..40 {
            value = Writer::default().message(5, Writer::default().message(1, value));
        }
        let body = |value: Writer| {
            let span = Writer::default()
                .bytes(1, &[1; 16])
                .bytes(2, &[2; 8])
                .fixed64(7, (NOW - 1) as u64)
                .fixed64(8, NOW as u64)
                .message(9, key_value("deep", value));
            let scope_spans = Writer::default().message(2, span);
            Writer::default()
                .message(1, Writer::default().message(2, scope_spans))
                .0
        };
        let converted = traces_protobuf_to_batch(&body(value), NOW).expect("valid");
        let attributes = map_entries(&converted.batch, "attributes", 0);
        let depth = attributes[0].1.matches('[').count();
        assert_eq!(depth, MAX_VALUE_DEPTH + 1, "{}", attributes[0].1);
        assert!(!attributes[0].1.contains("leaf"));

        // below the cut, a string that is not UTF-8 still makes the body invalid
        let mut bad = string_value("le\u{fffd}f");
        bad.0 = vec![0x0a, 3, b'l', 0xff, b'f'];
        for _ in 0..40 {
            bad = Writer::default().message(5, Writer::default().message(1, bad));
        }
        let err = traces_protobuf_to_batch(&body(bad), NOW).expect_err("not UTF-8");
        assert!(
            err.to_string()
                .contains("AnyValue.string_value: string is not valid UTF-8"),
            "{err}"
        );
    }

    #[test]
    fn refuses_bodies_that_are_not_requests() {
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (b"\xff\xff\xff\xff".to_vec(), "invalid"),
            (
                Writer::default().varint(1, 5).0,
                "ExportTraceServiceRequest.resource_spans: expected a length-delimited field",
            ),
            (
                Writer::default()
                    .message(
                        1,
                        Writer::default().message(
                            2,
                            Writer::default().message(2, Writer::default().varint(5, 1)),
                        ),
                    )
                    .0,
                "Span.name: expected a length-delimited field",
            ),
            (
                Writer::default()
                    .message(
                        1,
                        Writer::default().message(
                            2,
                            Writer::default().message(2, Writer::default().bytes(7, &[0; 8])),
                        ),
                    )
                    .0,
                "Span.start_time_unix_nano: expected a 64-bit field",
            ),
            (
                Writer::default()
                    .message(
                        1,
                        Writer::default().message(
                            1,
                            Writer::default()
                                .message(1, key_value("k", Writer::default().bytes(1, b"\xc3"))),
                        ),
                    )
                    .0,
                "AnyValue.string_value: string is not valid UTF-8",
            ),
            (
                Writer::default()
                    .message(
                        1,
                        Writer::default().message(
                            1,
                            Writer::default().message(3, Writer::default().bytes(3, b"\xff")),
                        ),
                    )
                    .0,
                "EntityRef.id_keys: string is not valid UTF-8",
            ),
        ];
        for (body, expect) in cases {
            assert!(via_prost(&body).is_none(), "prost refuses it too: {expect}");
            let err = traces_protobuf_to_batch(&body, NOW).expect_err(expect);
            let message = err.to_string();
            assert!(matches!(err, Error::InvalidArgument(_)), "{message}");
            assert!(
                message.starts_with("invalid ExportTraceServiceRequest protobuf: "),
                "{message}"
            );
            assert!(message.contains(expect), "{message} !~ {expect}");
        }
    }

    /// Small deterministic generator for the mutation test.
    struct XorShift(u64);

    impl XorShift {
        fn below(&mut self, n: usize) -> usize {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 % n as u64) as usize
        }
    }

    #[test]
    fn mutated_bodies_read_as_prost_reads_them() {
        let mut request = request(vec![good_span(1), good_span(2), good_span(3)]);
        request.resource_spans[0].scope_spans[0].spans[1].attributes = vec![KeyValue {
            key: "http.response.status_code".into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::IntValue(503)),
            }),
            ..Default::default()
        }];
        let bodies = [request.encode_to_vec(), scrambled_request()];
        let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
        let (mut both_valid, mut both_invalid) = (0, 0);
        for i in 0..20_000 {
            let mut body = bodies[i % bodies.len()].clone();
            for _ in 0..=rng.below(3) {
                let at = rng.below(body.len());
                match rng.below(4) {
                    0 => body[at] ^= 1 << rng.below(8),
                    1 => body[at] = rng.below(256) as u8,
                    2 => body.truncate(at),
                    _ => body.insert(at, rng.below(256) as u8),
                }
                if body.is_empty() {
                    break;
                }
            }
            match (traces_protobuf_to_batch(&body, NOW), via_prost(&body)) {
                (Ok(in_place), Some(decoded)) => {
                    assert_same(&in_place, &decoded);
                    both_valid += 1;
                }
                (Err(_), None) => both_invalid += 1,
                (Ok(_), None) => panic!("read in place but prost refuses: {body:?}"),
                (Err(e), Some(_)) => panic!("prost decodes but in place: {e}: {body:?}"),
            }
        }
        assert!(
            both_valid > 1_000 && both_invalid > 1_000,
            "{both_valid} / {both_invalid}"
        );
    }

    #[test]
    fn refuses_requests_whose_rows_would_copy_too_much() {
        // a resource of 100 kB shared by `spans` spans: every row copies it
        let body = |spans: usize| {
            let mut r = request((0..spans).map(|i| good_span(i as u8)).collect());
            let resource = r.resource_spans[0].resource.as_mut().expect("resource");
            resource.attributes.push(KeyValue {
                key: "blob".into(),
                value: Some(AnyValue {
                    value: Some(any_value::Value::StringValue("x".repeat(100_000))),
                }),
                ..Default::default()
            });
            r.encode_to_vec()
        };
        let big = body(3000);
        assert!(big.len() < 500_000, "{} bytes", big.len());
        let err = traces_protobuf_to_batch(&big, NOW).expect_err("300 MB of copies");
        assert!(matches!(err, Error::TooLarge(_)), "{err}");
        let message = err.to_string();
        assert!(
            message.starts_with("ExportTraceServiceRequest: its 3000 spans would copy 30"),
            "{message}"
        );
        assert!(
            message.ends_with("(limit 268435456); send fewer spans per resource and scope"),
            "{message}"
        );
        let fine = traces_protobuf_to_batch(&body(100), NOW).expect("10 MB of copies");
        assert_eq!(fine.accepted, 100);
    }

    #[test]
    fn the_allocation_hint_stays_within_what_the_body_can_fill() {
        // 100,000 empty spans (two bytes each), then one span with 50,000 empty attributes
        let mut scope_spans = Writer::default();
        for _ in 0..100_000 {
            scope_spans = scope_spans.bytes(2, b"");
        }
        let mut crowded = Writer::default();
        for _ in 0..50_000 {
            crowded = crowded.bytes(9, b"");
        }
        let scope_spans = scope_spans.message(2, crowded);
        let body = Writer::default()
            .message(1, Writer::default().message(2, scope_spans))
            .0;
        let shape = count(&body);
        assert!(
            shape.hint.spans <= body.len() / MIN_SPAN_BYTES,
            "{:?}",
            shape.hint
        );
        assert!(
            shape.hint.attributes <= body.len() / MIN_ATTRIBUTE_BYTES,
            "{:?}",
            shape.hint
        );
        let converted = traces_protobuf_to_batch(&body, NOW).expect("valid protobuf");
        assert_eq!((converted.accepted, converted.rejected), (0, 100_001));

        // a realistic request keeps its exact counts
        let request = request(vec![good_span(1), good_span(2)]).encode_to_vec();
        let shape = count(&request);
        assert_eq!((shape.hint.spans, shape.hint.resource_attributes), (2, 2));
    }
}
