//! The ingest path shared by every receiver: admission, conversion, durable append.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arrow::array::RecordBatch;
use meshscope_model::spans;
use meshscope_storage::Storage;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceResponse,
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::convert;
use crate::error::{Error, Result};

/// Size limits of the receivers.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request body on the wire (compressed), in bytes.
    pub max_request_bytes: usize,
    /// Largest request body after decompression, in bytes.
    pub max_decompressed_bytes: usize,
    /// Decoded request bytes being processed at once; beyond it requests are refused with a
    /// retryable error instead of queueing in memory.
    pub max_inflight_bytes: usize,
    /// How long a request waits, before its body is read, for storage to have room (a full
    /// head has room again when the running flush ends) before it is refused as overloaded.
    pub pressure_wait: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_request_bytes: 16 << 20,
            max_decompressed_bytes: 64 << 20,
            max_inflight_bytes: 256 << 20,
            pressure_wait: Duration::from_secs(2),
        }
    }
}

/// Which receiver a request came through (a metrics label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Grpc,
    HttpProtobuf,
    HttpJson,
    /// Zipkin v2, JSON or protobuf (`POST /api/v2/spans`).
    Zipkin,
}

impl Protocol {
    pub fn label(self) -> &'static str {
        match self {
            Protocol::Grpc => "grpc",
            Protocol::HttpProtobuf => "http_protobuf",
            Protocol::HttpJson => "http_json",
            Protocol::Zipkin => "zipkin",
        }
    }
}

/// How long a client is told to wait when the in-flight limit is reached.
const INFLIGHT_RETRY_AFTER: Duration = Duration::from_secs(1);
/// Admission is counted in KiB so that the semaphore's u32-sized permits cover large limits.
const PERMIT_UNIT: usize = 1024;

/// Sees every `spans` batch once it is durable (e.g. the service-graph aggregation). It runs
/// on the request's task before the acknowledgement, so it must be quick and must not block.
pub type SpanObserver = Arc<dyn Fn(&RecordBatch) + Send + Sync>;

/// Accepts OTLP export requests: validates, converts and makes them durable.
#[derive(Clone)]
pub struct Ingestor {
    inner: Arc<Inner>,
}

struct Inner {
    storage: Storage,
    limits: Limits,
    inflight: Arc<Semaphore>,
    inflight_permits: u32,
    span_observer: Option<SpanObserver>,
}

/// A reservation of in-flight memory, released on drop.
pub struct Admission {
    _permit: OwnedSemaphorePermit,
}

impl Ingestor {
    pub fn new(storage: Storage, limits: Limits) -> Self {
        Self::with_span_observer(storage, limits, None)
    }

