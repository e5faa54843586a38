//! OTLP/gRPC receivers: `opentelemetry.proto.collector.trace.v1.TraceService/Export`, and the
//! metrics and logs services (`MetricsService/Export`, `LogsService/Export`), one generic
//! service per [`GrpcSignal`].
//!
//! The service is written against tonic's server primitives rather than the generated
//! server so that the request body arrives as bytes: a body that is not valid protobuf is then
//! answered with `INVALID_ARGUMENT` and a message (the generated codec answers `INTERNAL`), and
//! admission control sees the body size before decoding.

use std::convert::Infallible;
use std::marker::PhantomData;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::Message;
use tonic::body::Body as TonicBody;
use tonic::codec::{
    Codec, CompressionEncoding, DecodeBuf, Decoder, EnabledCompressionEncodings, EncodeBuf, Encoder,
};
use tonic::codegen::{Body, BoxFuture, Service, StdError, http};
use tonic::server::{NamedService, UnaryService};
use tonic::{Request, Response, Status};

use crate::error::Error;
use crate::pipeline::{Ingestor, Protocol, refused};

/// Encodes responses with prost; hands request bodies over undecoded.
struct RawCodec<T>(PhantomData<T>);

impl<T> Default for RawCodec<T> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

impl<T: Message + Send + 'static> Codec for RawCodec<T> {
    type Encode = T;
    type Decode = Bytes;
    type Encoder = ProstEncoder<T>;
    type Decoder = BytesDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder(PhantomData)
    }

    fn decoder(&mut self) -> Self::Decoder {
        BytesDecoder
    }
}

struct ProstEncoder<T>(PhantomData<T>);

impl<T: Message> Encoder for ProstEncoder<T> {
    type Item = T;
    type Error = Status;

    fn encode(&mut self, item: T, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        item.encode(dst)
            .map_err(|e| Status::internal(format!("encoding the response: {e}")))
    }
}

struct BytesDecoder;

impl Decoder for BytesDecoder {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

/// An OTLP signal served over gRPC: its service name, export path, messages and the ingest
/// call.
pub trait GrpcSignal: Send + Sync + 'static {
    const NAME: &'static str;
    const PATH: &'static str;
    type Response: Message + Send + 'static;
    /// Decodes and ingests one request body.
    fn export(ingestor: Ingestor, body: Bytes) -> BoxFuture<Self::Response, Error>;
}

/// Decodes a request body with prost; a body that is not a valid `request` is refused.
fn decode<T: Message + Default>(body: Bytes, request: &str) -> Result<T, Error> {
    T::decode(body).map_err(|e| {
        refused(
            Protocol::Grpc,
            Error::InvalidArgument(format!("invalid {request} protobuf: {e}")),
        )
    })
}

/// `opentelemetry.proto.collector.trace.v1.TraceService`. Its requests are read in place,
/// without decoding them into messages first.
pub struct TracesSignal;

impl GrpcSignal for TracesSignal {
    const NAME: &'static str = "opentelemetry.proto.collector.trace.v1.TraceService";
    const PATH: &'static str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
    type Response = ExportTraceServiceResponse;
    fn export(ingestor: Ingestor, body: Bytes) -> BoxFuture<Self::Response, Error> {
        Box::pin(async move { ingestor.export_traces(body, Protocol::Grpc).await })
    }
}

/// `opentelemetry.proto.collector.metrics.v1.MetricsService`.
pub struct MetricsSignal;

impl GrpcSignal for MetricsSignal {
    const NAME: &'static str = "opentelemetry.proto.collector.metrics.v1.MetricsService";
    const PATH: &'static str = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";
    type Response = ExportMetricsServiceResponse;
    fn export(ingestor: Ingestor, body: Bytes) -> BoxFuture<Self::Response, Error> {
        Box::pin(async move {
            let request: ExportMetricsServiceRequest = decode(body, "ExportMetricsServiceRequest")?;
            ingestor.export_metrics(request, Protocol::Grpc).await
        })
    }
}

