//! Tests of the whole store: append, snapshot, flush, crash recovery, backpressure.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::time::Instant;

use super::*;
use crate::config::SyncPolicy;
use crate::flush::FlushPoint;
use crate::path::{PartitionHour, PartitionedPath};
use crate::retention::{self, RetentionStats};
use crate::test_util::{
    BASE_NS, HOUR_NS, assert_exactly_once, batch, config, ids_of, is_sorted_by_trace_then_time,
    other_spec, snapshot_ids, spec,
};
use crate::{read_parquet_file, wal};

async fn open_with(config: StorageConfig) -> Storage {
    Storage::open(config, vec![spec(), other_spec()])
        .await
        .unwrap()
}

async fn open(dir: &Path) -> Storage {
    open_with(config(dir)).await
}

fn set_hook(storage: &Storage, hook: impl Fn(FlushPoint) -> Result<()> + Send + Sync + 'static) {
    *storage.inner.flush_hook.lock() = Some(Arc::new(hook));
}

/// Polls `done` until it holds; gives up (and fails) after a minute.
async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

const ALL_POINTS: [FlushPoint; 5] = [
    FlushPoint::Staged,
    FlushPoint::Committed,
    FlushPoint::FirstRenamed,
    FlushPoint::Renamed,
    FlushPoint::Published,
];

#[tokio::test]
async fn appended_rows_are_visible_before_any_flush() {
    let dir = tempfile::tempdir().unwrap();
    let storage = open(dir.path()).await;
    let s1 = storage.append("spans", batch(0..10)).await.unwrap();
    let s2 = storage.append("events", batch(100..105)).await.unwrap();
    let s3 = storage.append("spans", batch(10..20)).await.unwrap();
    assert!(s1 < s2 && s2 < s3);
    assert_exactly_once(&storage.snapshot("spans").unwrap(), 0..20);
    assert_exactly_once(&storage.snapshot("events").unwrap(), 100..105);
    assert!(storage.snapshot("spans").unwrap().files.is_empty());
    assert!(matches!(
        storage.snapshot("nope"),
        Err(Error::UnknownTable(_))
    ));
}

#[tokio::test]
async fn append_checks_table_schema_and_time_column() {
    let dir = tempfile::tempdir().unwrap();
    let storage = open(dir.path()).await;
    assert!(matches!(
        storage.append("nope", batch(0..1)).await,
        Err(Error::UnknownTable(_))
    ));

    let projected = batch(0..3).project(&[0, 1, 2]).unwrap();
    let err = storage.append("spans", projected).await.unwrap_err();
    assert!(matches!(&err, Error::SchemaMismatch { .. }), "{err}");
    assert!(
        err.to_string().contains("expected 4 columns, got 3"),
        "{err}"
    );

    // same columns, one renamed
    let good = batch(0..3);
    let mut fields: Vec<_> = good
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields[3] = fields[3].clone().with_name("label");
    let renamed = RecordBatch::try_new(
        Arc::new(arrow::datatypes::Schema::new(fields)),
        good.columns().to_vec(),
    )
    .unwrap();
    let err = storage.append("spans", renamed).await.unwrap_err();
    assert!(err.to_string().contains("column \"name\""), "{err}");

    // schema-level metadata alone does not matter
    let with_metadata = good
        .schema()
        .as_ref()
        .clone()
        .with_metadata([("k".to_string(), "v".to_string())].into());
    let relabeled = RecordBatch::try_new(Arc::new(with_metadata), good.columns().to_vec()).unwrap();
    storage.append("spans", relabeled).await.unwrap();
    assert_eq!(
        storage.snapshot("spans").unwrap().head[0].schema(),
        spec().schema
    );
}

#[tokio::test]
async fn null_partition_times_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut nullable = spec();
    let fields: Vec<_> = nullable
        .schema
        .fields()
        .iter()
        .map(|f| f.as_ref().clone().with_nullable(true))
        .collect();
    nullable.schema = Arc::new(arrow::datatypes::Schema::new(fields));
    let storage = Storage::open(config(dir.path()), vec![nullable.clone()])
        .await
        .unwrap();
    let good = batch(0..2);
    let mut columns = good.columns().to_vec();
    columns[2] = Arc::new(
        arrow::array::TimestampNanosecondArray::from(vec![Some(BASE_NS), None])
            .with_timezone("UTC"),
    );
    let bad = RecordBatch::try_new(Arc::clone(&nullable.schema), columns).unwrap();
    let err = storage.append("spans", bad).await.unwrap_err();
    assert!(matches!(err, Error::InvalidBatch { .. }), "{err}");
}

