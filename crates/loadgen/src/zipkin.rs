//! Zipkin v2 JSON bodies (`--protocol zipkin-json`): the generator's OTLP requests rendered as
//! the Zipkin v2 JSON array that OpenTelemetry's Zipkin exporters send for the same spans
//! (resource attributes among the tags, scope and error status as `otel.*` tags, events as
//! annotations, microsecond times).

use std::io::Write as _;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value};
use prost::Message;

/// The Zipkin v2 JSON array of an `ExportTraceServiceRequest` given as protobuf; an empty
/// array when the bytes are not one. Written directly (a resource's tags rendered once), so
/// that the generator keeps ahead of a server on the same machine.
pub fn from_otlp(request: &[u8]) -> Vec<u8> {
    let Ok(request) = ExportTraceServiceRequest::decode(request) else {
        return b"[]".to_vec();
    };
    let mut out = Vec::with_capacity(request.encoded_len() * 3);
    out.push(b'[');
    let mut first_span = true;
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
        // `,"key":"value"` for each resource attribute
        let mut resource_tags = Vec::new();
        for kv in resource {
            resource_tags.push(b',');
            tag(&mut resource_tags, &kv.key, &text(kv));
        }
        for scope_spans in &resource_spans.scope_spans {
            for span in &scope_spans.spans {
                if !first_span {
                    out.push(b',');
                }
                first_span = false;
                out.extend_from_slice(b"{\"traceId\":\"");
                out.extend_from_slice(hex::encode(&span.trace_id).as_bytes());
                out.extend_from_slice(b"\",\"id\":\"");
                out.extend_from_slice(hex::encode(&span.span_id).as_bytes());
                out.push(b'"');
                if !span.parent_span_id.is_empty() {
                    out.extend_from_slice(b",\"parentId\":\"");
                    out.extend_from_slice(hex::encode(&span.parent_span_id).as_bytes());
                    out.push(b'"');
                }
                out.extend_from_slice(b",\"name\":");
                string(&mut out, &span.name);
                let kind = ["", "", "SERVER", "CLIENT", "PRODUCER", "CONSUMER"]
                    .get(span.kind as usize)
                    .copied()
                    .unwrap_or_default();
                if !kind.is_empty() {
                    let _ = write!(out, ",\"kind\":\"{kind}\"");
                }
                let start = span.start_time_unix_nano / 1_000;
                let duration = (span.end_time_unix_nano / 1_000).saturating_sub(start);
                let _ = write!(out, ",\"timestamp\":{start},\"duration\":{duration}");
                out.extend_from_slice(b",\"localEndpoint\":{\"serviceName\":");
                string(&mut out, &service);
                out.extend_from_slice(b"},\"tags\":{");
                let mut tags = 0;
                let mut next = |out: &mut Vec<u8>| {
                    if tags > 0 {
                        out.push(b',');
                    }
                    tags += 1;
                };
                let error = span.status.as_ref().filter(|s| s.code == 2);
                // an error status's `error` tag replaces an attribute of that name, as in the
                // exporters' tag maps
                for kv in span
                    .attributes
                    .iter()
                    .filter(|kv| error.is_none() || kv.key != "error")
                {
                    next(&mut out);
                    tag(&mut out, &kv.key, &text(kv));
                }
                if let Some(scope) = &scope_spans.scope {
                    next(&mut out);
                    tag(&mut out, "otel.scope.name", &scope.name);
                    next(&mut out);
                    tag(&mut out, "otel.scope.version", &scope.version);
                }
                if let Some(status) = error {
                    next(&mut out);
                    tag(&mut out, "otel.status_code", "ERROR");
                    next(&mut out);
                    tag(&mut out, "error", &status.message);
                }
                match (tags, resource_tags.split_first()) {
                    (0, Some((_, rest))) => out.extend_from_slice(rest),
                    _ => out.extend_from_slice(&resource_tags),
                }
                out.push(b'}');
                if !span.events.is_empty() {
                    out.extend_from_slice(b",\"annotations\":[");
                    for (i, event) in span.events.iter().enumerate() {
                        if i > 0 {
                            out.push(b',');
                        }
                        let _ = write!(
                            out,
                            "{{\"timestamp\":{},\"value\":",
                            event.time_unix_nano / 1_000
                        );
                        string(&mut out, &event.name);
                        out.push(b'}');
                    }
                    out.push(b']');
                }
                out.push(b'}');
            }
        }
    }
    out.push(b']');
    out
}

/// `"key":"value"`.
fn tag(out: &mut Vec<u8>, key: &str, value: &str) {
    string(out, key);
    out.push(b':');
    string(out, value);
}

/// A JSON string, escaped.
fn string(out: &mut Vec<u8>, text: &str) {
    // writing into a Vec cannot fail
    let _ = serde_json::to_writer(&mut *out, text);
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
        let info = generator.fill_batch(2_000, Encoding::Protobuf, &mut request);
        let spans: Vec<serde_json::Value> =
            serde_json::from_slice(&from_otlp(&request)).expect("json");
        assert_eq!(spans.len(), 2_000);
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
        // every span against its OTLP original: resource attributes, scope and an error
        // status ride as tags, events as annotations, as the exporters send them
        let originals: Vec<_> = otlp
            .resource_spans
            .iter()
            .flat_map(|r| {
                r.scope_spans
                    .iter()
                    .flat_map(|s| s.spans.iter().map(move |span| (s.scope.is_some(), span)))
            })
            .collect();
        assert_eq!(originals.len(), spans.len());
        for ((scoped, original), zipkin) in originals.iter().zip(&spans) {
            assert_eq!(zipkin["id"], hex::encode(&original.span_id));
            let tags = &zipkin["tags"];
            assert!(tags.get("service.name").is_some());
            assert_eq!(tags.get("otel.scope.name").is_some(), *scoped);
            let error = original.status.as_ref().is_some_and(|s| s.code == 2);
            for kv in original
                .attributes
                .iter()
                .filter(|kv| !error || kv.key != "error")
            {
                assert_eq!(tags[&kv.key], text(kv), "{}", kv.key);
            }
            if let Some(status) = original.status.as_ref().filter(|_| error) {
                assert_eq!(tags["error"], status.message.as_str());
            }
            assert_eq!(tags.get("otel.status_code").is_some(), error);
            let annotations = zipkin["annotations"].as_array().map_or(0, Vec::len);
            assert_eq!(annotations, original.events.len());
        }
        assert!(
            originals
                .iter()
                .any(|(_, s)| s.status.as_ref().is_some_and(|s| s.code == 2))
        );
        assert!(originals.iter().any(|(_, s)| !s.events.is_empty()));
        assert_eq!(from_otlp(b"\xff"), b"[]");
    }
}
