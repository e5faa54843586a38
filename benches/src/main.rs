//! `meshscope-bench`: the end-to-end benchmark harness.
//!
//! Starts a release `meshscope` on a fresh data directory, drives `meshscope-loadgen` against
//! it for a fixed volume, and reports what a user would measure from outside: acknowledged
//! spans/s, server CPU seconds per million spans, peak RSS, bytes on disk per span after the
//! flush (beside the OTLP protobuf bytes per span on the wire), and, with `--overload`, how
//! the server behaves when offered three times the rate it sustained. After each run's load,
//! once the work the load left behind has ended (last flushes, compaction; the wait is
//! reported as `settle_seconds`) and while the server still holds the data (head and Parquet
//! files), it measures the ingest-to-queryable lag (a span acknowledged, then polled for by
//! trace id) and the latency of trace by id (100 stored traces), search, a SQL aggregate, the
//! dependency graph and RED over HTTP (20 requests each).
//!
//! ```sh
//! cargo build --release -p meshscope -p meshscope-loadgen
//! cargo run --release -p meshscope-bench -- --spans 2000000 --runs 3
//! ```
//!
//! Results go to `benches/results/latest.json` and `latest.md` (medians over `--runs`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, bail};
use clap::Parser;
use meshscope_bench::{Server, dir_bytes};
use serde_json::{Value, json};

#[derive(Debug, Parser)]
#[command(about = "End-to-end ingest benchmark of meshscope")]
struct Args {
    /// Spans per run.
    #[arg(long, default_value_t = 2_000_000)]
    spans: u64,
    /// Runs; figures are medians.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Protocol of the load generator: grpc, http-proto, http-json (OTLP) or zipkin-json
    /// (Zipkin v2, to the Zipkin receiver).
    #[arg(long, default_value = "grpc")]
    protocol: String,
    /// Concurrent requests of the load generator.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Spans per request.
    #[arg(long, default_value_t = 2000)]
    batch_spans: usize,
    /// Also run the overload test: 3x the sustained rate for `--overload-seconds`.
    #[arg(long)]
    overload: bool,
    #[arg(long, default_value_t = 60)]
    overload_seconds: u64,
    /// Concurrent requests of the overload run: enough that the load generator, which waits
    /// for each answer, can offer three times what the server sustains.
    #[arg(long, default_value_t = 64)]
    overload_concurrency: usize,
    /// Where the release binaries are.
    #[arg(long, default_value = "target/release")]
    bin_dir: PathBuf,
    /// Where results are written.
    #[arg(long, default_value = "benches/results")]
    out: PathBuf,
    /// Extra flags passed to meshscope.
    #[arg(long, allow_hyphen_values = true)]
    server_arg: Vec<String>,
}

fn loadgen(args: &Args, server: &Server, extra: &[String], report: &Path) -> anyhow::Result<Value> {
    let endpoint = match args.protocol.as_str() {
        "grpc" => format!("http://{}", server.otlp_grpc),
        "zipkin-json" | "zipkin" => format!("http://{}", server.zipkin),
        _ => format!("http://{}", server.otlp_http),
    };
    // `extra` may set its own concurrency (the overload run)
    let concurrency = extra
        .iter()
        .position(|a| a == "--concurrency")
        .and_then(|i| extra.get(i + 1))
        .cloned()
        .unwrap_or_else(|| args.concurrency.to_string());
    let extra: Vec<&String> = extra
        .iter()
        .enumerate()
        .filter(|(i, a)| {
            *a != "--concurrency"
                && (*i == 0 || extra.get(i - 1).is_none_or(|p| p != "--concurrency"))
        })
        .map(|(_, a)| a)
        .collect();
    let status = Command::new(args.bin_dir.join("meshscope-loadgen"))
        .args(["--endpoint", &endpoint, "--protocol", &args.protocol])
        .args(["--concurrency", &concurrency])
        .args(["--batch-spans", &args.batch_spans.to_string()])
        .arg("--report-json")
        .arg(report)
        .args(&extra)
        .stdout(Stdio::null())
        .status()
        .context("running meshscope-loadgen")?;
    let text = std::fs::read_to_string(report).context("loadgen report")?;
    let value: Value = serde_json::from_str(&text)?;
    if !status.success() && extra.iter().all(|a| *a != "--max-retries") {
        bail!("meshscope-loadgen failed: {text}");
    }
    Ok(value)
}

fn f(v: &Value, path: &[&str]) -> f64 {
    let mut cur = v;
    for p in path {
        cur = &cur[*p];
    }
    cur.as_f64().unwrap_or(f64::NAN)
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    match xs.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => xs[n / 2],
        n => (xs[n / 2 - 1] + xs[n / 2]) / 2.0,
    }
}

