//! OTLP logs → `logs` record batches, with per-record validation.
//!
//! A record with neither a time nor an observed time, with a time outside 2000-01-01 .. now +
//! 24 h, or with a malformed trace or span id is rejected on its own (and counted for the
//! response's `partial_success`); the rest of the request is kept.

use arrow::record_batch::RecordBatch;
use meshscope_model::{LogBatchBuilder, LogInput, ScopeContext, SignalResource, Value};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use prost::Message;

use crate::convert::{any_value, check_copied, key_values};
use crate::convert_metrics::{Rejections, check_time, optional_id};
use crate::error::{Error, Result};

/// The log records of one request that passed validation, and what was rejected.
#[derive(Debug)]
pub struct ConvertedLogs {
    pub batch: RecordBatch,
    pub accepted: usize,
    pub rejected: usize,
    /// Why records were rejected (the first few reasons), empty when none were.
    pub message: String,
}

struct Checked {
    time_ns: i64,
    observed_ns: Option<i64>,
    trace_id: Option<[u8; 16]>,
    span_id: Option<[u8; 8]>,
}

fn check_record(r: &LogRecord, now_ns: i64) -> std::result::Result<Checked, String> {
    let observed_ns = match r.observed_time_unix_nano {
        0 => None,
        t => Some(check_time(t, "observed_time_unix_nano", now_ns)?),
    };
    let time_ns = match (r.time_unix_nano, observed_ns) {
        (0, Some(observed)) => observed,
        (0, None) => return Err("time_unix_nano and observed_time_unix_nano are missing".into()),
        (t, _) => check_time(t, "time_unix_nano", now_ns)?,
    };
    Ok(Checked {
        time_ns,
        observed_ns,
        trace_id: optional_id(&r.trace_id, "trace_id")?,
        span_id: optional_id(&r.span_id, "span_id")?,
    })
}

