//! Query helpers for the metrics and logs tables: the rate of a counter over a window (resets
//! handled), a quantile from histogram buckets over a window, and the logs of a trace.
//!
//! Each helper reads the rows of one metric in the window (the tables are sorted by
//! `metric_name`, so row-group statistics skip the other metrics) and does the arithmetic in
//! Rust, per series (`series_id`) in time order:
//!
//! * **Rate** ([`QueryEngine::metric_rate`]) of a `sum`: for a delta sum, the sum of its points
//!   in the window; for a cumulative sum, the sum of the increases between consecutive points,
//!   where a point whose `start_time` changed, or whose value dropped (monotonic sums only), is
//!   a reset and counts its whole value. The first point in the window is the baseline, unless
//!   its series started inside the window (its `start_time` is in the window): then it counts
//!   whole too. `rate` is the increase divided by the window's length in seconds.
//! * **Quantile** ([`QueryEngine::metric_quantile`]) of a histogram (`metric_histograms` or,
//!   when the metric is there, `metric_exp_histograms`): the bucket counts observed in the
//!   window (delta points summed; cumulative points differenced per series as for rates,
//!   bucket by bucket) are merged over the series, then the quantile is interpolated linearly
//!   inside the bucket that holds it, as Prometheus' `histogram_quantile` does; the points'
//!   `min` and `max`, when present, bound the open first and last buckets. Exponential
//!   histograms are merged at the smallest scale among their points.

use std::collections::BTreeMap;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Float64Array, Int32Array, RecordBatch, UInt64Array,
};
use datafusion::arrow::datatypes::{
    ArrowPrimitiveType, Float64Type, Int32Type, TimestampNanosecondType, UInt32Type, UInt64Type,
};
use datafusion::common::ScalarValue;
use datafusion::functions::core::expr_fn::get_field;
use datafusion::logical_expr::{Expr, col, lit};
use meshscope_model::logs::{self, col as lc};
use meshscope_model::metrics::{EXP_HISTOGRAMS_TABLE, HISTOGRAMS_TABLE, POINTS_TABLE, col as mc};
use meshscope_model::value::type_tag;

use crate::engine::{QueryCtx, QueryEngine};
use crate::error::{Error, Result};
use crate::search::normalize_trace_id;
use crate::trace::{
    AttrValue, Attributes, column, map_entries, maps, parse_typed_json_object, strings,
    typed_attributes,
};

/// Which points of one metric a helper reads.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricSelector {
    /// `metric_name`.
    pub metric: String,
    /// `service_name`, when given.
    pub service: Option<String>,
    /// Point attributes that must equal these display forms (`attributes['k'] = 'v'`).
    pub attributes: Vec<(String, String)>,
    /// The window, inclusive, on the point `time`.
    pub start_ns: i64,
    pub end_ns: i64,
}

impl MetricSelector {
    fn validate(&self) -> Result<()> {
        if self.metric.is_empty() {
            return Err(Error::InvalidRequest("a metric name is required".into()));
        }
        if self.end_ns <= self.start_ns {
            return Err(Error::InvalidRequest(
                "the window is empty: end must be after start".into(),
            ));
        }
        Ok(())
    }

    fn window_seconds(&self) -> f64 {
        (self.end_ns - self.start_ns) as f64 / 1e9
    }

    fn predicate(&self) -> Expr {
        let mut p = col(mc::METRIC_NAME)
            .eq(lit(self.metric.as_str()))
            .and(col(mc::TIME).between(ts(self.start_ns), ts(self.end_ns)));
        if let Some(service) = &self.service {
            p = p.and(col(mc::SERVICE_NAME).eq(lit(service.as_str())));
        }
        for (key, value) in &self.attributes {
            p = p.and(get_field(col(mc::ATTRIBUTES), key.as_str()).eq(lit(value.as_str())));
        }
        p
    }
}

fn ts(ns: i64) -> Expr {
    lit(ScalarValue::TimestampNanosecond(
        Some(ns),
        Some("UTC".into()),
    ))
}

/// The rate of one series over the window.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesRate {
    pub series_id: String,
    pub service_name: String,
    /// The point attributes (display forms).
    pub attributes: BTreeMap<String, String>,
    /// `delta` or `cumulative`.
    pub temporality: String,
    /// Points of the series in the window.
    pub points: usize,
    /// Resets seen (cumulative sums).
    pub resets: usize,
    pub increase: f64,
    /// `increase` per second of the window.
    pub rate: f64,
}

