//! Known traces for the engine's tests, stored head-only, Parquet-only or mixed.
//!
//! * `T1` (`11…11`, at BASE): frontend `GET /cart` (server, root) → checkout `POST /checkout`
//!   (server) → payments `charge` (client, error "card declined", an `exception` event).
//! * `T2` (`22…22`, BASE + 10 min): frontend `GET /home` (server, root) → cache `GET key`
//!   (client, `db.system=redis`).
//! * `T3` (`33…33`, BASE + 65 min, the next hour partition): checkout `POST /checkout` (server,
//!   root, 2 s, status ok) with typed attributes and a link to T1's root span.

use std::path::Path;

use datafusion::arrow::array::RecordBatch;
use meshscope_model::spans;
use meshscope_model::{
    EventInput, LinkInput, ResourceContext, ScopeContext, SpanBatchBuilder, SpanInput, SpanKind,
    StatusCode, Value,
};
use meshscope_storage::{Storage, StorageConfig, SyncPolicy, TableSpec};

/// 2025-11-24T16:00:00Z.
pub const BASE: i64 = 1_764_000_000_000_000_000;
pub const MS: i64 = 1_000_000;
pub const MIN: i64 = 60_000 * MS;

pub const T1: &str = "11111111111111111111111111111111";
pub const T2: &str = "22222222222222222222222222222222";
pub const T3: &str = "33333333333333333333333333333333";

/// How the fixture is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Everything in the head (nothing flushed).
    Head,
    /// Everything in Parquet files.
    Parquet,
    /// T1's first two spans and T2 flushed; T1's payments span and T3 in the head.
    Mixed,
}

pub const LAYOUTS: [Layout; 3] = [Layout::Head, Layout::Parquet, Layout::Mixed];

pub fn spec() -> TableSpec {
    TableSpec {
        name: spans::TABLE,
        schema: spans::schema(),
        time_column: spans::TIME_COLUMN,
        sort_columns: spans::SORT_COLUMNS.to_vec(),
        bloom_filter_columns: spans::BLOOM_FILTER_COLUMNS.to_vec(),
        derived_columns: spans::DERIVED_COLUMNS.to_vec(),
    }
}

pub async fn open(dir: &Path) -> Storage {
    Storage::open(
        StorageConfig {
            data_dir: dir.to_path_buf(),
            wal_sync: SyncPolicy::Never,
            ..StorageConfig::default()
        },
        vec![spec()],
    )
    .await
    .expect("open storage")
}

fn id16(hex: &str) -> [u8; 16] {
    let mut out = [0u8; 16];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("hex");
    }
    out
}

fn id8(n: u8) -> [u8; 8] {
    [0, 0, 0, 0, 0, 0, 0, n]
}

/// The hex span id of [`id8`]`(n)`.
pub fn span_hex(n: u8) -> String {
    format!("{n:016x}")
}

struct Span<'a> {
    trace: &'a str,
    id: u8,
    parent: Option<u8>,
    name: &'a str,
    kind: SpanKind,
    start: i64,
    duration: i64,
    status: StatusCode,
    message: &'a str,
    attributes: Vec<(&'a str, Value<'a>)>,
    events: Vec<EventInput<'a>>,
    links: Vec<LinkInput<'a>>,
}

fn build(service: &str, spans: &[Span<'_>]) -> RecordBatch {
    let resource = ResourceContext::new(
        &[
            ("service.name", Value::Str(service)),
            ("k8s.namespace.name", Value::Str("shop")),
            ("replicas", Value::Int(3)),
        ],
        "https://opentelemetry.io/schemas/1.26.0",
    );
    let scope = ScopeContext::new(
        "io.opentelemetry.http",
        "1.2.0",
        &[("scope.attr", Value::Bool(true))],
        "",
    );
    let mut builder = SpanBatchBuilder::with_capacity(spans.len());
    for span in spans {
        builder.append(
            &resource,
            &scope,
            &SpanInput {
                trace_id: id16(span.trace),
                span_id: id8(span.id),
                parent_span_id: span.parent.map(id8),
                trace_state: "",
                flags: 1,
                name: span.name,
                kind: span.kind,
                start_ns: span.start,
                end_ns: span.start + span.duration,
                status: span.status,
                status_message: span.message,
                attributes: &span.attributes,
                dropped_attributes_count: 0,
                events: &span.events,
                dropped_events_count: 0,
                links: &span.links,
                dropped_links_count: 0,
            },
        );
    }
    builder.finish().expect("batch")
}

fn http(
    method: &'static str,
    route: &'static str,
    status: i64,
) -> Vec<(&'static str, Value<'static>)> {
    vec![
        ("http.request.method", Value::Str(method)),
        ("http.route", Value::Str(route)),
        ("http.response.status_code", Value::Int(status)),
    ]
}

fn span<'a>(
    trace: &'a str,
    id: u8,
    parent: Option<u8>,
    name: &'a str,
    kind: SpanKind,
    start: i64,
    duration: i64,
) -> Span<'a> {
    Span {
        trace,
        id,
        parent,
        name,
        kind,
        start,
        duration,
        status: StatusCode::Unset,
        message: "",
        attributes: Vec::new(),
        events: Vec::new(),
        links: Vec::new(),
    }
}

