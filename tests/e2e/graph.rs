//! The service graph end to end: a mesh topology sent through OTLP/HTTP (a gateway with client
//! spans only, a database, a queue and an external API as virtual nodes, halves of calls in
//! different requests and out of order), read back through `/api/v1/dependencies`,
//! `/api/v1/red`, Jaeger's `/api/dependencies` and SQL over `service_edges` / `span_metrics`,
//! live (open minutes), once stored, and after restarts.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span, Status};
use prost::Message;
use serde_json::{Value as J, json};

use crate::common::*;

const MINUTE: u64 = 60_000_000_000;
const MS: u64 = 1_000_000;
/// Requests through the topology.
const REQUESTS: u64 = 40;

/// One request through the mesh, trace `i`, starting at `t0`:
/// gateway (client) → frontend (server; client) → checkout (server, every 5th an error;
/// client to postgres; producer to kafka; client to an external API).
fn request_spans(i: u64, t0: u64) -> Vec<(&'static str, Span)> {
    let mut trace_id = [0u8; 16];
    trace_id[..8].copy_from_slice(&(i + 1).to_be_bytes());
    trace_id[8..].copy_from_slice(&0x6772_6170_6800_0000u64.to_be_bytes());
    let sid = |n: u64| (i * 16 + n).to_be_bytes().to_vec();
    let span = |n: u64, parent: Option<u64>, name: &str, kind: i32, start: u64, ms: u64| Span {
        trace_id: trace_id.to_vec(),
        span_id: sid(n),
        parent_span_id: parent.map(sid).unwrap_or_default(),
        name: name.into(),
        kind,
        start_time_unix_nano: t0 + start * MS,
        end_time_unix_nano: t0 + (start + ms) * MS,
        ..Default::default()
    };
    let error = i.is_multiple_of(5);
    let mut checkout_server = span(4, Some(3), "PlaceOrder", 2, 3, 20 + i % 10);
    if error {
        checkout_server.status = Some(Status {
            code: 2,
            message: "payment declined".into(),
        });
    }
    let mut gateway = span(1, None, "GET /checkout", 3, 0, 50);
    gateway.attributes = vec![string_kv(
        "upstream_cluster",
        "outbound|8080||frontend.shop.svc.cluster.local",
    )];
    let mut db = span(5, Some(4), "SELECT orders", 3, 5, 4);
    db.attributes = vec![
        string_kv("db.system", "postgresql"),
        string_kv("db.name", "orders"),
    ];
    let mut queue = span(6, Some(4), "orders publish", 4, 10, 1);
    queue.attributes = vec![
        string_kv("messaging.system", "kafka"),
        string_kv("messaging.destination.name", "orders"),
    ];
    let mut external = span(7, Some(4), "POST", 3, 12, 8);
    external.attributes = vec![string_kv("server.address", "api.stripe.com")];
    vec![
        ("istio-ingressgateway", gateway),
        ("frontend", span(2, Some(1), "GET /checkout", 2, 1, 45)),
        (
            "frontend",
            span(3, Some(2), "PlaceOrder", 3, 2, 25 + i % 10),
        ),
        ("checkout", checkout_server),
        ("checkout", db),
        ("checkout", queue),
        ("checkout", external),
    ]
}

fn export(spans: Vec<(&'static str, Span)>) -> ExportTraceServiceRequest {
    let mut by_service: BTreeMap<&str, Vec<Span>> = BTreeMap::new();
    for (service, span) in spans {
        by_service.entry(service).or_default().push(span);
    }
    ExportTraceServiceRequest {
        resource_spans: by_service
            .into_iter()
            .map(|(service, spans)| ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![string_kv("service.name", service)],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            })
            .collect(),
    }
}

