//! The ingest path without the network: OTLP protobuf, read in place → validated Arrow batch →
//! sorted, zstd Parquet with a bloom filter, on realistic mesh spans from `meshscope-loadgen`.
//!
//! `cargo bench -p meshscope-bench --bench ingest_path` reports spans/s for each stage and
//! prints the Parquet bytes per span next to the OTLP protobuf bytes per span. Every stage runs
//! on one thread (spans/s per core), except `arrow_to_parquet_flush_threads`, which encodes on
//! as many threads as a flush does on this machine.
//! `flush_a_full_head` encodes, on one thread, as many spans as a flush of the default head
//! holds (`HEAD_BATCHES` requests), where rows are gathered from far more memory than a cache
//! holds. The `floor_*` benchmarks run the required crates alone on the same spans (see
//! [`floors`]). `zipkin_json_to_arrow` is the Zipkin receiver's path from a JSON body to the
//! same Arrow batch. `INGEST_PATH_PARQUET_DIR=<dir>` keeps the encoded files there.

use arrow::record_batch::RecordBatch;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use meshscope_loadgen::{Encoding, Generator, GeneratorConfig, TimeBase};
use meshscope_storage::{TableSpec, encode_parquet};

/// The server's allocator, so the figures match what the binary does.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const BATCH_SPANS: usize = 1000;
const BATCHES: usize = 20;
/// Requests in a head as the server flushes it: a flush starts at half of the default 320 MiB
/// head limit, which holds ~80,000 of the load generator's spans (~2 KiB of Arrow each).
const HEAD_BATCHES: usize = 80;

fn spans_table() -> TableSpec {
    use meshscope_model::spans;
    TableSpec {
        name: spans::TABLE,
        schema: spans::schema(),
        time_column: spans::TIME_COLUMN,
        sort_columns: spans::SORT_COLUMNS.to_vec(),
        bloom_filter_columns: spans::BLOOM_FILTER_COLUMNS.to_vec(),
        derived_columns: spans::DERIVED_COLUMNS.to_vec(),
    }
}

/// `batches` export requests of `BATCH_SPANS` spans each, as protobuf bytes.
fn requests(batches: usize) -> Vec<Vec<u8>> {
    let mut generator = Generator::new(GeneratorConfig {
        time_base: TimeBase::Fixed {
            unix_nanos: 1_764_000_000_000_000_000,
        },
        ..GeneratorConfig::default()
    });
    (0..batches)
        .map(|_| {
            let mut out = Vec::new();
            generator.fill_batch(BATCH_SPANS, Encoding::Protobuf, &mut out);
            out
        })
        .collect()
}

/// What a receiver does with a request body: validate and convert it, reading it in place.
fn to_arrow(payload: &[u8]) -> RecordBatch {
    let converted =
        meshscope_ingest::traces_protobuf_to_batch(payload, i64::MAX / 2).expect("convert");
    assert_eq!(converted.rejected, 0, "{}", converted.message);
    converted.batch
}

/// Bytes of the batch's buffers that hold data (its memory size without unused capacity).
fn data_bytes(batch: &RecordBatch) -> usize {
    fn array(data: &arrow::array::ArrayData) -> usize {
        data.buffers().iter().map(|b| b.len()).sum::<usize>()
            + data.nulls().map_or(0, |n| n.buffer().len())
            + data.child_data().iter().map(array).sum::<usize>()
    }
    batch.columns().iter().map(|c| array(&c.to_data())).sum()
}