/// The rate of a counter over a window: in total and per series.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricRate {
    pub metric: String,
    pub start_ns: i64,
    pub end_ns: i64,
    pub increase: f64,
    pub rate: f64,
    pub series: Vec<SeriesRate>,
}

/// A quantile estimated from histogram buckets over a window.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricQuantile {
    pub metric: String,
    pub quantile: f64,
    /// `None` when no observation falls in the window.
    pub value: Option<f64>,
    /// Observations in the window.
    pub count: u64,
    /// Series merged.
    pub series: usize,
    /// `histogram` or `exponential_histogram`.
    pub kind: &'static str,
    pub start_ns: i64,
    pub end_ns: i64,
}

/// One stored log record with its typed values restored.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRecord {
    pub time_ns: i64,
    pub observed_ns: Option<i64>,
    pub trace_id: String,
    pub span_id: String,
    pub flags: u32,
    pub service_name: String,
    pub severity_number: i32,
    pub severity_text: String,
    pub event_name: String,
    pub body: AttrValue,
    pub attributes: Attributes,
    pub dropped_attributes_count: u32,
    pub resource_attributes: Attributes,
    pub resource_schema_url: String,
    pub scope_name: String,
    pub scope_version: String,
    pub scope_attributes: Attributes,
    pub scope_schema_url: String,
}

impl QueryEngine {
    /// The rate of the counter (a `sum` in `metric_points`) selected by `selector` over its
    /// window, handling resets (see the module docs).
    pub async fn metric_rate(&self, selector: MetricSelector) -> Result<MetricRate> {
        selector.validate()?;
        self.run("metric_rate", move |query| async move {
            let batches = rows(
                &query,
                POINTS_TABLE,
                &selector,
                &[
                    mc::SERIES_ID,
                    mc::SERVICE_NAME,
                    mc::ATTRIBUTES,
                    mc::METRIC_TYPE,
                    mc::TEMPORALITY,
                    mc::IS_MONOTONIC,
                    mc::START_TIME,
                    mc::TIME,
                    mc::VALUE,
                ],
            )
            .await?;
            rate(&selector, &batches)
        })
        .await
    }

    /// The `quantile` (0 to 1) of the histogram selected by `selector` over its window,
    /// from `metric_histograms`, or `metric_exp_histograms` when the metric is there.
    pub async fn metric_quantile(
        &self,
        selector: MetricSelector,
        quantile: f64,
    ) -> Result<MetricQuantile> {
        selector.validate()?;
        if !(0.0..=1.0).contains(&quantile) {
            return Err(Error::InvalidRequest(format!(
                "quantile {quantile} is outside 0 ..= 1"
            )));
        }
        self.run("metric_quantile", move |query| async move {
            let explicit = rows(
                &query,
                HISTOGRAMS_TABLE,
                &selector,
                &[
                    mc::SERIES_ID,
                    mc::TEMPORALITY,
                    mc::START_TIME,
                    mc::TIME,
                    mc::COUNT,
                    mc::MIN,
                    mc::MAX,
                    mc::BUCKET_COUNTS,
                    mc::EXPLICIT_BOUNDS,
                ],
            )
            .await?;
            if explicit.iter().any(|b| b.num_rows() > 0) {
                return explicit_quantile(&selector, quantile, &explicit);
            }
            let exponential = rows(
                &query,
                EXP_HISTOGRAMS_TABLE,
                &selector,
                &[
                    mc::SERIES_ID,
                    mc::TEMPORALITY,
                    mc::START_TIME,
                    mc::TIME,
                    mc::COUNT,
                    mc::MIN,
                    mc::MAX,
                    mc::SCALE,
                    mc::ZERO_COUNT,
                    mc::POSITIVE_OFFSET,
                    mc::POSITIVE_BUCKET_COUNTS,
                    mc::NEGATIVE_OFFSET,
                    mc::NEGATIVE_BUCKET_COUNTS,
                ],
            )
            .await?;
            exponential_quantile(&selector, quantile, &exponential)
        })
        .await
    }