/// Sends the topology's spans for `REQUESTS` requests from `t0` on, servers before clients and
/// in several requests, so that every call's halves arrive apart and out of order.
async fn send_topology(client: &reqwest::Client, otlp: &str, t0: u64) {
    let all: Vec<(&'static str, Span)> = (0..REQUESTS)
        .flat_map(|i| request_spans(i, t0 + i * 100 * MS))
        .collect();
    let (servers, clients): (Vec<_>, Vec<_>) = all.into_iter().partition(|(_, s)| s.kind == 2);
    for part in [servers, clients] {
        for chunk in part.chunks(50) {
            let body = export(chunk.to_vec()).encode_to_vec();
            let response = client
                .post(format!("{otlp}/v1/traces"))
                .header("content-type", "application/x-protobuf")
                .body(body)
                .send()
                .await
                .expect("export");
            assert_eq!(response.status(), 200);
        }
    }
}

async fn get_json(client: &reqwest::Client, url: &str) -> J {
    let response = client.get(url).send().await.expect("request");
    let status = response.status();
    let body: J = serde_json::from_slice(&response.bytes().await.expect("body")).expect("json");
    assert_eq!(status, 200, "{url}: {body}");
    body
}

async fn sql(client: &reqwest::Client, http: &str, query: &str) -> J {
    let response = client
        .post(format!("{http}/api/v1/sql"))
        .header("content-type", "application/json")
        .body(json!({ "query": query }).to_string())
        .send()
        .await
        .expect("sql");
    let status = response.status();
    let body: J = serde_json::from_slice(&response.bytes().await.expect("body")).expect("json");
    assert_eq!(status, 200, "{query}: {body}");
    body
}

/// `(parent, child, child type)` → `(calls, errors, unpaired)` of a dependencies answer.
fn edges(graph: &J) -> BTreeMap<(String, String, String), (u64, u64, u64)> {
    graph["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| {
            (
                (
                    e["parent"].as_str().expect("parent").to_owned(),
                    e["child"].as_str().expect("child").to_owned(),
                    e["childType"].as_str().expect("childType").to_owned(),
                ),
                (
                    e["calls"].as_u64().expect("calls"),
                    e["errors"].as_u64().expect("errors"),
                    e["unpaired"].as_u64().expect("unpaired"),
                ),
            )
        })
        .collect()
}

fn expected_edges() -> BTreeMap<(String, String, String), (u64, u64, u64)> {
    let e = |p: &str, c: &str, t: &str| (p.to_owned(), c.to_owned(), t.to_owned());
    let errors = REQUESTS.div_ceil(5);
    BTreeMap::from([
        (
            e("istio-ingressgateway", "frontend", "service"),
            (REQUESTS, 0, 0),
        ),
        (e("frontend", "checkout", "service"), (REQUESTS, errors, 0)),
        (
            e("checkout", "postgresql/orders", "database"),
            (REQUESTS, 0, REQUESTS),
        ),
        (
            e("checkout", "kafka/orders", "queue"),
            (REQUESTS, 0, REQUESTS),
        ),
        (
            e("checkout", "api.stripe.com", "external"),
            (REQUESTS, 0, REQUESTS),
        ),
    ])
}