#[tokio::test]
async fn invalid_specs_and_configs_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(TableSpec, &str)> = vec![
        (
            TableSpec {
                name: "Spans",
                ..spec()
            },
            "name",
        ),
        (
            TableSpec {
                name: "wal",
                ..spec()
            },
            "reserved",
        ),
        (
            TableSpec {
                time_column: "nope",
                ..spec()
            },
            "time column",
        ),
        (
            TableSpec {
                time_column: "id",
                ..spec()
            },
            "Timestamp",
        ),
        (
            TableSpec {
                sort_columns: vec!["missing"],
                ..spec()
            },
            "missing",
        ),
        (
            TableSpec {
                bloom_filter_columns: vec!["missing"],
                ..spec()
            },
            "missing",
        ),
        (
            TableSpec {
                derived_columns: vec!["missing"],
                ..spec()
            },
            "derived column \"missing\" is not in the schema",
        ),
        (
            TableSpec {
                derived_columns: vec!["start_time"],
                ..spec()
            },
            "cannot be derived",
        ),
        (
            TableSpec {
                derived_columns: vec!["trace_id"],
                ..spec()
            },
            "cannot be derived",
        ),
    ];
    for (bad, expect) in cases {
        let err = Storage::open(config(dir.path()), vec![bad])
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::InvalidConfig(_)) && err.to_string().contains(expect),
            "{err}"
        );
    }
    let err = Storage::open(config(dir.path()), vec![spec(), spec()])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("twice"), "{err}");
    let zero_rows = StorageConfig {
        row_group_rows: 0,
        ..config(dir.path())
    };
    assert!(Storage::open(zero_rows, vec![spec()]).await.is_err());
    for (config, expect) in [
        (
            retaining(dir.path(), Some(Duration::ZERO), None),
            "retention_age",
        ),
        (retaining(dir.path(), None, Some(0)), "retention_max_bytes"),
    ] {
        let err = Storage::open(config, vec![spec()]).await.unwrap_err();
        assert!(err.to_string().contains(expect), "{err}");
    }
}

#[tokio::test]
async fn flush_moves_rows_into_sorted_hour_partition_files() {
    let dir = tempfile::tempdir().unwrap();
    let storage = open(dir.path()).await;
    storage.append("spans", batch(0..200)).await.unwrap();
    storage.append("spans", batch(200..400)).await.unwrap();
    storage.append("events", batch(0..10)).await.unwrap();

    let stats = storage.flush().await.unwrap();
    assert_eq!(
        (stats.files, stats.rows, stats.flushed_through_seq),
        (6, 410, 3)
    );

    let snapshot = storage.snapshot("spans").unwrap();
    assert!(snapshot.head.is_empty());
    assert_eq!(snapshot.files.len(), 3);
    assert_exactly_once(&snapshot, 0..400);
    for (n, file) in snapshot.files.iter().enumerate() {
        // spans/date=2026-11-25/hour=07..09/<ulid>.parquet, absolute path under the data dir
        assert_eq!(file.path, dir.path().join(file.relative.to_relative_path()));
        assert!(file.path.exists());
        assert_eq!(file.relative.table, "spans");
        assert_eq!(
            file.relative
                .to_string()
                .parse::<PartitionedPath>()
                .unwrap(),
            file.relative
        );
        let hour_start = BASE_NS + n as i64 * HOUR_NS;
        assert_eq!(file.relative.partition.start_ns(), hour_start);
        assert!(file.min_time_ns >= hour_start && file.max_time_ns < hour_start + HOUR_NS);
        assert_eq!(file.size_bytes, fs::metadata(&file.path).unwrap().len());
        let rows = read_parquet_file(&file.path).unwrap();
        assert_eq!(
            rows.iter().map(|b| b.num_rows() as u64).sum::<u64>(),
            file.rows
        );
        let merged = arrow::compute::concat_batches(&snapshot.schema, &rows).unwrap();
        assert!(is_sorted_by_trace_then_time(&merged));
        assert!(ids_of(&rows).iter().all(|id| id % 3 == n as u64));
    }
    assert_exactly_once(&storage.snapshot("events").unwrap(), 0..10);
    // no staging left; the WAL holds only the fresh active segment
    assert!(
        !dir.path().join(".staging").exists()
            || fs::read_dir(dir.path().join(".staging")).unwrap().count() == 0
    );
    let segments = wal::list_segments(&storage.inner.layout).unwrap();
    assert_eq!(segments.iter().map(|s| s.0).collect::<Vec<_>>(), vec![4]);

    // a flush with nothing to do is harmless
    let again = storage.flush().await.unwrap();
    assert_eq!((again.files, again.rows), (0, 0));
    assert_exactly_once(&storage.snapshot("spans").unwrap(), 0..400);
}