    /// Every log record of one trace, by time; empty when there is none. `bounds` (inclusive
    /// record times) narrows the files read; without it the lookup still reads only the row
    /// groups whose statistics and bloom filters admit the id.
    pub async fn trace_logs(
        &self,
        trace_id: &str,
        bounds: Option<(i64, i64)>,
    ) -> Result<Vec<LogRecord>> {
        let id = normalize_trace_id(trace_id)?;
        self.run("trace_logs", move |query| async move {
            let mut frame = query
                .ctx
                .table(logs::TABLE)
                .await?
                .filter(col(lc::TRACE_ID).eq(lit(id.as_str())))?;
            if let Some((lo, hi)) = bounds {
                frame = frame.filter(col(lc::TIME).between(ts(lo), ts(hi)))?;
            }
            let batches = query.collect(frame).await?.batches;
            let mut records = decode_logs(&batches)?;
            records.sort_by(|a, b| (a.time_ns, &a.span_id).cmp(&(b.time_ns, &b.span_id)));
            Ok(records)
        })
        .await
    }
}

async fn rows(
    query: &QueryCtx,
    table: &str,
    selector: &MetricSelector,
    columns: &[&str],
) -> Result<Vec<RecordBatch>> {
    let frame = query
        .ctx
        .table(table)
        .await?
        .filter(selector.predicate())?
        .select_columns(columns)?;
    Ok(query.collect(frame).await?.batches)
}

// ---------------------------------------------------------------------------------------------
// Column access
// ---------------------------------------------------------------------------------------------

fn times(batch: &RecordBatch, name: &str) -> Result<Vec<Option<i64>>> {
    let a = column(batch, name)?
        .as_primitive_opt::<TimestampNanosecondType>()
        .ok_or_else(|| Error::Decode(format!("column {name} is not a timestamp")))?;
    Ok(a.iter().collect())
}

fn f64s<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a Float64Array> {
    column(batch, name)?
        .as_primitive_opt::<Float64Type>()
        .ok_or_else(|| Error::Decode(format!("column {name} is not Float64")))
}

fn u64s<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a UInt64Array> {
    column(batch, name)?
        .as_primitive_opt::<UInt64Type>()
        .ok_or_else(|| Error::Decode(format!("column {name} is not UInt64")))
}

fn i32s<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a Int32Array> {
    column(batch, name)?
        .as_primitive_opt::<Int32Type>()
        .ok_or_else(|| Error::Decode(format!("column {name} is not Int32")))
}

fn bools<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a BooleanArray> {
    column(batch, name)?
        .as_boolean_opt()
        .ok_or_else(|| Error::Decode(format!("column {name} is not Boolean")))
}

/// Row `row` of a list column of primitive values (empty when null).
fn primitive_list<T: ArrowPrimitiveType>(column: &ArrayRef, row: usize) -> Result<Vec<T::Native>> {
    let list = column
        .as_list_opt::<i32>()
        .ok_or_else(|| Error::Decode("expected a list column".into()))?;
    if list.is_null(row) {
        return Ok(Vec::new());
    }
    let values = list.value(row);
    let values = values
        .as_primitive_opt::<T>()
        .ok_or_else(|| Error::Decode(format!("expected a list of {}", T::DATA_TYPE)))?;
    Ok(values.values().to_vec())
}

fn u64_list(column: &ArrayRef, row: usize) -> Result<Vec<u64>> {
    primitive_list::<UInt64Type>(column, row)
}

fn f64_list(column: &ArrayRef, row: usize) -> Result<Vec<f64>> {
    primitive_list::<Float64Type>(column, row)
}

fn opt_f64(a: &Float64Array, row: usize) -> Option<f64> {
    (!a.is_null(row)).then(|| a.value(row))
}

// ---------------------------------------------------------------------------------------------
// Rates
// ---------------------------------------------------------------------------------------------

struct RatePoint {
    start: Option<i64>,
    time: i64,
    value: f64,
}

struct RateSeries {
    service_name: String,
    attributes: BTreeMap<String, String>,
    temporality: String,
    monotonic: bool,
    points: Vec<RatePoint>,
}

