//! `metrics`: the end-to-end benchmark of metric ingest.
//!
//! Starts a release `meshscope` on a fresh data directory, sends a fixed number of metric data
//! points as OTLP/HTTP protobuf (pre-encoded, `--concurrency` requests in flight, each answered
//! only once durable), stops the server with SIGTERM (it flushes its head to Parquet) and
//! reports what a user would measure: acknowledged points/s, and bytes on disk per point in
//! the metrics tables' Parquet files (beside the OTLP protobuf bytes per point on the wire).
//!
//! The traffic is a realistic scrape: `--services` services, each with counters (by route,
//! method and status code: 73 % of the points), gauges (9 %) and explicit-bucket histograms
//! (14 buckets, 18 %), cumulative, reported every 10 s.
//!
//! ```sh
//! cargo build --release -p meshscope -p meshscope-bench
//! target/release/metrics --points 1000000 --runs 3
//! ```

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use anyhow::bail;
use clap::Parser;
use meshscope_bench::{Server, dir_bytes};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
    Sum, metric, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use serde_json::json;

#[derive(Debug, Parser)]
#[command(about = "End-to-end metric ingest benchmark of meshscope")]
struct Args {
    /// Data points per run.
    #[arg(long, default_value_t = 1_000_000)]
    points: usize,
    /// Runs; figures are medians.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Points per request.
    #[arg(long, default_value_t = 2000)]
    batch_points: usize,
    /// Requests in flight.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Services sending metrics.
    #[arg(long, default_value_t = 50)]
    services: usize,
    /// Where the release binaries are.
    #[arg(long, default_value = "target/release")]
    bin_dir: PathBuf,
    /// Where results are written (`metrics.json`, `metrics.md`).
    #[arg(long, default_value = "benches/results")]
    out: PathBuf,
}

const ROUTES: [&str; 8] = [
    "/cart",
    "/checkout",
    "/product/{id}",
    "/search",
    "/login",
    "/orders",
    "/orders/{id}",
    "/health",
];
const METHODS: [&str; 2] = ["GET", "POST"];
const CODES: [i64; 4] = [200, 201, 404, 503];
const BOUNDS: [f64; 13] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5,
];
const STEP_NS: u64 = 10_000_000_000;

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn s(v: &str) -> any_value::Value {
    any_value::Value::StringValue(v.into())
}

/// A small deterministic generator (splitmix64), so every run sends the same points.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// One scrape of one service: its series at `time`, cumulative since `start`.
fn scrape(service: usize, scrape: u64, start: u64, rng: &mut Rng) -> (ResourceMetrics, usize) {
    let time = start + (scrape + 1) * STEP_NS;
    let mut counters = Vec::new();
    let mut histograms = Vec::new();
    for (ri, route) in ROUTES.iter().enumerate() {
        for method in METHODS {
            let attrs = |code: Option<i64>| {
                let mut a = vec![
                    kv("http.route", s(route)),
                    kv("http.request.method", s(method)),
                ];
                if let Some(code) = code {
                    a.push(kv(
                        "http.response.status_code",
                        any_value::Value::IntValue(code),
                    ));
                }
                a
            };
            for code in CODES {
                let rate = (ri as u64 + 1) * if code == 200 { 40 } else { 2 };
                counters.push(NumberDataPoint {
                    attributes: attrs(Some(code)),
                    start_time_unix_nano: start,
                    time_unix_nano: time,
                    value: Some(number_data_point::Value::AsInt(
                        ((scrape + 1) * rate + rng.next() % 5) as i64,
                    )),
                    ..Default::default()
                });
            }
            let mut buckets = vec![0u64; BOUNDS.len() + 1];
            let n = (scrape + 1) * 30;
            for _ in 0..30 {
                buckets[(rng.next() % 8 + (rng.next() % 4)) as usize] += scrape + 1;
            }
            histograms.push(HistogramDataPoint {
                attributes: attrs(None),
                start_time_unix_nano: start,
                time_unix_nano: time,
                count: buckets.iter().sum(),
                sum: Some(n as f64 * 0.137),
                bucket_counts: buckets,
                explicit_bounds: BOUNDS.to_vec(),
                min: Some(0.001),
                max: Some(6.2),
                ..Default::default()
            });
        }
    }
    let gauges: Vec<NumberDataPoint> = (0..8)
        .map(|i| NumberDataPoint {
            attributes: vec![kv("pool", s(&format!("pool-{i}")))],
            time_unix_nano: time,
            value: Some(number_data_point::Value::AsDouble(
                (rng.next() % 10_000) as f64 / 100.0,
            )),
            ..Default::default()
        })
        .collect();
    let points = counters.len() + histograms.len() + gauges.len();
    let metric = |name: &str, unit: &str, data| Metric {
        name: name.into(),
        description: String::new(),
        unit: unit.into(),
        data: Some(data),
        ..Default::default()
    };
    let resource = ResourceMetrics {
        resource: Some(Resource {
            attributes: vec![
                kv("service.name", s(&format!("svc-{service:03}"))),
                kv("service.namespace", s("shop")),
                kv("k8s.namespace.name", s("shop")),
                kv("k8s.pod.name", s(&format!("svc-{service:03}-7d9f8c-x2k4q"))),
                kv("host.name", s(&format!("node-{}", service % 7))),
                kv("telemetry.sdk.language", s("go")),
            ],
            ..Default::default()
        }),
        scope_metrics: vec![ScopeMetrics {
            scope: Some(InstrumentationScope {
                name: "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp".into(),
                version: "0.58.0".into(),
                ..Default::default()
            }),
            metrics: vec![
                metric(
                    "http.server.request.count",
                    "{request}",
                    metric::Data::Sum(Sum {
                        data_points: counters,
                        aggregation_temporality: 2,
                        is_monotonic: true,
                    }),
                ),
                metric(
                    "http.server.request.duration",
                    "s",
                    metric::Data::Histogram(Histogram {
                        data_points: histograms,
                        aggregation_temporality: 2,
                    }),
                ),
                metric(
                    "db.client.connections.usage",
                    "{connection}",
                    metric::Data::Gauge(Gauge {
                        data_points: gauges,
                    }),
                ),
            ],
            schema_url: String::new(),
        }],
        schema_url: String::new(),
    };
    (resource, points)
}

