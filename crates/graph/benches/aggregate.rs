//! Cost of the graph crate: aggregation per span through `Aggregator::observe`, and the
//! query-side merges over 24 h of per-minute aggregates.
//!
//! `cargo bench -p meshscope-graph --bench aggregate`

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{
    ArrayRef, BinaryBuilder, Int64Builder, RecordBatch, StringBuilder, TimestampNanosecondBuilder,
};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use meshscope_graph::{
    Aggregates, Aggregator, AggregatorConfig, GraphQuery, HOUR_NS, LatencySketch, MINUTE_NS,
    RedGroupBy, RedQuery, SERVICE_EDGES, SPAN_METRICS, TimeRange, jaeger_dependencies, red_series,
    rollup_hour, service_edges_schema, service_graph, span_metrics_schema,
};
use meshscope_model::{
    ResourceContext, ScopeContext, SpanBatchBuilder, SpanInput, SpanKind, StatusCode, Value,
};

const SEC: i64 = 1_000_000_000;
const MS: i64 = 1_000_000;
const BASE: i64 = 28_333_333 * MINUTE_NS;
const SERVICES: usize = 30;
const OPERATIONS: usize = 10;

/// SplitMix64.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
    fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn log_normal(&mut self, median: f64, sigma: f64) -> f64 {
        let u1 = self.f64().max(f64::MIN_POSITIVE);
        let u2 = self.f64();
        let n = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
        median * (sigma * n).exp()
    }
}

struct GenSpan {
    trace: [u8; 16],
    id: u64,
    parent: Option<u64>,
    service: usize,
    kind: SpanKind,
    name: usize,
    start: i64,
    duration: i64,
    status_code: i64,
    db: bool,
}

/// Mesh traffic: a gateway client span, then a chain of 2–4 service hops (client + server
/// span each), an internal span per server, a database call on half of them. About 10 spans
/// per trace; spans of a trace are spread over neighbouring batches (out of order).
fn mesh_batches(traces: usize, batch_size: usize) -> (Vec<RecordBatch>, usize) {
    let mut rng = Rng(7);
    let mut spans = Vec::new();
    let mut id = 0u64;
    for t in 0..traces {
        let mut trace = [0u8; 16];
        trace[..8].copy_from_slice(&rng.next_u64().to_be_bytes());
        trace[8..].copy_from_slice(&(t as u64).to_be_bytes());
        let start = BASE + t as i64 * 2 * MS;
        id += 1;
        let mut caller = id;
        spans.push(GenSpan {
            trace,
            id,
            parent: None,
            service: 0,
            kind: SpanKind::Client,
            name: 0,
            start,
            duration: 50 * MS,
            status_code: 0,
            db: false,
        });
        let hops = 2 + rng.below(3) as usize;
        let mut service = 1 + rng.below(SERVICES as u64 - 1) as usize;
        for hop in 0..hops {
            let op = rng.below(5) as usize;
            let duration = rng.log_normal(20e6 / (hop + 1) as f64, 0.8) as i64;
            id += 1;
            let server = id;
            spans.push(GenSpan {
                trace,
                id,
                parent: Some(caller),
                service,
                kind: SpanKind::Server,
                name: op,
                start: start + hop as i64 * MS,
                duration,
                status_code: if rng.below(50) == 0 { 503 } else { 200 },
                db: false,
            });
            id += 1;
            spans.push(GenSpan {
                trace,
                id,
                parent: Some(server),
                service,
                kind: SpanKind::Internal,
                name: 8,
                start: start + hop as i64 * MS,
                duration: duration / 2,
                status_code: 0,
                db: false,
            });
            if rng.below(2) == 0 {
                id += 1;
                spans.push(GenSpan {
                    trace,
                    id,
                    parent: Some(server),
                    service,
                    kind: SpanKind::Client,
                    name: 7,
                    start: start + hop as i64 * MS,
                    duration: duration / 4,
                    status_code: 0,
                    db: true,
                });
            }
            if hop + 1 < hops {
                id += 1;
                caller = id;
                spans.push(GenSpan {
                    trace,
                    id,
                    parent: Some(server),
                    service,
                    kind: SpanKind::Client,
                    name: 5 + rng.below(2) as usize,
                    start: start + hop as i64 * MS,
                    duration: duration / 2,
                    status_code: 0,
                    db: false,
                });
                service = 1 + rng.below(SERVICES as u64 - 1) as usize;
            }
        }
    }
    // Out of order: shuffle within windows of four batches.
    let window = batch_size * 4;
    for chunk in spans.chunks_mut(window) {
        for i in (1..chunk.len()).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            chunk.swap(i, j);
        }
    }
    let names: Vec<String> = (0..SERVICES).map(|s| format!("service-{s:02}")).collect();
    let ops: Vec<String> = (0..OPERATIONS)
        .map(|o| format!("GET /api/v1/op{o}"))
        .collect();
    let resources: Vec<ResourceContext> = names
        .iter()
        .map(|n| {
            ResourceContext::new(
                &[
                    ("service.name", Value::Str(n)),
                    ("k8s.namespace.name", Value::Str("shop")),
                    ("k8s.pod.name", Value::Str("pod-7d9f8")),
                ],
                "",
            )
        })
        .collect();
    let scope = ScopeContext::new("io.opentelemetry.http", "1.0", &[], "");
    let total = spans.len();
    let mut batches = Vec::new();
    for chunk in spans.chunks(batch_size) {
        let mut builder = SpanBatchBuilder::with_capacity(chunk.len());
        for s in chunk {
            let status = Value::Int(s.status_code);
            let mut attrs: Vec<(&str, Value<'_>)> = vec![("http.route", Value::Str(&ops[s.name]))];
            match (s.kind, s.db) {
                (SpanKind::Server, _) => attrs.push(("http.response.status_code", status)),
                (SpanKind::Client, true) => {
                    attrs.push(("db.system", Value::Str("postgresql")));
                    attrs.push(("db.name", Value::Str("orders")));
                }
                (SpanKind::Client, false) => attrs.push(("server.address", Value::Str("upstream"))),
                _ => {}
            }
            builder.append(
                &resources[s.service],
                &scope,
                &SpanInput {
                    trace_id: s.trace,
                    span_id: s.id.to_be_bytes(),
                    parent_span_id: s.parent.map(u64::to_be_bytes),
                    trace_state: "",
                    flags: 1,
                    name: &ops[s.name],
                    kind: s.kind,
                    start_ns: s.start,
                    end_ns: s.start + s.duration,
                    status: StatusCode::Unset,
                    status_message: "",
                    attributes: &attrs,
                    dropped_attributes_count: 0,
                    events: &[],
                    dropped_events_count: 0,
                    links: &[],
                    dropped_links_count: 0,
                },
            );
        }
        batches.push(builder.finish().unwrap());
    }
    (batches, total)
}

