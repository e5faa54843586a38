//! The query routes through `Router::oneshot` over a real engine and storage: exact JSON of
//! every endpoint (golden files for the trace shapes), content negotiation and errors.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt;
use meshscope_model::spans;
use meshscope_model::{
    EventInput, LinkInput, ResourceContext, ScopeContext, SpanBatchBuilder, SpanInput, SpanKind,
    StatusCode as SpanStatus, Value,
};
use meshscope_query::{QueryConfig, QueryEngine};
use meshscope_storage::{Storage, StorageConfig, SyncPolicy, TableSpec};
use serde_json::{Value as J, json};
use tempfile::TempDir;
use tower::ServiceExt;

use crate::{ApiState, router};

const BASE: i64 = 1_764_000_000_000_000_000;
const MS: i64 = 1_000_000;
const TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
const LEGACY: &str = "00000000000000001234567890abcdef";

fn hex<const N: usize>(text: &str) -> [u8; N] {
    let mut out = [0u8; N];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).expect("hex");
    }
    out
}

fn span<'a>(
    trace: &str,
    id: &str,
    name: &'a str,
    kind: SpanKind,
    start: i64,
    end: i64,
) -> SpanInput<'a> {
    SpanInput {
        trace_id: hex(trace),
        span_id: hex(id),
        parent_span_id: None,
        trace_state: "",
        flags: 1,
        name,
        kind,
        start_ns: start,
        end_ns: end,
        status: SpanStatus::Unset,
        status_message: "",
        attributes: &[],
        dropped_attributes_count: 0,
        events: &[],
        dropped_events_count: 0,
        links: &[],
        dropped_links_count: 0,
    }
}

fn batches() -> Vec<arrow::array::RecordBatch> {
    let frontend = ResourceContext::new(
        &[
            ("service.name", Value::Str("frontend")),
            ("host.name", Value::Str("web-1")),
            ("replicas", Value::Int(2)),
        ],
        "https://opentelemetry.io/schemas/1.26.0",
    );
    let http = ScopeContext::new("io.opentelemetry.http", "1.2.0", &[], "");
    let attributes = [
        ("http.request.method", Value::Str("GET")),
        ("http.response.status_code", Value::Int(200)),
        ("cache.hit", Value::Bool(false)),
        ("ratio", Value::Double(0.25)),
        ("tags", Value::Array(vec![Value::Str("a"), Value::Str("b")])),
        ("payload", Value::Bytes(&[1, 2, 3])),
    ];
    let events = [EventInput {
        time_ns: BASE + 5 * MS,
        name: "cache.miss",
        attributes: vec![("key", Value::Str("cart:42"))],
        dropped_attributes_count: 0,
    }];
    let mut root = span(
        TRACE,
        "b7ad6b7169203331",
        "GET /cart",
        SpanKind::Server,
        BASE,
        BASE + 120 * MS,
    );
    root.trace_state = "vendor=1";
    root.attributes = &attributes;
    root.events = &events;
    let legacy = span(
        LEGACY,
        "0000000000000001",
        "legacy",
        SpanKind::Internal,
        BASE - 60_000 * MS,
        BASE - 59_000 * MS,
    );
    let mut first = SpanBatchBuilder::default();
    first.append(&frontend, &http, &root);
    first.append(&frontend, &http, &legacy);

    let payments = ResourceContext::new(&[("service.name", Value::Str("payments"))], "");
    let grpc = ScopeContext::new("grpc", "", &[], "");
    let rpc = [("rpc.system", Value::Str("grpc"))];
    let links = [LinkInput {
        trace_id: hex("4bf92f3577b34da6a3ce929d0e0e4736"),
        span_id: hex("00f067aa0ba902b8"),
        trace_state: "",
        attributes: vec![("link.kind", Value::Str("retry"))],
        dropped_attributes_count: 0,
        flags: 1,
    }];
    let mut charge = span(
        TRACE,
        "00f067aa0ba902b7",
        "charge",
        SpanKind::Client,
        BASE + 10 * MS,
        BASE + 90 * MS,
    );
    charge.parent_span_id = Some(hex("b7ad6b7169203331"));
    charge.status = SpanStatus::Error;
    charge.status_message = "card declined";
    charge.attributes = &rpc;
    charge.links = &links;
    let mut second = SpanBatchBuilder::default();
    second.append(&payments, &grpc, &charge);
    vec![
        first.finish().expect("batch"),
        second.finish().expect("batch"),
    ]
}

