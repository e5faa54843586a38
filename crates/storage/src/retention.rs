//! Retention: Parquet files leave the store by age and by the total size of a data directory.
//!
//! 1. **By age** (`retention_age`): a file whose newest row (the largest value of its table's
//!    time column) is older than the age, measured from the wall clock, is taken out.
//! 2. **By size** (`retention_max_bytes`): while the files of all tables together take more
//!    bytes than the limit, the file with the oldest newest row is taken out, whatever its
//!    table.
//!
//! Whole files go, never rows of a file. A file taken out leaves the catalog at once (a
//! snapshot taken later does not see it) and is deleted `compaction_grace` later, as a merge's
//! sources are, so that a query already reading it finishes. Retention holds the compaction
//! lock, so no merge copies a file it takes out. The head is never touched: rows reach
//! retention only once flushed. A crash between the two steps leaves the file on disk and
//! listed at the next `open`, and the next pass takes it out again.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::self_metrics as m;
use crate::storage::Inner;

/// What one pass of retention took out (see
/// [`Storage::apply_retention`](crate::Storage::apply_retention)).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionStats {
    /// Files older than `retention_age`.
    pub files_expired: usize,
    /// Files taken out to bring the store under `retention_max_bytes`.
    pub files_over_size: usize,
    pub rows: u64,
    pub bytes: u64,
}

impl RetentionStats {
    pub fn files(&self) -> usize {
        self.files_expired + self.files_over_size
    }
}

/// Nanoseconds since the Unix epoch, now.
pub(crate) fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// One pass of retention at wall-clock time `now_ns`.
pub(crate) async fn apply(inner: &Arc<Inner>, now_ns: i64) -> RetentionStats {
    let (age, max_bytes) = (inner.config.retention_age, inner.config.retention_max_bytes);
    if age.is_none() && max_bytes.is_none() {
        return RetentionStats::default();
    }
    let _merging = inner.compaction_lock.lock().await;
    let mut stats = RetentionStats::default();
    let gone = {
        let mut state = inner.shared.state.lock();
        let mut gone = Vec::new();
        if let Some(age) = age {
            let age_ns = i64::try_from(age.as_nanos()).unwrap_or(i64::MAX);
            let cutoff = now_ns.saturating_sub(age_ns);
            for table in &mut state.tables {
                let expired = table.catalog.take(|file| file.max_time_ns < cutoff);
                stats.files_expired += expired.len();
                gone.extend(expired);
            }
        }
        if let Some(max_bytes) = max_bytes {
            let total: u64 = state.tables.iter().map(|t| t.catalog.bytes()).sum();
            if total > max_bytes {
                // oldest newest row first; the file id (a ULID, made at write time) breaks ties
                let mut candidates: Vec<(i64, ulid::Ulid, usize, u64)> = state
                    .tables
                    .iter()
                    .enumerate()
                    .flat_map(|(table, t)| {
                        t.catalog
                            .files()
                            .iter()
                            .map(move |f| (f.max_time_ns, f.relative.file_id, table, f.size_bytes))
                    })
                    .collect();
                candidates.sort_unstable();
                let mut chosen: Vec<HashSet<ulid::Ulid>> = vec![HashSet::new(); state.tables.len()];
                let mut excess = total - max_bytes;
                for (_, id, table, size) in candidates {
                    if excess == 0 {
                        break;
                    }
                    chosen[table].insert(id);
                    excess = excess.saturating_sub(size);
                }
                for (table, ids) in state.tables.iter_mut().zip(&chosen) {
                    if ids.is_empty() {
                        continue;
                    }
                    let over = table
                        .catalog
                        .take(|file| ids.contains(&file.relative.file_id));
                    stats.files_over_size += over.len();
                    gone.extend(over);
                }
            }
        }
        gone
    };
    if gone.is_empty() {
        return stats;
    }
    stats.rows = gone.iter().map(|f| f.rows).sum();
    stats.bytes = gone.iter().map(|f| f.size_bytes).sum();
    crate::compaction::retire(inner, &gone);
    for (reason, files) in [
        ("age", stats.files_expired),
        ("size", stats.files_over_size),
    ] {
        metrics::counter!(m::RETENTION_FILES_TOTAL, "reason" => reason).increment(files as u64);
    }
    metrics::counter!(m::RETENTION_BYTES_TOTAL).increment(stats.bytes);
    tracing::info!(
        expired = stats.files_expired,
        over_size = stats.files_over_size,
        rows = stats.rows,
        bytes = stats.bytes,
        "retention took parquet files out"
    );
    stats
}
