//! Reading aggregate rows back (query side): time ranges, RED figures and column access to
//! `span_metrics` / `service_edges` batches, whatever physical string types a reader produced.

use arrow::array::{Array, TimestampNanosecondArray};
use arrow::record_batch::RecordBatch;

use crate::columns::{BinCol, IntCol, StrCol, timestamp_ns};
use crate::error::{Error, Result};
use crate::sketch::LatencySketch;
use crate::tables::{HOUR_NS, col, hour_of};

/// A half-open time range `[start_ns, end_ns)` in Unix nanoseconds. A minute row belongs to
/// the range when its `minute` (the minute's start) is inside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    pub start_ns: i64,
    pub end_ns: i64,
}

impl TimeRange {
    pub fn new(start_ns: i64, end_ns: i64) -> Result<Self> {
        if start_ns >= end_ns {
            return Err(Error::InvalidQuery(format!(
                "empty time range: start {start_ns} is not before end {end_ns}"
            )));
        }
        Ok(Self { start_ns, end_ns })
    }

    pub(crate) fn check(&self) -> Result<()> {
        Self::new(self.start_ns, self.end_ns).map(|_| ())
    }

    pub fn contains(&self, t_ns: i64) -> bool {
        t_ns >= self.start_ns && t_ns < self.end_ns
    }

    /// Length in seconds.
    pub fn seconds(&self) -> f64 {
        (self.end_ns as f64 - self.start_ns as f64) / 1e9
    }
}

/// Rate, errors and duration of a set of calls.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Red {
    pub calls: u64,
    pub errors: u64,
    /// Calls per second over the period.
    pub rate: f64,
    /// `errors / calls`, 0 without calls.
    pub error_rate: f64,
    /// Duration percentiles in nanoseconds, within the sketch's 1 % relative error;
    /// `None` without calls.
    pub p50_ns: Option<f64>,
    pub p95_ns: Option<f64>,
    pub p99_ns: Option<f64>,
}

impl Red {
    pub(crate) fn from_parts(
        calls: u64,
        errors: u64,
        sketch: &LatencySketch,
        seconds: f64,
    ) -> Self {
        Self {
            calls,
            errors,
            rate: if seconds > 0.0 {
                calls as f64 / seconds
            } else {
                0.0
            },
            error_rate: if calls > 0 {
                errors as f64 / calls as f64
            } else {
                0.0
            },
            p50_ns: sketch.quantile(0.50),
            p95_ns: sketch.quantile(0.95),
            p99_ns: sketch.quantile(0.99),
        }
    }
}

/// Aggregate rows to merge: the minute tables and, optionally, their hourly rollups. For
/// every hour inside the asked range that has rollup rows, those are read and the hour's minute
/// rows skipped; every other minute is read from the minute rows. Batches may hold rows
/// outside the range (they are skipped) and may use `Utf8View` / `BinaryView` columns.
#[derive(Debug, Clone, Copy, Default)]
pub struct Aggregates<'a> {
    pub span_metrics: &'a [RecordBatch],
    pub service_edges: &'a [RecordBatch],
    pub span_metrics_hourly: &'a [RecordBatch],
    pub service_edges_hourly: &'a [RecordBatch],
}

/// The hours read from rollup rows.
pub(crate) struct Coverage {
    range: TimeRange,
    /// Sorted, distinct.
    hours: Vec<i64>,
    last: Option<(i64, bool)>,
}

impl Coverage {
    /// Hours of `hourly` rows that lie wholly inside `range` and pass `usable`.
    pub(crate) fn new(
        range: TimeRange,
        hourly: &[RecordBatch],
        usable: impl Fn(i64) -> bool,
    ) -> Result<Self> {
        let mut hours = Vec::new();
        for batch in hourly {
            let times = timestamp_ns(batch, col::HOUR)?;
            let mut previous = None;
            for i in 0..batch.num_rows() {
                if times.is_null(i) {
                    continue;
                }
                let h = times.value(i);
                if previous == Some(h) {
                    continue;
                }
                previous = Some(h);
                let inside = h == hour_of(h)
                    && h >= range.start_ns
                    && h.checked_add(HOUR_NS)
                        .is_some_and(|end| end <= range.end_ns);
                if inside && usable(h) {
                    hours.push(h);
                }
            }
        }
        hours.sort_unstable();
        hours.dedup();
        Ok(Self {
            range,
            hours,
            last: None,
        })
    }

