//! Zipkin v2 receiver: `POST /api/v2/spans`, a JSON array of Zipkin spans or a protobuf
//! `zipkin.proto3.ListOfSpans`, as Envoy, Istio, Zipkin's own tracers and the OpenTelemetry
//! Zipkin exporters send them (optionally gzip).
//!
//! Each Zipkin span becomes an OTLP span, and the request then takes the OTLP path
//! ([`Ingestor::export_traces`]): the same validation, write-ahead log and head, so a Zipkin span
//! is stored, queried and aggregated like any other. The mapping:
//!
//! | Zipkin | OTLP |
//! |---|---|
//! | `localEndpoint.serviceName` | resource `service.name` (one resource per service) |
//! | `traceId` (16 or 32 hex, or 8 or 16 bytes; a 64-bit id gets 64 zero bits in front), `id`, `parentId` | trace, span and parent span ids |
//! | `kind` `SERVER`, `CLIENT`, `PRODUCER`, `CONSUMER`; absent | that kind; `INTERNAL` |
//! | `timestamp`, `duration` (µs) | start and end time |
//! | `tags` | string attributes |
//! | tags `otel.status_code`, `otel.status_description`, `error` | the status (error with the message) |
//! | tags `otel.scope.name`, `otel.scope.version` (or `otel.library.*`) | the instrumentation scope |
//! | tags `otel.dropped_attributes_count`, `otel.dropped_events_count`, `otel.dropped_links_count` | the span's dropped counts |
//! | `localEndpoint` address and port | `network.local.address`, `network.local.port` |
//! | `remoteEndpoint` service, address and port | `peer.service`, `network.peer.address`, `network.peer.port` |
//! | a `SERVER` span marked `shared` (it reuses its client's span id) | its own span id, derived from the shared one, with the client span as parent |
//! | `annotations` | events named by their value; a value `{"name": {attributes}}`, as the OpenTelemetry Zipkin exporters write an event, is split into name and attributes |
//!
//! A request is accepted whole or refused whole with 400 and a message naming the span and
//! field; a span the OTLP validation rejects (an all-zero id, an absurd time) is answered with
//! 400 as well, saying how many others were stored. Zipkin's v1 API and content types other
//! than `application/json` and `application/x-protobuf` are refused with 415 and a message.
//! Success is `202 Accepted`, as a Zipkin server answers.
//!
//! JSON is read with its strings borrowed from the body (copied only when they hold escapes),
//! and the OTLP request is written as protobuf directly (`to_otlp`, `pb`), without message
//! objects: a tag goes from the body into the request in one copy.

use std::borrow::Cow;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderValue, StatusCode as HttpStatus};
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use prost::Message;
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

use crate::body::Encoding;
use crate::error::{Error, Result};
use crate::http::{add_retry_after, header, log_refusal, receive};
use crate::pipeline::{Ingestor, Protocol, refused};

/// The Zipkin routes: `POST /api/v2/spans`, and `/api/v1/spans` only to say it is not served.
pub fn router(ingestor: Ingestor) -> Router {
    Router::new()
        .route("/api/v2/spans", post(export))
        .route("/api/v1/spans", post(v1))
        .with_state(ingestor)
}

async fn export(State(ingestor): State<Ingestor>, headers: HeaderMap, body: Body) -> Response {
    match handle(&ingestor, &headers, body).await {
        Ok(()) => HttpStatus::ACCEPTED.into_response(),
        Err(e) => error_response(e),
    }
}

async fn v1() -> Response {
    error_response(refused(
        Protocol::Zipkin,
        Error::UnsupportedMediaType(
            "the Zipkin v1 API is not served: send Zipkin v2 JSON to /api/v2/spans".into(),
        ),
    ))
}

async fn handle(ingestor: &Ingestor, headers: &HeaderMap, body: Body) -> Result<()> {
    let protocol = Protocol::Zipkin;
    let encoding = content_type(header(headers, CONTENT_TYPE)).map_err(|e| refused(protocol, e))?;
    let (raw, _admission) = receive(ingestor, headers, body, protocol).await?;
    let (request, spans) = to_otlp_protobuf(&raw, encoding).map_err(|e| refused(protocol, e))?;
    let response = ingestor.export_traces(request.into(), protocol).await?;
    match response.partial_success {
        Some(partial) if partial.rejected_spans > 0 => Err(Error::InvalidArgument(format!(
            "{} of {spans} spans rejected, the others were stored: {}",
            partial.rejected_spans, partial.error_message
        ))),
        _ => Ok(()),
    }
}

/// The body's encoding: `application/json` (also when no content type is given, as some
/// reporters send) or `application/x-protobuf`.
fn content_type(value: Option<&str>) -> Result<Encoding> {
    let Some(value) = value else {
        return Ok(Encoding::Json);
    };
    let media = value.split(';').next().unwrap_or_default().trim();
    if media.eq_ignore_ascii_case("application/json") {
        Ok(Encoding::Json)
    } else if media.eq_ignore_ascii_case("application/x-protobuf") {
        Ok(Encoding::Protobuf)
    } else {
        Err(Error::UnsupportedMediaType(format!(
            "unsupported content type {media:?}: send Zipkin v2 as application/json or \
             application/x-protobuf"
        )))
    }
}

/// Plain-text errors, as a Zipkin server answers; `Retry-After` when the client should retry.
fn error_response(error: Error) -> Response {
    let status = log_refusal(&error, "zipkin");
    let mut response = (
        status,
        [(
            CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        )],
        format!("{error}\n"),
    )
        .into_response();
    add_retry_after(&mut response, &error);
    response
}

/// One span of Zipkin's v2 model, its strings borrowed from the body where JSON allows
/// (unknown fields, such as `debug`, are ignored).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ZipkinSpan<'a> {
    #[serde(borrow)]
    trace_id: Text<'a>,
    #[serde(borrow)]
    id: Text<'a>,
    #[serde(borrow)]
    parent_id: Option<Text<'a>>,
    #[serde(borrow)]
    name: Option<Text<'a>>,
    #[serde(borrow)]
    kind: Option<Text<'a>>,
    timestamp: Option<serde_json::Number>,
    duration: Option<serde_json::Number>,
    #[serde(borrow)]
    local_endpoint: Option<Endpoint<'a>>,
    #[serde(borrow)]
    remote_endpoint: Option<Endpoint<'a>>,
    #[serde(borrow)]
    annotations: Option<Vec<Annotation<'a>>>,
    #[serde(borrow)]
    tags: Option<Tags<'a>>,
    shared: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Endpoint<'a> {
    #[serde(borrow)]
    service_name: Option<Text<'a>>,
    #[serde(borrow)]
    ipv4: Option<Text<'a>>,
    #[serde(borrow)]
    ipv6: Option<Text<'a>>,
    port: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct Annotation<'a> {
    timestamp: serde_json::Number,
    #[serde(borrow)]
    value: Text<'a>,
}

