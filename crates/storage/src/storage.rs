//! The `Storage` facade: append, snapshot, flush, stats.

use std::fs::File;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::catalog::Catalog;
use crate::config::{StorageConfig, TableSpec};
use crate::error::{Error, Result};
use crate::flush::FlushStats;
use crate::head::{Head, HeadBatch};
use crate::key_index::KeyIndex;
use crate::parquet_file::ParquetFile;
use crate::path::Layout;
use crate::self_metrics as m;
use crate::store::PartitionStore;
use crate::wal::{self, WalShared};
use crate::wal_writer::{Committed, WalWriter};

/// Batches up to this size are encoded for the WAL on the calling task (well under a
/// millisecond); larger ones on the blocking pool.
const INLINE_ENCODE_BYTES: usize = 64 << 10;
/// How long a refused append is told to wait when the head is full: about one flush.
const HEAD_FULL_RETRY: Duration = Duration::from_secs(1);
/// How long a refused append is told to wait when the WAL writer is behind: a few group commits.
const WAL_BEHIND_RETRY: Duration = Duration::from_millis(100);
/// `append` refuses once the heads hold this fraction more than `head_limit_bytes`.
const APPEND_SLACK_DIVISOR: usize = 8;
/// How often [`Storage::wait_for_room`] looks again without being woken (the WAL queue drains
/// without a wake-up).
const ROOM_POLL: Duration = Duration::from_millis(20);

/// A durable table store: WAL → head → Parquet partitions. Cheap to clone.
#[derive(Clone)]
pub struct Storage {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage")
            .field("data_dir", &self.inner.config.data_dir)
            .finish_non_exhaustive()
    }
}

/// A consistent view of one table: every acknowledged row is in exactly one of `head` and `files`.
#[derive(Debug, Clone)]
pub struct TableSnapshot {
    pub schema: SchemaRef,
    /// The schema the table's files are read with: `schema` without its derived columns (see
    /// [`TableSpec::derived_columns`]), which readers of files compute.
    pub file_schema: SchemaRef,
    /// Rows not yet in Parquet files, oldest first.
    pub head: Vec<RecordBatch>,
    /// The bloom filters of the table's bloom-filter columns of each head batch, in the order
    /// of `head`.
    pub head_keys: Vec<KeyIndex>,
    pub files: Vec<ParquetFile>,
}

/// Sizes of the store, for `/metrics`, logs and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageStats {
    pub tables: Vec<TableStats>,
    /// All heads together.
    pub head_bytes: usize,
    pub wal_bytes: u64,
    pub wal_segments: usize,
    pub wal_queue_bytes: usize,
    /// Every WAL record at or below this sequence number is in Parquet files.
    pub flushed_through_seq: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableStats {
    pub name: &'static str,
    pub head_rows: usize,
    pub head_bytes: usize,
    pub head_batches: usize,
    pub files: usize,
    pub file_bytes: u64,
    pub file_rows: u64,
}

/// What lives behind the one lock: heads and catalogs, so that a flush moves rows from one to
/// the other in a single step.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) tables: Vec<TableState>,
}

#[derive(Debug, Default)]
pub(crate) struct TableState {
    pub(crate) head: Head,
    pub(crate) catalog: Catalog,
}

/// State shared with the WAL writer thread.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) state: Mutex<State>,
    /// Sum of the heads' bytes, readable without the lock.
    pub(crate) head_bytes: AtomicUsize,
    /// Wakes the background task when a flush looks due.
    pub(crate) flush_wanted: Notify,
    /// Wakes appends waiting for room ([`Storage::wait_for_room`]) when a flush freed head memory.
    pub(crate) room: Notify,
    pub(crate) table_names: Vec<&'static str>,
    pub(crate) flush_max_bytes: usize,
    pub(crate) flush_max_age: Duration,
    pub(crate) head_limit_bytes: usize,
}