    /// An ingestor that hands every durable `spans` batch to `observer`.
    pub fn with_span_observer(
        storage: Storage,
        limits: Limits,
        span_observer: Option<SpanObserver>,
    ) -> Self {
        let inflight_permits =
            u32::try_from((limits.max_inflight_bytes / PERMIT_UNIT).max(1)).unwrap_or(u32::MAX);
        Self {
            inner: Arc::new(Inner {
                storage,
                limits,
                inflight: Arc::new(Semaphore::new(inflight_permits as usize)),
                inflight_permits,
                span_observer,
            }),
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// The store the receivers append to (for the other signals, in `signals.rs`).
    pub(crate) fn storage(&self) -> &Storage {
        &self.inner.storage
    }

    /// Refuses, before a body is decoded, when storage would refuse its rows.
    pub fn check_pressure(&self, protocol: Protocol) -> Result<()> {
        match self.inner.storage.append_pressure() {
            Some(retry_after) => Err(behind(protocol, retry_after)),
            None => Ok(()),
        }
    }

    /// Waits up to [`Limits::pressure_wait`] for storage to have room, before a body is read:
    /// a waiting request holds a connection, not its body. Refuses when storage is still behind.
    pub async fn wait_for_room(&self, protocol: Protocol) -> Result<()> {
        match self
            .inner
            .storage
            .wait_for_room(self.inner.limits.pressure_wait)
            .await
        {
            Some(retry_after) => Err(behind(protocol, retry_after)),
            None => Ok(()),
        }
    }

    /// Reserves in-flight memory for a body of `bytes`; refuses when the server already holds
    /// as much as it may.
    pub fn admit(&self, bytes: usize, protocol: Protocol) -> Result<Admission> {
        let wanted = u32::try_from(bytes.div_ceil(PERMIT_UNIT).max(1))
            .unwrap_or(u32::MAX)
            .min(self.inner.inflight_permits);
        match Arc::clone(&self.inner.inflight).try_acquire_many_owned(wanted) {
            Ok(permit) => Ok(Admission { _permit: permit }),
            Err(_) => Err(refused(
                protocol,
                Error::Overloaded {
                    reason: format!(
                        "too many requests in flight (limit {} bytes)",
                        self.inner.limits.max_inflight_bytes
                    ),
                    retry_after: INFLIGHT_RETRY_AFTER,
                },
            )),
        }
    }

    /// Validates, converts and durably stores the spans of an `ExportTraceServiceRequest`
    /// given as protobuf bytes. Returns once the accepted spans are in the write-ahead log.
    pub async fn export_traces(
        &self,
        request: bytes::Bytes,
        protocol: Protocol,
    ) -> Result<ExportTraceServiceResponse> {
        self.check_pressure(protocol)?;
        let started = std::time::Instant::now();
        let converted = convert::traces_protobuf_to_batch(&request, now_ns())
            .map_err(|e| input(protocol, e))?;
        drop(request);
        let label = protocol.label();
        let total = (converted.accepted + converted.rejected) as u64;
        metrics::counter!("meshscope_spans_received_total", "protocol" => label).increment(total);
        if converted.accepted > 0 {
            // the observer sees the batch only once it is durable (a clone shares the arrays)
            let observed = self
                .inner
                .span_observer
                .as_ref()
                .map(|_| converted.batch.clone());
            self.inner
                .storage
                .append(spans::TABLE, converted.batch)
                .await
                .map_err(|e| refused(protocol, Error::from(e)))?;
            if let (Some(observer), Some(batch)) = (&self.inner.span_observer, observed) {
                observer(&batch);
            }
        }
        metrics::counter!("meshscope_spans_accepted_total", "protocol" => label)
            .increment(converted.accepted as u64);
        metrics::histogram!("meshscope_ingest_request_seconds", "protocol" => label)
            .record(started.elapsed().as_secs_f64());
        let partial_success = (converted.rejected > 0).then(|| {
            metrics::counter!("meshscope_spans_rejected_total", "protocol" => label, "reason" => "invalid")
                .increment(converted.rejected as u64);
            tracing::debug!(protocol = label, rejected = converted.rejected, message = %converted.message, "spans rejected");
            ExportTracePartialSuccess {
                rejected_spans: converted.rejected as i64,
                error_message: converted.message,
            }
        });
        Ok(ExportTraceServiceResponse { partial_success })
    }
}

/// The refusal of a request while the head or the WAL is full.
fn behind(protocol: Protocol, retry_after: Duration) -> Error {
    refused(
        protocol,
        Error::Overloaded {
            reason: "ingest is behind: the head or the write-ahead log is full".into(),
            retry_after,
        },
    )
}

/// Counts a conversion error as a refusal when the request's content caused it.
pub(crate) fn input(protocol: Protocol, error: Error) -> Error {
    match error {
        Error::InvalidArgument(_) | Error::TooLarge(_) => refused(protocol, error),
        other => other,
    }
}

/// Counts a refused request and passes the error on.
pub(crate) fn refused(protocol: Protocol, error: Error) -> Error {
    metrics::counter!(
        "meshscope_requests_refused_total",
        "protocol" => protocol.label(),
        "reason" => error.reason()
    )
    .increment(1);
    error
}

pub(crate) fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
