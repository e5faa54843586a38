//! RED time series per service or operation, merged from `span_metrics` rows.

use meshscope_model::SpanKind;

use crate::error::{Error, Result};
use crate::group::Grouper;
use crate::rows::{Acc, Aggregates, Coverage, Red, TimeRange, kind_rank, metric_cols};
use crate::tables::{HOUR_NS, MINUTE_NS};

/// Most points in one series.
pub const MAX_POINTS: usize = 11_000;
/// Most points over all series of one answer (series × points).
pub const MAX_CELLS: usize = 4_000_000;

/// One series per service, or per (service, operation, kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedGroupBy {
    Service,
    Operation,
}

/// What series to compute.
#[derive(Debug, Clone, Copy)]
pub struct RedQuery<'a> {
    pub range: TimeRange,
    /// Width of each point, at least one minute; a minute row falls in the step holding its
    /// start. Points start at `range.start_ns + k·step_ns`.
    pub step_ns: i64,
    pub service: Option<&'a str>,
    pub operation: Option<&'a str>,
    /// Only spans of this kind. Without it, a per-service series counts the service's server
    /// and consumer spans, or when it has none in the range its client and producer spans,
    /// else all its spans; per-operation series are split by kind.
    pub kind: Option<SpanKind>,
    pub group_by: RedGroupBy,
    /// A duration quantile (0 < q ≤ 1) to compute for every point besides p50, p95 and p99
    /// (Jaeger's metrics API asks for any).
    pub quantile: Option<f64>,
}

/// A series: every step of the range, in order, also those without calls.
#[derive(Debug, Clone, PartialEq)]
pub struct RedSeries {
    pub service: String,
    /// Set when grouped by operation.
    pub operation: Option<String>,
    /// Set when grouped by operation or filtered by kind.
    pub kind: Option<SpanKind>,
    pub points: Vec<RedPoint>,
}

/// One step of a series. `red.rate` is calls per second over the step (the last step may be
/// shorter than `step_ns` when the range is not a multiple of it).
#[derive(Debug, Clone, PartialEq)]
pub struct RedPoint {
    pub start_ns: i64,
    pub red: Red,
    /// The duration at [`RedQuery::quantile`] in nanoseconds; `None` without calls or without
    /// a quantile asked.
    pub quantile_ns: Option<f64>,
}

struct RowRef {
    series: u32,
    rank: u8,
    bucket: u32,
    batch: u32,
    row: u32,
}