/// A JSON string, borrowed from the body unless it has escapes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Text<'a>(Cow<'a, str>);

impl Text<'_> {
    fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        deserializer.deserialize_str(TextVisitor { scalars: false })
    }
}

/// Reads a string as [`Text`]; with `scalars`, also any other JSON value, as its JSON text
/// (a tag value that is a number, a boolean or an object).
struct TextVisitor {
    scalars: bool,
}

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Text<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.scalars {
            "a JSON value"
        } else {
            "a string"
        })
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> std::result::Result<Text<'de>, E> {
        Ok(Text(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Text<'de>, E> {
        Ok(Text(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> std::result::Result<Text<'de>, E> {
        Ok(Text(Cow::Owned(v)))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> std::result::Result<Text<'de>, E> {
        self.scalar(v)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> std::result::Result<Text<'de>, E> {
        self.scalar(v)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> std::result::Result<Text<'de>, E> {
        self.scalar(v)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<Text<'de>, E> {
        self.scalar(serde_json::Value::from(v))
    }
    fn visit_unit<E: de::Error>(self) -> std::result::Result<Text<'de>, E> {
        self.scalar("null")
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> std::result::Result<Text<'de>, A::Error> {
        if !self.scalars {
            return Err(de::Error::invalid_type(de::Unexpected::Seq, &self));
        }
        let value = serde_json::Value::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
        Ok(Text(Cow::Owned(value.to_string())))
    }
    fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> std::result::Result<Text<'de>, A::Error> {
        if !self.scalars {
            return Err(de::Error::invalid_type(de::Unexpected::Map, &self));
        }
        let value = serde_json::Value::deserialize(de::value::MapAccessDeserializer::new(map))?;
        Ok(Text(Cow::Owned(value.to_string())))
    }
}

impl TextVisitor {
    fn scalar<E: de::Error, T: fmt::Display>(self, v: T) -> std::result::Result<Text<'static>, E> {
        if self.scalars {
            Ok(Text(Cow::Owned(v.to_string())))
        } else {
            Err(de::Error::invalid_type(
                de::Unexpected::Other("a non-string value"),
                &self,
            ))
        }
    }
}

/// A span's tags in the order of the body (a JSON object read as a list, without a map).
#[derive(Debug, Default)]
struct Tags<'a>(Vec<(Text<'a>, Text<'a>)>);

/// A tag value: any JSON value, as text.
struct TagValue<'a>(Text<'a>);

impl<'de: 'a, 'a> Deserialize<'de> for TagValue<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        deserializer
            .deserialize_any(TextVisitor { scalars: true })
            .map(TagValue)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Tags<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        struct TagsVisitor<'a>(std::marker::PhantomData<Tags<'a>>);
        impl<'de: 'a, 'a> Visitor<'de> for TagsVisitor<'a> {
            type Value = Tags<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of tags")
            }
            fn visit_map<A: de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Tags<'a>, A::Error> {
                let mut tags = Vec::with_capacity(map.size_hint().unwrap_or(16));
                while let Some((key, TagValue(value))) =
                    map.next_entry::<Text<'a>, TagValue<'a>>()?
                {
                    tags.push((key, value));
                }
                Ok(Tags(tags))
            }
        }
        deserializer.deserialize_map(TagsVisitor(std::marker::PhantomData))
    }
}

/// A Zipkin v2 body (JSON or protobuf) as the `ExportTraceServiceRequest` protobuf it stands
/// for, which the OTLP trace path then reads, and the number of spans in it.
pub fn to_otlp_protobuf(body: &[u8], encoding: Encoding) -> Result<(Vec<u8>, usize)> {
    match encoding {
        Encoding::Json => to_otlp(decode_json(body)?),
        Encoding::Protobuf => to_otlp(decode_protobuf(body)?),
    }
}

fn decode_json(body: &[u8]) -> Result<Vec<ZipkinSpan<'_>>> {
    serde_json::from_slice(body)
        .map_err(|e| Error::InvalidArgument(format!("invalid Zipkin v2 JSON: {e}")))
}

/// A `zipkin.proto3.ListOfSpans`, in the JSON model's terms: ids as hex, zero times and ports
/// as absent, addresses as text.
fn decode_protobuf(body: &[u8]) -> Result<Vec<ZipkinSpan<'static>>> {
    let list = proto::ListOfSpans::decode(body)
        .map_err(|e| Error::InvalidArgument(format!("invalid Zipkin ListOfSpans protobuf: {e}")))?;
    Ok(list.spans.into_iter().map(ZipkinSpan::from).collect())
}

fn owned(text: String) -> Text<'static> {
    Text(Cow::Owned(text))
}

impl From<proto::Span> for ZipkinSpan<'static> {
    fn from(span: proto::Span) -> Self {
        let micros = |t: u64| (t != 0).then(|| serde_json::Number::from(t));
        let kind = match span.kind {
            0 => None,
            1 => Some("CLIENT".to_owned()),
            2 => Some("SERVER".to_owned()),
            3 => Some("PRODUCER".to_owned()),
            4 => Some("CONSUMER".to_owned()),
            other => Some(other.to_string()),
        };
        Self {
            trace_id: owned(hex::encode(&span.trace_id)),
            id: owned(hex::encode(&span.id)),
            parent_id: (!span.parent_id.is_empty()).then(|| owned(hex::encode(&span.parent_id))),
            name: Some(owned(span.name)),
            kind: kind.map(owned),
            timestamp: micros(span.timestamp),
            duration: micros(span.duration),
            local_endpoint: span.local_endpoint.map(Endpoint::from),
            remote_endpoint: span.remote_endpoint.map(Endpoint::from),
            annotations: Some(
                span.annotations
                    .into_iter()
                    .map(|a| Annotation {
                        timestamp: a.timestamp.into(),
                        value: owned(a.value),
                    })
                    .collect(),
            ),
            tags: Some(Tags(
                span.tags
                    .into_iter()
                    .map(|(k, v)| (owned(k), owned(v)))
                    .collect(),
            )),
            shared: Some(span.shared),
        }
    }
}

impl From<proto::Endpoint> for Endpoint<'static> {
    fn from(endpoint: proto::Endpoint) -> Self {
        let ipv4 = <[u8; 4]>::try_from(endpoint.ipv4.as_slice())
            .ok()
            .map(|a| owned(std::net::Ipv4Addr::from(a).to_string()));
        let ipv6 = <[u8; 16]>::try_from(endpoint.ipv6.as_slice())
            .ok()
            .map(|a| owned(std::net::Ipv6Addr::from(a).to_string()));
        Self {
            service_name: Some(owned(endpoint.service_name)),
            ipv4,
            ipv6,
            port: (endpoint.port != 0).then_some(i64::from(endpoint.port)),
        }
    }
}

