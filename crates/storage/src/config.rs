//! What the caller tells storage: the tables it stores and how durable and how big things get.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use arrow::datatypes::{DataType, Schema, SchemaRef, TimeUnit};

use crate::error::{Error, Result};

/// A table the store keeps: its schema and how its files are laid out.
#[derive(Debug, Clone)]
pub struct TableSpec {
    /// Directory name under the data directory and the table tag in WAL records
    /// (`[a-z0-9_]`, at most 64 bytes).
    pub name: &'static str,
    pub schema: SchemaRef,
    /// A `Timestamp(Nanosecond, _)` column without nulls; rows are partitioned by its UTC hour.
    pub time_column: &'static str,
    /// Sort order of the rows inside each Parquet file, e.g. `["trace_id", "start_time"]`.
    pub sort_columns: Vec<&'static str>,
    /// Columns that get a Parquet bloom filter, e.g. `["trace_id"]`.
    pub bloom_filter_columns: Vec<&'static str>,
    /// Columns of `schema` that Parquet files leave out because readers compute them from
    /// other columns (`spans.end_time` is `start_time + duration_ns`). The head and the WAL keep
    /// them; files written before a column became derived may still hold it. Never the time,
    /// sort or bloom-filter columns.
    pub derived_columns: Vec<&'static str>,
}

/// Names a table may not take: they are directories of the store itself.
const RESERVED_TABLE_NAMES: &[&str] = &["wal"];

impl TableSpec {
    /// The schema of the table's Parquet files: `schema` without the derived columns.
    pub fn file_schema(&self) -> SchemaRef {
        if self.derived_columns.is_empty() {
            return Arc::clone(&self.schema);
        }
        let fields: Vec<_> = self
            .schema
            .fields()
            .iter()
            .filter(|f| !self.derived_columns.contains(&f.name().as_str()))
            .cloned()
            .collect();
        Arc::new(Schema::new_with_metadata(
            fields,
            self.schema.metadata().clone(),
        ))
    }

    /// Checks the spec against its own schema; `open` refuses a spec that fails.
    pub(crate) fn validate(&self) -> Result<()> {
        let bad = |reason: String| {
            Err(Error::InvalidConfig(format!(
                "table {:?}: {reason}",
                self.name
            )))
        };
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 64
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if !name_ok {
            return bad("name must be 1 to 64 characters of [a-z0-9_]".into());
        }
        if RESERVED_TABLE_NAMES.contains(&self.name) {
            return bad("name is reserved".into());
        }
        match self.schema.field_with_name(self.time_column) {
            Ok(field) => {
                if !matches!(
                    field.data_type(),
                    DataType::Timestamp(TimeUnit::Nanosecond, _)
                ) {
                    return bad(format!(
                        "time column {:?} must be Timestamp(Nanosecond, \"UTC\"), found {}",
                        self.time_column,
                        field.data_type()
                    ));
                }
            }
            Err(_) => {
                return bad(format!(
                    "time column {:?} is not in the schema",
                    self.time_column
                ));
            }
        }
        for column in &self.derived_columns {
            if self.schema.field_with_name(column).is_err() {
                return bad(format!("derived column {column:?} is not in the schema"));
            }
            let stored_by_files = *column == self.time_column
                || self.sort_columns.contains(column)
                || self.bloom_filter_columns.contains(column);
            if stored_by_files {
                return bad(format!(
                    "column {column:?} is a time, sort or bloom column and cannot be derived"
                ));
            }
        }
        for column in self.sort_columns.iter().chain(&self.bloom_filter_columns) {
            let Ok(field) = self.schema.field_with_name(column) else {
                return bad(format!("column {column:?} is not in the schema"));
            };
            if field.data_type().is_nested() {
                return bad(format!(
                    "column {column:?} is nested; sort and bloom columns must be flat"
                ));
            }
        }
        Ok(())
    }
}

