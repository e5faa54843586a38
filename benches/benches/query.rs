//! Query benchmarks on generated mesh traffic: trace by id and trace search over N stored spans
//! (default 10 million; `MESHSCOPE_BENCH_SPANS` to change), all in Parquet files.
//!
//! `cargo bench -p meshscope-bench --bench query`
//!
//! The data is generated once with `meshscope-loadgen` (seeded, spread over 24 hours),
//! converted by `meshscope-ingest`, appended and flushed through `meshscope-storage`, and kept
//! under `target/bench-data/query-<N>/` for later runs. Before measuring, the bench prints
//! what each query reads (files, row groups pruned, bytes scanned, rows) from DataFusion's
//! metrics of the equivalent SQL.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use meshscope_loadgen::{Encoding, Generator, GeneratorConfig, TimeBase};
use meshscope_model::spans::{self, col};
use meshscope_query::{AttributeFilter, QueryConfig, QueryEngine, QueryOutput, SearchQuery};
use meshscope_storage::{FlushStats, Storage, StorageConfig, SyncPolicy, TableSpec};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

/// The server's allocator, so the figures match what the binary does.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use prost::Message;

const BASE_NS: u64 = 1_764_000_000_000_000_000;
const DAY_NS: f64 = 86_400e9;
const BATCH_SPANS: usize = 5_000;
const FLUSH_EVERY: usize = 1_000_000;

fn spans_table() -> TableSpec {
    TableSpec {
        name: spans::TABLE,
        schema: spans::schema(),
        time_column: spans::TIME_COLUMN,
        sort_columns: spans::SORT_COLUMNS.to_vec(),
        bloom_filter_columns: spans::BLOOM_FILTER_COLUMNS.to_vec(),
        derived_columns: spans::DERIVED_COLUMNS.to_vec(),
    }
}

fn span_count() -> usize {
    std::env::var("MESHSCOPE_BENCH_SPANS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000)
}

fn data_dir(spans: usize) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/bench-data")
        .join(format!("query-{spans}"))
}

async fn open(dir: &Path) -> Storage {
    Storage::open(
        StorageConfig {
            data_dir: dir.to_path_buf(),
            wal_sync: SyncPolicy::Never,
            head_limit_bytes: 4 << 30,
            flush_max_bytes: 2 << 30,
            ..StorageConfig::default()
        },
        vec![spans_table()],
    )
    .await
    .expect("open storage")
}