/// Zipkin's proto3 model (`zipkin.proto`, package `zipkin.proto3`): the messages of a
/// `ListOfSpans`, field for field.
mod proto {
    use std::collections::BTreeMap;

    #[derive(Clone, PartialEq, prost::Message)]
    pub(super) struct ListOfSpans {
        #[prost(message, repeated, tag = "1")]
        pub spans: Vec<Span>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub(super) struct Span {
        /// 8 or 16 bytes, big endian.
        #[prost(bytes = "vec", tag = "1")]
        pub trace_id: Vec<u8>,
        #[prost(bytes = "vec", tag = "2")]
        pub parent_id: Vec<u8>,
        #[prost(bytes = "vec", tag = "3")]
        pub id: Vec<u8>,
        /// 0 unspecified, 1 client, 2 server, 3 producer, 4 consumer.
        #[prost(int32, tag = "4")]
        pub kind: i32,
        #[prost(string, tag = "5")]
        pub name: String,
        /// Epoch microseconds; 0 is absent.
        #[prost(fixed64, tag = "6")]
        pub timestamp: u64,
        /// Microseconds; 0 is absent.
        #[prost(uint64, tag = "7")]
        pub duration: u64,
        #[prost(message, optional, tag = "8")]
        pub local_endpoint: Option<Endpoint>,
        #[prost(message, optional, tag = "9")]
        pub remote_endpoint: Option<Endpoint>,
        #[prost(message, repeated, tag = "10")]
        pub annotations: Vec<Annotation>,
        #[prost(btree_map = "string, string", tag = "11")]
        pub tags: BTreeMap<String, String>,
        #[prost(bool, tag = "12")]
        pub debug: bool,
        #[prost(bool, tag = "13")]
        pub shared: bool,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub(super) struct Endpoint {
        #[prost(string, tag = "1")]
        pub service_name: String,
        /// 4 bytes.
        #[prost(bytes = "vec", tag = "2")]
        pub ipv4: Vec<u8>,
        /// 16 bytes.
        #[prost(bytes = "vec", tag = "3")]
        pub ipv6: Vec<u8>,
        #[prost(int32, tag = "4")]
        pub port: i32,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub(super) struct Annotation {
        #[prost(fixed64, tag = "1")]
        pub timestamp: u64,
        #[prost(string, tag = "2")]
        pub value: String,
    }
}

/// Zipkin spans as the `ExportTraceServiceRequest` protobuf they stand for, written directly
/// (no message objects: a span's strings go from the body into the request in one copy), and
/// their count.
fn to_otlp(spans: Vec<ZipkinSpan<'_>>) -> Result<(Vec<u8>, usize)> {
    /// The encoded spans of one scope of one resource.
    struct Scope<'a> {
        name: Text<'a>,
        version: Text<'a>,
        spans: Vec<u8>,
    }
    let count = spans.len();
    // spans by service, then by scope, in the order of their first appearance; found through
    // maps, so that a request naming a new service in every span stays linear
    let mut resources: Vec<(Option<Text<'_>>, Vec<Scope<'_>>)> = Vec::new();
    let mut resource_of: HashMap<Option<Text<'_>>, usize> = HashMap::new();
    let mut scope_of: HashMap<(usize, Text<'_>, Text<'_>), usize> = HashMap::new();
    let (mut span, mut scratch) = (Vec::with_capacity(2048), Vec::with_capacity(256));
    for (index, zipkin) in spans.into_iter().enumerate() {
        let service = zipkin
            .local_endpoint
            .as_ref()
            .and_then(|e| e.service_name.clone())
            .filter(|s| !s.0.is_empty());
        span.clear();
        let (name, version) = convert(index, zipkin, &mut span, &mut scratch)?;
        let r = match resource_of.entry(service) {
            Entry::Occupied(e) => *e.get(),
            Entry::Vacant(e) => {
                resources.push((e.key().clone(), Vec::new()));
                *e.insert(resources.len() - 1)
            }
        };
        let scopes = &mut resources[r].1;
        let s = match scope_of.entry((r, name.clone(), version.clone())) {
            Entry::Occupied(e) => *e.get(),
            Entry::Vacant(e) => {
                scopes.push(Scope {
                    name,
                    version,
                    spans: Vec::new(),
                });
                *e.insert(scopes.len() - 1)
            }
        };
        pb::message(&mut scopes[s].spans, 2, &span); // ScopeSpans.spans
    }

    let total: usize = resources
        .iter()
        .flat_map(|(_, scopes)| scopes.iter().map(|s| s.spans.len() + 64))
        .sum();
    let mut request = Vec::with_capacity(total + 16 * resources.len());
    let (mut resource_spans, mut scope_spans) = (Vec::new(), Vec::new());
    for (service, scopes) in resources {
        resource_spans.clear();
        scratch.clear();
        if let Some(service) = &service {
            pb::string_attribute(&mut scratch, 1, "service.name", service.as_str());
        }
        pb::message(&mut resource_spans, 1, &scratch); // ResourceSpans.resource
        for scope in scopes {
            scope_spans.clear();
            scratch.clear();
            pb::string(&mut scratch, 1, scope.name.as_str()); // InstrumentationScope.name
            pb::string(&mut scratch, 2, scope.version.as_str()); // .version
            pb::message(&mut scope_spans, 1, &scratch); // ScopeSpans.scope
            scope_spans.extend_from_slice(&scope.spans);
            pb::message(&mut resource_spans, 2, &scope_spans); // ResourceSpans.scope_spans
        }
        pb::message(&mut request, 1, &resource_spans); // ExportTraceServiceRequest.resource_spans
    }
    Ok((request, count))
}

/// OTLP `Span` field numbers (opentelemetry/proto/trace/v1/trace.proto).
mod span_field {
    pub const TRACE_ID: u32 = 1;
    pub const SPAN_ID: u32 = 2;
    pub const PARENT_SPAN_ID: u32 = 4;
    pub const NAME: u32 = 5;
    pub const KIND: u32 = 6;
    pub const START_TIME: u32 = 7;
    pub const END_TIME: u32 = 8;
    pub const ATTRIBUTES: u32 = 9;
    pub const DROPPED_ATTRIBUTES_COUNT: u32 = 10;
    pub const EVENTS: u32 = 11;
    pub const DROPPED_EVENTS_COUNT: u32 = 12;
    pub const DROPPED_LINKS_COUNT: u32 = 14;
    pub const STATUS: u32 = 15;
}

/// Writes one Zipkin span into `out` as the body of an OTLP `Span` message; returns the name
/// and version of the scope its tags name. `scratch` is room for nested messages.
fn convert<'a>(
    index: usize,
    zipkin: ZipkinSpan<'a>,
    out: &mut Vec<u8>,
    scratch: &mut Vec<u8>,
) -> Result<(Text<'a>, Text<'a>)> {
    let invalid = |field: &str, problem: String| {
        Error::InvalidArgument(format!("span {index}: {field} {problem}"))
    };
    let trace_id = hex_id::<16>(zipkin.trace_id.as_str()).map_err(|p| invalid("traceId", p))?;
    let mut span_id = hex_id::<8>(zipkin.id.as_str()).map_err(|p| invalid("id", p))?;
    let mut parent_span_id = match zipkin.parent_id.as_ref().map(Text::as_str) {
        None | Some("") => None,
        Some(parent) => Some(hex_id::<8>(parent).map_err(|p| invalid("parentId", p))?),
    };
    let kind = match zipkin.kind.as_ref().map(Text::as_str) {
        None => SpanKind::Internal,
        Some(k) if k.eq_ignore_ascii_case("SERVER") => SpanKind::Server,
        Some(k) if k.eq_ignore_ascii_case("CLIENT") => SpanKind::Client,
        Some(k) if k.eq_ignore_ascii_case("PRODUCER") => SpanKind::Producer,
        Some(k) if k.eq_ignore_ascii_case("CONSUMER") => SpanKind::Consumer,
        Some(other) => {
            return Err(invalid(
                "kind",
                format!(
                    "{:?} is not SERVER, CLIENT, PRODUCER or CONSUMER",
                    truncated(other)
                ),
            ));
        }
    };
    if kind == SpanKind::Server && zipkin.shared == Some(true) {
        // Zipkin's shared span context: the server half of a call reports the client's span
        // id. Stored as it is, one id would name two spans and the call would have no parent
        // link from server to client. The server half gets an id of its own (the same for the
        // same shared id, so a resent request stays one span) under the client span.
        parent_span_id = Some(span_id);
        span_id = shared_server_id(span_id);
    }
    let start = match &zipkin.timestamp {
        Some(t) => micros_to_nanos(t).map_err(|p| invalid("timestamp", p))?,
        None => return Err(invalid("timestamp", "is missing".into())),
    };
    let duration = match &zipkin.duration {
        Some(d) => micros_to_nanos(d).map_err(|p| invalid("duration", p))?,
        None => 0,
    };
    let mut annotations = zipkin.annotations.unwrap_or_default();
    let mut events = Vec::with_capacity(annotations.len());
    for annotation in annotations.drain(..) {
        let time = micros_to_nanos(&annotation.timestamp)
            .map_err(|p| invalid("annotation timestamp", p))?;
        events.push((time, annotation.value));
    }

    let mut tags = zipkin.tags.unwrap_or_default().0;
    // one value per key, the last one given (as a JSON object reads), in key order
    tags.sort_by(|a, b| a.0.cmp(&b.0));
    tags.reverse();
    tags.dedup_by(|later, earlier| later.0 == earlier.0);
    tags.reverse();
    let scope_name = take_either(&mut tags, "otel.scope.name", "otel.library.name");
    let scope_version = take_either(&mut tags, "otel.scope.version", "otel.library.version");
    let status = take_status(&mut tags);
    let dropped = [
        (
            "otel.dropped_attributes_count",
            span_field::DROPPED_ATTRIBUTES_COUNT,
        ),
        (
            "otel.dropped_events_count",
            span_field::DROPPED_EVENTS_COUNT,
        ),
        ("otel.dropped_links_count", span_field::DROPPED_LINKS_COUNT),
    ]
    .map(|(tag, field)| (field, take_count(&mut tags, tag)));

    use span_field as f;
    pb::bytes(out, f::TRACE_ID, &trace_id);
    pb::bytes(out, f::SPAN_ID, &span_id);
    if let Some(parent) = &parent_span_id {
        pb::bytes(out, f::PARENT_SPAN_ID, parent);
    }
    if let Some(name) = &zipkin.name {
        pb::string(out, f::NAME, name.as_str());
    }
    pb::varint_field(out, f::KIND, kind as u64);
    pb::fixed64(out, f::START_TIME, start);
    pb::fixed64(out, f::END_TIME, start.saturating_add(duration));
    for (key, value) in &tags {
        pb::string_attribute(out, f::ATTRIBUTES, key.as_str(), value.as_str());
    }
    if let Some(local) = &zipkin.local_endpoint {
        endpoint_attributes(local, "network.local", out);
    }
    if let Some(remote) = &zipkin.remote_endpoint {
        if let Some(service) = remote.service_name.as_ref().filter(|s| !s.0.is_empty()) {
            pb::string_attribute(out, f::ATTRIBUTES, "peer.service", service.as_str());
        }
        endpoint_attributes(remote, "network.peer", out);
    }
    for (time, value) in &events {
        scratch.clear();
        pb::fixed64(scratch, 1, *time); // Event.time_unix_nano
        match event_parts(value.as_str()) {
            Some((name, attributes)) => {
                pb::string(scratch, 2, &name); // Event.name
                for (key, value) in &attributes {
                    pb::string_attribute(scratch, 3, key, value); // Event.attributes
                }
            }
            None => pb::string(scratch, 2, value.as_str()),
        }
        pb::message(out, f::EVENTS, scratch);
    }
    for (field, count) in dropped {
        pb::varint_field(out, field, u64::from(count));
    }
    if let Some((code, message)) = status {
        scratch.clear();
        pb::string(scratch, 2, message.as_str()); // Status.message
        pb::varint_field(scratch, 3, code as u64); // Status.code
        pb::message(out, f::STATUS, scratch);
    }
    Ok((
        scope_name.unwrap_or_default(),
        scope_version.unwrap_or_default(),
    ))
}

/// An annotation's value `{"name": {"key": value, …}}`, the form OpenTelemetry's Zipkin
/// exporters give an event with attributes, as the event's name and attributes; `None` for any
/// other value, which is the event's name as it is.
fn event_parts(value: &str) -> Option<(String, Vec<(String, String)>)> {
    if !value.starts_with('{') {
        return None;
    }
    let serde_json::Value::Object(outer) = serde_json::from_str(value).ok()? else {
        return None;
    };
    if outer.len() != 1 {
        return None;
    }
    let (name, serde_json::Value::Object(fields)) = outer.into_iter().next()? else {
        return None;
    };
    let attributes = fields
        .into_iter()
        .map(|(key, value)| {
            let text = match value {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            (key, text)
        })
        .collect();
    Some((name, attributes))
}

/// The span id of the server half of a shared span: a mix of the shared id that is neither
/// zero nor the shared id itself.
fn shared_server_id(shared: [u8; 8]) -> [u8; 8] {
    // splitmix64's finalizer: every input bit moves about half of the output bits
    let mut z = u64::from_be_bytes(shared) ^ 0x9e37_79b9_7f4a_7c15;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    if z == 0 || z.to_be_bytes() == shared {
        z = !z;
    }
    z.to_be_bytes()
}

/// Up to `2 * N` hex digits, padded with zeros in front to `N` bytes (Zipkin drops leading
/// zeros, and a 64-bit trace id is the low half of a 128-bit one).
fn hex_id<const N: usize>(text: &str) -> std::result::Result<[u8; N], String> {
    let digits = 2 * N;
    if text.is_empty() || text.len() > digits {
        return Err(format!(
            "{:?} is not 1 to {digits} hex characters",
            truncated(text)
        ));
    }
    let mut padded = [b'0'; 32];
    padded[digits - text.len()..digits].copy_from_slice(text.as_bytes());
    let mut out = [0u8; N];
    hex::decode_to_slice(&padded[..digits], &mut out)
        .map_err(|_| format!("{:?} is not hex", truncated(text)))?;
    Ok(out)
}

/// Zipkin's microseconds (an integer, or a number with a fraction) in nanoseconds.
fn micros_to_nanos(number: &serde_json::Number) -> std::result::Result<u64, String> {
    if let Some(micros) = number.as_u64() {
        return micros
            .checked_mul(1_000)
            .ok_or_else(|| format!("{micros} µs is out of range"));
    }
    match number.as_f64() {
        Some(micros) if micros.is_finite() && micros >= 0.0 && micros < u64::MAX as f64 / 1e3 => {
            // in range and not negative: the cast neither wraps nor saturates
            Ok((micros * 1e3).round() as u64)
        }
        _ => Err(format!("{number} is not a time in microseconds")),
    }
}

/// Takes a tag out of the (key-sorted) tags.
fn take<'a>(tags: &mut Vec<(Text<'a>, Text<'a>)>, key: &str) -> Option<Text<'a>> {
    let i = tags.binary_search_by(|(k, _)| k.as_str().cmp(key)).ok()?;
    Some(tags.remove(i).1)
}

/// The status the tags carry, taking its tags out: `otel.status_code` (`OK` or `ERROR`, with
/// `otel.status_description`), or else Zipkin's `error` tag, whose value is the message.
fn take_status<'a>(tags: &mut Vec<(Text<'a>, Text<'a>)>) -> Option<(StatusCode, Text<'a>)> {
    let code = tags
        .binary_search_by(|(k, _)| k.as_str().cmp("otel.status_code"))
        .ok()
        .map(|i| tags[i].1.as_str().to_ascii_uppercase());
    match code.as_deref() {
        Some("OK") => {
            take(tags, "otel.status_code");
            take(tags, "otel.status_description");
            Some((StatusCode::Ok, Text::default()))
        }
        Some("ERROR") => {
            take(tags, "otel.status_code");
            let description = take(tags, "otel.status_description");
            let tag = take(tags, "error");
            let message = description.or(tag.filter(|m| is_message(m.as_str())));
            Some((StatusCode::Error, message.unwrap_or_default()))
        }
        _ => take(tags, "error").map(|m| {
            let message = if is_message(m.as_str()) {
                m
            } else {
                Text::default()
            };
            (StatusCode::Error, message)
        }),
    }
}

/// A count the exporters write as a tag (`otel.dropped_*_count`), taken out when it is one.
fn take_count(tags: &mut Vec<(Text<'_>, Text<'_>)>, key: &str) -> u32 {
    let Ok(i) = tags.binary_search_by(|(k, _)| k.as_str().cmp(key)) else {
        return 0;
    };
    match tags[i].1.as_str().parse::<u32>() {
        Ok(count) => {
            tags.remove(i);
            count
        }
        Err(_) => 0,
    }
}

/// Whether an `error` tag's value says more than that there was an error.
fn is_message(value: &str) -> bool {
    !value.is_empty() && !value.eq_ignore_ascii_case("true")
}

fn take_either<'a>(tags: &mut Vec<(Text<'a>, Text<'a>)>, key: &str, old: &str) -> Option<Text<'a>> {
    let new = take(tags, key);
    let old = take(tags, old);
    new.or(old)
}

/// `<prefix>.address` and `<prefix>.port` of an endpoint (IPv4 preferred, as Zipkin does).
fn endpoint_attributes(endpoint: &Endpoint<'_>, prefix: &str, out: &mut Vec<u8>) {
    let address = [&endpoint.ipv4, &endpoint.ipv6]
        .into_iter()
        .flatten()
        .find(|a| !a.0.is_empty());
    if let Some(address) = address {
        pb::string_attribute(
            out,
            span_field::ATTRIBUTES,
            &format!("{prefix}.address"),
            address.as_str(),
        );
    }
    if let Some(port) = endpoint.port.filter(|p| (1..=65_535).contains(p)) {
        pb::int_attribute(out, span_field::ATTRIBUTES, &format!("{prefix}.port"), port);
    }
}

/// At most 40 characters of a client's text, for an error message.
fn truncated(text: &str) -> String {
    match text.char_indices().nth(40) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// Protobuf writing, for the few OTLP messages built here. proto3: empty strings and zero
/// numbers are left out, except inside an `AnyValue`, whose one field is always written.
mod pb {
    const VARINT: u64 = 0;
    const FIXED64: u64 = 1;
    const LEN: u64 = 2;

    fn varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    fn varint_len(v: u64) -> usize {
        (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
    }

    fn key(out: &mut Vec<u8>, field: u32, wire: u64) {
        varint(out, (u64::from(field) << 3) | wire);
    }

    /// A length-delimited field, also when empty (a message's presence).
    pub(super) fn message(out: &mut Vec<u8>, field: u32, body: &[u8]) {
        key(out, field, LEN);
        varint(out, body.len() as u64);
        out.extend_from_slice(body);
    }

    pub(super) fn bytes(out: &mut Vec<u8>, field: u32, data: &[u8]) {
        if !data.is_empty() {
            message(out, field, data);
        }
    }

    pub(super) fn string(out: &mut Vec<u8>, field: u32, text: &str) {
        bytes(out, field, text.as_bytes());
    }

    pub(super) fn varint_field(out: &mut Vec<u8>, field: u32, v: u64) {
        if v != 0 {
            key(out, field, VARINT);
            varint(out, v);
        }
    }

    pub(super) fn fixed64(out: &mut Vec<u8>, field: u32, v: u64) {
        if v != 0 {
            key(out, field, FIXED64);
            out.extend_from_slice(&v.to_le_bytes());
        }
    }

    /// Bytes of a string field in a message with field numbers under 16 (a one-byte key).
    fn string_len(text: &str) -> usize {
        if text.is_empty() {
            0
        } else {
            1 + varint_len(text.len() as u64) + text.len()
        }
    }

    /// The start of a `KeyValue { key, value: AnyValue }` whose `AnyValue` takes `any` bytes,
    /// up to where the `AnyValue`'s one field is written.
    fn key_value(out: &mut Vec<u8>, field: u32, key_text: &str, any: usize) {
        key(out, field, LEN);
        varint(
            out,
            (string_len(key_text) + 1 + varint_len(any as u64) + any) as u64,
        );
        string(out, 1, key_text); // KeyValue.key
        key(out, 2, LEN); // KeyValue.value
        varint(out, any as u64);
    }

    /// A `KeyValue { key, value: AnyValue { string_value } }`.
    pub(super) fn string_attribute(out: &mut Vec<u8>, field: u32, key_text: &str, value: &str) {
        key_value(
            out,
            field,
            key_text,
            1 + varint_len(value.len() as u64) + value.len(),
        );
        key(out, 1, LEN); // AnyValue.string_value
        varint(out, value.len() as u64);
        out.extend_from_slice(value.as_bytes());
    }

    /// A `KeyValue { key, value: AnyValue { int_value } }`.
    pub(super) fn int_attribute(out: &mut Vec<u8>, field: u32, key_text: &str, value: i64) {
        // two's complement, as protobuf writes a negative int64
        let v = value as u64;
        key_value(out, field, key_text, 1 + varint_len(v));
        key(out, 3, VARINT); // AnyValue.int_value
        varint(out, v);
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn varint_lengths_match_what_is_written() {
            for v in [
                0,
                1,
                127,
                128,
                16_383,
                16_384,
                u64::from(u32::MAX),
                u64::MAX,
            ] {
                let mut out = Vec::new();
                varint(&mut out, v);
                assert_eq!(out.len(), varint_len(v), "{v}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value};
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, Span, span, status};

    use super::*;

    fn from_json(json: &str) -> Result<(ExportTraceServiceRequest, usize)> {
        let (request, count) = to_otlp_protobuf(json.as_bytes(), Encoding::Json)?;
        let request = ExportTraceServiceRequest::decode(request.as_slice()).expect("OTLP protobuf");
        Ok((request, count))
    }

    fn one(json: &str) -> Result<(ResourceSpans, Span)> {
        let (request, count) = from_json(json)?;
        assert_eq!(count, 1);
        let resource = request.resource_spans.into_iter().next().expect("resource");
        let span = resource.scope_spans[0].spans[0].clone();
        Ok((resource, span))
    }

    fn attribute<'a>(span: &'a Span, key: &str) -> Option<&'a any_value::Value> {
        span.attributes
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| kv.value.as_ref()?.value.as_ref())
    }

    /// Keys with their string values (`None` for values of other types).
    fn texts(attributes: &[KeyValue]) -> Vec<(&str, Option<&str>)> {
        attributes
            .iter()
            .map(|kv| {
                (
                    kv.key.as_str(),
                    text(kv.value.as_ref().and_then(|v| v.value.as_ref())),
                )
            })
            .collect()
    }

    fn text(value: Option<&any_value::Value>) -> Option<&str> {
        match value {
            Some(any_value::Value::StringValue(s)) => Some(s),
            _ => None,
        }
    }

    /// What Envoy sends for the server side of a request.
    const ENVOY: &str = r#"[{
        "traceId": "5af7183fb1d4cf5f", "id": "6b221d5bc9e6496c", "parentId": "352bff9a74ca9ad2",
        "name": "ingress", "kind": "SERVER", "timestamp": 1556604172355737, "duration": 1431,
        "localEndpoint": {"serviceName": "frontend", "ipv4": "10.1.2.3", "port": 8080},
        "remoteEndpoint": {"serviceName": "gateway", "ipv6": "::1", "port": 443},
        "annotations": [{"timestamp": 1556604172355800, "value": "retry"}],
        "tags": {"http.method": "GET", "http.status_code": "503", "error": "true",
                 "otel.scope.name": "envoy", "otel.scope.version": "1.30"},
        "shared": true, "debug": false
    }]"#;

    #[test]
    fn an_envoy_span_maps_field_by_field() {
        let (resource, span) = one(ENVOY).expect("converts");
        let service = &resource.resource.as_ref().expect("present").attributes[0];
        assert_eq!(service.key, "service.name");
        assert_eq!(
            text(service.value.as_ref().expect("present").value.as_ref()),
            Some("frontend")
        );
        let scope = resource.scope_spans[0].scope.as_ref().expect("present");
        assert_eq!(
            (scope.name.as_str(), scope.version.as_str()),
            ("envoy", "1.30")
        );
        // a 64-bit trace id is the low half of the 128-bit one
        assert_eq!(
            hex::encode(&span.trace_id),
            "00000000000000005af7183fb1d4cf5f"
        );
        // shared with its client (Envoy's default): its own id, under the client's span
        let shared = hex::decode("6b221d5bc9e6496c").expect("hex");
        assert_eq!(span.parent_span_id, shared);
        assert_eq!(
            span.span_id,
            shared_server_id(shared.try_into().expect("8 bytes"))
        );
        assert_eq!(span.name, "ingress");
        assert_eq!(span.kind, span::SpanKind::Server as i32);
        assert_eq!(span.start_time_unix_nano, 1_556_604_172_355_737_000);
        assert_eq!(
            span.end_time_unix_nano - span.start_time_unix_nano,
            1_431_000
        );
        assert_eq!(text(attribute(&span, "http.method")), Some("GET"));
        assert_eq!(text(attribute(&span, "http.status_code")), Some("503"));
        assert_eq!(
            text(attribute(&span, "network.local.address")),
            Some("10.1.2.3")
        );
        assert_eq!(
            attribute(&span, "network.local.port"),
            Some(&any_value::Value::IntValue(8080))
        );
        assert_eq!(text(attribute(&span, "peer.service")), Some("gateway"));
        assert_eq!(text(attribute(&span, "network.peer.address")), Some("::1"));
        // the tags that became status and scope are not attributes too
        for gone in ["error", "otel.scope.name", "otel.scope.version"] {
            assert!(attribute(&span, gone).is_none(), "{gone}");
        }
        let status = span.status.as_ref().expect("present");
        assert_eq!(status.code, status::StatusCode::Error as i32);
        assert_eq!(status.message, "");
        assert_eq!(span.events.len(), 1);
        assert_eq!(span.events[0].name, "retry");
        assert_eq!(span.events[0].time_unix_nano, 1_556_604_172_355_800_000);
    }

    #[test]
    fn status_comes_from_otel_tags_or_the_error_tag() {
        let cases = [
            (
                r#"{"otel.status_code": "ERROR", "otel.status_description": "boom"}"#,
                Some((2, "boom")),
            ),
            (
                r#"{"otel.status_code": "ERROR", "error": "timeout"}"#,
                Some((2, "timeout")),
            ),
            (r#"{"otel.status_code": "OK"}"#, Some((1, ""))),
            (
                r#"{"error": "connection reset"}"#,
                Some((2, "connection reset")),
            ),
            (r#"{"error": ""}"#, Some((2, ""))),
            (r#"{"http.method": "GET"}"#, None),
        ];
        for (tags, want) in cases {
            let json =
                format!(r#"[{{"traceId": "1", "id": "2", "timestamp": 1, "tags": {tags}}}]"#);
            let (_, span) = one(&json).expect("converts");
            let got = span.status.as_ref().map(|s| (s.code, s.message.as_str()));
            assert_eq!(got, want, "{tags}");
            assert!(attribute(&span, "otel.status_code").is_none(), "{tags}");
        }
    }

    #[test]
    fn short_ids_are_padded_and_kinds_default_to_internal() {
        let (resource, span) =
            one(r#"[{"traceId": "a", "id": "b", "timestamp": 1.5, "tags": {"n": 7}}]"#)
                .expect("present");
        assert_eq!(hex::encode(&span.trace_id), format!("{:0>32}", "a"));
        assert_eq!(hex::encode(&span.span_id), "000000000000000b");
        assert!(span.parent_span_id.is_empty());
        assert_eq!(span.kind, span::SpanKind::Internal as i32);
        assert_eq!(span.start_time_unix_nano, 1_500);
        assert_eq!(span.end_time_unix_nano, 1_500);
        // non-string tag values are kept as their JSON text
        assert_eq!(text(attribute(&span, "n")), Some("7"));
        // no local endpoint: no service.name, the converter names it unknown_service
        assert!(resource.resource.expect("present").attributes.is_empty());
    }

    #[test]
    fn tag_values_of_every_json_type_escapes_and_repeated_keys() {
        let json = r#"[{"traceId": "1", "id": "1", "timestamp": 1, "name": "say \"hi\" \u00e9",
            "tags": {"b": true, "f": 1.0, "i": -3, "n": null, "o": {"x": [1, "y"]}, "s": "a\nb",
                     "dup": "first", "dup": "last", "e": ""}}]"#;
        let (_, span) = one(json).expect("converts");
        assert_eq!(span.name, "say \"hi\" é");
        let tags = texts(&span.attributes);
        assert_eq!(
            tags,
            [
                ("b", Some("true")),
                ("dup", Some("last")),
                ("e", Some("")),
                ("f", Some("1.0")),
                ("i", Some("-3")),
                ("n", Some("null")),
                ("o", Some(r#"{"x":[1,"y"]}"#)),
                ("s", Some("a\nb")),
            ]
        );
    }

    #[test]
    fn dropped_count_tags_become_the_spans_counts() {
        let json = r#"[{"traceId": "1", "id": "1", "timestamp": 1, "tags": {
            "otel.dropped_attributes_count": "3", "otel.dropped_events_count": "1",
            "otel.dropped_links_count": "many", "k": "v"}}]"#;
        let (_, span) = one(json).expect("converts");
        assert_eq!(
            (
                span.dropped_attributes_count,
                span.dropped_events_count,
                span.dropped_links_count
            ),
            (3, 1, 0)
        );
        // a tag that is not a count stays an attribute
        let keys: Vec<&str> = span.attributes.iter().map(|kv| kv.key.as_str()).collect();
        assert_eq!(keys, ["k", "otel.dropped_links_count"]);
    }

    #[test]
    fn annotations_in_the_exporters_event_form_keep_their_attributes() {
        let json = r#"[{"traceId": "1", "id": "1", "timestamp": 1, "annotations": [
            {"timestamp": 2, "value": "{\"exception\": {\"exception.type\": \"ValueError\", \"n\": 3}}"},
            {"timestamp": 3, "value": "{not json"},
            {"timestamp": 4, "value": "{\"a\": 1}"}
        ]}]"#;
        let (_, span) = one(json).expect("converts");
        let names: Vec<&str> = span.events.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["exception", "{not json", "{\"a\": 1}"]);
        let attributes = texts(&span.events[0].attributes);
        assert_eq!(
            attributes,
            [("exception.type", Some("ValueError")), ("n", Some("3"))]
        );
        assert!(span.events[1].attributes.is_empty());
    }

    #[test]
    fn a_shared_server_span_gets_its_own_id_under_the_client_span() {
        let json = r#"[
            {"traceId": "1", "id": "a", "parentId": "9", "kind": "CLIENT", "timestamp": 1},
            {"traceId": "1", "id": "a", "parentId": "9", "kind": "SERVER", "timestamp": 2, "shared": true},
            {"traceId": "1", "id": "b", "kind": "SERVER", "timestamp": 3}
        ]"#;
        let (request, _) = from_json(json).expect("converts");
        let spans = &request.resource_spans[0].scope_spans[0].spans;
        let (client, server, unshared) = (&spans[0], &spans[1], &spans[2]);
        assert_eq!(hex::encode(&client.span_id), "000000000000000a");
        assert_eq!(hex::encode(&client.parent_span_id), "0000000000000009");
        assert_eq!(server.parent_span_id, client.span_id);
        assert_ne!(server.span_id, client.span_id);
        assert_ne!(server.span_id, vec![0; 8]);
        // the same shared id always maps to the same server id: a resent request is one span
        let (again, _) = from_json(json).expect("converts");
        assert_eq!(
            again.resource_spans[0].scope_spans[0].spans[1].span_id,
            server.span_id
        );
        // a server span that is not shared keeps its ids
        assert_eq!(hex::encode(&unshared.span_id), "000000000000000b");
        assert!(unshared.parent_span_id.is_empty());
        // no input maps to zero or to itself
        for id in [0u64, 1, u64::MAX, 0x9e37_79b9_7f4a_7c15] {
            let mapped = shared_server_id(id.to_be_bytes());
            assert!(mapped != [0; 8] && mapped != id.to_be_bytes(), "{id:#x}");
        }
    }

    #[test]
    fn spans_group_by_service_then_scope() {
        let json = r#"[
            {"traceId": "1", "id": "1", "timestamp": 1, "localEndpoint": {"serviceName": "a"}},
            {"traceId": "1", "id": "2", "timestamp": 1, "localEndpoint": {"serviceName": "b"}},
            {"traceId": "1", "id": "3", "timestamp": 1, "localEndpoint": {"serviceName": "a"},
             "tags": {"otel.library.name": "lib"}},
            {"traceId": "1", "id": "4", "timestamp": 1, "localEndpoint": {"serviceName": "a"}}
        ]"#;
        let (request, count) = from_json(json).expect("converts");
        assert_eq!(count, 4);
        let shape: Vec<Vec<(String, Vec<u8>)>> = request
            .resource_spans
            .iter()
            .map(|r| {
                r.scope_spans
                    .iter()
                    .map(|s| {
                        let name = s.scope.as_ref().expect("present").name.clone();
                        (name, s.spans.iter().map(|sp| sp.span_id[7]).collect())
                    })
                    .collect()
            })
            .collect();
        assert_eq!(
            shape,
            vec![
                vec![(String::new(), vec![1, 4]), ("lib".to_owned(), vec![3])],
                vec![(String::new(), vec![2])],
            ]
        );
    }

    #[test]
    fn bad_spans_are_refused_with_the_span_and_field_named() {
        let cases = [
            ("{}", "invalid Zipkin v2 JSON"),
            (
                "[{\"id\": \"1\", \"timestamp\": 1}]",
                "missing field `traceId`",
            ),
            (
                r#"[{"traceId": "xyz", "id": "1", "timestamp": 1}]"#,
                "span 0: traceId \"xyz\" is not hex",
            ),
            (
                r#"[{"traceId": "1", "id": "1", "timestamp": 1}, {"traceId": "1", "id": "12345678901234567", "timestamp": 1}]"#,
                "span 1: id \"12345678901234567\" is not 1 to 16 hex characters",
            ),
            (
                r#"[{"traceId": "1", "id": "", "timestamp": 1}]"#,
                "span 0: id \"\" is not 1 to 16",
            ),
            (
                r#"[{"traceId": "1", "id": "1", "parentId": "zz", "timestamp": 1}]"#,
                "span 0: parentId",
            ),
            (
                r#"[{"traceId": "1", "id": "1"}]"#,
                "span 0: timestamp is missing",
            ),
            (
                r#"[{"traceId": "1", "id": "1", "timestamp": -5}]"#,
                "span 0: timestamp -5 is not a time",
            ),
            (
                r#"[{"traceId": "1", "id": "1", "timestamp": 18446744073709551615}]"#,
                "out of range",
            ),
            (
                r#"[{"traceId": "1", "id": "1", "timestamp": 1, "duration": 1e300}]"#,
                "span 0: duration",
            ),
            (
                r#"[{"traceId": "1", "id": "1", "timestamp": 1, "kind": "SIDEWAYS"}]"#,
                "span 0: kind \"SIDEWAYS\"",
            ),
            (
                r#"[{"traceId": "1", "id": "1", "timestamp": 1, "annotations": [{"timestamp": "x", "value": "v"}]}]"#,
                "invalid Zipkin v2 JSON",
            ),
        ];
        for (json, want) in cases {
            match from_json(json) {
                Err(Error::InvalidArgument(message)) => {
                    assert!(message.contains(want), "{json}: {message}")
                }
                other => panic!("{json}: {other:?}"),
            }
        }
    }

    #[test]
    fn content_types() {
        for (value, want) in [
            (None, Encoding::Json),
            (Some("application/json; charset=utf-8"), Encoding::Json),
            (Some("application/x-protobuf"), Encoding::Protobuf),
        ] {
            assert_eq!(content_type(value).expect("accepted"), want, "{value:?}");
        }
        for refused in ["text/plain", "application/x-thrift"] {
            assert!(matches!(
                content_type(Some(refused)),
                Err(Error::UnsupportedMediaType(_))
            ));
        }
    }

    /// `ENVOY` as a `ListOfSpans`, as Envoy's `HTTP_PROTO` collector endpoint sends it.
    fn envoy_protobuf() -> proto::Span {
        let bytes = |h: &str| hex::decode(h).expect("hex");
        proto::Span {
            trace_id: bytes("5af7183fb1d4cf5f"),
            parent_id: bytes("352bff9a74ca9ad2"),
            id: bytes("6b221d5bc9e6496c"),
            kind: 2,
            name: "ingress".into(),
            timestamp: 1_556_604_172_355_737,
            duration: 1_431,
            local_endpoint: Some(proto::Endpoint {
                service_name: "frontend".into(),
                ipv4: vec![10, 1, 2, 3],
                ipv6: Vec::new(),
                port: 8080,
            }),
            remote_endpoint: Some(proto::Endpoint {
                service_name: "gateway".into(),
                ipv4: Vec::new(),
                ipv6: std::net::Ipv6Addr::LOCALHOST.octets().to_vec(),
                port: 443,
            }),
            annotations: vec![proto::Annotation {
                timestamp: 1_556_604_172_355_800,
                value: "retry".into(),
            }],
            tags: [
                ("http.method", "GET"),
                ("http.status_code", "503"),
                ("error", "true"),
                ("otel.scope.name", "envoy"),
                ("otel.scope.version", "1.30"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
            debug: false,
            shared: true,
        }
    }

    fn from_protobuf(spans: Vec<proto::Span>) -> Result<(ExportTraceServiceRequest, usize)> {
        let body = proto::ListOfSpans { spans }.encode_to_vec();
        let (request, count) = to_otlp_protobuf(&body, Encoding::Protobuf)?;
        let request = ExportTraceServiceRequest::decode(request.as_slice()).expect("OTLP protobuf");
        Ok((request, count))
    }

    #[test]
    fn protobuf_and_json_of_one_span_make_the_same_otlp_span() {
        let from_proto = from_protobuf(vec![envoy_protobuf()]).expect("converts");
        assert_eq!(from_proto, from_json(ENVOY).expect("converts"));
    }

    #[test]
    fn bad_protobuf_spans_are_refused_with_the_span_and_field_named() {
        let body_error = decode_protobuf(b"\x0a\x05\x0a").map(|_| ());
        assert!(
            matches!(&body_error, Err(Error::InvalidArgument(m)) if m.starts_with("invalid Zipkin ListOfSpans protobuf")),
            "{body_error:?}"
        );
        type Break = fn(&mut proto::Span);
        let cases: [(Break, &str); 5] = [
            (|s| s.trace_id = vec![1; 20], "span 1: traceId"),
            (
                |s| s.id.clear(),
                "span 1: id \"\" is not 1 to 16 hex characters",
            ),
            (|s| s.parent_id = vec![1; 9], "span 1: parentId"),
            (|s| s.kind = 9, "span 1: kind \"9\""),
            (|s| s.timestamp = 0, "span 1: timestamp is missing"),
        ];
        for (break_it, want) in cases {
            let mut bad = envoy_protobuf();
            break_it(&mut bad);
            match from_protobuf(vec![envoy_protobuf(), bad]) {
                Err(Error::InvalidArgument(message)) => {
                    assert!(message.contains(want), "{want}: {message}")
                }
                other => panic!("{want}: {other:?}"),
            }
        }
    }

    #[test]
    fn long_client_text_is_cut_in_messages() {
        let long = "é".repeat(100);
        let cut = truncated(&long);
        assert_eq!(cut.chars().count(), 41);
        assert!(cut.ends_with('…'));
    }
}