fn rate(selector: &MetricSelector, batches: &[RecordBatch]) -> Result<MetricRate> {
    let mut series: BTreeMap<String, RateSeries> = BTreeMap::new();
    for batch in batches {
        let ids = strings(batch, mc::SERIES_ID)?;
        let services = strings(batch, mc::SERVICE_NAME)?;
        let attributes = maps(batch, mc::ATTRIBUTES)?;
        let types = strings(batch, mc::METRIC_TYPE)?;
        let temporalities = strings(batch, mc::TEMPORALITY)?;
        let monotonic = bools(batch, mc::IS_MONOTONIC)?;
        let starts = times(batch, mc::START_TIME)?;
        let ts = times(batch, mc::TIME)?;
        let values = f64s(batch, mc::VALUE)?;
        for row in 0..batch.num_rows() {
            if types.value(row) != "sum" {
                return Err(Error::InvalidRequest(format!(
                    "{} is a {}, not a counter (sum): a rate needs a sum",
                    selector.metric,
                    types.value(row)
                )));
            }
            let (Some(time), Some(value)) = (ts[row], opt_f64(values, row)) else {
                continue; // a point with no recorded value
            };
            let entry = match series.get_mut(ids.value(row)) {
                Some(entry) => entry,
                None => series
                    .entry(ids.value(row).to_owned())
                    .or_insert(RateSeries {
                        service_name: services.value(row).to_owned(),
                        attributes: map_entries(attributes, row)?.into_iter().collect(),
                        temporality: temporalities.value(row).to_owned(),
                        monotonic: monotonic.value(row),
                        points: Vec::new(),
                    }),
            };
            entry.points.push(RatePoint {
                start: starts[row],
                time,
                value,
            });
        }
    }
    let window = selector.window_seconds();
    let mut out = Vec::with_capacity(series.len());
    for (series_id, mut s) in series {
        s.points
            .sort_by(|a, b| a.time.cmp(&b.time).then(a.value.total_cmp(&b.value)));
        let (increase, resets) = if s.temporality == "delta" {
            (s.points.iter().map(|p| p.value).sum(), 0)
        } else {
            cumulative_increase(&s.points, s.monotonic, selector.start_ns)
        };
        out.push(SeriesRate {
            series_id,
            service_name: s.service_name,
            attributes: s.attributes,
            temporality: s.temporality,
            points: s.points.len(),
            resets,
            increase,
            rate: increase / window,
        });
    }
    let increase: f64 = out.iter().map(|s| s.increase).sum();
    Ok(MetricRate {
        metric: selector.metric.clone(),
        start_ns: selector.start_ns,
        end_ns: selector.end_ns,
        increase,
        rate: increase / window,
        series: out,
    })
}

/// The increase of a cumulative series over its points (sorted by time), and its resets.
fn cumulative_increase(points: &[RatePoint], monotonic: bool, window_start: i64) -> (f64, usize) {
    let Some(first) = points.first() else {
        return (0.0, 0);
    };
    let mut increase = if first.start.is_some_and(|s| s >= window_start) {
        first.value
    } else {
        0.0
    };
    let mut resets = 0;
    for pair in points.windows(2) {
        let (prev, cur) = (&pair[0], &pair[1]);
        let restarted = cur.start.is_some() && cur.start != prev.start;
        if restarted || (monotonic && cur.value < prev.value) {
            resets += 1;
            increase += cur.value;
        } else {
            increase += cur.value - prev.value;
        }
    }
    (increase, resets)
}

// ---------------------------------------------------------------------------------------------
// Quantiles
// ---------------------------------------------------------------------------------------------

/// A bucket of a merged distribution: `(lower, upper]` and how many observations it holds.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Bucket {
    lower: f64,
    upper: f64,
    count: u64,
}

/// Linear interpolation inside the bucket holding the `q` quantile (buckets in value order).
fn quantile_of(buckets: &[Bucket], q: f64) -> Option<f64> {
    let total: u64 = buckets.iter().map(|b| b.count).sum();
    if total == 0 {
        return None;
    }
    let rank = q * total as f64;
    let mut below = 0u64;
    for b in buckets.iter().filter(|b| b.count > 0) {
        if (below + b.count) as f64 >= rank {
            let within = ((rank - below as f64) / b.count as f64).clamp(0.0, 1.0);
            if !b.upper.is_finite() {
                return Some(b.lower);
            }
            if !b.lower.is_finite() {
                return Some(b.upper);
            }
            return Some(b.lower + (b.upper - b.lower) * within);
        }
        below += b.count;
    }
    buckets.iter().rev().find(|b| b.count > 0).map(|b| b.upper)
}

