//! OTLP/JSON: request bodies to the prost messages of `opentelemetry-proto`, and Export
//! responses back to JSON.
//!
//! Follows the "JSON Protobuf Encoding" section of the OTLP specification rather than generic
//! proto3 JSON, where the two differ:
//!
//! - trace and span ids (spans, links, exemplars, log records) are hex strings, either case;
//!   `""` means absent. Ids are only decoded here: an all-zero id decodes fine and is left to
//!   the caller, which counts such spans as rejected.
//! - field names are lowerCamelCase; the original snake_case proto names are accepted too
//!   (a field given under both names is an error). Unknown fields are ignored, `null` is the
//!   same as absent.
//! - enums are integers; their value names (`"SPAN_KIND_SERVER"`) are accepted too. Flags
//!   fields accept an integer or the name of one flag value.
//! - 64-bit integers are decimal strings or JSON numbers. A JSON number with a fraction or
//!   exponent is accepted for an integer field only if it is a whole number of magnitude up
//!   to 2^53 (where every whole number is exact).
//! - doubles are JSON numbers, numeric strings, or `"NaN"`, `"Infinity"`, `"-Infinity"`.
//! - `bytesValue` is base64 (standard or URL-safe alphabet, padded or not).
//!
//! The body is parsed into a [`serde_json::Value`] first (serde_json limits nesting to 128
//! levels), then walked; `AnyValue` nesting is limited to [`MAX_ANY_VALUE_DEPTH`]. Errors
//! carry the JSON path of the offending field, e.g. `resourceSpans[0].scopeSpans[1].spans[3]
//! .traceId: invalid hex id "zz": expected 32 hex digits, found 2 characters`.

use std::fmt::Write as _;

use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, ArrayValue, EntityRef, InstrumentationScope, KeyValue, KeyValueList, any_value,
};
use opentelemetry_proto::tonic::logs::v1::{
    LogRecord, LogRecordFlags, ResourceLogs, ScopeLogs, SeverityNumber,
};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, DataPointFlags, Exemplar, ExponentialHistogram,
    ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint, exemplar,
    exponential_histogram_data_point, metric, number_data_point, summary_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{
    ResourceSpans, ScopeSpans, Span, SpanFlags, Status, span, status,
};
use serde_json::{Map, Value};

/// How deeply `AnyValue`s may nest (an attribute value holding an array is two levels).
pub const MAX_ANY_VALUE_DEPTH: usize = 32;

/// Longest part of an input string quoted back in an error message, in bytes.
const QUOTE_LIMIT: usize = 64;

/// Largest magnitude up to which every whole number is exactly representable as an `f64`.
const MAX_EXACT_F64_INT: f64 = 9_007_199_254_740_992.0; // 2^53

const TRACE_ID_LEN: usize = 16;
const SPAN_ID_LEN: usize = 8;

/// Why an OTLP/JSON body could not be decoded. The whole request is refused (HTTP 400).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JsonError {
    /// The body is not well-formed JSON (or nests deeper than serde_json's limit of 128).
    #[error("invalid json: {0}")]
    Syntax(serde_json::Error),
    /// The body is JSON but does not fit the OTLP message at `path`.
    #[error("{}: {message}", display_path(.path))]
    Invalid {
        /// JSON path of the offending value (`resourceSpans[0].scopeSpans[0].spans[2].kind`),
        /// empty for the top level. Field names are spelled as the input spelled them.
        path: String,
        /// What is wrong, lowercase.
        message: String,
    },
}

impl JsonError {
    /// JSON path of the offending value, if the error is about one.
    pub fn path(&self) -> Option<&str> {
        match self {
            JsonError::Syntax(_) => None,
            JsonError::Invalid { path, .. } => Some(path),
        }
    }
}

fn display_path(path: &str) -> &str {
    if path.is_empty() {
        "request body"
    } else {
        path
    }
}

type R<T> = Result<T, JsonError>;

// ---------------------------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------------------------

