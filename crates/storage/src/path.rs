//! Every path under the data directory is built here, and only here.
//!
//! ```text
//! <data>/LOCK                                               held while a Storage is open
//! <data>/wal/<first-seq:020>.wal                            WAL segments
//! <data>/wal/checkpoint.json                                flush commit point
//! <data>/.staging/<flush-ulid>/<partitioned path>           files of a flush before its commit
//! <data>/<table>/date=YYYY-MM-DD/hour=HH/<ulid>.parquet     immutable partition files
//! ```
//!
//! A tenant level (`<data>/<tenant>/<table>/...`, DESIGN.md §5) will be one more field of
//! [`PartitionedPath`] and one more component in `Display`/`FromStr`.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use ulid::Ulid;

use crate::error::Error;

const NANOS_PER_HOUR: i64 = 3_600_000_000_000;
const PARQUET_EXTENSION: &str = ".parquet";
pub(crate) const WAL_EXTENSION: &str = "wal";

/// A UTC calendar date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PartitionDate {
    pub year: i32,
    pub month: u8,
    pub day: u8,
}

impl PartitionDate {
    /// The date of a day number counted from 1970-01-01 (Howard Hinnant's `civil_from_days`).
    fn from_days_since_epoch(days: i64) -> Self {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        Self {
            // i64 nanoseconds span the years 1677..=2262, so these narrowings never lose data.
            year: year as i32,
            month: month as u8,
            day: day as u8,
        }
    }

    /// Day number counted from 1970-01-01 (Howard Hinnant's `days_from_civil`).
    fn days_since_epoch(self) -> i64 {
        let month = i64::from(self.month);
        let year = i64::from(self.year) - i64::from(month <= 2);
        let era = year.div_euclid(400);
        let yoe = year.rem_euclid(400);
        let mp = (month + 9) % 12;
        let doy = (153 * mp + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }
}

impl fmt::Display for PartitionDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// A UTC hour: the time partition of a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PartitionHour {
    pub date: PartitionDate,
    pub hour: u8,
}

impl PartitionHour {
    /// Hours since 1970-01-01T00 (floor, so times before the epoch work too).
    pub(crate) fn index_of(timestamp_ns: i64) -> i64 {
        timestamp_ns.div_euclid(NANOS_PER_HOUR)
    }

    pub(crate) fn from_index(hour_index: i64) -> Self {
        Self {
            date: PartitionDate::from_days_since_epoch(hour_index.div_euclid(24)),
            // rem_euclid(24) is in 0..24
            hour: hour_index.rem_euclid(24) as u8,
        }
    }

    pub fn from_timestamp_ns(timestamp_ns: i64) -> Self {
        Self::from_index(Self::index_of(timestamp_ns))
    }

    /// First nanosecond of the hour.
    pub fn start_ns(self) -> i64 {
        (self.date.days_since_epoch() * 24 + i64::from(self.hour)).saturating_mul(NANOS_PER_HOUR)
    }
}

/// Where one Parquet file lives, relative to the data directory:
/// `<table>/date=YYYY-MM-DD/hour=HH/<ULID>.parquet`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PartitionedPath {
    pub table: String,
    pub partition: PartitionHour,
    pub file_id: Ulid,
}

impl PartitionedPath {
    /// A new, unique file in the given partition.
    pub fn new_file(table: &str, partition: PartitionHour) -> Self {
        Self {
            table: table.to_string(),
            partition,
            file_id: Ulid::new(),
        }
    }

    /// The directory of the table, relative to the data directory.
    pub fn table_dir(table: &str) -> PathBuf {
        PathBuf::from(table)
    }

    /// The path relative to the data directory, with the platform's separators.
    pub fn to_relative_path(&self) -> PathBuf {
        let mut path = Self::table_dir(&self.table);
        path.push(format!("date={}", self.partition.date));
        path.push(format!("hour={:02}", self.partition.hour));
        path.push(format!("{}{PARQUET_EXTENSION}", self.file_id));
        path
    }

    /// Parses a relative path as found on disk.
    pub fn from_relative_path(path: &Path) -> Result<Self, Error> {
        let components: Vec<&str> = path
            .components()
            .map(|c| c.as_os_str().to_str())
            .collect::<Option<_>>()
            .ok_or_else(|| Error::InvalidPath {
                path: path.display().to_string(),
                reason: "not valid utf-8",
            })?;
        components.join("/").parse()
    }
}

