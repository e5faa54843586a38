//! Metrics and logs, end to end: the OTLP examples, every metric type round-tripping over gRPC
//! and HTTP (head and Parquet), per-item rejection, the query helpers, SQL over the new tables
//! and joins to spans, and the Rust `opentelemetry-otlp` metrics and logs exporters.

use std::io::Write;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, Int32Type, Int64Type, TimestampNanosecondType, UInt64Type};
use meshscope_storage::{Storage, read_parquet_file};
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, InstrumentationScope, KeyValue, KeyValueList, any_value,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    Exemplar, ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram,
    HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum, Summary,
    SummaryDataPoint, exemplar, exponential_histogram_data_point, metric, number_data_point,
    summary_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use reqwest::StatusCode;
use serde_json::Value as J;

use crate::common::*;

const SEC: u64 = 1_000_000_000;

// ---------------------------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------------------------

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).expect("gzip");
    e.finish().expect("gzip")
}

async fn post(
    addr: std::net::SocketAddr,
    path: &str,
    content_type: &str,
    encoding: Option<&str>,
    body: Vec<u8>,
) -> (StatusCode, Vec<u8>) {
    let mut request = reqwest::Client::new()
        .post(format!("http://{addr}{path}"))
        .header("content-type", content_type)
        .body(body);
    if let Some(e) = encoding {
        request = request.header("content-encoding", e);
    }
    let response = request.send().await.expect("send");
    let status = response.status();
    (status, response.bytes().await.expect("body").to_vec())
}

async fn get_json(server: &meshscope::Server, path: &str) -> (StatusCode, J) {
    let response = reqwest::get(format!("http://{}{path}", server.http_addr))
        .await
        .expect("get");
    let status = response.status();
    let body = response.bytes().await.expect("body");
    (status, serde_json::from_slice(&body).expect("json"))
}

async fn sql(server: &meshscope::Server, query: &str) -> (StatusCode, J) {
    let response = reqwest::Client::new()
        .post(format!("http://{}/api/v1/sql", server.http_addr))
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&serde_json::json!({ "query": query })).expect("json"))
        .send()
        .await
        .expect("sql");
    let status = response.status();
    let body = response.bytes().await.expect("body");
    (status, serde_json::from_slice(&body).expect("json"))
}

/// Every stored row of `table`: the head and every Parquet file.
fn table_rows(storage: &Storage, table: &str) -> Vec<RecordBatch> {
    let snapshot = storage.snapshot(table).expect("snapshot");
    let mut batches = snapshot.head.clone();
    for file in &snapshot.files {
        batches.extend(read_parquet_file(&file.path).expect("readable parquet"));
    }
    batches
}

/// The rows where every `(column, value)` string column matches.
fn find(batches: &[RecordBatch], wanted: &[(&str, &str)]) -> Vec<(RecordBatch, usize)> {
    let mut out = Vec::new();
    for b in batches {
        for row in 0..b.num_rows() {
            let hit = wanted
                .iter()
                .all(|(c, v)| b.column_by_name(c).expect(c).as_string::<i32>().value(row) == *v);
            if hit {
                out.push((b.clone(), row));
            }
        }
    }
    out
}

fn one(batches: &[RecordBatch], wanted: &[(&str, &str)]) -> (RecordBatch, usize) {
    let mut rows = find(batches, wanted);
    assert_eq!(rows.len(), 1, "exactly one row with {wanted:?}");
    rows.remove(0)
}

fn f64_at(b: &RecordBatch, c: &str, r: usize) -> Option<f64> {
    let a = b.column_by_name(c).expect(c).as_primitive::<Float64Type>();
    (!a.is_null(r)).then(|| a.value(r))
}

fn i64_at(b: &RecordBatch, c: &str, r: usize) -> Option<i64> {
    let a = b.column_by_name(c).expect(c).as_primitive::<Int64Type>();
    (!a.is_null(r)).then(|| a.value(r))
}

fn u64_at(b: &RecordBatch, c: &str, r: usize) -> u64 {
    b.column_by_name(c)
        .expect(c)
        .as_primitive::<UInt64Type>()
        .value(r)
}

fn i32_at(b: &RecordBatch, c: &str, r: usize) -> i32 {
    b.column_by_name(c)
        .expect(c)
        .as_primitive::<Int32Type>()
        .value(r)
}

fn time_at(b: &RecordBatch, c: &str, r: usize) -> Option<i64> {
    let a = b
        .column_by_name(c)
        .expect(c)
        .as_primitive::<TimestampNanosecondType>();
    (!a.is_null(r)).then(|| a.value(r))
}

fn u64_list(b: &RecordBatch, c: &str, r: usize) -> Vec<u64> {
    let list = b.column_by_name(c).expect(c).as_list::<i32>();
    list.value(r).as_primitive::<UInt64Type>().values().to_vec()
}

fn f64_list(b: &RecordBatch, c: &str, r: usize) -> Vec<f64> {
    let list = b.column_by_name(c).expect(c).as_list::<i32>();
    list.value(r)
        .as_primitive::<Float64Type>()
        .values()
        .to_vec()
}

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn s(text: &str) -> any_value::Value {
    any_value::Value::StringValue(text.into())
}

fn metric(name: &str, data: metric::Data) -> Metric {
    Metric {
        name: name.into(),
        description: format!("{name} described"),
        unit: "ms".into(),
        data: Some(data),
        ..Default::default()
    }
}

fn metrics_request(service: &str, metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.name", s(service)),
                    kv("host.cores", any_value::Value::IntValue(2)),
                ],
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope {
                    name: "roundtrip".into(),
                    version: "1.2.3".into(),
                    attributes: vec![kv("scope.flag", any_value::Value::BoolValue(true))],
                    ..Default::default()
                }),
                metrics,
                schema_url: "https://opentelemetry.io/schemas/1.26.0".into(),
            }],
            schema_url: String::new(),
        }],
    }
}

fn number(
    start: u64,
    time: u64,
    value: number_data_point::Value,
    attrs: Vec<KeyValue>,
) -> NumberDataPoint {
    NumberDataPoint {
        start_time_unix_nano: start,
        time_unix_nano: time,
        value: Some(value),
        attributes: attrs,
        ..Default::default()
    }
}

const TRACE: [u8; 16] = [0xab; 16];
const SPAN: [u8; 8] = [0xcd; 8];

