//! Hourly rollups: the minute rows of a closed hour merged into one row per key.

use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use meshscope_model::SpanKind;

use crate::aggregator::Watermark;
use crate::cells::{EdgeCell, Measures, RedCell, edges_batch, red_batch};
use crate::columns::{BinCol, IntCol, StrCol, timestamp_ns};
use crate::error::{Error, Result};
use crate::group::Grouper;
use crate::node::NodeType;
use crate::tables::{
    HOUR_NS, SERVICE_EDGES, SERVICE_EDGES_HOURLY, SPAN_METRICS, SPAN_METRICS_HOURLY, col, hour_of,
    service_edges_hourly_schema, span_metrics_hourly_schema,
};

/// The hours to roll up next, oldest first, at most `limit`: those after
/// `last_rolled_up_hour` (or from the hour of `first_stored_minute` when nothing is rolled up
/// yet) whose every minute is emitted in both tables at `watermark`.
pub fn hours_to_roll_up(
    watermark: Watermark,
    first_stored_minute: Option<i64>,
    last_rolled_up_hour: Option<i64>,
    limit: usize,
) -> Vec<i64> {
    let (Some(a), Some(b)) = (watermark.span_metrics, watermark.service_edges) else {
        return Vec::new();
    };
    // Hours h with h + 1 h ≤ min(a, b).
    let end = hour_of(a.min(b));
    let start = match (last_rolled_up_hour, first_stored_minute) {
        (Some(h), _) => hour_of(h).saturating_add(HOUR_NS),
        (None, Some(m)) => hour_of(m),
        (None, None) => return Vec::new(),
    };
    let mut hours = Vec::new();
    let mut h = start;
    while h < end && hours.len() < limit {
        hours.push(h);
        h = h.saturating_add(HOUR_NS);
    }
    hours
}

/// Merges the rows of `table` (`span_metrics` or `service_edges`) whose minute lies in the
/// hour starting at `hour_start_ns` (other rows are skipped) into one row per key, and returns
/// them with the name of the hourly table they belong in; `None` when the hour has no rows.
///
/// Roll an hour up only once it is closed (see [`hours_to_roll_up`]) and store the result as
/// one batch: then "the hourly table has rows for hour H" means "H is rolled up", which is
/// what the query-side helpers and a restarted roller rely on.
pub fn rollup_hour(
    table: &str,
    minute_rows: &[RecordBatch],
    hour_start_ns: i64,
) -> Result<Option<(&'static str, RecordBatch)>> {
    let hour = hour_of(hour_start_ns);
    match table {
        SPAN_METRICS => rollup_red(minute_rows, hour).map(|b| b.map(|b| (SPAN_METRICS_HOURLY, b))),
        SERVICE_EDGES => {
            rollup_edges(minute_rows, hour).map(|b| b.map(|b| (SERVICE_EDGES_HOURLY, b)))
        }
        other => Err(Error::InvalidQuery(format!(
            "no hourly rollup for table {other:?}"
        ))),
    }
}

/// The measure columns of a minute batch.
struct MeasureCols<'a> {
    calls: IntCol<'a>,
    errors: IntCol<'a>,
    sum: IntCol<'a>,
    min: IntCol<'a>,
    max: IntCol<'a>,
    sketch: BinCol<'a>,
}

impl<'a> MeasureCols<'a> {
    fn new(batch: &'a RecordBatch) -> Result<Self> {
        Ok(Self {
            calls: IntCol::get(batch, col::CALLS)?,
            errors: IntCol::get(batch, col::ERRORS)?,
            sum: IntCol::get(batch, col::DURATION_SUM_NS)?,
            min: IntCol::get(batch, col::DURATION_MIN_NS)?,
            max: IntCol::get(batch, col::DURATION_MAX_NS)?,
            sketch: BinCol::get(batch, col::DURATION_SKETCH)?,
        })
    }

    fn add_to(&self, i: usize, m: &mut Measures) -> Result<()> {
        let count = |c: &IntCol<'_>| c.value(i).map_or(0, |v| u64::try_from(v).unwrap_or(0));
        let calls = count(&self.calls);
        m.calls = m.calls.saturating_add(calls);
        m.errors = m.errors.saturating_add(count(&self.errors));
        m.sum_ns = m.sum_ns.saturating_add(self.sum.value(i).unwrap_or(0));
        if calls > 0 {
            if let Some(v) = self.min.value(i) {
                m.min_ns = m.min_ns.min(v);
            }
            if let Some(v) = self.max.value(i) {
                m.max_ns = m.max_ns.max(v);
            }
        }
        if let Some(bytes) = self.sketch.value(i) {
            m.sketch.merge_encoded(bytes)?;
        }
        Ok(())
    }
}

