//! Compaction: the small files of an hour partition merged into larger ones.
//!
//! Every flush writes one file per table and hour, so a busy store gains a file every second
//! or so; compaction keeps the count (footers to read at start, entries per snapshot, files
//! per query) proportional to the data rather than to the number of flushes. A merge copies
//! row groups without decoding them (`stitch`), so it costs I/O, not the CPU of ingest.
//!
//! 1. Plan: in each table, the first hour partition with at least `compaction_min_files` files
//!    smaller than half of `compaction_target_bytes`; its oldest such files, as many as fit in
//!    the target (at least two).
//! 2. Merge them into `.staging/<merge-ulid>/<partitioned path>`, fsynced. The merged file's
//!    footer names the files it replaces.
//! 3. Commit point: rename the merged file into its partition.
//! 4. Under the state lock, the merged file takes its sources' place in the catalog: snapshots
//!    from now on read it, snapshots taken before still read the sources.
//! 5. The sources are deleted `compaction_grace` later, when no query can still be reading them.
//!
//! A merge that fails (a source unreadable, or of another format than the others) leaves its
//! sources in place and out of later merges of this process.
//!
//! Merges run one at a time, beside flushes (a merge never holds up a flush): the two share
//! only the state lock, for the moment they edit the catalog. A failure before 3 leaves the
//! sources as they were (the staging directory goes, now or at the next open); a crash between
//! 3 and 5 leaves both on disk, and `open` deletes the files a merged file names as replaced.

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use ulid::Ulid;

use crate::error::{Error, Result};
use crate::parquet_file::{ParquetFile, describe_file};
use crate::path::{Layout, PartitionHour, PartitionedPath};
use crate::self_metrics as m;
use crate::stitch::{StitchSource, stitch};
use crate::storage::Inner;

/// What one call of [`Storage::compact`](crate::Storage::compact) did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactionStats {
    /// Merged files written.
    pub merges: usize,
    /// Files they replaced.
    pub files_replaced: usize,
    pub rows: u64,
    pub bytes_written: u64,
}

/// A file that a merge replaced, to delete once no snapshot can read it any more.
#[derive(Debug)]
pub(crate) struct Obsolete {
    pub(crate) due: Instant,
    pub(crate) relative: PathBuf,
}

/// The files of one table to merge into one.
#[derive(Debug)]
struct Merge {
    table: usize,
    files: Vec<ParquetFile>,
}

/// The files to merge in one partition of `files`, if any partition needs it: see the module
/// documentation.
pub(crate) fn plan(
    files: &[ParquetFile],
    target_bytes: u64,
    min_files: usize,
    unmergeable: &HashSet<Ulid>,
) -> Vec<ParquetFile> {
    let mut small: BTreeMap<PartitionHour, Vec<&ParquetFile>> = BTreeMap::new();
    for file in files {
        if file.size_bytes < target_bytes / 2 && !unmergeable.contains(&file.relative.file_id) {
            small.entry(file.relative.partition).or_default().push(file);
        }
    }
    for (_, mut candidates) in small {
        if candidates.len() < min_files.max(2) {
            continue;
        }
        // oldest first: file ids are ULIDs, ordered by creation time
        candidates.sort_by_key(|f| f.relative.file_id);
        let mut chosen = Vec::new();
        let mut bytes = 0u64;
        for file in candidates {
            if chosen.len() >= 2 && bytes + file.size_bytes > target_bytes {
                break;
            }
            bytes += file.size_bytes;
            chosen.push(file.clone());
        }
        if chosen.len() >= 2 {
            return chosen;
        }
    }
    Vec::new()
}

