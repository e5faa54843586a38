//! Fixtures shared by the unit tests: a span-like table and batches with unique row ids.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{
    Array, FixedSizeBinaryArray, FixedSizeBinaryBuilder, RecordBatch, StringArray,
    TimestampNanosecondArray, UInt64Array,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

use crate::config::{StorageConfig, SyncPolicy, TableSpec};
use crate::parquet_file::read_parquet_file;
use crate::storage::TableSnapshot;

/// 2026-11-25T07:00:00Z
pub(crate) const BASE_NS: i64 = 1_795_590_000_000_000_000;
pub(crate) const HOUR_NS: i64 = 3_600_000_000_000;

pub(crate) fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::UInt64, false),
        Field::new("trace_id", DataType::FixedSizeBinary(16), false),
        Field::new(
            "start_time",
            DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
            false,
        ),
        Field::new("name", DataType::Utf8, true),
    ]))
}

pub(crate) fn spec() -> TableSpec {
    TableSpec {
        name: "spans",
        schema: schema(),
        time_column: "start_time",
        sort_columns: vec!["trace_id", "start_time"],
        bloom_filter_columns: vec!["trace_id"],
        derived_columns: vec![],
    }
}

/// A second table, to check that tables stay apart.
pub(crate) fn other_spec() -> TableSpec {
    TableSpec {
        name: "events",
        ..spec()
    }
}

/// The trace id of row `id`: 50 traces, so that traces have several rows.
pub(crate) fn trace_of(id: u64) -> [u8; 16] {
    let trace = id.wrapping_mul(0x9E37_79B9_7F4A_7C15) % 50;
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&trace.wrapping_mul(0xD6E8_FEB8_6659_FD93).to_be_bytes());
    bytes[8..].copy_from_slice(&trace.to_be_bytes());
    bytes
}

/// Rows with the given ids; `time_of(id)` gives each row's start time.
pub(crate) fn batch_with(
    ids: impl IntoIterator<Item = u64>,
    time_of: impl Fn(u64) -> i64,
) -> RecordBatch {
    let ids: Vec<u64> = ids.into_iter().collect();
    let mut traces = FixedSizeBinaryBuilder::with_capacity(ids.len(), 16);
    for &id in &ids {
        traces.append_value(trace_of(id)).unwrap();
    }
    let times = TimestampNanosecondArray::from_iter_values(ids.iter().map(|&id| time_of(id)))
        .with_timezone("UTC");
    let names = StringArray::from_iter(
        ids.iter()
            .map(|id| (id % 7 != 0).then(|| format!("op-{}", id % 13))),
    );
    RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(UInt64Array::from(ids)),
            Arc::new(traces.finish()),
            Arc::new(times),
            Arc::new(names),
        ],
    )
    .unwrap()
}

/// Rows with the given ids, spread over three hours starting at `BASE_NS`.
pub(crate) fn batch(ids: impl IntoIterator<Item = u64>) -> RecordBatch {
    batch_with(ids, |id| {
        BASE_NS + (id % 3) as i64 * HOUR_NS + (id as i64 * 1_000_003) % HOUR_NS
    })
}

pub(crate) fn ids_of(batches: &[RecordBatch]) -> Vec<u64> {
    batches
        .iter()
        .flat_map(|b| {
            let ids = b.column(0).as_any().downcast_ref::<UInt64Array>().unwrap();
            ids.values().to_vec()
        })
        .collect()
}

/// Row ids in the snapshot: head rows and file rows (read back from disk), with multiplicity.
pub(crate) fn snapshot_ids(snapshot: &TableSnapshot) -> BTreeMap<u64, usize> {
    let mut ids = BTreeMap::new();
    for id in ids_of(&snapshot.head) {
        *ids.entry(id).or_default() += 1;
    }
    for file in &snapshot.files {
        for id in ids_of(&read_parquet_file(&file.path).unwrap()) {
            *ids.entry(id).or_default() += 1;
        }
    }
    ids
}

/// Asserts that the snapshot holds every id in `expect` exactly once, and nothing else.
pub(crate) fn assert_exactly_once(snapshot: &TableSnapshot, expect: impl IntoIterator<Item = u64>) {
    let ids = snapshot_ids(snapshot);
    let duplicates: Vec<_> = ids
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(id, _)| *id)
        .collect();
    assert!(duplicates.is_empty(), "rows seen twice: {duplicates:?}");
    let expect: Vec<u64> = expect.into_iter().collect();
    let got: Vec<u64> = ids.keys().copied().collect();
    assert_eq!(got.len(), expect.len(), "row count");
    assert_eq!(got, expect);
}

/// A config for tests: a temp dir, no fsync, and no automatic flushes.
pub(crate) fn config(dir: &std::path::Path) -> StorageConfig {
    StorageConfig {
        data_dir: dir.to_path_buf(),
        wal_sync: SyncPolicy::Never,
        flush_max_age: Duration::from_secs(3600),
        ..StorageConfig::default()
    }
}

pub(crate) fn is_sorted_by_trace_then_time(batch: &RecordBatch) -> bool {
    let traces = batch
        .column(1)
        .as_any()
        .downcast_ref::<FixedSizeBinaryArray>()
        .unwrap();
    let times = batch
        .column(2)
        .as_any()
        .downcast_ref::<TimestampNanosecondArray>()
        .unwrap();
    (1..batch.num_rows())
        .all(|i| (traces.value(i - 1), times.value(i - 1)) <= (traces.value(i), times.value(i)))
        && traces.null_count() == 0
}
