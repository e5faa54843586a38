//! Zipkin v2 JSON bodies (`--protocol zipkin-json`): the generator's OTLP requests rendered as
//! the Zipkin v2 JSON array that OpenTelemetry's Zipkin exporters send for the same spans
//! (resource attributes among the tags, scope and error status as `otel.*` tags, events as
//! annotations, microsecond times).

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value};
use prost::Message;
use serde_json::{Map, Value, json};

/// The Zipkin v2 JSON array of an `ExportTraceServiceRequest` given as protobuf; an empty
/// array when the bytes are not one.
pub fn from_otlp(request: &[u8]) -> Vec<u8> {
    let Ok(request) = ExportTraceServiceRequest::decode(request) else {
        return b"[]".to_vec();
    };
    let mut spans = Vec::new();
    for resource_spans in &request.resource_spans {
        let resource = resource_spans
            .resource
            .as_ref()
            .map(|r| r.attributes.as_slice())
            .unwrap_or_default();
        let service = resource
            .iter()
            .find(|kv| kv.key == "service.name")
            .map(text)
            .unwrap_or_default();
        for scope_spans in &resource_spans.scope_spans {
            for span in &scope_spans.spans {
                let mut tags = Map::new();
                for kv in span.attributes.iter().chain(resource) {
                    tags.insert(kv.key.clone(), Value::String(text(kv)));
                }
                if let Some(scope) = &scope_spans.scope {
                    tags.insert("otel.scope.name".into(), scope.name.clone().into());
                    tags.insert("otel.scope.version".into(), scope.version.clone().into());
                }
                if let Some(status) = span.status.as_ref().filter(|s| s.code == 2) {
                    tags.insert("otel.status_code".into(), "ERROR".into());
                    tags.insert("error".into(), status.message.clone().into());
                }
                let kind = ["", "", "SERVER", "CLIENT", "PRODUCER", "CONSUMER"]
                    .get(span.kind as usize)
                    .copied()
                    .unwrap_or_default();
                let start = span.start_time_unix_nano / 1_000;
                let mut zipkin = json!({
                    "traceId": hex::encode(&span.trace_id),
                    "id": hex::encode(&span.span_id),
                    "name": span.name,
                    "timestamp": start,
                    "duration": (span.end_time_unix_nano / 1_000).saturating_sub(start),
                    "localEndpoint": {"serviceName": service},
                    "tags": tags,
                });
                if !span.events.is_empty() {
                    zipkin["annotations"] = span
                        .events
                        .iter()
                        .map(|e| json!({"timestamp": e.time_unix_nano / 1_000, "value": e.name}))
                        .collect();
                }
                if !kind.is_empty() {
                    zipkin["kind"] = kind.into();
                }
                if !span.parent_span_id.is_empty() {
                    zipkin["parentId"] = hex::encode(&span.parent_span_id).into();
                }
                spans.push(zipkin);
            }
        }
    }
    serde_json::to_vec(&spans).unwrap_or_default()
}

/// An attribute's value as a Zipkin tag (strings as they are, other scalars as text).
fn text(kv: &KeyValue) -> String {
    match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Encoding, Generator, GeneratorConfig};

    #[test]
    fn every_span_of_a_request_becomes_one_zipkin_span() {
        let mut generator = Generator::new(GeneratorConfig::default());
        let mut request = Vec::new();
        let info = generator.fill_batch(200, Encoding::Protobuf, &mut request);
        let spans: Vec<Value> = serde_json::from_slice(&from_otlp(&request)).expect("json");
        assert_eq!(spans.len(), 200);
        assert_eq!(spans.len(), info.spans);
        let otlp = ExportTraceServiceRequest::decode(request.as_slice()).expect("otlp");
        let first = &otlp.resource_spans[0].scope_spans[0].spans[0];
        let zipkin = &spans[0];
        assert_eq!(zipkin["traceId"], hex::encode(&first.trace_id));
        assert_eq!(zipkin["id"], hex::encode(&first.span_id));
        assert_eq!(zipkin["timestamp"], first.start_time_unix_nano / 1_000);
        assert!(
            zipkin["localEndpoint"]["serviceName"]
                .as_str()
                .is_some_and(|s| !s.is_empty())
        );
        // resource attributes ride as tags, as the exporters send them
        assert!(
            spans
                .iter()
                .all(|s| s["tags"].get("service.name").is_some())
        );
        assert_eq!(from_otlp(b"\xff"), b"[]");
    }
}