struct Fixture {
    _dir: TempDir,
    storage: Storage,
    state: ApiState,
}

async fn fixture(flushed: bool) -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let storage = Storage::open(
        StorageConfig {
            data_dir: dir.path().to_path_buf(),
            wal_sync: SyncPolicy::Never,
            ..StorageConfig::default()
        },
        vec![TableSpec {
            name: spans::TABLE,
            schema: spans::schema(),
            time_column: spans::TIME_COLUMN,
            sort_columns: spans::SORT_COLUMNS.to_vec(),
            bloom_filter_columns: spans::BLOOM_FILTER_COLUMNS.to_vec(),
            derived_columns: spans::DERIVED_COLUMNS.to_vec(),
        }],
    )
    .await
    .expect("storage");
    for batch in batches() {
        storage.append(spans::TABLE, batch).await.expect("append");
    }
    if flushed {
        storage.flush().await.expect("flush");
    }
    let engine = QueryEngine::new(storage.clone(), QueryConfig::default()).expect("engine");
    let query = Arc::new(OnceLock::new());
    let _ = query.set(engine);
    Fixture {
        _dir: dir,
        storage,
        state: ApiState {
            ready: Arc::new(AtomicBool::new(true)),
            render_metrics: Arc::new(String::new),
            query,
            aggregates: Arc::default(),
        },
    }
}

struct Answer {
    status: StatusCode,
    content_type: String,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> J {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }
}

async fn send(state: &ApiState, request: Request<Body>) -> Answer {
    let response = router(state.clone())
        .oneshot(request)
        .await
        .expect("response");
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().expect("ascii").to_owned())
        .unwrap_or_default();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes()
        .to_vec();
    Answer {
        status,
        content_type,
        body,
    }
}

async fn get(state: &ApiState, uri: &str) -> Answer {
    send(
        state,
        Request::get(uri).body(Body::empty()).expect("request"),
    )
    .await
}

async fn sql(state: &ApiState, query: &str, accept: Option<&str>) -> Answer {
    let mut request = Request::post("/api/v1/sql").header(header::CONTENT_TYPE, "application/json");
    if let Some(accept) = accept {
        request = request.header(header::ACCEPT, accept);
    }
    let body = serde_json::to_vec(&json!({ "query": query })).expect("json");
    send(state, request.body(Body::from(body)).expect("request")).await
}

