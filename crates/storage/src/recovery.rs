//! `Storage::open`: bring the data directory back to a consistent state and build the store.
//!
//! 1. Read the checkpoint (missing: nothing flushed).
//! 2. Roll forward the flush it names as pending (move its staged files into place); delete any
//!    other staging directory (never committed: its rows replay from the WAL).
//! 3. List the Parquet files into the catalogs.
//! 4. Replay WAL records with `seq > flushed_through_seq` into the heads, cutting a torn tail.
//! 5. Delete WAL segments that hold only flushed records, and start the WAL writer.

use std::collections::HashSet;
use std::fs::{self, File, TryLockError};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize};

use parking_lot::Mutex;
use tokio::sync::Notify;
use ulid::Ulid;

use crate::catalog::Catalog;
use crate::checkpoint::Checkpoint;
use crate::config::{StorageConfig, TableSpec};
use crate::error::{Error, IoContext, Result};
use crate::head::HeadBatch;
use crate::path::{Layout, PartitionedPath};
use crate::storage::{Inner, Shared, State, TableState, conform};
use crate::store::{LocalDisk, PartitionStore, create_dir_all_durable};
use crate::wal::{self, WalShared};
use crate::wal_writer::{WalWriter, WriterOptions};

pub(crate) fn open_blocking(config: StorageConfig, specs: Vec<TableSpec>) -> Result<Inner> {
    config.validate()?;
    let mut names = HashSet::new();
    for spec in &specs {
        spec.validate()?;
        if !names.insert(spec.name) {
            return Err(Error::InvalidConfig(format!(
                "table {:?} is registered twice",
                spec.name
            )));
        }
    }

    fs::create_dir_all(&config.data_dir).at(&config.data_dir)?;
    // absolute, so that the paths handed out in `ParquetFile::path` are
    let root = &fs::canonicalize(&config.data_dir).at(&config.data_dir)?;
    let layout = Layout::new(root.clone());
    let lock_file = lock_data_dir(&layout)?;
    create_dir_all_durable(layout.root(), Path::new("wal"))?;
    let store: Arc<dyn PartitionStore> = Arc::new(LocalDisk::new(root.clone()));

    let checkpoint = Checkpoint::load(&layout)?;
    resolve_staging(store.as_ref(), checkpoint.pending_flush)?;

    let mut tables = Vec::with_capacity(specs.len());
    for spec in &specs {
        tables.push(TableState {
            catalog: Catalog::load(store.as_ref(), spec)?,
            ..TableState::default()
        });
    }

    let mut skipped = 0u64;
    let outcome = wal::replay(
        &layout,
        checkpoint.flushed_through_seq,
        |seq, table, batch| {
            let Some(index) = specs.iter().position(|s| s.name == table) else {
                tracing::warn!(seq, table, "skipping wal record of an unregistered table");
                skipped += 1;
                return Ok(());
            };
            match conform(&specs[index], batch)
                .and_then(|batch| HeadBatch::new(&specs[index], batch))
            {
                Ok(batch) => {
                    tables[index].head.push(seq, batch);
                }
                Err(e) => {
                    tracing::error!(seq, table, error = %e, "skipping wal record that no longer fits its table");
                    skipped += 1;
                }
            }
            Ok(())
        },
    )?;

    let wal_shared = Arc::new(WalShared::new(&outcome.segments));
    let deleted = wal_shared.delete_through(&layout, checkpoint.flushed_through_seq)?;
    let next_seq = outcome
        .last_seq
        .max(checkpoint.flushed_through_seq)
        .max(outcome.last_segment_first_seq.saturating_sub(1))
        + 1;

    let table_names: Vec<&'static str> = specs.iter().map(|s| s.name).collect();
    let head_bytes: usize = tables.iter().map(|t| t.head.bytes()).sum();
    tracing::info!(
        data_dir = %root.display(),
        flushed_through_seq = checkpoint.flushed_through_seq,
        replayed = outcome.replayed,
        skipped,
        head_bytes,
        files = tables.iter().map(|t| t.catalog.files().len()).sum::<usize>(),
        wal_segments_deleted = deleted,
        next_seq,
        "storage opened"
    );

    let shared = Arc::new(Shared {
        state: Mutex::new(State { tables }),
        head_bytes: AtomicUsize::new(head_bytes),
        flush_wanted: Notify::new(),
        room: Notify::new(),
        table_names: table_names.clone(),
        flush_max_bytes: config.flush_max_bytes,
        flush_max_age: config.flush_max_age,
        head_limit_bytes: config.head_limit_bytes,
    });
    shared.publish_gauges(&shared.state.lock());
    let apply_to = Arc::clone(&shared);
    let wal = WalWriter::start(
        WriterOptions {
            layout: layout.clone(),
            policy: config.wal_sync,
            segment_bytes: config.wal_segment_bytes,
            next_seq,
            table_names,
        },
        Arc::clone(&wal_shared),
        Box::new(move |committed| apply_to.apply(committed)),
    )?;

    Ok(Inner {
        config,
        layout,
        specs,
        store,
        shared,
        wal,
        wal_shared,
        flush_lock: tokio::sync::Mutex::new(()),
        compaction_lock: tokio::sync::Mutex::new(()),
        obsolete: Mutex::new(Vec::new()),
        unmergeable: Mutex::new(Default::default()),
        flushed_through_seq: AtomicU64::new(checkpoint.flushed_through_seq),
        closed: AtomicBool::new(false),
        _lock_file: lock_file,
        #[cfg(test)]
        flush_hook: Mutex::new(None),
    })
}

/// Takes an exclusive `flock` on `<data>/LOCK`, held for as long as the returned file is open.
fn lock_data_dir(layout: &Layout) -> Result<File> {
    let path = layout.lock_file();
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .at(&path)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(Error::Locked {
            path: layout.root().to_path_buf(),
        }),
        Err(TryLockError::Error(e)) => Err(e).at(&path),
    }
}

/// Finishes the committed flush (if its staging directory is still there) and deletes every
/// other staging directory.
pub(crate) fn resolve_staging(store: &dyn PartitionStore, pending: Option<Ulid>) -> Result<()> {
    let root = Layout::staging_root();
    for name in store.list_dirs(&root)? {
        let committed = pending.is_some_and(|id| id.to_string() == name);
        let dir = root.join(&name);
        if committed {
            let moved = roll_forward(store, &dir)?;
            tracing::info!(flush = %name, files = moved, "finished an interrupted flush");
        } else {
            tracing::info!(flush = %name, "discarding an uncommitted flush, its rows replay from the wal");
        }
        store.remove_dir_all(&dir)?;
    }
    Ok(())
}

/// Moves every file under `.staging/<flush>/` to its final place; returns how many moved.
fn roll_forward(store: &dyn PartitionStore, staging_dir: &Path) -> Result<usize> {
    let mut moved = 0;
    for (staged, _) in store.list(staging_dir)? {
        let Ok(relative) = staged.strip_prefix(staging_dir) else {
            continue;
        };
        let Ok(target) = PartitionedPath::from_relative_path(relative) else {
            tracing::warn!(path = %staged.display(), "ignoring a staged file outside the partition layout");
            continue;
        };
        store.rename(&staged, &target.to_relative_path())?;
        moved += 1;
    }
    Ok(moved)
}
