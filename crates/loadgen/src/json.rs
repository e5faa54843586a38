//! An OTLP/JSON encoder for the `opentelemetry-proto` types.
//!
//! Follows the OTLP/JSON rules rather than generic protobuf JSON: trace and span ids are
//! lowercase hex (not base64), 64-bit integers (`intValue`, `*UnixNano`) are strings,
//! enums are integers, keys are lowerCamelCase, `bytesValue` is standard base64, and
//! fields holding their default value are omitted. Output is written into a `Vec<u8>`
//! (it is always valid UTF-8).
//!
//! The generator pre-encodes the static parts of its spans with these functions and
//! writes ids and times itself; `write_export_request` is the reference the fast path is
//! tested against.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Writes `bytes` as lowercase hex.
pub(crate) fn put_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    for b in bytes {
        out.push(HEX[usize::from(b >> 4)]);
        out.push(HEX[usize::from(b & 0xf)]);
    }
}

/// Writes an unsigned integer in decimal.
pub(crate) fn put_u64(out: &mut Vec<u8>, mut v: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&tmp[i..]);
}

fn put_i64(out: &mut Vec<u8>, v: i64) {
    if v < 0 {
        out.push(b'-');
    }
    put_u64(out, v.unsigned_abs());
}

/// Writes `"<decimal>"`, the OTLP/JSON form of a 64-bit integer.
pub(crate) fn put_u64_str(out: &mut Vec<u8>, v: u64) {
    out.push(b'"');
    put_u64(out, v);
    out.push(b'"');
}

/// Writes a JSON string literal with the required escapes.
pub(crate) fn put_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => {
                out.extend_from_slice(&bytes[start..i]);
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        out.extend_from_slice(esc);
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

fn put_f64(out: &mut Vec<u8>, v: f64) {
    use std::io::Write as _;
    if v.is_nan() {
        out.extend_from_slice(b"\"NaN\"");
    } else if v.is_infinite() {
        out.extend_from_slice(if v > 0.0 {
            b"\"Infinity\""
        } else {
            b"\"-Infinity\""
        });
    } else {
        // Rust's shortest round-trip formatting is a valid JSON number for finite values.
        let _ = write!(out, "{v}");
    }
}

/// Standard base64 with padding (the proto3 JSON form of `bytes` outside ids).
pub(crate) fn put_base64(out: &mut Vec<u8>, data: &[u8]) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(ALPHABET[(n >> 18) as usize & 63]);
        out.push(ALPHABET[(n >> 12) as usize & 63]);
        out.push(if chunk.len() > 1 {
            ALPHABET[(n >> 6) as usize & 63]
        } else {
            b'='
        });
        out.push(if chunk.len() > 2 {
            ALPHABET[n as usize & 63]
        } else {
            b'='
        });
    }
}

/// Decodes standard or URL-safe base64, padded or not (gRPC `-bin` metadata).
pub(crate) fn decode_base64(s: &[u8]) -> Option<Vec<u8>> {
    fn val(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        })
    }
    let s: Vec<u8> = s
        .iter()
        .copied()
        .filter(|&c| c != b'=' && !c.is_ascii_whitespace())
        .collect();
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    for chunk in s.chunks(4) {
        if chunk.len() == 1 {
            return None;
        }
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= val(c)? << (18 - 6 * i);
        }
        out.push((n >> 16) as u8);
        if chunk.len() > 2 {
            out.push((n >> 8) as u8);
        }
        if chunk.len() > 3 {
            out.push(n as u8);
        }
    }
    Some(out)
}

