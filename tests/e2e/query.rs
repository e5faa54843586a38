//! Queries end to end: spans ingested through OTLP/HTTP, read back through the native API, the
//! Jaeger-compatible API, SQL and the `meshscope query` CLI, with the data in the head only,
//! in Parquet files only, and in both.

use std::collections::BTreeSet;
use std::process::Command;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use prost::Message;
use reqwest::StatusCode;
use serde_json::{Value as J, json};

use crate::common::*;

const A: &str = "a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0";
const B: &str = "b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0";
const C: &str = "c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0";

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn id(hex_text: &str) -> Vec<u8> {
    hex::decode(hex_text).expect("hex")
}

/// A span of trace `trace`, id `n`, starting at `start` (ns) and lasting `ms`.
fn make(
    trace: &str,
    n: u8,
    parent: Option<u8>,
    name: &str,
    kind: i32,
    start: u64,
    ms: u64,
) -> Span {
    Span {
        trace_id: id(trace),
        span_id: vec![0, 0, 0, 0, 0, 0, 0, n],
        parent_span_id: parent
            .map(|p| vec![0, 0, 0, 0, 0, 0, 0, p])
            .unwrap_or_default(),
        name: name.into(),
        kind,
        start_time_unix_nano: start,
        end_time_unix_nano: start + ms * 1_000_000,
        ..Default::default()
    }
}

const MS: u64 = 1_000_000;

fn export(service: &str, spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    string_kv("service.name", service),
                    kv(
                        "k8s.namespace.name",
                        any_value::Value::StringValue("shop".into()),
                    ),
                ],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "mesh".into(),
                    version: "1.0".into(),
                    ..Default::default()
                }),
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// Trace A: frontend `GET /cart` → checkout `POST /checkout` → payments `charge` (error).
/// Trace B: frontend `GET /home`, 5 ms.
fn first_batch(base: u64) -> Vec<ExportTraceServiceRequest> {
    let mut root = make(A, 1, None, "GET /cart", 2, base, 120);
    root.attributes = vec![
        string_kv("http.route", "/cart"),
        kv("http.response.status_code", any_value::Value::IntValue(200)),
        kv("cart.items", any_value::Value::DoubleValue(2.5)),
    ];
    let home = make(B, 11, None, "GET /home", 2, base + 500 * MS, 5);
    let checkout = make(A, 2, Some(1), "POST /checkout", 2, base + 10 * MS, 100);
    let mut charge = make(A, 3, Some(2), "charge", 3, base + 20 * MS, 80);
    charge.status = Some(Status {
        message: "card declined".into(),
        code: 2,
    });
    charge.events = vec![Event {
        time_unix_nano: base + 90_000_000,
        name: "exception".into(),
        attributes: vec![string_kv("exception.type", "CardError")],
        ..Default::default()
    }];
    vec![
        export("frontend", vec![root, home]),
        export("checkout", vec![checkout]),
        export("payments", vec![charge]),
    ]
}

/// Trace C (linked to A) and a late span of A.
fn second_batch(base: u64) -> Vec<ExportTraceServiceRequest> {
    let mut retry = make(C, 21, None, "POST /checkout", 2, base + 1000 * MS, 30);
    retry.links = vec![Link {
        trace_id: id(A),
        span_id: vec![0, 0, 0, 0, 0, 0, 0, 1],
        ..Default::default()
    }];
    let audit = make(A, 4, Some(2), "audit", 4, base + 30 * MS, 10);
    vec![export("checkout", vec![retry, audit])]
}

async fn ingest(server: &meshscope::Server, requests: Vec<ExportTraceServiceRequest>) {
    let client = reqwest::Client::new();
    for request in requests {
        let response = client
            .post(format!("http://{}/v1/traces", server.otlp_http_addr))
            .header("content-type", "application/x-protobuf")
            .body(request.encode_to_vec())
            .send()
            .await
            .expect("send");
        assert_eq!(response.status(), StatusCode::OK);
    }
}

async fn get(server: &meshscope::Server, path: &str) -> (StatusCode, J) {
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
        .body(serde_json::to_vec(&json!({ "query": query })).expect("json"))
        .send()
        .await
        .expect("post");
    let status = response.status();
    let body = response.bytes().await.expect("body");
    (status, serde_json::from_slice(&body).expect("json"))
}

