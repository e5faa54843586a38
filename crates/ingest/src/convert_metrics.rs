//! OTLP metrics → record batches of the four metrics tables, with per-point validation.
//!
//! A data point whose time is missing or unusable, whose exemplar ids are malformed, or whose
//! buckets do not add up is rejected on its own (and counted for the response's
//! `partial_success` as a rejected data point); the rest of the request is kept.

use std::fmt::Write as _;

use arrow::record_batch::RecordBatch;
use meshscope_model::metrics::{
    EXP_HISTOGRAMS_TABLE, HISTOGRAMS_TABLE, POINTS_TABLE, SUMMARIES_TABLE,
};
use meshscope_model::{
    ExemplarInput, ExpHistogramBuilder, ExpHistogramInput, HistogramBuilder, HistogramInput,
    MetricContext, Number, NumberKind, NumberPointBuilder, PointInput, ScopeContext,
    SignalResource, SummaryBuilder, SummaryInput, Temporality, Value,
};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::{
    Exemplar, ExponentialHistogramDataPoint, HistogramDataPoint, NumberDataPoint, SummaryDataPoint,
    exemplar, metric, number_data_point,
};
use prost::Message;

use crate::convert::{MAX_FUTURE_NS, MIN_TIME_NS, check_copied, key_values};
use crate::error::{Error, Result};

/// How many rejection reasons a response spells out.
const MAX_REASONS: usize = 3;
/// Exponential histogram scales OTLP allows.
const MIN_SCALE: i32 = -10;
const MAX_SCALE: i32 = 20;

/// The points of one request that passed validation, one batch per table that got rows.
#[derive(Debug)]
pub struct ConvertedMetrics {
    /// `(table, batch)`, only for tables with rows.
    pub batches: Vec<(&'static str, RecordBatch)>,
    pub accepted: usize,
    pub rejected: usize,
    /// Why points were rejected (the first few reasons), empty when none were.
    pub message: String,
}

/// Counts rejected items and keeps the first few reasons.
#[derive(Debug, Default)]
pub(crate) struct Rejections {
    pub(crate) count: usize,
    message: String,
}

impl Rejections {
    pub(crate) fn add(&mut self, path: std::fmt::Arguments<'_>, reason: &str) {
        self.count += 1;
        if self.count <= MAX_REASONS {
            if !self.message.is_empty() {
                self.message.push_str("; ");
            }
            let _ = write!(self.message, "{path}: {reason}");
        }
    }