/// Writes an `AnyValue` object, e.g. `{"stringValue":"x"}` or `{"intValue":"3"}`.
pub fn write_any_value(out: &mut Vec<u8>, v: &AnyValue) {
    match &v.value {
        None => out.extend_from_slice(b"{}"),
        Some(any_value::Value::StringValue(s)) => {
            out.extend_from_slice(b"{\"stringValue\":");
            put_str(out, s);
            out.push(b'}');
        }
        Some(any_value::Value::BoolValue(b)) => {
            out.extend_from_slice(if *b {
                b"{\"boolValue\":true}"
            } else {
                b"{\"boolValue\":false}"
            });
        }
        Some(any_value::Value::IntValue(i)) => {
            out.extend_from_slice(b"{\"intValue\":\"");
            put_i64(out, *i);
            out.extend_from_slice(b"\"}");
        }
        Some(any_value::Value::DoubleValue(d)) => {
            out.extend_from_slice(b"{\"doubleValue\":");
            put_f64(out, *d);
            out.push(b'}');
        }
        Some(any_value::Value::ArrayValue(a)) => {
            out.extend_from_slice(b"{\"arrayValue\":{");
            if !a.values.is_empty() {
                out.extend_from_slice(b"\"values\":[");
                for (i, v) in a.values.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write_any_value(out, v);
                }
                out.push(b']');
            }
            out.extend_from_slice(b"}}");
        }
        Some(any_value::Value::KvlistValue(kv)) => {
            out.extend_from_slice(b"{\"kvlistValue\":{");
            if !kv.values.is_empty() {
                out.extend_from_slice(b"\"values\":[");
                for (i, v) in kv.values.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write_key_value(out, v);
                }
                out.push(b']');
            }
            out.extend_from_slice(b"}}");
        }
        Some(any_value::Value::StringValueStrindex(i)) => {
            out.extend_from_slice(b"{\"stringValueStrindex\":");
            put_i64(out, i64::from(*i));
            out.push(b'}');
        }
        Some(any_value::Value::BytesValue(b)) => {
            out.extend_from_slice(b"{\"bytesValue\":\"");
            put_base64(out, b);
            out.extend_from_slice(b"\"}");
        }
    }
}

/// Writes `{"key":"k","value":{...}}`.
pub fn write_key_value(out: &mut Vec<u8>, kv: &KeyValue) {
    out.extend_from_slice(b"{\"key\":");
    put_str(out, &kv.key);
    if kv.key_strindex != 0 {
        out.extend_from_slice(b",\"keyStrindex\":");
        put_i64(out, i64::from(kv.key_strindex));
    }
    if let Some(v) = &kv.value {
        out.extend_from_slice(b",\"value\":");
        write_any_value(out, v);
    }
    out.push(b'}');
}

/// Writes `,"attributes":[...]` (note the leading comma), nothing when empty.
pub(crate) fn write_attributes_field(out: &mut Vec<u8>, attrs: &[KeyValue]) {
    if attrs.is_empty() {
        return;
    }
    out.extend_from_slice(b",\"attributes\":[");
    for (i, kv) in attrs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_key_value(out, kv);
    }
    out.push(b']');
}

fn write_dropped(out: &mut Vec<u8>, key: &[u8], n: u32) {
    if n != 0 {
        out.push(b',');
        out.extend_from_slice(key);
        put_u64(out, u64::from(n));
    }
}

/// Writes a `Resource` object.
pub fn write_resource(out: &mut Vec<u8>, r: &Resource) {
    // A leading '{' then fields each starting with ',': strip the first comma.
    let start = out.len();
    out.push(b'{');
    write_attributes_field(out, &r.attributes);
    write_dropped(
        out,
        b"\"droppedAttributesCount\":",
        r.dropped_attributes_count,
    );
    fix_first_comma(out, start);
    out.push(b'}');
}

/// Writes an `InstrumentationScope` object.
pub fn write_scope(out: &mut Vec<u8>, s: &InstrumentationScope) {
    let start = out.len();
    out.push(b'{');
    if !s.name.is_empty() {
        out.extend_from_slice(b",\"name\":");
        put_str(out, &s.name);
    }
    if !s.version.is_empty() {
        out.extend_from_slice(b",\"version\":");
        put_str(out, &s.version);
    }
    write_attributes_field(out, &s.attributes);
    write_dropped(
        out,
        b"\"droppedAttributesCount\":",
        s.dropped_attributes_count,
    );
    fix_first_comma(out, start);
    out.push(b'}');
}