#[tokio::test]
async fn catalog_is_rebuilt_from_disk_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let before = {
        let storage = open(dir.path()).await;
        storage.append("spans", batch(0..60)).await.unwrap();
        storage.flush().await.unwrap();
        storage.shutdown().await.unwrap();
        storage.snapshot("spans").unwrap().files
    };
    // a stray file in the table directory is ignored
    fs::write(dir.path().join("spans/notes.txt"), b"hello").unwrap();
    let storage = open(dir.path()).await;
    let mut after = storage.snapshot("spans").unwrap().files;
    after.sort_by(|a, b| a.relative.cmp(&b.relative));
    let mut before = before;
    before.sort_by(|a, b| a.relative.cmp(&b.relative));
    assert_eq!(after, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_at_every_flush_step_has_no_duplicates_and_no_gaps() {
    let dir = tempfile::tempdir().unwrap();
    let storage = open(dir.path()).await;
    storage.append("spans", batch(0..300)).await.unwrap();
    storage.append("spans", batch(300..600)).await.unwrap();

    let weak = Arc::downgrade(&storage.inner);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen_in_hook = Arc::clone(&seen);
    set_hook(&storage, move |point| {
        let inner = weak.upgrade().expect("storage alive during flush");
        let snapshot = Storage { inner }.snapshot("spans")?;
        assert_exactly_once(&snapshot, 0..600);
        seen_in_hook.lock().push(point);
        Ok(())
    });
    storage.flush().await.unwrap();
    assert_eq!(*seen.lock(), ALL_POINTS.to_vec());
    assert_exactly_once(&storage.snapshot("spans").unwrap(), 0..600);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_snapshots_and_flushes_never_lose_or_repeat_rows() {
    let dir = tempfile::tempdir().unwrap();
    let storage = open(dir.path()).await;
    let acked = Arc::new(Mutex::new(BTreeSet::new()));
    let mut appenders = Vec::new();
    for writer in 0..4u64 {
        let (storage, acked) = (storage.clone(), Arc::clone(&acked));
        appenders.push(tokio::spawn(async move {
            for n in 0..40u64 {
                let start = (writer * 1000 + n) * 20;
                storage
                    .append("spans", batch(start..start + 20))
                    .await
                    .unwrap();
                acked.lock().extend(start..start + 20);
            }
        }));
    }
    let flusher = {
        let storage = storage.clone();
        tokio::spawn(async move {
            for _ in 0..8 {
                storage.flush().await.unwrap();
                tokio::task::yield_now().await;
            }
        })
    };
    let mut checks = 0;
    while appenders.iter().any(|a| !a.is_finished()) || checks < 3 {
        let acked_before = acked.lock().clone();
        let ids = snapshot_ids(&storage.snapshot("spans").unwrap());
        let repeated: Vec<_> = ids.iter().filter(|(_, n)| **n > 1).collect();
        assert!(repeated.is_empty(), "rows seen twice: {repeated:?}");
        let missing: Vec<_> = acked_before
            .iter()
            .filter(|id| !ids.contains_key(id))
            .collect();
        assert!(missing.is_empty(), "acknowledged rows missing: {missing:?}");
        checks += 1;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for appender in appenders {
        appender.await.unwrap();
    }
    flusher.await.unwrap();
    storage.flush().await.unwrap();
    let expect: Vec<u64> = acked.lock().iter().copied().collect();
    assert_eq!(expect.len(), 4 * 40 * 20);
    assert_exactly_once(&storage.snapshot("spans").unwrap(), expect);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_at_each_flush_step_recovers_every_row_exactly_once() {
    for point in ALL_POINTS {
        let dir = tempfile::tempdir().unwrap();
        {
            let storage = open(dir.path()).await;
            storage.append("spans", batch(0..300)).await.unwrap();
            storage.append("events", batch(0..30)).await.unwrap();
            storage.append("spans", batch(300..600)).await.unwrap();
            set_hook(&storage, move |at| {
                if at == point {
                    Err(Error::SimulatedCrash(format!("{at:?}")))
                } else {
                    Ok(())
                }
            });
            assert!(storage.flush().await.is_err(), "{point:?}");
            // the crash: the process goes away without shutdown
        }
        let storage = open(dir.path()).await;
        assert_exactly_once(&storage.snapshot("spans").unwrap(), 0..600);
        assert_exactly_once(&storage.snapshot("events").unwrap(), 0..30);
        let staging = dir.path().join(".staging");
        assert!(
            !staging.exists() || fs::read_dir(&staging).unwrap().count() == 0,
            "{point:?}: staging left behind"
        );
        let committed = !matches!(point, FlushPoint::Staged);
        assert_eq!(
            storage.snapshot("spans").unwrap().files.len(),
            if committed { 3 } else { 0 },
            "{point:?}"
        );

        // and the store goes on: more rows, another flush, another restart
        storage.append("spans", batch(600..700)).await.unwrap();
        storage.flush().await.unwrap();
        drop(storage);
        let storage = open(dir.path()).await;
        let snapshot = storage.snapshot("spans").unwrap();
        assert!(snapshot.head.is_empty(), "{point:?}");
        assert_exactly_once(&snapshot, 0..700);
        assert_exactly_once(&storage.snapshot("events").unwrap(), 0..30);
    }
}

#[tokio::test]
async fn stale_staging_from_an_uncommitted_flush_is_discarded() {
    let dir = tempfile::tempdir().unwrap();
    {
        let storage = open(dir.path()).await;
        storage.append("spans", batch(0..90)).await.unwrap();
        storage.flush().await.unwrap();
        storage.append("spans", batch(90..120)).await.unwrap();
    }
    // a staged copy of rows that never reached a checkpoint, next to the committed flush
    let committed = fs::read_dir(dir.path().join("spans/date=2026-11-25/hour=07"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let fake = PartitionedPath::new_file("spans", PartitionHour::from_timestamp_ns(BASE_NS));
    let staged = dir
        .path()
        .join(Layout::staged_file(ulid::Ulid::new(), &fake));
    fs::create_dir_all(staged.parent().unwrap()).unwrap();
    fs::copy(&committed, &staged).unwrap();

    let storage = open(dir.path()).await;
    assert_exactly_once(&storage.snapshot("spans").unwrap(), 0..120);
    assert!(
        fs::read_dir(dir.path().join(".staging"))
            .unwrap()
            .next()
            .is_none()
    );
}

#[tokio::test]
async fn reopen_replays_unflushed_rows_and_continues_the_sequence() {
    let dir = tempfile::tempdir().unwrap();
    let last = {
        let storage = open(dir.path()).await;
        storage.append("spans", batch(0..10)).await.unwrap();
        storage.append("events", batch(0..5)).await.unwrap();
        storage.append("spans", batch(10..20)).await.unwrap()
    };
    let storage = open(dir.path()).await;
    assert_exactly_once(&storage.snapshot("spans").unwrap(), 0..20);
    assert_exactly_once(&storage.snapshot("events").unwrap(), 0..5);
    let next = storage.append("spans", batch(20..30)).await.unwrap();
    assert!(next > last, "{next} after {last}");

    // after a flush deleted every old segment, the checkpoint carries the sequence on
    storage.flush().await.unwrap();
    drop(storage);
    let storage = open(dir.path()).await;
    assert!(storage.snapshot("spans").unwrap().head.is_empty());
    let after_flush = storage.append("spans", batch(30..40)).await.unwrap();
    assert!(after_flush > next, "{after_flush} after {next}");
    assert_exactly_once(&storage.snapshot("spans").unwrap(), 0..40);
}

#[tokio::test]
async fn torn_wal_tail_loses_only_the_torn_record() {
    let dir = tempfile::tempdir().unwrap();
    let kept = {
        let storage = open(dir.path()).await;
        let kept = storage.append("spans", batch(0..10)).await.unwrap();
        storage.append("spans", batch(10..20)).await.unwrap();
        kept
    };
    let (_, segment) = wal::list_segments(&Layout::new(dir.path().to_path_buf()))
        .unwrap()
        .pop()
        .unwrap();
    let len = fs::metadata(&segment).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(&segment)
        .unwrap()
        .set_len(len - 3)
        .unwrap();
    let storage = open(dir.path()).await;
    assert_exactly_once(&storage.snapshot("spans").unwrap(), 0..10);
    // the torn record was never complete, so never acknowledged: its number may be given again
    let next = storage.append("spans", batch(20..30)).await.unwrap();
    assert!(next > kept);
    drop(storage);
    let storage = open(dir.path()).await;
    assert_exactly_once(&storage.snapshot("spans").unwrap(), (0..10).chain(20..30));
}

#[tokio::test]
async fn wal_records_of_unregistered_tables_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    {
        let storage = open(dir.path()).await;
        storage.append("events", batch(0..5)).await.unwrap();
        storage.append("spans", batch(0..5)).await.unwrap();
    }
    let storage = Storage::open(config(dir.path()), vec![spec()])
        .await
        .unwrap();
    assert_exactly_once(&storage.snapshot("spans").unwrap(), 0..5);
    assert!(matches!(
        storage.snapshot("events"),
        Err(Error::UnknownTable(_))
    ));
}

#[tokio::test]
async fn backpressure_when_the_head_is_full_until_a_flush() {
    let dir = tempfile::tempdir().unwrap();
    let storage = open_with(StorageConfig {
        head_limit_bytes: 1,
        ..config(dir.path())
    })
    .await;
    assert_eq!(storage.pressure(), None);
    storage.append("spans", batch(0..10)).await.unwrap();
    let retry = storage.pressure().expect("pressure with a full head");
    assert!(retry > Duration::ZERO);
    match storage.append("spans", batch(10..20)).await {
        Err(Error::Backpressure { retry_after }) => assert_eq!(retry_after, retry),
        other => panic!("expected backpressure, got {other:?}"),
    }
    storage.flush().await.unwrap();
    assert_eq!(storage.pressure(), None);
    storage.append("spans", batch(10..20)).await.unwrap();
    // the refused batch was never stored
    assert_exactly_once(&storage.snapshot("spans").unwrap(), 0..20);
}

#[tokio::test]
async fn an_append_may_take_the_head_an_eighth_past_its_limit() {
    // the head bytes of one batch of 10 rows
    let sizing = tempfile::tempdir().unwrap();
    let storage = open(sizing.path()).await;
    storage.append("spans", batch(0..10)).await.unwrap();
    let size = storage.stats().head_bytes;
    drop(storage);

    let dir = tempfile::tempdir().unwrap();
    let storage = open_with(StorageConfig {
        head_limit_bytes: size - 1,
        ..config(dir.path())
    })
    .await;
    storage.append("spans", batch(0..10)).await.unwrap();
    // over the limit: receivers are told to wait, but an append already under way gets in
    assert!(storage.pressure().is_some());
    assert_eq!(storage.append_pressure(), None);
    storage.append("spans", batch(10..20)).await.unwrap();
    // two batches are more than an eighth past the limit: refused
    assert!(storage.append_pressure().is_some());
    assert!(matches!(
        storage.append("spans", batch(20..30)).await,
        Err(Error::Backpressure { .. })
    ));
    assert_exactly_once(&storage.snapshot("spans").unwrap(), 0..20);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_for_room_ends_when_a_flush_empties_the_head() {
    let dir = tempfile::tempdir().unwrap();
    let storage = open_with(StorageConfig {
        head_limit_bytes: 1,
        ..config(dir.path())
    })
    .await;
    // room at once: no wait
    assert_eq!(storage.wait_for_room(Duration::from_secs(60)).await, None);
    storage.append("spans", batch(0..10)).await.unwrap();
    // no flush: the wait gives up after its patience with the retry hint
    let started = std::time::Instant::now();
    let retry = storage.wait_for_room(Duration::from_millis(50)).await;
    assert_eq!(retry, storage.pressure());
    assert!(retry.is_some());
    assert!(started.elapsed() >= Duration::from_millis(50));
    // a flush while waiting: the wait ends when it has emptied the head, long before patience
    let waiting = {
        let storage = storage.clone();
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            (
                storage.wait_for_room(Duration::from_secs(60)).await,
                started.elapsed(),
            )
        })
    };
    tokio::time::sleep(Duration::from_millis(30)).await;
    storage.flush().await.unwrap();
    let (retry, waited) = waiting.await.unwrap();
    assert_eq!(retry, None);
    assert!(waited < Duration::from_secs(10), "{waited:?}");
    storage.append("spans", batch(10..20)).await.unwrap();
    assert_exactly_once(&storage.snapshot("spans").unwrap(), 0..20);
}

#[tokio::test]
async fn backpressure_when_the_wal_queue_is_over_its_limit() {
    let dir = tempfile::tempdir().unwrap();
    let storage = open(dir.path()).await;
    // stand in for a writer that has fallen behind
    let limit = storage.inner.config.wal_queue_limit_bytes;
    storage
        .inner
        .wal_shared
        .queue_bytes
        .fetch_add(limit + 1, Ordering::AcqRel);
    assert!(matches!(
        storage.append("spans", batch(0..1)).await,
        Err(Error::Backpressure { .. })
    ));
    assert!(storage.pressure().is_some());
    storage
        .inner
        .wal_shared
        .queue_bytes
        .fetch_sub(limit + 1, Ordering::AcqRel);
    storage.append("spans", batch(0..1)).await.unwrap();
}

#[tokio::test]
async fn shutdown_flushes_everything_and_refuses_appends() {
    let dir = tempfile::tempdir().unwrap();
    {
        let storage = open(dir.path()).await;
        storage.append("spans", batch(0..50)).await.unwrap();
        storage.shutdown().await.unwrap();
        assert!(matches!(
            storage.append("spans", batch(50..51)).await,
            Err(Error::Closed)
        ));
        storage.shutdown().await.unwrap();
        assert_exactly_once(&storage.snapshot("spans").unwrap(), 0..50);
    }
    let storage = open(dir.path()).await;
    let snapshot = storage.snapshot("spans").unwrap();
    assert!(snapshot.head.is_empty());
    assert_exactly_once(&snapshot, 0..50);
}

#[tokio::test]
async fn a_data_dir_is_opened_by_one_storage_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let storage = open(dir.path()).await;
    let err = Storage::open(config(dir.path()), vec![spec()])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Locked { .. }), "{err}");
    drop(storage);
    open(dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_task_flushes_a_head_over_its_size_limit() {
    let dir = tempfile::tempdir().unwrap();
    let storage = open_with(StorageConfig {
        flush_max_bytes: 1,
        ..config(dir.path())
    })
    .await;
    let task = storage.start_background();
    storage.append("spans", batch(0..30)).await.unwrap();
    eventually("a size-triggered flush", || {
        storage.stats().tables[0].files > 0
    })
    .await;
    storage.shutdown().await.unwrap();
    task.await.unwrap();
    assert_exactly_once(&storage.snapshot("spans").unwrap(), 0..30);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_task_flushes_a_head_older_than_its_age_limit() {
    let dir = tempfile::tempdir().unwrap();
    let storage = open_with(StorageConfig {
        flush_max_age: Duration::from_millis(20),
        ..config(dir.path())
    })
    .await;
    let task = storage.start_background();
    storage.append("events", batch(0..30)).await.unwrap();
    eventually("an age-triggered flush", || {
        storage.stats().tables[1].files > 0
    })
    .await;
    drop(storage);
    // the task ends by itself once the store is gone
    task.await.unwrap();
}

#[tokio::test]
async fn stats_count_heads_files_and_wal() {
    let dir = tempfile::tempdir().unwrap();
    let storage = open_with(StorageConfig {
        wal_sync: SyncPolicy::Always,
        ..config(dir.path())
    })
    .await;
    crate::describe_metrics();
    storage.append("spans", batch(0..30)).await.unwrap();
    let stats = storage.stats();
    assert_eq!(stats.tables[0].name, "spans");
    assert_eq!(
        (
            stats.tables[0].head_rows,
            stats.tables[0].head_batches,
            stats.tables[0].files
        ),
        (30, 1, 0)
    );
    assert!(stats.tables[0].head_bytes > 0 && stats.head_bytes == stats.tables[0].head_bytes);
    assert!(stats.wal_bytes > 6 && stats.wal_segments == 1);
    assert_eq!(stats.wal_queue_bytes, 0);

    storage.flush().await.unwrap();
    let stats = storage.stats();
    assert_eq!(
        (
            stats.tables[0].head_rows,
            stats.tables[0].head_bytes,
            stats.head_bytes
        ),
        (0, 0, 0)
    );
    assert_eq!((stats.tables[0].files, stats.tables[0].file_rows), (3, 30));
    assert!(stats.tables[0].file_bytes > 0);
    assert_eq!((stats.wal_segments, stats.flushed_through_seq), (1, 1));
}

#[tokio::test]
async fn flushes_are_due_by_size_or_age_and_never_for_empty_heads() {
    let dir = tempfile::tempdir().unwrap();
    let storage = open_with(StorageConfig {
        flush_max_bytes: 0,
        head_limit_bytes: 0,
        flush_max_age: Duration::from_millis(1),
        ..config(dir.path())
    })
    .await;
    assert!(!storage.inner.flush_due(), "empty heads never need a flush");
    storage.append("spans", batch(0..1)).await.unwrap();
    assert!(storage.inner.flush_due());
    storage.flush().await.unwrap();
    assert!(!storage.inner.flush_due());
    drop(storage);

    let dir = tempfile::tempdir().unwrap();
    let storage = open(dir.path()).await;
    storage.append("spans", batch(0..1)).await.unwrap();
    assert!(!storage.inner.flush_due(), "small and young: not yet");
}

#[tokio::test]
async fn nested_columns_survive_the_wal_the_head_and_the_flush() {
    use arrow::array::{Array, ListBuilder, MapBuilder, StringBuilder, StructArray};
    use arrow::datatypes::{Field, Schema};

    let base = batch(0..40);
    let mut attributes = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
    let mut events = ListBuilder::new(StringBuilder::new());
    for id in 0..40u64 {
        attributes.keys().append_value("http.route");
        attributes.values().append_value(format!("/r/{id}"));
        attributes.append(true).unwrap();
        events.values().append_value(format!("event-{id}"));
        events.append(id % 2 == 0);
    }
    let (attributes, events) = (attributes.finish(), events.finish());
    let resource = StructArray::from(vec![(
        Arc::new(Field::new(
            "service",
            arrow::datatypes::DataType::Utf8,
            true,
        )),
        Arc::clone(base.column(3)),
    )]);
    let mut fields: Vec<Field> = base
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new(
        "attributes",
        attributes.data_type().clone(),
        true,
    ));
    fields.push(Field::new("events", events.data_type().clone(), true));
    fields.push(Field::new("resource", resource.data_type().clone(), true));
    let schema = Arc::new(Schema::new(fields));
    let mut columns = base.columns().to_vec();
    columns.push(Arc::new(attributes));
    columns.push(Arc::new(events));
    columns.push(Arc::new(resource));
    let rows = RecordBatch::try_new(Arc::clone(&schema), columns).unwrap();
    let nested = TableSpec { schema, ..spec() };

    let dir = tempfile::tempdir().unwrap();
    {
        let storage = Storage::open(config(dir.path()), vec![nested.clone()])
            .await
            .unwrap();
        storage.append("spans", rows.clone()).await.unwrap();
    }
    // replayed from the WAL
    let storage = Storage::open(config(dir.path()), vec![nested])
        .await
        .unwrap();
    assert_eq!(storage.snapshot("spans").unwrap().head, vec![rows.clone()]);
    storage.flush().await.unwrap();
    let snapshot = storage.snapshot("spans").unwrap();
    assert_exactly_once(&snapshot, 0..40);
    // every row comes back from Parquet as it went in
    let mut back: Vec<RecordBatch> = Vec::new();
    for file in &snapshot.files {
        back.extend(read_parquet_file(&file.path).unwrap());
    }
    let back = arrow::compute::concat_batches(&back[0].schema(), &back).unwrap();
    let order = arrow::compute::sort_to_indices(back.column(0), None, None).unwrap();
    let back = arrow::compute::take_record_batch(&back, &order).unwrap();
    assert_eq!(back.columns(), rows.columns());
}

/// A config whose partitions are merged once they hold three small files.
fn compacting(dir: &Path, grace: Duration) -> StorageConfig {
    StorageConfig {
        compaction_target_bytes: 1 << 20,
        compaction_min_files: 3,
        compaction_grace: grace,
        ..config(dir)
    }
}

/// Rows `ids` all in the first hour partition.
fn first_hour(ids: std::ops::Range<u64>) -> RecordBatch {
    crate::test_util::batch_with(ids, |id| BASE_NS + id as i64 * 1_000_000)
}

/// One flush per hundred rows of the first hour: ids `100 * k .. 100 * k + 100` for each `k`.
async fn small_files(storage: &Storage, hundreds: std::ops::Range<u64>) {
    for k in hundreds {
        storage
            .append("spans", first_hour(k * 100..k * 100 + 100))
            .await
            .unwrap();
        storage.flush().await.unwrap();
    }
}

/// Four flushes into the first hour (ids 0..400) and one into the next (ids 1000..1010).
async fn four_small_files(storage: &Storage) {
    small_files(storage, 0..4).await;
    let next_hour = crate::test_util::batch_with(1000..1010, |id| BASE_NS + HOUR_NS + id as i64);
    storage.append("spans", next_hour).await.unwrap();
    storage.flush().await.unwrap();
}

fn all_ids() -> Vec<u64> {
    (0..400).chain(1000..1010).collect()
}

fn parquet_files_on_disk(dir: &Path) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut pending = vec![dir.join("spans")];
    while let Some(d) = pending.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                found.insert(path.file_name().unwrap().to_string_lossy().into_owned());
            }
        }
    }
    found
}