fn ingest_run(args: &Args, scratch: &Path, run: usize) -> anyhow::Result<Value> {
    let data = scratch.join(format!("run-{run}"));
    let server = Server::start(&args.bin_dir.join("meshscope"), &data, &args.server_arg)?;
    let started = Instant::now();
    let report = loadgen(
        args,
        &server,
        &["--spans".into(), args.spans.to_string()],
        &scratch.join(format!("loadgen-{run}.json")),
    )?;
    let wall = started.elapsed().as_secs_f64();
    let (cpu, peak_rss) = server.usage()?;
    let settle = server.settle(std::time::Duration::from_secs(600))?;
    let queries = probe_queries(&server, 20).context("query latencies")?;
    server.stop()?;
    let acked = f(&report, &["spans", "acked"]).max(f(&report, &["spans_acked"]));
    let disk = dir_bytes(&data.join("spans"));
    let files = parquet_file_count(&data.join("spans"));
    let wire = f(&report, &["bytes", "sent"]).max(f(&report, &["bytes_sent"]));
    let result = json!({
        "run": run,
        "spans_acked": acked,
        "wall_seconds": wall,
        "acked_spans_per_second": acked / wall,
        "loadgen_acked_spans_per_second": f(&report, &["throughput", "acked_spans_per_second"]).max(f(&report, &["acked_spans_per_second"])),
        "server_cpu_seconds_per_million_spans": cpu / (acked / 1e6),
        "peak_rss_bytes": peak_rss,
        "disk_bytes_per_span": disk as f64 / acked,
        "parquet_files": files,
        "otlp_bytes_per_span": wire / acked,
        "request_latency_p50_ms": f(&report, &["latency_ms", "p50"]).max(f(&report, &["latency_p50_ms"])),
        "request_latency_p99_ms": f(&report, &["latency_ms", "p99"]).max(f(&report, &["latency_p99_ms"])),
        "settle_seconds": settle.as_secs_f64(),
        "queries": queries,
    });
    eprintln!("run {run}: {result}");
    std::fs::remove_dir_all(&data).ok();
    Ok(result)
}

/// p50 and p99 in milliseconds of `samples` (in seconds).
fn percentiles_ms(mut samples: Vec<f64>) -> Value {
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| {
        let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples.get(i).map_or(f64::NAN, |s| s * 1e3)
    };
    json!({ "p50_ms": at(0.5), "p99_ms": at(0.99), "samples": samples.len() })
}

/// Times `get` `n` times; fails on any non-200 answer.
fn time_get(client: &reqwest::blocking::Client, url: &str, n: usize) -> anyhow::Result<Value> {
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        let response = client.get(url).send()?;
        let status = response.status();
        let body = response.bytes()?;
        if !status.is_success() {
            bail!("GET {url}: {status} {}", String::from_utf8_lossy(&body));
        }
        samples.push(started.elapsed().as_secs_f64());
    }
    Ok(percentiles_ms(samples))
}

fn sql(client: &reqwest::blocking::Client, http: SocketAddr, query: &str) -> anyhow::Result<Value> {
    let response = client
        .post(format!("http://{http}/api/v1/sql"))
        .header("content-type", "application/json")
        .body(json!({ "query": query }).to_string())
        .send()?;
    let status = response.status();
    let body: Value = serde_json::from_slice(&response.bytes()?)?;
    if !status.is_success() {
        bail!("SQL {query}: {status} {body}");
    }
    Ok(body)
}