/// Runs at most one merge per table (see the module documentation). Does nothing when
/// compaction is off (`compaction_target_bytes == 0`) or no partition needs it.
pub(crate) async fn compact(inner: &Arc<Inner>) -> Result<CompactionStats> {
    let mut stats = CompactionStats::default();
    let target = inner.config.compaction_target_bytes;
    if target == 0 {
        return Ok(stats);
    }
    let _one_at_a_time = inner.compaction_lock.lock().await;
    if let Some(reason) = inner.wal_shared.poisoned.get() {
        return Err(Error::Poisoned(reason.clone()));
    }
    if inner.closed.load(std::sync::atomic::Ordering::Acquire) {
        return Ok(stats);
    }
    let merges: Vec<Merge> = {
        let unmergeable = inner.unmergeable.lock();
        let state = inner.shared.state.lock();
        state
            .tables
            .iter()
            .enumerate()
            .map(|(table, t)| Merge {
                table,
                files: plan(
                    t.catalog.files(),
                    target,
                    inner.config.compaction_min_files,
                    &unmergeable,
                ),
            })
            .filter(|merge| !merge.files.is_empty())
            .collect()
    };
    for merge in merges {
        let started = Instant::now();
        let merge_id = Ulid::new();
        let sources: Vec<Ulid> = merge.files.iter().map(|f| f.relative.file_id).collect();
        let written = {
            let inner = Arc::clone(inner);
            tokio::task::spawn_blocking(move || write_merged(&inner, merge_id, &merge)).await?
        };
        let (table, merged, replaced_bytes) = match written {
            Ok(written) => written,
            Err(e) => {
                // not again in this process (a file of another format, an unreadable file):
                // the files stay as they are, readable, and a failing merge does not repeat
                // every second
                inner.unmergeable.lock().extend(sources.iter().copied());
                inner.remove_staging(merge_id).await;
                return Err(e);
            }
        };
        let (rows, bytes, path) = (merged.rows, merged.size_bytes, merged.path.clone());
        let gone = {
            let mut state = inner.shared.state.lock();
            match state.tables.get_mut(table) {
                Some(t) => t.catalog.replace(&sources, merged),
                None => Vec::new(),
            }
        };
        inner.remove_staging(merge_id).await;
        retire(inner, &gone);
        stats.merges += 1;
        stats.files_replaced += gone.len();
        stats.rows += rows;
        stats.bytes_written += bytes;
        metrics::counter!(m::COMPACTION_TOTAL).increment(1);
        metrics::counter!(m::COMPACTION_FILES_TOTAL).increment(gone.len() as u64);
        metrics::counter!(m::COMPACTION_BYTES_TOTAL).increment(bytes);
        tracing::info!(
            merge = %merge_id,
            path = %path.display(),
            files = gone.len(),
            replaced_bytes,
            bytes,
            rows,
            duration_ms = started.elapsed().as_millis() as u64,
            "merged small parquet files"
        );
    }
    Ok(stats)
}

/// Steps 2 and 3: writes the merged file to staging and renames it into place. Returns the
/// table, the merged file and the bytes of its sources.
fn write_merged(inner: &Inner, merge_id: Ulid, merge: &Merge) -> Result<(usize, ParquetFile, u64)> {
    let spec = &inner.specs[merge.table];
    let partition = merge
        .files
        .first()
        .map(|f| f.relative.partition)
        .ok_or_else(|| Error::InvalidConfig("an empty merge".into()))?;
    let sources: Vec<StitchSource> = merge
        .files
        .iter()
        .map(|f| StitchSource {
            path: f.path.clone(),
            file_id: f.relative.file_id,
            min_time_ns: f.min_time_ns,
            max_time_ns: f.max_time_ns,
        })
        .collect();
    let merged = PartitionedPath::new_file(spec.name, partition);
    let staged = Layout::staged_file(merge_id, &merged);
    let size = inner
        .store
        .put_streamed(&staged, &mut |out| stitch(&sources, out).map(|_| ()))?;
    // the footer as a reader sees it, and the key index of the merged row groups
    let (metadata, keys) = inner.store.parquet_footer(&staged, spec)?;
    let relative = merged.to_relative_path();
    inner.store.rename(&staged, &relative)?;
    let file = describe_file(
        spec,
        merged,
        inner.store.absolute(&relative),
        size,
        &metadata,
        keys,
    );
    let replaced_bytes = merge.files.iter().map(|f| f.size_bytes).sum();
    Ok((merge.table, file, replaced_bytes))
}