fn golden(name: &str) -> J {
    let path = format!("{}/tests/golden/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).expect("golden file"))
        .expect("golden json")
}

#[tokio::test]
async fn traces_by_id_match_the_golden_otlp_and_jaeger_shapes() {
    for flushed in [false, true] {
        let f = fixture(flushed).await;
        let otlp = get(&f.state, &format!("/api/v1/traces/{TRACE}")).await;
        assert_eq!(otlp.status, StatusCode::OK);
        assert_eq!(otlp.content_type, "application/json");
        assert_eq!(otlp.json(), golden("otlp_trace.json"), "flushed={flushed}");

        let jaeger = get(&f.state, &format!("/api/traces/{}", TRACE.to_uppercase())).await;
        assert_eq!(jaeger.status, StatusCode::OK);
        assert_eq!(
            jaeger.json(),
            golden("jaeger_trace.json"),
            "flushed={flushed}"
        );

        // Grafana sends ms, Jaeger UI µs; both find the trace
        let ms = BASE / 1_000_000;
        for (start, end) in [(ms - 1000, ms + 1000), (ms * 1000 - 1, ms * 1000 + 1)] {
            let found = get(
                &f.state,
                &format!("/api/traces/{TRACE}?start={start}&end={end}"),
            )
            .await;
            assert_eq!(found.status, StatusCode::OK);
            assert_eq!(
                found.json()["data"][0]["spans"].as_array().map(Vec::len),
                Some(2)
            );
        }
    }
}

#[tokio::test]
async fn absent_and_malformed_trace_ids() {
    let f = fixture(false).await;
    let absent = "1".repeat(32);
    let native = get(&f.state, &format!("/api/v1/traces/{absent}")).await;
    assert_eq!(native.status, StatusCode::NOT_FOUND);
    assert_eq!(
        native.json(),
        json!({ "error": format!("trace {absent} not found") })
    );
    let jaeger = get(&f.state, &format!("/api/traces/{absent}")).await;
    assert_eq!(jaeger.status, StatusCode::NOT_FOUND);
    assert_eq!(
        jaeger.json(),
        json!({"data": null, "total": 0, "limit": 0, "offset": 0,
               "errors": [{"code": 404, "msg": "trace not found"}]})
    );
    let bad = get(&f.state, "/api/v1/traces/not-a-trace").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.json()["error"]
            .as_str()
            .expect("message")
            .contains("invalid trace id")
    );

    // a 64-bit id: Jaeger's 16 digits find it, and Jaeger prints it so
    let legacy = get(&f.state, "/api/traces/1234567890abcdef").await;
    assert_eq!(legacy.status, StatusCode::OK);
    assert_eq!(legacy.json()["data"][0]["traceID"], "1234567890abcdef");
    assert_eq!(
        legacy.json()["data"][0]["spans"][0]["traceID"],
        "1234567890abcdef"
    );
}

#[tokio::test]
async fn jaeger_services_operations_and_search() {
    let f = fixture(true).await;
    let envelope = |data: J, total: usize| json!({"data": data, "total": total, "limit": 0, "offset": 0, "errors": null});
    assert_eq!(
        get(&f.state, "/api/services").await.json(),
        envelope(json!(["frontend", "payments"]), 2)
    );
    assert_eq!(
        get(&f.state, "/api/services/frontend/operations")
            .await
            .json(),
        envelope(json!(["GET /cart", "legacy"]), 2)
    );
    assert_eq!(
        get(&f.state, "/api/operations?service=payments&spanKind=client")
            .await
            .json(),
        envelope(json!([{"name": "charge", "spanKind": "client"}]), 1)
    );
    assert_eq!(
        get(&f.state, "/api/operations?service=frontend")
            .await
            .json(),
        envelope(
            json!([{"name": "GET /cart", "spanKind": "server"}, {"name": "legacy", "spanKind": "internal"}]),
            2
        )
    );
    let missing = get(&f.state, "/api/operations").await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        missing.json()["errors"][0]["msg"],
        "parameter 'service' is required"
    );

    let start = BASE / 1000 - 3_600_000_000;
    let end = BASE / 1000 + 3_600_000_000;
    let window = format!("start={start}&end={end}");
    let ids = |answer: Answer| -> Vec<String> {
        answer.json()["data"]
            .as_array()
            .expect("data")
            .iter()
            .map(|t| t["traceID"].as_str().expect("id").to_owned())
            .collect()
    };
    let cases = [
        (
            format!("service=frontend&{window}"),
            vec![TRACE, "1234567890abcdef"],
        ),
        (format!("service=frontend&{window}&limit=1"), vec![TRACE]),
        (
            format!("service=payments&operation=charge&{window}"),
            vec![TRACE],
        ),
        (format!("service=payments&operation=other&{window}"), vec![]),
        (
            format!("service=frontend&tag=http.response.status_code:200&{window}"),
            vec![TRACE],
        ),
        (
            format!("service=frontend&tags=%7B%22cache.hit%22%3A%22false%22%7D&{window}"),
            vec![TRACE],
        ),
        (
            format!("service=payments&tag=error:true&{window}"),
            vec![TRACE],
        ),
        (
            format!("service=frontend&tag=host.name:web-1&minDuration=900ms&{window}"),
            vec!["1234567890abcdef"],
        ),
        (
            format!("service=frontend&minDuration=100ms&maxDuration=900ms&{window}"),
            vec![TRACE],
        ),
        (
            format!("service=frontend&lookback=1h&end={}", BASE / 1000 + 1),
            vec![TRACE, "1234567890abcdef"],
        ),
        ("service=frontend".to_owned(), vec![]),
        (
            format!(
                "traceID={TRACE}&traceID=1234567890abcdef&traceID={}",
                "9".repeat(32)
            ),
            vec![TRACE, "1234567890abcdef"],
        ),
    ];
    for (query, expect) in cases {
        let answer = get(&f.state, &format!("/api/traces?{query}")).await;
        assert_eq!(answer.status, StatusCode::OK, "{query}");
        assert_eq!(ids(answer), expect, "{query}");
    }
    let full = get(&f.state, &format!("/api/traces?service=payments&{window}"))
        .await
        .json();
    assert_eq!(full["data"][0], golden("jaeger_trace.json")["data"][0]);

    for (query, message) in [
        ("", "parameter 'service' is required"),
        (
            "service=a&minDuration=fast",
            "unable to parse param 'minDuration'",
        ),
        (
            "service=a&minDuration=2s&maxDuration=1s",
            "'maxDuration' should be greater than 'minDuration'",
        ),
        ("service=a&tag=novalue", "malformed 'tag' parameter"),
        ("service=a&tags=notjson", "malformed 'tags' parameter"),
        ("service=a&start=yesterday", "unable to parse param 'start'"),
    ] {
        let answer = get(&f.state, &format!("/api/traces?{query}")).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{query}");
        let msg = answer.json()["errors"][0]["msg"]
            .as_str()
            .expect("msg")
            .to_owned();
        assert!(msg.contains(message), "{query}: {msg}");
    }
}