/// When the WAL writer calls `fdatasync`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SyncPolicy {
    /// fsync every group commit before acknowledging it: survives power loss.
    #[default]
    Always,
    /// fsync at most once per interval; acknowledge after `write()`.
    Interval(Duration),
    /// `write()` only: survives `kill -9` of the process, not power loss.
    Never,
}

impl FromStr for SyncPolicy {
    type Err = Error;

    fn from_str(input: &str) -> Result<Self> {
        let err = |reason| Error::InvalidSyncPolicy {
            input: input.to_string(),
            reason,
        };
        let text = input.trim().to_ascii_lowercase();
        match text.as_str() {
            "always" => return Ok(Self::Always),
            "never" => return Ok(Self::Never),
            _ => {}
        }
        let duration_text = text.strip_prefix("interval:").unwrap_or(&text).trim();
        let interval = parse_duration(duration_text).map_err(err)?;
        if interval.is_zero() {
            return Err(err("the interval must be greater than zero"));
        }
        Ok(Self::Interval(interval))
    }
}

impl fmt::Display for SyncPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Always => f.write_str("always"),
            Self::Never => f.write_str("never"),
            Self::Interval(interval) => write!(f, "interval:{}ms", interval.as_millis()),
        }
    }
}

impl serde::Serialize for SyncPolicy {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for SyncPolicy {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Parses `<integer><unit>` with unit `us`, `ms`, `s`, `m` or `h`.
fn parse_duration(text: &str) -> std::result::Result<Duration, &'static str> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or("a duration needs a unit: us, ms, s, m or h")?;
    let (digits, unit) = text.split_at(split);
    if digits.is_empty() {
        return Err("a duration starts with a whole number");
    }
    let value: u64 = digits.parse().map_err(|_| "the number is too large")?;
    let micros_per_unit: u64 = match unit.trim() {
        "us" | "µs" => 1,
        "ms" => 1_000,
        "s" | "sec" => 1_000_000,
        "m" | "min" => 60_000_000,
        "h" => 3_600_000_000,
        _ => return Err("unknown unit: use us, ms, s, m or h"),
    };
    let micros = value
        .checked_mul(micros_per_unit)
        .ok_or("the duration is too large")?;
    Ok(Duration::from_micros(micros))
}

/// Sizes and policies of the store. `Default` gives the production defaults with `./data`.
#[derive(Debug, Clone)]
pub struct StorageConfig {
    pub data_dir: PathBuf,
    pub wal_sync: SyncPolicy,
    /// Rotate to a new WAL segment once the current one is this large.
    pub wal_segment_bytes: u64,
    /// A table whose head holds this much Arrow memory is flushed.
    pub flush_max_bytes: usize,
    /// A head whose oldest batch arrived this long ago is flushed.
    pub flush_max_age: Duration,
    /// While all heads together hold more than this, [`Storage::pressure`] reports it (receivers
    /// wait, then refuse new requests), and `append` refuses with `Error::Backpressure` once they
    /// hold an eighth more: requests admitted just before the head filled still get in.
    ///
    /// [`Storage::pressure`]: crate::Storage::pressure
    pub head_limit_bytes: usize,
    /// `append` refuses with `Error::Backpressure` while more than this waits for the WAL writer.
    pub wal_queue_limit_bytes: usize,
    /// Rows per Parquet row group.
    pub row_group_rows: usize,
    /// Threads a flush copies and encodes the columns of a row group on (at least 1).
    pub flush_threads: usize,
    /// Compaction merges the small files of an hour partition into files of up to this many
    /// bytes (files of at least half of it are left alone). `0` turns compaction off.
    pub compaction_target_bytes: u64,
    /// A partition is compacted once it holds at least this many small files.
    pub compaction_min_files: usize,
    /// How long the files a merge replaced stay on disk after it, for queries that started
    /// before it; longer than the longest query.
    pub compaction_grace: Duration,
    /// Files whose newest row is older than this (by the wall clock) are deleted; `None`
    /// keeps them.
    pub retention_age: Option<Duration>,
    /// While the Parquet files of all tables take more bytes than this, the files with the
    /// oldest rows are deleted; `None`: no limit.
    pub retention_max_bytes: Option<u64>,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./data"),
            wal_sync: SyncPolicy::Always,
            wal_segment_bytes: 64 << 20,
            flush_max_bytes: 128 << 20,
            flush_max_age: Duration::from_secs(300),
            head_limit_bytes: 320 << 20,
            wal_queue_limit_bytes: 64 << 20,
            row_group_rows: 65_536,
            flush_threads: default_flush_threads(),
            compaction_target_bytes: 128 << 20,
            compaction_min_files: 8,
            compaction_grace: Duration::from_secs(300),
            retention_age: None,
            retention_max_bytes: None,
        }
    }
}