/// Removes the comma right after the `{` at `start`, if the object has any field.
fn fix_first_comma(out: &mut Vec<u8>, start: usize) {
    if out.len() > start + 1 && out[start + 1] == b',' {
        out.remove(start + 1);
    }
}

/// Writes `,"status":{...}` (leading comma), nothing for `None`.
pub(crate) fn write_status_field(out: &mut Vec<u8>, s: Option<&Status>) {
    let Some(s) = s else { return };
    out.extend_from_slice(b",\"status\":");
    let start = out.len();
    out.push(b'{');
    if !s.message.is_empty() {
        out.extend_from_slice(b",\"message\":");
        put_str(out, &s.message);
    }
    if s.code != 0 {
        out.extend_from_slice(b",\"code\":");
        put_i64(out, i64::from(s.code));
    }
    fix_first_comma(out, start);
    out.push(b'}');
}

/// Writes the fields of an event after its time: `,"name":...,"attributes":[...]}`.
pub(crate) fn write_event_rest(out: &mut Vec<u8>, e: &Event) {
    if !e.name.is_empty() {
        out.extend_from_slice(b",\"name\":");
        put_str(out, &e.name);
    }
    write_attributes_field(out, &e.attributes);
    write_dropped(
        out,
        b"\"droppedAttributesCount\":",
        e.dropped_attributes_count,
    );
    out.push(b'}');
}

/// Writes an `Event` object.
pub fn write_event(out: &mut Vec<u8>, e: &Event) {
    let start = out.len();
    out.push(b'{');
    if e.time_unix_nano != 0 {
        out.extend_from_slice(b",\"timeUnixNano\":");
        put_u64_str(out, e.time_unix_nano);
    }
    write_event_rest(out, e);
    fix_first_comma(out, start);
}

/// Writes a `Link` object.
pub fn write_link(out: &mut Vec<u8>, l: &Link) {
    let start = out.len();
    out.push(b'{');
    if !l.trace_id.is_empty() {
        out.extend_from_slice(b",\"traceId\":\"");
        put_hex(out, &l.trace_id);
        out.push(b'"');
    }
    if !l.span_id.is_empty() {
        out.extend_from_slice(b",\"spanId\":\"");
        put_hex(out, &l.span_id);
        out.push(b'"');
    }
    if !l.trace_state.is_empty() {
        out.extend_from_slice(b",\"traceState\":");
        put_str(out, &l.trace_state);
    }
    write_attributes_field(out, &l.attributes);
    write_dropped(
        out,
        b"\"droppedAttributesCount\":",
        l.dropped_attributes_count,
    );
    if l.flags != 0 {
        out.extend_from_slice(b",\"flags\":");
        put_u64(out, u64::from(l.flags));
    }
    fix_first_comma(out, start);
    out.push(b'}');
}

/// Writes `,"flags":F,"name":"N","kind":K` — the span head the generator pre-encodes.
pub(crate) fn write_span_head(out: &mut Vec<u8>, flags: u32, name: &str, kind: i32) {
    if flags != 0 {
        out.extend_from_slice(b",\"flags\":");
        put_u64(out, u64::from(flags));
    }
    if !name.is_empty() {
        out.extend_from_slice(b",\"name\":");
        put_str(out, name);
    }
    if kind != 0 {
        out.extend_from_slice(b",\"kind\":");
        put_i64(out, i64::from(kind));
    }
}