    /// `"2 of 9 data points rejected: <path>: <reason>; ..."`, or empty.
    pub(crate) fn finish(mut self, total: usize, what: &str) -> (usize, String) {
        if self.count > MAX_REASONS {
            let _ = write!(self.message, "; and {} more", self.count - MAX_REASONS);
        }
        if self.count > 0 {
            self.message
                .insert_str(0, &format!("{} of {total} {what} rejected: ", self.count));
        }
        (self.count, self.message)
    }
}

/// The id as a fixed array: `None` when empty or all zeros, an error when its length is wrong.
pub(crate) fn optional_id<const N: usize>(
    bytes: &[u8],
    what: &str,
) -> std::result::Result<Option<[u8; N]>, String> {
    if bytes.is_empty() {
        return Ok(None);
    }
    let id: [u8; N] = bytes
        .try_into()
        .map_err(|_| format!("{what} must be {N} bytes, got {}", bytes.len()))?;
    Ok((id != [0; N]).then_some(id))
}

/// A point's or record's time: present, after 2000-01-01 and at most 24 h past `now_ns`.
pub(crate) fn check_time(t: u64, field: &str, now_ns: i64) -> std::result::Result<i64, String> {
    if t == 0 {
        return Err(format!("{field} is missing"));
    }
    let max_ns = now_ns.saturating_add(MAX_FUTURE_NS);
    i64::try_from(t)
        .ok()
        .filter(|t| (MIN_TIME_NS..=max_ns).contains(t))
        .ok_or_else(|| format!("{field} {t} is outside 2000-01-01 .. now + 24h"))
}

struct Builders {
    points: NumberPointBuilder,
    histograms: HistogramBuilder,
    exp_histograms: ExpHistogramBuilder,
    summaries: SummaryBuilder,
}

/// Converts and validates every data point of `request`. `now_ns` bounds future timestamps.
pub fn metrics_to_batches(
    request: &ExportMetricsServiceRequest,
    now_ns: i64,
) -> Result<ConvertedMetrics> {
    use metric::Data;
    let mut counts = [0usize; 4];
    // every point's row copies its resource, scope and metric identity
    let mut copied = 0usize;
    for rm in &request.resource_metrics {
        let resource = rm.resource.as_ref().map_or(0, Message::encoded_len) + rm.schema_url.len();
        for sm in &rm.scope_metrics {
            let scope = sm.scope.as_ref().map_or(0, Message::encoded_len) + sm.schema_url.len();
            for m in &sm.metrics {
                let (table, points) = match &m.data {
                    Some(Data::Gauge(g)) => (0, g.data_points.len()),
                    Some(Data::Sum(s)) => (0, s.data_points.len()),
                    Some(Data::Histogram(h)) => (1, h.data_points.len()),
                    Some(Data::ExponentialHistogram(h)) => (2, h.data_points.len()),
                    Some(Data::Summary(s)) => (3, s.data_points.len()),
                    None => (0, 0),
                };
                counts[table] += points;
                let identity = m.name.len()
                    + m.description.len()
                    + m.unit.len()
                    + m.metadata.iter().map(Message::encoded_len).sum::<usize>();
                let shared = resource + scope + identity;
                copied = copied.saturating_add(points.saturating_mul(shared));
            }
        }
    }
    let total: usize = counts.iter().sum();
    check_copied("ExportMetricsServiceRequest", "data points", total, copied)?;
    let mut b = Builders {
        points: NumberPointBuilder::with_capacity(counts[0]),
        histograms: HistogramBuilder::with_capacity(counts[1]),
        exp_histograms: ExpHistogramBuilder::with_capacity(counts[2]),
        summaries: SummaryBuilder::with_capacity(counts[3]),
    };
    let mut rejections = Rejections::default();

    for (ri, rm) in request.resource_metrics.iter().enumerate() {
        let resource_attrs = rm
            .resource
            .as_ref()
            .map(|r| key_values(&r.attributes))
            .unwrap_or_default();
        let resource = SignalResource::new(&resource_attrs, &rm.schema_url);
        for (si, sm) in rm.scope_metrics.iter().enumerate() {
            let scope = match &sm.scope {
                Some(s) => ScopeContext::new(
                    &s.name,
                    &s.version,
                    &key_values(&s.attributes),
                    &sm.schema_url,
                ),
                None => ScopeContext::new("", "", &[], &sm.schema_url),
            };
            for (mi, m) in sm.metrics.iter().enumerate() {
                let Some(data) = &m.data else { continue };
                let ctx = MetricContext::new(
                    &resource,
                    &scope,
                    &m.name,
                    &m.description,
                    &m.unit,
                    &key_values(&m.metadata),
                );
                let path = |kind: &str, pi: usize| {
                    format!(
                        "resourceMetrics[{ri}].scopeMetrics[{si}].metrics[{mi}].{kind}.dataPoints[{pi}]"
                    )
                };
                let env = Env {
                    resource: &resource,
                    scope: &scope,
                    metric: &ctx,
                    now_ns,
                    empty_name: m.name.is_empty(),
                };
                match data {
                    Data::Gauge(g) => {
                        for (pi, p) in g.data_points.iter().enumerate() {
                            if let Err(reason) = env.number(&mut b, NumberKind::Gauge, p) {
                                rejections.add(format_args!("{}", path("gauge", pi)), &reason);
                            }
                        }
                    }
                    Data::Sum(s) => {
                        let kind = NumberKind::Sum {
                            temporality: Temporality::from_otlp(s.aggregation_temporality),
                            monotonic: s.is_monotonic,
                        };
                        for (pi, p) in s.data_points.iter().enumerate() {
                            if let Err(reason) = env.number(&mut b, kind, p) {
                                rejections.add(format_args!("{}", path("sum", pi)), &reason);
                            }
                        }
                    }
                    Data::Histogram(h) => {
                        let temporality = Temporality::from_otlp(h.aggregation_temporality);
                        for (pi, p) in h.data_points.iter().enumerate() {
                            if let Err(reason) = env.histogram(&mut b, temporality, p) {
                                rejections.add(format_args!("{}", path("histogram", pi)), &reason);
                            }
                        }
                    }
                    Data::ExponentialHistogram(h) => {
                        let temporality = Temporality::from_otlp(h.aggregation_temporality);
                        for (pi, p) in h.data_points.iter().enumerate() {
                            if let Err(reason) = env.exp_histogram(&mut b, temporality, p) {
                                rejections.add(
                                    format_args!("{}", path("exponentialHistogram", pi)),
                                    &reason,
                                );
                            }
                        }
                    }
                    Data::Summary(s) => {
                        for (pi, p) in s.data_points.iter().enumerate() {
                            if let Err(reason) = env.summary(&mut b, p) {
                                rejections.add(format_args!("{}", path("summary", pi)), &reason);
                            }
                        }
                    }
                }
            }
        }
    }
    let (rejected, message) = rejections.finish(total, "data points");
    let internal = |e: meshscope_model::Error| Error::Internal(e.to_string());
    let mut batches = Vec::new();
    let mut accepted = 0;
    for (table, batch) in [
        (POINTS_TABLE, b.points.finish().map_err(internal)?),
        (HISTOGRAMS_TABLE, b.histograms.finish().map_err(internal)?),
        (
            EXP_HISTOGRAMS_TABLE,
            b.exp_histograms.finish().map_err(internal)?,
        ),
        (SUMMARIES_TABLE, b.summaries.finish().map_err(internal)?),
    ] {
        if batch.num_rows() > 0 {
            accepted += batch.num_rows();
            batches.push((table, batch));
        }
    }
    Ok(ConvertedMetrics {
        batches,
        accepted,
        rejected,
        message,
    })
}

/// What the points of one metric share while they are converted.
struct Env<'a> {
    resource: &'a SignalResource,
    scope: &'a ScopeContext,
    metric: &'a MetricContext,
    now_ns: i64,
    empty_name: bool,
}