/// Converts and validates every log record of `request`. `now_ns` bounds future timestamps.
pub fn logs_to_batch(request: &ExportLogsServiceRequest, now_ns: i64) -> Result<ConvertedLogs> {
    let total: usize = request
        .resource_logs
        .iter()
        .flat_map(|r| &r.scope_logs)
        .map(|s| s.log_records.len())
        .sum();
    let mut copied = 0usize;
    for rl in &request.resource_logs {
        let resource = rl.resource.as_ref().map_or(0, Message::encoded_len) + rl.schema_url.len();
        for sl in &rl.scope_logs {
            let scope = sl.scope.as_ref().map_or(0, Message::encoded_len) + sl.schema_url.len();
            copied = copied.saturating_add(sl.log_records.len().saturating_mul(resource + scope));
        }
    }
    check_copied("ExportLogsServiceRequest", "log records", total, copied)?;
    let mut builder = LogBatchBuilder::with_capacity(total);
    let mut rejections = Rejections::default();
    let mut attrs: Vec<(&str, Value<'_>)> = Vec::new();
    for (ri, rl) in request.resource_logs.iter().enumerate() {
        let resource_attrs = rl
            .resource
            .as_ref()
            .map(|r| key_values(&r.attributes))
            .unwrap_or_default();
        let resource = SignalResource::new(&resource_attrs, &rl.schema_url);
        for (si, sl) in rl.scope_logs.iter().enumerate() {
            let scope = match &sl.scope {
                Some(s) => ScopeContext::new(
                    &s.name,
                    &s.version,
                    &key_values(&s.attributes),
                    &sl.schema_url,
                ),
                None => ScopeContext::new("", "", &[], &sl.schema_url),
            };
            for (li, record) in sl.log_records.iter().enumerate() {
                match check_record(record, now_ns) {
                    Ok(checked) => {
                        attrs.clear();
                        attrs.extend(key_values(&record.attributes));
                        let body = any_value(record.body.as_ref(), 0);
                        builder.append(
                            &resource,
                            &scope,
                            &LogInput {
                                time_ns: checked.time_ns,
                                observed_ns: checked.observed_ns,
                                trace_id: checked.trace_id,
                                span_id: checked.span_id,
                                flags: record.flags,
                                severity_number: record.severity_number,
                                severity_text: &record.severity_text,
                                event_name: &record.event_name,
                                body: &body,
                                attributes: &attrs,
                                dropped_attributes_count: record.dropped_attributes_count,
                            },
                        );
                    }
                    Err(reason) => rejections.add(
                        format_args!("resourceLogs[{ri}].scopeLogs[{si}].logRecords[{li}]"),
                        &reason,
                    ),
                }
            }
        }
    }
    let (rejected, message) = rejections.finish(total, "log records");
    let batch = builder
        .finish()
        .map_err(|e| Error::Internal(e.to_string()))?;
    Ok(ConvertedLogs {
        accepted: batch.num_rows(),
        batch,
        rejected,
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray};
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValueList, any_value as av};
    use opentelemetry_proto::tonic::logs::v1::{ResourceLogs, ScopeLogs};

    const NOW: i64 = 1_764_000_000_000_000_000;
    const T: u64 = (NOW - 1_000_000_000) as u64;

    fn record(i: u8) -> LogRecord {
        LogRecord {
            time_unix_nano: T,
            observed_time_unix_nano: T + 5,
            severity_number: 17,
            severity_text: "ERROR".into(),
            trace_id: vec![i.max(1); 16],
            span_id: vec![i.max(1); 8],
            body: Some(AnyValue {
                value: Some(av::Value::KvlistValue(KeyValueList {
                    values: vec![opentelemetry_proto::tonic::common::v1::KeyValue {
                        key: "msg".into(),
                        value: Some(AnyValue {
                            value: Some(av::Value::IntValue(3)),
                        }),
                        ..Default::default()
                    }],
                })),
            }),
            ..Default::default()
        }
    }

    fn request(records: Vec<LogRecord>) -> ExportLogsServiceRequest {
        ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                scope_logs: vec![ScopeLogs {
                    log_records: records,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    #[test]
    fn converts_and_rejects() {
        type Mutation = Box<dyn Fn(&mut LogRecord)>;
        let bad: Vec<(Mutation, &str)> = vec![
            (
                Box::new(|r| {
                    r.time_unix_nano = 0;
                    r.observed_time_unix_nano = 0
                }),
                "time_unix_nano and observed_time_unix_nano are missing",
            ),
            (Box::new(|r| r.time_unix_nano = 7), "outside 2000-01-01"),
            (
                Box::new(|r| r.observed_time_unix_nano = u64::MAX),
                "observed_time_unix_nano",
            ),
            (
                Box::new(|r| r.trace_id = vec![1; 5]),
                "trace_id must be 16 bytes, got 5",
            ),
            (
                Box::new(|r| r.span_id = vec![1; 5]),
                "span_id must be 8 bytes, got 5",
            ),
        ];
        for (mutate, expect) in &bad {
            let mut broken = record(4);
            mutate(&mut broken);
            let c = logs_to_batch(&request(vec![record(1), broken]), NOW).expect("convert");
            assert_eq!((c.accepted, c.rejected), (1, 1), "{expect}");
            assert!(
                c.message.starts_with(
                    "1 of 2 log records rejected: resourceLogs[0].scopeLogs[0].logRecords[1]: "
                ),
                "{}",
                c.message
            );
            assert!(c.message.contains(expect), "{} !~ {expect}", c.message);
        }
    }

    #[test]
    fn fields_and_fallbacks() {
        let mut no_time = record(2);
        no_time.time_unix_nano = 0;
        no_time.trace_id = vec![0; 16];
        no_time.span_id.clear();
        no_time.body = None;
        let c = logs_to_batch(&request(vec![record(1), no_time]), NOW).expect("convert");
        assert_eq!(c.rejected, 0, "{}", c.message);
        let b = &c.batch;
        let s = |col: &str, r: usize| {
            b.column_by_name(col)
                .expect(col)
                .as_string::<i32>()
                .value(r)
                .to_owned()
        };
        assert_eq!(s("trace_id", 0), "01".repeat(16));
        assert_eq!(s("body", 0), r#"{"msg":3}"#);
        assert_eq!(s("body_type", 0), "map");
        assert_eq!(s("service_name", 0), "unknown_service");
        assert_eq!(s("trace_id", 1), "", "an all-zero id is no id");
        assert_eq!(s("span_id", 1), "");
        assert_eq!(s("body_type", 1), "empty");
        let time = b
            .column_by_name("time")
            .expect("time")
            .as_primitive::<arrow::datatypes::TimestampNanosecondType>();
        assert_eq!(time.value(1), (T + 5) as i64, "observed time stands in");
        assert!(!b.column_by_name("observed_time").expect("col").is_null(1));
    }

    #[test]
    fn refuses_requests_whose_rows_would_copy_too_much() {
        let mut req = request((0..3000).map(|_| record(1)).collect());
        req.resource_logs[0].resource = Some(opentelemetry_proto::tonic::resource::v1::Resource {
            attributes: vec![opentelemetry_proto::tonic::common::v1::KeyValue {
                key: "blob".into(),
                value: Some(AnyValue {
                    value: Some(av::Value::StringValue("x".repeat(100_000))),
                }),
                ..Default::default()
            }],
            ..Default::default()
        });
        let err = logs_to_batch(&req, NOW).expect_err("300 MB of copies");
        assert!(matches!(err, Error::TooLarge(_)), "{err}");
        assert!(
            err.to_string()
                .starts_with("ExportLogsServiceRequest: its 3000 log records would copy 30"),
            "{err}"
        );
        req.resource_logs[0].scope_logs[0].log_records.truncate(100);
        assert_eq!(logs_to_batch(&req, NOW).expect("10 MB").accepted, 100);
    }
}
