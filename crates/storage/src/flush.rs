//! The flush protocol: head batches → Parquet files, exactly once across crashes.
//!
//! 1. Rotate the WAL; `S` = the last sequence number in the sealed segments. The head batches
//!    with `seq <= S` are the flushing set (still visible in snapshots).
//! 2. Per table: split by hour, sort, encode; write under `.staging/<flush-ulid>/`, fsynced.
//! 3. Commit point: `checkpoint.json` = `{flushed_through_seq: S, pending_flush: <flush-ulid>}`.
//! 4. Rename the staged files into place; under the state lock add them to the catalog and drop
//!    the flushed batches from the head; remove the staging directory.
//! 5. Delete the WAL segments whose records all have `seq <= S`.
//!
//! A failure before 3 leaves the rows in the head (they are flushed again next time). A failure
//! after 3 poisons the store: the committed files cannot be published in this process, and a
//! restart rolls the flush forward.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use ulid::Ulid;

use crate::checkpoint::Checkpoint;
use crate::error::{Error, Result};
use crate::parquet_file::{ParquetFile, encode_partitions};
use crate::path::Layout;
use crate::self_metrics as m;
use crate::storage::Inner;

/// What one flush did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FlushStats {
    /// Every WAL record at or below this sequence number is now in Parquet files.
    pub flushed_through_seq: u64,
    pub files: usize,
    pub rows: u64,
    pub bytes: u64,
    pub duration: Duration,
}

/// Where a flush can be interrupted; the tests stop a flush there to simulate a crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FlushPoint {
    /// Files staged and fsynced; no checkpoint yet.
    Staged,
    /// Checkpoint written; nothing renamed.
    Committed,
    /// The first staged file renamed into place, the others not.
    FirstRenamed,
    /// All files renamed; catalog and head not yet updated.
    Renamed,
    /// Catalog and head updated, staging removed; WAL segments not yet deleted.
    Published,
}

#[cfg(test)]
pub(crate) type FlushHook = Arc<dyn Fn(FlushPoint) -> Result<()> + Send + Sync>;

/// Runs the test hook at `point`; an error stops the flush there as a crash would.
#[cfg(test)]
fn hook(inner: &Inner, point: FlushPoint) -> Result<()> {
    let hook = inner.flush_hook.lock().clone();
    hook.map_or(Ok(()), |hook| hook(point))
}

#[cfg(not(test))]
#[inline(always)]
fn hook(_: &Inner, _: FlushPoint) -> Result<()> {
    Ok(())
}

/// A file of this flush, staged and ready to be renamed.
struct StagedFile {
    table: usize,
    file: ParquetFile,
}

pub(crate) async fn flush(inner: &Arc<Inner>) -> Result<FlushStats> {
    let _one_at_a_time = inner.flush_lock.lock().await;
    if let Some(reason) = inner.wal_shared.poisoned.get() {
        return Err(Error::Poisoned(reason.clone()));
    }
    let started = Instant::now();

    // 1. seal the WAL; everything up to `through` is in the heads now
    let through = inner.wal.rotate().await?;
    let work: Vec<(usize, Vec<RecordBatch>)> = {
        let state = inner.shared.state.lock();
        state
            .tables
            .iter()
            .enumerate()
            .map(|(index, table)| (index, table.head.batches_through(through)))
            .filter(|(_, batches)| !batches.is_empty())
            .collect()
    };
    let previous = inner.flushed_through_seq.load(Ordering::Acquire);
    if work.is_empty() {
        if through > previous {
            // only gaps or skipped records below `through`: move the checkpoint past them
            let layout = inner.layout.clone();
            let checkpoint = Checkpoint {
                flushed_through_seq: through,
                pending_flush: None,
            };
            tokio::task::spawn_blocking(move || checkpoint.store(&layout)).await??;
            inner.flushed_through_seq.store(through, Ordering::Release);
            delete_wal(inner, through).await;
        }
        return Ok(FlushStats {
            flushed_through_seq: through.max(previous),
            duration: started.elapsed(),
            ..FlushStats::default()
        });
    }

    // 2. encode and stage
    let flush_id = Ulid::new();
    let staging = {
        let inner = Arc::clone(inner);
        tokio::task::spawn_blocking(move || stage(&inner, flush_id, work)).await?
    };
    let staged = match staging {
        Ok(staged) => staged,
        Err(e) => {
            // nothing committed: the rows stay in the head, the partial staging goes
            inner.remove_staging(flush_id).await;
            return Err(e);
        }
    };
    hook(inner, FlushPoint::Staged)?;

    // 3. commit point. On failure the staging directory stays: if the checkpoint did reach the
    // disk, recovery needs it; if not, recovery (or the next flush) deletes it.
    let checkpoint = Checkpoint {
        flushed_through_seq: through,
        pending_flush: Some(flush_id),
    };
    let layout = inner.layout.clone();
    tokio::task::spawn_blocking(move || checkpoint.store(&layout)).await??;
    inner.flushed_through_seq.store(through, Ordering::Release);
    hook(inner, FlushPoint::Committed)?;

    // 4. move into place, then publish: files into the catalog and rows out of the head at once
    let renames = {
        let inner = Arc::clone(inner);
        let moves: Vec<_> = staged
            .iter()
            .map(|s| {
                let relative = s.file.relative.to_relative_path();
                (Layout::staged_file(flush_id, &s.file.relative), relative)
            })
            .collect();
        tokio::task::spawn_blocking(move || -> Result<()> {
            for (index, (from, to)) in moves.iter().enumerate() {
                inner.store.rename(from, to)?;
                if index == 0 {
                    hook(&inner, FlushPoint::FirstRenamed)?;
                }
            }
            Ok(())
        })
        .await?
    };
    if let Err(e) = renames {
        return Err(poison(inner, flush_id, e));
    }
    hook(inner, FlushPoint::Renamed)?;

    let (rows, bytes, files) = publish(inner, through, staged);
    // only this flush's directory: a merge may be staging beside it
    inner.remove_staging(flush_id).await;
    hook(inner, FlushPoint::Published)?;

    // 5. the WAL below `through` is no longer needed
    delete_wal(inner, through).await;

    let duration = started.elapsed();
    metrics::counter!(m::FLUSH_TOTAL).increment(1);
    metrics::counter!(m::FLUSH_ROWS_TOTAL).increment(rows);
    metrics::counter!(m::FLUSH_BYTES_TOTAL).increment(bytes);
    metrics::histogram!(m::FLUSH_SECONDS).record(duration.as_secs_f64());
    tracing::info!(
        flush = %flush_id,
        flushed_through_seq = through,
        files,
        rows,
        bytes,
        duration_ms = duration.as_millis() as u64,
        "flushed head to parquet"
    );
    Ok(FlushStats {
        flushed_through_seq: through,
        files,
        rows,
        bytes,
        duration,
    })
}

