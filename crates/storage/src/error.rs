//! The crate's one error type.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Everything that can go wrong in storage.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `append` or `snapshot` named a table that was not registered at `open`.
    #[error("unknown table {0:?}")]
    UnknownTable(String),

    /// A batch's schema differs from the registered table schema.
    #[error("schema mismatch for table {table}: {detail}")]
    SchemaMismatch { table: String, detail: String },

    /// A batch is well-typed but cannot be stored (e.g. a null partition time).
    #[error("invalid batch for table {table}: {reason}")]
    InvalidBatch { table: String, reason: String },

    /// A `TableSpec` or `StorageConfig` is not usable.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),

    /// The head or the WAL queue is over its limit: retry later.
    #[error("storage is over its memory limit, retry after {retry_after:?}")]
    Backpressure { retry_after: Duration },

    /// The store was shut down (or is shutting down).
    #[error("storage is shut down")]
    Closed,

    /// A write or fsync failed in a way that leaves the in-memory state unknown;
    /// the process must restart so that recovery rebuilds it from disk.
    #[error("storage stopped after a failure and needs a restart: {0}")]
    Poisoned(String),

    /// Another process (or another `Storage` in this one) holds the data directory.
    #[error("data directory {path} is locked by another storage instance")]
    Locked { path: PathBuf },

    /// An I/O error, with the path it happened on.
    #[error("i/o error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// A persisted file is damaged or has an unknown format.
    #[error("corrupt {what} {path}: {detail}")]
    Corrupt {
        what: &'static str,
        path: PathBuf,
        detail: String,
    },

    /// A path under the data directory does not follow the partition layout.
    #[error("invalid partition path {path:?}: {reason}")]
    InvalidPath { path: String, reason: &'static str },

    /// A sync policy string could not be parsed.
    #[error(
        "invalid wal sync policy {input:?}: expected \"always\", \"never\", \"interval:<duration>\" or a duration such as \"100ms\" or \"1s\" ({reason})"
    )]
    InvalidSyncPolicy { input: String, reason: &'static str },

    #[error("arrow error: {0}")]
    Arrow(#[from] arrow::error::ArrowError),

    #[error("parquet error: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),

    /// A blocking task panicked or was cancelled.
    #[error("storage task failed: {0}")]
    Task(#[from] tokio::task::JoinError),

    /// Injected by the crash-simulation hooks of the tests.
    #[cfg(test)]
    #[error("simulated crash at {0}")]
    SimulatedCrash(String),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Attaches the path to an `io::Error`.
pub(crate) trait IoContext<T> {
    fn at(self, path: &Path) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn at(self, path: &Path) -> Result<T> {
        self.map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })
    }
}