/// Ingest-to-queryable lag and query latencies against a loaded server.
fn probe_queries(server: &Server, n: usize) -> anyhow::Result<Value> {
    let client = reqwest::blocking::Client::new();
    let http = server.http;
    // lag: from the acknowledgement of a span to its trace being found by id
    let mut lags = Vec::with_capacity(n);
    for i in 0..n {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?;
        let trace_id = format!(
            "{:016x}{:016x}",
            now.as_nanos() as u64,
            0x6c61_6700 + i as u64
        );
        let start = now.as_nanos() as u64;
        let body = json!({"resourceSpans": [{
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "lag-probe"}}]},
            "scopeSpans": [{"spans": [{
                "traceId": trace_id, "spanId": "00000000000000a1", "name": "probe", "kind": 2,
                "startTimeUnixNano": start.to_string(), "endTimeUnixNano": (start + 1000).to_string()
            }]}]
        }]});
        // right after a load the head may be full until a flush ends: honour the server's
        // retryable refusals as an OTLP exporter does
        let refused_since = Instant::now();
        loop {
            let response = client
                .post(format!("http://{}/v1/traces", server.otlp_http))
                .header("content-type", "application/json")
                .body(body.to_string())
                .send()?;
            let status = response.status();
            if status.is_success() {
                break;
            }
            let retryable = status == reqwest::StatusCode::SERVICE_UNAVAILABLE
                || status == reqwest::StatusCode::TOO_MANY_REQUESTS;
            if !retryable || refused_since.elapsed().as_secs() > 120 {
                bail!("lag probe export: {status}");
            }
            let retry_after = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(1);
            std::thread::sleep(std::time::Duration::from_secs(retry_after.clamp(1, 10)));
        }
        let acked = Instant::now();
        loop {
            let found = client
                .get(format!("http://{http}/api/v1/traces/{trace_id}"))
                .send()?;
            if found.status().is_success() {
                break;
            }
            if acked.elapsed().as_secs() > 30 {
                bail!("trace {trace_id} not queryable 30 s after its acknowledgement");
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        lags.push(acked.elapsed().as_secs_f64());
    }
    // A uniform sample of the stored traces (head and every file alike): every trace whose id
    // starts with "ab" (one in 256; ids are random), then `n` of those picked by a fixed
    // pseudo-random sequence. A plain `LIMIT n` returns the rows a scan meets first, which
    // lie in few places (often the in-memory head).
    let ids = sql(
        &client,
        http,
        "SELECT DISTINCT trace_id FROM spans WHERE trace_id LIKE 'ab%' AND service_name <> 'lag-probe' \
         ORDER BY trace_id",
    )?;
    let mut candidates: Vec<String> = ids["rows"]
        .as_array()
        .context("rows")?
        .iter()
        .filter_map(|r| r[0].as_str().map(str::to_owned))
        .collect();
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    // lookups vary more than the other queries (which file, how far into a page): 5n of them
    let lookups = 5 * n;
    let mut ids = Vec::with_capacity(lookups);
    while ids.len() < lookups && !candidates.is_empty() {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let pick = (state >> 33) as usize % candidates.len();
        ids.push(candidates.swap_remove(pick));
    }
    let mut by_id = Vec::new();
    for id in &ids {
        let started = Instant::now();
        let response = client
            .get(format!("http://{http}/api/v1/traces/{id}"))
            .send()?;
        let status = response.status();
        response.bytes()?;
        if !status.is_success() {
            bail!("trace {id}: {status}");
        }
        by_id.push(started.elapsed().as_secs_f64());
    }
    let pick = sql(
        &client,
        http,
        "SELECT service_name, http_route FROM spans WHERE http_route IS NOT NULL \
         AND kind = 'server' LIMIT 1",
    )?;
    let service = pick["rows"][0][0]
        .as_str()
        .context("a service with routes")?
        .to_owned();
    let route = pick["rows"][0][1].as_str().context("a route")?.to_owned();
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    };
    // a service's spans of the last hour with one attribute and at least 1 ms
    let search_url = |service: &str, key: &str, value: &str| {
        format!(
            "http://{http}/api/v1/search?service={}&attr={}&minDuration=1ms&lookback=1h&limit=20",
            enc(service),
            enc(&format!("{key}={value}"))
        )
    };
    let search = search_url(&service, "http.route", &route);
    // the same search on an attribute that is not promoted: read from the attributes map
    let ua = sql(
        &client,
        http,
        "SELECT service_name, attributes['user_agent.original'] FROM spans \
         WHERE attributes['user_agent.original'] IS NOT NULL AND kind = 'server' LIMIT 1",
    )?;
    let map_search = search_url(
        ua["rows"][0][0]
            .as_str()
            .context("a service with user agents")?,
        "user_agent.original",
        ua["rows"][0][1].as_str().context("a user agent")?,
    );
    let mut aggregate = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        sql(
            &client,
            http,
            "SELECT service_name, count(*) AS spans, avg(duration_ns) AS avg_ns \
             FROM spans GROUP BY service_name",
        )?;
        aggregate.push(started.elapsed().as_secs_f64());
    }
    Ok(json!({
        "ingest_to_queryable_lag": percentiles_ms(lags),
        "trace_by_id": percentiles_ms(by_id),
        "search_service_attribute_min_duration_1h": time_get(&client, &search, n)?,
        "search_service_map_attribute_min_duration_1h": time_get(&client, &map_search, n)?,
        "sql_aggregate_by_service": percentiles_ms(aggregate),
        "dependencies_1h": time_get(&client, &format!("http://{http}/api/v1/dependencies?lookback=1h"), n)?,
        "red_one_service_1h": time_get(
            &client,
            &format!("http://{http}/api/v1/red?service={}&lookback=1h", enc(&service)),
            n,
        )?,
    }))
}