fn in_hour(times: &arrow::array::TimestampNanosecondArray, i: usize, hour: i64) -> bool {
    use arrow::array::Array;
    !times.is_null(i) && hour_of(times.value(i)) == hour
}

fn rollup_red(batches: &[RecordBatch], hour: i64) -> Result<Option<RecordBatch>> {
    let mut cells: Vec<RedCell> = Vec::new();
    let mut grouper = Grouper::new();
    for batch in batches {
        let times = timestamp_ns(batch, col::MINUTE)?;
        let service = StrCol::get(batch, col::SERVICE_NAME)?;
        let name = StrCol::get(batch, col::NAME)?;
        let kind = StrCol::get(batch, col::KIND)?;
        let measures = MeasureCols::new(batch)?;
        for i in 0..batch.num_rows() {
            if !in_hour(times, i, hour) {
                continue;
            }
            let key = (service.value(i), name.value(i), kind.value(i));
            let c = grouper.get_or_insert(key, |(s, n, k)| {
                cells.push(RedCell {
                    service: Arc::from(s),
                    name: n.into(),
                    kind: SpanKind::parse(k).unwrap_or(SpanKind::Unspecified),
                    m: Measures::new(),
                })
            });
            if let Some(cell) = cells.get_mut(c) {
                measures.add_to(i, &mut cell.m)?;
            }
        }
    }
    if cells.is_empty() {
        return Ok(None);
    }
    red_batch(
        span_metrics_hourly_schema(),
        cells.iter().map(|c| (hour, c)),
    )
    .map(Some)
}

fn rollup_edges(batches: &[RecordBatch], hour: i64) -> Result<Option<RecordBatch>> {
    let mut cells: Vec<EdgeCell> = Vec::new();
    let mut grouper = Grouper::new();
    for batch in batches {
        let times = timestamp_ns(batch, col::MINUTE)?;
        let parent = StrCol::get(batch, col::PARENT)?;
        let child = StrCol::get(batch, col::CHILD)?;
        let child_type = StrCol::get(batch, col::CHILD_TYPE)?;
        let unpaired = IntCol::get(batch, col::UNPAIRED)?;
        let measures = MeasureCols::new(batch)?;
        for i in 0..batch.num_rows() {
            if !in_hour(times, i, hour) {
                continue;
            }
            let key = (parent.value(i), child.value(i), child_type.value(i));
            let c = grouper.get_or_insert(key, |(p, c, t)| {
                cells.push(EdgeCell {
                    parent: Arc::from(p),
                    child: Arc::from(c),
                    child_type: NodeType::parse(t).unwrap_or(NodeType::External),
                    unpaired: 0,
                    m: Measures::new(),
                })
            });
            if let Some(cell) = cells.get_mut(c) {
                let u = unpaired
                    .value(i)
                    .map_or(0, |v| u64::try_from(v).unwrap_or(0));
                cell.unpaired = cell.unpaired.saturating_add(u);
                measures.add_to(i, &mut cell.m)?;
            }
        }
    }
    if cells.is_empty() {
        return Ok(None);
    }
    edges_batch(
        service_edges_hourly_schema(),
        cells.iter().map(|c| (hour, c)),
    )
    .map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tables::MINUTE_NS;

    #[test]
    fn closed_hours_after_the_last_rollup() {
        let h = |k: i64| k * HOUR_NS;
        let w = Watermark {
            span_metrics: Some(h(10) + 5 * MINUTE_NS),
            service_edges: Some(h(9) + 30 * MINUTE_NS),
        };
        // edges are closed only through hour 8
        assert_eq!(
            hours_to_roll_up(w, Some(h(7) + MINUTE_NS), None, 100),
            [h(7), h(8)]
        );
        assert_eq!(hours_to_roll_up(w, Some(h(2)), Some(h(7)), 100), [h(8)]);
        assert_eq!(
            hours_to_roll_up(w, Some(h(2)), Some(h(8)), 100),
            Vec::<i64>::new()
        );
        assert_eq!(hours_to_roll_up(w, Some(h(2)), None, 3), [h(2), h(3), h(4)]);
        assert!(hours_to_roll_up(Watermark::default(), Some(0), None, 9).is_empty());
        assert!(hours_to_roll_up(w, None, None, 9).is_empty());
    }

    #[test]
    fn unknown_tables_have_no_rollup() {
        assert!(rollup_hour("spans", &[], 0).is_err());
        assert!(rollup_hour(SPAN_METRICS, &[], 0).unwrap().is_none());
    }
}
