//! Sending request bodies over OTLP/gRPC and OTLP/HTTP, and reading what the server said.
//!
//! Both transports send pre-built bodies as they are (see [`crate::payload`]), so the bytes
//! on the wire are the bytes `--write-payloads` stores. gRPC goes through a tonic
//! `Channel` (HTTP/2, h2c for `http://` endpoints) with the gRPC framing done here; the
//! response status comes from the trailers (or a trailers-only response).
//!
//! Classification follows the OTLP specification's retry rules:
//! - HTTP 429, 502, 503, 504 are retryable and honour `Retry-After: <seconds>`; other
//!   non-2xx statuses reject the batch (reason `http_<status>`).
//! - gRPC UNAVAILABLE and RESOURCE_EXHAUSTED are retryable (plus CANCELLED,
//!   DEADLINE_EXCEEDED, ABORTED, OUT_OF_RANGE, DATA_LOSS, which the specification also
//!   lists), with the delay of a `google.rpc.RetryInfo` in `grpc-status-details-bin`
//!   when present; other codes reject the batch (reason `grpc_<code>`).
//! - Connection errors and timeouts are retryable (reason `transport_error` / `timeout`).

use std::time::Duration;

use bytes::Bytes;
use http::header::{
    CONTENT_ENCODING, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER,
};
use http_body_util::{BodyExt as _, Full};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message as _;
use tonic::codegen::Service as _;

use crate::error::{Error, Result};
use crate::json::decode_base64;
use crate::payload::{Compression, Protocol, gunzip, unframe};

const USER_AGENT: &str = concat!("meshscope-loadgen/", env!("CARGO_PKG_VERSION"));
const GRPC_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// What the server made of one request.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Accepted; `rejected_spans` from `partial_success` (0 when absent).
    Accepted {
        rejected_spans: u64,
        message: String,
    },
    /// Try again later, after `delay` if the server said so.
    Retryable {
        reason: String,
        delay: Option<Duration>,
        message: String,
    },
    /// Refused for good.
    Rejected { reason: String, message: String },
}

impl Outcome {
    /// Whether the server answered (false for connection errors and timeouts).
    pub fn answered(&self) -> bool {
        !matches!(self, Outcome::Retryable { reason, .. } if reason == TRANSPORT_ERROR || reason == TIMEOUT)
    }
}

const TRANSPORT_ERROR: &str = "transport_error";
const TIMEOUT: &str = "timeout";

/// A transport for one endpoint.
pub enum Transport {
    Http(HttpTransport),
    Grpc(GrpcTransport),
}

impl Transport {
    /// Sets up the transport. Must be called inside a tokio runtime (gRPC connects lazily).
    pub fn new(
        protocol: Protocol,
        endpoint: &str,
        compression: Compression,
        headers: &[(String, String)],
        timeout: Duration,
    ) -> Result<Self> {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            let name = HeaderName::from_bytes(k.trim().to_ascii_lowercase().as_bytes())
                .map_err(|e| Error::Config(format!("bad header name {k:?}: {e}")))?;
            let value = HeaderValue::from_str(v.trim())
                .map_err(|e| Error::Config(format!("bad header value for {k}: {e}")))?;
            map.append(name, value);
        }
        let gzip = compression == Compression::Gzip;
        Ok(match protocol {
            Protocol::Grpc => {
                let channel = tonic::transport::Endpoint::from_shared(endpoint.to_string())
                    .map_err(|e| Error::Transport(format!("bad grpc endpoint {endpoint:?}: {e}")))?
                    .timeout(timeout)
                    .connect_timeout(timeout)
                    .tcp_nodelay(true)
                    .connect_lazy();
                Transport::Grpc(GrpcTransport {
                    channel,
                    headers: map,
                    gzip,
                    timeout,
                })
            }
            Protocol::HttpProto | Protocol::HttpJson | Protocol::ZipkinJson => {
                let path = if protocol == Protocol::ZipkinJson {
                    "/api/v2/spans"
                } else {
                    "/v1/traces"
                };
                let trimmed = endpoint.trim_end_matches('/');
                let url = if trimmed.ends_with(path) {
                    trimmed.to_string()
                } else {
                    format!("{trimmed}{path}")
                };
                let url = reqwest::Url::parse(&url)
                    .map_err(|e| Error::Transport(format!("bad endpoint {url:?}: {e}")))?;
                let client = reqwest::Client::builder()
                    .timeout(timeout)
                    .connect_timeout(timeout)
                    .tcp_nodelay(true)
                    .user_agent(USER_AGENT)
                    .build()
                    .map_err(|e| Error::Transport(e.to_string()))?;
                let content_type = if protocol != Protocol::HttpProto {
                    "application/json"
                } else {
                    "application/x-protobuf"
                };
                Transport::Http(HttpTransport {
                    client,
                    url,
                    content_type,
                    headers: map,
                    gzip,
                })
            }
        })
    }

    /// Sends one body and classifies the answer.
    pub async fn send(&self, body: Bytes) -> Outcome {
        match self {
            Transport::Http(t) => t.send(body).await,
            Transport::Grpc(t) => t.send(body).await,
        }
    }
}