impl fmt::Display for PartitionedPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/date={}/hour={:02}/{}{PARQUET_EXTENSION}",
            self.table, self.partition.date, self.partition.hour, self.file_id
        )
    }
}

impl FromStr for PartitionedPath {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        let err = |reason| Error::InvalidPath {
            path: text.to_string(),
            reason,
        };
        let parts: Vec<&str> = text.split('/').collect();
        let [table, date, hour, file] = parts.as_slice() else {
            return Err(err(
                "expected <table>/date=YYYY-MM-DD/hour=HH/<ulid>.parquet",
            ));
        };
        if table.is_empty() || table.starts_with('.') {
            return Err(err("bad table name"));
        }
        let date = date
            .strip_prefix("date=")
            .ok_or_else(|| err("missing date="))?;
        let date = parse_date(date).ok_or_else(|| err("bad date"))?;
        let hour = hour
            .strip_prefix("hour=")
            .ok_or_else(|| err("missing hour="))?;
        if hour.len() != 2 {
            return Err(err("hour must have two digits"));
        }
        let hour: u8 = hour.parse().map_err(|_| err("bad hour"))?;
        if hour > 23 {
            return Err(err("hour out of range"));
        }
        let file_id = file
            .strip_suffix(PARQUET_EXTENSION)
            .ok_or_else(|| err("not a .parquet file"))?;
        let file_id = Ulid::from_string(file_id).map_err(|_| err("file name is not a ulid"))?;
        Ok(Self {
            table: (*table).to_string(),
            partition: PartitionHour { date, hour },
            file_id,
        })
    }
}

fn parse_date(text: &str) -> Option<PartitionDate> {
    let bytes = text.as_bytes();
    if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return None;
    }
    let year: i32 = text.get(0..4)?.parse().ok()?;
    let month: u8 = text.get(5..7)?.parse().ok()?;
    let day: u8 = text.get(8..10)?.parse().ok()?;
    let date = PartitionDate { year, month, day };
    // reject 2026-02-30 and friends: a real date survives the round trip through day numbers
    (PartitionDate::from_days_since_epoch(date.days_since_epoch()) == date
        && (1..=12).contains(&month))
    .then_some(date)
}

/// The fixed directories and files of a data directory.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    root: PathBuf,
}