/// Per series, the counts observed in the window: delta points summed, cumulative points
/// differenced bucket by bucket (a drop in `count` or a new start time is a reset).
struct CountPoint<K> {
    start: Option<i64>,
    time: i64,
    count: u64,
    buckets: BTreeMap<K, u64>,
}

fn observed<K: Ord + Clone>(
    mut points: Vec<CountPoint<K>>,
    delta: bool,
    window_start: i64,
) -> BTreeMap<K, u64> {
    points.sort_by_key(|p| p.time);
    let mut out: BTreeMap<K, u64> = BTreeMap::new();
    let mut add = |buckets: &BTreeMap<K, u64>| {
        for (k, v) in buckets {
            *out.entry(k.clone()).or_default() += v;
        }
    };
    if delta {
        for p in &points {
            add(&p.buckets);
        }
        return out;
    }
    if let Some(first) = points.first()
        && first.start.is_some_and(|s| s >= window_start)
    {
        add(&first.buckets);
    }
    for pair in points.windows(2) {
        let (prev, cur) = (&pair[0], &pair[1]);
        let restarted = cur.start.is_some() && cur.start != prev.start;
        let dropped = cur.count < prev.count
            || cur
                .buckets
                .iter()
                .any(|(k, v)| prev.buckets.get(k).is_some_and(|p| v < p));
        if restarted || dropped {
            add(&cur.buckets);
        } else {
            let diff: BTreeMap<K, u64> = cur
                .buckets
                .iter()
                .map(|(k, v)| (k.clone(), v - prev.buckets.get(k).copied().unwrap_or(0)))
                .collect();
            add(&diff);
        }
    }
    out
}

fn explicit_quantile(
    selector: &MetricSelector,
    q: f64,
    batches: &[RecordBatch],
) -> Result<MetricQuantile> {
    type Series = (bool, Vec<CountPoint<usize>>);
    let mut series: BTreeMap<String, Series> = BTreeMap::new();
    let mut bounds: Option<Vec<f64>> = None;
    let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
    for batch in batches {
        let ids = strings(batch, mc::SERIES_ID)?;
        let temporalities = strings(batch, mc::TEMPORALITY)?;
        let starts = times(batch, mc::START_TIME)?;
        let ts = times(batch, mc::TIME)?;
        let counts = u64s(batch, mc::COUNT)?;
        let mins = f64s(batch, mc::MIN)?;
        let maxs = f64s(batch, mc::MAX)?;
        let bucket_counts = column(batch, mc::BUCKET_COUNTS)?;
        let explicit_bounds = column(batch, mc::EXPLICIT_BOUNDS)?;
        for row in 0..batch.num_rows() {
            let buckets = u64_list(bucket_counts, row)?;
            if buckets.is_empty() {
                continue; // a point with count and sum only
            }
            let b = f64_list(explicit_bounds, row)?;
            match &bounds {
                None => bounds = Some(b),
                Some(known) if *known != b => {
                    return Err(Error::InvalidRequest(format!(
                        "the series of {} use different bucket bounds; select one with service or attribute filters",
                        selector.metric
                    )));
                }
                Some(_) => {}
            }
            if let Some(m) = opt_f64(mins, row) {
                min = min.min(m);
            }
            if let Some(m) = opt_f64(maxs, row) {
                max = max.max(m);
            }
            let entry = series
                .entry(ids.value(row).to_owned())
                .or_insert_with(|| (temporalities.value(row) == "delta", Vec::new()));
            entry.1.push(CountPoint {
                start: starts[row],
                time: ts[row].unwrap_or(0),
                count: counts.value(row),
                buckets: buckets.into_iter().enumerate().collect(),
            });
        }
    }
    let n_series = series.len();
    let mut merged: BTreeMap<usize, u64> = BTreeMap::new();
    for (_, (delta, points)) in series {
        for (k, v) in observed(points, delta, selector.start_ns) {
            *merged.entry(k).or_default() += v;
        }
    }
    let bounds = bounds.unwrap_or_default();
    let n = bounds.len();
    let buckets: Vec<Bucket> = (0..=n)
        .map(|i| {
            let lower = if i == 0 {
                if min.is_finite() {
                    min
                } else if bounds.first().is_some_and(|b| *b > 0.0) {
                    0.0
                } else {
                    f64::NEG_INFINITY
                }
            } else {
                bounds[i - 1]
            };
            let upper = if i == n {
                if max.is_finite() { max } else { f64::INFINITY }
            } else {
                bounds[i]
            };
            Bucket {
                lower: lower.min(upper),
                upper,
                count: merged.get(&i).copied().unwrap_or(0),
            }
        })
        .collect();
    let count = buckets.iter().map(|b| b.count).sum();
    Ok(MetricQuantile {
        metric: selector.metric.clone(),
        quantile: q,
        value: quantile_of(&buckets, q).map(|v| clamp(v, min, max)),
        count,
        series: n_series,
        kind: "histogram",
        start_ns: selector.start_ns,
        end_ns: selector.end_ns,
    })
}

