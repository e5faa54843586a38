//! Jaeger's JSON model (what `jaeger-query`'s HTTP API returns and Jaeger UI and Grafana
//! read), built from stored spans the way Jaeger's OTLP translator maps OTLP:
//!
//! * the resource becomes the process (`service.name` → `serviceName`, other attributes → tags);
//! * tags: `otel.library.name` / `otel.library.version` (scope), the span's attributes, then
//!   `span.kind`, `otel.status_code` (`OK`/`ERROR`), `error=true`, `otel.status_description`,
//!   `w3c.tracestate`;
//! * events become logs (an `event` field with the name, then the attributes); the parent
//!   becomes a `CHILD_OF` reference and each link a `FOLLOWS_FROM` one;
//! * times in microseconds; 64-bit trace ids (high half zero) in 16 hex digits.

use std::collections::BTreeMap;

use base64::Engine as _;
use meshscope_model::{SpanKind, StatusCode};
use meshscope_query::{AttrValue, Attributes, SpanRecord};
use serde::Serialize;
use serde_json::Value as J;

/// Jaeger's response envelope.
#[derive(Debug, Serialize)]
pub struct Envelope<T: Serialize> {
    pub data: T,
    pub total: usize,
    pub limit: usize,
    pub offset: usize,
    pub errors: Option<Vec<J>>,
}

impl<T: Serialize> Envelope<T> {
    pub fn new(data: T, total: usize) -> Self {
        Self {
            data,
            total,
            limit: 0,
            offset: 0,
            errors: None,
        }
    }
}

#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Trace {
    #[serde(rename = "traceID")]
    pub trace_id: String,
    pub spans: Vec<Span>,
    pub processes: BTreeMap<String, Process>,
    pub warnings: Option<Vec<String>>,
}

#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Span {
    #[serde(rename = "traceID")]
    pub trace_id: String,
    #[serde(rename = "spanID")]
    pub span_id: String,
    pub operation_name: String,
    pub references: Vec<Reference>,
    pub start_time: i64,
    pub duration: i64,
    pub tags: Vec<KeyValue>,
    pub logs: Vec<Log>,
    #[serde(rename = "processID")]
    pub process_id: String,
    pub warnings: Option<Vec<String>>,
}

#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Reference {
    pub ref_type: &'static str,
    #[serde(rename = "traceID")]
    pub trace_id: String,
    #[serde(rename = "spanID")]
    pub span_id: String,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct Log {
    pub timestamp: i64,
    pub fields: Vec<KeyValue>,
}

#[derive(Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Process {
    pub service_name: String,
    pub tags: Vec<KeyValue>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct KeyValue {
    pub key: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub value: J,
}

/// One operation of `/api/operations`.
#[derive(Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Operation {
    pub name: String,
    pub span_kind: &'static str,
}

/// Jaeger's text of an OTLP span kind (`""` for unspecified).
pub fn span_kind(kind: SpanKind) -> &'static str {
    match kind {
        SpanKind::Unspecified => "",
        other => other.as_str(),
    }
}

/// A trace id as Jaeger prints it: 16 hex digits when the high 64 bits are zero.
pub fn trace_id(hex: &str) -> String {
    match hex.strip_prefix("0000000000000000") {
        Some(low) if hex.len() == 32 => low.to_owned(),
        _ => hex.to_owned(),
    }
}

fn string_tag(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        kind: "string",
        value: J::String(value.to_owned()),
    }
}

pub fn tag(key: &str, value: &AttrValue) -> KeyValue {
    let (kind, value) = match value {
        AttrValue::Str(s) => ("string", J::String(s.clone())),
        AttrValue::Bool(b) => ("bool", J::Bool(*b)),
        AttrValue::Int(i) => ("int64", J::from(*i)),
        AttrValue::Double(d) => (
            "float64",
            serde_json::Number::from_f64(*d).map_or_else(|| J::String(d.to_string()), J::Number),
        ),
        AttrValue::Bytes(b) => (
            "binary",
            J::String(base64::engine::general_purpose::STANDARD.encode(b)),
        ),
        AttrValue::Array(_) | AttrValue::Map(_) | AttrValue::Empty => {
            ("string", J::String(value.to_text()))
        }
    };
    KeyValue {
        key: key.to_owned(),
        kind,
        value,
    }
}

fn tags(attributes: &Attributes) -> impl Iterator<Item = KeyValue> + '_ {
    attributes.iter().map(|(k, v)| tag(k, v))
}