    fn covered(&mut self, hour: i64) -> bool {
        if let Some((h, c)) = self.last
            && h == hour
        {
            return c;
        }
        let c = self.hours.binary_search(&hour).is_ok();
        self.last = Some((hour, c));
        c
    }

    /// Whether a row of `time` counts: hourly rows of covered hours, minute rows inside the
    /// range whose hour is not covered.
    #[inline]
    pub(crate) fn counts(&mut self, time: i64, hourly: bool) -> bool {
        if hourly {
            self.covered(time)
        } else {
            self.range.contains(time) && !self.covered(hour_of(time))
        }
    }
}

/// Counts and sketch being merged.
#[derive(Debug, Clone, Default)]
pub(crate) struct Acc {
    pub calls: u64,
    pub errors: u64,
    pub unpaired: u64,
    pub sketch: LatencySketch,
}

impl Acc {
    pub(crate) fn red(&self, seconds: f64) -> Red {
        Red::from_parts(self.calls, self.errors, &self.sketch, seconds)
    }
}

fn count(c: &IntCol<'_>, i: usize) -> u64 {
    c.value(i).map_or(0, |v| u64::try_from(v).unwrap_or(0))
}

/// The columns of a `span_metrics` or `span_metrics_hourly` batch.
pub(crate) struct MetricCols<'a> {
    pub rows: usize,
    pub hourly: bool,
    time: &'a TimestampNanosecondArray,
    pub service: StrCol<'a>,
    pub name: StrCol<'a>,
    pub kind: StrCol<'a>,
    calls: IntCol<'a>,
    errors: IntCol<'a>,
    sketch: BinCol<'a>,
}

impl<'a> MetricCols<'a> {
    pub(crate) fn new(batch: &'a RecordBatch, hourly: bool) -> Result<Self> {
        Ok(Self {
            rows: batch.num_rows(),
            hourly,
            time: timestamp_ns(batch, if hourly { col::HOUR } else { col::MINUTE })?,
            service: StrCol::get(batch, col::SERVICE_NAME)?,
            name: StrCol::get(batch, col::NAME)?,
            kind: StrCol::get(batch, col::KIND)?,
            calls: IntCol::get(batch, col::CALLS)?,
            errors: IntCol::get(batch, col::ERRORS)?,
            sketch: BinCol::get(batch, col::DURATION_SKETCH)?,
        })
    }

    /// The row's time (minute or hour start) when the row counts under `coverage`.
    #[inline]
    pub(crate) fn time_if(&self, i: usize, coverage: &mut Coverage) -> Option<i64> {
        if self.time.is_null(i) {
            return None;
        }
        let t = self.time.value(i);
        coverage.counts(t, self.hourly).then_some(t)
    }

    pub(crate) fn add_to(&self, i: usize, acc: &mut Acc) -> Result<()> {
        acc.calls = acc.calls.saturating_add(count(&self.calls, i));
        acc.errors = acc.errors.saturating_add(count(&self.errors, i));
        if let Some(bytes) = self.sketch.value(i) {
            acc.sketch.merge_encoded(bytes)?;
        }
        Ok(())
    }
}

/// The columns of a `service_edges` or `service_edges_hourly` batch.
pub(crate) struct EdgeCols<'a> {
    pub rows: usize,
    hourly: bool,
    time: &'a TimestampNanosecondArray,
    pub parent: StrCol<'a>,
    pub child: StrCol<'a>,
    pub child_type: StrCol<'a>,
    calls: IntCol<'a>,
    errors: Option<IntCol<'a>>,
    unpaired: Option<IntCol<'a>>,
    sketch: Option<BinCol<'a>>,
}

impl<'a> EdgeCols<'a> {
    /// `with_measures`: also read errors, unpaired and sketches (not needed for Jaeger's
    /// call counts).
    pub(crate) fn new(batch: &'a RecordBatch, hourly: bool, with_measures: bool) -> Result<Self> {
        Ok(Self {
            rows: batch.num_rows(),
            hourly,
            time: timestamp_ns(batch, if hourly { col::HOUR } else { col::MINUTE })?,
            parent: StrCol::get(batch, col::PARENT)?,
            child: StrCol::get(batch, col::CHILD)?,
            child_type: StrCol::get(batch, col::CHILD_TYPE)?,
            calls: IntCol::get(batch, col::CALLS)?,
            errors: with_measures
                .then(|| IntCol::get(batch, col::ERRORS))
                .transpose()?,
            unpaired: with_measures
                .then(|| IntCol::optional(batch, col::UNPAIRED))
                .transpose()?
                .flatten(),
            sketch: with_measures
                .then(|| BinCol::get(batch, col::DURATION_SKETCH))
                .transpose()?,
        })
    }