fn clamp(v: f64, min: f64, max: f64) -> f64 {
    let v = if min.is_finite() { v.max(min) } else { v };
    if max.is_finite() { v.min(max) } else { v }
}

/// A bucket of an exponential histogram at the common scale: negative ones, the zero bucket,
/// positive ones; ordered by value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum ExpKey {
    /// Negative bucket `i` (values in `[-base^(i+1), -base^i)`); ordered by descending index.
    Negative(std::cmp::Reverse<i64>),
    Zero,
    Positive(i64),
}

struct ExpPoint {
    series: String,
    delta: bool,
    start: Option<i64>,
    time: i64,
    count: u64,
    scale: i32,
    zero: u64,
    positive: (i32, Vec<u64>),
    negative: (i32, Vec<u64>),
}

fn exponential_quantile(
    selector: &MetricSelector,
    q: f64,
    batches: &[RecordBatch],
) -> Result<MetricQuantile> {
    let mut points = Vec::new();
    let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
    for batch in batches {
        let ids = strings(batch, mc::SERIES_ID)?;
        let temporalities = strings(batch, mc::TEMPORALITY)?;
        let starts = times(batch, mc::START_TIME)?;
        let ts = times(batch, mc::TIME)?;
        let counts = u64s(batch, mc::COUNT)?;
        let mins = f64s(batch, mc::MIN)?;
        let maxs = f64s(batch, mc::MAX)?;
        let scales = i32s(batch, mc::SCALE)?;
        let zeros = u64s(batch, mc::ZERO_COUNT)?;
        let pos_offsets = i32s(batch, mc::POSITIVE_OFFSET)?;
        let pos_counts = column(batch, mc::POSITIVE_BUCKET_COUNTS)?;
        let neg_offsets = i32s(batch, mc::NEGATIVE_OFFSET)?;
        let neg_counts = column(batch, mc::NEGATIVE_BUCKET_COUNTS)?;
        for row in 0..batch.num_rows() {
            if let Some(m) = opt_f64(mins, row) {
                min = min.min(m);
            }
            if let Some(m) = opt_f64(maxs, row) {
                max = max.max(m);
            }
            points.push(ExpPoint {
                series: ids.value(row).to_owned(),
                delta: temporalities.value(row) == "delta",
                start: starts[row],
                time: ts[row].unwrap_or(0),
                count: counts.value(row),
                scale: scales.value(row),
                zero: zeros.value(row),
                positive: (pos_offsets.value(row), u64_list(pos_counts, row)?),
                negative: (neg_offsets.value(row), u64_list(neg_counts, row)?),
            });
        }
    }
    let scale = points.iter().map(|p| p.scale).min().unwrap_or(0);
    let mut series: BTreeMap<String, (bool, Vec<CountPoint<ExpKey>>)> = BTreeMap::new();
    for p in points {
        let shift = u32::try_from(p.scale - scale).unwrap_or(0).min(63);
        let mut buckets = BTreeMap::new();
        if p.zero > 0 {
            buckets.insert(ExpKey::Zero, p.zero);
        }
        for (k, c) in p.positive.1.iter().enumerate() {
            let index = (i64::from(p.positive.0) + k as i64) >> shift;
            *buckets.entry(ExpKey::Positive(index)).or_default() += c;
        }
        for (k, c) in p.negative.1.iter().enumerate() {
            let index = (i64::from(p.negative.0) + k as i64) >> shift;
            *buckets
                .entry(ExpKey::Negative(std::cmp::Reverse(index)))
                .or_default() += c;
        }
        buckets.retain(|_, c| *c > 0);
        series
            .entry(p.series)
            .or_insert_with(|| (p.delta, Vec::new()))
            .1
            .push(CountPoint {
                start: p.start,
                time: p.time,
                count: p.count,
                buckets,
            });
    }
    let n_series = series.len();
    let mut merged: BTreeMap<ExpKey, u64> = BTreeMap::new();
    for (_, (delta, pts)) in series {
        for (k, v) in observed(pts, delta, selector.start_ns) {
            *merged.entry(k).or_default() += v;
        }
    }
    // bucket i covers (base^i, base^(i+1)] with base = 2^(2^-scale)
    let bound = |i: i64| (i as f64 * (-f64::from(scale)).exp2()).exp2();
    let buckets: Vec<Bucket> = merged
        .iter()
        .map(|(k, &count)| {
            let (lower, upper) = match *k {
                ExpKey::Negative(std::cmp::Reverse(i)) => (-bound(i + 1), -bound(i)),
                ExpKey::Zero => (0.0, 0.0),
                ExpKey::Positive(i) => (bound(i), bound(i + 1)),
            };
            Bucket {
                lower,
                upper,
                count,
            }
        })
        .collect();
    let count = buckets.iter().map(|b| b.count).sum();
    Ok(MetricQuantile {
        metric: selector.metric.clone(),
        quantile: q,
        value: quantile_of(&buckets, q).map(|v| clamp(v, min, max)),
        count,
        series: n_series,
        kind: "exponential_histogram",
        start_ns: selector.start_ns,
        end_ns: selector.end_ns,
    })
}