/// Pre-encoded request bodies holding about `total` points, and the exact point count.
fn bodies(args: &Args) -> (Vec<Vec<u8>>, usize) {
    let start = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
        .saturating_sub(6 * 3600 * 1_000_000_000);
    let mut rng = Rng(42);
    let mut out = Vec::new();
    let mut total = 0usize;
    let mut request = ExportMetricsServiceRequest::default();
    let mut in_request = 0usize;
    let mut scrape_no = 0u64;
    'outer: loop {
        for service in 0..args.services {
            let (rm, n) = scrape(service, scrape_no, start, &mut rng);
            request.resource_metrics.push(rm);
            in_request += n;
            total += n;
            if in_request >= args.batch_points {
                out.push(std::mem::take(&mut request).encode_to_vec());
                in_request = 0;
            }
            if total >= args.points {
                break 'outer;
            }
        }
        scrape_no += 1;
    }
    if in_request > 0 {
        out.push(request.encode_to_vec());
    }
    (out, total)
}

async fn send_all(
    addr: SocketAddr,
    bodies: Arc<Vec<Vec<u8>>>,
    concurrency: usize,
) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let url = format!("http://{addr}/v1/metrics");
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (client, next, bodies, url) =
            (client.clone(), next.clone(), bodies.clone(), url.clone());
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(body) = bodies.get(i) else {
                    return anyhow::Ok(());
                };
                loop {
                    let response = client
                        .post(&url)
                        .header("content-type", "application/x-protobuf")
                        .body(body.clone())
                        .send()
                        .await?;
                    match response.status().as_u16() {
                        200 => break,
                        429 | 503 => {
                            tokio::time::sleep(std::time::Duration::from_millis(200)).await
                        }
                        other => bail!("export answered {other}: {}", response.text().await?),
                    }
                }
            }
        });
    }
    while let Some(result) = tasks.join_next().await {
        result??;
    }
    Ok(())
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    match xs.len() {
        0 => 0.0,
        n if n % 2 == 1 => xs[n / 2],
        n => (xs[n / 2 - 1] + xs[n / 2]) / 2.0,
    }
}

const TABLES: [&str; 4] = [
    "metric_points",
    "metric_histograms",
    "metric_exp_histograms",
    "metric_summaries",
];

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (bodies, points) = bodies(&args);
    let wire: usize = bodies.iter().map(Vec::len).sum();
    let bodies = Arc::new(bodies);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut rates = Vec::new();
    let mut per_point = Vec::new();
    let mut runs = Vec::new();
    for run in 0..args.runs {
        let scratch = tempfile::tempdir()?;
        let data = scratch.path().join("data");
        let server = Server::start(&args.bin_dir.join("meshscope"), &data, &[])?;
        let started = Instant::now();
        runtime.block_on(send_all(
            server.otlp_http,
            Arc::clone(&bodies),
            args.concurrency,
        ))?;
        let elapsed = started.elapsed().as_secs_f64();
        server.stop()?;
        let bytes: u64 = TABLES.iter().map(|t| dir_bytes(&data.join(t))).sum();
        let by_table: serde_json::Map<String, serde_json::Value> = TABLES
            .iter()
            .map(|t| ((*t).to_owned(), json!(dir_bytes(&data.join(t)))))
            .collect();
        let rate = points as f64 / elapsed;
        let bpp = bytes as f64 / points as f64;
        eprintln!(
            "run {run}: {points} points in {elapsed:.2}s = {rate:.0} points/s; {bytes} bytes of Parquet = {bpp:.2} bytes/point"
        );
        rates.push(rate);
        per_point.push(bpp);
        runs.push(json!({"seconds": elapsed, "points_per_second": rate, "parquet_bytes": bytes, "bytes_per_point": bpp, "bytes_by_table": by_table}));
    }
    let result = json!({
        "points": points,
        "requests": bodies.len(),
        "batch_points": args.batch_points,
        "concurrency": args.concurrency,
        "services": args.services,
        "protocol": "http/protobuf",
        "median_points_per_second": median(rates),
        "median_bytes_per_point": median(per_point),
        "wire_bytes_per_point": wire as f64 / points as f64,
        "runs": runs,
    });
    std::fs::create_dir_all(&args.out)?;
    std::fs::write(
        args.out.join("metrics.json"),
        serde_json::to_string_pretty(&result)?,
    )?;
    let md = format!(
        "| figure (median of {} runs, {} points each, http/protobuf x{}, ~{} points/request) | value |\n|---|---|\n| acknowledged metric points/s (durable acks) | {:.0} |\n| bytes on disk per point (Parquet, metrics tables) | {:.2} |\n| OTLP protobuf bytes per point (wire) | {:.1} |\n",
        args.runs,
        points,
        args.concurrency,
        args.batch_points,
        result["median_points_per_second"].as_f64().unwrap_or(0.0),
        result["median_bytes_per_point"].as_f64().unwrap_or(0.0),
        result["wire_bytes_per_point"].as_f64().unwrap_or(0.0),
    );
    std::fs::write(args.out.join("metrics.md"), &md)?;
    println!("{md}");
    Ok(())
}
