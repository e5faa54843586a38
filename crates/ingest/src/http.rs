//! OTLP/HTTP receiver: `POST /v1/traces`, `/v1/metrics` and `/v1/logs` with protobuf or JSON
//! bodies, optionally compressed.
//!
//! Answers follow the OTLP/HTTP specification: the export response in the request's encoding,
//! errors as a `google.rpc.Status` in that encoding, retryable refusals as 503 with
//! `Retry-After`.

use std::future::Future;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::Bytes;
use http::header::{CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderMap, HeaderValue, StatusCode};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;

use crate::body::{Encoding, decompress};
use crate::error::{Error, Result, retry_after_secs};
use crate::otlp_json;
use crate::pipeline::{Admission, Ingestor, Protocol, refused};

/// The OTLP/HTTP routes (`/v1/traces`, `/v1/metrics`, `/v1/logs`).
pub fn router(ingestor: Ingestor) -> Router {
    Router::new()
        .route("/v1/traces", post(export::<Traces>))
        .route("/v1/metrics", post(export::<Metrics>))
        .route("/v1/logs", post(export::<Logs>))
        .with_state(ingestor)
}

/// One OTLP signal on OTLP/HTTP: its messages, decoders and ingest call.
trait HttpSignal: Send + 'static {
    const REQUEST: &'static str;
    type Request: Message + Default + Send;
    type Response: Message + Send;
    fn decode_json(raw: &[u8]) -> std::result::Result<Self::Request, otlp_json::JsonError>;
    fn encode_json(response: &Self::Response) -> Vec<u8>;
    /// Decodes and ingests one (decompressed) request body.
    fn export(
        ingestor: &Ingestor,
        raw: Bytes,
        encoding: Encoding,
        protocol: Protocol,
    ) -> impl Future<Output = Result<Self::Response>> + Send;
}

/// Decodes a request body in either encoding; a body that does not decode is refused.
fn decode<S: HttpSignal>(raw: Bytes, encoding: Encoding, protocol: Protocol) -> Result<S::Request> {
    match encoding {
        Encoding::Protobuf => S::Request::decode(raw)
            .map_err(|e| Error::InvalidArgument(format!("invalid {} protobuf: {e}", S::REQUEST))),
        Encoding::Json => S::decode_json(&raw)
            .map_err(|e| Error::InvalidArgument(format!("invalid OTLP/JSON: {e}"))),
    }
    .map_err(|e| refused(protocol, e))
}

struct Traces;
struct Metrics;
struct Logs;

impl HttpSignal for Traces {
    const REQUEST: &'static str = "ExportTraceServiceRequest";
    type Request = ExportTraceServiceRequest;
    type Response = ExportTraceServiceResponse;
    fn decode_json(raw: &[u8]) -> std::result::Result<Self::Request, otlp_json::JsonError> {
        otlp_json::decode_traces(raw)
    }
    fn encode_json(response: &Self::Response) -> Vec<u8> {
        otlp_json::encode_trace_response(response)
    }
    /// Protobuf bodies are read in place; JSON is decoded, then takes the same path.
    async fn export(
        ingestor: &Ingestor,
        raw: Bytes,
        encoding: Encoding,
        protocol: Protocol,
    ) -> Result<Self::Response> {
        let body = match encoding {
            Encoding::Protobuf => raw,
            Encoding::Json => decode::<Self>(raw, encoding, protocol)?
                .encode_to_vec()
                .into(),
        };
        ingestor.export_traces(body, protocol).await
    }
}

impl HttpSignal for Metrics {
    const REQUEST: &'static str = "ExportMetricsServiceRequest";
    type Request = ExportMetricsServiceRequest;
    type Response = ExportMetricsServiceResponse;
    fn decode_json(raw: &[u8]) -> std::result::Result<Self::Request, otlp_json::JsonError> {
        otlp_json::decode_metrics(raw)
    }
    fn encode_json(response: &Self::Response) -> Vec<u8> {
        otlp_json::encode_metrics_response(response)
    }
    async fn export(
        ingestor: &Ingestor,
        raw: Bytes,
        encoding: Encoding,
        protocol: Protocol,
    ) -> Result<Self::Response> {
        let request = decode::<Self>(raw, encoding, protocol)?;
        ingestor.export_metrics(request, protocol).await
    }
}