// ---------------------------------------------------------------------------------------------
// Logs
// ---------------------------------------------------------------------------------------------

/// Decodes full `logs` rows into records.
pub fn decode_logs(batches: &[RecordBatch]) -> Result<Vec<LogRecord>> {
    let mut out = Vec::with_capacity(batches.iter().map(RecordBatch::num_rows).sum());
    for batch in batches {
        let time = times(batch, lc::TIME)?;
        let observed = times(batch, lc::OBSERVED_TIME)?;
        let trace_id = strings(batch, lc::TRACE_ID)?;
        let span_id = strings(batch, lc::SPAN_ID)?;
        let flags = column(batch, lc::FLAGS)?
            .as_primitive_opt::<UInt32Type>()
            .ok_or_else(|| Error::Decode("flags is not UInt32".into()))?;
        let service = strings(batch, lc::SERVICE_NAME)?;
        let severity = i32s(batch, lc::SEVERITY_NUMBER)?;
        let severity_text = strings(batch, lc::SEVERITY_TEXT)?;
        let event_name = strings(batch, lc::EVENT_NAME)?;
        let body = strings(batch, lc::BODY)?;
        let body_type = strings(batch, lc::BODY_TYPE)?;
        let dropped = column(batch, lc::DROPPED_ATTRIBUTES_COUNT)?
            .as_primitive_opt::<UInt32Type>()
            .ok_or_else(|| Error::Decode("dropped_attributes_count is not UInt32".into()))?;
        let attributes = maps(batch, lc::ATTRIBUTES)?;
        let attribute_types = maps(batch, lc::ATTRIBUTE_TYPES)?;
        let resource = maps(batch, lc::RESOURCE_ATTRIBUTES)?;
        let resource_types = maps(batch, lc::RESOURCE_ATTRIBUTE_TYPES)?;
        let resource_schema_url = strings(batch, lc::RESOURCE_SCHEMA_URL)?;
        let scope_name = strings(batch, lc::SCOPE_NAME)?;
        let scope_version = strings(batch, lc::SCOPE_VERSION)?;
        let scope_attributes = strings(batch, lc::SCOPE_ATTRIBUTES)?;
        let scope_schema_url = strings(batch, lc::SCOPE_SCHEMA_URL)?;
        for row in 0..batch.num_rows() {
            let tag = body_type.value(row);
            let tag = (tag != logs::STRING_BODY).then_some(tag);
            out.push(LogRecord {
                time_ns: time[row].unwrap_or(0),
                observed_ns: observed[row],
                trace_id: trace_id.value(row).to_owned(),
                span_id: span_id.value(row).to_owned(),
                flags: flags.value(row),
                service_name: service.value(row).to_owned(),
                severity_number: severity.value(row),
                severity_text: severity_text.value(row).to_owned(),
                event_name: event_name.value(row).to_owned(),
                body: if tag == Some(type_tag::EMPTY) {
                    AttrValue::Empty
                } else {
                    AttrValue::from_stored(body.value(row), tag)
                },
                attributes: typed_attributes(attributes, attribute_types, row)?,
                dropped_attributes_count: dropped.value(row),
                resource_attributes: typed_attributes(resource, resource_types, row)?,
                resource_schema_url: resource_schema_url.value(row).to_owned(),
                scope_name: scope_name.value(row).to_owned(),
                scope_version: scope_version.value(row).to_owned(),
                scope_attributes: parse_typed_json_object(scope_attributes.value(row))?,
                scope_schema_url: scope_schema_url.value(row).to_owned(),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(start: Option<i64>, time: i64, value: f64) -> RatePoint {
        RatePoint { start, time, value }
    }

    #[test]
    fn cumulative_increase_handles_resets() {
        // 10 → 15 → 3 (reset: value dropped) → 8: 5 + 3 + 5
        let points = [
            p(Some(1), 10, 10.0),
            p(Some(1), 20, 15.0),
            p(Some(1), 30, 3.0),
            p(Some(1), 40, 8.0),
        ];
        assert_eq!(cumulative_increase(&points, true, 5), (13.0, 1));
        // a new start time is a reset even when the value did not drop
        let points = [p(Some(1), 10, 10.0), p(Some(25), 30, 12.0)];
        assert_eq!(cumulative_increase(&points, true, 5), (12.0, 1));
        // a series that started inside the window counts its first value
        let points = [p(Some(6), 10, 4.0), p(Some(6), 20, 6.0)];
        assert_eq!(cumulative_increase(&points, true, 5), (6.0, 0));
        // an up-down counter may go down without a reset
        let points = [p(Some(1), 10, 4.0), p(Some(1), 20, 1.0)];
        assert_eq!(cumulative_increase(&points, false, 5), (-3.0, 0));
    }

    #[test]
    fn quantiles_interpolate_inside_buckets() {
        let buckets = [
            Bucket {
                lower: 0.0,
                upper: 10.0,
                count: 50,
            },
            Bucket {
                lower: 10.0,
                upper: 20.0,
                count: 50,
            },
        ];
        assert_eq!(quantile_of(&buckets, 0.5), Some(10.0));
        assert_eq!(quantile_of(&buckets, 0.75), Some(15.0));
        assert_eq!(quantile_of(&buckets, 0.0), Some(0.0));
        assert_eq!(quantile_of(&buckets, 1.0), Some(20.0));
        assert_eq!(quantile_of(&[], 0.5), None);
        let open = [Bucket {
            lower: 5.0,
            upper: f64::INFINITY,
            count: 1,
        }];
        assert_eq!(quantile_of(&open, 0.9), Some(5.0));
    }

    #[test]
    fn cumulative_buckets_are_differenced_per_bucket() {
        let cp = |start, time, buckets: &[u64]| CountPoint {
            start: Some(start),
            time,
            count: buckets.iter().sum(),
            buckets: buckets.iter().copied().enumerate().collect(),
        };
        let points = vec![cp(1, 10, &[1, 1]), cp(1, 20, &[3, 2]), cp(1, 30, &[0, 1])];
        let got = observed(points, false, 5);
        // (3-1, 2-1) then a reset adds (0, 1)
        assert_eq!(got.get(&0), Some(&2));
        assert_eq!(got.get(&1), Some(&2));
        let delta = vec![cp(1, 10, &[1, 1]), cp(1, 20, &[3, 2])];
        let got = observed(delta, true, 5);
        assert_eq!(got.get(&0), Some(&4));
    }

    #[test]
    fn exponential_keys_order_by_value() {
        use std::cmp::Reverse;
        let mut keys = vec![
            ExpKey::Positive(3),
            ExpKey::Zero,
            ExpKey::Negative(Reverse(1)),
            ExpKey::Negative(Reverse(4)),
            ExpKey::Positive(-2),
        ];
        keys.sort();
        assert_eq!(
            keys,
            [
                ExpKey::Negative(Reverse(4)),
                ExpKey::Negative(Reverse(1)),
                ExpKey::Zero,
                ExpKey::Positive(-2),
                ExpKey::Positive(3)
            ]
        );
    }
}