fn ingest_path(c: &mut Criterion) {
    let payloads = requests(BATCHES);
    let spans = (BATCHES * BATCH_SPANS) as u64;
    let table = spans_table();

    // Size report: on-disk bytes per span next to the wire size.
    let wire: usize = payloads.iter().map(Vec::len).sum();
    let batches: Vec<_> = payloads.iter().map(|p| to_arrow(p)).collect();
    let files = encode_parquet(&table, &batches, 65_536, 1).expect("parquet");
    let disk: usize = files.iter().map(|f| f.bytes.len()).sum();
    eprintln!(
        "ingest_path: {spans} spans: OTLP protobuf {:.1} bytes/span, Parquet {:.1} bytes/span ({} files)",
        wire as f64 / spans as f64,
        disk as f64 / spans as f64,
        files.len()
    );

    // `INGEST_PATH_PARQUET_DIR=dir` keeps the files, to look at column sizes with any reader
    if let Some(dir) = std::env::var_os("INGEST_PATH_PARQUET_DIR") {
        for (i, file) in files.iter().enumerate() {
            let path = std::path::Path::new(&dir).join(format!("spans-{i}.parquet"));
            std::fs::write(&path, &file.bytes).expect("write parquet");
        }
    }
    let arrow_bytes: usize = batches.iter().map(RecordBatch::get_array_memory_size).sum();
    let arrow_data: usize = batches.iter().map(data_bytes).sum();
    eprintln!(
        "ingest_path: Arrow {:.0} bytes/span held in memory, {:.0} bytes/span of data",
        arrow_bytes as f64 / spans as f64,
        arrow_data as f64 / spans as f64,
    );

    let mut group = c.benchmark_group("ingest_path");
    group.throughput(Throughput::Elements(spans));
    group.sample_size(10);
    group.bench_function("decode_to_arrow", |b| {
        b.iter(|| {
            payloads
                .iter()
                .map(|p| to_arrow(p).num_rows())
                .sum::<usize>()
        })
    });
    group.bench_function("arrow_to_parquet", |b| {
        b.iter(|| {
            encode_parquet(&table, &batches, 65_536, 1)
                .expect("parquet")
                .len()
        })
    });
    let threads = meshscope_storage::default_flush_threads();
    group.bench_function("arrow_to_parquet_flush_threads", |b| {
        b.iter(|| {
            encode_parquet(&table, &batches, 65_536, threads)
                .expect("parquet")
                .len()
        })
    });
    group.bench_function("decode_to_parquet", |b| {
        b.iter(|| {
            let batches: Vec<_> = payloads.iter().map(|p| to_arrow(p)).collect();
            encode_parquet(&table, &batches, 65_536, 1)
                .expect("parquet")
                .len()
        })
    });
    floors(&mut group, &payloads, &batches);
    zipkin(&mut group, &payloads);
    drop(batches);
    let head: Vec<_> = requests(HEAD_BATCHES).iter().map(|p| to_arrow(p)).collect();
    let head_bytes: usize = head.iter().map(RecordBatch::get_array_memory_size).sum();
    eprintln!(
        "ingest_path: a full head: {} spans, {} MiB of Arrow",
        HEAD_BATCHES * BATCH_SPANS,
        head_bytes >> 20
    );
    group.throughput(Throughput::Elements((HEAD_BATCHES * BATCH_SPANS) as u64));
    group.bench_function("flush_a_full_head", |b| {
        b.iter(|| {
            encode_parquet(&table, &head, 65_536, 1)
                .expect("parquet")
                .len()
        })
    });
    group.finish();
}