/// Decodes an OTLP/JSON `ExportTraceServiceRequest` (the body of `POST /v1/traces`).
pub fn decode_traces(body: &[u8]) -> Result<ExportTraceServiceRequest, JsonError> {
    let root = parse(body)?;
    let mut req = ExportTraceServiceRequest::default();
    fields(&root, &Path::ROOT, |k, v, p| {
        match k {
            "resourceSpans" => req.resource_spans = array_of(v, p, resource_spans)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(req)
}

/// Decodes an OTLP/JSON `ExportMetricsServiceRequest` (the body of `POST /v1/metrics`).
pub fn decode_metrics(body: &[u8]) -> Result<ExportMetricsServiceRequest, JsonError> {
    let root = parse(body)?;
    let mut req = ExportMetricsServiceRequest::default();
    fields(&root, &Path::ROOT, |k, v, p| {
        match k {
            "resourceMetrics" => req.resource_metrics = array_of(v, p, resource_metrics)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(req)
}

/// Decodes an OTLP/JSON `ExportLogsServiceRequest` (the body of `POST /v1/logs`).
pub fn decode_logs(body: &[u8]) -> Result<ExportLogsServiceRequest, JsonError> {
    let root = parse(body)?;
    let mut req = ExportLogsServiceRequest::default();
    fields(&root, &Path::ROOT, |k, v, p| {
        match k {
            "resourceLogs" => req.resource_logs = array_of(v, p, resource_logs)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(req)
}

/// OTLP/JSON of an `ExportTraceServiceResponse`: `{}`, or
/// `{"partialSuccess":{"rejectedSpans":"3","errorMessage":"..."}}` when `partial_success`
/// is set and not all default.
pub fn encode_trace_response(r: &ExportTraceServiceResponse) -> Vec<u8> {
    let ps = r.partial_success.as_ref();
    encode_response(ps.map(|p| ("rejectedSpans", p.rejected_spans, p.error_message.as_str())))
}

/// OTLP/JSON of an `ExportMetricsServiceResponse` (`rejectedDataPoints`, `errorMessage`).
pub fn encode_metrics_response(r: &ExportMetricsServiceResponse) -> Vec<u8> {
    let ps = r.partial_success.as_ref();
    encode_response(ps.map(|p| {
        (
            "rejectedDataPoints",
            p.rejected_data_points,
            p.error_message.as_str(),
        )
    }))
}

/// OTLP/JSON of an `ExportLogsServiceResponse` (`rejectedLogRecords`, `errorMessage`).
pub fn encode_logs_response(r: &ExportLogsServiceResponse) -> Vec<u8> {
    let ps = r.partial_success.as_ref();
    encode_response(ps.map(|p| {
        (
            "rejectedLogRecords",
            p.rejected_log_records,
            p.error_message.as_str(),
        )
    }))
}

fn encode_response(partial_success: Option<(&str, i64, &str)>) -> Vec<u8> {
    match partial_success {
        Some((field, rejected, message)) if rejected != 0 || !message.is_empty() => {
            // `Value`'s Display writes compact JSON with the string escaped.
            let message = Value::String(message.to_owned());
            format!(
                "{{\"partialSuccess\":{{\"{field}\":\"{rejected}\",\"errorMessage\":{message}}}}}"
            )
            .into_bytes()
        }
        _ => b"{}".to_vec(),
    }
}

fn parse(body: &[u8]) -> R<Value> {
    serde_json::from_slice(body).map_err(JsonError::Syntax)
}

// ---------------------------------------------------------------------------------------------
// JSON paths, built on the stack and only rendered for an error
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy)]
enum Seg<'a> {
    Root,
    Key(&'a str),
    Index(usize),
}

#[derive(Clone, Copy)]
struct Path<'a> {
    parent: Option<&'a Path<'a>>,
    seg: Seg<'a>,
}

impl<'a> Path<'a> {
    const ROOT: Path<'static> = Path {
        parent: None,
        seg: Seg::Root,
    };

    fn key<'b>(&'b self, key: &'b str) -> Path<'b> {
        Path {
            parent: Some(self),
            seg: Seg::Key(key),
        }
    }

    fn index(&self, i: usize) -> Path<'_> {
        Path {
            parent: Some(self),
            seg: Seg::Index(i),
        }
    }

    fn render(&self) -> String {
        let mut segs = Vec::new();
        let mut cur = Some(self);
        while let Some(p) = cur {
            segs.push(p.seg);
            cur = p.parent;
        }
        let mut out = String::new();
        for seg in segs.iter().rev() {
            match seg {
                Seg::Root => {}
                Seg::Key(k) => {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(k);
                }
                Seg::Index(i) => {
                    let _ = write!(out, "[{i}]");
                }
            }
        }
        out
    }

    fn error(&self, message: impl Into<String>) -> JsonError {
        JsonError::Invalid {
            path: self.render(),
            message: message.into(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Generic walkers
// ---------------------------------------------------------------------------------------------

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn wrong_type(path: &Path<'_>, expected: &str, v: &Value) -> JsonError {
    path.error(format!("expected {expected}, found {}", type_name(v)))
}

/// An input string for an error message: quoted, escaped, cut at [`QUOTE_LIMIT`] bytes.
fn quote(s: &str) -> String {
    if s.len() <= QUOTE_LIMIT {
        return format!("{s:?}");
    }
    let mut end = QUOTE_LIMIT;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{:?}... ({} bytes)", s.get(..end).unwrap_or(""), s.len())
}

/// `start_time_unix_nano` → `startTimeUnixNano`.
fn snake_to_camel(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut upper = false;
    for c in s.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// Walks the members of a JSON object that stands for a message. `f` gets each non-null
/// member under its lowerCamelCase name and returns whether it knew the field; unknown
/// fields are skipped. A known field given under both its camelCase and snake_case name is
/// an error.
fn fields<'v>(
    v: &'v Value,
    path: &Path<'_>,
    mut f: impl FnMut(&str, &'v Value, &Path<'_>) -> R<bool>,
) -> R<()> {
    let Value::Object(map) = v else {
        return Err(wrong_type(path, "object", v));
    };
    for (key, val) in map {
        if val.is_null() {
            continue;
        }
        let child = path.key(key);
        if key.contains('_') {
            let camel = snake_to_camel(key);
            if f(&camel, val, &child)? && is_set(map, &camel) {
                return Err(child.error(format!(
                    "field given twice, as {} and {}",
                    quote(&camel),
                    quote(key)
                )));
            }
        } else {
            f(key, val, &child)?;
        }
    }
    Ok(())
}

fn is_set(map: &Map<String, Value>, key: &str) -> bool {
    map.get(key).is_some_and(|v| !v.is_null())
}

fn array_of<'v, T>(
    v: &'v Value,
    path: &Path<'_>,
    mut f: impl FnMut(&'v Value, &Path<'_>) -> R<T>,
) -> R<Vec<T>> {
    let Value::Array(items) = v else {
        return Err(wrong_type(path, "array", v));
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        out.push(f(item, &path.index(i))?);
    }
    Ok(out)
}

/// Remembers which member of a oneof was set, to refuse a second one.
struct OneOf<T> {
    set_by: Option<&'static str>,
    value: Option<T>,
}

impl<T> OneOf<T> {
    fn new() -> Self {
        OneOf {
            set_by: None,
            value: None,
        }
    }

    fn set(&mut self, name: &'static str, value: T, path: &Path<'_>) -> R<()> {
        if let Some(prev) = self.set_by {
            return Err(path.error(format!("only one of {prev:?} and {name:?} may be set")));
        }
        self.set_by = Some(name);
        self.value = Some(value);
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Scalars
// ---------------------------------------------------------------------------------------------

fn string(v: &Value, path: &Path<'_>) -> R<String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        _ => Err(wrong_type(path, "string", v)),
    }
}

fn boolean(v: &Value, path: &Path<'_>) -> R<bool> {
    match v {
        Value::Bool(b) => Ok(*b),
        _ => Err(wrong_type(path, "boolean", v)),
    }
}

/// Is `s` a decimal integer as proto3 JSON writes one in a string (`-12`, `007`)?
fn is_int_str(s: &str) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// An integer field of type `ty` with range `min..=max`: a JSON number or a decimal string.
fn integer(v: &Value, path: &Path<'_>, min: i128, max: i128, ty: &str) -> R<i128> {
    let out_of_range = |shown: &dyn std::fmt::Display, negative: bool| {
        if negative && min == 0 {
            path.error(format!("negative value {shown} for {}", int_field(ty)))
        } else {
            path.error(format!("value {shown} out of range for {}", int_field(ty)))
        }
    };
    let i = match v {
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                i128::from(u)
            } else if let Some(i) = n.as_i64() {
                i128::from(i)
            } else {
                // Not representable as u64/i64: a fraction, an exponent, or too large.
                let f = n.as_f64().unwrap_or(f64::NAN);
                if !f.is_finite() || f.fract() != 0.0 {
                    return Err(path.error(format!("expected an integer, found {n}")));
                }
                // `as` saturates, so this also catches magnitudes beyond i128.
                let i = f as i128;
                if i < min || i > max {
                    return Err(out_of_range(n, f < 0.0));
                }
                if f.abs() > MAX_EXACT_F64_INT {
                    return Err(path.error(format!(
                        "number {n} is too large to be exact; send 64-bit integers as decimal strings"
                    )));
                }
                i
            }
        }
        Value::String(s) => {
            if !is_int_str(s) {
                return Err(path.error(format!("invalid integer {}", quote(s))));
            }
            match s.parse::<i128>() {
                Ok(i) => i,
                // Only overflow is left once the format is checked.
                Err(_) => return Err(out_of_range(&quote(s), s.starts_with('-'))),
            }
        }
        _ => return Err(wrong_type(path, "integer", v)),
    };
    if i < min || i > max {
        return Err(out_of_range(&i, i < 0));
    }
    Ok(i)
}

/// `"a uint64 field"`, `"an int32 field"`.
fn int_field(ty: &str) -> String {
    let article = if ty.starts_with('i') { "an" } else { "a" };
    format!("{article} {ty} field")
}

fn uint64(v: &Value, path: &Path<'_>) -> R<u64> {
    let i = integer(v, path, 0, u64::MAX.into(), "uint64")?;
    u64::try_from(i).map_err(|_| {
        path.error(format!(
            "value {i} out of range for {}",
            int_field("uint64")
        ))
    })
}

fn int64(v: &Value, path: &Path<'_>) -> R<i64> {
    let i = integer(v, path, i64::MIN.into(), i64::MAX.into(), "int64")?;
    i64::try_from(i)
        .map_err(|_| path.error(format!("value {i} out of range for {}", int_field("int64"))))
}

fn uint32(v: &Value, path: &Path<'_>) -> R<u32> {
    let i = integer(v, path, 0, u32::MAX.into(), "uint32")?;
    u32::try_from(i).map_err(|_| {
        path.error(format!(
            "value {i} out of range for {}",
            int_field("uint32")
        ))
    })
}

fn int32(v: &Value, path: &Path<'_>) -> R<i32> {
    let i = integer(v, path, i32::MIN.into(), i32::MAX.into(), "int32")?;
    i32::try_from(i)
        .map_err(|_| path.error(format!("value {i} out of range for {}", int_field("int32"))))
}

fn double(v: &Value, path: &Path<'_>) -> R<f64> {
    match v {
        Value::Number(n) => n
            .as_f64()
            .ok_or_else(|| path.error(format!("number {n} is not representable as a double"))),
        Value::String(s) => match s.as_str() {
            "NaN" => Ok(f64::NAN),
            "Infinity" => Ok(f64::INFINITY),
            "-Infinity" => Ok(f64::NEG_INFINITY),
            _ => {
                // Rust's parser also takes "inf", "nan" and the like: allow JSON number
                // characters only.
                let numeric = !s.is_empty()
                    && s.bytes().all(|b| {
                        b.is_ascii_digit() || matches!(b, b'-' | b'+' | b'.' | b'e' | b'E')
                    });
                match s.parse::<f64>() {
                    Ok(f) if numeric && f.is_finite() => Ok(f),
                    _ => Err(path.error(format!(
                        "invalid number {}: expected a json number, a numeric string, \"NaN\", \"Infinity\" or \"-Infinity\"",
                        quote(s)
                    ))),
                }
            }
        },
        _ => Err(wrong_type(path, "number", v)),
    }
}

fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// A trace id (`len` 16) or span id (`len` 8) as hex, either case. `""` is absent (empty).
fn hex_id(v: &Value, path: &Path<'_>, len: usize) -> R<Vec<u8>> {
    let Value::String(s) = v else {
        return Err(wrong_type(path, "hex string", v));
    };
    if s.is_empty() {
        return Ok(Vec::new());
    }
    let bad = |detail: String| {
        path.error(format!(
            "invalid hex id {}: expected {} hex digits{detail}",
            quote(s),
            len * 2
        ))
    };
    let bytes = s.as_bytes();
    if bytes.len() != len * 2 {
        return Err(bad(format!(", found {} characters", s.chars().count())));
    }
    let mut out = Vec::with_capacity(len);
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        let &[hi, lo] = pair else {
            return Err(bad(String::new()));
        };
        match (hex_digit(hi), hex_digit(lo)) {
            (Some(h), Some(l)) => out.push((h << 4) | l),
            (h, _) => {
                let at = if h.is_none() { 2 * i } else { 2 * i + 1 };
                let c = s
                    .get(at..)
                    .and_then(|rest| rest.chars().next())
                    .unwrap_or('?');
                return Err(bad(format!(", found {c:?} at offset {at}")));
            }
        }
    }
    Ok(out)
}

fn base64_digit(b: u8) -> Option<u32> {
    match b {
        b'A'..=b'Z' => Some(u32::from(b - b'A')),
        b'a'..=b'z' => Some(u32::from(b - b'a') + 26),
        b'0'..=b'9' => Some(u32::from(b - b'0') + 52),
        b'+' | b'-' => Some(62),
        b'/' | b'_' => Some(63),
        _ => None,
    }
}

/// Base64, standard or URL-safe alphabet, with or without `=` padding.
fn base64(v: &Value, path: &Path<'_>) -> R<Vec<u8>> {
    let Value::String(s) = v else {
        return Err(wrong_type(path, "base64 string", v));
    };
    let bad = |detail: String| path.error(format!("invalid base64 {}: {detail}", quote(s)));
    let data = s.trim_end_matches('=');
    let padding = s.len() - data.len();
    if data.len() % 4 == 1 || padding > 2 || (padding > 0 && s.len() % 4 != 0) {
        return Err(bad(format!("invalid length {}", s.len())));
    }
    let mut out = Vec::with_capacity(data.len() / 4 * 3 + 2);
    let bytes = data.as_bytes();
    for (ci, chunk) in bytes.chunks(4).enumerate() {
        let mut acc: u32 = 0;
        for (j, &b) in chunk.iter().enumerate() {
            let Some(d) = base64_digit(b) else {
                let at = ci * 4 + j;
                let c = s
                    .get(at..)
                    .and_then(|rest| rest.chars().next())
                    .unwrap_or('?');
                return Err(bad(format!("invalid character {c:?} at offset {at}")));
            };
            acc = (acc << 6) | d;
        }
        // A short final chunk of 2 or 3 digits carries 1 or 2 bytes.
        acc <<= 6 * (4 - chunk.len() as u32);
        let [_, b0, b1, b2] = acc.to_be_bytes();
        let n = chunk.len() - 1;
        out.extend_from_slice([b0, b1, b2].get(..n).unwrap_or(&[]));
    }
    Ok(out)
}

/// An enum field: an integer (unknown values kept, as proto3 does) or a value name.
fn enumeration(
    v: &Value,
    path: &Path<'_>,
    what: &str,
    from_name: fn(&str) -> Option<i32>,
) -> R<i32> {
    match v {
        Value::String(s) if !is_int_str(s) => {
            from_name(s).ok_or_else(|| path.error(format!("unknown {what} {}", quote(s))))
        }
        Value::Number(_) | Value::String(_) => int32(v, path),
        _ => Err(wrong_type(path, &format!("{what} (integer or name)"), v)),
    }
}

/// A flags field (uint32 / fixed32 bit set): an integer, or the name of one flag value.
fn flags(v: &Value, path: &Path<'_>, what: &str, from_name: fn(&str) -> Option<i32>) -> R<u32> {
    match v {
        Value::String(s) if !is_int_str(s) => from_name(s)
            .and_then(|i| u32::try_from(i).ok())
            .ok_or_else(|| path.error(format!("unknown {what} {}", quote(s)))),
        _ => uint32(v, path),
    }
}

fn span_kind(s: &str) -> Option<i32> {
    span::SpanKind::from_str_name(s).map(|k| k as i32)
}

fn status_code(s: &str) -> Option<i32> {
    status::StatusCode::from_str_name(s).map(|k| k as i32)
}

fn span_flags(s: &str) -> Option<i32> {
    SpanFlags::from_str_name(s).map(|k| k as i32)
}

fn severity_number(s: &str) -> Option<i32> {
    SeverityNumber::from_str_name(s).map(|k| k as i32)
}

fn log_record_flags(s: &str) -> Option<i32> {
    LogRecordFlags::from_str_name(s).map(|k| k as i32)
}

fn temporality(s: &str) -> Option<i32> {
    AggregationTemporality::from_str_name(s).map(|k| k as i32)
}

fn data_point_flags(s: &str) -> Option<i32> {
    DataPointFlags::from_str_name(s).map(|k| k as i32)
}

// ---------------------------------------------------------------------------------------------
// Common messages
// ---------------------------------------------------------------------------------------------

fn strings(v: &Value, path: &Path<'_>) -> R<Vec<String>> {
    array_of(v, path, string)
}

fn doubles(v: &Value, path: &Path<'_>) -> R<Vec<f64>> {
    array_of(v, path, double)
}

fn uint64s(v: &Value, path: &Path<'_>) -> R<Vec<u64>> {
    array_of(v, path, uint64)
}

fn any_value(v: &Value, path: &Path<'_>, depth: usize) -> R<AnyValue> {
    if depth > MAX_ANY_VALUE_DEPTH {
        return Err(path.error(format!(
            "value nested too deeply (more than {MAX_ANY_VALUE_DEPTH} levels)"
        )));
    }
    use any_value::Value as V;
    let mut value = OneOf::new();
    fields(v, path, |k, v, p| {
        match k {
            "stringValue" => value.set("stringValue", V::StringValue(string(v, p)?), p)?,
            "boolValue" => value.set("boolValue", V::BoolValue(boolean(v, p)?), p)?,
            "intValue" => value.set("intValue", V::IntValue(int64(v, p)?), p)?,
            "doubleValue" => value.set("doubleValue", V::DoubleValue(double(v, p)?), p)?,
            "arrayValue" => value.set("arrayValue", V::ArrayValue(array_value(v, p, depth)?), p)?,
            "kvlistValue" => {
                value.set("kvlistValue", V::KvlistValue(kvlist_value(v, p, depth)?), p)?
            }
            "bytesValue" => value.set("bytesValue", V::BytesValue(base64(v, p)?), p)?,
            "stringValueStrindex" => value.set(
                "stringValueStrindex",
                V::StringValueStrindex(int32(v, p)?),
                p,
            )?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(AnyValue { value: value.value })
}

fn array_value(v: &Value, path: &Path<'_>, depth: usize) -> R<ArrayValue> {
    let mut out = ArrayValue::default();
    fields(v, path, |k, v, p| {
        match k {
            "values" => out.values = array_of(v, p, |v, p| any_value(v, p, depth + 1))?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(out)
}

fn kvlist_value(v: &Value, path: &Path<'_>, depth: usize) -> R<KeyValueList> {
    let mut out = KeyValueList::default();
    fields(v, path, |k, v, p| {
        match k {
            "values" => out.values = array_of(v, p, |v, p| key_value(v, p, depth + 1))?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(out)
}

/// A `KeyValue` whose value sits at AnyValue nesting level `depth`.
fn key_value(v: &Value, path: &Path<'_>, depth: usize) -> R<KeyValue> {
    let mut out = KeyValue::default();
    fields(v, path, |k, v, p| {
        match k {
            "key" => out.key = string(v, p)?,
            "value" => out.value = Some(any_value(v, p, depth)?),
            "keyStrindex" => out.key_strindex = int32(v, p)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(out)
}

fn attributes(v: &Value, path: &Path<'_>) -> R<Vec<KeyValue>> {
    array_of(v, path, |v, p| key_value(v, p, 1))
}

fn resource(v: &Value, path: &Path<'_>) -> R<Resource> {
    let mut out = Resource::default();
    fields(v, path, |k, v, p| {
        match k {
            "attributes" => out.attributes = attributes(v, p)?,
            "droppedAttributesCount" => out.dropped_attributes_count = uint32(v, p)?,
            "entityRefs" => out.entity_refs = array_of(v, p, entity_ref)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(out)
}

fn entity_ref(v: &Value, path: &Path<'_>) -> R<EntityRef> {
    let mut out = EntityRef::default();
    fields(v, path, |k, v, p| {
        match k {
            "schemaUrl" => out.schema_url = string(v, p)?,
            "type" => out.r#type = string(v, p)?,
            "idKeys" => out.id_keys = strings(v, p)?,
            "descriptionKeys" => out.description_keys = strings(v, p)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(out)
}

fn scope(v: &Value, path: &Path<'_>) -> R<InstrumentationScope> {
    let mut out = InstrumentationScope::default();
    fields(v, path, |k, v, p| {
        match k {
            "name" => out.name = string(v, p)?,
            "version" => out.version = string(v, p)?,
            "attributes" => out.attributes = attributes(v, p)?,
            "droppedAttributesCount" => out.dropped_attributes_count = uint32(v, p)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Traces
// ---------------------------------------------------------------------------------------------

fn resource_spans(v: &Value, path: &Path<'_>) -> R<ResourceSpans> {
    let mut out = ResourceSpans::default();
    fields(v, path, |k, v, p| {
        match k {
            "resource" => out.resource = Some(resource(v, p)?),
            "scopeSpans" => out.scope_spans = array_of(v, p, scope_spans)?,
            "schemaUrl" => out.schema_url = string(v, p)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(out)
}

fn scope_spans(v: &Value, path: &Path<'_>) -> R<ScopeSpans> {
    let mut out = ScopeSpans::default();
    fields(v, path, |k, v, p| {
        match k {
            "scope" => out.scope = Some(scope(v, p)?),
            "spans" => out.spans = array_of(v, p, span)?,
            "schemaUrl" => out.schema_url = string(v, p)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(out)
}

fn span(v: &Value, path: &Path<'_>) -> R<Span> {
    let mut out = Span::default();
    fields(v, path, |k, v, p| {
        match k {
            "traceId" => out.trace_id = hex_id(v, p, TRACE_ID_LEN)?,
            "spanId" => out.span_id = hex_id(v, p, SPAN_ID_LEN)?,
            "traceState" => out.trace_state = string(v, p)?,
            "parentSpanId" => out.parent_span_id = hex_id(v, p, SPAN_ID_LEN)?,
            "flags" => out.flags = flags(v, p, "span flag", span_flags)?,
            "name" => out.name = string(v, p)?,
            "kind" => out.kind = enumeration(v, p, "span kind", span_kind)?,
            "startTimeUnixNano" => out.start_time_unix_nano = uint64(v, p)?,
            "endTimeUnixNano" => out.end_time_unix_nano = uint64(v, p)?,
            "attributes" => out.attributes = attributes(v, p)?,
            "droppedAttributesCount" => out.dropped_attributes_count = uint32(v, p)?,
            "events" => out.events = array_of(v, p, span_event)?,
            "droppedEventsCount" => out.dropped_events_count = uint32(v, p)?,
            "links" => out.links = array_of(v, p, span_link)?,
            "droppedLinksCount" => out.dropped_links_count = uint32(v, p)?,
            "status" => out.status = Some(span_status(v, p)?),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(out)
}

fn span_event(v: &Value, path: &Path<'_>) -> R<span::Event> {
    let mut out = span::Event::default();
    fields(v, path, |k, v, p| {
        match k {
            "timeUnixNano" => out.time_unix_nano = uint64(v, p)?,
            "name" => out.name = string(v, p)?,
            "attributes" => out.attributes = attributes(v, p)?,
            "droppedAttributesCount" => out.dropped_attributes_count = uint32(v, p)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(out)
}

fn span_link(v: &Value, path: &Path<'_>) -> R<span::Link> {
    let mut out = span::Link::default();
    fields(v, path, |k, v, p| {
        match k {
            "traceId" => out.trace_id = hex_id(v, p, TRACE_ID_LEN)?,
            "spanId" => out.span_id = hex_id(v, p, SPAN_ID_LEN)?,
            "traceState" => out.trace_state = string(v, p)?,
            "attributes" => out.attributes = attributes(v, p)?,
            "droppedAttributesCount" => out.dropped_attributes_count = uint32(v, p)?,
            "flags" => out.flags = flags(v, p, "span flag", span_flags)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(out)
}

fn span_status(v: &Value, path: &Path<'_>) -> R<Status> {
    let mut out = Status::default();
    fields(v, path, |k, v, p| {
        match k {
            "message" => out.message = string(v, p)?,
            "code" => out.code = enumeration(v, p, "status code", status_code)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------------------------

fn resource_metrics(v: &Value, path: &Path<'_>) -> R<ResourceMetrics> {
    let mut out = ResourceMetrics::default();
    fields(v, path, |k, v, p| {
        match k {
            "resource" => out.resource = Some(resource(v, p)?),
            "scopeMetrics" => out.scope_metrics = array_of(v, p, scope_metrics)?,
            "schemaUrl" => out.schema_url = string(v, p)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(out)
}

fn scope_metrics(v: &Value, path: &Path<'_>) -> R<ScopeMetrics> {
    let mut out = ScopeMetrics::default();
    fields(v, path, |k, v, p| {
        match k {
            "scope" => out.scope = Some(scope(v, p)?),
            "metrics" => out.metrics = array_of(v, p, metric)?,
            "schemaUrl" => out.schema_url = string(v, p)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(out)
}

fn metric(v: &Value, path: &Path<'_>) -> R<Metric> {
    use metric::Data as D;
    let mut out = Metric::default();
    let mut data = OneOf::new();
    fields(v, path, |k, v, p| {
        match k {
            "name" => out.name = string(v, p)?,
            "description" => out.description = string(v, p)?,
            "unit" => out.unit = string(v, p)?,
            "metadata" => out.metadata = attributes(v, p)?,
            "gauge" => data.set("gauge", D::Gauge(gauge(v, p)?), p)?,
            "sum" => data.set("sum", D::Sum(sum(v, p)?), p)?,
            "histogram" => data.set("histogram", D::Histogram(histogram(v, p)?), p)?,
            "exponentialHistogram" => data.set(
                "exponentialHistogram",
                D::ExponentialHistogram(exponential_histogram(v, p)?),
                p,
            )?,
            "summary" => data.set("summary", D::Summary(summary(v, p)?), p)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    out.data = data.value;
    Ok(out)
}

fn gauge(v: &Value, path: &Path<'_>) -> R<Gauge> {
    let mut out = Gauge::default();
    fields(v, path, |k, v, p| {
        match k {
            "dataPoints" => out.data_points = array_of(v, p, number_data_point)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(out)
}

fn sum(v: &Value, path: &Path<'_>) -> R<Sum> {
    let mut out = Sum::default();
    fields(v, path, |k, v, p| {
        match k {
            "dataPoints" => out.data_points = array_of(v, p, number_data_point)?,
            "aggregationTemporality" => {
                out.aggregation_temporality =
                    enumeration(v, p, "aggregation temporality", temporality)?
            }
            "isMonotonic" => out.is_monotonic = boolean(v, p)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(out)
}

fn histogram(v: &Value, path: &Path<'_>) -> R<Histogram> {
    let mut out = Histogram::default();
    fields(v, path, |k, v, p| {
        match k {
            "dataPoints" => out.data_points = array_of(v, p, histogram_data_point)?,
            "aggregationTemporality" => {
                out.aggregation_temporality =
                    enumeration(v, p, "aggregation temporality", temporality)?
            }
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(out)
}

fn exponential_histogram(v: &Value, path: &Path<'_>) -> R<ExponentialHistogram> {
    let mut out = ExponentialHistogram::default();
    fields(v, path, |k, v, p| {
        match k {
            "dataPoints" => out.data_points = array_of(v, p, exponential_histogram_data_point)?,
            "aggregationTemporality" => {
                out.aggregation_temporality =
                    enumeration(v, p, "aggregation temporality", temporality)?
            }
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(out)
}

fn summary(v: &Value, path: &Path<'_>) -> R<Summary> {
    let mut out = Summary::default();
    fields(v, path, |k, v, p| {
        match k {
            "dataPoints" => out.data_points = array_of(v, p, summary_data_point)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(out)
}

fn number_data_point(v: &Value, path: &Path<'_>) -> R<NumberDataPoint> {
    use number_data_point::Value as V;
    let mut out = NumberDataPoint::default();
    let mut value = OneOf::new();
    fields(v, path, |k, v, p| {
        match k {
            "attributes" => out.attributes = attributes(v, p)?,
            "startTimeUnixNano" => out.start_time_unix_nano = uint64(v, p)?,
            "timeUnixNano" => out.time_unix_nano = uint64(v, p)?,
            "exemplars" => out.exemplars = array_of(v, p, exemplar)?,
            "flags" => out.flags = flags(v, p, "data point flag", data_point_flags)?,
            "asDouble" => value.set("asDouble", V::AsDouble(double(v, p)?), p)?,
            "asInt" => value.set("asInt", V::AsInt(int64(v, p)?), p)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    out.value = value.value;
    Ok(out)
}

fn histogram_data_point(v: &Value, path: &Path<'_>) -> R<HistogramDataPoint> {
    let mut out = HistogramDataPoint::default();
    fields(v, path, |k, v, p| {
        match k {
            "attributes" => out.attributes = attributes(v, p)?,
            "startTimeUnixNano" => out.start_time_unix_nano = uint64(v, p)?,
            "timeUnixNano" => out.time_unix_nano = uint64(v, p)?,
            "count" => out.count = uint64(v, p)?,
            "sum" => out.sum = Some(double(v, p)?),
            "bucketCounts" => out.bucket_counts = uint64s(v, p)?,
            "explicitBounds" => out.explicit_bounds = doubles(v, p)?,
            "exemplars" => out.exemplars = array_of(v, p, exemplar)?,
            "flags" => out.flags = flags(v, p, "data point flag", data_point_flags)?,
            "min" => out.min = Some(double(v, p)?),
            "max" => out.max = Some(double(v, p)?),
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(out)
}

fn exponential_histogram_data_point(
    v: &Value,
    path: &Path<'_>,
) -> R<ExponentialHistogramDataPoint> {
    let mut out = ExponentialHistogramDataPoint::default();
    fields(v, path, |k, v, p| {
        match k {
            "attributes" => out.attributes = attributes(v, p)?,
            "startTimeUnixNano" => out.start_time_unix_nano = uint64(v, p)?,
            "timeUnixNano" => out.time_unix_nano = uint64(v, p)?,
            "count" => out.count = uint64(v, p)?,
            "sum" => out.sum = Some(double(v, p)?),
            "scale" => out.scale = int32(v, p)?,
            "zeroCount" => out.zero_count = uint64(v, p)?,
            "positive" => out.positive = Some(buckets(v, p)?),
            "negative" => out.negative = Some(buckets(v, p)?),
            "flags" => out.flags = flags(v, p, "data point flag", data_point_flags)?,
            "exemplars" => out.exemplars = array_of(v, p, exemplar)?,
            "min" => out.min = Some(double(v, p)?),
            "max" => out.max = Some(double(v, p)?),
            "zeroThreshold" => out.zero_threshold = double(v, p)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(out)
}

fn buckets(v: &Value, path: &Path<'_>) -> R<exponential_histogram_data_point::Buckets> {
    let mut out = exponential_histogram_data_point::Buckets::default();
    fields(v, path, |k, v, p| {
        match k {
            "offset" => out.offset = int32(v, p)?,
            "bucketCounts" => out.bucket_counts = uint64s(v, p)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(out)
}

fn summary_data_point(v: &Value, path: &Path<'_>) -> R<SummaryDataPoint> {
    let mut out = SummaryDataPoint::default();
    fields(v, path, |k, v, p| {
        match k {
            "attributes" => out.attributes = attributes(v, p)?,
            "startTimeUnixNano" => out.start_time_unix_nano = uint64(v, p)?,
            "timeUnixNano" => out.time_unix_nano = uint64(v, p)?,
            "count" => out.count = uint64(v, p)?,
            "sum" => out.sum = double(v, p)?,
            "quantileValues" => out.quantile_values = array_of(v, p, value_at_quantile)?,
            "flags" => out.flags = flags(v, p, "data point flag", data_point_flags)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(out)
}

fn value_at_quantile(v: &Value, path: &Path<'_>) -> R<summary_data_point::ValueAtQuantile> {
    let mut out = summary_data_point::ValueAtQuantile::default();
    fields(v, path, |k, v, p| {
        match k {
            "quantile" => out.quantile = double(v, p)?,
            "value" => out.value = double(v, p)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(out)
}

fn exemplar(v: &Value, path: &Path<'_>) -> R<Exemplar> {
    use exemplar::Value as V;
    let mut out = Exemplar::default();
    let mut value = OneOf::new();
    fields(v, path, |k, v, p| {
        match k {
            "filteredAttributes" => out.filtered_attributes = attributes(v, p)?,
            "timeUnixNano" => out.time_unix_nano = uint64(v, p)?,
            "spanId" => out.span_id = hex_id(v, p, SPAN_ID_LEN)?,
            "traceId" => out.trace_id = hex_id(v, p, TRACE_ID_LEN)?,
            "asDouble" => value.set("asDouble", V::AsDouble(double(v, p)?), p)?,
            "asInt" => value.set("asInt", V::AsInt(int64(v, p)?), p)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    out.value = value.value;
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Logs
// ---------------------------------------------------------------------------------------------

fn resource_logs(v: &Value, path: &Path<'_>) -> R<ResourceLogs> {
    let mut out = ResourceLogs::default();
    fields(v, path, |k, v, p| {
        match k {
            "resource" => out.resource = Some(resource(v, p)?),
            "scopeLogs" => out.scope_logs = array_of(v, p, scope_logs)?,
            "schemaUrl" => out.schema_url = string(v, p)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(out)
}

fn scope_logs(v: &Value, path: &Path<'_>) -> R<ScopeLogs> {
    let mut out = ScopeLogs::default();
    fields(v, path, |k, v, p| {
        match k {
            "scope" => out.scope = Some(scope(v, p)?),
            "logRecords" => out.log_records = array_of(v, p, log_record)?,
            "schemaUrl" => out.schema_url = string(v, p)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(out)
}

fn log_record(v: &Value, path: &Path<'_>) -> R<LogRecord> {
    let mut out = LogRecord::default();
    fields(v, path, |k, v, p| {
        match k {
            "timeUnixNano" => out.time_unix_nano = uint64(v, p)?,
            "observedTimeUnixNano" => out.observed_time_unix_nano = uint64(v, p)?,
            "severityNumber" => {
                out.severity_number = enumeration(v, p, "severity number", severity_number)?
            }
            "severityText" => out.severity_text = string(v, p)?,
            "body" => out.body = Some(any_value(v, p, 1)?),
            "attributes" => out.attributes = attributes(v, p)?,
            "droppedAttributesCount" => out.dropped_attributes_count = uint32(v, p)?,
            "flags" => out.flags = flags(v, p, "log record flag", log_record_flags)?,
            "traceId" => out.trace_id = hex_id(v, p, TRACE_ID_LEN)?,
            "spanId" => out.span_id = hex_id(v, p, SPAN_ID_LEN)?,
            "eventName" => out.event_name = string(v, p)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use any_value::Value as AV;
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsPartialSuccess;
    use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsPartialSuccess;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTracePartialSuccess;

    // Copies of /work/shared/data/otlp-examples/, unchanged (the upstream examples of
    // open-telemetry/opentelemetry-proto).
    const TRACE_JSON: &str = include_str!("../tests/data/trace.json");
    const METRICS_JSON: &str = include_str!("../tests/data/metrics.json");
    const LOGS_JSON: &str = include_str!("../tests/data/logs.json");
    const EVENTS_JSON: &str = include_str!("../tests/data/events.json");

    const T0: u64 = 1_544_712_660_300_000_000;

    // --- builders -----------------------------------------------------------------------

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).expect("test hex")
    }

    fn av(v: AV) -> AnyValue {
        AnyValue { value: Some(v) }
    }

    fn s(v: &str) -> AnyValue {
        av(AV::StringValue(v.to_owned()))
    }

    fn kv(k: &str, v: AnyValue) -> KeyValue {
        KeyValue {
            key: k.to_owned(),
            value: Some(v),
            key_strindex: 0,
        }
    }

    fn kvs(k: &str, v: &str) -> KeyValue {
        kv(k, s(v))
    }

    fn example_resource() -> Resource {
        Resource {
            attributes: vec![kvs("service.name", "my.service")],
            ..Default::default()
        }
    }

    fn example_scope() -> InstrumentationScope {
        InstrumentationScope {
            name: "my.library".into(),
            version: "1.0.0".into(),
            attributes: vec![kvs("my.scope.attribute", "some scope attribute")],
            dropped_attributes_count: 0,
        }
    }

    #[derive(Clone, Copy, Debug)]
    enum Sig {
        Traces,
        Metrics,
        Logs,
    }

    fn decode_as(sig: Sig, body: &[u8]) -> Result<(), JsonError> {
        match sig {
            Sig::Traces => decode_traces(body).map(drop),
            Sig::Metrics => decode_metrics(body).map(drop),
            Sig::Logs => decode_logs(body).map(drop),
        }
    }

    /// A traces body with one span made of `span_fields` (JSON object members).
    fn span_body(span_fields: &str) -> String {
        format!(r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[{{{span_fields}}}]}}]}}]}}"#)
    }

    fn one_span(span_fields: &str) -> Span {
        let req = decode_traces(span_body(span_fields).as_bytes()).expect("decodes");
        req.resource_spans
            .into_iter()
            .flat_map(|rs| rs.scope_spans)
            .flat_map(|ss| ss.spans)
            .next()
            .expect("one span")
    }

    /// A metrics body with one metric made of `metric_fields`.
    fn metric_body(metric_fields: &str) -> String {
        format!(
            r#"{{"resourceMetrics":[{{"scopeMetrics":[{{"metrics":[{{{metric_fields}}}]}}]}}]}}"#
        )
    }

    fn one_metric(metric_fields: &str) -> Metric {
        let req = decode_metrics(metric_body(metric_fields).as_bytes()).expect("decodes");
        req.resource_metrics
            .into_iter()
            .flat_map(|rm| rm.scope_metrics)
            .flat_map(|sm| sm.metrics)
            .next()
            .expect("one metric")
    }

    /// A logs body with one log record made of `record_fields`.
    fn log_body(record_fields: &str) -> String {
        format!(r#"{{"resourceLogs":[{{"scopeLogs":[{{"logRecords":[{{{record_fields}}}]}}]}}]}}"#)
    }

    fn one_log(record_fields: &str) -> LogRecord {
        let req = decode_logs(log_body(record_fields).as_bytes()).expect("decodes");
        req.resource_logs
            .into_iter()
            .flat_map(|rl| rl.scope_logs)
            .flat_map(|sl| sl.log_records)
            .next()
            .expect("one log record")
    }

    /// The value of the single attribute of a span built from `value_json`.
    fn attr_value(value_json: &str) -> Result<AnyValue, JsonError> {
        let body = span_body(&format!(
            r#""attributes":[{{"key":"k","value":{value_json}}}]"#
        ));
        let req = decode_traces(body.as_bytes())?;
        Ok(req.resource_spans[0].scope_spans[0].spans[0].attributes[0]
            .value
            .clone()
            .unwrap_or_default())
    }

    // --- the upstream examples ------------------------------------------------------------

    #[test]
    fn example_trace_json_decodes_exactly() {
        let req = decode_traces(TRACE_JSON.as_bytes()).expect("trace.json decodes");
        let want = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(example_resource()),
                scope_spans: vec![ScopeSpans {
                    scope: Some(example_scope()),
                    spans: vec![Span {
                        trace_id: h("5b8efff798038103d269b633813fc60c"),
                        span_id: h("eee19b7ec3c1b174"),
                        parent_span_id: h("eee19b7ec3c1b173"),
                        name: "I'm a server span".into(),
                        start_time_unix_nano: 1_544_712_660_000_000_000,
                        end_time_unix_nano: 1_544_712_661_000_000_000,
                        kind: span::SpanKind::Server as i32,
                        attributes: vec![kvs("my.span.attr", "some value")],
                        ..Default::default()
                    }],
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        };
        assert_eq!(req, want);
        // The upper-case hex became these bytes (not base64-decoded, not lower-cased text).
        let span = &req.resource_spans[0].scope_spans[0].spans[0];
        assert_eq!(
            span.trace_id,
            [
                0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03, 0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f,
                0xc6, 0x0c
            ]
        );
        assert_eq!(
            span.span_id,
            [0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74]
        );
    }

    #[test]
    fn example_metrics_json_decodes_exactly() {
        use metric::Data as D;
        let req = decode_metrics(METRICS_JSON.as_bytes()).expect("metrics.json decodes");
        let attr = |k: &str| vec![kvs(k, "some value")];
        let want = ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: Some(example_resource()),
                scope_metrics: vec![ScopeMetrics {
                    scope: Some(example_scope()),
                    metrics: vec![
                        Metric {
                            name: "my.counter".into(),
                            unit: "1".into(),
                            description: "I am a Counter".into(),
                            metadata: vec![],
                            data: Some(D::Sum(Sum {
                                aggregation_temporality: AggregationTemporality::Delta as i32,
                                is_monotonic: true,
                                data_points: vec![NumberDataPoint {
                                    start_time_unix_nano: T0,
                                    time_unix_nano: T0,
                                    attributes: attr("my.counter.attr"),
                                    value: Some(number_data_point::Value::AsDouble(5.0)),
                                    ..Default::default()
                                }],
                            })),
                        },
                        Metric {
                            name: "my.gauge".into(),
                            unit: "1".into(),
                            description: "I am a Gauge".into(),
                            metadata: vec![],
                            data: Some(D::Gauge(Gauge {
                                data_points: vec![NumberDataPoint {
                                    time_unix_nano: T0,
                                    attributes: attr("my.gauge.attr"),
                                    value: Some(number_data_point::Value::AsDouble(10.0)),
                                    ..Default::default()
                                }],
                            })),
                        },
                        Metric {
                            name: "my.histogram".into(),
                            unit: "1".into(),
                            description: "I am a Histogram".into(),
                            metadata: vec![],
                            data: Some(D::Histogram(Histogram {
                                aggregation_temporality: 1,
                                data_points: vec![HistogramDataPoint {
                                    start_time_unix_nano: T0,
                                    time_unix_nano: T0,
                                    count: 2,
                                    sum: Some(2.0),
                                    bucket_counts: vec![1, 1],
                                    explicit_bounds: vec![1.0],
                                    min: Some(0.0),
                                    max: Some(2.0),
                                    attributes: attr("my.histogram.attr"),
                                    ..Default::default()
                                }],
                            })),
                        },
                        Metric {
                            name: "my.exponential.histogram".into(),
                            unit: "1".into(),
                            description: "I am an Exponential Histogram".into(),
                            metadata: vec![],
                            data: Some(D::ExponentialHistogram(ExponentialHistogram {
                                aggregation_temporality: 1,
                                data_points: vec![ExponentialHistogramDataPoint {
                                    start_time_unix_nano: T0,
                                    time_unix_nano: T0,
                                    count: 3,
                                    sum: Some(10.0),
                                    scale: 0,
                                    zero_count: 1,
                                    positive: Some(exponential_histogram_data_point::Buckets {
                                        offset: 1,
                                        bucket_counts: vec![0, 2],
                                    }),
                                    negative: None,
                                    min: Some(0.0),
                                    max: Some(5.0),
                                    zero_threshold: 0.0,
                                    attributes: attr("my.exponential.histogram.attr"),
                                    ..Default::default()
                                }],
                            })),
                        },
                    ],
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        };
        assert_eq!(req, want);
    }

    #[test]
    fn example_logs_json_decodes_exactly() {
        let req = decode_logs(LOGS_JSON.as_bytes()).expect("logs.json decodes");
        let want = ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(example_resource()),
                scope_logs: vec![ScopeLogs {
                    scope: Some(example_scope()),
                    log_records: vec![LogRecord {
                        time_unix_nano: T0,
                        observed_time_unix_nano: T0,
                        severity_number: SeverityNumber::Info2 as i32,
                        severity_text: "Information".into(),
                        trace_id: h("5b8efff798038103d269b633813fc60c"),
                        span_id: h("eee19b7ec3c1b174"),
                        body: Some(s("Example log record")),
                        attributes: vec![
                            kvs("string.attribute", "some string"),
                            kv("boolean.attribute", av(AV::BoolValue(true))),
                            kv("int.attribute", av(AV::IntValue(10))),
                            kv("double.attribute", av(AV::DoubleValue(637.704))),
                            kv(
                                "array.attribute",
                                av(AV::ArrayValue(ArrayValue {
                                    values: vec![s("many"), s("values")],
                                })),
                            ),
                            kv(
                                "map.attribute",
                                av(AV::KvlistValue(KeyValueList {
                                    values: vec![kvs("some.map.key", "some value")],
                                })),
                            ),
                        ],
                        ..Default::default()
                    }],
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        };
        assert_eq!(req, want);
    }

    #[test]
    fn example_events_json_is_a_logs_payload_and_decodes_exactly() {
        let req = decode_logs(EVENTS_JSON.as_bytes()).expect("events.json decodes");
        let want = ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(example_resource()),
                scope_logs: vec![ScopeLogs {
                    scope: Some(example_scope()),
                    log_records: vec![LogRecord {
                        event_name: "browser.page_view".into(),
                        time_unix_nano: T0,
                        observed_time_unix_nano: T0,
                        severity_number: SeverityNumber::Info as i32,
                        severity_text: "test severity text".into(),
                        attributes: vec![kvs("event.attribute", "some event attribute")],
                        body: Some(av(AV::KvlistValue(KeyValueList {
                            values: vec![
                                kv("type", av(AV::IntValue(0))),
                                kvs(
                                    "url",
                                    "https://www.guidgenerator.com/online-guid-generator.aspx",
                                ),
                                kvs("referrer", "https://wwww.google.com"),
                                kvs("title", "Free Online GUID Generator"),
                            ],
                        }))),
                        ..Default::default()
                    }],
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        };
        assert_eq!(req, want);
    }

    #[test]
    fn payload_of_another_signal_decodes_to_an_empty_request() {
        // `resourceLogs` is an unknown field of a trace request, so it is ignored; the HTTP
        // layer routes by path, not by content.
        let req = decode_traces(EVENTS_JSON.as_bytes()).expect("decodes");
        assert!(req.resource_spans.is_empty());
        let req = decode_metrics(TRACE_JSON.as_bytes()).expect("decodes");
        assert!(req.resource_metrics.is_empty());
        assert_eq!(
            decode_logs(b"{}").expect("decodes"),
            ExportLogsServiceRequest::default()
        );
    }

    // --- bad inputs -----------------------------------------------------------------------

    fn nested_array_value(levels: usize) -> String {
        let mut v = r#"{"stringValue":"leaf"}"#.to_owned();
        for _ in 1..levels {
            v = format!(r#"{{"arrayValue":{{"values":[{v}]}}}}"#);
        }
        v
    }

    fn nested_kvlist_value(levels: usize) -> String {
        let mut v = r#"{"intValue":"1"}"#.to_owned();
        for _ in 1..levels {
            v = format!(r#"{{"kvlistValue":{{"values":[{{"key":"k","value":{v}}}]}}}}"#);
        }
        v
    }

    #[test]
    fn bad_inputs_give_precise_errors() {
        use Sig::*;
        const SPAN: &str = "resourceSpans[0].scopeSpans[0].spans[0]";
        const METRIC: &str = "resourceMetrics[0].scopeMetrics[0].metrics[0]";
        const LOG: &str = "resourceLogs[0].scopeLogs[0].logRecords[0]";
        let attr =
            |value: &str| span_body(&format!(r#""attributes":[{{"key":"k","value":{value}}}]"#));
        let attr_path = format!("{SPAN}.attributes[0].value");
        let long_z = "z".repeat(100);
        let cases: Vec<(Sig, String, String)> = vec![
            // not JSON, wrong top-level type
            (
                Traces,
                "not json".into(),
                "invalid json: expected ident at line 1 column 2".into(),
            ),
            (
                Traces,
                "".into(),
                "invalid json: EOF while parsing a value at line 1 column 0".into(),
            ),
            (
                Metrics,
                r#"{"resourceMetrics":["#.into(),
                "invalid json: EOF while parsing a list".into(),
            ),
            (
                Logs,
                "[]".into(),
                "request body: expected object, found array".into(),
            ),
            (
                Traces,
                "null".into(),
                "request body: expected object, found null".into(),
            ),
            (
                Traces,
                r#""x""#.into(),
                "request body: expected object, found string".into(),
            ),
            (
                Traces,
                "[".repeat(300),
                "invalid json: recursion limit exceeded".into(),
            ),
            (
                Traces,
                r#"{"resourceSpans":{}}"#.into(),
                "resourceSpans: expected array, found object".into(),
            ),
            (
                Traces,
                r#"{"resourceSpans":[1]}"#.into(),
                "resourceSpans[0]: expected object, found number".into(),
            ),
            // ids
            (
                Traces,
                span_body(r#""traceId":"zz""#),
                format!(
                    r#"{SPAN}.traceId: invalid hex id "zz": expected 32 hex digits, found 2 characters"#
                ),
            ),
            (
                Traces,
                span_body(r#""traceId":"5B8EFFF798038103D269B633813FC6XC""#),
                format!(
                    r#"{SPAN}.traceId: invalid hex id "5B8EFFF798038103D269B633813FC6XC": expected 32 hex digits, found 'X' at offset 30"#
                ),
            ),
            (
                Traces,
                span_body(r#""spanId":"5B8EFFF798038103D269B633813FC60C""#),
                format!(
                    "{SPAN}.spanId: invalid hex id \"5B8EFFF798038103D269B633813FC60C\": expected 16 hex digits, found 32 characters"
                ),
            ),
            (
                Traces,
                span_body(r#""parentSpanId":"eee19b7ec3c1b17""#),
                format!(
                    "{SPAN}.parentSpanId: invalid hex id \"eee19b7ec3c1b17\": expected 16 hex digits, found 15 characters"
                ),
            ),
            // base64 where hex is due: the mistake generic protobuf-JSON encoders make
            (
                Traces,
                span_body(r#""traceId":"W47/95gDgQPSabYzgT/GDA==""#),
                format!(
                    "{SPAN}.traceId: invalid hex id \"W47/95gDgQPSabYzgT/GDA==\": expected 32 hex digits, found 24 characters"
                ),
            ),
            (
                Traces,
                span_body(r#""traceId":5"#),
                format!("{SPAN}.traceId: expected hex string, found number"),
            ),
            (
                Traces,
                span_body(&format!(r#""traceId":"{long_z}""#)),
                format!(
                    "invalid hex id \"{}\"... (100 bytes): expected 32 hex digits",
                    "z".repeat(64)
                ),
            ),
            (
                Traces,
                span_body(r#""links":[{"spanId":"xyz"}]"#),
                format!("{SPAN}.links[0].spanId: invalid hex id \"xyz\""),
            ),
            (
                Logs,
                log_body(r#""traceId":"00""#),
                format!("{LOG}.traceId: invalid hex id \"00\": expected 32 hex digits"),
            ),
            (
                Metrics,
                metric_body(
                    r#""gauge":{"dataPoints":[{"exemplars":[{"spanId":"0g00000000000000"}]}]}"#,
                ),
                format!(
                    "{METRIC}.gauge.dataPoints[0].exemplars[0].spanId: invalid hex id \"0g00000000000000\": expected 16 hex digits, found 'g' at offset 1"
                ),
            ),
            // integers
            (
                Traces,
                span_body(r#""startTimeUnixNano":"-1""#),
                format!("{SPAN}.startTimeUnixNano: negative value -1 for a uint64 field"),
            ),
            (
                Traces,
                span_body(r#""startTimeUnixNano":-1"#),
                format!("{SPAN}.startTimeUnixNano: negative value -1 for a uint64 field"),
            ),
            (
                Traces,
                span_body(r#""droppedAttributesCount":-3"#),
                format!("{SPAN}.droppedAttributesCount: negative value -3 for a uint32 field"),
            ),
            (
                Traces,
                span_body(r#""startTimeUnixNano":1.5"#),
                format!("{SPAN}.startTimeUnixNano: expected an integer, found 1.5"),
            ),
            (
                Traces,
                span_body(r#""startTimeUnixNano":"1.5""#),
                format!("{SPAN}.startTimeUnixNano: invalid integer \"1.5\""),
            ),
            (
                Traces,
                span_body(r#""startTimeUnixNano":"""#),
                format!("{SPAN}.startTimeUnixNano: invalid integer \"\""),
            ),
            (
                Traces,
                span_body(r#""startTimeUnixNano":" 1""#),
                format!("{SPAN}.startTimeUnixNano: invalid integer \" 1\""),
            ),
            (
                Traces,
                span_body(r#""startTimeUnixNano":true"#),
                format!("{SPAN}.startTimeUnixNano: expected integer, found boolean"),
            ),
            (
                Traces,
                span_body(r#""startTimeUnixNano":18446744073709551616"#),
                format!(
                    "{SPAN}.startTimeUnixNano: value 1.8446744073709552e+19 out of range for a uint64 field"
                ),
            ),
            (
                Traces,
                span_body(r#""startTimeUnixNano":"18446744073709551616""#),
                format!(
                    "{SPAN}.startTimeUnixNano: value 18446744073709551616 out of range for a uint64 field"
                ),
            ),
            (
                Traces,
                span_body(&format!(r#""endTimeUnixNano":"{}""#, "9".repeat(60))),
                format!(
                    "{SPAN}.endTimeUnixNano: value \"{}\" out of range for a uint64 field",
                    "9".repeat(60)
                ),
            ),
            (
                Traces,
                span_body(r#""endTimeUnixNano":1e300"#),
                format!("{SPAN}.endTimeUnixNano: value 1e+300 out of range for a uint64 field"),
            ),
            (
                Traces,
                span_body(r#""endTimeUnixNano":1e17"#),
                format!(
                    "{SPAN}.endTimeUnixNano: number 1e+17 is too large to be exact; send 64-bit integers as decimal strings"
                ),
            ),
            (
                Traces,
                span_body(r#""droppedEventsCount":4294967296"#),
                format!(
                    "{SPAN}.droppedEventsCount: value 4294967296 out of range for a uint32 field"
                ),
            ),
            (
                Traces,
                attr(r#"{"intValue":"9223372036854775808"}"#),
                format!(
                    "{attr_path}.intValue: value 9223372036854775808 out of range for an int64 field"
                ),
            ),
            (
                Traces,
                attr(r#"{"intValue":"-9223372036854775809"}"#),
                format!(
                    "{attr_path}.intValue: value -9223372036854775809 out of range for an int64 field"
                ),
            ),
            (
                Metrics,
                metric_body(r#""histogram":{"dataPoints":[{"bucketCounts":["1",-1]}]}"#),
                format!(
                    "{METRIC}.histogram.dataPoints[0].bucketCounts[1]: negative value -1 for a uint64 field"
                ),
            ),
            (
                Metrics,
                metric_body(r#""exponentialHistogram":{"dataPoints":[{"scale":2147483648}]}"#),
                format!(
                    "{METRIC}.exponentialHistogram.dataPoints[0].scale: value 2147483648 out of range for an int32 field"
                ),
            ),
            (
                Metrics,
                metric_body(r#""sum":{"dataPoints":[{"asInt":0.5}]}"#),
                format!("{METRIC}.sum.dataPoints[0].asInt: expected an integer, found 0.5"),
            ),
            // doubles
            (
                Metrics,
                metric_body(r#""gauge":{"dataPoints":[{"asDouble":"abc"}]}"#),
                format!("{METRIC}.gauge.dataPoints[0].asDouble: invalid number \"abc\""),
            ),
            (
                Metrics,
                metric_body(r#""gauge":{"dataPoints":[{"asDouble":"inf"}]}"#),
                "invalid number \"inf\"".into(),
            ),
            (
                Metrics,
                metric_body(r#""gauge":{"dataPoints":[{"asDouble":"nan"}]}"#),
                "invalid number \"nan\"".into(),
            ),
            (
                Metrics,
                metric_body(r#""gauge":{"dataPoints":[{"asDouble":true}]}"#),
                format!("{METRIC}.gauge.dataPoints[0].asDouble: expected number, found boolean"),
            ),
            (
                Metrics,
                metric_body(r#""histogram":{"dataPoints":[{"explicitBounds":[1,"x"]}]}"#),
                format!("{METRIC}.histogram.dataPoints[0].explicitBounds[1]: invalid number \"x\""),
            ),
            // base64
            (
                Traces,
                attr(r#"{"bytesValue":"@@@@"}"#),
                format!(
                    "{attr_path}.bytesValue: invalid base64 \"@@@@\": invalid character '@' at offset 0"
                ),
            ),
            (
                Traces,
                attr(r#"{"bytesValue":"QUJDR"}"#),
                format!("{attr_path}.bytesValue: invalid base64 \"QUJDR\": invalid length 5"),
            ),
            (
                Traces,
                attr(r#"{"bytesValue":"QQ="}"#),
                "invalid base64 \"QQ=\": invalid length 3".into(),
            ),
            (
                Traces,
                attr(r#"{"bytesValue":"Q==="}"#),
                "invalid base64 \"Q===\": invalid length 4".into(),
            ),
            (
                Traces,
                attr(r#"{"bytesValue":"QU=J"}"#),
                "invalid base64 \"QU=J\": invalid character '=' at offset 2".into(),
            ),
            (
                Logs,
                log_body(r#""body":{"bytesValue":5}"#),
                format!("{LOG}.body.bytesValue: expected base64 string, found number"),
            ),
            // AnyValue nesting
            (
                Traces,
                attr(&nested_array_value(MAX_ANY_VALUE_DEPTH + 1)),
                format!("value nested too deeply (more than {MAX_ANY_VALUE_DEPTH} levels)"),
            ),
            (
                Logs,
                log_body(&format!(r#""body":{}"#, nested_array_value(40))),
                "value nested too deeply".into(),
            ),
            // A kvlist level takes 4 JSON levels, so serde_json's limit of 128 comes first.
            (
                Logs,
                log_body(&format!(
                    r#""body":{}"#,
                    nested_kvlist_value(MAX_ANY_VALUE_DEPTH + 1)
                )),
                "invalid json: recursion limit exceeded".into(),
            ),
            (
                Traces,
                attr(r#"{"stringValue":"a","intValue":"1"}"#),
                "may be set".into(),
            ),
            (
                Traces,
                attr(r#"{"arrayValue":[]}"#),
                format!("{attr_path}.arrayValue: expected object, found array"),
            ),
            // wrong types, enums, oneofs, duplicates
            (
                Traces,
                span_body(r#""name":5"#),
                format!("{SPAN}.name: expected string, found number"),
            ),
            (
                Traces,
                span_body(r#""attributes":{}"#),
                format!("{SPAN}.attributes: expected array, found object"),
            ),
            (
                Traces,
                span_body(r#""attributes":[{"key":1}]"#),
                format!("{SPAN}.attributes[0].key: expected string, found number"),
            ),
            (
                Traces,
                span_body(r#""status":"ok""#),
                format!("{SPAN}.status: expected object, found string"),
            ),
            (
                Traces,
                span_body(r#""kind":true"#),
                format!("{SPAN}.kind: expected span kind (integer or name), found boolean"),
            ),
            (
                Traces,
                span_body(r#""kind":"SPAN_KIND_BOGUS""#),
                format!("{SPAN}.kind: unknown span kind \"SPAN_KIND_BOGUS\""),
            ),
            (
                Traces,
                span_body(r#""kind":"server""#),
                format!("{SPAN}.kind: unknown span kind \"server\""),
            ),
            (
                Traces,
                span_body(r#""kind":2147483648"#),
                format!("{SPAN}.kind: value 2147483648 out of range for an int32 field"),
            ),
            (
                Traces,
                span_body(r#""status":{"code":"ERROR"}"#),
                format!("{SPAN}.status.code: unknown status code \"ERROR\""),
            ),
            (
                Traces,
                span_body(r#""flags":"SPAN_FLAGS_BOGUS""#),
                format!("{SPAN}.flags: unknown span flag \"SPAN_FLAGS_BOGUS\""),
            ),
            (
                Logs,
                log_body(r#""severityNumber":"SEVERITY_NUMBER_BOGUS""#),
                format!("{LOG}.severityNumber: unknown severity number \"SEVERITY_NUMBER_BOGUS\""),
            ),
            (
                Metrics,
                metric_body(r#""sum":{"isMonotonic":"true"}"#),
                format!("{METRIC}.sum.isMonotonic: expected boolean, found string"),
            ),
            (
                Metrics,
                metric_body(r#""sum":{"aggregationTemporality":"DELTA"}"#),
                format!(
                    "{METRIC}.sum.aggregationTemporality: unknown aggregation temporality \"DELTA\""
                ),
            ),
            (
                Metrics,
                metric_body(r#""gauge":{},"sum":{}"#),
                "only one of \"gauge\" and \"sum\" may be set".into(),
            ),
            (
                Metrics,
                metric_body(r#""gauge":{"dataPoints":[{"asDouble":1,"asInt":"1"}]}"#),
                "may be set".into(),
            ),
            (
                Traces,
                span_body(
                    r#""traceId":"5B8EFFF798038103D269B633813FC60C","trace_id":"5B8EFFF798038103D269B633813FC60C""#,
                ),
                format!("{SPAN}.trace_id: field given twice, as \"traceId\" and \"trace_id\""),
            ),
        ];
        let mut failures = Vec::new();
        for (sig, body, want) in &cases {
            match decode_as(*sig, body.as_bytes()) {
                Ok(()) => {
                    failures.push(format!("{sig:?} {body}\n   accepted, want error {want:?}"))
                }
                Err(e) if !e.to_string().contains(want.as_str()) => {
                    failures.push(format!("{sig:?} {body}\n   got  {e}\n   want {want}"))
                }
                Err(_) => {}
            }
        }
        assert!(
            failures.is_empty(),
            "{} of {} cases failed:\n{}",
            failures.len(),
            cases.len(),
            failures.join("\n")
        );
    }

    #[test]
    fn invalid_utf8_is_a_syntax_error() {
        let err = decode_traces(b"{\"resourceSpans\":[{\"x\":\"\xff\"}]}").expect_err("refused");
        assert!(matches!(err, JsonError::Syntax(_)), "{err}");
        assert!(err.to_string().starts_with("invalid json: "), "{err}");
        assert_eq!(err.path(), None);
    }

    #[test]
    fn error_reports_its_path() {
        let err = decode_traces(span_body(r#""kind":"nope""#).as_bytes()).expect_err("refused");
        assert_eq!(
            err.path(),
            Some("resourceSpans[0].scopeSpans[0].spans[0].kind")
        );
        let JsonError::Invalid { message, .. } = &err else {
            panic!("not invalid: {err}")
        };
        assert_eq!(message, "unknown span kind \"nope\"");
        let err = decode_traces(b"[]").expect_err("refused");
        assert_eq!(err.path(), Some(""));
    }

    #[test]
    fn error_for_a_later_item_names_its_index() {
        let good = r#"{"traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"EEE19B7EC3C1B174"}"#;
        let bad = r#"{"traceId":"zz"}"#;
        let body = format!(
            r#"{{"resourceSpans":[{{"scopeSpans":[{{"spans":[]}},{{"spans":[{good},{good},{good},{bad}]}}]}}]}}"#
        );
        let err = decode_traces(body.as_bytes()).expect_err("refused");
        assert_eq!(
            err.to_string(),
            r#"resourceSpans[0].scopeSpans[1].spans[3].traceId: invalid hex id "zz": expected 32 hex digits, found 2 characters"#
        );
    }

    // --- accepted spellings ---------------------------------------------------------------

    #[test]
    fn ids_in_either_case_empty_and_all_zero() {
        let upper =
            one_span(r#""traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"EEE19B7EC3C1B174""#);
        let lower =
            one_span(r#""traceId":"5b8efff798038103d269b633813fc60c","spanId":"eee19b7ec3c1b174""#);
        let mixed =
            one_span(r#""traceId":"5b8EFFF798038103d269b633813fc60C","spanId":"EeE19b7eC3c1B174""#);
        assert_eq!(upper.trace_id, h("5b8efff798038103d269b633813fc60c"));
        assert_eq!(upper.span_id, h("eee19b7ec3c1b174"));
        assert_eq!(upper, lower);
        assert_eq!(upper, mixed);

        // "" is absent; all-zero ids are decoded, not judged (the caller counts them).
        let root = one_span(
            r#""traceId":"00000000000000000000000000000000","spanId":"0000000000000000","parentSpanId":"""#,
        );
        assert_eq!(root.trace_id, vec![0u8; 16]);
        assert_eq!(root.span_id, vec![0u8; 8]);
        assert!(root.parent_span_id.is_empty());
        let absent = one_span(r#""traceId":"","spanId":null"#);
        assert!(absent.trace_id.is_empty() && absent.span_id.is_empty());

        let link = one_span(
            r#""links":[{"traceId":"0102030405060708090A0B0C0D0E0F10","spanId":"A1A2A3A4A5A6A7A8"}]"#,
        );
        assert_eq!(link.links[0].trace_id, (1u8..=16).collect::<Vec<_>>());
        assert_eq!(
            link.links[0].span_id,
            [0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8]
        );
    }

    #[test]
    fn int64_as_string_and_as_number() {
        let cases: &[(&str, u64)] = &[
            (r#""1544712660000000000""#, 1_544_712_660_000_000_000),
            ("1544712660000000000", 1_544_712_660_000_000_000),
            (r#""18446744073709551615""#, u64::MAX),
            ("18446744073709551615", u64::MAX),
            (r#""0""#, 0),
            ("0", 0),
            (r#""007""#, 7),
            // whole numbers written with a fraction or exponent, below 2^53
            ("5.0", 5),
            ("1e3", 1000),
            ("9007199254740992.0", 9_007_199_254_740_992),
        ];
        for (json, want) in cases {
            let span = one_span(&format!(r#""startTimeUnixNano":{json}"#));
            assert_eq!(span.start_time_unix_nano, *want, "{json}");
        }
        let ints: &[(&str, i64)] = &[
            (r#""10""#, 10),
            ("10", 10),
            (r#""-5""#, -5),
            ("-5", -5),
            (r#""-9223372036854775808""#, i64::MIN),
            ("-9223372036854775808", i64::MIN),
            (r#""9223372036854775807""#, i64::MAX),
            ("9223372036854775807", i64::MAX),
            ("-0", 0),
        ];
        for (json, want) in ints {
            let v = attr_value(&format!(r#"{{"intValue":{json}}}"#)).expect("decodes");
            assert_eq!(v, av(AV::IntValue(*want)), "{json}");
            let m = one_metric(&format!(r#""sum":{{"dataPoints":[{{"asInt":{json}}}]}}"#));
            let Some(metric::Data::Sum(sum)) = m.data else {
                panic!("not a sum")
            };
            assert_eq!(
                sum.data_points[0].value,
                Some(number_data_point::Value::AsInt(*want)),
                "{json}"
            );
        }
        // 32-bit fields take strings too
        let span = one_span(
            r#""droppedAttributesCount":"4294967295","droppedEventsCount":7,"flags":"257""#,
        );
        assert_eq!(span.dropped_attributes_count, u32::MAX);
        assert_eq!(span.dropped_events_count, 7);
        assert_eq!(span.flags, 257);
    }

    #[test]
    fn enums_as_integers_and_as_names() {
        for kind in [r#"2"#, r#""2""#, r#""SPAN_KIND_SERVER""#] {
            assert_eq!(
                one_span(&format!(r#""kind":{kind}"#)).kind,
                span::SpanKind::Server as i32,
                "{kind}"
            );
        }
        // proto3 enums are open: an unknown number is kept as is
        assert_eq!(one_span(r#""kind":42"#).kind, 42);
        let span = one_span(
            r#""status":{"code":"STATUS_CODE_ERROR","message":"boom"},"flags":"SPAN_FLAGS_CONTEXT_IS_REMOTE_MASK""#,
        );
        assert_eq!(
            span.status,
            Some(Status {
                code: status::StatusCode::Error as i32,
                message: "boom".into()
            })
        );
        assert_eq!(span.flags, 512);
        assert_eq!(
            one_span(r#""status":{"code":1}"#).status.map(|s| s.code),
            Some(1)
        );

        let log = one_log(
            r#""severityNumber":"SEVERITY_NUMBER_WARN","flags":"LOG_RECORD_FLAGS_TRACE_FLAGS_MASK""#,
        );
        assert_eq!(log.severity_number, SeverityNumber::Warn as i32);
        assert_eq!(log.flags, 255);
        assert_eq!(
            one_log(r#""severityNumber":17"#).severity_number,
            SeverityNumber::Error as i32
        );

        let m = one_metric(
            r#""sum":{"aggregationTemporality":"AGGREGATION_TEMPORALITY_CUMULATIVE","dataPoints":[{"flags":"DATA_POINT_FLAGS_NO_RECORDED_VALUE_MASK"}]}"#,
        );
        let Some(metric::Data::Sum(sum)) = m.data else {
            panic!("not a sum")
        };
        assert_eq!(
            sum.aggregation_temporality,
            AggregationTemporality::Cumulative as i32
        );
        assert_eq!(sum.data_points[0].flags, 1);
        let m =
            one_metric(r#""histogram":{"aggregationTemporality":2,"dataPoints":[{"flags":1}]}"#);
        let Some(metric::Data::Histogram(hist)) = m.data else {
            panic!("not a histogram")
        };
        assert_eq!(hist.aggregation_temporality, 2);
        assert_eq!(hist.data_points[0].flags, 1);
    }

    #[test]
    fn snake_case_field_names() {
        let body = r#"{"resource_spans":[{"schema_url":"https://s/1","resource":{"dropped_attributes_count":1,"entity_refs":[{"schema_url":"u","type":"service","id_keys":["service.name"],"description_keys":["d"]}]},
            "scope_spans":[{"schema_url":"https://s/2","scope":{"name":"n","dropped_attributes_count":2},"spans":[{
              "trace_id":"5B8EFFF798038103D269B633813FC60C","span_id":"EEE19B7EC3C1B174","parent_span_id":"EEE19B7EC3C1B173",
              "trace_state":"a=b","start_time_unix_nano":"1","end_time_unix_nano":2,"dropped_attributes_count":3,
              "dropped_events_count":4,"dropped_links_count":5,
              "attributes":[{"key":"k","value":{"string_value":"v"}},{"key":"b","value":{"bool_value":true}},
                            {"key":"a","value":{"array_value":{"values":[{"int_value":"1"},{"double_value":2.5},{"bytes_value":"AQI="}]}}},
                            {"key":"m","value":{"kvlist_value":{"values":[{"key":"x","value":{"string_value":"y"}}]}}},
                            {"key_strindex":3,"value":{"string_value_strindex":4}}],
              "events":[{"time_unix_nano":"3","name":"e","dropped_attributes_count":6}],
              "links":[{"trace_id":"5B8EFFF798038103D269B633813FC60C","span_id":"EEE19B7EC3C1B172","trace_state":"c=d","dropped_attributes_count":7,"flags":1}]
            }]}]}]}"#;
        let req = decode_traces(body.as_bytes()).expect("decodes");
        let rs = &req.resource_spans[0];
        assert_eq!(rs.schema_url, "https://s/1");
        let res = rs.resource.as_ref().expect("resource");
        assert_eq!(res.dropped_attributes_count, 1);
        assert_eq!(
            res.entity_refs,
            vec![EntityRef {
                schema_url: "u".into(),
                r#type: "service".into(),
                id_keys: vec!["service.name".into()],
                description_keys: vec!["d".into()],
            }]
        );
        let ss = &rs.scope_spans[0];
        assert_eq!(ss.schema_url, "https://s/2");
        assert_eq!(
            ss.scope
                .as_ref()
                .map(|s| (s.name.as_str(), s.dropped_attributes_count)),
            Some(("n", 2))
        );
        let sp = &ss.spans[0];
        assert_eq!(sp.trace_id, h("5b8efff798038103d269b633813fc60c"));
        assert_eq!(sp.span_id, h("eee19b7ec3c1b174"));
        assert_eq!(sp.parent_span_id, h("eee19b7ec3c1b173"));
        assert_eq!(sp.trace_state, "a=b");
        assert_eq!((sp.start_time_unix_nano, sp.end_time_unix_nano), (1, 2));
        assert_eq!(
            (
                sp.dropped_attributes_count,
                sp.dropped_events_count,
                sp.dropped_links_count
            ),
            (3, 4, 5)
        );
        assert_eq!(
            sp.attributes,
            vec![
                kvs("k", "v"),
                kv("b", av(AV::BoolValue(true))),
                kv(
                    "a",
                    av(AV::ArrayValue(ArrayValue {
                        values: vec![
                            av(AV::IntValue(1)),
                            av(AV::DoubleValue(2.5)),
                            av(AV::BytesValue(vec![1, 2]))
                        ],
                    }))
                ),
                kv(
                    "m",
                    av(AV::KvlistValue(KeyValueList {
                        values: vec![kvs("x", "y")]
                    }))
                ),
                KeyValue {
                    key: String::new(),
                    value: Some(av(AV::StringValueStrindex(4))),
                    key_strindex: 3
                },
            ]
        );
        assert_eq!(
            sp.events,
            vec![span::Event {
                time_unix_nano: 3,
                name: "e".into(),
                attributes: vec![],
                dropped_attributes_count: 6
            }]
        );
        assert_eq!(
            sp.links,
            vec![span::Link {
                trace_id: h("5b8efff798038103d269b633813fc60c"),
                span_id: h("eee19b7ec3c1b172"),
                trace_state: "c=d".into(),
                attributes: vec![],
                dropped_attributes_count: 7,
                flags: 1,
            }]
        );

        let m = decode_metrics(
            br#"{"resource_metrics":[{"scope_metrics":[{"metrics":[{"name":"h","exponential_histogram":{"aggregation_temporality":1,
                "data_points":[{"zero_count":"2","zero_threshold":0.5,"positive":{"offset":-2,"bucket_counts":["1",2]},"start_time_unix_nano":9}]}}]}]}]}"#,
        )
        .expect("decodes");
        let metric = &m.resource_metrics[0].scope_metrics[0].metrics[0];
        let Some(metric::Data::ExponentialHistogram(eh)) = &metric.data else {
            panic!("not exp histogram")
        };
        assert_eq!(eh.aggregation_temporality, 1);
        let dp = &eh.data_points[0];
        assert_eq!(
            (dp.zero_count, dp.zero_threshold, dp.start_time_unix_nano),
            (2, 0.5, 9)
        );
        assert_eq!(
            dp.positive,
            Some(exponential_histogram_data_point::Buckets {
                offset: -2,
                bucket_counts: vec![1, 2]
            })
        );

        let l = decode_logs(
            br#"{"resource_logs":[{"scope_logs":[{"log_records":[{"time_unix_nano":"1","observed_time_unix_nano":"2","severity_number":9,
                "severity_text":"INFO","event_name":"ev","trace_id":"5B8EFFF798038103D269B633813FC60C","span_id":"EEE19B7EC3C1B174"}]}]}]}"#,
        )
        .expect("decodes");
        let rec = &l.resource_logs[0].scope_logs[0].log_records[0];
        assert_eq!(
            (
                rec.time_unix_nano,
                rec.observed_time_unix_nano,
                rec.severity_number
            ),
            (1, 2, 9)
        );
        assert_eq!(
            (rec.severity_text.as_str(), rec.event_name.as_str()),
            ("INFO", "ev")
        );
        assert_eq!(rec.span_id, h("eee19b7ec3c1b174"));
    }

    #[test]
    fn unknown_fields_and_nulls_are_ignored() {
        let body = r#"{"resourceSpans":[{"futureField":{"deep":[1,2,{"x":null}]},"resource":null,"scopeSpans":[{"scope":null,"spans":[
            {"name":"s","kind":null,"traceId":null,"attributes":null,"status":{"code":2,"deprecatedCode":1,"extra":"x"},
             "someNewField":"whatever","links":[{"unknown":true}],"events":null}]}]}],"extension":42}"#;
        let req = decode_traces(body.as_bytes()).expect("decodes");
        let rs = &req.resource_spans[0];
        assert_eq!(rs.resource, None);
        assert_eq!(rs.scope_spans[0].scope, None);
        let sp = &rs.scope_spans[0].spans[0];
        assert_eq!(sp.name, "s");
        assert_eq!(sp.kind, 0);
        assert!(sp.trace_id.is_empty() && sp.attributes.is_empty() && sp.events.is_empty());
        assert_eq!(
            sp.status,
            Some(Status {
                code: 2,
                message: String::new()
            })
        );
        assert_eq!(sp.links, vec![span::Link::default()]);

        // An AnyValue with nothing set (or only unknown/null members) is an empty value.
        assert_eq!(attr_value("{}").expect("decodes"), AnyValue { value: None });
        assert_eq!(
            attr_value(r#"{"stringValue":null,"fancyValue":1}"#).expect("decodes"),
            AnyValue { value: None }
        );
        // A KeyValue with no value keeps value: None.
        let sp = one_span(r#""attributes":[{"key":"k"}]"#);
        assert_eq!(
            sp.attributes,
            vec![KeyValue {
                key: "k".into(),
                value: None,
                key_strindex: 0
            }]
        );
    }

    #[test]
    fn doubles_accept_special_strings_and_numeric_strings() {
        let dp = |json: &str| -> f64 {
            let m = one_metric(&format!(
                r#""gauge":{{"dataPoints":[{{"asDouble":{json}}}]}}"#
            ));
            let Some(metric::Data::Gauge(g)) = m.data else {
                panic!("not a gauge")
            };
            match g.data_points[0].value {
                Some(number_data_point::Value::AsDouble(f)) => f,
                other => panic!("{json}: {other:?}"),
            }
        };
        assert!(dp(r#""NaN""#).is_nan());
        assert_eq!(dp(r#""Infinity""#), f64::INFINITY);
        assert_eq!(dp(r#""-Infinity""#), f64::NEG_INFINITY);
        assert_eq!(dp(r#""1.5""#), 1.5);
        assert_eq!(dp(r#""-2e3""#), -2000.0);
        assert_eq!(dp("637.704"), 637.704);
        assert_eq!(dp("-0.0"), 0.0);
        assert_eq!(dp("12"), 12.0);
        assert_eq!(dp("18446744073709551615"), 18_446_744_073_709_551_615.0);

        let m = one_metric(
            r#""summary":{"dataPoints":[{"sum":"NaN","count":"3","quantileValues":[{"quantile":0,"value":"-Infinity"},{"quantile":1,"value":"Infinity"}]}]}"#,
        );
        let Some(metric::Data::Summary(sm)) = m.data else {
            panic!("not a summary")
        };
        let p = &sm.data_points[0];
        assert!(p.sum.is_nan());
        assert_eq!(p.count, 3);
        assert_eq!(p.quantile_values[0].value, f64::NEG_INFINITY);
        assert_eq!(p.quantile_values[1].value, f64::INFINITY);

        let m = one_metric(
            r#""histogram":{"dataPoints":[{"explicitBounds":[1,"2.5","Infinity"],"min":"-Infinity","max":"NaN"}]}"#,
        );
        let Some(metric::Data::Histogram(hm)) = m.data else {
            panic!("not a histogram")
        };
        let p = &hm.data_points[0];
        assert_eq!(p.explicit_bounds, vec![1.0, 2.5, f64::INFINITY]);
        assert_eq!(p.min, Some(f64::NEG_INFINITY));
        assert!(p.max.is_some_and(f64::is_nan));
        assert_eq!(p.sum, None);
    }

    #[test]
    fn bytes_value_is_base64_in_all_spellings() {
        let cases: &[(&str, &[u8])] = &[
            ("", b""),
            ("QQ==", b"A"),
            ("QQ", b"A"),
            ("QUI=", b"AB"),
            ("QUI", b"AB"),
            ("QUJD", b"ABC"),
            ("+/+/", &[0xfb, 0xff, 0xbf]),
            ("-_-_", &[0xfb, 0xff, 0xbf]),
            (
                "AAECAwQFBgcICQoLDA0ODw==",
                &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
            ),
            (
                "AAECAwQFBgcICQoLDA0ODw",
                &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15],
            ),
        ];
        for (b64, want) in cases {
            let v = attr_value(&format!(r#"{{"bytesValue":"{b64}"}}"#)).expect("decodes");
            assert_eq!(v, av(AV::BytesValue(want.to_vec())), "{b64}");
        }
    }

    #[test]
    fn any_value_nesting_up_to_the_limit_is_accepted() {
        let v = attr_value(&nested_array_value(MAX_ANY_VALUE_DEPTH)).expect("decodes at the limit");
        let mut depth = 1;
        let mut cur = &v;
        while let Some(AV::ArrayValue(a)) = &cur.value {
            depth += 1;
            cur = &a.values[0];
        }
        assert_eq!(depth, MAX_ANY_VALUE_DEPTH);
        assert_eq!(cur, &s("leaf"));
        // kvlists as deep as serde_json's own limit lets through
        let log = one_log(&format!(r#""body":{}"#, nested_kvlist_value(28)));
        assert!(matches!(
            log.body.and_then(|b| b.value),
            Some(AV::KvlistValue(_))
        ));
    }

    // --- responses ------------------------------------------------------------------------

    #[test]
    fn responses_encode_partial_success() {
        assert_eq!(
            encode_trace_response(&ExportTraceServiceResponse::default()),
            b"{}"
        );
        let empty = ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess::default()),
        };
        assert_eq!(encode_trace_response(&empty), b"{}");

        let r = ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess {
                rejected_spans: 3,
                error_message: "3 spans with an invalid \"traceId\"\n".into(),
            }),
        };
        let json = String::from_utf8(encode_trace_response(&r)).expect("utf-8");
        assert_eq!(
            json,
            r#"{"partialSuccess":{"rejectedSpans":"3","errorMessage":"3 spans with an invalid \"traceId\"\n"}}"#
        );
        let v: Value = serde_json::from_str(&json).expect("valid json");
        assert_eq!(
            v["partialSuccess"]["errorMessage"],
            "3 spans with an invalid \"traceId\"\n"
        );

        let warn_only = ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess {
                rejected_spans: 0,
                error_message: "slow down".into(),
            }),
        };
        assert_eq!(
            encode_trace_response(&warn_only),
            br#"{"partialSuccess":{"rejectedSpans":"0","errorMessage":"slow down"}}"#
        );

        let m = ExportMetricsServiceResponse {
            partial_success: Some(ExportMetricsPartialSuccess {
                rejected_data_points: 9_000_000_000,
                error_message: String::new(),
            }),
        };
        assert_eq!(
            encode_metrics_response(&m),
            br#"{"partialSuccess":{"rejectedDataPoints":"9000000000","errorMessage":""}}"#
        );
        assert_eq!(
            encode_metrics_response(&ExportMetricsServiceResponse::default()),
            b"{}"
        );

        let l = ExportLogsServiceResponse {
            partial_success: Some(ExportLogsPartialSuccess {
                rejected_log_records: 1,
                error_message: "x".into(),
            }),
        };
        assert_eq!(
            encode_logs_response(&l),
            br#"{"partialSuccess":{"rejectedLogRecords":"1","errorMessage":"x"}}"#
        );
        assert_eq!(
            encode_logs_response(&ExportLogsServiceResponse::default()),
            b"{}"
        );
    }

    // --- round trip through a test-only encoder --------------------------------------------

    /// How the test encoder spells things, to cover every accepted spelling.
    #[derive(Clone, Copy, Debug)]
    struct Style {
        snake: bool,
        ints_as_numbers: bool,
        enum_names: bool,
        upper_hex: bool,
        url_base64: bool,
    }

    impl Style {
        fn all() -> impl Iterator<Item = Style> {
            (0u8..32).map(|b| Style {
                snake: b & 1 != 0,
                ints_as_numbers: b & 2 != 0,
                enum_names: b & 4 != 0,
                upper_hex: b & 8 != 0,
                url_base64: b & 16 != 0,
            })
        }
    }

    fn camel_to_snake(s: &str) -> String {
        let mut out = String::with_capacity(s.len() + 4);
        for c in s.chars() {
            if c.is_ascii_uppercase() {
                out.push('_');
                out.push(c.to_ascii_lowercase());
            } else {
                out.push(c);
            }
        }
        out
    }

    fn b64_encode(bytes: &[u8], url: bool) -> String {
        let alphabet: &[u8; 64] = if url {
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        } else {
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
        };
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let mut buf = [0u8; 3];
            buf[..chunk.len()].copy_from_slice(chunk);
            let n = (u32::from(buf[0]) << 16) | (u32::from(buf[1]) << 8) | u32::from(buf[2]);
            for i in 0..=chunk.len() {
                out.push(char::from(alphabet[((n >> (18 - 6 * i)) & 63) as usize]));
            }
            if !url {
                out.push_str(&"=".repeat(3 - chunk.len()));
            }
        }
        out
    }

    struct Enc(Style);

    impl Enc {
        fn obj(&self, members: Vec<(&str, Value)>) -> Value {
            let key = |k: &str| {
                if self.0.snake {
                    camel_to_snake(k)
                } else {
                    k.to_owned()
                }
            };
            Value::Object(members.into_iter().map(|(k, v)| (key(k), v)).collect())
        }
        fn str(&self, s: &str) -> Value {
            Value::String(s.to_owned())
        }
        fn u64(&self, v: u64) -> Value {
            if self.0.ints_as_numbers {
                Value::from(v)
            } else {
                Value::String(v.to_string())
            }
        }
        fn i64(&self, v: i64) -> Value {
            if self.0.ints_as_numbers {
                Value::from(v)
            } else {
                Value::String(v.to_string())
            }
        }
        fn u32(&self, v: u32) -> Value {
            if self.0.ints_as_numbers {
                Value::from(v)
            } else {
                Value::String(v.to_string())
            }
        }
        fn i32(&self, v: i32) -> Value {
            if self.0.ints_as_numbers {
                Value::from(v)
            } else {
                Value::String(v.to_string())
            }
        }
        fn f64(&self, v: f64) -> Value {
            if v.is_nan() {
                self.str("NaN")
            } else if v == f64::INFINITY {
                self.str("Infinity")
            } else if v == f64::NEG_INFINITY {
                self.str("-Infinity")
            } else {
                Value::from(v)
            }
        }
        fn id(&self, b: &[u8]) -> Value {
            let s = hex::encode(b);
            Value::String(if self.0.upper_hex {
                s.to_ascii_uppercase()
            } else {
                s
            })
        }
        fn enm(&self, v: i32, name: Option<&str>) -> Value {
            match name {
                Some(n) if self.0.enum_names => self.str(n),
                _ => Value::from(v),
            }
        }
        fn list<T>(&self, items: &[T], f: impl Fn(&T) -> Value) -> Value {
            Value::Array(items.iter().map(f).collect())
        }

        fn any(&self, v: &AnyValue) -> Value {
            let Some(v) = &v.value else {
                return self.obj(vec![]);
            };
            self.obj(vec![match v {
                AV::StringValue(s) => ("stringValue", self.str(s)),
                AV::BoolValue(b) => ("boolValue", Value::Bool(*b)),
                AV::IntValue(i) => ("intValue", self.i64(*i)),
                AV::DoubleValue(d) => ("doubleValue", self.f64(*d)),
                AV::ArrayValue(a) => (
                    "arrayValue",
                    self.obj(vec![("values", self.list(&a.values, |v| self.any(v)))]),
                ),
                AV::KvlistValue(l) => (
                    "kvlistValue",
                    self.obj(vec![("values", self.attrs(&l.values))]),
                ),
                AV::BytesValue(b) => ("bytesValue", self.str(&b64_encode(b, self.0.url_base64))),
                AV::StringValueStrindex(i) => ("stringValueStrindex", self.i32(*i)),
            }])
        }
        fn kv(&self, kv: &KeyValue) -> Value {
            let mut m = vec![
                ("key", self.str(&kv.key)),
                ("keyStrindex", self.i32(kv.key_strindex)),
            ];
            if let Some(v) = &kv.value {
                m.push(("value", self.any(v)));
            }
            self.obj(m)
        }
        fn attrs(&self, a: &[KeyValue]) -> Value {
            self.list(a, |kv| self.kv(kv))
        }
        fn resource(&self, r: &Resource) -> Value {
            self.obj(vec![
                ("attributes", self.attrs(&r.attributes)),
                (
                    "droppedAttributesCount",
                    self.u32(r.dropped_attributes_count),
                ),
                (
                    "entityRefs",
                    self.list(&r.entity_refs, |e| {
                        self.obj(vec![
                            ("schemaUrl", self.str(&e.schema_url)),
                            ("type", self.str(&e.r#type)),
                            ("idKeys", self.list(&e.id_keys, |s| self.str(s))),
                            (
                                "descriptionKeys",
                                self.list(&e.description_keys, |s| self.str(s)),
                            ),
                        ])
                    }),
                ),
            ])
        }
        fn scope(&self, s: &InstrumentationScope) -> Value {
            self.obj(vec![
                ("name", self.str(&s.name)),
                ("version", self.str(&s.version)),
                ("attributes", self.attrs(&s.attributes)),
                (
                    "droppedAttributesCount",
                    self.u32(s.dropped_attributes_count),
                ),
            ])
        }
        fn opt<T>(
            &self,
            m: &mut Vec<(&'static str, Value)>,
            key: &'static str,
            v: Option<T>,
            f: impl Fn(T) -> Value,
        ) {
            if let Some(v) = v {
                m.push((key, f(v)));
            }
        }

        fn traces(&self, req: &ExportTraceServiceRequest) -> Value {
            self.obj(vec![(
                "resourceSpans",
                self.list(&req.resource_spans, |rs| {
                    let mut m = vec![("schemaUrl", self.str(&rs.schema_url))];
                    self.opt(&mut m, "resource", rs.resource.as_ref(), |r| {
                        self.resource(r)
                    });
                    m.push((
                        "scopeSpans",
                        self.list(&rs.scope_spans, |ss| {
                            let mut m = vec![("schemaUrl", self.str(&ss.schema_url))];
                            self.opt(&mut m, "scope", ss.scope.as_ref(), |s| self.scope(s));
                            m.push(("spans", self.list(&ss.spans, |s| self.span(s))));
                            self.obj(m)
                        }),
                    ));
                    self.obj(m)
                }),
            )])
        }
        fn span(&self, s: &Span) -> Value {
            let kind = span::SpanKind::try_from(s.kind)
                .ok()
                .map(|k| k.as_str_name());
            let mut m = vec![
                ("traceId", self.id(&s.trace_id)),
                ("spanId", self.id(&s.span_id)),
                ("traceState", self.str(&s.trace_state)),
                ("parentSpanId", self.id(&s.parent_span_id)),
                ("flags", self.u32(s.flags)),
                ("name", self.str(&s.name)),
                ("kind", self.enm(s.kind, kind)),
                ("startTimeUnixNano", self.u64(s.start_time_unix_nano)),
                ("endTimeUnixNano", self.u64(s.end_time_unix_nano)),
                ("attributes", self.attrs(&s.attributes)),
                (
                    "droppedAttributesCount",
                    self.u32(s.dropped_attributes_count),
                ),
                (
                    "events",
                    self.list(&s.events, |e| {
                        self.obj(vec![
                            ("timeUnixNano", self.u64(e.time_unix_nano)),
                            ("name", self.str(&e.name)),
                            ("attributes", self.attrs(&e.attributes)),
                            (
                                "droppedAttributesCount",
                                self.u32(e.dropped_attributes_count),
                            ),
                        ])
                    }),
                ),
                ("droppedEventsCount", self.u32(s.dropped_events_count)),
                (
                    "links",
                    self.list(&s.links, |l| {
                        self.obj(vec![
                            ("traceId", self.id(&l.trace_id)),
                            ("spanId", self.id(&l.span_id)),
                            ("traceState", self.str(&l.trace_state)),
                            ("attributes", self.attrs(&l.attributes)),
                            (
                                "droppedAttributesCount",
                                self.u32(l.dropped_attributes_count),
                            ),
                            ("flags", self.u32(l.flags)),
                        ])
                    }),
                ),
                ("droppedLinksCount", self.u32(s.dropped_links_count)),
            ];
            self.opt(&mut m, "status", s.status.as_ref(), |st| {
                let code = status::StatusCode::try_from(st.code)
                    .ok()
                    .map(|c| c.as_str_name());
                self.obj(vec![
                    ("message", self.str(&st.message)),
                    ("code", self.enm(st.code, code)),
                ])
            });
            self.obj(m)
        }

        fn metrics(&self, req: &ExportMetricsServiceRequest) -> Value {
            self.obj(vec![(
                "resourceMetrics",
                self.list(&req.resource_metrics, |rm| {
                    let mut m = vec![("schemaUrl", self.str(&rm.schema_url))];
                    self.opt(&mut m, "resource", rm.resource.as_ref(), |r| {
                        self.resource(r)
                    });
                    m.push((
                        "scopeMetrics",
                        self.list(&rm.scope_metrics, |sm| {
                            let mut m = vec![("schemaUrl", self.str(&sm.schema_url))];
                            self.opt(&mut m, "scope", sm.scope.as_ref(), |s| self.scope(s));
                            m.push(("metrics", self.list(&sm.metrics, |x| self.metric(x))));
                            self.obj(m)
                        }),
                    ));
                    self.obj(m)
                }),
            )])
        }
        fn temporality(&self, t: i32) -> Value {
            self.enm(
                t,
                AggregationTemporality::try_from(t)
                    .ok()
                    .map(|t| t.as_str_name()),
            )
        }
        fn metric(&self, x: &Metric) -> Value {
            use metric::Data as D;
            let mut m = vec![
                ("name", self.str(&x.name)),
                ("description", self.str(&x.description)),
                ("unit", self.str(&x.unit)),
                ("metadata", self.attrs(&x.metadata)),
            ];
            match &x.data {
                None => {}
                Some(D::Gauge(g)) => m.push((
                    "gauge",
                    self.obj(vec![(
                        "dataPoints",
                        self.list(&g.data_points, |p| self.ndp(p)),
                    )]),
                )),
                Some(D::Sum(s)) => m.push((
                    "sum",
                    self.obj(vec![
                        ("dataPoints", self.list(&s.data_points, |p| self.ndp(p))),
                        (
                            "aggregationTemporality",
                            self.temporality(s.aggregation_temporality),
                        ),
                        ("isMonotonic", Value::Bool(s.is_monotonic)),
                    ]),
                )),
                Some(D::Histogram(hg)) => m.push((
                    "histogram",
                    self.obj(vec![
                        ("dataPoints", self.list(&hg.data_points, |p| self.hdp(p))),
                        (
                            "aggregationTemporality",
                            self.temporality(hg.aggregation_temporality),
                        ),
                    ]),
                )),
                Some(D::ExponentialHistogram(eh)) => m.push((
                    "exponentialHistogram",
                    self.obj(vec![
                        ("dataPoints", self.list(&eh.data_points, |p| self.edp(p))),
                        (
                            "aggregationTemporality",
                            self.temporality(eh.aggregation_temporality),
                        ),
                    ]),
                )),
                Some(D::Summary(sm)) => m.push((
                    "summary",
                    self.obj(vec![(
                        "dataPoints",
                        self.list(&sm.data_points, |p| self.sdp(p)),
                    )]),
                )),
            }
            self.obj(m)
        }
        fn ndp(&self, p: &NumberDataPoint) -> Value {
            let mut m = vec![
                ("attributes", self.attrs(&p.attributes)),
                ("startTimeUnixNano", self.u64(p.start_time_unix_nano)),
                ("timeUnixNano", self.u64(p.time_unix_nano)),
                ("exemplars", self.list(&p.exemplars, |e| self.exemplar(e))),
                ("flags", self.u32(p.flags)),
            ];
            match p.value {
                Some(number_data_point::Value::AsDouble(d)) => m.push(("asDouble", self.f64(d))),
                Some(number_data_point::Value::AsInt(i)) => m.push(("asInt", self.i64(i))),
                None => {}
            }
            self.obj(m)
        }
        fn exemplar(&self, e: &Exemplar) -> Value {
            let mut m = vec![
                ("filteredAttributes", self.attrs(&e.filtered_attributes)),
                ("timeUnixNano", self.u64(e.time_unix_nano)),
                ("spanId", self.id(&e.span_id)),
                ("traceId", self.id(&e.trace_id)),
            ];
            match e.value {
                Some(exemplar::Value::AsDouble(d)) => m.push(("asDouble", self.f64(d))),
                Some(exemplar::Value::AsInt(i)) => m.push(("asInt", self.i64(i))),
                None => {}
            }
            self.obj(m)
        }
        fn hdp(&self, p: &HistogramDataPoint) -> Value {
            let mut m = vec![
                ("attributes", self.attrs(&p.attributes)),
                ("startTimeUnixNano", self.u64(p.start_time_unix_nano)),
                ("timeUnixNano", self.u64(p.time_unix_nano)),
                ("count", self.u64(p.count)),
                (
                    "bucketCounts",
                    self.list(&p.bucket_counts, |c| self.u64(*c)),
                ),
                (
                    "explicitBounds",
                    self.list(&p.explicit_bounds, |b| self.f64(*b)),
                ),
                ("exemplars", self.list(&p.exemplars, |e| self.exemplar(e))),
                ("flags", self.u32(p.flags)),
            ];
            self.opt(&mut m, "sum", p.sum, |v| self.f64(v));
            self.opt(&mut m, "min", p.min, |v| self.f64(v));
            self.opt(&mut m, "max", p.max, |v| self.f64(v));
            self.obj(m)
        }
        fn buckets(&self, b: &exponential_histogram_data_point::Buckets) -> Value {
            self.obj(vec![
                ("offset", self.i32(b.offset)),
                (
                    "bucketCounts",
                    self.list(&b.bucket_counts, |c| self.u64(*c)),
                ),
            ])
        }
        fn edp(&self, p: &ExponentialHistogramDataPoint) -> Value {
            let mut m = vec![
                ("attributes", self.attrs(&p.attributes)),
                ("startTimeUnixNano", self.u64(p.start_time_unix_nano)),
                ("timeUnixNano", self.u64(p.time_unix_nano)),
                ("count", self.u64(p.count)),
                ("scale", self.i32(p.scale)),
                ("zeroCount", self.u64(p.zero_count)),
                ("flags", self.u32(p.flags)),
                ("exemplars", self.list(&p.exemplars, |e| self.exemplar(e))),
                ("zeroThreshold", self.f64(p.zero_threshold)),
            ];
            self.opt(&mut m, "sum", p.sum, |v| self.f64(v));
            self.opt(&mut m, "positive", p.positive.as_ref(), |b| self.buckets(b));
            self.opt(&mut m, "negative", p.negative.as_ref(), |b| self.buckets(b));
            self.opt(&mut m, "min", p.min, |v| self.f64(v));
            self.opt(&mut m, "max", p.max, |v| self.f64(v));
            self.obj(m)
        }
        fn sdp(&self, p: &SummaryDataPoint) -> Value {
            self.obj(vec![
                ("attributes", self.attrs(&p.attributes)),
                ("startTimeUnixNano", self.u64(p.start_time_unix_nano)),
                ("timeUnixNano", self.u64(p.time_unix_nano)),
                ("count", self.u64(p.count)),
                ("sum", self.f64(p.sum)),
                (
                    "quantileValues",
                    self.list(&p.quantile_values, |q| {
                        self.obj(vec![
                            ("quantile", self.f64(q.quantile)),
                            ("value", self.f64(q.value)),
                        ])
                    }),
                ),
                ("flags", self.u32(p.flags)),
            ])
        }

        fn logs(&self, req: &ExportLogsServiceRequest) -> Value {
            self.obj(vec![(
                "resourceLogs",
                self.list(&req.resource_logs, |rl| {
                    let mut m = vec![("schemaUrl", self.str(&rl.schema_url))];
                    self.opt(&mut m, "resource", rl.resource.as_ref(), |r| {
                        self.resource(r)
                    });
                    m.push((
                        "scopeLogs",
                        self.list(&rl.scope_logs, |sl| {
                            let mut m = vec![("schemaUrl", self.str(&sl.schema_url))];
                            self.opt(&mut m, "scope", sl.scope.as_ref(), |s| self.scope(s));
                            m.push(("logRecords", self.list(&sl.log_records, |r| self.log(r))));
                            self.obj(m)
                        }),
                    ));
                    self.obj(m)
                }),
            )])
        }
        fn log(&self, r: &LogRecord) -> Value {
            let sev = SeverityNumber::try_from(r.severity_number)
                .ok()
                .map(|s| s.as_str_name());
            let mut m = vec![
                ("timeUnixNano", self.u64(r.time_unix_nano)),
                ("observedTimeUnixNano", self.u64(r.observed_time_unix_nano)),
                ("severityNumber", self.enm(r.severity_number, sev)),
                ("severityText", self.str(&r.severity_text)),
                ("attributes", self.attrs(&r.attributes)),
                (
                    "droppedAttributesCount",
                    self.u32(r.dropped_attributes_count),
                ),
                ("flags", self.u32(r.flags)),
                ("traceId", self.id(&r.trace_id)),
                ("spanId", self.id(&r.span_id)),
                ("eventName", self.str(&r.event_name)),
            ];
            self.opt(&mut m, "body", r.body.as_ref(), |b| self.any(b));
            self.obj(m)
        }
    }

    /// Attribute values of every kind, nested, with extreme numbers.
    fn rich_attributes() -> Vec<KeyValue> {
        vec![
            kvs("http.request.method", "GET"),
            kvs("unicode", "héllo \"wörld\" \u{1F600} \n\t"),
            kv("empty", AnyValue { value: None }),
            KeyValue {
                key: "no.value".into(),
                value: None,
                key_strindex: 0,
            },
            kv("b", av(AV::BoolValue(false))),
            kv("i.min", av(AV::IntValue(i64::MIN))),
            kv("i.max", av(AV::IntValue(i64::MAX))),
            kv("i.neg", av(AV::IntValue(-42))),
            kv("d", av(AV::DoubleValue(-3.5e-7))),
            kv("d.inf", av(AV::DoubleValue(f64::INFINITY))),
            kv(
                "bytes",
                av(AV::BytesValue(vec![0, 1, 2, 0xfb, 0xff, 0xbf, 0x80])),
            ),
            kv("bytes.empty", av(AV::BytesValue(vec![]))),
            kv(
                "nested",
                av(AV::ArrayValue(ArrayValue {
                    values: vec![
                        s("x"),
                        av(AV::IntValue(7)),
                        av(AV::KvlistValue(KeyValueList {
                            values: vec![
                                kv(
                                    "inner",
                                    av(AV::ArrayValue(ArrayValue {
                                        values: vec![av(AV::BoolValue(true))],
                                    })),
                                ),
                                kv("e", AnyValue { value: None }),
                            ],
                        })),
                        av(AV::ArrayValue(ArrayValue::default())),
                    ],
                })),
            ),
            KeyValue {
                key: String::new(),
                value: Some(av(AV::StringValueStrindex(12))),
                key_strindex: 5,
            },
        ]
    }

    fn rich_resource() -> Resource {
        Resource {
            attributes: vec![
                kvs("service.name", "checkout"),
                kvs("k8s.namespace.name", "shop"),
            ],
            dropped_attributes_count: 2,
            entity_refs: vec![EntityRef {
                schema_url: "https://opentelemetry.io/schemas/1.30.0".into(),
                r#type: "service".into(),
                id_keys: vec!["service.name".into(), "service.namespace".into()],
                description_keys: vec![],
            }],
        }
    }

    fn rich_scope() -> InstrumentationScope {
        InstrumentationScope {
            name: "io.opentelemetry.envoy".into(),
            version: "1.2.3".into(),
            attributes: vec![kv("scope.attr", av(AV::IntValue(1)))],
            dropped_attributes_count: 1,
        }
    }

    fn rich_traces() -> ExportTraceServiceRequest {
        let full = Span {
            trace_id: h("5b8efff798038103d269b633813fc60c"),
            span_id: h("eee19b7ec3c1b174"),
            trace_state: "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE".into(),
            parent_span_id: h("eee19b7ec3c1b173"),
            flags: 0x301,
            name: "GET /api/cart".into(),
            kind: span::SpanKind::Client as i32,
            start_time_unix_nano: 1_700_000_000_123_456_789,
            end_time_unix_nano: u64::MAX,
            attributes: rich_attributes(),
            dropped_attributes_count: 1,
            events: vec![
                span::Event {
                    time_unix_nano: 1_700_000_000_200_000_000,
                    name: "exception".into(),
                    attributes: vec![kvs("exception.type", "Timeout")],
                    dropped_attributes_count: 3,
                },
                span::Event::default(),
            ],
            dropped_events_count: 4,
            links: vec![
                span::Link {
                    trace_id: h("0102030405060708090a0b0c0d0e0f10"),
                    span_id: h("a1a2a3a4a5a6a7a8"),
                    trace_state: "x=y".into(),
                    attributes: vec![kv("link.n", av(AV::IntValue(2)))],
                    dropped_attributes_count: 5,
                    flags: 1,
                },
                span::Link::default(),
            ],
            dropped_links_count: 6,
            status: Some(Status {
                message: "upstream reset".into(),
                code: status::StatusCode::Error as i32,
            }),
        };
        let zero_ids = Span {
            trace_id: vec![0; 16],
            span_id: vec![0; 8],
            kind: span::SpanKind::Consumer as i32,
            status: Some(Status::default()),
            ..Default::default()
        };
        ExportTraceServiceRequest {
            resource_spans: vec![
                ResourceSpans {
                    resource: Some(rich_resource()),
                    scope_spans: vec![
                        ScopeSpans {
                            scope: Some(rich_scope()),
                            spans: vec![full, zero_ids, Span::default()],
                            schema_url: "https://opentelemetry.io/schemas/1.30.0".into(),
                        },
                        ScopeSpans::default(),
                    ],
                    schema_url: "https://opentelemetry.io/schemas/1.21.0".into(),
                },
                ResourceSpans::default(),
            ],
        }
    }

    fn rich_metrics() -> ExportMetricsServiceRequest {
        use metric::Data as D;
        let exemplars = vec![
            Exemplar {
                filtered_attributes: vec![kvs("user", "u1")],
                time_unix_nano: 1_700_000_000_000_000_001,
                span_id: h("eee19b7ec3c1b174"),
                trace_id: h("5b8efff798038103d269b633813fc60c"),
                value: Some(exemplar::Value::AsDouble(0.25)),
            },
            Exemplar {
                value: Some(exemplar::Value::AsInt(-9)),
                ..Default::default()
            },
            Exemplar::default(),
        ];
        let ndp = |value, flags| NumberDataPoint {
            attributes: vec![kvs("route", "/cart")],
            start_time_unix_nano: 1_700_000_000_000_000_000,
            time_unix_nano: 1_700_000_060_000_000_000,
            exemplars: exemplars.clone(),
            flags,
            value,
        };
        let metric = |name: &str, data| Metric {
            name: name.into(),
            description: format!("{name} description"),
            unit: "ms".into(),
            metadata: vec![kvs("prometheus.type", "counter")],
            data,
        };
        ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: Some(rich_resource()),
                scope_metrics: vec![ScopeMetrics {
                    scope: Some(rich_scope()),
                    metrics: vec![
                        metric(
                            "gauge",
                            Some(D::Gauge(Gauge {
                                data_points: vec![
                                    ndp(Some(number_data_point::Value::AsDouble(12.5)), 0),
                                    ndp(Some(number_data_point::Value::AsInt(i64::MIN)), 0),
                                    ndp(None, 1),
                                ],
                            })),
                        ),
                        metric(
                            "sum",
                            Some(D::Sum(Sum {
                                data_points: vec![ndp(
                                    Some(number_data_point::Value::AsInt(1_234_567_890_123)),
                                    0,
                                )],
                                aggregation_temporality: AggregationTemporality::Cumulative as i32,
                                is_monotonic: true,
                            })),
                        ),
                        metric(
                            "histogram",
                            Some(D::Histogram(Histogram {
                                data_points: vec![
                                    HistogramDataPoint {
                                        attributes: vec![kvs("a", "b")],
                                        start_time_unix_nano: 1,
                                        time_unix_nano: 2,
                                        count: u64::MAX,
                                        sum: Some(1234.5),
                                        bucket_counts: vec![0, 5, u64::MAX, 7],
                                        explicit_bounds: vec![-1.5, 0.0, 10.0],
                                        exemplars: exemplars.clone(),
                                        flags: 1,
                                        min: Some(f64::NEG_INFINITY),
                                        max: Some(99.75),
                                    },
                                    HistogramDataPoint::default(),
                                ],
                                aggregation_temporality: AggregationTemporality::Delta as i32,
                            })),
                        ),
                        metric(
                            "exponential",
                            Some(D::ExponentialHistogram(ExponentialHistogram {
                                data_points: vec![
                                    ExponentialHistogramDataPoint {
                                        attributes: vec![kvs("a", "b")],
                                        start_time_unix_nano: 3,
                                        time_unix_nano: 4,
                                        count: 17,
                                        sum: Some(-2.5),
                                        scale: -3,
                                        zero_count: 2,
                                        positive: Some(exponential_histogram_data_point::Buckets {
                                            offset: -5,
                                            bucket_counts: vec![1, 2, 3],
                                        }),
                                        negative: Some(exponential_histogram_data_point::Buckets {
                                            offset: 7,
                                            bucket_counts: vec![4, 0, 5],
                                        }),
                                        flags: 0,
                                        exemplars: exemplars.clone(),
                                        min: Some(-8.0),
                                        max: Some(8.0),
                                        zero_threshold: 1e-9,
                                    },
                                    ExponentialHistogramDataPoint::default(),
                                ],
                                aggregation_temporality: AggregationTemporality::Unspecified as i32,
                            })),
                        ),
                        metric(
                            "summary",
                            Some(D::Summary(Summary {
                                data_points: vec![SummaryDataPoint {
                                    attributes: vec![kvs("a", "b")],
                                    start_time_unix_nano: 5,
                                    time_unix_nano: 6,
                                    count: 100,
                                    sum: 512.125,
                                    quantile_values: vec![
                                        summary_data_point::ValueAtQuantile {
                                            quantile: 0.0,
                                            value: 0.5,
                                        },
                                        summary_data_point::ValueAtQuantile {
                                            quantile: 0.99,
                                            value: f64::INFINITY,
                                        },
                                    ],
                                    flags: 1,
                                }],
                            })),
                        ),
                        metric("no.data", None),
                    ],
                    schema_url: "https://opentelemetry.io/schemas/1.30.0".into(),
                }],
                schema_url: "s".into(),
            }],
        }
    }

    fn rich_logs() -> ExportLogsServiceRequest {
        ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(rich_resource()),
                scope_logs: vec![ScopeLogs {
                    scope: Some(rich_scope()),
                    log_records: vec![
                        LogRecord {
                            time_unix_nano: 1_700_000_000_000_000_000,
                            observed_time_unix_nano: 1_700_000_000_000_000_500,
                            severity_number: SeverityNumber::Fatal4 as i32,
                            severity_text: "FATAL".into(),
                            body: Some(av(AV::KvlistValue(KeyValueList {
                                values: rich_attributes(),
                            }))),
                            attributes: rich_attributes(),
                            dropped_attributes_count: 8,
                            flags: 1,
                            trace_id: h("5b8efff798038103d269b633813fc60c"),
                            span_id: h("eee19b7ec3c1b174"),
                            event_name: "app.crash".into(),
                        },
                        LogRecord {
                            body: Some(av(AV::BytesValue(b"raw".to_vec()))),
                            ..Default::default()
                        },
                        LogRecord {
                            body: Some(AnyValue { value: None }),
                            ..Default::default()
                        },
                        LogRecord::default(),
                    ],
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            }],
        }
    }

    #[test]
    fn round_trip_traces_in_every_style() {
        let want = rich_traces();
        for style in Style::all() {
            let json = Enc(style).traces(&want).to_string();
            let got =
                decode_traces(json.as_bytes()).unwrap_or_else(|e| panic!("{style:?}: {e}\n{json}"));
            assert_eq!(got, want, "{style:?}\n{json}");
        }
    }

    #[test]
    fn round_trip_metrics_in_every_style() {
        let want = rich_metrics();
        for style in Style::all() {
            let json = Enc(style).metrics(&want).to_string();
            let got = decode_metrics(json.as_bytes())
                .unwrap_or_else(|e| panic!("{style:?}: {e}\n{json}"));
            assert_eq!(got, want, "{style:?}\n{json}");
        }
    }

    #[test]
    fn round_trip_logs_in_every_style() {
        let want = rich_logs();
        for style in Style::all() {
            let json = Enc(style).logs(&want).to_string();
            let got =
                decode_logs(json.as_bytes()).unwrap_or_else(|e| panic!("{style:?}: {e}\n{json}"));
            assert_eq!(got, want, "{style:?}\n{json}");
        }
    }

    #[test]
    fn encoder_writes_what_the_examples_write() {
        // The test encoder in its canonical style reproduces the upstream example exactly,
        // so the round trips above exercise the real OTLP/JSON shape.
        let canonical = Style {
            snake: false,
            ints_as_numbers: false,
            enum_names: false,
            upper_hex: true,
            url_base64: false,
        };
        let req = decode_traces(TRACE_JSON.as_bytes()).expect("decodes");
        let mut ours = Enc(canonical).traces(&req);
        let theirs: Value = serde_json::from_str(TRACE_JSON).expect("json");
        // The encoder writes every field; drop the defaults the example leaves out.
        strip_defaults(&mut ours);
        assert_eq!(ours, theirs);
    }

    fn strip_defaults(v: &mut Value) {
        match v {
            Value::Object(m) => {
                m.retain(|_, v| {
                    let v: &Value = v;
                    let empty_array = v.as_array().is_some_and(Vec::is_empty);
                    !(v.is_null() || *v == false || *v == "" || *v == "0" || *v == 0 || empty_array)
                });
                m.values_mut().for_each(strip_defaults);
            }
            Value::Array(a) => a.iter_mut().for_each(strip_defaults),
            _ => {}
        }
    }

    // --- hostile input --------------------------------------------------------------------

    /// xorshift64*: a deterministic PRNG, enough to pick mutations.
    struct Rng(u64);

    impl Rng {
        fn step(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.step() % n.max(1) as u64) as usize
        }
    }

    fn count_nodes(v: &Value) -> usize {
        1 + match v {
            Value::Array(a) => a.iter().map(count_nodes).sum(),
            Value::Object(m) => m.values().map(count_nodes).sum(),
            _ => 0,
        }
    }

    /// Replaces the `target`-th node (pre-order) of `v` with `with`.
    fn replace_node(v: &mut Value, target: &mut usize, with: &Value) -> bool {
        if *target == 0 {
            *v = with.clone();
            return true;
        }
        *target -= 1;
        match v {
            Value::Array(a) => a.iter_mut().any(|c| replace_node(c, target, with)),
            Value::Object(m) => m.values_mut().any(|c| replace_node(c, target, with)),
            _ => false,
        }
    }

    #[test]
    fn hostile_inputs_never_panic() {
        let seeds: Vec<String> = vec![
            TRACE_JSON.into(),
            METRICS_JSON.into(),
            LOGS_JSON.into(),
            EVENTS_JSON.into(),
            Enc(Style::all().nth(7).expect("style"))
                .traces(&rich_traces())
                .to_string(),
            Enc(Style::all().nth(21).expect("style"))
                .metrics(&rich_metrics())
                .to_string(),
            Enc(Style::all().nth(30).expect("style"))
                .logs(&rich_logs())
                .to_string(),
        ];
        let replacements: Vec<Value> = [
            "null", "true", "-1", "1.5", "1e30", "-0", "18446744073709551616", "\"\"", "\"zz\"", "\"NaN\"",
            "\"-1\"", "\"99999999999999999999999999999999999999999\"", "[]", "{}", "[null]", "[1,\"a\",{}]",
            "{\"stringValue\":1}", "{\"values\":{}}", "\"SPAN_KIND_SERVER\"", "\"\u{00e9}\u{00e9}\u{00e9}\"",
            "\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\u{00e9}\"",
        ]
        .iter()
        .map(|s| serde_json::from_str(s).expect("replacement json"))
        .chain([serde_json::from_str::<Value>(&nested_array_value(36)).expect("deep json")])
        .collect();
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut rejected = 0usize;
        let mut runs = 0usize;
        for round in 0..1500 {
            let seed = &seeds[round % seeds.len()];
            // Structural mutation: replace a random node with a hostile value (1-3 times).
            let mut v: Value = serde_json::from_str(seed).expect("seed json");
            for _ in 0..=rng.below(3) {
                let mut target = rng.below(count_nodes(&v));
                let with = &replacements[rng.below(replacements.len())];
                replace_node(&mut v, &mut target, with);
            }
            let structural = v.to_string().into_bytes();
            // Byte mutation: flip, drop or truncate.
            let mut bytes = seed.as_bytes().to_vec();
            let at = rng.below(bytes.len());
            match rng.below(4) {
                0 => bytes[at] ^= 1 << rng.below(8),
                1 => {
                    bytes.remove(at);
                }
                2 => bytes.truncate(at),
                _ => {
                    let pool = b"\"{}[],:-.0eE\\ \xff";
                    bytes.insert(at, pool[rng.below(pool.len())]);
                }
            }
            for body in [&structural, &bytes] {
                for sig in [Sig::Traces, Sig::Metrics, Sig::Logs] {
                    runs += 1;
                    if let Err(e) = decode_as(sig, body) {
                        rejected += 1;
                        assert!(!e.to_string().is_empty());
                    }
                }
            }
        }
        // Sanity: the mutations reach both outcomes.
        assert!(
            rejected > runs / 10 && rejected < runs,
            "{rejected} of {runs} rejected"
        );
    }
}