/// Replaces times (they depend on the clock) by "<time>".
fn redact(value: &mut J) {
    match value {
        J::Object(map) => {
            for (key, v) in map.iter_mut() {
                if matches!(
                    key.as_str(),
                    "startTime"
                        | "duration"
                        | "timestamp"
                        | "startTimeUnixNano"
                        | "endTimeUnixNano"
                        | "timeUnixNano"
                ) {
                    *v = J::String("<time>".into());
                } else {
                    redact(v);
                }
            }
        }
        J::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

fn jaeger_a_expected() -> J {
    let s = |key: &str, value: &str| json!({"key": key, "type": "string", "value": value});
    let lib = [
        s("otel.library.name", "mesh"),
        s("otel.library.version", "1.0"),
    ];
    let span = |n: u8, parent: Option<u8>, name: &str, tags: Vec<J>, logs: J, process: &str| {
        let references = match parent {
            Some(p) => {
                json!([{"refType": "CHILD_OF", "traceID": A, "spanID": format!("{p:016x}")}])
            }
            None => json!([]),
        };
        json!({
            "traceID": A, "spanID": format!("{n:016x}"), "operationName": name,
            "references": references, "startTime": "<time>", "duration": "<time>",
            "tags": tags, "logs": logs, "processID": process, "warnings": null
        })
    };
    let with = |extra: Vec<J>| lib.iter().cloned().chain(extra).collect::<Vec<_>>();
    let process =
        |service: &str| json!({"serviceName": service, "tags": [s("k8s.namespace.name", "shop")]});
    json!({
        "traceID": A,
        "spans": [
            span(1, None, "GET /cart", with(vec![
                s("http.route", "/cart"),
                json!({"key": "http.response.status_code", "type": "int64", "value": 200}),
                json!({"key": "cart.items", "type": "float64", "value": 2.5}),
                s("span.kind", "server"),
            ]), json!([]), "p1"),
            span(2, Some(1), "POST /checkout", with(vec![s("span.kind", "server")]), json!([]), "p2"),
            span(3, Some(2), "charge", with(vec![
                s("span.kind", "client"),
                s("otel.status_code", "ERROR"),
                json!({"key": "error", "type": "bool", "value": true}),
                s("otel.status_description", "card declined"),
            ]), json!([{"timestamp": "<time>", "fields": [s("event", "exception"), s("exception.type", "CardError")]}]), "p3"),
        ],
        "processes": {"p1": process("frontend"), "p2": process("checkout"), "p3": process("payments")},
        "warnings": null
    })
}

/// Every endpoint's answer about the first batch, times redacted: what must not change when
/// the rows move from the head to Parquet files.
async fn first_batch_answers(server: &meshscope::Server, base: u64) -> Vec<J> {
    let mut answers = Vec::new();
    let (status, mut trace) = get(server, &format!("/api/v1/traces/{A}")).await;
    assert_eq!(status, StatusCode::OK);
    let spans: Vec<&str> = trace["resourceSpans"]
        .as_array()
        .expect("resource spans")
        .iter()
        .flat_map(|r| r["scopeSpans"][0]["spans"].as_array().expect("spans"))
        .map(|s| s["name"].as_str().expect("name"))
        .collect();
    assert_eq!(spans, ["GET /cart", "POST /checkout", "charge"]);
    assert_eq!(
        trace["resourceSpans"][2]["scopeSpans"][0]["spans"][0]["status"],
        json!({"message": "card declined", "code": 2})
    );
    redact(&mut trace);
    answers.push(trace);

    let (status, mut jaeger) = get(server, &format!("/api/traces/{A}")).await;
    assert_eq!(status, StatusCode::OK);
    redact(&mut jaeger);
    assert_eq!(
        jaeger,
        json!({"data": [jaeger_a_expected()], "total": 0, "limit": 0, "offset": 0, "errors": null})
    );
    answers.push(jaeger);

    let (status, search) = get(server, "/api/v1/search?service=payments").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        search,
        json!({"traces": [{
            "traceId": A, "rootService": "frontend", "rootOperation": "GET /cart",
            "startTimeUnixNano": base.to_string(), "durationNanos": "120000000", "durationMs": 120.0,
            "spanCount": 3, "errorCount": 1,
            "services": [
                {"name": "checkout", "spanCount": 1, "errorCount": 0},
                {"name": "frontend", "spanCount": 1, "errorCount": 0},
                {"name": "payments", "spanCount": 1, "errorCount": 1}
            ]
        }]})
    );
    answers.push(search);
    for path in [
        "/api/v1/search?service=frontend&minDuration=100ms",
        "/api/v1/search?attr=http.route=/cart",
        "/api/v1/search?attr=http.status_code=200",
        "/api/v1/search?attr=k8s.namespace.name=shop&limit=1",
        "/api/v1/search?kind=client&status=error",
    ] {
        let (status, found) = get(server, path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        let ids: Vec<&str> = found["traces"]
            .as_array()
            .expect("traces")
            .iter()
            .map(|t| t["traceId"].as_str().expect("id"))
            .collect();
        let expect: &[&str] = if path.ends_with("limit=1") {
            &[B]
        } else {
            &[A]
        };
        assert_eq!(ids, expect, "{path}");
        answers.push(found);
    }
    let (_, search_b) = get(server, "/api/v1/search?service=frontend&maxDuration=10ms").await;
    assert_eq!(search_b["traces"][0]["traceId"], B);

    let (status, services) = get(server, "/api/services").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        services["data"],
        json!(["checkout", "frontend", "payments"])
    );
    answers.push(services);
    let (_, operations) = get(server, "/api/operations?service=frontend&spanKind=server").await;
    assert_eq!(
        operations["data"],
        json!([{"name": "GET /cart", "spanKind": "server"}, {"name": "GET /home", "spanKind": "server"}])
    );
    answers.push(operations);
    let (_, native_ops) = get(server, "/api/v1/services/payments/operations").await;
    assert_eq!(
        native_ops,
        json!({"operations": [{"name": "charge", "kind": "client"}]})
    );

    let start_us = base / 1000 - 60_000_000;
    let end_us = base / 1000 + 60_000_000;
    let (status, mut found) = get(
        server,
        &format!("/api/traces?service=payments&tag=error:true&minDuration=50ms&start={start_us}&end={end_us}&limit=20"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    redact(&mut found);
    assert_eq!(found["data"], json!([jaeger_a_expected()]));
    answers.push(found);

    let (status, counts) = sql(
        server,
        "SELECT service_name, count(*) AS spans, sum(CASE WHEN status_code = 'error' THEN 1 ELSE 0 END) AS errors \
         FROM spans GROUP BY service_name ORDER BY service_name",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{counts}");
    assert_eq!(
        counts["rows"],
        json!([["checkout", 1, 0], ["frontend", 2, 0], ["payments", 1, 1]])
    );
    answers.push(counts["rows"].clone());
    answers
}

#[tokio::test]
async fn every_endpoint_answers_the_same_from_head_parquet_and_both() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(dir.path()).await;
    let base = now_ns() - 60_000_000_000;
    ingest(&server, first_batch(base)).await;

    // head only: acknowledged spans are queryable at once
    assert_eq!(server.storage.stats().tables[0].files, 0);
    let head = first_batch_answers(&server, base).await;

    // Parquet only
    server.storage.flush().await.expect("flush");
    let stats = server.storage.stats();
    assert_eq!(
        (stats.tables[0].head_rows, stats.tables[0].file_rows),
        (0, 4)
    );
    let parquet = first_batch_answers(&server, base).await;
    assert_eq!(head, parquet, "head and Parquet answers differ");

    // both: trace A now spans a file and the head
    ingest(&server, second_batch(base)).await;
    let (_, trace) = get(&server, &format!("/api/traces/{A}")).await;
    let names: BTreeSet<&str> = trace["data"][0]["spans"]
        .as_array()
        .expect("spans")
        .iter()
        .map(|s| s["operationName"].as_str().expect("name"))
        .collect();
    assert_eq!(
        names,
        BTreeSet::from(["GET /cart", "POST /checkout", "charge", "audit"])
    );
    let (_, search) = get(&server, "/api/v1/search?service=checkout").await;
    let found: Vec<(&str, u64)> = search["traces"]
        .as_array()
        .expect("traces")
        .iter()
        .map(|t| {
            (
                t["traceId"].as_str().expect("id"),
                t["spanCount"].as_u64().expect("count"),
            )
        })
        .collect();
    assert_eq!(
        found,
        [(C, 1), (A, 4)],
        "newest first, with the late span counted"
    );
    let (_, c) = get(&server, &format!("/api/traces/{C}")).await;
    assert_eq!(
        c["data"][0]["spans"][0]["references"],
        json!([{"refType": "FOLLOWS_FROM", "traceID": A, "spanID": "0000000000000001"}])
    );
    let (_, count) = sql(&server, "SELECT count(*) FROM spans").await;
    assert_eq!(count["rows"], json!([[6]]));
    let (status, refused) = sql(&server, "SELECT * FROM read_parquet('/etc/passwd')").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        refused["error"]
            .as_str()
            .expect("error")
            .contains("not allowed")
    );
    let (status, absent) = get(&server, &format!("/api/traces/{}", "d".repeat(32))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(absent["errors"][0]["code"], 404);

    let metrics = metrics_text(&server).await;
    assert!(
        metrics.contains("meshscope_query_seconds"),
        "query latencies in /metrics"
    );
    server.shutdown().await.expect("shutdown");
}

fn cli(args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_meshscope"))
        .arg("query")
        .args(args)
        .output()
        .expect("run meshscope query");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_query_cli_prints_tables_from_a_server_or_a_data_dir() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = start(dir.path()).await;
    let base = now_ns() - 60_000_000_000;
    ingest(&server, first_batch(base)).await;
    let url = format!("http://{}", server.http_addr);
    let sql = "SELECT service_name, count(*) AS spans FROM spans GROUP BY service_name ORDER BY service_name";
    let table = "\
+--------------+-------+
| service_name | spans |
+--------------+-------+
| checkout     | 1     |
| frontend     | 2     |
| payments     | 1     |
+--------------+-------+
";
    let (ok, stdout, stderr) = tokio::task::spawn_blocking({
        let url = url.clone();
        move || cli(&["--server", &url, sql])
    })
    .await
    .expect("cli");
    assert!(ok, "{stderr}");
    assert_eq!(stdout, table);

    let (ok, stdout, _) = tokio::task::spawn_blocking({
        let url = url.clone();
        move || cli(&["--server", &url, "--format", "csv", sql])
    })
    .await
    .expect("cli");
    assert!(ok);
    assert_eq!(
        stdout,
        "service_name,spans\ncheckout,1\nfrontend,2\npayments,1\n"
    );

    let (ok, _, stderr) = tokio::task::spawn_blocking({
        let url = url.clone();
        move || cli(&["--server", &url, "DROP TABLE spans"])
    })
    .await
    .expect("cli");
    assert!(!ok);
    assert!(
        stderr.contains("DROP TABLE is not allowed") && stderr.contains("HTTP 400"),
        "{stderr}"
    );

    let data_dir = dir.path().to_str().expect("utf-8 path").to_owned();
    let (ok, _, stderr) = tokio::task::spawn_blocking({
        let data_dir = data_dir.clone();
        move || cli(&["--data-dir", &data_dir, sql])
    })
    .await
    .expect("cli");
    assert!(!ok);
    assert!(
        stderr.contains("is in use by a running meshscope server"),
        "{stderr}"
    );

    server.shutdown().await.expect("shutdown");
    let (ok, stdout, stderr) =
        tokio::task::spawn_blocking(move || cli(&["--data-dir", &data_dir, sql]))
            .await
            .expect("cli");
    assert!(ok, "{stderr}");
    assert_eq!(stdout, table);
}

/// The hex trace id of [`span`]`(n)`.
fn trace_hex(n: u64) -> String {
    let mut id = n.to_be_bytes().to_vec();
    id.extend((!n).to_be_bytes());
    hex::encode(id)
}

#[tokio::test]
async fn retention_takes_expired_traces_out_of_every_query() {
    const DAY_NS: u64 = 86_400 * 1_000_000_000;
    let dir = tempfile::tempdir().expect("dir");
    let server = start_with(meshscope::ServeArgs {
        retention_age: Some("1d".into()),
        ..args(dir.path())
    })
    .await;
    let mut old = span(1);
    old.start_time_unix_nano -= 3 * DAY_NS;
    old.end_time_unix_nano -= 3 * DAY_NS;
    ingest(
        &server,
        vec![
            request("old-svc", vec![old]),
            request("new-svc", vec![span(2)]),
        ],
    )
    .await;
    // in the head, both are served: retention never deletes rows that are not in a file
    for n in [1, 2] {
        let (status, _) = get(&server, &format!("/api/traces/{}", trace_hex(n))).await;
        assert_eq!(status, StatusCode::OK, "trace {n} before the flush");
    }
    server.storage.flush().await.expect("flush");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let (status, _) = get(&server, &format!("/api/traces/{}", trace_hex(1))).await;
        if status == StatusCode::NOT_FOUND {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the expired trace is still served ({status})"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (status, _) = get(&server, &format!("/api/traces/{}", trace_hex(2))).await;
    assert_eq!(status, StatusCode::OK, "the recent trace stays");
    let (_, counts) = sql(&server, "SELECT service_name FROM spans").await;
    assert_eq!(counts["rows"], json!([["new-svc"]]), "{counts}");
    let metrics = metrics_text(&server).await;
    assert!(
        metrics.lines().any(
            |l| l.starts_with("meshscope_retention_files_total{reason=\"age\"} ")
                && !l.ends_with(" 0")
        ),
        "{metrics}"
    );
    server.shutdown().await.expect("shutdown");
}