impl Shared {
    /// Puts committed WAL records into the heads (runs on the WAL writer thread).
    pub(crate) fn apply(&self, committed: Vec<Committed>) {
        let mut state = self.state.lock();
        let mut added = 0;
        for record in committed {
            if let Some(table) = state.tables.get_mut(record.table) {
                added += table.head.push(record.seq, record.batch);
            }
        }
        self.head_bytes.fetch_add(added, Ordering::AcqRel);
        self.publish_gauges(&state);
        let flush_due = self.flush_due(&state);
        drop(state);
        if flush_due {
            self.flush_wanted.notify_one();
        }
    }

    /// Whether a flush is due: a table's head over `flush_max_bytes` or with a batch older than
    /// `flush_max_age`, or all heads together over half of `head_limit_bytes`.
    pub(crate) fn flush_due(&self, state: &State) -> bool {
        let total = self.head_bytes.load(Ordering::Acquire);
        if total > 0 && total >= self.head_limit_bytes / 2 {
            return true;
        }
        state.tables.iter().any(|t| {
            t.head.batch_count() > 0
                && (t.head.bytes() >= self.flush_max_bytes
                    || t.head
                        .oldest_age()
                        .is_some_and(|age| age >= self.flush_max_age))
        })
    }

    pub(crate) fn publish_gauges(&self, state: &State) {
        for (name, table) in self.table_names.iter().zip(&state.tables) {
            metrics::gauge!(m::HEAD_BYTES, "table" => *name).set(table.head.bytes() as f64);
            metrics::gauge!(m::HEAD_ROWS, "table" => *name).set(table.head.rows() as f64);
        }
    }
}

pub(crate) struct Inner {
    pub(crate) config: StorageConfig,
    pub(crate) layout: Layout,
    pub(crate) specs: Vec<TableSpec>,
    pub(crate) store: Arc<dyn PartitionStore>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) wal: WalWriter,
    pub(crate) wal_shared: Arc<WalShared>,
    /// One flush at a time.
    pub(crate) flush_lock: tokio::sync::Mutex<()>,
    /// One merge at a time; merges run beside flushes.
    pub(crate) compaction_lock: tokio::sync::Mutex<()>,
    /// Files merges replaced, deleted once their grace has passed.
    pub(crate) obsolete: Mutex<Vec<crate::compaction::Obsolete>>,
    /// Files of a merge that failed, left out of later merges.
    pub(crate) unmergeable: Mutex<std::collections::HashSet<ulid::Ulid>>,
    pub(crate) flushed_through_seq: AtomicU64,
    pub(crate) closed: AtomicBool,
    /// Held (and `flock`ed) while open.
    pub(crate) _lock_file: File,
    #[cfg(test)]
    pub(crate) flush_hook: Mutex<Option<crate::flush::FlushHook>>,
}

impl Inner {
    pub(crate) fn table_index(&self, table: &str) -> Result<usize> {
        self.specs
            .iter()
            .position(|s| s.name == table)
            .ok_or_else(|| Error::UnknownTable(table.to_string()))
    }

    fn check_usable(&self) -> Result<()> {
        if let Some(reason) = self.wal_shared.poisoned.get() {
            return Err(Error::Poisoned(reason.clone()));
        }
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        Ok(())
    }

    fn pressure(&self) -> Option<Duration> {
        self.pressure_over(self.config.head_limit_bytes)
    }

    /// The pressure `append` refuses at: the head may go an eighth past its limit, so that the
    /// requests admitted just before it filled (at most the in-flight limit of the receivers)
    /// are stored instead of refused after they have been read and converted.
    fn append_pressure(&self) -> Option<Duration> {
        let limit = self.config.head_limit_bytes;
        self.pressure_over(limit.saturating_add(limit / APPEND_SLACK_DIVISOR))
    }

    fn pressure_over(&self, head_limit: usize) -> Option<Duration> {
        if self.shared.head_bytes.load(Ordering::Acquire) > head_limit {
            self.shared.flush_wanted.notify_one();
            return Some(HEAD_FULL_RETRY);
        }
        if self.wal_shared.queue_bytes.load(Ordering::Acquire) > self.config.wal_queue_limit_bytes {
            return Some(WAL_BEHIND_RETRY);
        }
        None
    }