/// Writes a `Span` object. Field order: ids, traceState, parentSpanId, flags, name, kind,
/// times, attributes, events, links, status (the generator's fast path uses the same).
pub fn write_span(out: &mut Vec<u8>, s: &Span) {
    let start = out.len();
    out.push(b'{');
    if !s.trace_id.is_empty() {
        out.extend_from_slice(b",\"traceId\":\"");
        put_hex(out, &s.trace_id);
        out.push(b'"');
    }
    if !s.span_id.is_empty() {
        out.extend_from_slice(b",\"spanId\":\"");
        put_hex(out, &s.span_id);
        out.push(b'"');
    }
    if !s.trace_state.is_empty() {
        out.extend_from_slice(b",\"traceState\":");
        put_str(out, &s.trace_state);
    }
    if !s.parent_span_id.is_empty() {
        out.extend_from_slice(b",\"parentSpanId\":\"");
        put_hex(out, &s.parent_span_id);
        out.push(b'"');
    }
    write_span_head(out, s.flags, &s.name, s.kind);
    if s.start_time_unix_nano != 0 {
        out.extend_from_slice(b",\"startTimeUnixNano\":");
        put_u64_str(out, s.start_time_unix_nano);
    }
    if s.end_time_unix_nano != 0 {
        out.extend_from_slice(b",\"endTimeUnixNano\":");
        put_u64_str(out, s.end_time_unix_nano);
    }
    write_attributes_field(out, &s.attributes);
    write_dropped(
        out,
        b"\"droppedAttributesCount\":",
        s.dropped_attributes_count,
    );
    if !s.events.is_empty() {
        out.extend_from_slice(b",\"events\":[");
        for (i, e) in s.events.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_event(out, e);
        }
        out.push(b']');
    }
    write_dropped(out, b"\"droppedEventsCount\":", s.dropped_events_count);
    if !s.links.is_empty() {
        out.extend_from_slice(b",\"links\":[");
        for (i, l) in s.links.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_link(out, l);
        }
        out.push(b']');
    }
    write_dropped(out, b"\"droppedLinksCount\":", s.dropped_links_count);
    write_status_field(out, s.status.as_ref());
    fix_first_comma(out, start);
    out.push(b'}');
}

/// Writes `{"scope":{...},"spans":[` — everything of a `ScopeSpans` before its spans.
pub(crate) fn write_scope_spans_prefix(out: &mut Vec<u8>, scope: Option<&InstrumentationScope>) {
    out.push(b'{');
    if let Some(scope) = scope {
        out.extend_from_slice(b"\"scope\":");
        write_scope(out, scope);
        out.push(b',');
    }
    out.extend_from_slice(b"\"spans\":[");
}

/// Writes `],"schemaUrl":"..."}` — everything of a `ScopeSpans` after its spans.
pub(crate) fn write_scope_spans_suffix(out: &mut Vec<u8>, schema_url: &str) {
    out.push(b']');
    if !schema_url.is_empty() {
        out.extend_from_slice(b",\"schemaUrl\":");
        put_str(out, schema_url);
    }
    out.push(b'}');
}

/// Writes `{"resource":{...},"scopeSpans":[` — a `ResourceSpans` before its scopes.
pub(crate) fn write_resource_spans_prefix(out: &mut Vec<u8>, resource: Option<&Resource>) {
    out.push(b'{');
    if let Some(r) = resource {
        out.extend_from_slice(b"\"resource\":");
        write_resource(out, r);
        out.push(b',');
    }
    out.extend_from_slice(b"\"scopeSpans\":[");
}

/// Writes a `ScopeSpans` object.
pub fn write_scope_spans(out: &mut Vec<u8>, ss: &ScopeSpans) {
    write_scope_spans_prefix(out, ss.scope.as_ref());
    for (i, s) in ss.spans.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_span(out, s);
    }
    write_scope_spans_suffix(out, &ss.schema_url);
}

/// Writes a `ResourceSpans` object.
pub fn write_resource_spans(out: &mut Vec<u8>, rs: &ResourceSpans) {
    write_resource_spans_prefix(out, rs.resource.as_ref());
    for (i, ss) in rs.scope_spans.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_scope_spans(out, ss);
    }
    // Same shape as a ScopeSpans suffix: `],"schemaUrl":"..."}`.
    write_scope_spans_suffix(out, &rs.schema_url);
}