/// What the required crates alone cost for the two halves of the path, with none of meshscope's
/// code between them: `opentelemetry-proto`'s prost decoding of the requests into owned
/// messages (what any Rust OTLP receiver does at the least), and the `parquet` crate's
/// `ArrowWriter` writing the same columns, already sorted, with zstd and otherwise default
/// properties. Their sum bounds from below what decode → Arrow → Parquet can cost per span
/// with this schema on this machine.
fn floors(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    payloads: &[Vec<u8>],
    batches: &[RecordBatch],
) {
    use arrow::compute::{SortColumn, concat_batches, lexsort_to_indices, take_record_batch};
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use parquet::arrow::ArrowWriter;
    use parquet::basic::{Compression, ZstdLevel};
    use parquet::file::properties::{EnabledStatistics, WriterProperties};
    use prost::Message;

    group.bench_function("floor_prost_decode", |b| {
        b.iter(|| {
            payloads
                .iter()
                .map(|p| {
                    let request = ExportTraceServiceRequest::decode(p.as_slice()).expect("decode");
                    request.resource_spans.len()
                })
                .sum::<usize>()
        })
    });

    let all = concat_batches(&batches[0].schema(), batches).expect("concat");
    let sort_by = |name: &str| SortColumn {
        values: all.column_by_name(name).expect("sort column").clone(),
        options: None,
    };
    let order = lexsort_to_indices(
        &[
            sort_by(meshscope_model::spans::col::TRACE_ID),
            sort_by(meshscope_model::spans::col::START_TIME),
        ],
        None,
    )
    .expect("sort");
    let sorted = take_record_batch(&all, &order).expect("take");
    let properties = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).expect("level")))
        .set_max_row_group_row_count(Some(65_536))
        .build();
    let write = |properties: &WriterProperties| {
        let mut out = Vec::with_capacity(1 << 20);
        let mut writer = ArrowWriter::try_new(&mut out, sorted.schema(), Some(properties.clone()))
            .expect("writer");
        writer.write(&sorted).expect("write");
        writer.close().expect("close");
        out.len()
    };
    eprintln!(
        "ingest_path: floor: ArrowWriter, zstd 3, defaults: {:.1} bytes/span",
        write(&properties) as f64 / sorted.num_rows() as f64
    );
    group.bench_function("floor_arrow_writer_sorted", |b| {
        b.iter(|| write(&properties))
    });
    // the least the writer can do: no compression, no dictionaries, no statistics
    let plain = WriterProperties::builder()
        .set_compression(Compression::UNCOMPRESSED)
        .set_dictionary_enabled(false)
        .set_statistics_enabled(EnabledStatistics::None)
        .set_max_row_group_row_count(Some(65_536))
        .build();
    eprintln!(
        "ingest_path: floor: ArrowWriter, uncompressed, plain: {:.1} bytes/span",
        write(&plain) as f64 / sorted.num_rows() as f64
    );
    group.bench_function("floor_arrow_writer_plain", |b| b.iter(|| write(&plain)));
    // zstd, which the files must have, and nothing else: no dictionaries, no statistics
    let zstd_only = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).expect("level")))
        .set_dictionary_enabled(false)
        .set_statistics_enabled(EnabledStatistics::None)
        .set_max_row_group_row_count(Some(65_536))
        .build();
    eprintln!(
        "ingest_path: floor: ArrowWriter, zstd 1 only: {:.1} bytes/span",
        write(&zstd_only) as f64 / sorted.num_rows() as f64
    );
    group.bench_function("floor_arrow_writer_zstd_only", |b| {
        b.iter(|| write(&zstd_only))
    });
}

/// The Zipkin receiver's path on the same spans: Zipkin v2 JSON (rendered as OpenTelemetry's
/// Zipkin exporters render a span, resource attributes among the tags) → the OTLP request it
/// stands for → Arrow, as `decode_to_arrow` does for OTLP.
fn zipkin(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    payloads: &[Vec<u8>],
) {
    use meshscope_ingest::Encoding;
    use meshscope_ingest::zipkin::to_otlp_protobuf;

    let bodies: Vec<Vec<u8>> = payloads
        .iter()
        .map(|p| meshscope_loadgen::zipkin::from_otlp(p))
        .collect();
    let wire: usize = bodies.iter().map(Vec::len).sum();
    eprintln!(
        "ingest_path: Zipkin v2 JSON {:.1} bytes/span",
        wire as f64 / (payloads.len() * BATCH_SPANS) as f64
    );
    group.bench_function("zipkin_json_to_arrow", |b| {
        b.iter(|| {
            bodies
                .iter()
                .map(|body| {
                    let (otlp, _) = to_otlp_protobuf(body, Encoding::Json).expect("zipkin");
                    to_arrow(&otlp).num_rows()
                })
                .sum::<usize>()
        })
    });
}

criterion_group!(benches, ingest_path);
criterion_main!(benches);