/// OTLP/HTTP via reqwest.
pub struct HttpTransport {
    client: reqwest::Client,
    url: reqwest::Url,
    content_type: &'static str,
    headers: HeaderMap,
    gzip: bool,
}

impl HttpTransport {
    async fn send(&self, body: Bytes) -> Outcome {
        let mut req = self
            .client
            .post(self.url.clone())
            .headers(self.headers.clone())
            .header(CONTENT_TYPE, self.content_type)
            .body(body);
        if self.gzip {
            req = req.header(CONTENT_ENCODING, "gzip");
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => return transport_error(e.is_timeout(), &e),
        };
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = match resp.bytes().await {
            Ok(b) => b,
            Err(e) => return transport_error(e.is_timeout(), &e),
        };
        let body = if headers
            .get(CONTENT_ENCODING)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"))
        {
            gunzip(&body).map(Bytes::from).unwrap_or(body)
        } else {
            body
        };
        let json = headers
            .get(CONTENT_TYPE)
            .is_some_and(|v| v.to_str().is_ok_and(|s| s.contains("json")));
        classify_http(status, headers.get(RETRY_AFTER), json, &body)
    }
}

fn transport_error(timeout: bool, e: &(dyn std::error::Error + 'static)) -> Outcome {
    // Transport errors hide the useful part (refused, reset, ...) in their sources.
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    Outcome::Retryable {
        reason: if timeout {
            TIMEOUT.into()
        } else {
            TRANSPORT_ERROR.into()
        },
        delay: None,
        message,
    }
}

/// Classifies an OTLP/HTTP response.
pub(crate) fn classify_http(
    status: u16,
    retry_after: Option<&HeaderValue>,
    json: bool,
    body: &[u8],
) -> Outcome {
    if (200..300).contains(&status) {
        let (rejected_spans, message) = if json {
            partial_success_json(body)
        } else {
            partial_success_pb(body)
        };
        return Outcome::Accepted {
            rejected_spans,
            message,
        };
    }
    let message = error_message(json, body);
    if matches!(status, 429 | 502 | 503 | 504) {
        let delay = retry_after
            .and_then(|v| v.to_str().ok())
            .and_then(|s| s.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        return Outcome::Retryable {
            reason: format!("http_{status}"),
            delay,
            message,
        };
    }
    Outcome::Rejected {
        reason: format!("http_{status}"),
        message,
    }
}

fn partial_success_pb(body: &[u8]) -> (u64, String) {
    match ExportTraceServiceResponse::decode(body) {
        Ok(r) => r
            .partial_success
            .map(|p| {
                (
                    u64::try_from(p.rejected_spans).unwrap_or(0),
                    p.error_message,
                )
            })
            .unwrap_or_default(),
        Err(_) => (0, String::new()),
    }
}

fn partial_success_json(body: &[u8]) -> (u64, String) {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return (0, String::new());
    };
    let p = if v.get("partialSuccess").is_some() {
        &v["partialSuccess"]
    } else {
        &v["partial_success"]
    };
    let r = if p.get("rejectedSpans").is_some() {
        &p["rejectedSpans"]
    } else {
        &p["rejected_spans"]
    };
    // int64 is a string in OTLP/JSON, but accept a number too.
    let rejected = r
        .as_u64()
        .or_else(|| r.as_str().and_then(|s| s.parse().ok()))
        .unwrap_or(0);
    let msg = p
        .get("errorMessage")
        .or_else(|| p.get("error_message"))
        .and_then(|m| m.as_str())
        .unwrap_or("");
    (rejected, msg.to_string())
}

/// The message of an error body (a `google.rpc.Status` in protobuf or JSON, or text).
fn error_message(json: bool, body: &[u8]) -> String {
    if json {
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body)
            && let Some(m) = v.get("message").and_then(|m| m.as_str())
        {
            return m.to_string();
        }
    } else if let Ok(s) = RpcStatus::decode(body)
        && !s.message.is_empty()
    {
        return s.message;
    }
    String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned()
}