/// Encodes a whole export request as OTLP/JSON.
pub fn write_export_request(out: &mut Vec<u8>, req: &ExportTraceServiceRequest) {
    out.extend_from_slice(b"{\"resourceSpans\":[");
    for (i, rs) in req.resource_spans.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_resource_spans(out, rs);
    }
    out.extend_from_slice(b"]}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{ArrayValue, KeyValueList};

    fn kv(key: &str, v: any_value::Value) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue { value: Some(v) }),
            ..Default::default()
        }
    }

    #[test]
    fn span_json_follows_otlp_rules() {
        let span = Span {
            trace_id: vec![0xAB; 16],
            span_id: vec![0x0F, 1, 2, 3, 4, 5, 6, 7],
            parent_span_id: vec![],
            flags: 0x101,
            name: "GET /a\"b\n".into(),
            kind: 2,
            start_time_unix_nano: 1_700_000_000_000_000_001,
            end_time_unix_nano: 1_700_000_000_000_000_002,
            attributes: vec![
                kv("s", any_value::Value::StringValue("x".into())),
                kv("i", any_value::Value::IntValue(-9_007_199_254_740_993)),
                kv("d", any_value::Value::DoubleValue(1.5)),
                kv("b", any_value::Value::BoolValue(true)),
                kv("y", any_value::Value::BytesValue(vec![0xff, 0x00, 0x10])),
                kv(
                    "a",
                    any_value::Value::ArrayValue(ArrayValue {
                        values: vec![AnyValue {
                            value: Some(any_value::Value::IntValue(1)),
                        }],
                    }),
                ),
                kv(
                    "m",
                    any_value::Value::KvlistValue(KeyValueList {
                        values: vec![kv("k", any_value::Value::StringValue("v".into()))],
                    }),
                ),
            ],
            status: Some(Status {
                message: "boom".into(),
                code: 2,
            }),
            ..Default::default()
        };
        let mut out = Vec::new();
        write_span(&mut out, &span);
        let v: serde_json::Value = serde_json::from_slice(&out).expect("valid json");
        assert_eq!(v["traceId"], "abababababababababababababababab");
        assert_eq!(v["spanId"], "0f01020304050607");
        assert!(v.get("parentSpanId").is_none());
        assert_eq!(v["flags"], 257);
        assert_eq!(v["kind"], 2);
        assert_eq!(v["name"], "GET /a\"b\n");
        assert_eq!(v["startTimeUnixNano"], "1700000000000000001");
        assert_eq!(v["attributes"][1]["value"]["intValue"], "-9007199254740993");
        assert_eq!(v["attributes"][2]["value"]["doubleValue"], 1.5);
        assert_eq!(v["attributes"][3]["value"]["boolValue"], true);
        assert_eq!(v["attributes"][4]["value"]["bytesValue"], "/wAQ");
        assert_eq!(
            v["attributes"][5]["value"]["arrayValue"]["values"][0]["intValue"],
            "1"
        );
        assert_eq!(
            v["attributes"][6]["value"]["kvlistValue"]["values"][0]["key"],
            "k"
        );
        assert_eq!(v["status"]["code"], 2);
        assert_eq!(v["status"]["message"], "boom");
    }

    #[test]
    fn base64_round_trips() {
        for len in 0..20 {
            let data: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let mut enc = Vec::new();
            put_base64(&mut enc, &data);
            assert_eq!(decode_base64(&enc).as_deref(), Some(&data[..]), "len {len}");
        }
    }

    #[test]
    fn control_characters_are_escaped() {
        let mut out = Vec::new();
        put_str(&mut out, "a\u{1}b\\c\u{1f}é");
        assert_eq!(
            std::str::from_utf8(&out).ok(),
            Some("\"a\\u0001b\\\\c\\u001fé\"")
        );
        let back: String = serde_json::from_slice(&out).expect("valid json");
        assert_eq!(back, "a\u{1}b\\c\u{1f}é");
    }
}