impl Layout {
    pub(crate) fn new(root: PathBuf) -> Self {
        Self { root }
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    pub(crate) fn lock_file(&self) -> PathBuf {
        self.root.join("LOCK")
    }

    pub(crate) fn wal_dir(&self) -> PathBuf {
        self.root.join("wal")
    }

    pub(crate) fn segment(&self, first_seq: u64) -> PathBuf {
        self.wal_dir()
            .join(format!("{first_seq:020}.{WAL_EXTENSION}"))
    }

    /// The first sequence number of a segment, from its file name.
    pub(crate) fn parse_segment_name(file_name: &str) -> Option<u64> {
        let stem = file_name.strip_suffix(WAL_EXTENSION)?.strip_suffix('.')?;
        if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        stem.parse().ok()
    }

    pub(crate) fn checkpoint(&self) -> PathBuf {
        self.wal_dir().join("checkpoint.json")
    }

    pub(crate) fn checkpoint_tmp(&self) -> PathBuf {
        self.wal_dir().join("checkpoint.json.tmp")
    }

    /// `.staging`, relative to the data directory.
    pub(crate) fn staging_root() -> PathBuf {
        PathBuf::from(".staging")
    }

    /// `.staging/<flush-id>`, relative to the data directory.
    pub(crate) fn staging_dir(flush_id: Ulid) -> PathBuf {
        Self::staging_root().join(flush_id.to_string())
    }

    /// Where a file of a flush is written before the commit point, relative to the data directory.
    pub(crate) fn staged_file(flush_id: Ulid, file: &PartitionedPath) -> PathBuf {
        Self::staging_dir(flush_id).join(file.to_relative_path())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ULID: &str = "01JABCDEFGHJKMNPQRSTVWXYZ0";

    fn sample() -> PartitionedPath {
        PartitionedPath {
            table: "spans".into(),
            partition: PartitionHour {
                date: PartitionDate {
                    year: 2026,
                    month: 11,
                    day: 25,
                },
                hour: 7,
            },
            file_id: Ulid::from_string(ULID).unwrap(),
        }
    }

    #[test]
    fn layout_string_is_pinned() {
        let path = sample();
        assert_eq!(
            path.to_string(),
            format!("spans/date=2026-11-25/hour=07/{ULID}.parquet")
        );
        assert_eq!(
            path.to_relative_path(),
            Path::new("spans")
                .join("date=2026-11-25")
                .join("hour=07")
                .join(format!("{ULID}.parquet"))
        );
    }

    #[test]
    fn display_and_parse_round_trip() {
        let path = sample();
        assert_eq!(path.to_string().parse::<PartitionedPath>().unwrap(), path);
        assert_eq!(
            PartitionedPath::from_relative_path(&path.to_relative_path()).unwrap(),
            path
        );
    }

    #[test]
    fn parse_rejects_foreign_paths() {
        for bad in [
            "spans/date=2026-11-25/hour=07",
            "spans/date=2026-11-25/hour=7/01JABCDEFGHJKMNPQRSTVWXYZ0.parquet",
            "spans/date=2026-11-25/hour=24/01JABCDEFGHJKMNPQRSTVWXYZ0.parquet",
            "spans/date=2026-02-30/hour=07/01JABCDEFGHJKMNPQRSTVWXYZ0.parquet",
            "spans/date=2026-13-01/hour=07/01JABCDEFGHJKMNPQRSTVWXYZ0.parquet",
            "spans/day=2026-11-25/hour=07/01JABCDEFGHJKMNPQRSTVWXYZ0.parquet",
            "spans/date=2026-11-25/hour=07/not-a-ulid.parquet",
            "spans/date=2026-11-25/hour=07/01JABCDEFGHJKMNPQRSTVWXYZ0.parquet.tmp",
            ".staging/date=2026-11-25/hour=07/01JABCDEFGHJKMNPQRSTVWXYZ0.parquet",
            "tenant/spans/date=2026-11-25/hour=07/01JABCDEFGHJKMNPQRSTVWXYZ0.parquet",
        ] {
            assert!(bad.parse::<PartitionedPath>().is_err(), "{bad}");
        }
    }

    #[test]
    fn hour_partition_of_timestamps() {
        // 2026-11-25T07:59:59.999999999Z and the next nanosecond
        let base = PartitionHour {
            date: PartitionDate {
                year: 2026,
                month: 11,
                day: 25,
            },
            hour: 7,
        };
        let start = base.start_ns();
        assert_eq!(start, 1_795_590_000_000_000_000);
        assert_eq!(PartitionHour::from_timestamp_ns(start), base);
        assert_eq!(
            PartitionHour::from_timestamp_ns(start + NANOS_PER_HOUR - 1),
            base
        );
        let next = PartitionHour::from_timestamp_ns(start + NANOS_PER_HOUR);
        assert_eq!(next.hour, 8);
        // midnight rolls the date, including month and year ends and leap days
        let cases = [
            (0, "1970-01-01", 0),
            (-1, "1969-12-31", 23),
            (951_782_400_000_000_000, "2000-02-29", 0),
            (1_798_761_599_000_000_000, "2026-12-31", 23),
            (1_798_761_600_000_000_000, "2027-01-01", 0),
        ];
        for (ns, date, hour) in cases {
            let partition = PartitionHour::from_timestamp_ns(ns);
            assert_eq!(
                (partition.date.to_string().as_str(), partition.hour),
                (date, hour),
                "{ns}"
            );
        }
    }

    #[test]
    fn days_round_trip_over_centuries() {
        for days in (-106_000..106_000).step_by(37) {
            let date = PartitionDate::from_days_since_epoch(days);
            assert_eq!(date.days_since_epoch(), days);
        }
    }

    #[test]
    fn segment_names() {
        let layout = Layout::new(PathBuf::from("/d"));
        assert_eq!(
            layout.segment(42),
            Path::new("/d/wal/00000000000000000042.wal")
        );
        assert_eq!(
            Layout::parse_segment_name("00000000000000000042.wal"),
            Some(42)
        );
        assert_eq!(Layout::parse_segment_name("42.wal"), None);
        assert_eq!(Layout::parse_segment_name("checkpoint.json"), None);
        assert_eq!(
            Layout::parse_segment_name("00000000000000000042.wal.tmp"),
            None
        );
    }
}