/// OTLP/gRPC over a tonic channel.
pub struct GrpcTransport {
    channel: tonic::transport::Channel,
    headers: HeaderMap,
    gzip: bool,
    timeout: Duration,
}

impl GrpcTransport {
    async fn send(&self, body: Bytes) -> Outcome {
        let mut req = http::Request::new(tonic::body::Body::new(Full::new(body)));
        *req.method_mut() = http::Method::POST;
        *req.uri_mut() = http::Uri::from_static(GRPC_PATH);
        *req.version_mut() = http::Version::HTTP_2;
        let h = req.headers_mut();
        h.clone_from(&self.headers);
        h.insert(CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
        h.insert("te", HeaderValue::from_static("trailers"));
        h.insert("user-agent", HeaderValue::from_static(USER_AGENT));
        h.insert("grpc-accept-encoding", HeaderValue::from_static("gzip"));
        if self.gzip {
            h.insert("grpc-encoding", HeaderValue::from_static("gzip"));
        }
        let mut channel = self.channel.clone();
        let call = async {
            std::future::poll_fn(|cx| channel.poll_ready(cx)).await?;
            let resp = channel.call(req).await?;
            let (parts, body) = resp.into_parts();
            let collected = body.collect().await.map_err(Box::new)?;
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>((parts, collected))
        };
        let (parts, collected) = match tokio::time::timeout(self.timeout, call).await {
            Err(e) => return transport_error(true, &e),
            Ok(Err(e)) => return transport_error(false, &*e),
            Ok(Ok(r)) => r,
        };
        let trailers = collected.trailers().cloned();
        let data = collected.to_bytes();
        if parts.status != http::StatusCode::OK {
            // gRPC's HTTP-to-gRPC status mapping.
            let code = match parts.status.as_u16() {
                400 => 13,
                401 => 16,
                403 => 7,
                404 => 12,
                429 | 502 | 503 | 504 => 14,
                _ => 2,
            };
            let retry = parts.headers.get(RETRY_AFTER);
            let delay = retry
                .and_then(|v| v.to_str().ok())
                .and_then(|s| s.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            return classify_grpc(code, format!("http status {}", parts.status), delay);
        }
        let src = match &trailers {
            Some(t) if t.contains_key("grpc-status") => t,
            _ => &parts.headers,
        };
        let code = src
            .get("grpc-status")
            .and_then(|v| v.to_str().ok())
            .and_then(|s| s.trim().parse::<i32>().ok())
            .unwrap_or(2);
        let message = src
            .get("grpc-message")
            .map(|v| percent_decode(v.as_bytes()))
            .unwrap_or_default();
        if code != 0 {
            let details = src
                .get("grpc-status-details-bin")
                .and_then(|v| decode_base64(v.as_bytes()));
            let delay = details.as_deref().and_then(retry_info_delay);
            return classify_grpc(code, message, delay);
        }
        let Some((compressed, msg)) = unframe(&data) else {
            // OK without a message: treat as a full success.
            return Outcome::Accepted {
                rejected_spans: 0,
                message,
            };
        };
        let plain;
        let msg = if compressed {
            match gunzip(msg) {
                Ok(p) => {
                    plain = p;
                    &plain[..]
                }
                Err(_) => {
                    return Outcome::Accepted {
                        rejected_spans: 0,
                        message,
                    };
                }
            }
        } else {
            msg
        };
        let (rejected_spans, m) = partial_success_pb(msg);
        Outcome::Accepted {
            rejected_spans,
            message: if m.is_empty() { message } else { m },
        }
    }
}

/// The lowercase name of a gRPC status code.
pub(crate) fn grpc_code_name(code: i32) -> &'static str {
    match code {
        0 => "ok",
        1 => "cancelled",
        2 => "unknown",
        3 => "invalid_argument",
        4 => "deadline_exceeded",
        5 => "not_found",
        6 => "already_exists",
        7 => "permission_denied",
        8 => "resource_exhausted",
        9 => "failed_precondition",
        10 => "aborted",
        11 => "out_of_range",
        12 => "unimplemented",
        13 => "internal",
        14 => "unavailable",
        15 => "data_loss",
        16 => "unauthenticated",
        _ => "unknown",
    }
}

/// Classifies a non-OK gRPC status.
pub(crate) fn classify_grpc(code: i32, message: String, delay: Option<Duration>) -> Outcome {
    let reason = format!("grpc_{}", grpc_code_name(code));
    // UNAVAILABLE and RESOURCE_EXHAUSTED are retried with or without RetryInfo; the OTLP
    // spec only retries RESOURCE_EXHAUSTED with RetryInfo, but a load generator should
    // keep offering load to a server that sheds it.
    if matches!(code, 1 | 4 | 8 | 10 | 11 | 14 | 15) {
        Outcome::Retryable {
            reason,
            delay,
            message,
        }
    } else {
        Outcome::Rejected { reason, message }
    }
}

fn percent_decode(b: &[u8]) -> String {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let Ok(v) =
                u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16)
        {
            out.push(v);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `google.rpc.Status`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct RpcStatus {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
    #[prost(message, repeated, tag = "3")]
    pub details: Vec<ProtoAny>,
}

/// `google.protobuf.Any`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct ProtoAny {
    #[prost(string, tag = "1")]
    pub type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    pub value: Vec<u8>,
}

/// `google.rpc.RetryInfo`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct RetryInfo {
    #[prost(message, optional, tag = "1")]
    pub retry_delay: Option<ProtoDuration>,
}