#[tokio::test]
async fn compaction_merges_an_hours_small_files_and_every_row_stays_once() {
    let dir = tempfile::tempdir().unwrap();
    let storage = open_with(compacting(dir.path(), Duration::from_secs(3600))).await;
    four_small_files(&storage).await;
    let before = storage.snapshot("spans").unwrap();
    assert_eq!(before.files.len(), 5);
    let sources: Vec<&ParquetFile> = before
        .files
        .iter()
        .filter(|f| f.relative.partition == PartitionHour::from_timestamp_ns(BASE_NS))
        .collect();
    assert_eq!(sources.len(), 4);

    let stats = storage.compact().await.unwrap();
    assert_eq!(
        (stats.merges, stats.files_replaced, stats.rows),
        (1, 4, 400)
    );
    let after = storage.snapshot("spans").unwrap();
    assert_eq!(
        after.files.len(),
        2,
        "the merged file and the next hour's file"
    );
    assert_exactly_once(&after, all_ids());
    let merged = after
        .files
        .iter()
        .find(|f| f.rows == 400)
        .expect("the merged file");
    assert_eq!(
        (merged.min_time_ns, merged.max_time_ns),
        (
            sources.iter().map(|f| f.min_time_ns).min().unwrap(),
            sources.iter().map(|f| f.max_time_ns).max().unwrap()
        )
    );
    assert_eq!(storage.stats().tables[0].file_rows, 410);

    // the merged file keeps each source's row groups, sorted, with statistics, page index and
    // bloom filters, and a standard reader reads it
    let file = fs::File::open(&merged.path).unwrap();
    let metadata = parquet::file::metadata::ParquetMetaDataReader::new()
        .with_page_index_policy(parquet::file::metadata::PageIndexPolicy::Required)
        .parse_and_finish(&file)
        .unwrap();
    assert_eq!(metadata.num_row_groups(), 4);
    assert!(metadata.column_index().is_some() && metadata.offset_index().is_some());
    assert!(
        metadata
            .row_groups()
            .iter()
            .all(|rg| rg.sorting_columns().is_some_and(|s| !s.is_empty()))
    );
    for row_group in 0..4 {
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
            fs::File::open(&merged.path).unwrap(),
        )
        .unwrap()
        .with_row_groups(vec![row_group])
        .with_batch_size(1000)
        .build()
        .unwrap();
        let batches: Vec<RecordBatch> = reader.map(|b| b.unwrap()).collect();
        assert_eq!(batches.len(), 1);
        assert!(is_sorted_by_trace_then_time(&batches[0]));
    }
    assert_eq!(merged.keys.row_group_count("trace_id"), Some(4));
    for id in [0u64, 150, 399] {
        let trace = crate::test_util::trace_of(id);
        let groups = merged.keys.row_groups("trace_id", &[&trace]).unwrap();
        assert!(!groups.is_empty(), "the key index finds trace of {id}");
    }

    // a snapshot taken before the merge still reads its files during the grace
    assert_exactly_once(&before, all_ids());
    assert_eq!(parquet_files_on_disk(dir.path()).len(), 6);

    // nothing more to merge: one small file per partition
    assert_eq!(storage.compact().await.unwrap().merges, 0);
}

