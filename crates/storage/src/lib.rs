//! meshscope's storage: a durable table store, WAL → head → Parquet partitions.
//!
//! # What it owns
//! Batches of Arrow rows for the tables the caller registers with a [`TableSpec`]. An
//! [`append`](Storage::append) writes the batch to the write-ahead log (group commit on a
//! dedicated thread), puts it into the in-memory head where [`snapshot`](Storage::snapshot)
//! sees it, and returns its sequence number. A flush (by size or age in the background task,
//! or [`flush`](Storage::flush)) moves head rows into immutable Parquet files, one per table
//! and UTC hour, sorted and with bloom filters. Compaction ([`compact`](Storage::compact), and
//! the background task) merges an hour's small files into larger ones by copying their row
//! groups. Retention ([`apply_retention`](Storage::apply_retention), and the background task)
//! deletes whole files by age and by the total size of the files:
//!
//! ```text
//! <data>/wal/<first-seq>.wal, checkpoint.json
//! <data>/<table>/date=YYYY-MM-DD/hour=HH/<ulid>.parquet
//! ```
//!
//! # Where it sits
//! `ingest` appends to it and `query` reads [`TableSnapshot`]s from it; `api` reads
//! [`Storage::stats`]. It knows nothing of OTLP, protobuf, HTTP or SQL, nor of spans: the
//! schemas come from the caller.
//!
//! # Key types
//! [`Storage`] (the handle), [`StorageConfig`] and [`SyncPolicy`], [`TableSpec`],
//! [`TableSnapshot`] with its [`ParquetFile`]s and their in-memory [`KeyIndex`], [`PartitionedPath`] (the one place paths of
//! Parquet files are built and parsed), [`Error`].
//!
//! # Durability invariants
//! - Acknowledged means in the WAL: `append` returns only after the record is written, and
//!   under [`SyncPolicy::Always`] (the default) fsynced. `Never` survives `kill -9`, not power loss.
//! - A record is in the head before its `append` returns; every record written is either in the
//!   head or in a Parquet file, never both: a snapshot shows each acknowledged row exactly once,
//!   also while a flush runs.
//! - Sequence numbers are global and strictly increasing across tables and restarts.
//! - A flush is exactly-once across crashes: files are staged, then `checkpoint.json` commits
//!   them with the last flushed sequence number; recovery finishes a committed flush, discards an
//!   uncommitted one, and replays only the WAL records after the checkpoint.
//! - A merge is exactly-once across crashes: the merged file is staged, then renamed into place
//!   (the commit); it replaces its sources in the catalog under the state lock, and the sources
//!   are deleted after a grace. Its footer names them, so `open` deletes any still on disk.
//! - Retention takes whole files out of the catalog under the state lock and deletes them after
//!   the same grace; it never touches the head, so no row is deleted before it is in a file.
//! - A torn WAL tail is cut at the first bad record; garbage is never replayed.
//! - After a failed WAL write or fsync, or a committed flush that could not be moved into
//!   place, the store refuses writes ([`Error::Poisoned`]) until a restart recovers from disk.

// tests may unwrap; the library itself is checked without this in the non-test build
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod catalog;
mod checkpoint;
mod compaction;
mod config;
mod error;
mod flush;
mod head;
mod key_index;
mod parquet_file;
mod path;
mod recovery;
mod retention;
mod self_metrics;
mod stitch;
mod storage;
mod store;
mod wal;
mod wal_writer;

#[cfg(test)]
mod test_util;

pub use crate::{
    compaction::CompactionStats,
    config::{StorageConfig, SyncPolicy, TableSpec, default_flush_threads},
    error::{Error, Result},
    flush::FlushStats,
    key_index::KeyIndex,
    parquet_file::{
        EncodedFile, ParquetFile, encode_parquet, read_parquet_columns, read_parquet_file,
    },
    path::{PartitionDate, PartitionHour, PartitionedPath},
    retention::RetentionStats,
    self_metrics::describe_metrics,
    storage::{Storage, StorageStats, TableSnapshot, TableStats},
};