    /// Removes `.staging/<id>` (of a flush or a merge) off the async workers; a failure is
    /// logged, not returned: recovery deletes any staging left behind at the next open.
    pub(crate) async fn remove_staging(&self, id: ulid::Ulid) {
        let store = Arc::clone(&self.store);
        let removed =
            tokio::task::spawn_blocking(move || store.remove_dir_all(&Layout::staging_dir(id)))
                .await;
        match removed {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, staging = %id, "could not remove a staging directory")
            }
            Err(e) => {
                tracing::warn!(error = %e, staging = %id, "could not remove a staging directory")
            }
        }
    }

    /// Whether the background task should flush now (see [`Shared::flush_due`]).
    pub(crate) fn flush_due(&self) -> bool {
        self.shared.flush_due(&self.shared.state.lock())
    }
}

/// Checks a batch against the table's schema and returns it with exactly that schema.
pub(crate) fn conform(spec: &TableSpec, batch: RecordBatch) -> Result<RecordBatch> {
    let mismatch = |detail: String| Error::SchemaMismatch {
        table: spec.name.to_string(),
        detail,
    };
    let (expected, actual) = (spec.schema.fields(), batch.schema_ref().fields());
    if expected != actual {
        if expected.len() != actual.len() {
            return Err(mismatch(format!(
                "expected {} columns, got {}",
                expected.len(),
                actual.len()
            )));
        }
        for (want, got) in expected.iter().zip(actual.iter()) {
            if want != got {
                return Err(mismatch(format!(
                    "column {:?}: expected {} nullable={}, got {:?} {} nullable={}{}",
                    want.name(),
                    want.data_type(),
                    want.is_nullable(),
                    got.name(),
                    got.data_type(),
                    got.is_nullable(),
                    if want.metadata() == got.metadata() {
                        ""
                    } else {
                        ", field metadata differs"
                    },
                )));
            }
        }
    }
    let batch = if batch.schema_ref() == &spec.schema {
        batch
    } else {
        RecordBatch::try_new(Arc::clone(&spec.schema), batch.columns().to_vec())?
    };
    let time = batch.column(spec.schema.index_of(spec.time_column)?);
    if time.null_count() > 0 {
        return Err(Error::InvalidBatch {
            table: spec.name.to_string(),
            reason: format!(
                "time column {:?} has {} nulls",
                spec.time_column,
                time.null_count()
            ),
        });
    }
    Ok(batch)
}

impl Storage {
    /// Opens (or creates) the store in `config.data_dir`: finishes an interrupted flush, lists
    /// the Parquet files, replays the WAL into the heads (cutting a torn tail) and starts the
    /// WAL writer. Call `start_background` afterwards for size- and age-triggered flushes.
    pub async fn open(config: StorageConfig, tables: Vec<TableSpec>) -> Result<Storage> {
        let inner =
            tokio::task::spawn_blocking(move || crate::recovery::open_blocking(config, tables))
                .await??;
        Ok(Storage {
            inner: Arc::new(inner),
        })
    }

    /// Appends a batch to a table. Returns its WAL sequence number once the record is written
    /// (and fsynced, under `SyncPolicy::Always`) and the rows are visible in `snapshot`.
    ///
    /// Refuses with `Error::Backpressure` when the heads or the WAL queue are over their limits.
    pub async fn append(&self, table: &str, batch: RecordBatch) -> Result<u64> {
        let inner = &self.inner;
        inner.check_usable()?;
        let index = inner.table_index(table)?;
        let batch = conform(&inner.specs[index], batch)?;
        if let Some(retry_after) = inner.append_pressure() {
            return Err(Error::Backpressure { retry_after });
        }
        let payload = if batch.get_array_memory_size() <= INLINE_ENCODE_BYTES {
            wal::encode_payload(&batch)?
        } else {
            // compressing a large batch takes milliseconds: keep it off the async workers
            let batch = batch.clone();
            tokio::task::spawn_blocking(move || wal::encode_payload(&batch)).await??
        };
        if payload.len() > wal::MAX_RECORD_BODY / 2 {
            return Err(Error::InvalidBatch {
                table: table.to_string(),
                reason: format!("batch encodes to {} bytes, split it", payload.len()),
            });
        }
        let batch = HeadBatch::new(&inner.specs[index], batch)?;
        let ack = inner.wal.submit(index, payload, batch)?;
        ack.await.map_err(|_| Error::Closed)?
    }