/// One metric of every type and flavour, at `t0`.
fn every_type(service: &str, t0: u64) -> ExportMetricsServiceRequest {
    use number_data_point::Value::{AsDouble, AsInt};
    let exemplar = |value| Exemplar {
        time_unix_nano: t0 - SEC / 2,
        value: Some(value),
        trace_id: TRACE.to_vec(),
        span_id: SPAN.to_vec(),
        filtered_attributes: vec![kv("user", s("u1"))],
    };
    let mut temperature = metric(
        "temperature",
        metric::Data::Gauge(Gauge {
            data_points: vec![
                number(0, t0, AsDouble(21.5), vec![kv("room", s("a"))]),
                number(0, t0, AsInt(i64::MAX), vec![kv("room", s("b"))]),
                NumberDataPoint {
                    time_unix_nano: t0,
                    flags: 1,
                    attributes: vec![kv("room", s("c"))],
                    ..Default::default()
                },
            ],
        }),
    );
    temperature.metadata = vec![kv("prometheus.type", s("gauge"))];
    let mut delta = number(t0 - SEC, t0, AsDouble(1.5), vec![]);
    delta.exemplars = vec![exemplar(exemplar::Value::AsDouble(1.5))];
    metrics_request(
        service,
        vec![
            temperature,
            metric(
                "requests",
                metric::Data::Sum(Sum {
                    data_points: vec![
                        number(
                            t0 - 60 * SEC,
                            t0,
                            AsInt(10),
                            vec![kv("code", any_value::Value::IntValue(200))],
                        ),
                        number(
                            t0 - 60 * SEC,
                            t0 + SEC,
                            AsInt(25),
                            vec![kv("code", any_value::Value::IntValue(200))],
                        ),
                    ],
                    aggregation_temporality: 2,
                    is_monotonic: true,
                }),
            ),
            metric(
                "requests.delta",
                metric::Data::Sum(Sum {
                    data_points: vec![delta],
                    aggregation_temporality: 1,
                    is_monotonic: true,
                }),
            ),
            metric(
                "queue.depth",
                metric::Data::Sum(Sum {
                    data_points: vec![number(t0 - 60 * SEC, t0, AsInt(-3), vec![])],
                    aggregation_temporality: 2,
                    is_monotonic: false,
                }),
            ),
            metric(
                "latency",
                metric::Data::Histogram(Histogram {
                    data_points: vec![HistogramDataPoint {
                        start_time_unix_nano: t0 - SEC,
                        time_unix_nano: t0,
                        count: 6,
                        sum: Some(12.5),
                        bucket_counts: vec![1, 2, 3],
                        explicit_bounds: vec![1.0, 5.0],
                        exemplars: vec![exemplar(exemplar::Value::AsInt(7))],
                        min: Some(0.1),
                        max: Some(9.0),
                        attributes: vec![kv("route", s("/cart"))],
                        flags: 0,
                    }],
                    aggregation_temporality: 1,
                }),
            ),
            metric(
                "latency.cumulative",
                metric::Data::Histogram(Histogram {
                    data_points: vec![HistogramDataPoint {
                        start_time_unix_nano: t0 - 60 * SEC,
                        time_unix_nano: t0,
                        count: 4,
                        sum: None,
                        bucket_counts: vec![4, 0],
                        explicit_bounds: vec![0.25],
                        ..Default::default()
                    }],
                    aggregation_temporality: 2,
                }),
            ),
            metric(
                "size",
                metric::Data::ExponentialHistogram(ExponentialHistogram {
                    data_points: vec![ExponentialHistogramDataPoint {
                        start_time_unix_nano: t0 - 60 * SEC,
                        time_unix_nano: t0,
                        count: 7,
                        sum: Some(-1.25),
                        scale: 3,
                        zero_count: 1,
                        zero_threshold: 0.001,
                        positive: Some(exponential_histogram_data_point::Buckets {
                            offset: -2,
                            bucket_counts: vec![1, 0, 2],
                        }),
                        negative: Some(exponential_histogram_data_point::Buckets {
                            offset: 4,
                            bucket_counts: vec![3],
                        }),
                        min: Some(-20.0),
                        max: Some(3.0),
                        exemplars: vec![exemplar(exemplar::Value::AsDouble(2.5))],
                        ..Default::default()
                    }],
                    aggregation_temporality: 2,
                }),
            ),
            metric(
                "rpc.duration",
                metric::Data::Summary(Summary {
                    data_points: vec![SummaryDataPoint {
                        start_time_unix_nano: t0 - 60 * SEC,
                        time_unix_nano: t0,
                        count: 10,
                        sum: 55.5,
                        quantile_values: [(0.0, 1.0), (0.5, 5.0), (0.99, 9.9), (1.0, 10.0)]
                            .into_iter()
                            .map(|(quantile, value)| summary_data_point::ValueAtQuantile {
                                quantile,
                                value,
                            })
                            .collect(),
                        ..Default::default()
                    }],
                }),
            ),
        ],
    )
}

fn exemplar_json(b: &RecordBatch, r: usize) -> String {
    value(b, "exemplars", r)
}