/// `google.protobuf.Duration`.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct ProtoDuration {
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

#[cfg(test)]
pub(crate) const RETRY_INFO_TYPE: &str = "type.googleapis.com/google.rpc.RetryInfo";

/// The RetryInfo delay inside an encoded `google.rpc.Status`, if any.
pub(crate) fn retry_info_delay(status: &[u8]) -> Option<Duration> {
    let s = RpcStatus::decode(status).ok()?;
    let any = s
        .details
        .iter()
        .find(|d| d.type_url.ends_with("google.rpc.RetryInfo"))?;
    let d = RetryInfo::decode(&any.value[..]).ok()?.retry_delay?;
    let secs = u64::try_from(d.seconds).ok()?;
    let nanos = u32::try_from(d.nanos).ok()?;
    Some(Duration::new(secs, nanos.min(999_999_999)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTracePartialSuccess;

    #[test]
    fn http_statuses_are_classified_per_otlp() {
        let ra = HeaderValue::from_static("3");
        assert_eq!(
            classify_http(503, Some(&ra), false, b""),
            Outcome::Retryable {
                reason: "http_503".into(),
                delay: Some(Duration::from_secs(3)),
                message: String::new()
            }
        );
        for s in [429, 502, 504] {
            assert!(matches!(
                classify_http(s, None, false, b""),
                Outcome::Retryable { delay: None, .. }
            ));
        }
        for s in [400, 401, 403, 404, 413, 500] {
            assert!(
                matches!(classify_http(s, None, false, b""), Outcome::Rejected { .. }),
                "{s}"
            );
        }
        let ok = ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess {
                rejected_spans: 7,
                error_message: "too old".into(),
            }),
        };
        assert_eq!(
            classify_http(200, None, false, &ok.encode_to_vec()),
            Outcome::Accepted {
                rejected_spans: 7,
                message: "too old".into()
            }
        );
        let json = br#"{"partialSuccess":{"rejectedSpans":"5","errorMessage":"x"}}"#;
        assert_eq!(
            classify_http(200, None, true, json),
            Outcome::Accepted {
                rejected_spans: 5,
                message: "x".into()
            }
        );
        let json_num = br#"{"partialSuccess":{"rejectedSpans":4}}"#;
        assert!(matches!(
            classify_http(200, None, true, json_num),
            Outcome::Accepted {
                rejected_spans: 4,
                ..
            }
        ));
        assert!(matches!(
            classify_http(200, None, true, b"{}"),
            Outcome::Accepted {
                rejected_spans: 0,
                ..
            }
        ));
    }

    #[test]
    fn retry_info_is_read_from_status_details() {
        let ri = RetryInfo {
            retry_delay: Some(ProtoDuration {
                seconds: 2,
                nanos: 500_000_000,
            }),
        };
        let st = RpcStatus {
            code: 14,
            message: "busy".into(),
            details: vec![ProtoAny {
                type_url: RETRY_INFO_TYPE.into(),
                value: ri.encode_to_vec(),
            }],
        };
        assert_eq!(
            retry_info_delay(&st.encode_to_vec()),
            Some(Duration::from_millis(2500))
        );
        assert_eq!(
            retry_info_delay(&RpcStatus::default().encode_to_vec()),
            None
        );
        assert!(matches!(
            classify_grpc(14, String::new(), None),
            Outcome::Retryable { .. }
        ));
        assert!(matches!(
            classify_grpc(8, String::new(), None),
            Outcome::Retryable { .. }
        ));
        assert_eq!(
            classify_grpc(3, "bad".into(), None),
            Outcome::Rejected {
                reason: "grpc_invalid_argument".into(),
                message: "bad".into()
            }
        );
        assert_eq!(percent_decode(b"a%20b%zz"), "a b%zz");
    }
}