/// Queues files that left the catalog (replaced by a merge, or expired) for deletion once
/// `compaction_grace` has passed, so that queries already reading them finish.
pub(crate) fn retire(inner: &Inner, files: &[ParquetFile]) {
    let due = Instant::now() + inner.config.compaction_grace;
    inner
        .obsolete
        .lock()
        .extend(files.iter().map(|file| Obsolete {
            due,
            relative: file.relative.to_relative_path(),
        }));
}

/// Step 5: deletes the replaced files whose grace has passed (all of them with `all`).
pub(crate) async fn delete_obsolete(inner: &Arc<Inner>, all: bool) {
    let inner = Arc::clone(inner);
    if let Err(e) = tokio::task::spawn_blocking(move || delete_obsolete_now(&inner, all)).await {
        tracing::warn!(error = %e, "could not delete replaced parquet files");
    }
}

fn delete_obsolete_now(inner: &Inner, all: bool) {
    let now = Instant::now();
    let due: Vec<Obsolete> = {
        let mut obsolete = inner.obsolete.lock();
        let (due, waiting) = std::mem::take(&mut *obsolete)
            .into_iter()
            .partition(|o| all || o.due <= now);
        *obsolete = waiting;
        due
    };
    for file in due {
        if let Err(e) = inner.store.remove_file(&file.relative) {
            // a restart deletes it: the merged file names it as replaced
            tracing::warn!(path = %file.relative.display(), error = %e, "could not delete a replaced parquet file");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file of `hour`, created after every file made before it (its ULID says so).
    fn file(hour: u8, size_bytes: u64) -> ParquetFile {
        static CREATED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
        let partition = PartitionHour::from_timestamp_ns(i64::from(hour) * 3_600_000_000_000);
        let mut relative = PartitionedPath::new_file("t", partition);
        let ms = CREATED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        relative.file_id = Ulid::from_parts(ms, 0);
        ParquetFile {
            path: relative.to_relative_path(),
            relative,
            size_bytes,
            rows: 1,
            min_time_ns: 0,
            max_time_ns: 0,
            keys: Default::default(),
        }
    }

    fn ids(files: &[ParquetFile]) -> Vec<Ulid> {
        files.iter().map(|f| f.relative.file_id).collect()
    }

    #[test]
    fn a_partition_is_merged_once_it_has_enough_small_files() {
        let files: Vec<ParquetFile> = (0..3).map(|_| file(1, 10)).collect();
        assert!(
            plan(&files, 100, 4, &HashSet::new()).is_empty(),
            "three small files wait for a fourth"
        );
        let mut files = files;
        files.push(file(1, 10));
        assert_eq!(ids(&plan(&files, 100, 4, &HashSet::new())), ids(&files));
    }

    #[test]
    fn large_files_and_other_partitions_are_left_alone() {
        let big = file(1, 60);
        let small: Vec<ParquetFile> = (0..2).map(|_| file(1, 10)).collect();
        let other = file(2, 10);
        let mut files = vec![big, other];
        files.extend(small.iter().cloned());
        // files of at least half the target are not candidates, nor is the lone file of hour 2
        assert_eq!(ids(&plan(&files, 100, 2, &HashSet::new())), ids(&small));
    }

    #[test]
    fn a_merge_takes_the_oldest_files_that_fit_in_the_target() {
        let files: Vec<ParquetFile> = (0..6).map(|_| file(1, 30)).collect();
        let chosen = plan(&files, 100, 2, &HashSet::new());
        // 30 + 30 + 30 fits in 100, a fourth would not
        assert_eq!(ids(&chosen), ids(&files[..3]));
        // the next merge takes the next oldest
        let rest: Vec<ParquetFile> = files[3..].to_vec();
        assert_eq!(ids(&plan(&rest, 100, 2, &HashSet::new())), ids(&rest));
    }
}