#[tokio::test]
async fn native_search_services_and_operations() {
    let f = fixture(false).await;
    let answer = get(&f.state, "/api/v1/search?service=payments").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        answer.json(),
        json!({"traces": [{
            "traceId": TRACE,
            "rootService": "frontend",
            "rootOperation": "GET /cart",
            "startTimeUnixNano": BASE.to_string(),
            "durationNanos": (120 * MS).to_string(),
            "durationMs": 120.0,
            "spanCount": 2,
            "errorCount": 1,
            "services": [
                {"name": "frontend", "spanCount": 1, "errorCount": 0},
                {"name": "payments", "spanCount": 1, "errorCount": 1}
            ]
        }]})
    );
    let ids = |answer: Answer| -> Vec<String> {
        answer.json()["traces"]
            .as_array()
            .expect("traces")
            .iter()
            .map(|t| t["traceId"].as_str().expect("id").to_owned())
            .collect()
    };
    let cases = [
        ("", vec![TRACE, LEGACY]),
        ("limit=1", vec![TRACE]),
        ("kind=internal", vec![LEGACY]),
        ("status=error", vec![TRACE]),
        ("attr=http.route=~x&service=frontend", vec![]),
        ("attr=cache.hit=false", vec![TRACE]),
        ("attr=cache.hit!=false&service=frontend", vec![LEGACY]),
        ("attr=rpc.system=~^gr", vec![TRACE]),
        ("attr=host.name!~web", vec![TRACE]),
        ("minDuration=100ms&maxDuration=500ms", vec![TRACE]),
        ("start=2025-11-24T15:59:30Z", vec![TRACE]),
        ("end=2025-11-24T15:59:30Z", vec![LEGACY]),
        ("lookback=10s&end=2025-11-24T16:00:01Z", vec![TRACE]),
    ];
    for (query, expect) in cases {
        let answer = get(&f.state, &format!("/api/v1/search?{query}")).await;
        assert_eq!(answer.status, StatusCode::OK, "{query}");
        assert_eq!(ids(answer), expect, "{query}");
    }
    for (query, message) in [
        ("kind=sideways", "unknown span kind"),
        ("status=meh", "unknown status"),
        ("attr=novalue", "invalid attribute filter"),
        ("limit=0", "limit must be between 1 and 1000"),
        ("limit=x", "unable to parse param 'limit'"),
        ("minDuration=1", "invalid duration"),
        (
            "start=2025-11-25T00:00:00Z&end=2025-11-24T00:00:00Z",
            "'end' is before 'start'",
        ),
    ] {
        let answer = get(&f.state, &format!("/api/v1/search?{query}")).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{query}");
        let error = answer.json()["error"].as_str().expect("error").to_owned();
        assert!(error.contains(message), "{query}: {error}");
    }
    assert_eq!(
        get(&f.state, "/api/v1/services").await.json(),
        json!({"services": ["frontend", "payments"]})
    );
    assert_eq!(
        get(&f.state, "/api/v1/services/frontend/operations")
            .await
            .json(),
        json!({"operations": [{"name": "GET /cart", "kind": "server"}, {"name": "legacy", "kind": "internal"}]})
    );
    assert_eq!(
        get(&f.state, "/api/v1/services/frontend/operations?kind=server")
            .await
            .json(),
        json!({"operations": [{"name": "GET /cart", "kind": "server"}]})
    );
}