/// The CPUs of the machine, at most 4: a flush then takes a fraction of the time during which
/// ingest may hit the head limit, and encodes no more slowly when the CPUs are busy.
pub fn default_flush_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
}

impl StorageConfig {
    pub(crate) fn validate(&self) -> Result<()> {
        if self.flush_threads == 0 {
            return Err(Error::InvalidConfig(
                "flush_threads must be greater than zero".into(),
            ));
        }
        if self.row_group_rows == 0 {
            return Err(Error::InvalidConfig(
                "row_group_rows must be greater than zero".into(),
            ));
        }
        if self.compaction_min_files < 2 {
            return Err(Error::InvalidConfig(
                "compaction_min_files must be at least 2".into(),
            ));
        }
        if self.retention_age.is_some_and(|age| age.is_zero()) {
            return Err(Error::InvalidConfig(
                "retention_age must be greater than zero (leave it out to keep every file)".into(),
            ));
        }
        if self.retention_max_bytes == Some(0) {
            return Err(Error::InvalidConfig(
                "retention_max_bytes must be greater than zero (leave it out for no limit)".into(),
            ));
        }
        if self.flush_max_age.is_zero() {
            return Err(Error::InvalidConfig(
                "flush_max_age must be greater than zero".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_policy_parses_names_and_durations() {
        let cases = [
            ("always", SyncPolicy::Always),
            ("ALWAYS", SyncPolicy::Always),
            (" never ", SyncPolicy::Never),
            (
                "interval:100ms",
                SyncPolicy::Interval(Duration::from_millis(100)),
            ),
            ("interval: 2s", SyncPolicy::Interval(Duration::from_secs(2))),
            ("100ms", SyncPolicy::Interval(Duration::from_millis(100))),
            ("1s", SyncPolicy::Interval(Duration::from_secs(1))),
            ("5m", SyncPolicy::Interval(Duration::from_secs(300))),
            ("250us", SyncPolicy::Interval(Duration::from_micros(250))),
        ];
        for (input, expect) in cases {
            assert_eq!(input.parse::<SyncPolicy>().unwrap(), expect, "{input}");
        }
    }

    #[test]
    fn sync_policy_rejects_bad_input_with_clear_text() {
        for input in [
            "",
            "sometimes",
            "interval:",
            "100",
            "ms",
            "0ms",
            "10 parsecs",
            "interval:-1s",
        ] {
            let err = input.parse::<SyncPolicy>().unwrap_err();
            let text = err.to_string();
            assert!(text.contains("invalid wal sync policy"), "{text}");
            assert!(text.contains("always"), "{text}");
        }
    }

    #[test]
    fn sync_policy_display_round_trips() {
        for policy in [
            SyncPolicy::Always,
            SyncPolicy::Never,
            SyncPolicy::Interval(Duration::from_millis(100)),
        ] {
            assert_eq!(policy.to_string().parse::<SyncPolicy>().unwrap(), policy);
        }
    }
}