/// Polls the dependencies of `[start, end)` until they equal the expected edges.
async fn wait_for_graph(client: &reqwest::Client, http: &str, start: u64, end: u64) -> J {
    let url = format!("{http}/api/v1/dependencies?start={start}&end={end}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let graph = get_json(client, &url).await;
        if edges(&graph) == expected_edges() {
            return graph;
        }
        assert!(
            Instant::now() < deadline,
            "graph never matched: {:#?}",
            edges(&graph)
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn args_fast(dir: &std::path::Path) -> meshscope::ServeArgs {
    meshscope::ServeArgs {
        graph_pairing_window: Some("3s".into()),
        ..args(dir)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_graph_and_red_match_a_known_topology_live_stored_and_after_restarts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let client = reqwest::Client::new();
    // spans of the previous minute, with a lateness that lets them in now and closes their
    // minute a few seconds later (a minute closes lateness + pairing window after its end)
    let now = now_ns();
    let into_minute = (now % MINUTE) / 1_000_000_000;
    let t0 = now / MINUTE * MINUTE - MINUTE + 5_000_000_000;
    // whole minutes, so that RED points start at minutes
    let start = t0 / MINUTE * MINUTE - MINUTE;
    let end = start + 3 * MINUTE;
    let config = dir.path().join("meshscope.toml");
    std::fs::write(
        &config,
        format!(
            "[graph]\nlateness = \"{}s\"\npairing_window = \"3s\"\n",
            into_minute + 8
        ),
    )
    .expect("config file");
    let args_fast = |dir: &std::path::Path| meshscope::ServeArgs {
        config: Some(config.clone()),
        ..args(dir)
    };

    let server = start_with(args_fast(dir.path())).await;
    let http = format!("http://{}", server.http_addr);
    send_topology(&client, &format!("http://{}", server.otlp_http_addr), t0).await;
    let graph = wait_for_graph(&client, &http, start, end).await;

    // nodes carry their type; a virtual node's RED is the sum of the calls into it
    let nodes: BTreeMap<String, (String, u64)> = graph["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| {
            (
                n["name"].as_str().expect("name").to_owned(),
                (
                    n["type"].as_str().expect("type").to_owned(),
                    n["calls"].as_u64().expect("calls"),
                ),
            )
        })
        .collect();
    assert_eq!(
        nodes["postgresql/orders"],
        ("database".to_owned(), REQUESTS)
    );
    assert_eq!(nodes["kafka/orders"], ("queue".to_owned(), REQUESTS));
    assert_eq!(nodes["api.stripe.com"], ("external".to_owned(), REQUESTS));
    assert_eq!(nodes["checkout"], ("service".to_owned(), REQUESTS));
    assert_eq!(nodes["istio-ingressgateway"].0, "service");
    let checkout_edge = graph["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .find(|e| e["child"] == "checkout")
        .expect("edge to checkout");
    // client durations 25..34 ms: percentiles within the sketch's 1 % of the exact values
    let p50 = checkout_edge["p50Ms"].as_f64().expect("p50");
    let p99 = checkout_edge["p99Ms"].as_f64().expect("p99");
    assert!((28.7..=30.4).contains(&p50), "p50 {p50}");
    assert!((33.6..=34.4).contains(&p99), "p99 {p99}");

    // the stored minute rows, through SQL, once drained
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let rows = sql(
            &client,
            &http,
            "SELECT sum(calls) AS calls FROM service_edges WHERE parent = 'frontend'",
        )
        .await;
        if rows["rows"][0][0] == json!(REQUESTS) {
            break;
        }
        assert!(Instant::now() < deadline, "aggregates never stored: {rows}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let red_sql = sql(
        &client,
        &http,
        "SELECT service_name, kind, sum(calls) AS calls, sum(errors) AS errors FROM span_metrics \
         WHERE service_name = 'checkout' AND kind = 'server' GROUP BY service_name, kind",
    )
    .await;
    assert_eq!(red_sql["rows"][0][2], json!(REQUESTS));
    assert_eq!(red_sql["rows"][0][3], json!(REQUESTS.div_ceil(5)));

    // RED per minute for checkout: all calls in the minute of t0
    let red = get_json(
        &client,
        &format!("{http}/api/v1/red?service=checkout&start={start}&end={end}&step=1m"),
    )
    .await;
    let series = red["series"].as_array().expect("series");
    assert_eq!(series.len(), 1, "{red}");
    let points = series[0]["points"].as_array().expect("points");
    let total: u64 = points
        .iter()
        .map(|p| p["calls"].as_u64().expect("calls"))
        .sum();
    assert_eq!(total, REQUESTS);
    let busy: Vec<&J> = points.iter().filter(|p| p["calls"] != 0).collect();
    assert_eq!(busy.len(), 1);
    assert_eq!(busy[0]["time"], json!((t0 / MINUTE * MINUTE).to_string()));
    assert_eq!(busy[0]["errors"], json!(REQUESTS.div_ceil(5)));
    let per_op = get_json(
        &client,
        &format!(
            "{http}/api/v1/red?service=checkout&groupBy=operation&start={start}&end={end}&step=3m"
        ),
    )
    .await;
    let ops: Vec<(String, String)> = per_op["series"]
        .as_array()
        .expect("series")
        .iter()
        .map(|s| {
            (
                s["operation"].as_str().expect("operation").to_owned(),
                s["kind"].as_str().expect("kind").to_owned(),
            )
        })
        .collect();
    assert!(
        ops.contains(&("PlaceOrder".to_owned(), "server".to_owned())),
        "{ops:?}"
    );
    assert!(
        ops.contains(&("SELECT orders".to_owned(), "client".to_owned())),
        "{ops:?}"
    );

    // Jaeger's metrics API (Jaeger UI's Monitor tab) over the same minutes
    let jaeger_range = format!(
        "endTs={}&lookback={}&step=60000",
        end / MS,
        (end - start) / MS
    );
    let family = |metric: &str, extra: &str| {
        let url = format!("{http}/api/metrics/{metric}?service=checkout&{jaeger_range}{extra}");
        let client = client.clone();
        async move { get_json(&client, &url).await }
    };
    let points_of = |family: &J| -> Vec<f64> {
        family["metrics"][0]["metricPoints"]
            .as_array()
            .expect("metricPoints")
            .iter()
            .map(|p| p["gaugeValue"]["doubleValue"].as_f64().expect("value"))
            .collect()
    };
    let calls = family("calls", "").await;
    assert_eq!(calls["name"], "service_call_rate", "{calls}");
    assert_eq!(
        calls["metrics"][0]["labels"][0],
        json!({"name": "service_name", "value": "checkout"})
    );
    let rates = points_of(&calls);
    assert_eq!(rates.len(), 3, "every minute of the range: {calls}");
    let counted: f64 = rates.iter().map(|r| r * 60.0).sum();
    assert!((counted - REQUESTS as f64).abs() < 1e-6, "{calls}");
    let errors = family("errors", "").await;
    assert_eq!(errors["name"], "service_error_rate");
    let expected = REQUESTS.div_ceil(5) as f64 / REQUESTS as f64;
    assert_eq!(
        points_of(&errors).len(),
        1,
        "only minutes with calls: {errors}"
    );
    assert!((points_of(&errors)[0] - expected).abs() < 1e-9, "{errors}");
    let latencies = family("latencies", "&quantile=0.95").await;
    assert_eq!(latencies["name"], "service_latencies");
    let p95 = busy[0]["p95Ms"].as_f64().expect("p95Ms");
    assert_eq!(points_of(&latencies).len(), 1, "{latencies}");
    assert!(
        (points_of(&latencies)[0] - p95).abs() < 0.001,
        "{latencies} against {p95}"
    );
    let by_operation = family("calls", "&groupByOperation=true").await;
    assert_eq!(by_operation["name"], "service_operation_call_rate");
    let operations: Vec<&J> = by_operation["metrics"]
        .as_array()
        .expect("metrics")
        .iter()
        .map(|m| &m["labels"][1]["value"])
        .collect();
    assert!(operations.contains(&&json!("PlaceOrder")), "{by_operation}");
    let min_step = get_json(&client, &format!("{http}/api/metrics/minstep")).await;
    assert_eq!(min_step["data"], json!(60_000));
    for (bad, message) in [
        (
            format!("{http}/api/metrics/calls?{jaeger_range}"),
            "service name",
        ),
        (
            format!("{http}/api/metrics/latencies?service=checkout&{jaeger_range}"),
            "quantile",
        ),
        (
            format!("{http}/api/metrics/latencies?service=checkout&quantile=2&{jaeger_range}"),
            "quantile",
        ),
        (
            format!("{http}/api/metrics/calls?service=checkout&spanKind=sideways"),
            "span kind",
        ),
    ] {
        let response = client.get(&bad).send().await.expect("get");
        assert_eq!(response.status(), reqwest::StatusCode::BAD_REQUEST, "{bad}");
        let body: J = serde_json::from_slice(&response.bytes().await.expect("body")).expect("json");
        let msg = body["errors"][0]["msg"].as_str().unwrap_or_default();
        assert!(msg.contains(message), "{bad}: {body}");
    }

    // Jaeger's dependencies (endTs and lookback in ms)
    let jaeger = get_json(
        &client,
        &format!(
            "{http}/api/dependencies?endTs={}&lookback={}",
            end / MS,
            (end - start) / MS
        ),
    )
    .await;
    let deps: BTreeMap<(String, String), u64> = jaeger["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|d| {
            (
                (
                    d["parent"].as_str().expect("parent").to_owned(),
                    d["child"].as_str().expect("child").to_owned(),
                ),
                d["callCount"].as_u64().expect("callCount"),
            )
        })
        .collect();
    assert_eq!(
        deps[&("frontend".to_owned(), "checkout".to_owned())],
        REQUESTS
    );
    assert_eq!(deps.len(), 5, "{deps:?}");

    // errors are clear
    let bad = client
        .get(format!("{http}/api/v1/red?step=10s"))
        .send()
        .await
        .expect("request");
    assert_eq!(bad.status(), 400);
    let bad = client
        .get(format!(
            "{http}/api/v1/dependencies?start={end}&end={start}"
        ))
        .send()
        .await
        .expect("request");
    assert_eq!(bad.status(), 400);

    // a restart reads the stored minutes back and counts nothing twice
    server.shutdown().await.expect("shutdown");
    let server = start_with(args_fast(dir.path())).await;
    let http = format!("http://{}", server.http_addr);
    wait_for_graph(&client, &http, start, end).await;
    tokio::time::sleep(Duration::from_secs(6)).await; // a drain tick after the restart
    assert_eq!(
        edges(
            &get_json(
                &client,
                &format!("{http}/api/v1/dependencies?start={start}&end={end}")
            )
            .await
        ),
        expected_edges()
    );
    server.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_in_the_middle_of_a_minute_neither_loses_nor_double_counts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let client = reqwest::Client::new();
    // spans of the current minute: still open when the server stops
    let t0 = now_ns() - 2_000_000_000;
    let (start, end) = (t0 - 2 * MINUTE, t0 + 2 * MINUTE);

    let server = start_with(args_fast(dir.path())).await;
    send_topology(&client, &format!("http://{}", server.otlp_http_addr), t0).await;
    let http = format!("http://{}", server.http_addr);
    wait_for_graph(&client, &http, start, end).await;
    server.shutdown().await.expect("shutdown");

    // the open minute is rebuilt from the stored spans, once
    let server = start_with(args_fast(dir.path())).await;
    let http = format!("http://{}", server.http_addr);
    wait_for_graph(&client, &http, start, end).await;
    server.shutdown().await.expect("shutdown");

    // and again after a third start
    let server = start_with(args_fast(dir.path())).await;
    let http = format!("http://{}", server.http_addr);
    wait_for_graph(&client, &http, start, end).await;
    server.shutdown().await.expect("shutdown");
}
