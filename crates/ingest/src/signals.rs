//! The metrics and logs paths of [`Ingestor`]: the same admission, validation, durable append
//! and `partial_success` as traces, into the metrics tables and the `logs` table.

use meshscope_model::logs;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};

use crate::convert_logs::logs_to_batch;
use crate::convert_metrics::metrics_to_batches;
use crate::error::{Error, Result};
use crate::pipeline::{Ingestor, Protocol, input, now_ns, refused};

/// Self-metrics of the metrics and logs receivers (the span ones are described by the binary).
pub const METRIC_POINTS_RECEIVED: &str = "meshscope_metric_points_received_total";
pub const METRIC_POINTS_ACCEPTED: &str = "meshscope_metric_points_accepted_total";
pub const METRIC_POINTS_REJECTED: &str = "meshscope_metric_points_rejected_total";
pub const LOG_RECORDS_RECEIVED: &str = "meshscope_log_records_received_total";
pub const LOG_RECORDS_ACCEPTED: &str = "meshscope_log_records_accepted_total";
pub const LOG_RECORDS_REJECTED: &str = "meshscope_log_records_rejected_total";
const REQUEST_SECONDS: &str = "meshscope_ingest_request_seconds";

/// Describes the metrics and logs receivers' self-metrics to the installed recorder.
pub fn describe_metrics() {
    use metrics::{Unit, describe_counter};
    describe_counter!(
        METRIC_POINTS_RECEIVED,
        Unit::Count,
        "metric data points received, by protocol"
    );
    describe_counter!(
        METRIC_POINTS_ACCEPTED,
        Unit::Count,
        "metric data points made durable, by protocol"
    );
    describe_counter!(
        METRIC_POINTS_REJECTED,
        Unit::Count,
        "metric data points rejected as invalid (reported in partial_success), by protocol"
    );
    describe_counter!(
        LOG_RECORDS_RECEIVED,
        Unit::Count,
        "log records received, by protocol"
    );
    describe_counter!(
        LOG_RECORDS_ACCEPTED,
        Unit::Count,
        "log records made durable, by protocol"
    );
    describe_counter!(
        LOG_RECORDS_REJECTED,
        Unit::Count,
        "log records rejected as invalid (reported in partial_success), by protocol"
    );
}

impl Ingestor {
    /// Validates, converts and durably stores the data points of `request`, each in the table
    /// of its type. Returns once the accepted points are in the write-ahead log.
    ///
    /// The tables are appended concurrently (one group commit in the common case). Should one
    /// append fail after another succeeded, the request is answered with the error and a retry
    /// stores the succeeded part twice: metrics are at least once on such failures.
    pub async fn export_metrics(
        &self,
        request: ExportMetricsServiceRequest,
        protocol: Protocol,
    ) -> Result<ExportMetricsServiceResponse> {
        self.check_pressure(protocol)?;
        let started = std::time::Instant::now();
        let converted = metrics_to_batches(&request, now_ns()).map_err(|e| input(protocol, e))?;
        drop(request);
        let label = protocol.label();
        let total = (converted.accepted + converted.rejected) as u64;
        metrics::counter!(METRIC_POINTS_RECEIVED, "protocol" => label).increment(total);
        let storage = self.storage();
        let appends = converted
            .batches
            .into_iter()
            .map(|(table, batch)| storage.append(table, batch));
        for result in futures_join(appends).await {
            result.map_err(|e| refused(protocol, Error::from(e)))?;
        }
        metrics::counter!(METRIC_POINTS_ACCEPTED, "protocol" => label)
            .increment(converted.accepted as u64);
        metrics::histogram!(REQUEST_SECONDS, "protocol" => label, "signal" => "metrics")
            .record(started.elapsed().as_secs_f64());
        let partial_success = (converted.rejected > 0).then(|| {
            metrics::counter!(METRIC_POINTS_REJECTED, "protocol" => label, "reason" => "invalid")
                .increment(converted.rejected as u64);
            tracing::debug!(protocol = label, rejected = converted.rejected, message = %converted.message, "metric data points rejected");
            ExportMetricsPartialSuccess {
                rejected_data_points: converted.rejected as i64,
                error_message: converted.message,
            }
        });
        Ok(ExportMetricsServiceResponse { partial_success })
    }

    /// Validates, converts and durably stores the log records of `request`. Returns once the
    /// accepted records are in the write-ahead log.
    pub async fn export_logs(
        &self,
        request: ExportLogsServiceRequest,
        protocol: Protocol,
    ) -> Result<ExportLogsServiceResponse> {
        self.check_pressure(protocol)?;
        let started = std::time::Instant::now();
        let converted = logs_to_batch(&request, now_ns()).map_err(|e| input(protocol, e))?;
        drop(request);
        let label = protocol.label();
        let total = (converted.accepted + converted.rejected) as u64;
        metrics::counter!(LOG_RECORDS_RECEIVED, "protocol" => label).increment(total);
        if converted.accepted > 0 {
            self.storage()
                .append(logs::TABLE, converted.batch)
                .await
                .map_err(|e| refused(protocol, Error::from(e)))?;
        }
        metrics::counter!(LOG_RECORDS_ACCEPTED, "protocol" => label)
            .increment(converted.accepted as u64);
        metrics::histogram!(REQUEST_SECONDS, "protocol" => label, "signal" => "logs")
            .record(started.elapsed().as_secs_f64());
        let partial_success = (converted.rejected > 0).then(|| {
            metrics::counter!(LOG_RECORDS_REJECTED, "protocol" => label, "reason" => "invalid")
                .increment(converted.rejected as u64);
            tracing::debug!(protocol = label, rejected = converted.rejected, message = %converted.message, "log records rejected");
            ExportLogsPartialSuccess {
                rejected_log_records: converted.rejected as i64,
                error_message: converted.message,
            }
        });
        Ok(ExportLogsServiceResponse { partial_success })
    }
}

/// Awaits all `futures` concurrently (at most four here, one per metrics table) and returns
/// their results in order.
async fn futures_join<F, T>(futures: impl IntoIterator<Item = F>) -> Vec<T>
where
    F: std::future::Future<Output = T>,
{
    let mut set: Vec<std::pin::Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<T>> = set.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, slot) in set.iter_mut().zip(out.iter_mut()) {
            if slot.is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *slot = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().flatten().collect()
}