fn bench_observe(c: &mut Criterion) {
    let (batches, spans) = mesh_batches(10_000, 500);
    let mut group = c.benchmark_group("observe");
    group.throughput(Throughput::Elements(spans as u64));
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function(format!("{spans}_spans_in_batches_of_500"), |b| {
        b.iter_batched(
            || Aggregator::new(AggregatorConfig::default()).unwrap(),
            |mut agg| {
                for (k, batch) in batches.iter().enumerate() {
                    agg.observe(batch, BASE + 30 * SEC + k as i64 * 10 * MS)
                        .unwrap();
                }
                // closes every minute: the cost of emitting the rows is included
                black_box(agg.drain(BASE + 60 * MINUTE_NS).unwrap());
                agg
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

/// An hour boundary.
const HOUR_BASE: i64 = 472_222 * HOUR_NS;

/// `hours` hourly batches of `span_metrics` (30 services × 10 operations × 60 minutes each,
/// sorted by service, operation, kind, minute as the Parquet files are) and of `service_edges`,
/// from `HOUR_BASE`.
fn hours_of_aggregates(hours: i64, calls_per_row: usize) -> (Vec<RecordBatch>, Vec<RecordBatch>) {
    let mut rng = Rng(11);
    let kinds = [
        "server", "server", "server", "server", "server", "client", "client", "client", "internal",
        "internal",
    ];
    let sketch_of = |rng: &mut Rng, median: f64| {
        let mut s = LatencySketch::new();
        for _ in 0..calls_per_row {
            s.add(rng.log_normal(median, 0.8) as i64);
        }
        s.to_bytes()
    };
    let mut metrics = Vec::new();
    let mut edges = Vec::new();
    // each service calls the next two, a database and (every fifth) a queue
    let mut edge_keys: Vec<(String, String, &str)> = Vec::new();
    for s in 0..SERVICES {
        let name = format!("service-{s:02}");
        edge_keys.push((
            name.clone(),
            format!("service-{:02}", (s + 1) % SERVICES),
            "service",
        ));
        edge_keys.push((
            name.clone(),
            format!("service-{:02}", (s + 7) % SERVICES),
            "service",
        ));
        edge_keys.push((name.clone(), format!("postgresql/db{}", s % 5), "database"));
        if s % 5 == 0 {
            edge_keys.push((name, "kafka/events".to_owned(), "queue"));
        }
    }
    edge_keys.sort();
    for hour in 0..hours {
        let rows = SERVICES * OPERATIONS * 60;
        let mut minute = TimestampNanosecondBuilder::with_capacity(rows).with_timezone("UTC");
        let mut service = StringBuilder::new();
        let mut name = StringBuilder::new();
        let mut kind = StringBuilder::new();
        let (mut calls, mut errors, mut sum, mut min, mut max) = (
            Int64Builder::new(),
            Int64Builder::new(),
            Int64Builder::new(),
            Int64Builder::new(),
            Int64Builder::new(),
        );
        let mut sketch = BinaryBuilder::new();
        for s in 0..SERVICES {
            for (o, kind_name) in kinds.iter().enumerate() {
                for m in 0..60 {
                    minute.append_value(HOUR_BASE + (hour * 60 + m) * MINUTE_NS);
                    service.append_value(format!("service-{s:02}"));
                    name.append_value(format!("GET /api/v1/op{o}"));
                    kind.append_value(kind_name);
                    calls.append_value(calls_per_row as i64);
                    errors.append_value((rng.below(3)) as i64);
                    sum.append_value(calls_per_row as i64 * 20 * MS);
                    min.append_value(MS);
                    max.append_value(500 * MS);
                    sketch.append_value(sketch_of(&mut rng, 5e6 * (1 + o % 4) as f64));
                }
            }
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(minute.finish()),
            Arc::new(service.finish()),
            Arc::new(name.finish()),
            Arc::new(kind.finish()),
            Arc::new(calls.finish()),
            Arc::new(errors.finish()),
            Arc::new(sum.finish()),
            Arc::new(min.finish()),
            Arc::new(max.finish()),
            Arc::new(sketch.finish()),
        ];
        metrics.push(RecordBatch::try_new(span_metrics_schema(), columns).unwrap());

        let mut minute = TimestampNanosecondBuilder::new().with_timezone("UTC");
        let (mut parent, mut child, mut child_type) = (
            StringBuilder::new(),
            StringBuilder::new(),
            StringBuilder::new(),
        );
        let (mut calls, mut errors, mut unpaired, mut sum, mut min, mut max) = (
            Int64Builder::new(),
            Int64Builder::new(),
            Int64Builder::new(),
            Int64Builder::new(),
            Int64Builder::new(),
            Int64Builder::new(),
        );
        let mut sketch = BinaryBuilder::new();
        for (p, c, t) in &edge_keys {
            for m in 0..60 {
                minute.append_value(HOUR_BASE + (hour * 60 + m) * MINUTE_NS);
                parent.append_value(p);
                child.append_value(c);
                child_type.append_value(t);
                calls.append_value(calls_per_row as i64);
                errors.append_value(rng.below(3) as i64);
                unpaired.append_value(if *t == "service" {
                    0
                } else {
                    calls_per_row as i64
                });
                sum.append_value(calls_per_row as i64 * 20 * MS);
                min.append_value(MS);
                max.append_value(500 * MS);
                sketch.append_value(sketch_of(&mut rng, 8e6));
            }
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(minute.finish()),
            Arc::new(parent.finish()),
            Arc::new(child.finish()),
            Arc::new(child_type.finish()),
            Arc::new(calls.finish()),
            Arc::new(errors.finish()),
            Arc::new(unpaired.finish()),
            Arc::new(sum.finish()),
            Arc::new(min.finish()),
            Arc::new(max.finish()),
            Arc::new(sketch.finish()),
        ];
        edges.push(RecordBatch::try_new(service_edges_schema(), columns).unwrap());
    }
    (metrics, edges)
}

fn query_benches(
    c: &mut Criterion,
    group_name: &str,
    aggregates: &Aggregates<'_>,
    range: TimeRange,
    red_range: TimeRange,
    red_steps: (i64, i64),
) {
    let mut group = c.benchmark_group(group_name);
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(6));
    group.bench_function("service_graph_all", |b| {
        b.iter(|| black_box(service_graph(aggregates, &GraphQuery::all(range)).unwrap()))
    });
    group.bench_function("service_graph_one_service_depth_1", |b| {
        let q = GraphQuery {
            range,
            service: Some("service-03"),
            depth: 1,
        };
        b.iter(|| black_box(service_graph(aggregates, &q).unwrap()))
    });
    let (fine, coarse) = red_steps;
    let red = RedQuery {
        range: red_range,
        step_ns: fine,
        service: Some("service-03"),
        operation: None,
        kind: None,
        group_by: RedGroupBy::Service,
        quantile: None,
    };
    group.bench_function(format!("red_one_service_step_{}m", fine / MINUTE_NS), |b| {
        b.iter(|| black_box(red_series(aggregates, &red).unwrap()))
    });
    let per_op = RedQuery {
        group_by: RedGroupBy::Operation,
        step_ns: coarse,
        ..red
    };
    group.bench_function(
        format!("red_one_service_per_operation_step_{}m", coarse / MINUTE_NS),
        |b| b.iter(|| black_box(red_series(aggregates, &per_op).unwrap())),
    );
    let all = RedQuery {
        service: None,
        step_ns: coarse,
        ..red
    };
    group.bench_function(
        format!("red_all_services_step_{}m", coarse / MINUTE_NS),
        |b| b.iter(|| black_box(red_series(aggregates, &all).unwrap())),
    );
    group.bench_function("jaeger_dependencies", |b| {
        b.iter(|| black_box(jaeger_dependencies(aggregates, range).unwrap()))
    });
    group.finish();
}

fn bench_queries(c: &mut Criterion) {
    let calls_per_row = 100;
    // 25 hours of minute rows, so that a day not aligned to hours is covered
    let (metrics, edges) = hours_of_aggregates(25, calls_per_row);
    let rows: usize = metrics.iter().map(RecordBatch::num_rows).sum::<usize>() * 24 / 25;
    let edge_rows: usize = edges.iter().map(RecordBatch::num_rows).sum::<usize>() * 24 / 25;
    let sketch_bytes: usize = metrics
        .iter()
        .map(|b| {
            b.column_by_name("duration_sketch")
                .unwrap()
                .to_data()
                .buffers()[1]
                .len()
        })
        .sum::<usize>()
        * 24
        / 25;
    eprintln!(
        "24 h of aggregates: {rows} span_metrics rows, {edge_rows} service_edges rows, \
         {calls_per_row} calls per row, span_metrics sketches {} KiB ({:.0} B/row)",
        sketch_bytes / 1024,
        sketch_bytes as f64 / rows as f64
    );

    // Over minute rows only: a day aligned to hours.
    let day = TimeRange::new(HOUR_BASE, HOUR_BASE + 24 * HOUR_NS).unwrap();
    let minutes_only = Aggregates {
        span_metrics: &metrics,
        service_edges: &edges,
        ..Default::default()
    };
    query_benches(
        c,
        "query_24h_minute_rows",
        &minutes_only,
        day,
        day,
        (MINUTE_NS, 5 * MINUTE_NS),
    );

    // With hourly rollups: the graph over the last 24 h at half past (23 whole hours from
    // rollups, two half hours from minute rows); RED with 1 h steps over a day aligned to
    // hours (an API aligns its range to the step, as Prometheus does).
    let mut metrics_hourly = Vec::new();
    let mut edges_hourly = Vec::new();
    let one_hour = std::slice::from_ref(&metrics[0]);
    let mut group = c.benchmark_group("rollup");
    group.sample_size(20);
    group.bench_function("rollup_hour_span_metrics_18000_rows", |b| {
        b.iter(|| black_box(rollup_hour(SPAN_METRICS, one_hour, HOUR_BASE).unwrap()))
    });
    group.finish();
    for (h, (m, e)) in metrics.iter().zip(&edges).enumerate() {
        let hour = HOUR_BASE + h as i64 * HOUR_NS;
        let (_, rolled) = rollup_hour(SPAN_METRICS, std::slice::from_ref(m), hour)
            .unwrap()
            .unwrap();
        metrics_hourly.push(rolled);
        let (_, rolled) = rollup_hour(SERVICE_EDGES, std::slice::from_ref(e), hour)
            .unwrap()
            .unwrap();
        edges_hourly.push(rolled);
    }
    let with_rollups = Aggregates {
        span_metrics: &metrics,
        service_edges: &edges,
        span_metrics_hourly: &metrics_hourly,
        service_edges_hourly: &edges_hourly,
    };
    let start = HOUR_BASE + 30 * MINUTE_NS;
    let last_day = TimeRange::new(start, start + 24 * HOUR_NS).unwrap();
    query_benches(
        c,
        "query_24h_with_rollups",
        &with_rollups,
        last_day,
        day,
        (HOUR_NS, HOUR_NS),
    );
}

criterion_group!(benches, bench_observe, bench_queries);
criterion_main!(benches);