fn span_tags(span: &SpanRecord) -> Vec<KeyValue> {
    let mut out = Vec::with_capacity(span.attributes.len() + 6);
    if !span.scope_name.is_empty() {
        out.push(string_tag("otel.library.name", &span.scope_name));
    }
    if !span.scope_version.is_empty() {
        out.push(string_tag("otel.library.version", &span.scope_version));
    }
    out.extend(tags(&span.attributes));
    if span.kind != SpanKind::Unspecified {
        out.push(string_tag("span.kind", span.kind.as_str()));
    }
    match span.status {
        StatusCode::Ok => out.push(string_tag("otel.status_code", "OK")),
        StatusCode::Error => {
            out.push(string_tag("otel.status_code", "ERROR"));
            out.push(KeyValue {
                key: "error".into(),
                kind: "bool",
                value: J::Bool(true),
            });
        }
        StatusCode::Unset => {}
    }
    if !span.status_message.is_empty() {
        out.push(string_tag("otel.status_description", &span.status_message));
    }
    if !span.trace_state.is_empty() {
        out.push(string_tag("w3c.tracestate", &span.trace_state));
    }
    out
}

/// One trace (spans of one trace id, any order) in Jaeger's shape.
pub fn trace(spans: &[SpanRecord]) -> Trace {
    let mut processes: Vec<(&str, &Attributes)> = Vec::new();
    let mut jaeger_spans = Vec::with_capacity(spans.len());
    for span in spans {
        let index = match processes
            .iter()
            .position(|(s, r)| *s == span.service_name && **r == span.resource_attributes)
        {
            Some(i) => i,
            None => {
                processes.push((&span.service_name, &span.resource_attributes));
                processes.len() - 1
            }
        };
        let id = trace_id(&span.trace_id);
        let mut references = Vec::with_capacity(span.links.len() + 1);
        if !span.parent_span_id.is_empty() {
            references.push(Reference {
                ref_type: "CHILD_OF",
                trace_id: id.clone(),
                span_id: span.parent_span_id.clone(),
            });
        }
        references.extend(span.links.iter().map(|link| Reference {
            ref_type: "FOLLOWS_FROM",
            trace_id: trace_id(&link.trace_id),
            span_id: link.span_id.clone(),
        }));
        let logs = span
            .events
            .iter()
            .map(|event| {
                let mut fields = Vec::with_capacity(event.attributes.len() + 1);
                if !event.name.is_empty() {
                    fields.push(string_tag("event", &event.name));
                }
                fields.extend(tags(&event.attributes));
                Log {
                    timestamp: event.time_ns.div_euclid(1_000),
                    fields,
                }
            })
            .collect();
        jaeger_spans.push(Span {
            trace_id: id,
            span_id: span.span_id.clone(),
            operation_name: span.name.clone(),
            references,
            start_time: span.start_ns.div_euclid(1_000),
            duration: span.end_ns.saturating_sub(span.start_ns).div_euclid(1_000),
            tags: span_tags(span),
            logs,
            process_id: format!("p{}", index + 1),
            warnings: None,
        });
    }
    Trace {
        trace_id: spans
            .first()
            .map(|s| trace_id(&s.trace_id))
            .unwrap_or_default(),
        spans: jaeger_spans,
        processes: processes
            .into_iter()
            .enumerate()
            .map(|(i, (service, resource))| {
                let tags = resource
                    .iter()
                    .filter(|(k, _)| k != "service.name")
                    .map(|(k, v)| tag(k, v))
                    .collect();
                (
                    format!("p{}", i + 1),
                    Process {
                        service_name: service.to_owned(),
                        tags,
                    },
                )
            })
            .collect(),
        warnings: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_tags() {
        assert_eq!(
            trace_id(&format!("{}{}", "0".repeat(16), "ab".repeat(8))),
            "ab".repeat(8)
        );
        assert_eq!(trace_id(&"1".repeat(32)), "1".repeat(32));
        assert_eq!(tag("k", &AttrValue::Int(3)).kind, "int64");
        assert_eq!(tag("k", &AttrValue::Double(0.5)).value, J::from(0.5));
        let nested = tag(
            "k",
            &AttrValue::Map(vec![
                ("z".into(), AttrValue::Int(1)),
                ("a".into(), AttrValue::Bool(true)),
            ]),
        );
        assert_eq!(
            (nested.kind, nested.value),
            ("string", J::from(r#"{"z":1,"a":true}"#))
        );
        assert_eq!(span_kind(SpanKind::Unspecified), "");
        assert_eq!(span_kind(SpanKind::Consumer), "consumer");
    }
}
