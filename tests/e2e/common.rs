//! Shared helpers: start a server, read back every stored span.

use std::collections::HashMap;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use arrow::array::{Array, AsArray, RecordBatch};
use meshscope::{Config, ServeArgs, Server};
use meshscope_storage::{Storage, StorageConfig, read_parquet_file};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

/// Flags for a server on free ports over `dir`.
pub fn args(dir: &Path) -> ServeArgs {
    let any = "127.0.0.1:0".parse().ok();
    ServeArgs {
        otlp_grpc_addr: any,
        otlp_http_addr: any,
        http_addr: any,
        zipkin_addr: Some("127.0.0.1:0".into()),
        data_dir: Some(dir.to_path_buf()),
        log: Some("warn".into()),
        ..Default::default()
    }
}

pub async fn start(dir: &Path) -> Server {
    start_with(args(dir)).await
}

pub async fn start_with(args: ServeArgs) -> Server {
    let config = Config::resolve(&args).expect("config");
    Server::start(config).await.expect("server starts")
}

/// The server's `/metrics` page.
pub async fn metrics_text(server: &Server) -> String {
    reqwest::get(format!("http://{}/metrics", server.http_addr))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text")
}

pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_nanos() as u64
}

pub fn string_kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

/// A span with ids derived from `n` (trace id `n` repeated, span id `n`).
pub fn span(n: u64) -> Span {
    let now = now_ns();
    let mut trace_id = [0u8; 16];
    trace_id[..8].copy_from_slice(&n.to_be_bytes());
    trace_id[8..].copy_from_slice(&(!n).to_be_bytes());
    Span {
        trace_id: trace_id.to_vec(),
        span_id: (n + 1).to_be_bytes().to_vec(),
        name: format!("GET /items/{}", n % 7),
        kind: 2,
        start_time_unix_nano: now - 5_000_000,
        end_time_unix_nano: now,
        attributes: vec![string_kv("http.request.method", "GET")],
        ..Default::default()
    }
}

/// The hex span id of [`span`]`(n)`.
pub fn span_hex(n: u64) -> String {
    hex::encode((n + 1).to_be_bytes())
}

pub fn request(service: &str, spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![string_kv("service.name", service)],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// Every stored `spans` row of an open store: the head and every Parquet file.
pub fn stored_rows(storage: &Storage) -> Vec<RecordBatch> {
    let snapshot = storage.snapshot("spans").expect("snapshot");
    let mut batches = snapshot.head.clone();
    for file in &snapshot.files {
        batches.extend(read_parquet_file(&file.path).expect("readable parquet"));
    }
    batches
}

/// Opens the data directory with the project's own storage code (replaying the WAL) and
/// returns every stored row.
pub async fn read_data_dir(dir: &Path) -> Vec<RecordBatch> {
    let storage = Storage::open(
        StorageConfig {
            data_dir: dir.to_path_buf(),
            ..Default::default()
        },
        meshscope::server::tables(),
    )
    .await
    .expect("open data dir");
    let rows = stored_rows(&storage);
    storage.shutdown().await.expect("close");
    rows
}

/// Values of a string column across batches.
pub fn strings(batches: &[RecordBatch], column: &str) -> Vec<String> {
    batches
        .iter()
        .flat_map(|b| {
            let col = b.column_by_name(column).expect(column).as_string::<i32>();
            (0..col.len())
                .map(|i| col.value(i).to_owned())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// How often each value occurs.
pub fn counts(values: Vec<String>) -> HashMap<String, usize> {
    let mut map = HashMap::new();
    for v in values {
        *map.entry(v).or_default() += 1;
    }
    map
}

/// Row `i` of `batch`'s map column as key → value pairs.
pub fn map_entries(batch: &RecordBatch, column: &str, row: usize) -> HashMap<String, String> {
    let map = batch.column_by_name(column).expect(column).as_map();
    let entries = map.value(row);
    let keys = entries.column(0).as_string::<i32>();
    let values = entries.column(1).as_string::<i32>();
    (0..keys.len())
        .map(|i| (keys.value(i).to_owned(), values.value(i).to_owned()))
        .collect()
}

/// The row of the span named `name` (panics if absent or repeated).
pub fn row_named(batches: &[RecordBatch], name: &str) -> (RecordBatch, usize) {
    let mut found = Vec::new();
    for b in batches {
        let names = b.column_by_name("name").expect("name").as_string::<i32>();
        for i in 0..names.len() {
            if names.value(i) == name {
                found.push((b.clone(), i));
            }
        }
    }
    assert_eq!(found.len(), 1, "exactly one span named {name:?}");
    found.remove(0)
}

pub fn value(batch: &RecordBatch, column: &str, row: usize) -> String {
    let col = batch.column_by_name(column).expect(column);
    arrow::util::display::array_value_to_string(col, row).expect("displayable")
}