#[tokio::test]
async fn a_restart_after_a_merge_deletes_the_files_it_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let storage = open_with(compacting(dir.path(), Duration::from_secs(3600))).await;
    four_small_files(&storage).await;
    storage.compact().await.unwrap();
    let merged: BTreeSet<String> = storage
        .snapshot("spans")
        .unwrap()
        .files
        .iter()
        .map(|f| f.path.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    // a crash during the grace: the sources are still on disk beside the merged file
    drop(storage);
    assert_eq!(parquet_files_on_disk(dir.path()).len(), 6);

    let storage = open_with(compacting(dir.path(), Duration::from_secs(3600))).await;
    assert_exactly_once(&storage.snapshot("spans").unwrap(), all_ids());
    assert_eq!(parquet_files_on_disk(dir.path()), merged);

    // merges chain: a merged file can itself be merged, and a restart finds no row twice
    small_files(&storage, 4..7).await;
    assert_eq!(storage.compact().await.unwrap().files_replaced, 4);
    drop(storage);
    let storage = open_with(compacting(dir.path(), Duration::from_secs(3600))).await;
    let expect: Vec<u64> = (0..700).chain(1000..1010).collect();
    assert_exactly_once(&storage.snapshot("spans").unwrap(), expect);
    assert_eq!(parquet_files_on_disk(dir.path()).len(), 2);
}