    /// `Some(retry_after)` while the heads are over `head_limit_bytes` or the WAL writer is
    /// behind: receivers wait, then refuse, before they read a request.
    pub fn pressure(&self) -> Option<Duration> {
        self.inner.pressure()
    }

    /// `Some(retry_after)` when `append` would refuse now (an eighth past the head limit), so
    /// that a receiver refuses a request it has read before converting it.
    pub fn append_pressure(&self) -> Option<Duration> {
        self.inner.append_pressure()
    }

    /// Waits up to `patience` for `append` to have room (the head under its limit, the WAL
    /// writer keeping up): `None` once it has, else [`pressure`](Self::pressure)'s retry hint.
    /// A full head usually has room again when the running flush ends; a receiver that waits
    /// here before reading a request's body spares its client a refusal and a retry without
    /// holding the body in memory.
    pub async fn wait_for_room(&self, patience: Duration) -> Option<Duration> {
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            // registered before the check, so a flush ending in between still wakes us
            let freed = self.inner.shared.room.notified();
            let retry_after = self.inner.pressure()?;
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Some(retry_after);
            }
            let _ = tokio::time::timeout((deadline - now).min(ROOM_POLL), freed).await;
        }
    }

    /// The tables of the store: `(name, time column)`, in the order they were opened with.
    pub fn tables(&self) -> Vec<(&'static str, &'static str)> {
        self.inner
            .specs
            .iter()
            .map(|spec| (spec.name, spec.time_column))
            .collect()
    }

    /// The table's rows now: head batches and Parquet files, never a row in both or in neither.
    pub fn snapshot(&self, table: &str) -> Result<TableSnapshot> {
        let index = self.inner.table_index(table)?;
        let state = self.inner.shared.state.lock();
        let table = &state.tables[index];
        let spec = &self.inner.specs[index];
        Ok(TableSnapshot {
            schema: Arc::clone(&spec.schema),
            file_schema: spec.file_schema(),
            head: table.head.batches(),
            head_keys: table.head.keys(),
            files: table.catalog.files().to_vec(),
        })
    }

    /// Flushes every table's head into Parquet files now.
    pub async fn flush(&self) -> Result<FlushStats> {
        self.inner.check_usable().or_else(|e| match e {
            // shutdown flushes after closing the store to appends
            Error::Closed => Ok(()),
            e => Err(e),
        })?;
        crate::flush::flush(&self.inner).await
    }

    /// Starts the task that flushes a table when its head is over `flush_max_bytes`, all heads
    /// are over half of `head_limit_bytes`, or a batch waited `flush_max_age`, and that merges
    /// small files (see [`Storage::compact`]) and then applies retention (see
    /// [`Storage::apply_retention`]) beside the flushes. It stops after
    /// `shutdown` or when the last `Storage` handle is dropped. Needs a tokio runtime.
    pub fn start_background(&self) -> tokio::task::JoinHandle<()> {
        let weak = Arc::downgrade(&self.inner);
        let shared = Arc::clone(&self.inner.shared);
        let tick = (self.inner.config.flush_max_age / 4)
            .clamp(Duration::from_millis(10), Duration::from_secs(1));
        let compacting = Arc::new(AtomicBool::new(false));
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    () = tokio::time::sleep(tick) => {}
                    () = shared.flush_wanted.notified() => {}
                }
                let Some(inner) = weak.upgrade() else { break };
                if inner.closed.load(Ordering::Acquire) || inner.wal_shared.poisoned.get().is_some()
                {
                    break;
                }
                // merges run on a task of their own, so that a flush never waits for one
                if !compacting.swap(true, Ordering::AcqRel) {
                    let (inner, compacting) = (Arc::clone(&inner), Arc::clone(&compacting));
                    tokio::spawn(async move {
                        if let Err(e) = crate::compaction::compact(&inner).await {
                            tracing::error!(error = %e, "background compaction failed");
                        }
                        crate::retention::apply(&inner, crate::retention::now_ns()).await;
                        crate::compaction::delete_obsolete(&inner, false).await;
                        compacting.store(false, Ordering::Release);
                    });
                }
                if inner.flush_due()
                    && let Err(e) = crate::flush::flush(&inner).await
                {
                    tracing::error!(error = %e, "background flush failed");
                }
            }
            tracing::debug!("storage background task stopped");
        })
    }

    /// Merges small files now, at most one merge per table: the merged file replaces its
    /// sources in snapshots at once, and the sources are deleted `compaction_grace` later.
    /// The background task does the same, on a task of its own, beside the flushes.
    pub async fn compact(&self) -> Result<crate::compaction::CompactionStats> {
        self.inner.check_usable()?;
        let stats = crate::compaction::compact(&self.inner).await?;
        crate::compaction::delete_obsolete(&self.inner, false).await;
        Ok(stats)
    }

    /// Applies retention now (see `retention_age` and `retention_max_bytes` of
    /// [`StorageConfig`]): files older than the age, then the files with the oldest rows while
    /// all files together are over the size, leave snapshots at once and are deleted
    /// `compaction_grace` later. The background task does the same after each round of merges.
    pub async fn apply_retention(&self) -> Result<crate::retention::RetentionStats> {
        self.inner.check_usable()?;
        let stats = crate::retention::apply(&self.inner, crate::retention::now_ns()).await;
        crate::compaction::delete_obsolete(&self.inner, false).await;
        Ok(stats)
    }

    /// Refuses further appends, flushes everything, waits for a merge in progress, deletes the
    /// files merges replaced (call it once nothing reads the store), and stops the WAL writer.
    pub async fn shutdown(&self) -> Result<()> {
        if self.inner.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        self.inner.shared.flush_wanted.notify_one();
        let flushed = match self.inner.wal_shared.poisoned.get() {
            Some(reason) => Err(Error::Poisoned(reason.clone())),
            None => crate::flush::flush(&self.inner).await.map(|_| ()),
        };
        // wait for a merge in progress; then no query reads the store any more (the caller
        // stopped them), so the files merges replaced can go now rather than at the next open
        let merging = self.inner.compaction_lock.lock().await;
        crate::compaction::delete_obsolete(&self.inner, true).await;
        drop(merging);
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || inner.wal.stop()).await?;
        tracing::info!(data_dir = %self.inner.config.data_dir.display(), "storage shut down");
        flushed
    }

    /// Sizes of heads, files and the WAL.
    pub fn stats(&self) -> StorageStats {
        let inner = &self.inner;
        let tables = {
            let state = inner.shared.state.lock();
            inner
                .specs
                .iter()
                .zip(&state.tables)
                .map(|(spec, table)| TableStats {
                    name: spec.name,
                    head_rows: table.head.rows(),
                    head_bytes: table.head.bytes(),
                    head_batches: table.head.batch_count(),
                    files: table.catalog.files().len(),
                    file_bytes: table.catalog.bytes(),
                    file_rows: table.catalog.rows(),
                })
                .collect()
        };
        let (wal_bytes, wal_segments) = inner.wal_shared.disk_usage();
        StorageStats {
            tables,
            head_bytes: inner.shared.head_bytes.load(Ordering::Acquire),
            wal_bytes,
            wal_segments,
            wal_queue_bytes: inner.wal_shared.queue_bytes.load(Ordering::Acquire),
            flushed_through_seq: inner.flushed_through_seq.load(Ordering::Acquire),
        }
    }
}

#[cfg(test)]
#[path = "storage_tests.rs"]
mod tests;