type Check<T> = std::result::Result<T, String>;

/// The validated times of a point.
fn times(start: u64, time: u64, now_ns: i64) -> Check<(Option<i64>, i64)> {
    let time_ns = check_time(time, "time_unix_nano", now_ns)?;
    let start_ns = match start {
        0 => None,
        s => Some(
            i64::try_from(s)
                .ok()
                .filter(|s| *s <= time_ns)
                .ok_or_else(|| {
                    format!("start_time_unix_nano {s} is after time_unix_nano {time}")
                })?,
        ),
    };
    Ok((start_ns, time_ns))
}

fn exemplars(list: &[Exemplar]) -> Check<Vec<ExemplarInput<'_>>> {
    list.iter()
        .enumerate()
        .map(|(i, e)| {
            let value = match e.value {
                Some(exemplar::Value::AsDouble(d)) => Number::Double(d),
                Some(exemplar::Value::AsInt(n)) => Number::Int(n),
                None => Number::None,
            };
            Ok(ExemplarInput {
                time_ns: i64::try_from(e.time_unix_nano).map_err(|_| {
                    format!(
                        "exemplars[{i}].time_unix_nano {} is out of range",
                        e.time_unix_nano
                    )
                })?,
                value,
                trace_id: optional_id(&e.trace_id, "trace_id")
                    .map_err(|r| format!("exemplars[{i}].{r}"))?,
                span_id: optional_id(&e.span_id, "span_id")
                    .map_err(|r| format!("exemplars[{i}].{r}"))?,
                filtered_attributes: key_values(&e.filtered_attributes),
            })
        })
        .collect()
}

fn point_attrs(attributes: &[KeyValue]) -> Vec<(&str, Value<'_>)> {
    key_values(attributes)
}

fn check_finite_or_absent(v: Option<f64>, what: &str) -> Check<()> {
    match v {
        Some(x) if x.is_nan() => Err(format!("{what} is NaN")),
        _ => Ok(()),
    }
}