/// Generates `spans` spans over 24 hours into `dir`; returns a sample of stored trace ids.
/// A thread generates and converts batches while this one appends them and a flush runs
/// beside the appends, so both cores work.
async fn generate(dir: &Path, spans: usize) -> Vec<String> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).expect("data dir");
    let started = Instant::now();
    let storage = open(dir).await;
    let (tx, rx) = std::sync::mpsc::sync_channel(8);
    let producer = std::thread::spawn(move || {
        let mut generator = Generator::new(GeneratorConfig {
            time_base: TimeBase::Fixed {
                unix_nanos: BASE_NS,
            },
            ..GeneratorConfig::default()
        });
        let traces = spans as f64 / generator.mean_spans_per_template();
        generator.set_mean_trace_gap_nanos((DAY_NS / traces) as u64);
        let mut payload = Vec::new();
        let mut produced = 0;
        while produced < spans {
            payload.clear();
            let n = BATCH_SPANS.min(spans - produced);
            generator.fill_batch(n, Encoding::Protobuf, &mut payload);
            let request = ExportTraceServiceRequest::decode(payload.as_slice()).expect("protobuf");
            let first_id = request
                .resource_spans
                .first()
                .and_then(|r| r.scope_spans.first())
                .and_then(|s| s.spans.first())
                .map(|span| hex(&span.trace_id));
            let converted =
                meshscope_ingest::traces_to_batch(&request, i64::MAX / 2).expect("convert");
            if tx.send((n, first_id, converted.batch)).is_err() {
                return;
            }
            produced += n;
        }
    });
    let mut ids = Vec::new();
    let mut since_flush = 0;
    // one flush at a time runs beside the appends
    let mut flushing: Option<tokio::task::JoinHandle<meshscope_storage::Result<FlushStats>>> = None;
    while let Ok((n, first_id, batch)) = rx.recv() {
        ids.extend(first_id);
        // the store pushes back while a flush frees the head: wait and offer again
        loop {
            match storage.append(spans::TABLE, batch.clone()).await {
                Ok(_) => break,
                Err(meshscope_storage::Error::Backpressure { .. }) => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => panic!("append: {e}"),
            }
        }
        since_flush += n;
        if since_flush >= FLUSH_EVERY {
            if let Some(previous) = flushing.take() {
                previous.await.expect("flush task").expect("flush");
            }
            let storage = storage.clone();
            flushing = Some(tokio::spawn(async move { storage.flush().await }));
            since_flush = 0;
        }
    }
    if let Some(previous) = flushing.take() {
        previous.await.expect("flush task").expect("flush");
    }
    producer.join().expect("generator thread");
    storage.flush().await.expect("flush");
    storage.shutdown().await.expect("shutdown");
    std::fs::write(dir.join("trace_ids.txt"), ids.join("\n")).expect("ids");
    eprintln!(
        "query bench: generated {spans} spans in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    ids
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn report(what: &str, out: &QueryOutput) {
    let s = &out.stats.scan;
    eprintln!(
        "query bench: {what}: {:.1} ms, {} rows out; files {}/{} ({} pruned by key index); row groups read {}, pruned by key index {}, by statistics {}, by bloom filter {}; \
         page-index rows pruned {}; rows decoded-and-filtered-out {}; Parquet rows out {}; {} bytes scanned",
        out.stats.elapsed.as_secs_f64() * 1e3,
        out.stats.output_rows,
        s.files_scanned,
        s.files_total,
        s.files_pruned_key_index,
        s.row_groups_read,
        s.row_groups_pruned_key_index,
        s.row_groups_pruned_statistics,
        s.row_groups_pruned_bloom_filter,
        s.page_index_rows_pruned,
        s.pushdown_rows_pruned,
        s.parquet_rows_out,
        s.bytes_scanned,
    );
}

fn sql_string(engine: &QueryEngine, rt: &tokio::runtime::Runtime, sql: &str) -> Vec<Vec<String>> {
    let out = rt.block_on(engine.sql(sql)).expect(sql);
    let mut rows = Vec::new();
    for batch in &out.batches {
        for row in 0..batch.num_rows() {
            rows.push(
                batch
                    .columns()
                    .iter()
                    .map(|c| arrow::util::display::array_value_to_string(c, row).expect("text"))
                    .collect(),
            );
        }
    }
    rows
}

fn query(c: &mut Criterion) {
    let spans = span_count();
    let dir = data_dir(spans);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let ids = match std::fs::read_to_string(dir.join("trace_ids.txt")) {
        Ok(text) if !text.is_empty() => text.lines().map(str::to_owned).collect(),
        _ => rt.block_on(generate(&dir, spans)),
    };
    let storage = rt.block_on(open(&dir));
    let stats = storage.stats();
    eprintln!(
        "query bench: {} spans in {} files, {:.1} MB ({:.1} bytes/span)",
        stats.tables[0].file_rows,
        stats.tables[0].files,
        stats.tables[0].file_bytes as f64 / 1e6,
        stats.tables[0].file_bytes as f64 / stats.tables[0].file_rows.max(1) as f64
    );
    let snapshot = storage.snapshot(spans::TABLE).expect("snapshot");
    let row_groups: usize = snapshot
        .files
        .iter()
        .filter_map(|f| f.keys.row_group_count(col::TRACE_ID))
        .sum();
    let key_bytes: usize = snapshot.files.iter().map(|f| f.keys.bytes()).sum();
    eprintln!(
        "query bench: {row_groups} row groups; trace-id key indexes hold {:.1} MB in memory",
        key_bytes as f64 / 1e6
    );
    // what the key index keeps for a lookup: row groups that may hold a stored id (its own and
    // bloom false positives) and an absent one (false positives only)
    let kept = |id: &str| -> usize {
        snapshot
            .files
            .iter()
            .filter_map(|f| f.keys.row_groups(col::TRACE_ID, &[id.as_bytes()]))
            .map(|groups| groups.len())
            .sum()
    };
    let stored: Vec<usize> = ids
        .iter()
        .step_by((ids.len() / 1000).max(1))
        .map(|id| kept(id))
        .collect();
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let absent: usize = (0..10_000)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            kept(&format!("{state:016x}{:016x}", state.rotate_left(29)))
        })
        .sum();
    eprintln!(
        "query bench: key index keeps {:.3} row groups per stored id ({} ids), {:.4} per absent id (10000 ids)",
        stored.iter().sum::<usize>() as f64 / stored.len().max(1) as f64,
        stored.len(),
        absent as f64 / 10_000.0
    );
    drop(snapshot);
    let engine = QueryEngine::new(storage.clone(), QueryConfig::default()).expect("engine");

    // search parameters from the data: the busiest (service, route), one hour before the end
    let busiest = sql_string(
        &engine,
        &rt,
        "SELECT service_name, http_route, CAST(max(start_time) AS BIGINT) FROM spans \
         WHERE http_route IS NOT NULL AND kind = 'server' GROUP BY 1, 2 ORDER BY count(*) DESC LIMIT 1",
    );
    let (service, route) = (busiest[0][0].clone(), busiest[0][1].clone());
    let end_ns: i64 = sql_string(
        &engine,
        &rt,
        "SELECT CAST(max(start_time) AS BIGINT) FROM spans",
    )[0][0]
        .parse()
        .expect("end");
    let start_ns = end_ns - 3_600_000_000_000;
    let min_duration_ns = 5_000_000;
    let search = SearchQuery {
        service: Some(service.clone()),
        attributes: vec![AttributeFilter::new(
            "http.route",
            meshscope_query::MatchOp::Eq,
            route.clone(),
        )],
        min_duration_ns: Some(min_duration_ns),
        start_ns: Some(start_ns),
        end_ns: Some(end_ns),
        limit: 20,
        ..SearchQuery::default()
    };
    let search_map = SearchQuery {
        attributes: vec!["url.scheme=http".parse().expect("filter")],
        ..search.clone()
    };
    eprintln!(
        "query bench: search = service {service:?}, http.route {route:?} (or url.scheme=http from the attributes map), duration >= 5ms, last hour; limit 20"
    );

    // what each query reads, from the equivalent SQL
    let sample = &ids[ids.len() / 2];
    report(
        "trace by id (no time range)",
        &rt.block_on(engine.sql(&format!("SELECT * FROM spans WHERE trace_id = '{sample}'")))
            .expect("lookup"),
    );
    let window = format!(
        "start_time BETWEEN arrow_cast({start_ns}, 'Timestamp(Nanosecond, Some(\"UTC\"))') AND arrow_cast({end_ns}, 'Timestamp(Nanosecond, Some(\"UTC\"))')"
    );
    report(
        "search, first phase (promoted column)",
        &rt.block_on(engine.sql(&format!(
            "SELECT trace_id, min(start_time) AS first FROM spans WHERE {window} AND service_name = '{service}' \
             AND http_route = '{route}' AND duration_ns >= {min_duration_ns} GROUP BY trace_id ORDER BY first DESC LIMIT 20"
        )))
        .expect("search sql"),
    );
    report(
        "search, first phase (attributes map)",
        &rt.block_on(engine.sql(&format!(
            "SELECT trace_id, min(start_time) AS first FROM spans WHERE {window} AND service_name = '{service}' \
             AND (attributes['url.scheme'] = 'http' OR resource_attributes['url.scheme'] = 'http') \
             AND duration_ns >= {min_duration_ns} GROUP BY trace_id ORDER BY first DESC LIMIT 20"
        )))
        .expect("search sql"),
    );
    let found = rt.block_on(engine.search(search.clone())).expect("search");
    eprintln!(
        "query bench: search found {} traces ({} spans in the first)",
        found.len(),
        found.first().map_or(0, |t| t.span_count)
    );

    let mut group = c.benchmark_group("query");
    group.sample_size(50);
    group.measurement_time(Duration::from_secs(10));
    let mut i = 0;
    group.bench_function("trace_by_id", |b| {
        b.iter(|| {
            i = (i + 7919) % ids.len();
            let spans = rt.block_on(engine.trace(&ids[i], None)).expect("trace");
            assert!(!spans.is_empty());
            spans.len()
        })
    });
    group.bench_function("search_service_route_min_duration_1h", |b| {
        b.iter(|| {
            rt.block_on(engine.search(search.clone()))
                .expect("search")
                .len()
        })
    });
    group.bench_function("search_service_map_attribute_min_duration_1h", |b| {
        b.iter(|| {
            rt.block_on(engine.search(search_map.clone()))
                .expect("search")
                .len()
        })
    });
    group.bench_function("services", |b| {
        b.iter(|| rt.block_on(engine.services()).expect("services").len())
    });
    group.finish();
    drop(engine);
    drop(storage);
}

criterion_group!(benches, query);
criterion_main!(benches);