#[tokio::test]
async fn replaced_files_are_deleted_once_their_grace_has_passed() {
    let dir = tempfile::tempdir().unwrap();
    let storage = open_with(compacting(dir.path(), Duration::ZERO)).await;
    four_small_files(&storage).await;
    storage.compact().await.unwrap();
    assert_eq!(parquet_files_on_disk(dir.path()).len(), 2);
    assert_exactly_once(&storage.snapshot("spans").unwrap(), all_ids());
}

#[tokio::test]
async fn a_failed_merge_leaves_its_sources_and_no_staging() {
    let dir = tempfile::tempdir().unwrap();
    let storage = open_with(compacting(dir.path(), Duration::ZERO)).await;
    four_small_files(&storage).await;
    let before = storage.snapshot("spans").unwrap();
    // a source that cannot be read: the merge fails before its commit
    let newest = before
        .files
        .iter()
        .filter(|f| f.rows == 100)
        .max_by_key(|f| f.relative.file_id)
        .unwrap();
    fs::write(&newest.path, b"not parquet").unwrap();
    let err = storage.compact().await.unwrap_err();
    assert!(
        err.to_string().contains("parquet") || err.to_string().contains("Parquet"),
        "{err}"
    );
    let after = storage.snapshot("spans").unwrap();
    assert_eq!(after.files, before.files, "the catalog is unchanged");
    // the failed merge is not retried with the same files
    assert_eq!(storage.compact().await.unwrap().merges, 0);
    assert_eq!(parquet_files_on_disk(dir.path()).len(), 5);
    let staging = dir.path().join(".staging");
    assert!(
        !staging.exists() || fs::read_dir(&staging).unwrap().count() == 0,
        "staging left behind"
    );
}