/// `opentelemetry.proto.collector.logs.v1.LogsService`.
pub struct LogsSignal;

impl GrpcSignal for LogsSignal {
    const NAME: &'static str = "opentelemetry.proto.collector.logs.v1.LogsService";
    const PATH: &'static str = "/opentelemetry.proto.collector.logs.v1.LogsService/Export";
    type Response = ExportLogsServiceResponse;
    fn export(ingestor: Ingestor, body: Bytes) -> BoxFuture<Self::Response, Error> {
        Box::pin(async move {
            let request: ExportLogsServiceRequest = decode(body, "ExportLogsServiceRequest")?;
            ingestor.export_logs(request, Protocol::Grpc).await
        })
    }
}

/// The OTLP/gRPC trace service, to be added to a `tonic` server.
pub type TraceGrpcService = SignalGrpcService<TracesSignal>;
/// The OTLP/gRPC metrics service, to be added to a `tonic` server.
pub type MetricsGrpcService = SignalGrpcService<MetricsSignal>;
/// The OTLP/gRPC logs service, to be added to a `tonic` server.
pub type LogsGrpcService = SignalGrpcService<LogsSignal>;

/// The OTLP/gRPC service of signal `S`, hand-wired on tonic's primitives (bodies arrive as
/// bytes: bad protobuf is `INVALID_ARGUMENT`, admission sees the size before decoding).
pub struct SignalGrpcService<S> {
    ingestor: Ingestor,
    signal: PhantomData<fn() -> S>,
}

impl<S> Clone for SignalGrpcService<S> {
    fn clone(&self) -> Self {
        Self {
            ingestor: self.ingestor.clone(),
            signal: PhantomData,
        }
    }
}

impl<S: GrpcSignal> SignalGrpcService<S> {
    pub fn new(ingestor: Ingestor) -> Self {
        Self {
            ingestor,
            signal: PhantomData,
        }
    }
}

impl<S: GrpcSignal> NamedService for SignalGrpcService<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, B> Service<http::Request<B>> for SignalGrpcService<S>
where
    S: GrpcSignal,
    B: Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<TonicBody>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        if req.uri().path() != S::PATH {
            return Box::pin(async { Ok(Status::unimplemented("unknown method").into_http()) });
        }
        let mut accept = EnabledCompressionEncodings::default();
        accept.enable(CompressionEncoding::Gzip);
        accept.enable(CompressionEncoding::Zstd);
        let limit = self.ingestor.limits().max_decompressed_bytes;
        let ingestor = self.ingestor.clone();
        let method = ExportSignal::<S> {
            ingestor: self.ingestor.clone(),
            signal: PhantomData,
        };
        Box::pin(async move {
            // wait for room before tonic reads the body
            if let Err(e) = ingestor.wait_for_room(Protocol::Grpc).await {
                return Ok(e.to_grpc_status().into_http());
            }
            let mut grpc = tonic::server::Grpc::new(RawCodec::<S::Response>::default())
                .apply_compression_config(accept, EnabledCompressionEncodings::default())
                .apply_max_message_size_config(Some(limit), None);
            Ok(grpc.unary(method, req).await)
        })
    }
}

struct ExportSignal<S> {
    ingestor: Ingestor,
    signal: PhantomData<fn() -> S>,
}

impl<S: GrpcSignal> UnaryService<Bytes> for ExportSignal<S> {
    type Response = S::Response;
    type Future = BoxFuture<Response<Self::Response>, Status>;

    fn call(&mut self, request: Request<Bytes>) -> Self::Future {
        let ingestor = self.ingestor.clone();
        Box::pin(async move {
            let body = request.into_inner();
            let _admission = ingestor
                .admit(body.len(), Protocol::Grpc)
                .map_err(|e| e.to_grpc_status())?;
            S::export(ingestor, body)
                .await
                .map(Response::new)
                .map_err(|e| e.to_grpc_status())
        })
    }
}