/// T1's frontend and checkout spans, and T2 (the part `Mixed` flushes).
pub fn first_part() -> Vec<RecordBatch> {
    let mut root = span(T1, 1, None, "GET /cart", SpanKind::Server, BASE, 120 * MS);
    root.attributes = http("GET", "/cart", 200);
    root.attributes.push(("customer.tier", Value::Str("gold")));
    root.attributes.push(("retries", Value::Int(2)));
    let mut home = span(
        T2,
        11,
        None,
        "GET /home",
        SpanKind::Server,
        BASE + 10 * MIN,
        5 * MS,
    );
    home.attributes = http("GET", "/home", 200);
    let frontend = build("frontend", &[root, home]);

    let mut checkout = span(
        T1,
        2,
        Some(1),
        "POST /checkout",
        SpanKind::Server,
        BASE + 10 * MS,
        100 * MS,
    );
    checkout.attributes = http("POST", "/checkout", 200);
    let checkout = build("checkout", &[checkout]);

    let mut get = span(
        T2,
        12,
        Some(11),
        "GET key",
        SpanKind::Client,
        BASE + 10 * MIN + MS,
        2 * MS,
    );
    get.attributes = vec![("db.system", Value::Str("redis"))];
    let cache = build("cache", &[get]);
    vec![frontend, checkout, cache]
}

/// T1's payments span and T3 (the part `Mixed` keeps in the head).
pub fn second_part() -> Vec<RecordBatch> {
    let mut charge = span(
        T1,
        3,
        Some(2),
        "charge",
        SpanKind::Client,
        BASE + 20 * MS,
        80 * MS,
    );
    charge.status = StatusCode::Error;
    charge.message = "card declined";
    charge.attributes = vec![("peer.service", Value::Str("bank"))];
    charge.events = vec![EventInput {
        time_ns: BASE + 90 * MS,
        name: "exception",
        attributes: vec![
            ("exception.type", Value::Str("CardError")),
            ("attempt", Value::Int(1)),
        ],
        dropped_attributes_count: 0,
    }];
    let payments = build("payments", &[charge]);

    let mut late = span(
        T3,
        21,
        None,
        "POST /checkout",
        SpanKind::Server,
        BASE + 65 * MIN,
        2_000 * MS,
    );
    late.status = StatusCode::Ok;
    late.attributes = http("POST", "/checkout", 201);
    late.attributes.extend([
        ("customer.tier", Value::Str("silver")),
        ("ratio", Value::Double(0.5)),
        ("cached", Value::Bool(true)),
        ("tags", Value::Array(vec![Value::Str("a"), Value::Str("b")])),
    ]);
    late.links = vec![LinkInput {
        trace_id: id16(T1),
        span_id: id8(1),
        trace_state: "",
        attributes: vec![("link.kind", Value::Str("retry"))],
        dropped_attributes_count: 0,
        flags: 1,
    }];
    let checkout = build("checkout", &[late]);
    vec![payments, checkout]
}

/// Stores the fixture in `storage` laid out as `layout`.
pub async fn load(storage: &Storage, layout: Layout) {
    for batch in first_part() {
        storage.append(spans::TABLE, batch).await.expect("append");
    }
    if layout == Layout::Mixed {
        storage.flush().await.expect("flush");
    }
    for batch in second_part() {
        storage.append(spans::TABLE, batch).await.expect("append");
    }
    if layout == Layout::Parquet {
        storage.flush().await.expect("flush");
    }
}