/// Every field of [`every_type`] as stored for `service`.
fn check_every_type(storage: &Storage, service: &str, t0: u64) {
    let t0 = t0 as i64;
    let points = table_rows(storage, "metric_points");
    let by = |name: &'static str| {
        move |extra: &'static [(&'static str, &'static str)]| {
            let mut w = vec![("service_name", service), ("metric_name", name)];
            w.extend_from_slice(extra);
            w
        }
    };

    // gauges: a double, an exact i64, and a point with no recorded value
    let temperature = find(&points, &by("temperature")(&[]));
    assert_eq!(temperature.len(), 3);
    for (b, r) in &temperature {
        let room = &map_entries(b, "attributes", *r)["room"];
        assert_eq!(value(b, "metric_type", *r), "gauge");
        assert_eq!(value(b, "metric_unit", *r), "ms");
        assert_eq!(value(b, "metric_description", *r), "temperature described");
        assert_eq!(
            value(b, "metric_metadata", *r),
            r#"{"prometheus.type":"gauge"}"#
        );
        assert_eq!(time_at(b, "start_time", *r), None, "gauges have no start");
        assert_eq!(time_at(b, "time", *r), Some(t0));
        match room.as_str() {
            "a" => {
                assert_eq!(f64_at(b, "value", *r), Some(21.5));
                assert_eq!(i64_at(b, "value_int", *r), None);
            }
            "b" => {
                assert_eq!(i64_at(b, "value_int", *r), Some(i64::MAX), "ints are exact");
                assert_eq!(f64_at(b, "value", *r), Some(i64::MAX as f64));
            }
            _ => {
                assert_eq!(f64_at(b, "value", *r), None);
                assert_eq!(value(b, "flags", *r), "1");
            }
        }
        assert_eq!(map_entries(b, "resource_attributes", *r)["host.cores"], "2");
        assert_eq!(
            map_entries(b, "resource_attribute_types", *r)["host.cores"],
            "int"
        );
        assert_eq!(value(b, "scope_name", *r), "roundtrip");
        assert_eq!(value(b, "scope_version", *r), "1.2.3");
        assert_eq!(value(b, "scope_attributes", *r), r#"{"scope.flag":true}"#);
        assert_eq!(
            value(b, "scope_schema_url", *r),
            "https://opentelemetry.io/schemas/1.26.0"
        );
    }

    // a cumulative monotonic counter: two points of one series
    let requests = find(&points, &by("requests")(&[]));
    assert_eq!(requests.len(), 2);
    let ids: Vec<String> = requests
        .iter()
        .map(|(b, r)| value(b, "series_id", *r))
        .collect();
    assert_eq!(ids[0], ids[1], "one series");
    let mut values: Vec<i64> = requests
        .iter()
        .map(|(b, r)| i64_at(b, "value_int", *r).expect("int"))
        .collect();
    values.sort();
    assert_eq!(values, [10, 25]);
    let (b, r) = &requests[0];
    assert_eq!(value(b, "temporality", *r), "cumulative");
    assert_eq!(value(b, "is_monotonic", *r), "true");
    assert_eq!(time_at(b, "start_time", *r), Some(t0 - 60 * SEC as i64));
    assert_eq!(map_entries(b, "attribute_types", *r)["code"], "int");

    let (b, r) = one(&points, &by("requests.delta")(&[]));
    assert_eq!(value(&b, "temporality", r), "delta");
    assert_eq!(f64_at(&b, "value", r), Some(1.5));
    let ex = exemplar_json(&b, r);
    assert!(
        ex.contains(&"ab".repeat(16)) && ex.contains(&"cd".repeat(8)),
        "{ex}"
    );
    assert!(
        ex.contains(r#"{"user":"u1"}"#) && ex.contains("1.5"),
        "{ex}"
    );

    let (b, r) = one(&points, &by("queue.depth")(&[]));
    assert_eq!(value(&b, "is_monotonic", r), "false");
    assert_eq!(i64_at(&b, "value_int", r), Some(-3));

    // histograms
    let histograms = table_rows(storage, "metric_histograms");
    let (b, r) = one(&histograms, &by("latency")(&[]));
    assert_eq!(value(&b, "temporality", r), "delta");
    assert_eq!(u64_at(&b, "count", r), 6);
    assert_eq!(f64_at(&b, "sum", r), Some(12.5));
    assert_eq!(f64_at(&b, "min", r), Some(0.1));
    assert_eq!(f64_at(&b, "max", r), Some(9.0));
    assert_eq!(u64_list(&b, "bucket_counts", r), [1, 2, 3]);
    assert_eq!(f64_list(&b, "explicit_bounds", r), [1.0, 5.0]);
    assert_eq!(map_entries(&b, "attributes", r)["route"], "/cart");
    let ex = b
        .column_by_name("exemplars")
        .expect("exemplars")
        .as_list::<i32>();
    let ex = ex.value(r);
    let ex = ex.as_struct();
    assert_eq!(ex.len(), 1);
    assert_eq!(
        ex.column_by_name("value_int")
            .expect("value_int")
            .as_primitive::<Int64Type>()
            .value(0),
        7
    );
    assert_eq!(
        ex.column_by_name("trace_id")
            .expect("trace_id")
            .as_string::<i32>()
            .value(0),
        "ab".repeat(16)
    );
    assert_eq!(
        ex.column_by_name("time")
            .expect("time")
            .as_primitive::<TimestampNanosecondType>()
            .value(0),
        t0 - SEC as i64 / 2
    );
    let (b, r) = one(&histograms, &by("latency.cumulative")(&[]));
    assert_eq!(value(&b, "temporality", r), "cumulative");
    assert_eq!(f64_at(&b, "sum", r), None, "an absent sum stays absent");
    assert_eq!(f64_at(&b, "min", r), None);

    let exp = table_rows(storage, "metric_exp_histograms");
    let (b, r) = one(&exp, &by("size")(&[]));
    assert_eq!(u64_at(&b, "count", r), 7);
    assert_eq!(f64_at(&b, "sum", r), Some(-1.25));
    assert_eq!(i32_at(&b, "scale", r), 3);
    assert_eq!(u64_at(&b, "zero_count", r), 1);
    assert_eq!(f64_at(&b, "zero_threshold", r), Some(0.001));
    assert_eq!(i32_at(&b, "positive_offset", r), -2);
    assert_eq!(u64_list(&b, "positive_bucket_counts", r), [1, 0, 2]);
    assert_eq!(i32_at(&b, "negative_offset", r), 4);
    assert_eq!(u64_list(&b, "negative_bucket_counts", r), [3]);
    assert_eq!(f64_at(&b, "min", r), Some(-20.0));
    assert_eq!(f64_at(&b, "max", r), Some(3.0));
    assert!(exemplar_json(&b, r).contains("2.5"));

    let summaries = table_rows(storage, "metric_summaries");
    let (b, r) = one(&summaries, &by("rpc.duration")(&[]));
    assert_eq!(u64_at(&b, "count", r), 10);
    assert_eq!(f64_at(&b, "sum", r), Some(55.5));
    let q = b
        .column_by_name("quantile_values")
        .expect("q")
        .as_list::<i32>();
    let q = q.value(r);
    let q = q.as_struct();
    let quantiles = q.column(0).as_primitive::<Float64Type>().values().to_vec();
    let values = q.column(1).as_primitive::<Float64Type>().values().to_vec();
    assert_eq!(quantiles, [0.0, 0.5, 0.99, 1.0]);
    assert_eq!(values, [1.0, 5.0, 9.9, 10.0]);
}

// ---------------------------------------------------------------------------------------------
// tests
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn otlp_json_examples_are_accepted_unchanged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(dir.path()).await;
    let addr = server.otlp_http_addr;

    let metrics = include_bytes!("../data/metrics.json").to_vec();
    let (status, body) = post(addr, "/v1/metrics", "application/json", None, metrics).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    assert_eq!(body, b"{}");
    let logs = include_bytes!("../data/logs.json").to_vec();
    let (status, body) = post(
        addr,
        "/v1/logs",
        "application/json",
        Some("gzip"),
        gzip(&logs),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    assert_eq!(body, b"{}");

    let t = 1_544_712_660_300_000_000_i64;
    let points = table_rows(&server.storage, "metric_points");
    let (b, r) = one(&points, &[("metric_name", "my.counter")]);
    assert_eq!(value(&b, "service_name", r), "my.service");
    assert_eq!(value(&b, "metric_type", r), "sum");
    assert_eq!(value(&b, "temporality", r), "delta");
    assert_eq!(value(&b, "is_monotonic", r), "true");
    assert_eq!(value(&b, "metric_description", r), "I am a Counter");
    assert_eq!(f64_at(&b, "value", r), Some(5.0));
    assert_eq!(time_at(&b, "time", r), Some(t));
    assert_eq!(time_at(&b, "start_time", r), Some(t));
    assert_eq!(
        map_entries(&b, "attributes", r)["my.counter.attr"],
        "some value"
    );
    assert_eq!(
        value(&b, "scope_attributes", r),
        r#"{"my.scope.attribute":"some scope attribute"}"#
    );
    let (b, r) = one(&points, &[("metric_name", "my.gauge")]);
    assert_eq!(value(&b, "metric_type", r), "gauge");
    assert_eq!(f64_at(&b, "value", r), Some(10.0));
    assert_eq!(time_at(&b, "start_time", r), None);

    let histograms = table_rows(&server.storage, "metric_histograms");
    let (b, r) = one(&histograms, &[("metric_name", "my.histogram")]);
    assert_eq!(u64_at(&b, "count", r), 2);
    assert_eq!(f64_at(&b, "sum", r), Some(2.0));
    assert_eq!(u64_list(&b, "bucket_counts", r), [1, 1]);
    assert_eq!(f64_list(&b, "explicit_bounds", r), [1.0]);
    assert_eq!(
        (f64_at(&b, "min", r), f64_at(&b, "max", r)),
        (Some(0.0), Some(2.0))
    );

    let exp = table_rows(&server.storage, "metric_exp_histograms");
    let (b, r) = one(&exp, &[("metric_name", "my.exponential.histogram")]);
    assert_eq!(u64_at(&b, "count", r), 3);
    assert_eq!(f64_at(&b, "sum", r), Some(10.0));
    assert_eq!(i32_at(&b, "scale", r), 0);
    assert_eq!(u64_at(&b, "zero_count", r), 1);
    assert_eq!(i32_at(&b, "positive_offset", r), 1);
    assert_eq!(u64_list(&b, "positive_bucket_counts", r), [0, 2]);
    assert_eq!(u64_list(&b, "negative_bucket_counts", r), Vec::<u64>::new());
    assert_eq!(
        (f64_at(&b, "min", r), f64_at(&b, "max", r)),
        (Some(0.0), Some(5.0))
    );

    let logs = table_rows(&server.storage, "logs");
    let (b, r) = one(&logs, &[("service_name", "my.service")]);
    assert_eq!(value(&b, "trace_id", r), "5b8efff798038103d269b633813fc60c");
    assert_eq!(value(&b, "span_id", r), "eee19b7ec3c1b174");
    assert_eq!(value(&b, "severity_text", r), "Information");
    assert_eq!(value(&b, "severity_number", r), "10");
    assert_eq!(value(&b, "body", r), "Example log record");
    assert_eq!(value(&b, "body_type", r), "string");
    assert_eq!(time_at(&b, "time", r), Some(t));
    assert_eq!(time_at(&b, "observed_time", r), Some(t));
    let attrs = map_entries(&b, "attributes", r);
    let types = map_entries(&b, "attribute_types", r);
    assert_eq!(attrs["int.attribute"], "10");
    assert_eq!(types["int.attribute"], "int");
    assert_eq!(attrs["double.attribute"], "637.704");
    assert_eq!(types["double.attribute"], "double");
    assert_eq!(attrs["boolean.attribute"], "true");
    assert_eq!(attrs["array.attribute"], r#"["many","values"]"#);
    assert_eq!(attrs["map.attribute"], r#"{"some.map.key":"some value"}"#);
    assert_eq!(types["map.attribute"], "map");

    // the same from Parquet, partitioned under the tables' own directories
    server.storage.flush().await.expect("flush");
    for table in [
        "metric_points",
        "metric_histograms",
        "metric_exp_histograms",
        "logs",
    ] {
        let snapshot = server.storage.snapshot(table).expect("snapshot");
        assert!(snapshot.head.is_empty());
        assert!(!snapshot.files.is_empty(), "{table} has files");
        for f in &snapshot.files {
            let rel = f.path.strip_prefix(dir.path()).expect("under data dir");
            assert!(
                rel.to_string_lossy()
                    .starts_with(&format!("{table}/date=2018-12-13/hour=14/")),
                "{}",
                rel.display()
            );
        }
    }
    let logs = table_rows(&server.storage, "logs");
    let (b, r) = one(&logs, &[("service_name", "my.service")]);
    assert_eq!(value(&b, "trace_id", r), "5b8efff798038103d269b633813fc60c");
    server.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_type_round_trips_over_grpc_and_http() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(dir.path()).await;
    let t0 = now_ns() - 60 * SEC;

    let mut client = MetricsServiceClient::connect(format!("http://{}", server.otlp_grpc_addr))
        .await
        .expect("connect")
        .send_compressed(tonic::codec::CompressionEncoding::Gzip);
    let response = client
        .export(every_type("grpc-svc", t0))
        .await
        .expect("grpc export")
        .into_inner();
    assert_eq!(response.partial_success, None);

    let (status, body) = post(
        server.otlp_http_addr,
        "/v1/metrics",
        "application/x-protobuf",
        None,
        every_type("http-svc", t0).encode_to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let response = ExportMetricsServiceResponse::decode(&body[..]).expect("response");
    assert_eq!(response.partial_success, None);

    for service in ["grpc-svc", "http-svc"] {
        check_every_type(&server.storage, service, t0);
    }
    server.storage.flush().await.expect("flush");
    assert!(
        server
            .storage
            .snapshot("metric_points")
            .expect("snapshot")
            .head
            .is_empty()
    );
    for service in ["grpc-svc", "http-svc"] {
        check_every_type(&server.storage, service, t0);
    }
    // and after a restart, from the files alone
    server.shutdown().await.expect("shutdown");
    let server = start(dir.path()).await;
    check_every_type(&server.storage, "grpc-svc", t0);
    server.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_points_and_records_are_rejected_one_by_one() {
    use number_data_point::Value::AsDouble;
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(dir.path()).await;
    let now = now_ns();

    // a point with no time and one with a malformed exemplar id, beside a good one
    let mut bad_exemplar = number(0, now, AsDouble(2.0), vec![]);
    bad_exemplar.exemplars = vec![Exemplar {
        trace_id: vec![1; 5],
        ..Default::default()
    }];
    let request = metrics_request(
        "rejects",
        vec![metric(
            "g",
            metric::Data::Gauge(Gauge {
                data_points: vec![
                    number(0, now, AsDouble(1.0), vec![]),
                    number(0, 0, AsDouble(9.0), vec![]),
                    bad_exemplar,
                ],
            }),
        )],
    );
    let mut client = MetricsServiceClient::connect(format!("http://{}", server.otlp_grpc_addr))
        .await
        .expect("connect");
    let response = client.export(request).await.expect("export").into_inner();
    let partial = response.partial_success.expect("partial success");
    assert_eq!(partial.rejected_data_points, 2);
    assert!(
        partial.error_message.starts_with("2 of 3 data points rejected: ")
            && partial.error_message.contains(
                "resourceMetrics[0].scopeMetrics[0].metrics[0].gauge.dataPoints[1]: time_unix_nano is missing"
            )
            && partial.error_message.contains("exemplars[0].trace_id must be 16 bytes, got 5"),
        "{}",
        partial.error_message
    );
    assert_eq!(
        find(
            &table_rows(&server.storage, "metric_points"),
            &[("service_name", "rejects")]
        )
        .len(),
        1
    );

    // logs over HTTP/JSON: a record with no time at all is rejected (a malformed hex id
    // already fails the JSON decoding of the whole request, as for traces)
    let body = serde_json::json!({"resourceLogs": [{"scopeLogs": [{"logRecords": [
        {"timeUnixNano": now.to_string(), "body": {"stringValue": "kept"}},
        {"spanId": "0102030405060708", "body": {"stringValue": "dropped"}},
        {"observedTimeUnixNano": now.to_string(), "body": {"intValue": "42"}}
    ]}]}]});
    let (status, bytes) = post(
        server.otlp_http_addr,
        "/v1/logs",
        "application/json",
        None,
        body.to_string().into_bytes(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let answer: J = serde_json::from_slice(&bytes).expect("json");
    assert_eq!(answer["partialSuccess"]["rejectedLogRecords"], "1");
    let message = answer["partialSuccess"]["errorMessage"]
        .as_str()
        .expect("message");
    assert!(
        message.contains(
            "resourceLogs[0].scopeLogs[0].logRecords[1]: time_unix_nano and observed_time_unix_nano are missing"
        ),
        "{message}"
    );
    let logs = table_rows(&server.storage, "logs");
    assert_eq!(strings(&logs, "body"), ["kept", "42"]);
    assert_eq!(strings(&logs, "body_type"), ["string", "int"]);

    // malformed bodies: 400 over HTTP, INVALID_ARGUMENT over gRPC
    let (status, bytes) = post(
        server.otlp_http_addr,
        "/v1/metrics",
        "application/x-protobuf",
        None,
        vec![0xff, 0xff, 0xff],
    )
    .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "{}",
        String::from_utf8_lossy(&bytes)
    );
    let (status, bytes) = post(
        server.otlp_http_addr,
        "/v1/logs",
        "application/json",
        None,
        br#"{"resourceLogs": [{"scopeLogs": [{"logRecords": [{"traceId": "zz"}]}]}]}"#.to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let error: J = serde_json::from_slice(&bytes).expect("json status");
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("logRecords[0].traceId")),
        "{error}"
    );
    let channel =
        tonic::transport::Endpoint::from_shared(format!("http://{}", server.otlp_grpc_addr))
            .expect("endpoint")
            .connect()
            .await
            .expect("connect");
    let mut logs_client = LogsServiceClient::new(channel);
    let bad = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![LogRecord {
                    time_unix_nano: now,
                    trace_id: vec![0; 4],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let response = logs_client.export(bad).await.expect("export").into_inner();
    assert_eq!(
        response.partial_success.map(|p| p.rejected_log_records),
        Some(1)
    );
    let (status, bytes) = post(
        server.otlp_http_addr,
        "/v1/logs",
        "text/plain",
        None,
        b"hello".to_vec(),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "{}",
        String::from_utf8_lossy(&bytes)
    );

    // the self-metrics count by signal and protocol
    let text = metrics_text(&server).await;
    // (the recorder is shared by every test of this process: at least these counts)
    let counter = |prefix: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(prefix))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("{prefix} not in /metrics"))
    };
    assert!(counter("meshscope_metric_points_received_total{protocol=\"grpc\"}") >= 3.0);
    assert!(counter("meshscope_metric_points_accepted_total{protocol=\"grpc\"}") >= 1.0);
    assert!(
        counter("meshscope_metric_points_rejected_total{protocol=\"grpc\",reason=\"invalid\"}")
            >= 2.0
    );
    assert!(counter("meshscope_log_records_received_total{protocol=\"http_json\"}") >= 3.0);
    assert!(
        counter("meshscope_log_records_rejected_total{protocol=\"http_json\",reason=\"invalid\"}")
            >= 1.0
    );
    server.shutdown().await.expect("shutdown");
}

/// A cumulative counter with a reset, a delta counter and two histogram points, around `base`.
fn helper_data(base: u64) -> ExportMetricsServiceRequest {
    use number_data_point::Value::AsDouble;
    let code = |c: i64| vec![kv("code", any_value::Value::IntValue(c))];
    let early = base - 60 * SEC;
    let restart = base + 15 * SEC;
    metrics_request(
        "helpers",
        vec![
            metric(
                "http.requests",
                metric::Data::Sum(Sum {
                    data_points: vec![
                        number(early, base, AsDouble(100.0), code(200)),
                        number(early, base + 10 * SEC, AsDouble(150.0), code(200)),
                        number(restart, base + 20 * SEC, AsDouble(30.0), code(200)),
                        number(restart, base + 30 * SEC, AsDouble(80.0), code(200)),
                    ],
                    aggregation_temporality: 2,
                    is_monotonic: true,
                }),
            ),
            metric(
                "http.requests",
                metric::Data::Sum(Sum {
                    data_points: (1..=3)
                        .map(|i| {
                            number(
                                base + (i - 1) * 10 * SEC,
                                base + i * 10 * SEC,
                                AsDouble(i as f64),
                                code(500),
                            )
                        })
                        .collect(),
                    aggregation_temporality: 1,
                    is_monotonic: true,
                }),
            ),
            metric(
                "http.duration",
                metric::Data::Histogram(Histogram {
                    data_points: vec![
                        HistogramDataPoint {
                            start_time_unix_nano: base,
                            time_unix_nano: base + 10 * SEC,
                            count: 40,
                            bucket_counts: vec![10, 20, 10, 0],
                            explicit_bounds: vec![0.1, 0.5, 1.0],
                            ..Default::default()
                        },
                        HistogramDataPoint {
                            start_time_unix_nano: base + 10 * SEC,
                            time_unix_nano: base + 20 * SEC,
                            count: 60,
                            bucket_counts: vec![0, 30, 20, 10],
                            explicit_bounds: vec![0.1, 0.5, 1.0],
                            max: Some(2.0),
                            ..Default::default()
                        },
                    ],
                    aggregation_temporality: 1,
                }),
            ),
        ],
    )
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_and_quantile_helpers_handle_resets_and_buckets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(dir.path()).await;
    let base = now_ns() - 600 * SEC;
    let (status, _) = post(
        server.otlp_http_addr,
        "/v1/metrics",
        "application/x-protobuf",
        None,
        helper_data(base).encode_to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let start = base - SEC;
    let end = base + 40 * SEC;
    let window = (end - start) as f64 / 1e9;

    let (status, rate) = get_json(
        &server,
        &format!("/api/v1/metrics/rate?metric=http.requests&start={start}&end={end}&attr=code=200"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{rate}");
    // 150-100, then a reset (new start time): +30, then 80-30
    assert!(
        close(rate["increase"].as_f64().expect("increase"), 130.0),
        "{rate}"
    );
    assert!(
        close(rate["rate"].as_f64().expect("rate"), 130.0 / window),
        "{rate}"
    );
    assert_eq!(rate["series"][0]["resets"], 1);
    assert_eq!(rate["series"][0]["points"], 4);
    assert_eq!(rate["series"][0]["temporality"], "cumulative");
    assert_eq!(rate["series"][0]["attributes"]["code"], "200");

    let (status, rate) = get_json(
        &server,
        &format!(
            "/api/v1/metrics/rate?metric=http.requests&service=helpers&start={start}&end={end}"
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{rate}");
    // the delta series adds 1 + 2 + 3
    assert!(
        close(rate["increase"].as_f64().expect("increase"), 136.0),
        "{rate}"
    );
    assert_eq!(rate["series"].as_array().expect("series").len(), 2);

    let (status, q) = get_json(
        &server,
        &format!("/api/v1/metrics/quantile?metric=http.duration&q=0.5&start={start}&end={end}"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{q}");
    // merged buckets [10, 50, 30, 10]: the 50th of 100 is 4/5 into (0.1, 0.5]
    assert!(close(q["value"].as_f64().expect("value"), 0.42), "{q}");
    assert_eq!(q["count"], 100);
    assert_eq!(q["kind"], "histogram");
    let (_, q) = get_json(
        &server,
        &format!("/api/v1/metrics/quantile?metric=http.duration&q=0.99&start={start}&end={end}"),
    )
    .await;
    // the 99th is 9/10 into (1.0, max 2.0]
    assert!(close(q["value"].as_f64().expect("value"), 1.9), "{q}");

    let (status, refused) = get_json(
        &server,
        &format!("/api/v1/metrics/quantile?metric=http.duration&q=1.5&start={start}&end={end}"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    let (status, _) = get_json(&server, "/api/v1/metrics/rate").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // the same from Parquet
    server.storage.flush().await.expect("flush");
    let (_, rate) = get_json(
        &server,
        &format!("/api/v1/metrics/rate?metric=http.requests&start={start}&end={end}&attr=code=200"),
    )
    .await;
    assert!(
        close(rate["increase"].as_f64().expect("increase"), 130.0),
        "{rate}"
    );
    server.shutdown().await.expect("shutdown");
}

/// The SQL recipes of README's "Metrics and logs" section, and joins to spans by trace id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_reads_the_new_tables_and_joins_them_to_spans() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(dir.path()).await;
    let base = now_ns() - 600 * SEC;
    let (status, _) = post(
        server.otlp_http_addr,
        "/v1/metrics",
        "application/x-protobuf",
        None,
        helper_data(base).encode_to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    // a span, a log inside it and a metric with an exemplar pointing at it
    let trace = sample_trace_with_log(&server, base).await;
    let mut with_exemplar = every_type("exemplars", base);
    with_exemplar.resource_metrics[0].scope_metrics[0]
        .metrics
        .retain(|m| m.name == "latency");
    if let Some(metric::Data::Histogram(h)) =
        &mut with_exemplar.resource_metrics[0].scope_metrics[0].metrics[0].data
    {
        h.data_points[0].exemplars[0].trace_id = hex::decode(&trace).expect("hex");
        h.data_points[0].exemplars[0].span_id = hex::decode(span_hex(77)).expect("hex");
    }
    let (status, _) = post(
        server.otlp_http_addr,
        "/v1/metrics",
        "application/x-protobuf",
        None,
        with_exemplar.encode_to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    for (table, rows) in [
        ("metric_points", 7),
        ("metric_histograms", 3),
        ("logs", 1),
        ("metric_exp_histograms", 0),
        ("metric_summaries", 0),
    ] {
        let (status, answer) = sql(&server, &format!("SELECT count(*) AS n FROM {table}")).await;
        assert_eq!(status, StatusCode::OK, "{table}: {answer}");
        assert_eq!(answer["rows"][0][0], rows, "{table}");
    }

    // counter rate with resets, as README shows it
    let start = base - SEC;
    let end = base + 40 * SEC;
    let rate_sql = format!(
        "WITH p AS (
           SELECT series_id, time, value,
                  lag(value) OVER w AS prev_value,
                  lag(start_time) OVER w AS prev_start, start_time
           FROM metric_points
           WHERE metric_name = 'http.requests' AND temporality = 'cumulative'
             AND time BETWEEN to_timestamp_nanos({start}) AND to_timestamp_nanos({end})
           WINDOW w AS (PARTITION BY series_id ORDER BY time))
         SELECT series_id,
                sum(CASE WHEN prev_value IS NULL THEN 0
                         WHEN value < prev_value OR start_time <> prev_start THEN value
                         ELSE value - prev_value END) AS increase
         FROM p GROUP BY series_id"
    );
    let (status, answer) = sql(&server, &rate_sql).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["rows"][0][1], 130.0, "{answer}");

    // histogram percentile from the merged buckets, as README shows it
    let quantile_sql = format!(
        "WITH b AS (
           SELECT explicit_bounds, bucket_counts,
                  unnest(range(1, CAST(array_length(bucket_counts) AS BIGINT) + 1)) AS i
           FROM metric_histograms
           WHERE metric_name = 'http.duration' AND temporality = 'delta'
             AND time BETWEEN to_timestamp_nanos({start}) AND to_timestamp_nanos({end})),
         per_bucket AS (
           SELECT i, max(explicit_bounds[i]) AS le, sum(bucket_counts[i]) AS n
           FROM b GROUP BY i),
         cum AS (
           SELECT i, le, sum(n) OVER (ORDER BY i) AS running, sum(n) OVER () AS total
           FROM per_bucket)
         SELECT le FROM cum WHERE running >= 0.5 * total ORDER BY i LIMIT 1"
    );
    let (status, answer) = sql(&server, &quantile_sql).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["rows"][0][0], 0.5, "{answer}");

    // logs and exemplars joined to spans by trace id
    let (status, answer) = sql(
        &server,
        "SELECT s.name, l.body, l.severity_text FROM logs l JOIN spans s
           ON l.trace_id = s.trace_id AND l.span_id = s.span_id",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["rows"][0][0], "checkout");
    assert_eq!(answer["rows"][0][1], "payment declined");
    let (status, answer) = sql(
        &server,
        "SELECT h.metric_name, s.name, e['value_int'] AS v
         FROM (SELECT metric_name, unnest(exemplars) AS e FROM metric_histograms
               WHERE metric_name = 'latency') h
         JOIN spans s ON s.trace_id = e['trace_id'] AND s.span_id = e['span_id']",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["rows"][0][0], "latency");
    assert_eq!(answer["rows"][0][1], "checkout");
    assert_eq!(answer["rows"][0][2], 7);
    server.shutdown().await.expect("shutdown");
}

/// Sends a span named `checkout` and a log record inside it; returns the trace id (hex).
async fn sample_trace_with_log(server: &meshscope::Server, base: u64) -> String {
    let mut root = span(77);
    root.name = "checkout".into();
    let trace = hex::encode(&root.trace_id);
    let logs = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: Some(Resource {
                attributes: vec![kv("service.name", s("cart"))],
                ..Default::default()
            }),
            scope_logs: vec![ScopeLogs {
                scope: Some(InstrumentationScope {
                    name: "app.logger".into(),
                    ..Default::default()
                }),
                log_records: vec![LogRecord {
                    time_unix_nano: base,
                    observed_time_unix_nano: base + 1,
                    severity_number: 17,
                    severity_text: "ERROR".into(),
                    body: Some(AnyValue {
                        value: Some(s("payment declined")),
                    }),
                    attributes: vec![
                        kv("order.id", any_value::Value::IntValue(42)),
                        kv(
                            "details",
                            any_value::Value::KvlistValue(KeyValueList {
                                values: vec![kv("card", s("visa"))],
                            }),
                        ),
                    ],
                    trace_id: root.trace_id.clone(),
                    span_id: root.span_id.clone(),
                    flags: 1,
                    event_name: "payment.failed".into(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let (status, _) = post(
        server.otlp_http_addr,
        "/v1/traces",
        "application/x-protobuf",
        None,
        request("cart", vec![root]).encode_to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = post(
        server.otlp_http_addr,
        "/v1/logs",
        "application/x-protobuf",
        None,
        logs.encode_to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let response = ExportLogsServiceResponse::decode(&body[..]).expect("response");
    assert_eq!(response.partial_success, None);
    trace
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_by_id_includes_its_logs_on_request() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(dir.path()).await;
    let base = now_ns() - 10 * SEC;
    let trace = sample_trace_with_log(&server, base).await;

    let (status, plain) = get_json(&server, &format!("/api/v1/traces/{trace}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(plain.get("resourceLogs").is_none(), "{plain}");
    assert_eq!(
        plain["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["name"],
        "checkout"
    );

    for phase in ["head", "parquet"] {
        let (status, with_logs) =
            get_json(&server, &format!("/api/v1/traces/{trace}?logs=true")).await;
        assert_eq!(status, StatusCode::OK, "{phase}");
        assert_eq!(
            with_logs["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["name"],
            "checkout"
        );
        let resource_logs = &with_logs["resourceLogs"][0];
        assert_eq!(
            resource_logs["resource"]["attributes"][0],
            serde_json::json!({"key": "service.name", "value": {"stringValue": "cart"}})
        );
        assert_eq!(resource_logs["scopeLogs"][0]["scope"]["name"], "app.logger");
        let record = &resource_logs["scopeLogs"][0]["logRecords"][0];
        assert_eq!(record["traceId"], trace.as_str(), "{phase}");
        assert_eq!(record["severityNumber"], 17);
        assert_eq!(record["severityText"], "ERROR");
        assert_eq!(
            record["body"],
            serde_json::json!({"stringValue": "payment declined"})
        );
        assert_eq!(record["timeUnixNano"], base.to_string());
        assert_eq!(record["observedTimeUnixNano"], (base + 1).to_string());
        assert_eq!(record["eventName"], "payment.failed");
        assert_eq!(record["flags"], 1);
        assert_eq!(
            record["attributes"],
            serde_json::json!([
                {"key": "order.id", "value": {"intValue": "42"}},
                {"key": "details", "value": {"kvlistValue": {"values": [
                    {"key": "card", "value": {"stringValue": "visa"}}]}}}
            ])
        );
        server.storage.flush().await.expect("flush");
    }
    let (status, _) = get_json(
        &server,
        &format!("/api/v1/traces/{}?logs=true", "1".repeat(32)),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    server.shutdown().await.expect("shutdown");
}

// ---------------------------------------------------------------------------------------------
// the Rust opentelemetry-otlp exporters
// ---------------------------------------------------------------------------------------------

mod rust_sdk {
    use opentelemetry::KeyValue;
    use opentelemetry::logs::{
        AnyValue, LogRecord as _, Logger as _, LoggerProvider as _, Severity,
    };
    use opentelemetry::metrics::MeterProvider as _;
    use opentelemetry::trace::{TraceContextExt as _, Tracer as _, TracerProvider as _};
    use opentelemetry_otlp::{
        LogExporter, MetricExporter, Protocol, SpanExporter, WithExportConfig,
    };
    use opentelemetry_sdk::Resource;
    use opentelemetry_sdk::logs::SdkLoggerProvider;
    use opentelemetry_sdk::metrics::{
        Aggregation, Instrument, SdkMeterProvider, Stream, Temporality,
    };
    use opentelemetry_sdk::trace::SdkTracerProvider;

    use super::*;

    fn resource(service: &str) -> Resource {
        Resource::builder()
            .with_service_name(service.to_owned())
            .with_attributes([KeyValue::new("deployment.environment.name", "test")])
            .build()
    }

    /// A counter, an up-down counter, a histogram, an observable gauge and an exponential
    /// histogram (through a view), recorded and exported once.
    pub fn emit_metrics(exporter: MetricExporter, service: &str) {
        let provider = SdkMeterProvider::builder()
            .with_periodic_exporter(exporter)
            .with_view(|i: &Instrument| {
                (i.name() == "interop.size").then(|| {
                    Stream::builder()
                        .with_aggregation(Aggregation::Base2ExponentialHistogram {
                            max_size: 160,
                            max_scale: 20,
                            record_min_max: true,
                        })
                        .build()
                        .expect("stream")
                })
            })
            .with_resource(resource(service))
            .build();
        let meter = provider.meter("interop-metrics");
        let route = [KeyValue::new("http.route", "/cart")];
        let counter = meter.u64_counter("interop.requests").with_unit("1").build();
        counter.add(5, &route);
        counter.add(7, &route);
        let inflight = meter.i64_up_down_counter("interop.inflight").build();
        inflight.add(3, &[]);
        inflight.add(-5, &[]);
        let duration = meter
            .f64_histogram("interop.duration")
            .with_unit("ms")
            .with_description("request duration")
            .build();
        for v in [0.5, 1.5, 250.0] {
            duration.record(v, &route);
        }
        let _gauge = meter
            .f64_observable_gauge("interop.temperature")
            .with_callback(|observer| observer.observe(21.5, &[KeyValue::new("room", "a")]))
            .build();
        let size = meter.f64_histogram("interop.size").build();
        for v in [1.0, 2.0, 4.0, 1000.0] {
            size.record(v, &[]);
        }
        // shutdown collects and exports once (a force_flush before it would export twice)
        provider.shutdown().expect("shutdown");
    }

    pub fn check_metrics(storage: &Storage, service: &str, temporality: &str) {
        let points = table_rows(storage, "metric_points");
        let (b, r) = one(
            &points,
            &[
                ("service_name", service),
                ("metric_name", "interop.requests"),
            ],
        );
        assert_eq!(i64_at(&b, "value_int", r), Some(12));
        assert_eq!(value(&b, "metric_type", r), "sum");
        assert_eq!(value(&b, "is_monotonic", r), "true");
        assert_eq!(value(&b, "temporality", r), temporality);
        assert_eq!(value(&b, "metric_unit", r), "1");
        assert_eq!(value(&b, "scope_name", r), "interop-metrics");
        assert_eq!(map_entries(&b, "attributes", r)["http.route"], "/cart");
        assert_eq!(
            map_entries(&b, "resource_attributes", r)["deployment.environment.name"],
            "test"
        );
        assert!(time_at(&b, "start_time", r).is_some());
        let (b, r) = one(
            &points,
            &[
                ("service_name", service),
                ("metric_name", "interop.inflight"),
            ],
        );
        assert_eq!(i64_at(&b, "value_int", r), Some(-2));
        assert_eq!(value(&b, "is_monotonic", r), "false");
        let (b, r) = one(
            &points,
            &[
                ("service_name", service),
                ("metric_name", "interop.temperature"),
            ],
        );
        assert_eq!(value(&b, "metric_type", r), "gauge");
        assert_eq!(f64_at(&b, "value", r), Some(21.5));
        assert_eq!(map_entries(&b, "attributes", r)["room"], "a");

        let histograms = table_rows(storage, "metric_histograms");
        let (b, r) = one(
            &histograms,
            &[
                ("service_name", service),
                ("metric_name", "interop.duration"),
            ],
        );
        assert_eq!(u64_at(&b, "count", r), 3);
        assert_eq!(f64_at(&b, "sum", r), Some(252.0));
        assert_eq!(f64_at(&b, "min", r), Some(0.5));
        assert_eq!(f64_at(&b, "max", r), Some(250.0));
        assert_eq!(value(&b, "metric_description", r), "request duration");
        let counts = u64_list(&b, "bucket_counts", r);
        let bounds = f64_list(&b, "explicit_bounds", r);
        assert_eq!(counts.len(), bounds.len() + 1);
        assert_eq!(counts.iter().sum::<u64>(), 3);
        let le_250 = bounds
            .iter()
            .position(|b| *b == 250.0)
            .expect("a 250 bound");
        assert_eq!(counts[le_250], 1, "250 falls in (.., 250]");

        let exp = table_rows(storage, "metric_exp_histograms");
        let (b, r) = one(
            &exp,
            &[("service_name", service), ("metric_name", "interop.size")],
        );
        assert_eq!(u64_at(&b, "count", r), 4);
        assert_eq!(f64_at(&b, "sum", r), Some(1007.0));
        assert_eq!(f64_at(&b, "min", r), Some(1.0));
        assert_eq!(f64_at(&b, "max", r), Some(1000.0));
        assert_eq!(
            u64_at(&b, "zero_count", r)
                + u64_list(&b, "positive_bucket_counts", r)
                    .iter()
                    .sum::<u64>(),
            4
        );
        assert!(i32_at(&b, "scale", r) <= 20);
    }

    /// A span with a log record emitted inside it; returns the trace id (hex).
    pub fn emit_log_in_span(spans: SpanExporter, logs: LogExporter, service: &str) -> String {
        let tracer_provider = SdkTracerProvider::builder()
            .with_simple_exporter(spans)
            .with_resource(resource(service))
            .build();
        let logger_provider = SdkLoggerProvider::builder()
            .with_simple_exporter(logs)
            .with_resource(resource(service))
            .build();
        let tracer = tracer_provider.tracer("interop-tracer");
        let logger = logger_provider.logger("interop-logger");
        let trace_id = tracer.in_span("charge card", |cx| {
            let mut record = logger.create_log_record();
            record.set_severity_number(Severity::Error);
            record.set_severity_text("ERROR");
            record.set_body(AnyValue::from("payment declined"));
            record.add_attribute("order.id", 42_i64);
            record.add_attribute("retry", true);
            logger.emit(record);
            cx.span().span_context().trace_id().to_string()
        });
        tracer_provider.force_flush().expect("flush spans");
        logger_provider.force_flush().expect("flush logs");
        tracer_provider.shutdown().expect("shutdown");
        logger_provider.shutdown().expect("shutdown");
        trace_id
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rust_otlp_metrics_and_logs_exporters_over_grpc_and_http() {
        let dir = tempfile::tempdir().expect("tempdir");
        let server = start(dir.path()).await;
        let grpc = format!("http://{}", server.otlp_grpc_addr);
        let http = format!("http://{}", server.otlp_http_addr);
        let (grpc_trace, http_trace) = tokio::task::spawn_blocking(move || {
            let exporter = MetricExporter::builder()
                .with_tonic()
                .with_endpoint(grpc.clone())
                .build()
                .expect("grpc exporter");
            emit_metrics(exporter, "rust-metrics-grpc");
            let exporter = MetricExporter::builder()
                .with_http()
                .with_protocol(Protocol::HttpBinary)
                .with_endpoint(format!("{http}/v1/metrics"))
                .with_temporality(Temporality::Delta)
                .build()
                .expect("http exporter");
            emit_metrics(exporter, "rust-metrics-http");

            let spans = SpanExporter::builder()
                .with_tonic()
                .with_endpoint(grpc.clone())
                .build()
                .expect("span exporter");
            let logs = LogExporter::builder()
                .with_tonic()
                .with_endpoint(grpc)
                .build()
                .expect("log exporter");
            let grpc_trace = emit_log_in_span(spans, logs, "rust-logs-grpc");
            let spans = SpanExporter::builder()
                .with_http()
                .with_protocol(Protocol::HttpBinary)
                .with_endpoint(format!("{http}/v1/traces"))
                .build()
                .expect("span exporter");
            let logs = LogExporter::builder()
                .with_http()
                .with_protocol(Protocol::HttpBinary)
                .with_endpoint(format!("{http}/v1/logs"))
                .build()
                .expect("log exporter");
            let http_trace = emit_log_in_span(spans, logs, "rust-logs-http");
            (grpc_trace, http_trace)
        })
        .await
        .expect("exporters");

        for _ in 0..2 {
            check_metrics(&server.storage, "rust-metrics-grpc", "cumulative");
            check_metrics(&server.storage, "rust-metrics-http", "delta");
            let logs = table_rows(&server.storage, "logs");
            for (service, trace) in [
                ("rust-logs-grpc", &grpc_trace),
                ("rust-logs-http", &http_trace),
            ] {
                let (b, r) = one(&logs, &[("service_name", service)]);
                assert_eq!(&value(&b, "trace_id", r), trace);
                assert_eq!(value(&b, "body", r), "payment declined");
                assert_eq!(value(&b, "severity_number", r), "17");
                assert_eq!(value(&b, "severity_text", r), "ERROR");
                assert_eq!(value(&b, "scope_name", r), "interop-logger");
                assert_eq!(map_entries(&b, "attributes", r)["order.id"], "42");
                assert_eq!(map_entries(&b, "attribute_types", r)["order.id"], "int");
                let spans = find(
                    &table_rows(&server.storage, "spans"),
                    &[("trace_id", trace)],
                );
                assert_eq!(spans.len(), 1);
                let (sb, sr) = &spans[0];
                assert_eq!(
                    value(&b, "span_id", r),
                    value(sb, "span_id", *sr),
                    "the log is in the span"
                );
            }
            server.storage.flush().await.expect("flush");
        }
        let (status, q) = get_json(
            &server,
            "/api/v1/metrics/quantile?metric=interop.size&service=rust-metrics-grpc&q=0.5&lookback=1h",
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{q}");
        assert_eq!(q["kind"], "exponential_histogram");
        let median = q["value"].as_f64().expect("value");
        assert!((1.9..=4.1).contains(&median), "{q}");
        let (status, trace) =
            get_json(&server, &format!("/api/v1/traces/{grpc_trace}?logs=true")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            trace["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]["body"]["stringValue"],
            "payment declined"
        );
        server.shutdown().await.expect("shutdown");
    }
}
