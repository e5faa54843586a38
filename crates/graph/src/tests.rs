//! End-to-end tests of the crate: generated topologies through the aggregator, restarts,
//! bounded memory, and the query-side merges over the emitted rows.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Int64Type, Schema, TimestampNanosecondType};
use meshscope_model::SpanKind::{Client, Consumer, Internal, Producer, Server};

use crate::test_support::{Rng, Span, batch};
use crate::*;

const SEC: i64 = 1_000_000_000;
const MS: i64 = 1_000_000;
/// A minute boundary in November 2023.
const BASE: i64 = 28_333_333 * MINUTE_NS;

fn aggs<'a>(span_metrics: &'a [RecordBatch], service_edges: &'a [RecordBatch]) -> Aggregates<'a> {
    Aggregates {
        span_metrics,
        service_edges,
        ..Default::default()
    }
}

fn aggregator() -> Aggregator {
    Aggregator::new(AggregatorConfig::default()).unwrap()
}

fn rows_of<'a>(out: &'a [(&'static str, RecordBatch)], table: &str) -> Vec<&'a RecordBatch> {
    out.iter()
        .filter(|(t, _)| *t == table)
        .map(|(_, b)| b)
        .collect()
}

fn owned(out: &[(&'static str, RecordBatch)], table: &str) -> Vec<RecordBatch> {
    rows_of(out, table).into_iter().cloned().collect()
}

fn s(b: &RecordBatch, c: &str, i: usize) -> String {
    b.column_by_name(c)
        .unwrap()
        .as_string::<i32>()
        .value(i)
        .to_owned()
}

fn n(b: &RecordBatch, c: &str, i: usize) -> i64 {
    b.column_by_name(c)
        .unwrap()
        .as_primitive::<Int64Type>()
        .value(i)
}

fn minute(b: &RecordBatch, i: usize) -> i64 {
    b.column_by_name(col::MINUTE)
        .unwrap()
        .as_primitive::<TimestampNanosecondType>()
        .value(i)
}

/// (parent, child, child_type) → (calls, errors, unpaired), summed over minutes.
fn edge_totals(
    out: &[(&'static str, RecordBatch)],
) -> BTreeMap<(String, String, String), (i64, i64, i64)> {
    let mut totals = BTreeMap::new();
    for b in rows_of(out, SERVICE_EDGES) {
        for i in 0..b.num_rows() {
            let key = (
                s(b, col::PARENT, i),
                s(b, col::CHILD, i),
                s(b, col::CHILD_TYPE, i),
            );
            let e: &mut (i64, i64, i64) = totals.entry(key).or_default();
            e.0 += n(b, col::CALLS, i);
            e.1 += n(b, col::ERRORS, i);
            e.2 += n(b, col::UNPAIRED, i);
        }
    }
    totals
}

/// (service, name, kind) → (calls, errors), summed over minutes.
fn red_totals(
    out: &[(&'static str, RecordBatch)],
) -> BTreeMap<(String, String, String), (i64, i64)> {
    let mut totals = BTreeMap::new();
    for b in rows_of(out, SPAN_METRICS) {
        for i in 0..b.num_rows() {
            let key = (
                s(b, col::SERVICE_NAME, i),
                s(b, col::NAME, i),
                s(b, col::KIND, i),
            );
            let e: &mut (i64, i64) = totals.entry(key).or_default();
            e.0 += n(b, col::CALLS, i);
            e.1 += n(b, col::ERRORS, i);
        }
    }
    totals
}

fn edge(parent: &str, child: &str, t: &str) -> (String, String, String) {
    (parent.into(), child.into(), t.into())
}

/// A mesh with known calls:
/// - A ×200: gateway (client spans only, Envoy `upstream_cluster`) → frontend → cart →
///   postgresql/carts (virtual database); frontend → kafka orders → shipping (consumer).
///   Every 25th gateway span fails; every 10th cart server span answers 503.
/// - B ×50: gateway → an uninstrumented upstream (virtual external `legacy.shop`).
/// - C ×30: frontend → `peer.service` payments-api (no server), and a producer to kafka/audit
///   with no consumer (virtual queue).
/// - D ×40: web app client span → its sidecar's client span (web.sidecar) → api server.
fn topology(base: i64) -> Vec<Span> {
    let mut spans = Vec::new();
    let mut id = 0u64;
    let mut next = || {
        id += 1;
        id
    };
    for i in 0..200i64 {
        let trace = (1u128 << 100) | i as u128;
        let t = base + 50 * SEC + i * 100 * MS;
        let (g, f, fc, c, d, p, sh) = (next(), next(), next(), next(), next(), next(), next());
        let mut gateway = Span::new(trace, g, None, "gateway", Client, t, 30 * MS)
            .name("ingress")
            .attr(
                "upstream_cluster",
                "outbound|8080||frontend.shop.svc.cluster.local",
            );
        if i % 25 == 0 {
            gateway = gateway.error();
        }
        spans.push(gateway);
        spans.push(
            Span::new(trace, f, Some(g), "frontend", Server, t + MS, 28 * MS)
                .name("GET /checkout")
                .int_attr("http.response.status_code", 200),
        );
        spans.push(
            Span::new(trace, fc, Some(f), "frontend", Client, t + 2 * MS, 20 * MS)
                .name("POST /cart")
                .attr("server.address", "cart"),
        );
        let status = if i % 10 == 0 { 503 } else { 200 };
        spans.push(
            Span::new(trace, c, Some(fc), "cart", Server, t + 3 * MS, 18 * MS)
                .name("POST /cart")
                .int_attr("http.response.status_code", status),
        );
        spans.push(
            Span::new(trace, d, Some(c), "cart", Client, t + 4 * MS, 5 * MS)
                .name("SELECT carts")
                .attr("db.system", "postgresql")
                .attr("db.name", "carts"),
        );
        spans.push(
            Span::new(trace, p, Some(f), "frontend", Producer, t + 25 * MS, MS)
                .name("orders publish")
                .attr("messaging.system", "kafka")
                .attr("messaging.destination.name", "orders"),
        );
        spans.push(
            Span::new(
                trace,
                sh,
                Some(p),
                "shipping",
                Consumer,
                t + 40 * MS,
                10 * MS,
            )
            .name("orders process"),
        );
    }
    for i in 0..50i64 {
        let trace = (2u128 << 100) | i as u128;
        let t = base + 10 * SEC + i * 200 * MS;
        spans.push(
            Span::new(trace, next(), None, "gateway", Client, t, 7 * MS)
                .name("ingress")
                .attr(
                    "upstream_cluster",
                    "outbound|80||legacy.shop.svc.cluster.local",
                ),
        );
    }
    for i in 0..30i64 {
        let trace = (3u128 << 100) | i as u128;
        let t = base + 20 * SEC + i * 300 * MS;
        let (f, pay, audit) = (next(), next(), next());
        spans.push(Span::new(trace, f, None, "frontend", Server, t, 50 * MS).name("POST /pay"));
        spans.push(
            Span::new(trace, pay, Some(f), "frontend", Client, t + MS, 40 * MS)
                .name("charge")
                .attr("peer.service", "payments-api")
                .attr("server.address", "api.payments.example"),
        );
        spans.push(
            Span::new(trace, audit, Some(f), "frontend", Producer, t + 45 * MS, MS)
                .name("audit publish")
                .attr("messaging.system", "kafka")
                .attr("messaging.destination.name", "audit"),
        );
    }
    for i in 0..40i64 {
        let trace = (4u128 << 100) | i as u128;
        let t = base + 5 * SEC + i * 250 * MS;
        let (w, wc, ws, api) = (next(), next(), next(), next());
        spans.push(Span::new(trace, w, None, "web", Server, t, 20 * MS).name("GET /"));
        spans.push(
            Span::new(trace, wc, Some(w), "web", Client, t + MS, 15 * MS)
                .name("GET /items")
                .attr("server.address", "api"),
        );
        spans.push(
            Span::new(
                trace,
                ws,
                Some(wc),
                "web.sidecar",
                Client,
                t + 2 * MS,
                13 * MS,
            )
            .name("api.default.svc.cluster.local:80/*")
            .attr(
                "upstream_cluster",
                "outbound|80||api.default.svc.cluster.local",
            ),
        );
        spans.push(
            Span::new(trace, api, Some(ws), "api", Server, t + 3 * MS, 11 * MS).name("GET /items"),
        );
    }
    spans
}

/// Shuffles `spans` and cuts them into batches of 1 to 60 spans.
fn shuffled_batches(mut spans: Vec<Span>, rng: &mut Rng) -> Vec<RecordBatch> {
    rng.shuffle(&mut spans);
    let mut batches = Vec::new();
    let mut rest = spans.as_slice();
    while !rest.is_empty() {
        let take = (1 + rng.below(60) as usize).min(rest.len());
        batches.push(batch(&rest[..take]));
        rest = &rest[take..];
    }
    batches
}

#[test]
fn generated_topology_yields_exactly_its_edges_and_counts() {
    let mut rng = Rng::new(42);
    for round in 0..5 {
        let batches = shuffled_batches(topology(BASE), &mut rng);
        let mut agg = aggregator();
        for (k, b) in batches.iter().enumerate() {
            agg.observe(b, BASE + 90 * SEC + k as i64 * 5 * MS).unwrap();
        }
        assert!(
            agg.drain(BASE + 99 * SEC).unwrap().is_empty(),
            "nothing closed yet"
        );
        let out = agg.drain(BASE + 10 * MINUTE_NS).unwrap();
        assert_eq!(
            out.iter().map(|(t, _)| *t).collect::<Vec<_>>(),
            [SERVICE_EDGES, SPAN_METRICS]
        );

        let expected: BTreeMap<_, _> = [
            (edge("gateway", "frontend", "service"), (200, 8, 0)),
            (edge("frontend", "cart", "service"), (200, 20, 0)),
            (edge("cart", "postgresql/carts", "database"), (200, 0, 200)),
            (edge("frontend", "shipping", "service"), (200, 0, 0)),
            (edge("gateway", "legacy.shop", "external"), (50, 0, 50)),
            (edge("frontend", "payments-api", "external"), (30, 0, 30)),
            (edge("frontend", "kafka/audit", "queue"), (30, 0, 30)),
            (edge("web.sidecar", "api", "service"), (40, 0, 0)),
        ]
        .into_iter()
        .collect();
        assert_eq!(edge_totals(&out), expected, "round {round}");

        let red = red_totals(&out);
        let r = |svc: &str, name: &str, kind: &str| red[&(svc.into(), name.into(), kind.into())];
        assert_eq!(r("gateway", "ingress", "client"), (250, 8));
        assert_eq!(r("cart", "POST /cart", "server"), (200, 20));
        assert_eq!(r("frontend", "GET /checkout", "server"), (200, 0));
        assert_eq!(r("frontend", "POST /pay", "server"), (30, 0));
        assert_eq!(r("web", "GET /items", "client"), (40, 0));
        assert_eq!(red.values().map(|v| v.0).sum::<i64>(), 1700);

        let stats = agg.stats();
        assert_eq!(stats.spans, 1700);
        assert_eq!(stats.edges_paired, 640);
        assert_eq!(stats.edges_virtual, 310);
        assert_eq!(stats.delegated_callers, 40);
        assert_eq!(
            (
                stats.unpaired_callers,
                stats.unpaired_callees,
                stats.evicted
            ),
            (0, 0, 0)
        );
        assert_eq!(
            (stats.late_spans, stats.late_edges, stats.invalid_ids),
            (0, 0, 0)
        );
        assert_eq!(agg.pending(), 0);
        assert_eq!(agg.open_minutes(), 0);

        // Calls are counted in the minute of the calling span's start: traces 0..100 of A
        // start in BASE's minute, 100..200 in the next.
        let edges = rows_of(&out, SERVICE_EDGES)[0];
        let per_minute: Vec<(i64, i64)> = (0..edges.num_rows())
            .filter(|i| {
                s(edges, col::PARENT, *i) == "gateway" && s(edges, col::CHILD, *i) == "frontend"
            })
            .map(|i| (minute(edges, i) - BASE, n(edges, col::CALLS, i)))
            .collect();
        assert_eq!(per_minute, [(0, 100), (MINUTE_NS, 100)]);
    }
}

#[test]
fn spans_read_back_with_only_the_span_columns_count_as_whole_rows() {
    let mut rng = Rng::new(7);
    let batches = shuffled_batches(topology(BASE), &mut rng);
    let project = |b: &RecordBatch| {
        let schema = b.schema();
        let kept: Vec<usize> = SPAN_COLUMNS
            .iter()
            .filter_map(|name| schema.index_of(name).ok())
            .collect();
        assert!(
            kept.len() < b.num_columns(),
            "the projection leaves columns out"
        );
        b.project(&kept).unwrap()
    };
    let (mut whole, mut projected) = (aggregator(), aggregator());
    for (k, b) in batches.iter().enumerate() {
        let now = BASE + 90 * SEC + k as i64 * 5 * MS;
        whole.observe(b, now).unwrap();
        projected.observe(&project(b), now).unwrap();
    }
    let end = BASE + 10 * MINUTE_NS;
    let (expected, got) = (whole.drain(end).unwrap(), projected.drain(end).unwrap());
    assert!(!expected.is_empty());
    assert_eq!(got, expected);
}

#[test]
fn the_graph_of_the_topology_has_typed_nodes_and_red() {
    let mut rng = Rng::new(7);
    let mut agg = aggregator();
    for b in shuffled_batches(topology(BASE), &mut rng) {
        agg.observe(&b, BASE + 90 * SEC).unwrap();
    }
    let out = agg.drain(BASE + 10 * MINUTE_NS).unwrap();
    let (metrics, edges) = (owned(&out, SPAN_METRICS), owned(&out, SERVICE_EDGES));
    let range = TimeRange::new(BASE, BASE + 2 * MINUTE_NS).unwrap();
    let graph = service_graph(&aggs(&metrics, &edges), &GraphQuery::all(range)).unwrap();

    let types: Vec<(&str, NodeType)> = graph
        .nodes
        .iter()
        .map(|n| (n.name.as_str(), n.node_type))
        .collect();
    assert_eq!(
        types,
        [
            ("api", NodeType::Service),
            ("cart", NodeType::Service),
            ("frontend", NodeType::Service),
            ("gateway", NodeType::Service),
            ("kafka/audit", NodeType::Queue),
            ("legacy.shop", NodeType::External),
            ("payments-api", NodeType::External),
            ("postgresql/carts", NodeType::Database),
            ("shipping", NodeType::Service),
            ("web", NodeType::Service),
            ("web.sidecar", NodeType::Service),
        ]
    );
    let node = |name: &str| graph.nodes.iter().find(|n| n.name == name).unwrap();
    // a service's RED is its server spans'
    assert_eq!((node("cart").red.calls, node("cart").red.errors), (200, 20));
    assert_eq!(node("frontend").red.calls, 230);
    // a gateway with only client spans: its client spans
    assert_eq!(
        (node("gateway").red.calls, node("gateway").red.errors),
        (250, 8)
    );
    // a virtual node: the edges into it
    assert_eq!(node("postgresql/carts").red.calls, 200);
    let p50 = node("postgresql/carts").red.p50_ns.unwrap();
    assert!((p50 - 5e6).abs() / 5e6 <= RELATIVE_ACCURACY);
    assert!((node("cart").red.rate - 200.0 / 120.0).abs() < 1e-9);
    assert!((node("cart").red.error_rate - 0.1).abs() < 1e-9);

    let e = graph
        .edges
        .iter()
        .find(|e| e.parent == "frontend" && e.child == "cart")
        .unwrap();
    assert_eq!((e.red.calls, e.red.errors, e.unpaired), (200, 20, 0));
    let p99 = e.red.p99_ns.unwrap();
    assert!((p99 - 20e6).abs() / 20e6 <= RELATIVE_ACCURACY, "{p99}");
    assert_eq!(graph.edges.len(), 8);

    // The neighbourhood of cart: its caller and its database.
    let q = GraphQuery {
        range,
        service: Some("cart"),
        depth: 1,
    };
    let g = service_graph(&aggs(&metrics, &edges), &q).unwrap();
    let names: Vec<&str> = g.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["cart", "frontend", "postgresql/carts"]);
    let pairs: Vec<(&str, &str)> = g
        .edges
        .iter()
        .map(|e| (e.parent.as_str(), e.child.as_str()))
        .collect();
    assert_eq!(pairs, [("cart", "postgresql/carts"), ("frontend", "cart")]);
    let g2 = service_graph(&aggs(&metrics, &edges), &GraphQuery { depth: 2, ..q }).unwrap();
    // frontend's other neighbours: gateway, shipping, payments-api, kafka/audit
    assert_eq!(g2.nodes.len(), 7);
    let none = service_graph(
        &aggs(&metrics, &edges),
        &GraphQuery {
            service: Some("nope"),
            ..q
        },
    )
    .unwrap();
    assert_eq!(none, ServiceGraph::default());

    // Jaeger's shape
    let deps = jaeger_dependencies(&aggs(&[], &edges), range).unwrap();
    assert_eq!(deps.len(), 8);
    assert_eq!(
        deps[0],
        Dependency {
            parent: "cart".into(),
            child: "postgresql/carts".into(),
            call_count: 200
        }
    );
    // a range holding only the second minute
    let later = TimeRange::new(BASE + MINUTE_NS, BASE + 2 * MINUTE_NS).unwrap();
    let deps = jaeger_dependencies(&aggs(&[], &edges), later).unwrap();
    let gw = deps
        .iter()
        .find(|d| d.parent == "gateway" && d.child == "frontend")
        .unwrap();
    assert_eq!(gw.call_count, 100);
}

#[test]
fn a_virtual_node_named_like_a_service_is_that_service() {
    // 10 calls from web to cart with server spans, 5 where cart never answered (peer.service)
    let mut spans = Vec::new();
    for i in 0..15u64 {
        let t = BASE + i as i64 * SEC;
        let trace = 9u128 << 90 | u128::from(i);
        spans.push(
            Span::new(trace, 2 * i + 1, None, "web", Client, t, 10 * MS)
                .attr("peer.service", "cart")
                .error_if(i >= 10),
        );
        if i < 10 {
            spans.push(Span::new(
                trace,
                2 * i + 2,
                Some(2 * i + 1),
                "cart",
                Server,
                t + MS,
                5 * MS,
            ));
        }
    }
    let mut agg = aggregator();
    agg.observe(&batch(&spans), BASE + 20 * SEC).unwrap();
    let out = agg.drain(BASE + 10 * MINUTE_NS).unwrap();
    let range = TimeRange::new(BASE, BASE + MINUTE_NS).unwrap();
    let (metrics, edges) = (owned(&out, SPAN_METRICS), owned(&out, SERVICE_EDGES));
    let g = service_graph(&aggs(&metrics, &edges), &GraphQuery::all(range)).unwrap();
    assert_eq!(g.edges.len(), 1);
    let e = &g.edges[0];
    assert_eq!(
        (e.child.as_str(), e.child_type),
        ("cart", NodeType::Service)
    );
    assert_eq!((e.red.calls, e.red.errors, e.unpaired), (15, 5, 5));
    assert!(g.nodes.iter().all(|n| n.node_type == NodeType::Service));
}

trait ErrorIf {
    fn error_if(self, yes: bool) -> Self;
}

impl ErrorIf for Span {
    fn error_if(self, yes: bool) -> Self {
        if yes { self.error() } else { self }
    }
}

#[test]
fn server_errors_follow_http_and_grpc_status() {
    let t = BASE + SEC;
    let spans = [
        Span::new(1, 1, None, "a", Server, t, MS)
            .name("h500")
            .int_attr("http.response.status_code", 500),
        Span::new(1, 2, None, "a", Server, t, MS)
            .name("h404")
            .int_attr("http.response.status_code", 404),
        Span::new(1, 3, None, "a", Server, t, MS)
            .name("g14")
            .int_attr("rpc.grpc.status_code", 14),
        Span::new(1, 4, None, "a", Server, t, MS)
            .name("g0")
            .int_attr("rpc.grpc.status_code", 0),
        // a client span is an error only by its status
        Span::new(1, 5, None, "a", Client, t, MS)
            .name("c503")
            .int_attr("http.response.status_code", 503),
        Span::new(1, 6, None, "a", Internal, t, MS)
            .name("ierr")
            .error(),
    ];
    let mut agg = aggregator();
    agg.observe(&batch(&spans), t).unwrap();
    let out = agg.drain(BASE + 10 * MINUTE_NS).unwrap();
    let errors: BTreeMap<String, i64> = red_totals(&out)
        .into_iter()
        .map(|((_, name, _), (_, e))| (name, e))
        .collect();
    let expected: BTreeMap<String, i64> = [
        ("h500", 1),
        ("h404", 0),
        ("g14", 1),
        ("g0", 0),
        ("c503", 0),
        ("ierr", 1),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(errors, expected);
}

/// Traffic over six minutes: a trace every 50 ms (gateway → frontend → cart → database),
/// log-normal durations, each span exported 0–3 s after it ends, received in requests of
/// 250 ms. Returns (arrival time, batch), in arrival order.
fn traffic(seed: u64) -> Vec<(i64, RecordBatch)> {
    let mut rng = Rng::new(seed);
    let mut arrivals: Vec<(i64, Span)> = Vec::new();
    let mut id = 0u64;
    let mut t = BASE;
    let mut trace = 0u128;
    while t < BASE + 6 * MINUTE_NS {
        trace += 1;
        let ids: Vec<u64> = (0..5)
            .map(|_| {
                id += 1;
                id
            })
            .collect();
        let d = |rng: &mut Rng, median: f64| rng.log_normal(median, 0.7).max(1000.0) as i64;
        let (dg, df, dc, dd) = (
            d(&mut rng, 40e6),
            d(&mut rng, 30e6),
            d(&mut rng, 10e6),
            d(&mut rng, 2e6),
        );
        let spans = [
            Span::new(trace, ids[0], None, "gateway", Client, t, dg + df).attr(
                "upstream_cluster",
                "outbound|80||frontend.shop.svc.cluster.local",
            ),
            Span::new(trace, ids[1], Some(ids[0]), "frontend", Server, t + MS, df)
                .error_if(rng.below(20) == 0),
            Span::new(
                trace,
                ids[2],
                Some(ids[1]),
                "frontend",
                Client,
                t + 2 * MS,
                dc + dd,
            )
            .attr("peer.service", "cart"),
            Span::new(trace, ids[3], Some(ids[2]), "cart", Server, t + 3 * MS, dc).int_attr(
                "http.response.status_code",
                if rng.below(30) == 0 { 500 } else { 200 },
            ),
            Span::new(trace, ids[4], Some(ids[3]), "cart", Client, t + 4 * MS, dd)
                .attr("db.system", "redis"),
        ];
        for s in spans {
            let arrival = s.start_ns + s.duration_ns + rng.below(3_000) as i64 * MS;
            arrivals.push((arrival, s));
        }
        t += 50 * MS;
    }
    arrivals.sort_by_key(|(a, _)| *a);
    let mut out = Vec::new();
    let mut i = 0;
    while i < arrivals.len() {
        let request_end = (arrivals[i].0 / (250 * MS) + 1) * 250 * MS;
        let mut j = i;
        while j < arrivals.len() && arrivals[j].0 < request_end {
            j += 1;
        }
        let mut spans: Vec<Span> = arrivals[i..j].iter().map(|(_, s)| s.clone()).collect();
        rng.shuffle(&mut spans);
        out.push((request_end, batch(&spans)));
        i = j;
    }
    out
}

/// Every stored aggregate row by (table, minute, key): asserts no key is stored twice.
type RowKey = (&'static str, i64, String, String, String);
type RowValue = (i64, i64, i64, i64, i64, i64, Vec<u8>);

fn stored_rows(store: &[(&'static str, RecordBatch)]) -> BTreeMap<RowKey, RowValue> {
    let mut rows = BTreeMap::new();
    for (table, b) in store {
        for i in 0..b.num_rows() {
            let key = if *table == SPAN_METRICS {
                (
                    *table,
                    minute(b, i),
                    s(b, col::SERVICE_NAME, i),
                    s(b, col::NAME, i),
                    s(b, col::KIND, i),
                )
            } else {
                (
                    *table,
                    minute(b, i),
                    s(b, col::PARENT, i),
                    s(b, col::CHILD, i),
                    s(b, col::CHILD_TYPE, i),
                )
            };
            let unpaired = if *table == SERVICE_EDGES {
                n(b, col::UNPAIRED, i)
            } else {
                0
            };
            let sketch = b
                .column_by_name(col::DURATION_SKETCH)
                .unwrap()
                .as_binary::<i32>()
                .value(i)
                .to_vec();
            let value = (
                n(b, col::CALLS, i),
                n(b, col::ERRORS, i),
                unpaired,
                n(b, col::DURATION_SUM_NS, i),
                n(b, col::DURATION_MIN_NS, i),
                n(b, col::DURATION_MAX_NS, i),
                sketch,
            );
            assert!(
                rows.insert(key.clone(), value).is_none(),
                "{key:?} stored twice"
            );
        }
    }
    rows
}

fn max_minute(store: &[(&'static str, RecordBatch)], table: &str) -> Option<i64> {
    rows_of(store, table)
        .iter()
        .flat_map(|b| (0..b.num_rows()).map(|i| minute(b, i)))
        .max()
}

const DRAIN_EVERY: i64 = 5 * SEC;
const END: i64 = BASE + 20 * MINUTE_NS;

/// How the process dies.
#[derive(Debug, Clone, Copy)]
enum Crash {
    /// After observing the batch that arrived at the crash time.
    AfterObserve,
    /// After the batch was stored but before it was observed.
    BeforeObserve,
    /// In the middle of persisting a drain: `service_edges` stored, `span_metrics` not.
    MidDrain,
}

/// A restarted aggregator: the watermark from what is stored, then every stored span batch
/// replayed (more than needed: `observe` skips closed minutes).
fn restart(
    store: &[(&'static str, RecordBatch)],
    stored_spans: &[RecordBatch],
    now: i64,
) -> Aggregator {
    let watermark = Watermark::from_stored(
        max_minute(store, SPAN_METRICS),
        max_minute(store, SERVICE_EDGES),
    );
    let from = watermark.replay_from().unwrap();
    assert!(from > BASE && from < now, "the crash is mid-stream");
    let mut agg = Aggregator::resume(AggregatorConfig::default(), watermark).unwrap();
    for b in stored_spans {
        agg.observe(b, now).unwrap();
    }
    agg
}

/// Runs the traffic through an aggregator as the server would (store the spans, observe
/// them, drain every 5 s and store the rows), with an optional crash and restart at the first
/// opportunity after the given time; returns the stored aggregate rows.
fn run(
    traffic: &[(i64, RecordBatch)],
    crash: Option<(i64, Crash)>,
) -> Vec<(&'static str, RecordBatch)> {
    let mut stored_spans: Vec<RecordBatch> = Vec::new();
    let mut store: Vec<(&'static str, RecordBatch)> = Vec::new();
    let mut agg = aggregator();
    let mut next_drain = BASE + DRAIN_EVERY;
    let mut pending_crash = crash;
    let mut k = 0;
    loop {
        let arrival = traffic.get(k).map(|(t, _)| *t);
        if arrival.is_none() && next_drain > END {
            break;
        }
        if arrival.is_none_or(|a| next_drain <= a) {
            let now = next_drain;
            next_drain += DRAIN_EVERY;
            let out = agg.drain(now).unwrap();
            match pending_crash {
                Some((at, Crash::MidDrain)) if now >= at && out.len() == 2 => {
                    assert_eq!(out[0].0, SERVICE_EDGES);
                    store.push(out[0].clone());
                    pending_crash = None;
                    agg = restart(&store, &stored_spans, now);
                }
                _ => store.extend(out),
            }
            continue;
        }
        let (now, b) = &traffic[k];
        k += 1;
        stored_spans.push(b.clone());
        match pending_crash {
            Some((at, how @ (Crash::AfterObserve | Crash::BeforeObserve))) if *now >= at => {
                if matches!(how, Crash::AfterObserve) {
                    agg.observe(b, *now).unwrap();
                }
                pending_crash = None;
                agg = restart(&store, &stored_spans, *now);
            }
            _ => agg.observe(b, *now).unwrap(),
        }
    }
    assert!(pending_crash.is_none(), "the crash happened");
    assert_eq!(agg.open_minutes(), 0);
    store
}

#[test]
fn a_restart_in_the_middle_of_a_minute_neither_loses_nor_double_counts() {
    let traffic = traffic(11);
    let reference = stored_rows(&run(&traffic, None));
    let calls: i64 = reference
        .iter()
        .filter(|(k, _)| k.0 == SPAN_METRICS)
        .map(|(_, v)| v.0)
        .sum();
    let spans: usize = traffic.iter().map(|(_, b)| b.num_rows()).sum();
    assert_eq!(
        calls as usize, spans,
        "every span counted once without a crash"
    );
    let gateway_edges: i64 = reference
        .iter()
        .filter(|(k, _)| k.0 == SERVICE_EDGES && k.2 == "gateway")
        .map(|(_, v)| v.0)
        .sum();
    assert_eq!(gateway_edges as usize, spans / 5);

    for (at, how) in [
        (BASE + 3 * MINUTE_NS + 25 * SEC, Crash::AfterObserve),
        (
            BASE + 2 * MINUTE_NS + 41 * SEC + 100 * MS,
            Crash::BeforeObserve,
        ),
        (BASE + 4 * MINUTE_NS + 7 * SEC, Crash::MidDrain),
        (BASE + 5 * MINUTE_NS + 59 * SEC, Crash::AfterObserve),
    ] {
        let restarted = stored_rows(&run(&traffic, Some((at, how))));
        assert_eq!(restarted.len(), reference.len(), "{how:?} at {at}");
        for (key, value) in &reference {
            assert_eq!(restarted.get(key), Some(value), "{how:?}: {key:?}");
        }
    }
}

#[test]
fn pending_spans_are_bounded_and_evictions_counted() {
    let config = AggregatorConfig {
        max_pending: 100,
        ..Default::default()
    };
    let mut agg = Aggregator::new(config).unwrap();
    let t = BASE + SEC;
    // 1000 client spans nobody answers, 500 server spans whose parent never comes.
    let clients: Vec<Span> = (0..1000u64)
        .map(|i| {
            Span::new(u128::from(i) + 1, i + 1, None, "a", Client, t, MS).attr("peer.service", "b")
        })
        .collect();
    let servers: Vec<Span> = (0..500u64)
        .map(|i| Span::new(u128::from(i) + 5000, i + 1, Some(99), "c", Server, t, MS))
        .collect();
    for chunk in clients.chunks(10).chain(servers.chunks(10)) {
        agg.observe(&batch(chunk), t).unwrap();
        assert!(agg.pending() <= 100);
    }
    let stats = agg.stats();
    assert_eq!(stats.evicted, 1400);
    let out = agg.drain(BASE + 10 * MINUTE_NS).unwrap();
    let stats = agg.stats();
    assert_eq!(
        stats.edges_virtual, 1000,
        "evicted clients still become virtual edges"
    );
    assert_eq!(stats.unpaired_callees, 500);
    assert_eq!(agg.pending(), 0);
    assert_eq!(
        edge_totals(&out)[&edge("a", "b", "external")],
        (1000, 0, 1000)
    );
}

#[test]
fn waiting_spans_expire_after_the_pairing_window() {
    let mut agg = aggregator();
    let t = BASE + SEC;
    agg.observe(
        &batch(&[Span::new(1, 1, None, "a", Client, t, MS).attr("peer.service", "b")]),
        t,
    )
    .unwrap();
    agg.observe(&batch(&[]), t + 9 * SEC).unwrap();
    assert_eq!(agg.pending(), 1);
    agg.observe(&batch(&[]), t + 10 * SEC).unwrap();
    assert_eq!(agg.pending(), 0);
    // the server half arrives too late: an unpaired server, and the call is the virtual edge
    agg.observe(
        &batch(&[Span::new(1, 2, Some(1), "b", Server, t, MS)]),
        t + 11 * SEC,
    )
    .unwrap();
    let out = agg.drain(BASE + 10 * MINUTE_NS).unwrap();
    assert_eq!(edge_totals(&out)[&edge("a", "b", "external")], (1, 0, 1));
    assert_eq!(agg.stats().unpaired_callees, 1);
}

#[test]
fn nothing_lingers_when_spans_arrive_in_their_usual_order() {
    // children end (and arrive) before their parents
    let t = BASE + SEC;
    let spans = [
        // app → server via a client span; the server's inbound sidecar span sits between
        Span::new(1, 4, Some(3), "cart", Server, t + 3 * MS, MS),
        Span::new(1, 3, Some(2), "cart.sidecar", Server, t + 2 * MS, 3 * MS),
        Span::new(1, 2, Some(1), "web", Client, t + MS, 5 * MS),
        Span::new(1, 5, Some(1), "web", Internal, t + MS, MS),
        Span::new(1, 1, None, "web", Server, t, 10 * MS),
    ];
    let mut agg = aggregator();
    for s in &spans {
        agg.observe(&batch(std::slice::from_ref(s)), t + 20 * MS)
            .unwrap();
    }
    assert_eq!(agg.pending(), 0);
    let stats = agg.stats();
    assert_eq!((stats.edges_paired, stats.unpaired_callees), (1, 1));
    let out = agg.drain(BASE + 10 * MINUTE_NS).unwrap();
    assert_eq!(
        edge_totals(&out)[&edge("web", "cart.sidecar", "service")],
        (1, 0, 0)
    );
}

#[test]
fn late_spans_are_not_counted_in_a_closed_minute() {
    let mut agg = aggregator();
    let t = BASE + 30 * SEC;
    agg.observe(&batch(&[Span::new(1, 1, None, "a", Server, t, MS)]), t)
        .unwrap();
    // closes BASE's minute: 60 s + 30 s lateness + 10 s window after its start
    let out = agg.drain(BASE + 100 * SEC).unwrap();
    assert_eq!(red_totals(&out).values().map(|v| v.0).sum::<i64>(), 1);
    assert_eq!(agg.watermark().span_metrics, Some(BASE + MINUTE_NS));
    agg.observe(
        &batch(&[Span::new(1, 2, None, "a", Server, t, MS)]),
        BASE + 101 * SEC,
    )
    .unwrap();
    assert_eq!(agg.stats().late_spans, 1);
    assert!(agg.drain(BASE + 10 * MINUTE_NS).unwrap().is_empty());
}

#[test]
fn peek_shows_open_minutes_without_closing_them() {
    let mut agg = aggregator();
    let t = BASE + SEC;
    agg.observe(&batch(&[Span::new(1, 1, None, "a", Server, t, MS)]), t)
        .unwrap();
    let peeked = agg.peek().unwrap();
    assert_eq!(red_totals(&peeked).values().map(|v| v.0).sum::<i64>(), 1);
    let out = agg.drain(BASE + 10 * MINUTE_NS).unwrap();
    assert_eq!(red_totals(&out), red_totals(&peeked));
    assert!(agg.peek().unwrap().is_empty());
}

#[test]
fn bad_input_is_counted_or_refused_never_a_panic() {
    let mut agg = aggregator();
    // a batch without the needed columns
    let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]));
    let empty = RecordBatch::new_empty(schema);
    assert!(matches!(
        agg.observe(&empty, BASE),
        Err(Error::MissingColumn { .. })
    ));
    // far-future spans are ignored, bad ids still count for RED
    let spans = [
        Span::new(1, 1, None, "a", Server, BASE + 3_600 * SEC, MS),
        Span::new(1, 2, None, "a", Client, BASE, MS),
    ];
    let b = batch(&spans);
    let mut columns = b.columns().to_vec();
    let span_id = b.schema().index_of("span_id").unwrap();
    columns[span_id] = Arc::new(arrow::array::StringArray::from(vec!["zz", "not-hex!"]));
    let b = RecordBatch::try_new(b.schema(), columns).unwrap();
    agg.observe(&b, BASE).unwrap();
    let stats = agg.stats();
    assert_eq!((stats.future_spans, stats.invalid_ids), (1, 1));
    let out = agg.drain(BASE + 10 * MINUTE_NS).unwrap();
    assert_eq!(red_totals(&out).values().map(|v| v.0).sum::<i64>(), 1);
    // a corrupt sketch in a stored row is an error of the query, not a panic
    let mut metrics = owned(&out, SPAN_METRICS);
    let i = metrics[0].schema().index_of(col::DURATION_SKETCH).unwrap();
    let mut columns = metrics[0].columns().to_vec();
    columns[i] = Arc::new(arrow::array::BinaryArray::from(vec![&[1u8, 9][..]]));
    metrics[0] = RecordBatch::try_new(metrics[0].schema(), columns).unwrap();
    let range = TimeRange::new(BASE, BASE + MINUTE_NS).unwrap();
    assert!(matches!(
        service_graph(&aggs(&metrics, &[]), &GraphQuery::all(range)),
        Err(Error::CorruptSketch(_))
    ));
    assert!(TimeRange::new(5, 5).is_err());
}

/// Rows of `minutes` minutes for one service and operation, each holding `per_minute`
/// durations drawn by `draw`; returns the batches and every duration.
fn known_distribution(
    minutes: i64,
    per_minute: usize,
    mut draw: impl FnMut() -> i64,
) -> (Vec<RecordBatch>, Vec<i64>) {
    let mut all = Vec::new();
    let mut agg = aggregator();
    for m in 0..minutes {
        let spans: Vec<Span> = (0..per_minute)
            .map(|i| {
                let d = draw();
                all.push(d);
                Span::new(
                    u128::from(m as u64) << 32 | i as u128,
                    i as u64 + 1,
                    None,
                    "svc",
                    Server,
                    BASE + m * MINUTE_NS + SEC,
                    d,
                )
                .name("op")
            })
            .collect();
        agg.observe(&batch(&spans), BASE + m * MINUTE_NS + 2 * SEC)
            .unwrap();
    }
    let out = agg.drain(BASE + (minutes + 10) * MINUTE_NS).unwrap();
    (owned(&out, SPAN_METRICS), all)
}

fn assert_percentiles(red: &Red, all: &mut [i64]) {
    all.sort_unstable();
    for (q, got) in [(0.5, red.p50_ns), (0.95, red.p95_ns), (0.99, red.p99_ns)] {
        let exact = all[(q * (all.len() - 1) as f64).floor() as usize] as f64;
        let got = got.unwrap();
        assert!(
            (got - exact).abs() / exact <= RELATIVE_ACCURACY + 1e-9,
            "p{q}: exact {exact}, got {got}"
        );
    }
}

#[test]
fn percentiles_over_many_minutes_are_within_the_sketch_error() {
    let mut rng = Rng::new(99);
    let (uniform, mut all_uniform) =
        known_distribution(60, 500, || 1_000_000 + rng.below(999_000_000) as i64);
    let mut rng = Rng::new(100);
    let (log_normal, mut all_log_normal) =
        known_distribution(60, 500, || rng.log_normal(25e6, 1.0).max(1.0) as i64);
    let range = TimeRange::new(BASE, BASE + 60 * MINUTE_NS).unwrap();
    for (batches, all) in [
        (uniform, &mut all_uniform),
        (log_normal, &mut all_log_normal),
    ] {
        let g = service_graph(&aggs(&batches, &[]), &GraphQuery::all(range)).unwrap();
        assert_eq!(g.nodes[0].red.calls, 30_000);
        assert_percentiles(&g.nodes[0].red, all);
        let query = RedQuery {
            range,
            step_ns: 60 * MINUTE_NS,
            service: Some("svc"),
            operation: None,
            kind: None,
            group_by: RedGroupBy::Service,
            quantile: None,
        };
        let series = red_series(&aggs(&batches, &[]), &query).unwrap();
        assert_eq!(series[0].points.len(), 1);
        assert_percentiles(&series[0].points[0].red, all);
    }
}

/// Casts every Utf8 column to Utf8View and Binary to BinaryView, as DataFusion's Parquet
/// reader does.
fn as_views(b: &RecordBatch) -> RecordBatch {
    let mut fields = Vec::new();
    let mut columns = Vec::new();
    for (f, c) in b.schema().fields().iter().zip(b.columns()) {
        let t = match f.data_type() {
            DataType::Utf8 => DataType::Utf8View,
            DataType::Binary => DataType::BinaryView,
            other => other.clone(),
        };
        columns.push(cast(c, &t).unwrap());
        fields.push(Field::new(f.name(), t, f.is_nullable()));
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
}

#[test]
fn red_series_per_service_and_operation_with_a_step() {
    let mut rng = Rng::new(3);
    let mut agg = aggregator();
    for b in shuffled_batches(topology(BASE), &mut rng) {
        agg.observe(&b, BASE + 90 * SEC).unwrap();
    }
    let out = agg.drain(BASE + 10 * MINUTE_NS).unwrap();
    let metrics: Vec<RecordBatch> = owned(&out, SPAN_METRICS).iter().map(as_views).collect();
    // three 1-minute steps over [BASE, BASE + 3 min)
    let query = RedQuery {
        range: TimeRange::new(BASE, BASE + 3 * MINUTE_NS).unwrap(),
        step_ns: MINUTE_NS,
        service: Some("cart"),
        operation: None,
        kind: None,
        group_by: RedGroupBy::Service,
        quantile: None,
    };
    let series = red_series(&aggs(&metrics, &[]), &query).unwrap();
    assert_eq!(series.len(), 1);
    let calls: Vec<u64> = series[0].points.iter().map(|p| p.red.calls).collect();
    // server spans only (its database client spans are not its RED)
    assert_eq!(calls, [100, 100, 0]);
    let errors: Vec<u64> = series[0].points.iter().map(|p| p.red.errors).collect();
    assert_eq!(errors, [10, 10, 0]);
    assert!((series[0].points[0].red.rate - 100.0 / 60.0).abs() < 1e-9);
    assert!((series[0].points[0].red.error_rate - 0.1).abs() < 1e-9);
    assert_eq!(series[0].points[2].red.p50_ns, None);
    assert_eq!(series[0].points[1].start_ns, BASE + MINUTE_NS);
    // any quantile on request: the same sketch as the fixed ones
    let with_quantiles = |q| {
        let asked = RedQuery {
            quantile: Some(q),
            ..query
        };
        red_series(&aggs(&metrics, &[]), &asked).unwrap()[0]
            .points
            .clone()
    };
    for point in with_quantiles(0.95) {
        assert_eq!(point.quantile_ns, point.red.p95_ns);
    }
    let p75: Vec<Option<f64>> = with_quantiles(0.75).iter().map(|p| p.quantile_ns).collect();
    assert!(
        p75[0].is_some_and(|v| v >= series[0].points[0].red.p50_ns.unwrap()
            && v <= series[0].points[0].red.p95_ns.unwrap())
    );
    assert_eq!(p75[2], None);
    for bad in [0.0, -0.5, 1.5, f64::NAN] {
        let asked = RedQuery {
            quantile: Some(bad),
            ..query
        };
        assert!(matches!(
            red_series(&aggs(&metrics, &[]), &asked),
            Err(crate::Error::InvalidQuery(_))
        ));
    }

    // per operation, every service
    let by_op = RedQuery {
        service: None,
        group_by: RedGroupBy::Operation,
        step_ns: 2 * MINUTE_NS,
        ..query
    };
    let series = red_series(&aggs(&metrics, &[]), &by_op).unwrap();
    let cart_db = series
        .iter()
        .find(|s| s.service == "cart" && s.operation.as_deref() == Some("SELECT carts"))
        .unwrap();
    assert_eq!(cart_db.kind, Some(Client));
    assert_eq!(cart_db.points.len(), 2);
    assert_eq!(cart_db.points[0].red.calls, 200);
    // the last step is one minute long
    assert_eq!(cart_db.points[1].red.calls, 0);
    let total: u64 = series
        .iter()
        .flat_map(|s| &s.points)
        .map(|p| p.red.calls)
        .sum();
    assert_eq!(total, 1700);

    // a kind filter
    let gateway = RedQuery {
        service: Some("gateway"),
        kind: Some(Server),
        ..query
    };
    assert_eq!(red_series(&aggs(&metrics, &[]), &gateway).unwrap().len(), 0);

    // limits
    assert!(
        red_series(
            &aggs(&metrics, &[]),
            &RedQuery {
                step_ns: SEC,
                ..query
            }
        )
        .is_err()
    );
    let long = RedQuery {
        range: TimeRange::new(BASE, BASE + 20_000 * MINUTE_NS).unwrap(),
        ..query
    };
    assert!(matches!(
        red_series(&aggs(&metrics, &[]), &long),
        Err(Error::InvalidQuery(_))
    ));
}

#[test]
fn the_aggregator_can_be_shared_across_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Aggregator>();
}

#[test]
fn hourly_rollups_answer_like_the_minutes_they_merge() {
    const H0: i64 = 472_223 * HOUR_NS;
    let mut rng = Rng::new(5);
    let mut agg = aggregator();
    let mut store: Vec<(&'static str, RecordBatch)> = Vec::new();
    let mut id = 0u64;
    for m in 0..180i64 {
        let t = H0 + m * MINUTE_NS;
        let mut spans = Vec::new();
        for k in 0..3u64 {
            let trace = (u128::from(m as u64) << 8) | u128::from(k);
            let (c, s, d) = (id + 1, id + 2, id + 3);
            id += 3;
            let dc = rng.log_normal(20e6, 0.6) as i64;
            spans.push(
                Span::new(trace, c, None, "web", Client, t + SEC, dc)
                    .error_if(k == 0 && m % 7 == 0),
            );
            spans.push(Span::new(trace, s, Some(c), "api", Server, t + SEC, dc / 2));
            spans.push(
                Span::new(trace, d, Some(s), "api", Client, t + SEC, dc / 4)
                    .attr("db.system", "mysql"),
            );
        }
        agg.observe(&batch(&spans), t + 2 * SEC).unwrap();
        store.extend(agg.drain(t + 2 * SEC).unwrap());
    }
    store.extend(agg.drain(H0 + 10 * HOUR_NS).unwrap());
    let (metrics, edges) = (owned(&store, SPAN_METRICS), owned(&store, SERVICE_EDGES));

    // the final drain closed nine hours, six of them empty
    let hours = hours_to_roll_up(agg.watermark(), Some(H0), None, 100);
    assert_eq!(hours.len(), 9);
    let mut metrics_hourly = Vec::new();
    let mut edges_hourly = Vec::new();
    for h in hours {
        let Some((t, b)) = rollup_hour(SPAN_METRICS, &metrics, h).unwrap() else {
            assert!(h >= H0 + 3 * HOUR_NS);
            assert!(rollup_hour(SERVICE_EDGES, &edges, h).unwrap().is_none());
            continue;
        };
        assert_eq!((t, b.num_rows()), (SPAN_METRICS_HOURLY, 3));
        assert_eq!(b.schema(), span_metrics_hourly_schema());
        metrics_hourly.push(b);
        let (t, b) = rollup_hour(SERVICE_EDGES, &edges, h).unwrap().unwrap();
        assert_eq!((t, b.num_rows()), (SERVICE_EDGES_HOURLY, 2));
        edges_hourly.push(b);
    }
    assert_eq!(metrics_hourly.len(), 3);
    let web_api = edges_hourly[0].clone();
    let i = (0..web_api.num_rows())
        .find(|i| s(&web_api, col::PARENT, *i) == "web")
        .unwrap();
    assert_eq!(n(&web_api, col::CALLS, i), 180);
    assert_eq!(n(&web_api, col::ERRORS, i), 9);

    let minutes_only = aggs(&metrics, &edges);
    let with_rollups = Aggregates {
        span_metrics: &metrics,
        service_edges: &edges,
        span_metrics_hourly: &metrics_hourly,
        service_edges_hourly: &edges_hourly,
    };
    let rollups_only = Aggregates {
        span_metrics_hourly: &metrics_hourly,
        service_edges_hourly: &edges_hourly,
        ..Default::default()
    };
    let whole = TimeRange::new(H0, H0 + 3 * HOUR_NS).unwrap();
    let ragged = TimeRange::new(H0 + 17 * MINUTE_NS, H0 + 2 * HOUR_NS + 41 * MINUTE_NS).unwrap();
    for range in [whole, ragged] {
        let expected = service_graph(&minutes_only, &GraphQuery::all(range)).unwrap();
        assert_eq!(
            service_graph(&with_rollups, &GraphQuery::all(range)).unwrap(),
            expected
        );
        assert_eq!(
            jaeger_dependencies(&with_rollups, range).unwrap(),
            jaeger_dependencies(&minutes_only, range).unwrap()
        );
        for step_ns in [5 * MINUTE_NS, HOUR_NS, 3 * HOUR_NS] {
            for group_by in [RedGroupBy::Service, RedGroupBy::Operation] {
                let q = RedQuery {
                    range,
                    step_ns,
                    service: None,
                    operation: None,
                    kind: None,
                    group_by,
                    quantile: None,
                };
                assert_eq!(
                    red_series(&with_rollups, &q).unwrap(),
                    red_series(&minutes_only, &q).unwrap(),
                    "{step_ns} {group_by:?}"
                );
            }
        }
    }
    // whole hours come from the rollups alone
    let expected = service_graph(&minutes_only, &GraphQuery::all(whole)).unwrap();
    assert_eq!(
        service_graph(&rollups_only, &GraphQuery::all(whole)).unwrap(),
        expected
    );
    assert_eq!(
        expected
            .nodes
            .iter()
            .find(|n| n.name == "api")
            .unwrap()
            .red
            .calls,
        540
    );
    // a restart keeps rolled-up minutes closed
    let w = Watermark::from_stored(Some(H0 + 10 * MINUTE_NS), None).at_least(H0 + 3 * HOUR_NS);
    assert_eq!(w.replay_from(), Some(H0 + 3 * HOUR_NS));
}