/// Computes RED series over the `span_metrics` rows (and their hourly rollups) of
/// `aggregates`. A rollup hour is used when it lies inside one step; otherwise its minutes.
pub fn red_series(aggregates: &Aggregates<'_>, query: &RedQuery<'_>) -> Result<Vec<RedSeries>> {
    let range = query.range;
    range.check()?;
    if let Some(q) = query.quantile.filter(|q| !(*q > 0.0 && *q <= 1.0)) {
        return Err(Error::InvalidQuery(format!(
            "quantile must be above 0 and at most 1, got {q}"
        )));
    }
    if query.step_ns < MINUTE_NS {
        return Err(Error::InvalidQuery(format!(
            "step must be at least one minute, got {} ns",
            query.step_ns
        )));
    }
    let span = range.end_ns.saturating_sub(range.start_ns);
    // span > 0: the range was checked
    let buckets = usize::try_from((span - 1) / query.step_ns + 1).unwrap_or(usize::MAX);
    if buckets > MAX_POINTS {
        return Err(Error::InvalidQuery(format!(
            "{buckets} points per series exceed {MAX_POINTS}; use a larger step"
        )));
    }
    let kind_filter = query.kind.map(SpanKind::as_str);
    let by_operation = query.group_by == RedGroupBy::Operation;

    let step = query.step_ns;
    let bucket_of = |t: i64| (t - range.start_ns) / step;
    let mut coverage = Coverage::new(range, aggregates.span_metrics_hourly, |h| {
        bucket_of(h) == bucket_of(h + HOUR_NS - MINUTE_NS)
    })?;
    let cols = metric_cols(aggregates)?;
    let mut keys: Vec<(&str, &str, &str)> = Vec::new();
    let mut grouper = Grouper::new();
    let mut refs: Vec<RowRef> = Vec::new();
    for (b, c) in cols.iter().enumerate() {
        for i in 0..c.rows {
            let Some(time) = c.time_if(i, &mut coverage) else {
                continue;
            };
            let service = c.service.value(i);
            if query.service.is_some_and(|s| s != service) {
                continue;
            }
            let name = c.name.value(i);
            if query.operation.is_some_and(|o| o != name) {
                continue;
            }
            let kind = c.kind.value(i);
            if kind_filter.is_some_and(|k| k != kind) {
                continue;
            }
            let key = if by_operation {
                (service, name, kind)
            } else {
                (service, "", "")
            };
            let series = grouper.get_or_insert(key, |k| keys.push(k));
            refs.push(RowRef {
                series: series as u32,
                rank: kind_rank(kind),
                bucket: bucket_of(time) as u32,
                batch: b as u32,
                row: i as u32,
            });
        }
    }
    if keys.len().saturating_mul(buckets) > MAX_CELLS {
        return Err(Error::InvalidQuery(format!(
            "{} series × {buckets} points exceed {MAX_CELLS}; filter by service or use a \
             larger step",
            keys.len()
        )));
    }
    // Per-service series without a kind filter count only the lowest kind rank present.
    if !by_operation && query.kind.is_none() {
        let mut lowest = vec![u8::MAX; keys.len()];
        for r in &refs {
            let l = &mut lowest[r.series as usize];
            *l = (*l).min(r.rank);
        }
        refs.retain(|r| lowest[r.series as usize] == r.rank);
    }

    // Counting sort of the rows by (series, bucket).
    let cells = keys.len() * buckets;
    let cell_of = |r: &RowRef| r.series as usize * buckets + r.bucket as usize;
    let mut starts = vec![0u32; cells + 1];
    for r in &refs {
        starts[cell_of(r) + 1] += 1;
    }
    for k in 1..=cells {
        starts[k] += starts[k - 1];
    }
    let mut next = starts.clone();
    let mut order = vec![0u32; refs.len()];
    for (j, r) in refs.iter().enumerate() {
        let slot = &mut next[cell_of(r)];
        order[*slot as usize] = j as u32;
        *slot += 1;
    }

    let mut out = Vec::with_capacity(keys.len());
    let mut acc = Acc::default();
    for (s, (service, name, kind)) in keys.iter().enumerate() {
        let mut points = Vec::with_capacity(buckets);
        for bucket in 0..buckets {
            let cell = s * buckets + bucket;
            acc.calls = 0;
            acc.errors = 0;
            acc.sketch.clear();
            for j in &order[starts[cell] as usize..starts[cell + 1] as usize] {
                let r = &refs[*j as usize];
                cols[r.batch as usize].add_to(r.row as usize, &mut acc)?;
            }
            let start_ns = range.start_ns + bucket as i64 * query.step_ns;
            let width = query.step_ns.min(range.end_ns - start_ns);
            points.push(RedPoint {
                start_ns,
                red: acc.red(width as f64 / 1e9),
                quantile_ns: query.quantile.and_then(|q| acc.sketch.quantile(q)),
            });
        }
        out.push(RedSeries {
            service: (*service).to_owned(),
            operation: by_operation.then(|| (*name).to_owned()),
            kind: if by_operation {
                SpanKind::parse(kind)
            } else {
                query.kind
            },
            points,
        });
    }
    out.sort_by(|a, b| {
        (&a.service, &a.operation, a.kind.map(SpanKind::to_otlp)).cmp(&(
            &b.service,
            &b.operation,
            b.kind.map(SpanKind::to_otlp),
        ))
    });
    Ok(out)
}