fn overload_run(args: &Args, scratch: &Path, sustained: f64) -> anyhow::Result<Value> {
    let data = scratch.join("overload");
    let server = Server::start(&args.bin_dir.join("meshscope"), &data, &args.server_arg)?;
    let rate = (sustained * 3.0).round() as u64;
    let report = loadgen(
        args,
        &server,
        &[
            "--rate".into(),
            rate.to_string(),
            "--duration".into(),
            format!("{}s", args.overload_seconds),
            "--max-retries".into(),
            "3".into(),
            "--concurrency".into(),
            args.overload_concurrency.to_string(),
        ],
        &scratch.join("loadgen-overload.json"),
    )?;
    let (cpu, peak_rss) = server.usage()?;
    server.stop()?;
    let acked = f(&report, &["spans", "acked"]).max(f(&report, &["spans_acked"]));
    let (stored, distinct) = count_stored_spans(&data)?;
    Ok(json!({
        "offered_spans_per_second": rate,
        "seconds": args.overload_seconds,
        "loadgen": report,
        "server_cpu_seconds": cpu,
        "peak_rss_bytes": peak_rss,
        "spans_acked": acked,
        "spans_stored": stored,
        "distinct_spans_stored": distinct,
        "spans_stored_twice": stored - distinct,
        "every_acknowledged_span_stored": distinct as f64 >= acked,
    }))
}

/// The Parquet files under `dir`.
fn parquet_file_count(dir: &Path) -> u64 {
    let mut count = 0;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|x| x == "parquet") {
                count += 1;
            }
        }
    }
    count
}

/// Spans in the Parquet files of a stopped server's data directory: all rows, and distinct
/// (trace id, span id) pairs, so that spans stored twice (a request stored, then retried by its
/// client) cannot hide spans that are missing.
fn count_stored_spans(data: &Path) -> anyhow::Result<(u64, u64)> {
    use arrow::array::AsArray;
    use parquet::arrow::ProjectionMask;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    fn half(hex: &str) -> u64 {
        hex.get(..16)
            .and_then(|h| u64::from_str_radix(h, 16).ok())
            .unwrap_or(0)
    }
    let mut rows = 0u64;
    let mut distinct = std::collections::HashSet::new();
    let mut stack = vec![data.join("spans")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)?.flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "parquet") {
                let builder = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&p)?)?;
                let mask =
                    ProjectionMask::columns(builder.parquet_schema(), ["trace_id", "span_id"]);
                for batch in builder.with_projection(mask).build()? {
                    let batch = batch?;
                    let traces = batch
                        .column_by_name("trace_id")
                        .context("trace_id")?
                        .as_string::<i32>();
                    let spans = batch
                        .column_by_name("span_id")
                        .context("span_id")?
                        .as_string::<i32>();
                    rows += batch.num_rows() as u64;
                    for (t, s) in traces.iter().zip(spans.iter()) {
                        distinct.insert((half(t.unwrap_or_default()), half(s.unwrap_or_default())));
                    }
                }
            }
        }
    }
    Ok((rows, distinct.len() as u64))
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    for bin in ["meshscope", "meshscope-loadgen"] {
        let path = args.bin_dir.join(bin);
        if !path.exists() {
            bail!(
                "{} not found: run `cargo build --release -p meshscope -p meshscope-loadgen` first",
                path.display()
            );
        }
    }
    let scratch = tempfile::tempdir()?;
    let mut runs = Vec::new();
    for run in 0..args.runs {
        runs.push(ingest_run(&args, scratch.path(), run)?);
    }
    let med = |key: &str| median(runs.iter().map(|r| f(r, &[key])).collect());
    let summary = json!({
        "acked_spans_per_second": med("acked_spans_per_second"),
        "server_cpu_seconds_per_million_spans": med("server_cpu_seconds_per_million_spans"),
        "peak_rss_bytes": med("peak_rss_bytes"),
        "disk_bytes_per_span": med("disk_bytes_per_span"),
        "parquet_files": med("parquet_files"),
        "otlp_bytes_per_span": med("otlp_bytes_per_span"),
        "request_latency_p50_ms": med("request_latency_p50_ms"),
        "request_latency_p99_ms": med("request_latency_p99_ms"),
        "queries": median_queries(&runs),
    });
    let overload = if args.overload {
        Some(overload_run(
            &args,
            scratch.path(),
            f(&summary, &["acked_spans_per_second"]),
        )?)
    } else {
        None
    };
    let machine = json!({
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "cpu": std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|c| c.lines().find_map(|l| l.strip_prefix("model name")).map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())),
    });
    let result = json!({
        "schema": "meshscope-bench/v1",
        "machine": machine,
        "config": {
            "spans": args.spans, "runs": args.runs, "protocol": args.protocol,
            "concurrency": args.concurrency, "batch_spans": args.batch_spans,
            "server_args": args.server_arg,
        },
        "median": summary,
        "runs": runs,
        "overload": overload,
    });
    std::fs::create_dir_all(&args.out)?;
    std::fs::write(
        args.out.join("latest.json"),
        serde_json::to_string_pretty(&result)?,
    )?;
    let md = markdown(&result);
    std::fs::write(args.out.join("latest.md"), &md)?;
    println!("{md}");
    Ok(())
}