fn u128_sum(counts: &[u64]) -> u128 {
    counts.iter().map(|c| u128::from(*c)).sum()
}

impl Env<'_> {
    fn name_check(&self) -> Check<()> {
        if self.empty_name {
            Err("the metric has no name".into())
        } else {
            Ok(())
        }
    }

    fn number(&self, b: &mut Builders, kind: NumberKind, p: &NumberDataPoint) -> Check<()> {
        self.name_check()?;
        let (start_ns, time_ns) = times(p.start_time_unix_nano, p.time_unix_nano, self.now_ns)?;
        let exemplars = exemplars(&p.exemplars)?;
        let attrs = point_attrs(&p.attributes);
        let value = match p.value {
            Some(number_data_point::Value::AsDouble(d)) => Number::Double(d),
            Some(number_data_point::Value::AsInt(n)) => Number::Int(n),
            None => Number::None,
        };
        b.points.append(
            self.resource,
            self.scope,
            self.metric,
            kind,
            &PointInput {
                start_ns,
                time_ns,
                attributes: &attrs,
                flags: p.flags,
                exemplars: &exemplars,
            },
            value,
        );
        Ok(())
    }

    fn histogram(
        &self,
        b: &mut Builders,
        temporality: Temporality,
        p: &HistogramDataPoint,
    ) -> Check<()> {
        self.name_check()?;
        let (start_ns, time_ns) = times(p.start_time_unix_nano, p.time_unix_nano, self.now_ns)?;
        if !p.bucket_counts.is_empty() && p.bucket_counts.len() != p.explicit_bounds.len() + 1 {
            return Err(format!(
                "{} bucket_counts for {} explicit_bounds (expected {} or none)",
                p.bucket_counts.len(),
                p.explicit_bounds.len(),
                p.explicit_bounds.len() + 1
            ));
        }
        if p.explicit_bounds.iter().any(|b| b.is_nan())
            || p.explicit_bounds.windows(2).any(|w| w[0] >= w[1])
        {
            return Err("explicit_bounds are not strictly increasing".into());
        }
        if !p.bucket_counts.is_empty() && u128_sum(&p.bucket_counts) != u128::from(p.count) {
            return Err(format!(
                "count {} is not the sum of bucket_counts ({})",
                p.count,
                u128_sum(&p.bucket_counts)
            ));
        }
        check_finite_or_absent(p.min, "min")?;
        check_finite_or_absent(p.max, "max")?;
        let exemplars = exemplars(&p.exemplars)?;
        let attrs = point_attrs(&p.attributes);
        b.histograms.append(
            self.resource,
            self.scope,
            self.metric,
            temporality,
            &PointInput {
                start_ns,
                time_ns,
                attributes: &attrs,
                flags: p.flags,
                exemplars: &exemplars,
            },
            &HistogramInput {
                count: p.count,
                sum: p.sum,
                min: p.min,
                max: p.max,
                bucket_counts: &p.bucket_counts,
                explicit_bounds: &p.explicit_bounds,
            },
        );
        Ok(())
    }

    fn exp_histogram(
        &self,
        b: &mut Builders,
        temporality: Temporality,
        p: &ExponentialHistogramDataPoint,
    ) -> Check<()> {
        self.name_check()?;
        let (start_ns, time_ns) = times(p.start_time_unix_nano, p.time_unix_nano, self.now_ns)?;
        if !(MIN_SCALE..=MAX_SCALE).contains(&p.scale) {
            return Err(format!(
                "scale {} is outside {MIN_SCALE} ..= {MAX_SCALE}",
                p.scale
            ));
        }
        let (pos_offset, pos) = p
            .positive
            .as_ref()
            .map_or((0, &[][..]), |b| (b.offset, &b.bucket_counts[..]));
        let (neg_offset, neg) = p
            .negative
            .as_ref()
            .map_or((0, &[][..]), |b| (b.offset, &b.bucket_counts[..]));
        let buckets = u128::from(p.zero_count) + u128_sum(pos) + u128_sum(neg);
        if buckets != u128::from(p.count) {
            return Err(format!(
                "count {} is not zero_count plus the bucket counts ({buckets})",
                p.count
            ));
        }
        if p.zero_threshold.is_nan() || p.zero_threshold < 0.0 {
            return Err(format!(
                "zero_threshold {} is not a non-negative number",
                p.zero_threshold
            ));
        }
        let exemplars = exemplars(&p.exemplars)?;
        let attrs = point_attrs(&p.attributes);
        b.exp_histograms.append(
            self.resource,
            self.scope,
            self.metric,
            temporality,
            &PointInput {
                start_ns,
                time_ns,
                attributes: &attrs,
                flags: p.flags,
                exemplars: &exemplars,
            },
            &ExpHistogramInput {
                count: p.count,
                sum: p.sum,
                min: p.min,
                max: p.max,
                scale: p.scale,
                zero_count: p.zero_count,
                zero_threshold: p.zero_threshold,
                positive_offset: pos_offset,
                positive_bucket_counts: pos,
                negative_offset: neg_offset,
                negative_bucket_counts: neg,
            },
        );
        Ok(())
    }

    fn summary(&self, b: &mut Builders, p: &SummaryDataPoint) -> Check<()> {
        self.name_check()?;
        let (start_ns, time_ns) = times(p.start_time_unix_nano, p.time_unix_nano, self.now_ns)?;
        let quantiles: Vec<(f64, f64)> = p
            .quantile_values
            .iter()
            .map(|q| (q.quantile, q.value))
            .collect();
        if let Some((q, _)) = quantiles.iter().find(|(q, _)| !(0.0..=1.0).contains(q)) {
            return Err(format!("quantile {q} is outside 0 ..= 1"));
        }
        let attrs = point_attrs(&p.attributes);
        b.summaries.append(
            self.resource,
            self.scope,
            self.metric,
            &PointInput {
                start_ns,
                time_ns,
                attributes: &attrs,
                flags: p.flags,
                exemplars: &[],
            },
            &SummaryInput {
                count: p.count,
                sum: p.sum,
                quantile_values: &quantiles,
            },
        );
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{Float64Type, UInt64Type};
    use opentelemetry_proto::tonic::common::v1::{AnyValue, any_value};
    use opentelemetry_proto::tonic::metrics::v1::{
        ExponentialHistogram, Gauge, Histogram, Metric, ResourceMetrics, ScopeMetrics, Sum,
        Summary, exponential_histogram_data_point, summary_data_point,
    };
    use opentelemetry_proto::tonic::resource::v1::Resource;

    const NOW: i64 = 1_764_000_000_000_000_000;
    const T: u64 = (NOW - 1_000_000_000) as u64;

    fn kv(key: &str, value: &str) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue(value.into())),
            }),
            ..Default::default()
        }
    }

    fn request(metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
        ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: Some(Resource {
                    attributes: vec![kv("service.name", "cart")],
                    ..Default::default()
                }),
                scope_metrics: vec![ScopeMetrics {
                    metrics,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    fn number(time: u64, v: f64) -> NumberDataPoint {
        NumberDataPoint {
            time_unix_nano: time,
            start_time_unix_nano: T - 1_000,
            value: Some(number_data_point::Value::AsDouble(v)),
            attributes: vec![kv("route", "/a")],
            ..Default::default()
        }
    }

    fn metric(name: &str, data: metric::Data) -> Metric {
        Metric {
            name: name.into(),
            data: Some(data),
            ..Default::default()
        }
    }

    fn hist(counts: Vec<u64>, bounds: Vec<f64>, count: u64) -> HistogramDataPoint {
        HistogramDataPoint {
            time_unix_nano: T,
            count,
            sum: Some(1.0),
            bucket_counts: counts,
            explicit_bounds: bounds,
            ..Default::default()
        }
    }

    #[test]
    fn every_type_lands_in_its_table() {
        let req = request(vec![
            metric(
                "g",
                metric::Data::Gauge(Gauge {
                    data_points: vec![number(T, 1.5)],
                }),
            ),
            metric(
                "s",
                metric::Data::Sum(Sum {
                    data_points: vec![number(T, 2.0), number(T + 1, 3.0)],
                    aggregation_temporality: 2,
                    is_monotonic: true,
                }),
            ),
            metric(
                "h",
                metric::Data::Histogram(Histogram {
                    data_points: vec![hist(vec![1, 2, 3], vec![1.0, 2.0], 6)],
                    aggregation_temporality: 1,
                }),
            ),
            metric(
                "e",
                metric::Data::ExponentialHistogram(ExponentialHistogram {
                    data_points: vec![ExponentialHistogramDataPoint {
                        time_unix_nano: T,
                        count: 4,
                        zero_count: 1,
                        scale: 2,
                        positive: Some(exponential_histogram_data_point::Buckets {
                            offset: -1,
                            bucket_counts: vec![1, 2],
                        }),
                        ..Default::default()
                    }],
                    aggregation_temporality: 2,
                }),
            ),
            metric(
                "q",
                metric::Data::Summary(Summary {
                    data_points: vec![SummaryDataPoint {
                        time_unix_nano: T,
                        count: 3,
                        sum: 6.0,
                        quantile_values: vec![summary_data_point::ValueAtQuantile {
                            quantile: 0.5,
                            value: 2.0,
                        }],
                        ..Default::default()
                    }],
                }),
            ),
            Metric {
                name: "no data".into(),
                ..Default::default()
            },
        ]);
        let c = metrics_to_batches(&req, NOW).expect("convert");
        assert_eq!(c.rejected, 0, "{}", c.message);
        assert_eq!(c.accepted, 6);
        let tables: Vec<(&str, usize)> =
            c.batches.iter().map(|(t, b)| (*t, b.num_rows())).collect();
        assert_eq!(
            tables,
            [
                ("metric_points", 3),
                ("metric_histograms", 1),
                ("metric_exp_histograms", 1),
                ("metric_summaries", 1)
            ]
        );
        let points = &c.batches[0].1;
        let v = points
            .column_by_name("value")
            .expect("value")
            .as_primitive::<Float64Type>();
        assert_eq!(v.values(), &[1.5, 2.0, 3.0]);
        let h = &c.batches[1].1;
        let counts = h
            .column_by_name("bucket_counts")
            .expect("col")
            .as_list::<i32>();
        assert_eq!(
            counts.value(0).as_primitive::<UInt64Type>().values(),
            &[1, 2, 3]
        );
        let e = &c.batches[2].1;
        assert_eq!(
            e.column_by_name("positive_offset")
                .expect("col")
                .as_primitive::<arrow::datatypes::Int32Type>()
                .value(0),
            -1
        );
        assert!(e.column_by_name("start_time").expect("col").is_null(0));
    }

    #[test]
    fn rejects_bad_points_and_keeps_the_rest() {
        type Mutation = Box<dyn Fn(&mut NumberDataPoint)>;
        let bad: Vec<(Mutation, &str)> = vec![
            (
                Box::new(|p| p.time_unix_nano = 0),
                "time_unix_nano is missing",
            ),
            (Box::new(|p| p.time_unix_nano = 5), "outside 2000-01-01"),
            (
                Box::new(|p| p.time_unix_nano = u64::MAX),
                "outside 2000-01-01",
            ),
            (
                Box::new(|p| p.start_time_unix_nano = T + 10),
                "is after time_unix_nano",
            ),
            (
                Box::new(|p| {
                    p.exemplars = vec![Exemplar {
                        trace_id: vec![1; 3],
                        ..Default::default()
                    }]
                }),
                "exemplars[0].trace_id must be 16 bytes, got 3",
            ),
            (
                Box::new(|p| {
                    p.exemplars = vec![Exemplar {
                        span_id: vec![1; 9],
                        ..Default::default()
                    }]
                }),
                "exemplars[0].span_id must be 8 bytes, got 9",
            ),
        ];
        for (mutate, expect) in &bad {
            let mut broken = number(T, 9.0);
            mutate(&mut broken);
            let req = request(vec![metric(
                "s",
                metric::Data::Sum(Sum {
                    data_points: vec![number(T, 1.0), broken, number(T, 2.0)],
                    aggregation_temporality: 1,
                    is_monotonic: false,
                }),
            )]);
            let c = metrics_to_batches(&req, NOW).expect("convert");
            assert_eq!((c.accepted, c.rejected), (2, 1), "{expect}");
            assert!(
                c.message.starts_with(
                    "1 of 3 data points rejected: resourceMetrics[0].scopeMetrics[0].metrics[0].sum.dataPoints[1]: "
                ),
                "{}",
                c.message
            );
            assert!(c.message.contains(expect), "{} !~ {expect}", c.message);
        }
    }

    #[test]
    fn rejects_inconsistent_distributions() {
        let cases: Vec<(HistogramDataPoint, &str)> = vec![
            (
                hist(vec![1, 2], vec![1.0, 2.0], 3),
                "2 bucket_counts for 2 explicit_bounds",
            ),
            (
                hist(vec![1, 2, 3], vec![2.0, 1.0], 6),
                "not strictly increasing",
            ),
            (
                hist(vec![1, 2, 3], vec![1.0, f64::NAN], 6),
                "not strictly increasing",
            ),
            (
                hist(vec![1, 2, 3], vec![1.0, 2.0], 7),
                "count 7 is not the sum",
            ),
        ];
        for (p, expect) in cases {
            let req = request(vec![metric(
                "h",
                metric::Data::Histogram(Histogram {
                    data_points: vec![p, hist(vec![], vec![], 5)],
                    aggregation_temporality: 1,
                }),
            )]);
            let c = metrics_to_batches(&req, NOW).expect("convert");
            assert_eq!((c.accepted, c.rejected), (1, 1), "{expect}");
            assert!(c.message.contains(expect), "{} !~ {expect}", c.message);
        }
        let exp = |scale, count| ExponentialHistogramDataPoint {
            time_unix_nano: T,
            scale,
            count,
            zero_count: 1,
            ..Default::default()
        };
        for (p, expect) in [
            (exp(21, 1), "scale 21 is outside"),
            (exp(0, 2), "count 2 is not zero_count plus"),
        ] {
            let req = request(vec![metric(
                "e",
                metric::Data::ExponentialHistogram(ExponentialHistogram {
                    data_points: vec![p],
                    aggregation_temporality: 1,
                }),
            )]);
            let c = metrics_to_batches(&req, NOW).expect("convert");
            assert_eq!(c.rejected, 1);
            assert!(c.message.contains(expect), "{} !~ {expect}", c.message);
            assert!(c.batches.is_empty());
        }
    }

    #[test]
    fn many_rejections_are_summarised() {
        let points = (0..10).map(|_| number(0, 1.0)).collect();
        let req = request(vec![metric(
            "g",
            metric::Data::Gauge(Gauge {
                data_points: points,
            }),
        )]);
        let c = metrics_to_batches(&req, NOW).expect("convert");
        assert_eq!(c.rejected, 10);
        assert!(c.message.starts_with("10 of 10 data points rejected"));
        assert!(c.message.ends_with("; and 7 more"), "{}", c.message);
    }

    #[test]
    fn refuses_requests_whose_rows_would_copy_too_much() {
        // a metric whose description (copied into every point's row) is 100 kB
        let mut gauge = metric(
            "queue.depth",
            metric::Data::Gauge(Gauge {
                data_points: (0..3000).map(|i| number(T + i, 1.0)).collect(),
            }),
        );
        gauge.description = "x".repeat(100_000);
        let mut req = request(vec![gauge]);
        let err = metrics_to_batches(&req, NOW).expect_err("300 MB of copies");
        assert!(matches!(err, Error::TooLarge(_)), "{err}");
        assert!(
            err.to_string()
                .starts_with("ExportMetricsServiceRequest: its 3000 data points would copy 30"),
            "{err}"
        );
        if let Some(metric::Data::Gauge(g)) =
            &mut req.resource_metrics[0].scope_metrics[0].metrics[0].data
        {
            g.data_points.truncate(100);
        }
        assert_eq!(metrics_to_batches(&req, NOW).expect("10 MB").accepted, 100);
    }
}