impl HttpSignal for Logs {
    const REQUEST: &'static str = "ExportLogsServiceRequest";
    type Request = ExportLogsServiceRequest;
    type Response = ExportLogsServiceResponse;
    fn decode_json(raw: &[u8]) -> std::result::Result<Self::Request, otlp_json::JsonError> {
        otlp_json::decode_logs(raw)
    }
    fn encode_json(response: &Self::Response) -> Vec<u8> {
        otlp_json::encode_logs_response(response)
    }
    async fn export(
        ingestor: &Ingestor,
        raw: Bytes,
        encoding: Encoding,
        protocol: Protocol,
    ) -> Result<Self::Response> {
        let request = decode::<Self>(raw, encoding, protocol)?;
        ingestor.export_logs(request, protocol).await
    }
}

async fn export<S: HttpSignal>(
    State(ingestor): State<Ingestor>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let encoding = match Encoding::from_content_type(header(&headers, CONTENT_TYPE)) {
        Ok(e) => e,
        Err(e) => return error_response(refused(Protocol::HttpProtobuf, e), Encoding::Json),
    };
    let protocol = match encoding {
        Encoding::Protobuf => Protocol::HttpProtobuf,
        Encoding::Json => Protocol::HttpJson,
    };
    match handle::<S>(&ingestor, &headers, body, encoding, protocol).await {
        Ok(bytes) => (
            StatusCode::OK,
            [(
                CONTENT_TYPE,
                HeaderValue::from_static(encoding.content_type()),
            )],
            bytes,
        )
            .into_response(),
        Err(e) => error_response(e, encoding),
    }
}

async fn handle<S: HttpSignal>(
    ingestor: &Ingestor,
    headers: &HeaderMap,
    body: Body,
    encoding: Encoding,
    protocol: Protocol,
) -> Result<Vec<u8>> {
    let (raw, _admission) = receive(ingestor, headers, body, protocol).await?;
    let response = S::export(ingestor, raw, encoding, protocol).await?;
    Ok(match encoding {
        Encoding::Protobuf => response.encode_to_vec(),
        Encoding::Json => S::encode_json(&response),
    })
}

/// What every HTTP receiver does before it decodes: waits for storage to have room, reads the
/// body within the size limit, reserves in-flight memory for it (held until the returned
/// [`Admission`] drops) and decompresses it.
pub(crate) async fn receive(
    ingestor: &Ingestor,
    headers: &HeaderMap,
    body: Body,
    protocol: Protocol,
) -> Result<(Bytes, Admission)> {
    ingestor.wait_for_room(protocol).await?;
    let limits = ingestor.limits();
    let wire = read_body(headers, body, limits.max_request_bytes)
        .await
        .map_err(|e| refused(protocol, e))?;
    let admission = ingestor.admit(wire.len(), protocol)?;
    let raw = decompress(
        header(headers, CONTENT_ENCODING),
        wire,
        limits.max_decompressed_bytes,
    )
    .map_err(|e| refused(protocol, e))?;
    Ok((raw, admission))
}

/// A request body of at most `limit` bytes (the declared length is checked first).
async fn read_body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Bytes> {
    let too_large = || Error::TooLarge(format!("request body exceeds the limit of {limit} bytes"));
    let declared = header(headers, CONTENT_LENGTH).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Err(e) => Err(Error::InvalidArgument(format!(
            "reading the request body: {e}"
        ))),
    }
}

pub(crate) fn header(headers: &HeaderMap, name: http::header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `google.rpc.Status`, the body of OTLP/HTTP error responses.
#[derive(Clone, PartialEq, Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

fn error_response(error: Error, encoding: Encoding) -> Response {
    let status = log_refusal(&error, "otlp/http");
    let rpc = RpcStatus {
        code: error.grpc_code() as i32,
        message: error.to_string(),
    };
    let body = match encoding {
        Encoding::Protobuf => rpc.encode_to_vec(),
        Encoding::Json => serde_json::json!({ "code": rpc.code, "message": rpc.message })
            .to_string()
            .into_bytes(),
    };
    let mut response = (
        status,
        [(
            CONTENT_TYPE,
            HeaderValue::from_static(encoding.content_type()),
        )],
        body,
    )
        .into_response();
    add_retry_after(&mut response, &error);
    response
}

/// Logs a failed request (an error when the server failed, a debug line when it refused) and
/// returns its HTTP status.
pub(crate) fn log_refusal(error: &Error, receiver: &str) -> StatusCode {
    let status = error.http_status();
    if status.is_server_error() && error.retry_after().is_none() {
        tracing::error!(error = %error, receiver, "request failed");
    } else {
        tracing::debug!(error = %error, receiver, status = status.as_u16(), "request refused");
    }
    status
}

/// `Retry-After` on a response to an error the client should retry.
pub(crate) fn add_retry_after(response: &mut Response, error: &Error) {
    if let Some(delay) = error.retry_after() {
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(retry_after_secs(delay)));
    }
}