#[tokio::test]
async fn the_background_task_merges_small_files() {
    let dir = tempfile::tempdir().unwrap();
    let storage = open_with(compacting(dir.path(), Duration::ZERO)).await;
    small_files(&storage, 0..4).await;
    assert_eq!(storage.snapshot("spans").unwrap().files.len(), 4);
    let background = storage.start_background();
    eventually("the merge", || {
        storage.snapshot("spans").unwrap().files.len() == 1
    })
    .await;
    assert_exactly_once(&storage.snapshot("spans").unwrap(), 0..400);
    eventually("the sources' deletion", || {
        parquet_files_on_disk(dir.path()).len() == 1
    })
    .await;
    storage.shutdown().await.unwrap();
    background.await.unwrap();
}

/// A config with retention by `age` and `max_bytes`, and a grace of an hour.
fn retaining(dir: &Path, age: Option<Duration>, max_bytes: Option<u64>) -> StorageConfig {
    StorageConfig {
        retention_age: age,
        retention_max_bytes: max_bytes,
        compaction_grace: Duration::from_secs(3600),
        ..config(dir)
    }
}

/// Rows `ids` of table `table` at `hour` hours after `BASE_NS`, flushed into one file.
async fn file_at_hour(storage: &Storage, table: &str, hour: i64, ids: std::ops::Range<u64>) {
    let rows = crate::test_util::batch_with(ids, |id| BASE_NS + hour * HOUR_NS + id as i64);
    storage.append(table, rows).await.unwrap();
    storage.flush().await.unwrap();
}