    #[inline]
    pub(crate) fn time_if(&self, i: usize, coverage: &mut Coverage) -> Option<i64> {
        if self.time.is_null(i) {
            return None;
        }
        let t = self.time.value(i);
        coverage.counts(t, self.hourly).then_some(t)
    }

    pub(crate) fn calls(&self, i: usize) -> u64 {
        count(&self.calls, i)
    }

    pub(crate) fn add_to(&self, i: usize, acc: &mut Acc) -> Result<()> {
        acc.calls = acc.calls.saturating_add(count(&self.calls, i));
        if let Some(c) = &self.errors {
            acc.errors = acc.errors.saturating_add(count(c, i));
        }
        if let Some(c) = &self.unpaired {
            acc.unpaired = acc.unpaired.saturating_add(count(c, i));
        }
        if let Some(bytes) = self.sketch.as_ref().and_then(|s| s.value(i)) {
            acc.sketch.merge_encoded(bytes)?;
        }
        Ok(())
    }
}

/// How a span kind counts towards a service's own RED: 0 for the spans that receive its
/// traffic (server, consumer), 1 for the calls it makes (client, producer), 2 for the rest.
#[inline]
pub(crate) fn kind_rank(kind: &str) -> u8 {
    match kind {
        "server" | "consumer" => 0,
        "client" | "producer" => 1,
        _ => 2,
    }
}

/// Column readers over the `span_metrics` rows of `aggregates`, minute batches then hourly.
pub(crate) fn metric_cols<'a>(aggregates: &Aggregates<'a>) -> Result<Vec<MetricCols<'a>>> {
    let minute = aggregates
        .span_metrics
        .iter()
        .map(|b| MetricCols::new(b, false));
    let hourly = aggregates
        .span_metrics_hourly
        .iter()
        .map(|b| MetricCols::new(b, true));
    minute.chain(hourly).collect()
}

/// Column readers over the `service_edges` rows of `aggregates`, minute batches then hourly.
pub(crate) fn edge_cols<'a>(
    aggregates: &Aggregates<'a>,
    with_measures: bool,
) -> Result<Vec<EdgeCols<'a>>> {
    let minute = aggregates
        .service_edges
        .iter()
        .map(|b| EdgeCols::new(b, false, with_measures));
    let hourly = aggregates
        .service_edges_hourly
        .iter()
        .map(|b| EdgeCols::new(b, true, with_measures));
    minute.chain(hourly).collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::TimestampNanosecondArray;
    use arrow::datatypes::{DataType, Field, Schema, TimeUnit};

    use super::*;
    use crate::tables::MINUTE_NS;

    fn hourly_times(hours: &[i64]) -> RecordBatch {
        let t = DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()));
        let schema = Arc::new(Schema::new(vec![Field::new(col::HOUR, t, false)]));
        let array = TimestampNanosecondArray::from(hours.to_vec()).with_timezone("UTC");
        RecordBatch::try_new(schema, vec![Arc::new(array)]).unwrap()
    }

    #[test]
    fn coverage_prefers_rollups_inside_the_range() {
        let base = 1_000 * HOUR_NS;
        let range = TimeRange::new(base + 30 * MINUTE_NS, base + 4 * HOUR_NS).unwrap();
        let hourly = hourly_times(&[base, base + HOUR_NS, base + 3 * HOUR_NS]);
        let mut c = Coverage::new(range, &[hourly], |_| true).unwrap();
        // the first hour sticks out of the range: its minute rows count, its rollup does not
        assert!(!c.counts(base, true));
        assert!(c.counts(base + 45 * MINUTE_NS, false));
        assert!(!c.counts(base + 10 * MINUTE_NS, false));
        // the second hour is rolled up
        assert!(c.counts(base + HOUR_NS, true));
        assert!(!c.counts(base + HOUR_NS + 5 * MINUTE_NS, false));
        // the third hour is not: its minutes count
        assert!(c.counts(base + 2 * HOUR_NS + 5 * MINUTE_NS, false));
        assert!(c.counts(base + 3 * HOUR_NS, true));
        assert!(!c.counts(base + 4 * HOUR_NS, false));
    }
}
