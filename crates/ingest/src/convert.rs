//! OTLP traces → `spans` record batches, with per-span validation.
//!
//! A span whose ids or times are unusable is rejected on its own (and counted for the
//! response's `partial_success`); the rest of the request is kept.

use std::fmt::Write as _;

use arrow::record_batch::RecordBatch;
use meshscope_model::{
    BatchHint, EventInput, LinkInput, ResourceContext, ScopeContext, SpanBatchBuilder, SpanInput,
    SpanKind, StatusCode, Value,
};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::Span;

use crate::error::{Error, Result};

/// Earliest start time accepted: 2000-01-01T00:00:00Z.
pub const MIN_TIME_NS: i64 = 946_684_800_000_000_000;
/// How far in the future (past the receiver's clock) a span may end.
pub const MAX_FUTURE_NS: i64 = 24 * 3600 * 1_000_000_000;
/// Nesting depth of attribute values kept; deeper values are cut to empty.
const MAX_VALUE_DEPTH: usize = 16;
/// How many rejection reasons a response spells out.
const MAX_REASONS: usize = 3;

/// The spans of one request that passed validation, and what was rejected.
#[derive(Debug)]
pub struct Converted {
    pub batch: RecordBatch,
    pub accepted: usize,
    pub rejected: usize,
    /// Why spans were rejected (the first few reasons), empty when none were.
    pub message: String,
}

/// Converts and validates every span of `request`. `now_ns` bounds future timestamps.
pub fn traces_to_batch(request: &ExportTraceServiceRequest, now_ns: i64) -> Result<Converted> {
    let mut hint = BatchHint::default();
    for resource_spans in &request.resource_spans {
        let resource_attributes = resource_spans
            .resource
            .as_ref()
            .map_or(0, |r| r.attributes.len());
        for scope_spans in &resource_spans.scope_spans {
            hint.spans += scope_spans.spans.len();
            hint.resource_attributes += scope_spans.spans.len() * resource_attributes;
            hint.attributes += scope_spans
                .spans
                .iter()
                .map(|s| s.attributes.len())
                .sum::<usize>();
        }
    }
    let total = hint.spans;
    let mut builder = SpanBatchBuilder::with_hint(hint);
    let mut rejected = 0usize;
    let mut message = String::new();
    let mut attrs = Vec::new();

    for (ri, resource_spans) in request.resource_spans.iter().enumerate() {
        let resource_attrs = resource_spans
            .resource
            .as_ref()
            .map(|r| key_values(&r.attributes))
            .unwrap_or_default();
        let resource = ResourceContext::new(&resource_attrs, &resource_spans.schema_url);
        for (si, scope_spans) in resource_spans.scope_spans.iter().enumerate() {
            let scope = match &scope_spans.scope {
                Some(s) => ScopeContext::new(
                    &s.name,
                    &s.version,
                    &key_values(&s.attributes),
                    &scope_spans.schema_url,
                ),
                None => ScopeContext::new("", "", &[], &scope_spans.schema_url),
            };
            for (pi, span) in scope_spans.spans.iter().enumerate() {
                match check_span(span, now_ns) {
                    Ok(checked) => {
                        attrs.clear();
                        attrs.extend(span.attributes.iter().map(key_value));
                        let events: Vec<EventInput<'_>> = span
                            .events
                            .iter()
                            .map(|e| EventInput {
                                time_ns: clamp_time(e.time_unix_nano),
                                name: &e.name,
                                attributes: key_values(&e.attributes),
                                dropped_attributes_count: e.dropped_attributes_count,
                            })
                            .collect();
                        let mut dropped_links = span.dropped_links_count;
                        let links: Vec<LinkInput<'_>> =
                            span.links
                                .iter()
                                .filter_map(|l| {
                                    let link = link_ids(&l.trace_id, &l.span_id).map(
                                        |(trace_id, span_id)| LinkInput {
                                            trace_id,
                                            span_id,
                                            trace_state: &l.trace_state,
                                            attributes: key_values(&l.attributes),
                                            dropped_attributes_count: l.dropped_attributes_count,
                                            flags: l.flags,
                                        },
                                    );
                                    if link.is_none() {
                                        dropped_links = dropped_links.saturating_add(1);
                                    }
                                    link
                                })
                                .collect();
                        let status = span.status.as_ref();
                        builder.append(
                            &resource,
                            &scope,
                            &SpanInput {
                                trace_id: checked.trace_id,
                                span_id: checked.span_id,
                                parent_span_id: checked.parent_span_id,
                                trace_state: &span.trace_state,
                                flags: span.flags,
                                name: &span.name,
                                kind: SpanKind::from_otlp(span.kind),
                                start_ns: checked.start_ns,
                                end_ns: checked.end_ns,
                                status: StatusCode::from_otlp(status.map_or(0, |s| s.code)),
                                status_message: status.map_or("", |s| s.message.as_str()),
                                attributes: &attrs,
                                dropped_attributes_count: span.dropped_attributes_count,
                                events: &events,
                                dropped_events_count: span.dropped_events_count,
                                links: &links,
                                dropped_links_count: dropped_links,
                            },
                        );
                    }
                    Err(reason) => {
                        rejected += 1;
                        if rejected <= MAX_REASONS {
                            if !message.is_empty() {
                                message.push_str("; ");
                            }
                            let _ = write!(
                                message,
                                "resourceSpans[{ri}].scopeSpans[{si}].spans[{pi}]: {reason}"
                            );
                        }
                    }
                }
            }
        }
    }
    if rejected > MAX_REASONS {
        let _ = write!(message, "; and {} more", rejected - MAX_REASONS);
    }
    if rejected > 0 {
        message.insert_str(0, &format!("{rejected} of {total} spans rejected: "));
    }
    let batch = builder
        .finish()
        .map_err(|e| Error::Internal(e.to_string()))?;
    Ok(Converted {
        accepted: batch.num_rows(),
        batch,
        rejected,
        message,
    })
}

struct Checked {
    trace_id: [u8; 16],
    span_id: [u8; 8],
    parent_span_id: Option<[u8; 8]>,
    start_ns: i64,
    end_ns: i64,
}

fn check_span(span: &Span, now_ns: i64) -> std::result::Result<Checked, String> {
    let trace_id: [u8; 16] = span
        .trace_id
        .as_slice()
        .try_into()
        .map_err(|_| format!("trace_id must be 16 bytes, got {}", span.trace_id.len()))?;
    if trace_id == [0; 16] {
        return Err("trace_id is all zeros".into());
    }
    let span_id: [u8; 8] = span
        .span_id
        .as_slice()
        .try_into()
        .map_err(|_| format!("span_id must be 8 bytes, got {}", span.span_id.len()))?;
    if span_id == [0; 8] {
        return Err("span_id is all zeros".into());
    }
    let parent_span_id = match span.parent_span_id.len() {
        0 => None,
        8 => {
            let mut p = [0u8; 8];
            p.copy_from_slice(&span.parent_span_id);
            (p != [0; 8]).then_some(p)
        }
        n => return Err(format!("parent_span_id must be 0 or 8 bytes, got {n}")),
    };
    let max_ns = now_ns.saturating_add(MAX_FUTURE_NS);
    let start = span.start_time_unix_nano;
    let end = span.end_time_unix_nano;
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
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Status, span};

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
}