#[tokio::test]
async fn retention_by_age_takes_out_files_whose_newest_row_is_older() {
    let dir = tempfile::tempdir().unwrap();
    let storage = open_with(retaining(
        dir.path(),
        Some(Duration::from_secs(90 * 60)),
        None,
    ))
    .await;
    file_at_hour(&storage, "spans", 0, 0..100).await;
    file_at_hour(&storage, "spans", 1, 100..200).await;
    file_at_hour(&storage, "events", 0, 300..310).await;
    // rows of the oldest hour still in the head are not touched
    let unflushed = crate::test_util::batch_with(200..210, |id| BASE_NS + id as i64);
    storage.append("spans", unflushed).await.unwrap();
    assert_eq!(parquet_files_on_disk(dir.path()).len(), 2);

    // two hours after the first hour: its files are 2 h old, the second hour's 1 h
    let now = BASE_NS + 2 * HOUR_NS;
    let stats = retention::apply(&storage.inner, now).await;
    assert_eq!(stats.files_expired, 2, "{stats:?}");
    assert_eq!((stats.files_over_size, stats.rows), (0, 110));
    assert!(stats.bytes > 0);
    assert_exactly_once(&storage.snapshot("spans").unwrap(), 100..210);
    assert_exactly_once(&storage.snapshot("events").unwrap(), 0..0);
    // a second pass finds nothing more to do
    assert_eq!(
        retention::apply(&storage.inner, now).await,
        RetentionStats::default()
    );
    // deleted after the grace, which has not passed: a query reading them still can
    assert_eq!(parquet_files_on_disk(dir.path()).len(), 2);
    crate::compaction::delete_obsolete(&storage.inner, true).await;
    assert_eq!(parquet_files_on_disk(dir.path()).len(), 1);
    storage.shutdown().await.unwrap();
}

#[tokio::test]
async fn retention_by_size_takes_out_the_oldest_files_of_any_table_first() {
    let dir = tempfile::tempdir().unwrap();
    let storage = open(dir.path()).await;
    file_at_hour(&storage, "events", 0, 0..50).await;
    file_at_hour(&storage, "spans", 1, 100..200).await;
    file_at_hour(&storage, "spans", 2, 200..300).await;
    file_at_hour(&storage, "spans", 3, 300..400).await;
    let sizes: Vec<u64> = storage
        .snapshot("spans")
        .unwrap()
        .files
        .iter()
        .map(|f| f.size_bytes)
        .collect();
    assert_eq!(sizes.len(), 3);
    storage.shutdown().await.unwrap();
    drop(storage);

    // room for the two newest files and a little more, not for a third
    let limit = sizes[1] + sizes[2] + 1;
    let storage = open_with(retaining(dir.path(), None, Some(limit))).await;
    let stats = storage.apply_retention().await.unwrap();
    assert_eq!(stats.files_over_size, 2, "{stats:?}");
    assert_eq!((stats.files_expired, stats.rows), (0, 150));
    assert_exactly_once(&storage.snapshot("events").unwrap(), 0..0);
    assert_exactly_once(&storage.snapshot("spans").unwrap(), 200..400);
    let left: u64 = storage.stats().tables.iter().map(|t| t.file_bytes).sum();
    assert!(left <= limit, "{left} bytes left, limit {limit}");
    // the files taken out are deleted at shutdown at the latest
    storage.shutdown().await.unwrap();
    drop(storage);
    let storage = open(dir.path()).await;
    assert_exactly_once(&storage.snapshot("spans").unwrap(), 200..400);
    assert_eq!(storage.snapshot("events").unwrap().files.len(), 0);
}

#[tokio::test]
async fn the_background_task_applies_retention() {
    let dir = tempfile::tempdir().unwrap();
    // BASE_NS lies days before any clock this test runs on
    let mut config = retaining(dir.path(), Some(Duration::from_secs(3600)), None);
    config.compaction_grace = Duration::ZERO;
    let storage = open_with(config).await;
    file_at_hour(&storage, "spans", 0, 0..100).await;
    let background = storage.start_background();
    eventually("retention", || {
        storage.snapshot("spans").unwrap().files.is_empty()
            && parquet_files_on_disk(dir.path()).is_empty()
    })
    .await;
    storage.shutdown().await.unwrap();
    background.await.unwrap();
}