#[tokio::test]
async fn sql_answers_in_json_csv_and_arrow() {
    let f = fixture(true).await;
    let query = "SELECT name, duration_ns, start_time, attributes['ratio'] AS ratio, http_status_code, \
                 map_keys(resource_attributes) AS keys FROM spans WHERE trace_id = '0af7651916cd43dd8448eb211c80319c' ORDER BY start_time";
    let answer = sql(&f.state, query, None).await;
    assert_eq!(
        answer.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    assert_eq!(answer.content_type, "application/json");
    let body = answer.json();
    assert_eq!(
        body["columns"],
        json!([
            {"name": "name", "type": "Utf8"},
            {"name": "duration_ns", "type": "Int64"},
            {"name": "start_time", "type": "Timestamp(ns, \"UTC\")"},
            {"name": "ratio", "type": "Utf8"},
            {"name": "http_status_code", "type": "Int64"},
            {"name": "keys", "type": "List(Utf8)"}
        ])
    );
    assert_eq!(
        body["rows"],
        json!([
            [
                "GET /cart",
                120_000_000,
                "2025-11-24T16:00:00Z",
                "0.25",
                200,
                ["service.name", "host.name", "replicas"]
            ],
            [
                "charge",
                80_000_000,
                "2025-11-24T16:00:00.010Z",
                null,
                null,
                ["service.name"]
            ]
        ])
    );
    assert_eq!(body["rowCount"], 2);
    // hours 15 (the legacy trace) and 16, no time predicate: the key index of hour 15's file
    // rules the trace out, so only hour 16's file is opened
    assert_eq!(body["stats"]["filesTotal"], 2);
    assert_eq!(body["stats"]["filesScanned"], 1);
    assert_eq!(body["stats"]["filesPrunedKeyIndex"], 1);
    assert_eq!(body["stats"]["rowGroupsPrunedKeyIndex"], 1);
    assert!(body["stats"]["bytesScanned"].as_u64().expect("bytes") > 0);

    let csv = sql(&f.state, query, Some("text/csv")).await;
    assert_eq!(csv.status, StatusCode::OK);
    assert_eq!(csv.content_type, "text/csv; charset=utf-8");
    assert_eq!(
        String::from_utf8(csv.body).expect("utf-8"),
        "name,duration_ns,start_time,ratio,http_status_code,keys\n\
         GET /cart,120000000,2025-11-24T16:00:00Z,0.25,200,\"[\"\"service.name\"\",\"\"host.name\"\",\"\"replicas\"\"]\"\n\
         charge,80000000,2025-11-24T16:00:00.010Z,,,\"[\"\"service.name\"\"]\"\n"
    );

    let arrow = sql(&f.state, query, Some(crate::ARROW_STREAM)).await;
    assert_eq!(arrow.status, StatusCode::OK);
    assert_eq!(arrow.content_type, crate::ARROW_STREAM);
    let reader = arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(arrow.body), None)
        .expect("ipc stream");
    assert_eq!(reader.schema().field(0).name(), "name");
    let batches: Vec<_> = reader.collect::<Result<_, _>>().expect("batches");
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 2);

    // duplicate column names keep their places
    let dup = sql(
        &f.state,
        "SELECT a.name, b.name FROM spans a JOIN spans b ON a.span_id = b.span_id WHERE a.name = 'charge'",
        None,
    )
    .await
    .json();
    assert_eq!(dup["rows"], json!([["charge", "charge"]]), "{dup}");
    // maps are objects, lists of structs arrays of objects
    let nested = sql(
        &f.state,
        "SELECT attributes, links FROM spans WHERE name = 'charge'",
        None,
    )
    .await
    .json();
    assert_eq!(
        nested["rows"],
        json!([[
            {"rpc.system": "grpc"},
            [{"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "span_id": "00f067aa0ba902b8",
              "trace_state": "", "attributes": "{\"link.kind\":\"retry\"}",
              "dropped_attributes_count": 0, "flags": 1}]
        ]]),
        "{nested}"
    );
    let empty = sql(
        &f.state,
        "SELECT name FROM spans WHERE false",
        Some("text/csv"),
    )
    .await;
    assert_eq!(String::from_utf8(empty.body).expect("utf-8"), "name\n");
}

