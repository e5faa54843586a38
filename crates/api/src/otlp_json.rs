//! Spans as OTLP/JSON (`TracesData`): resource spans grouped by resource, scope spans by scope,
//! ids as hex, 64-bit integers as strings, enums as integers, attributes with their original
//! types, as the OTLP specification's JSON encoding has them.

use base64::Engine as _;
use meshscope_query::{AttrValue, Attributes, SpanRecord};
use serde::Serialize;
use serde_json::{Value as J, json};

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TracesData {
    pub resource_spans: Vec<ResourceSpans>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceSpans {
    pub resource: Resource,
    pub scope_spans: Vec<ScopeSpans>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub schema_url: String,
}

#[derive(Debug, Serialize)]
pub struct Resource {
    pub attributes: Vec<KeyValue>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScopeSpans {
    pub scope: Scope,
    pub spans: Vec<Span>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub schema_url: String,
}

#[derive(Debug, Serialize)]
pub struct Scope {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub version: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<KeyValue>,
}

#[derive(Debug, Serialize)]
pub struct KeyValue {
    pub key: String,
    pub value: J,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Span {
    pub trace_id: String,
    pub span_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub trace_state: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub parent_span_id: String,
    #[serde(skip_serializing_if = "is_zero")]
    pub flags: u32,
    pub name: String,
    pub kind: i32,
    pub start_time_unix_nano: String,
    pub end_time_unix_nano: String,
    pub attributes: Vec<KeyValue>,
    #[serde(skip_serializing_if = "is_zero")]
    pub dropped_attributes_count: u32,
    pub events: Vec<Event>,
    #[serde(skip_serializing_if = "is_zero")]
    pub dropped_events_count: u32,
    pub links: Vec<Link>,
    #[serde(skip_serializing_if = "is_zero")]
    pub dropped_links_count: u32,
    pub status: Status,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub time_unix_nano: String,
    pub name: String,
    pub attributes: Vec<KeyValue>,
    #[serde(skip_serializing_if = "is_zero")]
    pub dropped_attributes_count: u32,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Link {
    pub trace_id: String,
    pub span_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub trace_state: String,
    pub attributes: Vec<KeyValue>,
    #[serde(skip_serializing_if = "is_zero")]
    pub dropped_attributes_count: u32,
    #[serde(skip_serializing_if = "is_zero")]
    pub flags: u32,
}

#[derive(Debug, Serialize)]
pub struct Status {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
    #[serde(skip_serializing_if = "is_zero_i32")]
    pub code: i32,
}

fn is_zero_i32(n: &i32) -> bool {
    *n == 0
}

/// An OTLP/JSON `AnyValue`.
pub fn any_value(value: &AttrValue) -> J {
    match value {
        AttrValue::Str(s) => json!({ "stringValue": s }),
        AttrValue::Bool(b) => json!({ "boolValue": b }),
        AttrValue::Int(i) => json!({ "intValue": i.to_string() }),
        AttrValue::Double(d) => match serde_json::Number::from_f64(*d) {
            Some(n) => json!({ "doubleValue": n }),
            None if d.is_nan() => json!({ "doubleValue": "NaN" }),
            None if *d > 0.0 => json!({ "doubleValue": "Infinity" }),
            None => json!({ "doubleValue": "-Infinity" }),
        },
        AttrValue::Bytes(b) => {
            json!({ "bytesValue": base64::engine::general_purpose::STANDARD.encode(b) })
        }
        AttrValue::Array(items) => {
            json!({ "arrayValue": { "values": items.iter().map(any_value).collect::<Vec<_>>() } })
        }
        AttrValue::Map(entries) => {
            let values: Vec<J> = entries
                .iter()
                .map(|(k, v)| json!({ "key": k, "value": any_value(v) }))
                .collect();
            json!({ "kvlistValue": { "values": values } })
        }
        AttrValue::Empty => json!({}),
    }
}

pub fn key_values(attributes: &Attributes) -> Vec<KeyValue> {
    attributes
        .iter()
        .map(|(key, value)| KeyValue {
            key: key.clone(),
            value: any_value(value),
        })
        .collect()
}

fn span(record: &SpanRecord) -> Span {
    Span {
        trace_id: record.trace_id.clone(),
        span_id: record.span_id.clone(),
        trace_state: record.trace_state.clone(),
        parent_span_id: record.parent_span_id.clone(),
        flags: record.flags,
        name: record.name.clone(),
        kind: record.kind.to_otlp(),
        start_time_unix_nano: record.start_ns.to_string(),
        end_time_unix_nano: record.end_ns.to_string(),
        attributes: key_values(&record.attributes),
        dropped_attributes_count: record.dropped_attributes_count,
        events: record
            .events
            .iter()
            .map(|e| Event {
                time_unix_nano: e.time_ns.to_string(),
                name: e.name.clone(),
                attributes: key_values(&e.attributes),
                dropped_attributes_count: e.dropped_attributes_count,
            })
            .collect(),
        dropped_events_count: record.dropped_events_count,
        links: record
            .links
            .iter()
            .map(|l| Link {
                trace_id: l.trace_id.clone(),
                span_id: l.span_id.clone(),
                trace_state: l.trace_state.clone(),
                attributes: key_values(&l.attributes),
                dropped_attributes_count: l.dropped_attributes_count,
                flags: l.flags,
            })
            .collect(),
        dropped_links_count: record.dropped_links_count,
        status: Status {
            message: record.status_message.clone(),
            code: record.status.to_otlp(),
        },
    }
}

/// The first span of a scope and every span of it.
type ScopeGroup<'a> = (&'a SpanRecord, Vec<&'a SpanRecord>);
/// A resource (attributes, schema URL) and its scopes.
type ResourceGroup<'a> = (&'a Attributes, &'a str, Vec<ScopeGroup<'a>>);

/// The spans of a trace as `TracesData`, resources and scopes in order of first appearance.
pub fn traces_data(spans: &[SpanRecord]) -> TracesData {
    let mut resources: Vec<ResourceGroup<'_>> = Vec::new();
    for record in spans {
        let index = match resources.iter().position(|(attrs, url, _)| {
            **attrs == record.resource_attributes && *url == record.resource_schema_url
        }) {
            Some(i) => i,
            None => {
                resources.push((
                    &record.resource_attributes,
                    &record.resource_schema_url,
                    Vec::new(),
                ));
                resources.len() - 1
            }
        };
        let scopes = &mut resources[index].2;
        let same_scope = |s: &SpanRecord| {
            s.scope_name == record.scope_name
                && s.scope_version == record.scope_version
                && s.scope_attributes == record.scope_attributes
                && s.scope_schema_url == record.scope_schema_url
        };
        match scopes.iter_mut().find(|(first, _)| same_scope(first)) {
            Some((_, members)) => members.push(record),
            None => scopes.push((record, vec![record])),
        }
    }
    TracesData {
        resource_spans: resources
            .into_iter()
            .map(|(attributes, schema_url, scopes)| ResourceSpans {
                resource: Resource {
                    attributes: key_values(attributes),
                },
                scope_spans: scopes
                    .into_iter()
                    .map(|(first, members)| ScopeSpans {
                        scope: Scope {
                            name: first.scope_name.clone(),
                            version: first.scope_version.clone(),
                            attributes: key_values(&first.scope_attributes),
                        },
                        spans: members.into_iter().map(span).collect(),
                        schema_url: first.scope_schema_url.clone(),
                    })
                    .collect(),
                schema_url: schema_url.to_owned(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_values_follow_the_otlp_json_mapping() {
        let cases = [
            (AttrValue::Str("a".into()), json!({"stringValue": "a"})),
            (
                AttrValue::Int(i64::MAX),
                json!({"intValue": "9223372036854775807"}),
            ),
            (AttrValue::Double(0.5), json!({"doubleValue": 0.5})),
            (AttrValue::Double(f64::NAN), json!({"doubleValue": "NaN"})),
            (AttrValue::Bool(false), json!({"boolValue": false})),
            (
                AttrValue::Bytes(b"hi".to_vec()),
                json!({"bytesValue": "aGk="}),
            ),
            (
                AttrValue::Array(vec![AttrValue::Int(1)]),
                json!({"arrayValue": {"values": [{"intValue": "1"}]}}),
            ),
            (
                AttrValue::Map(vec![("k".into(), AttrValue::Empty)]),
                json!({"kvlistValue": {"values": [{"key": "k", "value": {}}]}}),
            ),
        ];
        for (value, expect) in cases {
            assert_eq!(any_value(&value), expect, "{value:?}");
        }
    }
}