/// Per query, the median over runs of each run's p50 and p99.
fn median_queries(runs: &[Value]) -> Value {
    let mut out = serde_json::Map::new();
    if let Some(first) = runs.first().and_then(|r| r["queries"].as_object()) {
        for name in first.keys() {
            let of =
                |key: &str| median(runs.iter().map(|r| f(r, &["queries", name, key])).collect());
            out.insert(
                name.clone(),
                json!({ "p50_ms": of("p50_ms"), "p99_ms": of("p99_ms") }),
            );
        }
    }
    Value::Object(out)
}

fn markdown(r: &Value) -> String {
    let m = &r["median"];
    let mut out = format!(
        "| figure (median of {} runs, {} spans each, {} x{}, {} spans/request) | value |\n|---|---|\n",
        r["config"]["runs"],
        r["config"]["spans"],
        r["config"]["protocol"].as_str().unwrap_or(""),
        r["config"]["concurrency"],
        r["config"]["batch_spans"]
    );
    let row =
        |out: &mut String, name: &str, v: String| out.push_str(&format!("| {name} | {v} |\n"));
    row(
        &mut out,
        "acknowledged spans/s (durable acks)",
        format!("{:.0}", f(m, &["acked_spans_per_second"])),
    );
    row(
        &mut out,
        "server CPU seconds per million spans",
        format!("{:.2}", f(m, &["server_cpu_seconds_per_million_spans"])),
    );
    row(
        &mut out,
        "peak RSS",
        format!("{:.0} MiB", f(m, &["peak_rss_bytes"]) / 1048576.0),
    );
    row(
        &mut out,
        "bytes on disk per span (Parquet)",
        format!("{:.1}", f(m, &["disk_bytes_per_span"])),
    );
    row(
        &mut out,
        "Parquet files of spans after the run",
        format!("{:.0}", f(m, &["parquet_files"])),
    );
    // the request bodies as sent: OTLP protobuf, OTLP/JSON or Zipkin JSON, by protocol
    let wire = match r["config"]["protocol"].as_str().unwrap_or("grpc") {
        "http-json" => "OTLP/JSON",
        "zipkin-json" | "zipkin" => "Zipkin v2 JSON",
        _ => "OTLP protobuf",
    };
    row(
        &mut out,
        &format!("{wire} bytes per span (wire)"),
        format!("{:.1}", f(m, &["otlp_bytes_per_span"])),
    );
    row(
        &mut out,
        "export latency p50 / p99",
        format!(
            "{:.1} / {:.1} ms",
            f(m, &["request_latency_p50_ms"]),
            f(m, &["request_latency_p99_ms"])
        ),
    );
    if let Some(queries) = m["queries"].as_object() {
        for (name, q) in queries {
            row(
                &mut out,
                &format!("{} p50 / p99", name.replace('_', " ")),
                format!("{:.1} / {:.1} ms", f(q, &["p50_ms"]), f(q, &["p99_ms"])),
            );
        }
    }
    if let Some(o) = r["overload"].as_object() {
        row(
            &mut out,
            "overload: offered spans/s",
            format!("{}", o["offered_spans_per_second"]),
        );
        row(
            &mut out,
            "overload: acknowledged / stored / distinct stored spans",
            format!(
                "{} / {} / {}",
                o["spans_acked"], o["spans_stored"], o["distinct_spans_stored"]
            ),
        );
        row(
            &mut out,
            "overload: peak RSS",
            format!(
                "{:.0} MiB",
                o["peak_rss_bytes"].as_f64().unwrap_or(0.0) / 1048576.0
            ),
        );
    }
    out.push_str(&format!(
        "\nmachine: {} cores, {}\n",
        r["machine"]["cores"],
        r["machine"]["cpu"].as_str().unwrap_or("?")
    ));
    out
}
