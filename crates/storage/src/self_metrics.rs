//! Self-metrics of storage, through the `metrics` facade.

use metrics::Unit;

pub(crate) const WAL_RECORDS_TOTAL: &str = "meshscope_wal_records_total";
pub(crate) const WAL_BYTES_TOTAL: &str = "meshscope_wal_bytes_total";
pub(crate) const WAL_FSYNC_SECONDS: &str = "meshscope_wal_fsync_seconds";
pub(crate) const WAL_QUEUE_BYTES: &str = "meshscope_wal_queue_bytes";
pub(crate) const FLUSH_TOTAL: &str = "meshscope_flush_total";
pub(crate) const FLUSH_ROWS_TOTAL: &str = "meshscope_flush_rows_total";
pub(crate) const FLUSH_BYTES_TOTAL: &str = "meshscope_flush_bytes_total";
pub(crate) const FLUSH_SECONDS: &str = "meshscope_flush_seconds";
pub(crate) const COMPACTION_TOTAL: &str = "meshscope_compaction_total";
pub(crate) const COMPACTION_FILES_TOTAL: &str = "meshscope_compaction_files_total";
pub(crate) const COMPACTION_BYTES_TOTAL: &str = "meshscope_compaction_bytes_total";
pub(crate) const RETENTION_FILES_TOTAL: &str = "meshscope_retention_files_total";
pub(crate) const RETENTION_BYTES_TOTAL: &str = "meshscope_retention_bytes_total";
pub(crate) const HEAD_BYTES: &str = "meshscope_head_bytes";
pub(crate) const HEAD_ROWS: &str = "meshscope_head_rows";

/// Registers descriptions and units of storage's metrics with the installed recorder.
/// The binary calls it once, after installing its exporter.
pub fn describe_metrics() {
    metrics::describe_counter!(
        WAL_RECORDS_TOTAL,
        Unit::Count,
        "records written to the write-ahead log"
    );
    metrics::describe_counter!(
        WAL_BYTES_TOTAL,
        Unit::Bytes,
        "bytes written to the write-ahead log"
    );
    metrics::describe_histogram!(
        WAL_FSYNC_SECONDS,
        Unit::Seconds,
        "time of one write-ahead log fsync (one per group commit)"
    );
    metrics::describe_gauge!(
        WAL_QUEUE_BYTES,
        Unit::Bytes,
        "bytes queued for the write-ahead log writer"
    );
    metrics::describe_counter!(
        FLUSH_TOTAL,
        Unit::Count,
        "flushes of the head into parquet files"
    );
    metrics::describe_counter!(
        FLUSH_ROWS_TOTAL,
        Unit::Count,
        "rows written to parquet files by flushes"
    );
    metrics::describe_counter!(
        FLUSH_BYTES_TOTAL,
        Unit::Bytes,
        "bytes of parquet files written by flushes"
    );
    metrics::describe_histogram!(FLUSH_SECONDS, Unit::Seconds, "duration of one flush");
    metrics::describe_counter!(
        COMPACTION_TOTAL,
        Unit::Count,
        "merges of small parquet files into one"
    );
    metrics::describe_counter!(
        COMPACTION_FILES_TOTAL,
        Unit::Count,
        "parquet files replaced by merges"
    );
    metrics::describe_counter!(
        COMPACTION_BYTES_TOTAL,
        Unit::Bytes,
        "bytes of parquet files written by merges"
    );
    metrics::describe_counter!(
        RETENTION_FILES_TOTAL,
        Unit::Count,
        "parquet files taken out by retention, by reason (age, size)"
    );
    metrics::describe_counter!(
        RETENTION_BYTES_TOTAL,
        Unit::Bytes,
        "bytes of parquet files taken out by retention"
    );
    metrics::describe_gauge!(
        HEAD_BYTES,
        Unit::Bytes,
        "arrow memory of the in-memory head, per table"
    );
    metrics::describe_gauge!(
        HEAD_ROWS,
        Unit::Count,
        "rows in the in-memory head, per table"
    );
}