/// Encodes every table's flushing set and writes the files under `.staging/<flush_id>/`.
fn stage(
    inner: &Inner,
    flush_id: Ulid,
    work: Vec<(usize, Vec<RecordBatch>)>,
) -> Result<Vec<StagedFile>> {
    let mut staged = Vec::new();
    for (table, batches) in work {
        let spec = &inner.specs[table];
        for encoded in encode_partitions(
            spec,
            &batches,
            inner.config.row_group_rows,
            inner.config.flush_threads,
        )? {
            let relative = Layout::staged_file(flush_id, &encoded.relative);
            inner.store.put(&relative, &encoded.bytes)?;
            staged.push(StagedFile {
                table,
                file: ParquetFile {
                    path: inner.store.absolute(&encoded.relative.to_relative_path()),
                    size_bytes: encoded.bytes.len() as u64,
                    relative: encoded.relative,
                    rows: encoded.rows,
                    min_time_ns: encoded.min_time_ns,
                    max_time_ns: encoded.max_time_ns,
                    keys: encoded.keys,
                },
            });
        }
    }
    Ok(staged)
}

/// Adds the files to the catalogs and drops the flushed batches from the heads, under one lock.
fn publish(inner: &Inner, through: u64, staged: Vec<StagedFile>) -> (u64, u64, usize) {
    let (mut rows, mut bytes, files) = (0, 0, staged.len());
    let mut state = inner.shared.state.lock();
    for StagedFile { table, file } in staged {
        rows += file.rows;
        bytes += file.size_bytes;
        if let Some(table) = state.tables.get_mut(table) {
            table.catalog.add(file);
        }
    }
    let mut freed = 0;
    for table in &mut state.tables {
        freed += table.head.drop_through(through);
    }
    inner.shared.head_bytes.fetch_sub(freed, Ordering::AcqRel);
    inner.shared.publish_gauges(&state);
    drop(state);
    inner.shared.room.notify_waiters();
    (rows, bytes, files)
}

async fn delete_wal(inner: &Arc<Inner>, through: u64) {
    let (wal_shared, layout) = (Arc::clone(&inner.wal_shared), inner.layout.clone());
    match tokio::task::spawn_blocking(move || wal_shared.delete_through(&layout, through)).await {
        Ok(Ok(deleted)) => tracing::debug!(deleted, through, "deleted flushed wal segments"),
        Ok(Err(e)) => tracing::warn!(error = %e, through, "could not delete flushed wal segments"),
        Err(e) => tracing::warn!(error = %e, through, "could not delete flushed wal segments"),
    }
}

/// The flush is committed on disk but cannot be published: stop the store, a restart rolls it forward.
fn poison(inner: &Inner, flush_id: Ulid, error: Error) -> Error {
    let reason =
        format!("flush {flush_id} committed but its files could not be moved into place: {error}");
    tracing::error!(flush = %flush_id, error = %error, "flush committed but not published, refusing further writes until restart");
    let _ = inner.wal_shared.poisoned.set(reason.clone());
    Error::Poisoned(reason)
}