#[tokio::test]
async fn sql_errors_are_json_with_proper_statuses() {
    let f = fixture(false).await;
    for (query, status, message) in [
        (
            "CREATE EXTERNAL TABLE p STORED AS CSV LOCATION '/etc/passwd'",
            400,
            "CREATE EXTERNAL TABLE is not allowed",
        ),
        (
            "SELECT * FROM read_parquet('/etc/passwd')",
            400,
            "table function read_parquet is not allowed",
        ),
        (
            "SELECT * FROM '/etc/passwd'",
            400,
            "reading files is not allowed",
        ),
        ("COPY spans TO '/tmp/x.csv'", 400, "COPY is not allowed"),
        ("DROP TABLE spans", 400, "DROP TABLE is not allowed"),
        ("SELECT nope FROM spans", 400, "nope"),
        ("SELEC 1", 400, "SELEC"),
    ] {
        let answer = sql(&f.state, query, None).await;
        assert_eq!(answer.status.as_u16(), status, "{query}");
        let error = answer.json()["error"].as_str().expect("error").to_owned();
        assert!(error.contains(message), "{query}: {error}");
    }
    let malformed = send(
        &f.state,
        Request::post("/api/v1/sql")
            .body(Body::from("SELECT 1"))
            .expect("request"),
    )
    .await;
    assert_eq!(malformed.status, StatusCode::BAD_REQUEST);
    assert!(
        malformed.json()["error"]
            .as_str()
            .expect("error")
            .contains("send {\"query\"")
    );
    let format = send(
        &f.state,
        Request::post("/api/v1/sql?format=xml")
            .body(Body::from(r#"{"query":"SELECT 1"}"#))
            .expect("request"),
    )
    .await;
    assert_eq!(format.status, StatusCode::BAD_REQUEST);

    // before storage is open the query routes answer 503 with Retry-After
    let not_ready = ApiState {
        query: Arc::default(),
        ..f.state.clone()
    };
    let response = router(not_ready)
        .oneshot(
            Request::get("/api/v1/services")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("response");
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()[header::RETRY_AFTER], "1");
    drop(f.storage);
}
