//! The metrics tables: one for number points (gauges and sums) and one per distribution type,
//! with builders that turn protocol-neutral points into record batches.
//!
//! | table | rows |
//! |---|---|
//! | [`POINTS_TABLE`] `metric_points` | gauge and sum points: `value` (and `value_int` when the point was an integer) |
//! | [`HISTOGRAMS_TABLE`] `metric_histograms` | explicit-bucket histogram points |
//! | [`EXP_HISTOGRAMS_TABLE`] `metric_exp_histograms` | base-2 exponential histogram points |
//! | [`SUMMARIES_TABLE`] `metric_summaries` | summary points with their quantiles |
//!
//! Every table starts with the metric's identity (`metric_name`, `metric_description`,
//! `metric_unit`, `service_name`, `series_id`), the point's `start_time` (NULL when the point
//! has none, e.g. gauges) and `time`, then the type's own columns, `flags`, the `exemplars`
//! (not for summaries), and ends with the same attribute, resource and scope columns as
//! `spans` plus `metric_metadata`. `series_id` is 16 hex digits identifying the time series:
//! a hash of the metric name, the resource attributes, the scope name and version and the
//! point attributes (independent of their order), so `PARTITION BY series_id ORDER BY time`
//! walks one counter or histogram through time.

use std::sync::{Arc, OnceLock};

use arrow::array::{
    ArrayBuilder, ArrayRef, BooleanBuilder, Float64Builder, Int32Builder, Int64Builder,
    ListBuilder, StringBuilder, StructBuilder, TimestampNanosecondBuilder, UInt32Builder,
    UInt64Builder,
};
use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;

use crate::error::{Error, Result};
use crate::signal::{
    ContextColumns, FNV_OFFSET, SignalResource, append_id, attributes_hash, fnv1a, utc_ns,
};
use crate::spans::ScopeContext;
use crate::value::{Value, write_typed_json_object};

/// Gauge and sum points.
pub const POINTS_TABLE: &str = "metric_points";
/// Explicit-bucket histogram points.
pub const HISTOGRAMS_TABLE: &str = "metric_histograms";
/// Base-2 exponential histogram points.
pub const EXP_HISTOGRAMS_TABLE: &str = "metric_exp_histograms";
/// Summary points.
pub const SUMMARIES_TABLE: &str = "metric_summaries";

/// Column names of the metrics tables.
pub mod col {
    pub use crate::signal::col::*;
    pub const METRIC_NAME: &str = "metric_name";
    pub const METRIC_DESCRIPTION: &str = "metric_description";
    pub const METRIC_UNIT: &str = "metric_unit";
    pub const SERIES_ID: &str = "series_id";
    pub const START_TIME: &str = "start_time";
    pub const TIME: &str = "time";
    pub const METRIC_TYPE: &str = "metric_type";
    pub const TEMPORALITY: &str = "temporality";
    pub const IS_MONOTONIC: &str = "is_monotonic";
    pub const VALUE: &str = "value";
    pub const VALUE_INT: &str = "value_int";
    pub const COUNT: &str = "count";
    pub const SUM: &str = "sum";
    pub const MIN: &str = "min";
    pub const MAX: &str = "max";
    pub const BUCKET_COUNTS: &str = "bucket_counts";
    pub const EXPLICIT_BOUNDS: &str = "explicit_bounds";
    pub const SCALE: &str = "scale";
    pub const ZERO_COUNT: &str = "zero_count";
    pub const ZERO_THRESHOLD: &str = "zero_threshold";
    pub const POSITIVE_OFFSET: &str = "positive_offset";
    pub const POSITIVE_BUCKET_COUNTS: &str = "positive_bucket_counts";
    pub const NEGATIVE_OFFSET: &str = "negative_offset";
    pub const NEGATIVE_BUCKET_COUNTS: &str = "negative_bucket_counts";
    pub const QUANTILE_VALUES: &str = "quantile_values";
    pub const FLAGS: &str = "flags";
    pub const EXEMPLARS: &str = "exemplars";
    pub const METRIC_METADATA: &str = "metric_metadata";
}

/// How a sum or histogram aggregates over time, stored as a lowercase word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Temporality {
    Unspecified,
    Delta,
    Cumulative,
}

impl Temporality {
    pub fn from_otlp(n: i32) -> Self {
        match n {
            1 => Self::Delta,
            2 => Self::Cumulative,
            _ => Self::Unspecified,
        }
    }

    pub fn to_otlp(self) -> i32 {
        match self {
            Self::Unspecified => 0,
            Self::Delta => 1,
            Self::Cumulative => 2,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unspecified => "unspecified",
            Self::Delta => "delta",
            Self::Cumulative => "cumulative",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Unspecified, Self::Delta, Self::Cumulative]
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(s))
    }
}

/// A gauge or a sum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumberKind {
    Gauge,
    Sum {
        temporality: Temporality,
        monotonic: bool,
    },
}

impl NumberKind {
    /// The `metric_type` word: `gauge` or `sum`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Gauge => "gauge",
            Self::Sum { .. } => "sum",
        }
    }
}

/// A number as OTLP carries it: a double, an integer, or nothing (a point flagged as having no
/// recorded value).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    Double(f64),
    Int(i64),
    None,
}

impl Number {
    fn as_f64(self) -> Option<f64> {
        match self {
            Number::Double(d) => Some(d),
            Number::Int(i) => Some(i as f64),
            Number::None => None,
        }
    }

    fn as_i64(self) -> Option<i64> {
        match self {
            Number::Int(i) => Some(i),
            _ => None,
        }
    }
}

/// What every point of one metric shares.
#[derive(Debug, Clone)]
pub struct MetricContext {
    pub name: String,
    pub description: String,
    pub unit: String,
    /// Typed JSON object of the metric's metadata (empty when it has none).
    pub metadata_json: String,
    /// The metric's part of the series id (name, resource, scope).
    series_seed: u64,
}

impl MetricContext {
    pub fn new(
        resource: &SignalResource,
        scope: &ScopeContext,
        name: &str,
        description: &str,
        unit: &str,
        metadata: &[(&str, Value<'_>)],
    ) -> Self {
        let mut metadata_json = String::new();
        if !metadata.is_empty() {
            write_typed_json_object(metadata, &mut metadata_json);
        }
        let mut seed = fnv1a(FNV_OFFSET, name.as_bytes());
        seed = fnv1a(seed, &[0xff]);
        seed = fnv1a(seed, scope.name.as_bytes());
        seed = fnv1a(seed, &[0xff]);
        seed = fnv1a(seed, scope.version.as_bytes());
        seed = fnv1a(seed, &resource.hash().to_le_bytes());
        Self {
            name: name.to_owned(),
            description: description.to_owned(),
            unit: unit.to_owned(),
            metadata_json,
            series_seed: seed,
        }
    }
}

/// An exemplar: a measurement recorded with the trace it was taken in.
#[derive(Debug, Clone)]
pub struct ExemplarInput<'a> {
    pub time_ns: i64,
    pub value: Number,
    pub trace_id: Option<[u8; 16]>,
    pub span_id: Option<[u8; 8]>,
    pub filtered_attributes: Vec<(&'a str, Value<'a>)>,
}

/// What every point has, whatever its type.
#[derive(Debug, Clone)]
pub struct PointInput<'a> {
    /// `None` when the point has no start time (gauges, or a zero start time).
    pub start_ns: Option<i64>,
    pub time_ns: i64,
    pub attributes: &'a [(&'a str, Value<'a>)],
    pub flags: u32,
    pub exemplars: &'a [ExemplarInput<'a>],
}

/// An explicit-bucket histogram point's own fields.
#[derive(Debug, Clone)]
pub struct HistogramInput<'a> {
    pub count: u64,
    pub sum: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub bucket_counts: &'a [u64],
    pub explicit_bounds: &'a [f64],
}

/// An exponential histogram point's own fields.
#[derive(Debug, Clone)]
pub struct ExpHistogramInput<'a> {
    pub count: u64,
    pub sum: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub scale: i32,
    pub zero_count: u64,
    pub zero_threshold: f64,
    pub positive_offset: i32,
    pub positive_bucket_counts: &'a [u64],
    pub negative_offset: i32,
    pub negative_bucket_counts: &'a [u64],
}

/// A summary point's own fields.
#[derive(Debug, Clone)]
pub struct SummaryInput<'a> {
    pub count: u64,
    pub sum: f64,
    /// `(quantile, value)` pairs.
    pub quantile_values: &'a [(f64, f64)],
}

fn exemplar_fields() -> Fields {
    Fields::from(vec![
        Field::new("time", utc_ns(), false),
        Field::new("value", DataType::Float64, true),
        Field::new("value_int", DataType::Int64, true),
        Field::new("trace_id", DataType::Utf8, false),
        Field::new("span_id", DataType::Utf8, false),
        Field::new("filtered_attributes", DataType::Utf8, false),
    ])
}

fn quantile_fields() -> Fields {
    Fields::from(vec![
        Field::new("quantile", DataType::Float64, false),
        Field::new("value", DataType::Float64, false),
    ])
}

fn item(data_type: DataType) -> Arc<Field> {
    Arc::new(Field::new("item", data_type, false))
}

fn list_of(data_type: DataType) -> DataType {
    DataType::List(item(data_type))
}

fn head_fields() -> Vec<Field> {
    vec![
        Field::new(col::METRIC_NAME, DataType::Utf8, false),
        Field::new(col::METRIC_DESCRIPTION, DataType::Utf8, false),
        Field::new(col::METRIC_UNIT, DataType::Utf8, false),
        Field::new(col::SERVICE_NAME, DataType::Utf8, false),
        Field::new(col::SERIES_ID, DataType::Utf8, false),
        Field::new(col::START_TIME, utc_ns(), true),
        Field::new(col::TIME, utc_ns(), false),
    ]
}

fn schema_of(own: Vec<Field>, exemplars: bool) -> SchemaRef {
    let mut fields = head_fields();
    fields.extend(own);
    fields.push(Field::new(col::FLAGS, DataType::UInt32, false));
    if exemplars {
        fields.push(Field::new(
            col::EXEMPLARS,
            DataType::List(item(DataType::Struct(exemplar_fields()))),
            false,
        ));
    }
    fields.extend(ContextColumns::fields());
    fields.push(Field::new(col::METRIC_METADATA, DataType::Utf8, false));
    Arc::new(Schema::new(fields))
}

/// The Arrow schema of `metric_points`.
pub fn points_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            schema_of(
                vec![
                    Field::new(col::METRIC_TYPE, DataType::Utf8, false),
                    Field::new(col::TEMPORALITY, DataType::Utf8, false),
                    Field::new(col::IS_MONOTONIC, DataType::Boolean, false),
                    Field::new(col::VALUE, DataType::Float64, true),
                    Field::new(col::VALUE_INT, DataType::Int64, true),
                ],
                true,
            )
        })
        .clone()
}

/// The Arrow schema of `metric_histograms`.
pub fn histograms_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            schema_of(
                vec![
                    Field::new(col::TEMPORALITY, DataType::Utf8, false),
                    Field::new(col::COUNT, DataType::UInt64, false),
                    Field::new(col::SUM, DataType::Float64, true),
                    Field::new(col::MIN, DataType::Float64, true),
                    Field::new(col::MAX, DataType::Float64, true),
                    Field::new(col::BUCKET_COUNTS, list_of(DataType::UInt64), false),
                    Field::new(col::EXPLICIT_BOUNDS, list_of(DataType::Float64), false),
                ],
                true,
            )
        })
        .clone()
}

/// The Arrow schema of `metric_exp_histograms`.
pub fn exp_histograms_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            schema_of(
                vec![
                    Field::new(col::TEMPORALITY, DataType::Utf8, false),
                    Field::new(col::COUNT, DataType::UInt64, false),
                    Field::new(col::SUM, DataType::Float64, true),
                    Field::new(col::MIN, DataType::Float64, true),
                    Field::new(col::MAX, DataType::Float64, true),
                    Field::new(col::SCALE, DataType::Int32, false),
                    Field::new(col::ZERO_COUNT, DataType::UInt64, false),
                    Field::new(col::ZERO_THRESHOLD, DataType::Float64, false),
                    Field::new(col::POSITIVE_OFFSET, DataType::Int32, false),
                    Field::new(
                        col::POSITIVE_BUCKET_COUNTS,
                        list_of(DataType::UInt64),
                        false,
                    ),
                    Field::new(col::NEGATIVE_OFFSET, DataType::Int32, false),
                    Field::new(
                        col::NEGATIVE_BUCKET_COUNTS,
                        list_of(DataType::UInt64),
                        false,
                    ),
                ],
                true,
            )
        })
        .clone()
}

/// The Arrow schema of `metric_summaries`.
pub fn summaries_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            schema_of(
                vec![
                    Field::new(col::COUNT, DataType::UInt64, false),
                    Field::new(col::SUM, DataType::Float64, false),
                    Field::new(
                        col::QUANTILE_VALUES,
                        DataType::List(item(DataType::Struct(quantile_fields()))),
                        false,
                    ),
                ],
                false,
            )
        })
        .clone()
}

/// `(table name, schema)` of every metrics table.
pub fn tables() -> [(&'static str, SchemaRef); 4] {
    [
        (POINTS_TABLE, points_schema()),
        (HISTOGRAMS_TABLE, histograms_schema()),
        (EXP_HISTOGRAMS_TABLE, exp_histograms_schema()),
        (SUMMARIES_TABLE, summaries_schema()),
    ]
}

/// The series id of a point: the metric's seed and the point's attributes, as 16 hex digits.
fn series_id(
    metric: &MetricContext,
    attributes: &[(&str, Value<'_>)],
    scratch: &mut String,
) -> u64 {
    let attrs = attributes_hash(attributes, scratch);
    let mut h = fnv1a(metric.series_seed, &[0xfe]);
    h = fnv1a(h, &attrs.to_le_bytes());
    h
}

/// Builders of the columns every metrics table has (head, flags, exemplars, context).
struct Common {
    metric_name: StringBuilder,
    metric_description: StringBuilder,
    metric_unit: StringBuilder,
    service_name: StringBuilder,
    series_id: StringBuilder,
    start_time: TimestampNanosecondBuilder,
    time: TimestampNanosecondBuilder,
    flags: UInt32Builder,
    exemplars: Option<ListBuilder<StructBuilder>>,
    context: ContextColumns,
    metric_metadata: StringBuilder,
    scratch: String,
}

impl Common {
    fn with_capacity(capacity: usize, exemplars: bool) -> Self {
        let strings = || StringBuilder::with_capacity(capacity, capacity * 16);
        let ts = || TimestampNanosecondBuilder::with_capacity(capacity).with_timezone("UTC");
        Self {
            metric_name: strings(),
            metric_description: strings(),
            metric_unit: strings(),
            service_name: strings(),
            series_id: StringBuilder::with_capacity(capacity, capacity * 16),
            start_time: ts(),
            time: ts(),
            flags: UInt32Builder::with_capacity(capacity),
            exemplars: exemplars.then(|| {
                ListBuilder::new(StructBuilder::from_fields(exemplar_fields(), 0))
                    .with_field(item(DataType::Struct(exemplar_fields())))
            }),
            context: ContextColumns::with_capacity(capacity),
            metric_metadata: strings(),
            scratch: String::with_capacity(64),
        }
    }

    fn len(&self) -> usize {
        self.time.len()
    }

    /// Appends the head columns; the rest is appended by [`Common::append_tail`].
    fn append_head(
        &mut self,
        resource: &SignalResource,
        metric: &MetricContext,
        point: &PointInput<'_>,
    ) {
        self.metric_name.append_value(&metric.name);
        self.metric_description.append_value(&metric.description);
        self.metric_unit.append_value(&metric.unit);
        self.service_name.append_value(resource.service_name());
        let id = series_id(metric, point.attributes, &mut self.scratch);
        let mut buf = [0u8; 32];
        self.series_id
            .append_value(crate::spans::hex_id(&id.to_be_bytes(), &mut buf));
        self.start_time.append_option(point.start_ns);
        self.time.append_value(point.time_ns);
    }

    fn append_tail(
        &mut self,
        resource: &SignalResource,
        scope: &ScopeContext,
        metric: &MetricContext,
        point: &PointInput<'_>,
    ) {
        self.flags.append_value(point.flags);
        if let Some(list) = &mut self.exemplars {
            for e in point.exemplars {
                let item = list.values();
                self.scratch.clear();
                write_typed_json_object(&e.filtered_attributes, &mut self.scratch);
                field::<TimestampNanosecondBuilder>(item, 0).append_value(e.time_ns);
                field::<Float64Builder>(item, 1).append_option(e.value.as_f64());
                field::<Int64Builder>(item, 2).append_option(e.value.as_i64());
                append_id(
                    field::<StringBuilder>(item, 3),
                    e.trace_id.as_ref().map(|t| &t[..]),
                );
                append_id(
                    field::<StringBuilder>(item, 4),
                    e.span_id.as_ref().map(|s| &s[..]),
                );
                field::<StringBuilder>(item, 5).append_value(&self.scratch);
                item.append(true);
            }
            list.append(true);
        }
        self.context.append(resource, scope, point.attributes);
        self.metric_metadata.append_value(&metric.metadata_json);
    }

    fn finish(&mut self, schema: SchemaRef, own: Vec<ArrayRef>) -> Result<RecordBatch> {
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(self.metric_name.finish()),
            Arc::new(self.metric_description.finish()),
            Arc::new(self.metric_unit.finish()),
            Arc::new(self.service_name.finish()),
            Arc::new(self.series_id.finish()),
            Arc::new(self.start_time.finish()),
            Arc::new(self.time.finish()),
        ];
        columns.extend(own);
        columns.push(Arc::new(self.flags.finish()));
        if let Some(list) = &mut self.exemplars {
            columns.push(Arc::new(list.finish()));
        }
        columns.extend(self.context.finish());
        columns.push(Arc::new(self.metric_metadata.finish()));
        RecordBatch::try_new(schema, columns).map_err(Error::Arrow)
    }
}

fn field<T: ArrayBuilder>(item: &mut StructBuilder, i: usize) -> &mut T {
    // The struct builders are created from `exemplar_fields` / `quantile_fields`, whose types
    // match the indices used here; a mismatch is a programming error caught by the tests.
    #[allow(clippy::expect_used)]
    item.field_builder::<T>(i)
        .expect("struct field builder type matches its schema")
}

fn u64_list(capacity: usize) -> ListBuilder<UInt64Builder> {
    ListBuilder::new(UInt64Builder::with_capacity(capacity)).with_field(item(DataType::UInt64))
}

fn f64_list(capacity: usize) -> ListBuilder<Float64Builder> {
    ListBuilder::new(Float64Builder::with_capacity(capacity)).with_field(item(DataType::Float64))
}

/// Builds `metric_points` batches.
pub struct NumberPointBuilder {
    common: Common,
    metric_type: StringBuilder,
    temporality: StringBuilder,
    is_monotonic: BooleanBuilder,
    value: Float64Builder,
    value_int: Int64Builder,
}

impl NumberPointBuilder {
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            common: Common::with_capacity(capacity, true),
            metric_type: StringBuilder::with_capacity(capacity, capacity * 5),
            temporality: StringBuilder::with_capacity(capacity, capacity * 10),
            is_monotonic: BooleanBuilder::with_capacity(capacity),
            value: Float64Builder::with_capacity(capacity),
            value_int: Int64Builder::with_capacity(capacity),
        }
    }

    pub fn len(&self) -> usize {
        self.common.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn append(
        &mut self,
        resource: &SignalResource,
        scope: &ScopeContext,
        metric: &MetricContext,
        kind: NumberKind,
        point: &PointInput<'_>,
        value: Number,
    ) {
        self.common.append_head(resource, metric, point);
        self.metric_type.append_value(kind.as_str());
        let (temporality, monotonic) = match kind {
            NumberKind::Gauge => (Temporality::Unspecified, false),
            NumberKind::Sum {
                temporality,
                monotonic,
            } => (temporality, monotonic),
        };
        self.temporality.append_value(temporality.as_str());
        self.is_monotonic.append_value(monotonic);
        self.value.append_option(value.as_f64());
        self.value_int.append_option(value.as_i64());
        self.common.append_tail(resource, scope, metric, point);
    }

    pub fn finish(&mut self) -> Result<RecordBatch> {
        let own: Vec<ArrayRef> = vec![
            Arc::new(self.metric_type.finish()),
            Arc::new(self.temporality.finish()),
            Arc::new(self.is_monotonic.finish()),
            Arc::new(self.value.finish()),
            Arc::new(self.value_int.finish()),
        ];
        self.common.finish(points_schema(), own)
    }
}

/// Builds `metric_histograms` batches.
pub struct HistogramBuilder {
    common: Common,
    temporality: StringBuilder,
    count: UInt64Builder,
    sum: Float64Builder,
    min: Float64Builder,
    max: Float64Builder,
    bucket_counts: ListBuilder<UInt64Builder>,
    explicit_bounds: ListBuilder<Float64Builder>,
}

impl HistogramBuilder {
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            common: Common::with_capacity(capacity, true),
            temporality: StringBuilder::with_capacity(capacity, capacity * 10),
            count: UInt64Builder::with_capacity(capacity),
            sum: Float64Builder::with_capacity(capacity),
            min: Float64Builder::with_capacity(capacity),
            max: Float64Builder::with_capacity(capacity),
            bucket_counts: u64_list(capacity * 8),
            explicit_bounds: f64_list(capacity * 8),
        }
    }

    pub fn len(&self) -> usize {
        self.common.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn append(
        &mut self,
        resource: &SignalResource,
        scope: &ScopeContext,
        metric: &MetricContext,
        temporality: Temporality,
        point: &PointInput<'_>,
        histogram: &HistogramInput<'_>,
    ) {
        self.common.append_head(resource, metric, point);
        self.temporality.append_value(temporality.as_str());
        self.count.append_value(histogram.count);
        self.sum.append_option(histogram.sum);
        self.min.append_option(histogram.min);
        self.max.append_option(histogram.max);
        self.bucket_counts
            .values()
            .append_slice(histogram.bucket_counts);
        self.bucket_counts.append(true);
        self.explicit_bounds
            .values()
            .append_slice(histogram.explicit_bounds);
        self.explicit_bounds.append(true);
        self.common.append_tail(resource, scope, metric, point);
    }

    pub fn finish(&mut self) -> Result<RecordBatch> {
        let own: Vec<ArrayRef> = vec![
            Arc::new(self.temporality.finish()),
            Arc::new(self.count.finish()),
            Arc::new(self.sum.finish()),
            Arc::new(self.min.finish()),
            Arc::new(self.max.finish()),
            Arc::new(self.bucket_counts.finish()),
            Arc::new(self.explicit_bounds.finish()),
        ];
        self.common.finish(histograms_schema(), own)
    }
}

/// Builds `metric_exp_histograms` batches.
pub struct ExpHistogramBuilder {
    common: Common,
    temporality: StringBuilder,
    count: UInt64Builder,
    sum: Float64Builder,
    min: Float64Builder,
    max: Float64Builder,
    scale: Int32Builder,
    zero_count: UInt64Builder,
    zero_threshold: Float64Builder,
    positive_offset: Int32Builder,
    positive_bucket_counts: ListBuilder<UInt64Builder>,
    negative_offset: Int32Builder,
    negative_bucket_counts: ListBuilder<UInt64Builder>,
}

impl ExpHistogramBuilder {
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            common: Common::with_capacity(capacity, true),
            temporality: StringBuilder::with_capacity(capacity, capacity * 10),
            count: UInt64Builder::with_capacity(capacity),
            sum: Float64Builder::with_capacity(capacity),
            min: Float64Builder::with_capacity(capacity),
            max: Float64Builder::with_capacity(capacity),
            scale: Int32Builder::with_capacity(capacity),
            zero_count: UInt64Builder::with_capacity(capacity),
            zero_threshold: Float64Builder::with_capacity(capacity),
            positive_offset: Int32Builder::with_capacity(capacity),
            positive_bucket_counts: u64_list(capacity * 8),
            negative_offset: Int32Builder::with_capacity(capacity),
            negative_bucket_counts: u64_list(capacity),
        }
    }

    pub fn len(&self) -> usize {
        self.common.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn append(
        &mut self,
        resource: &SignalResource,
        scope: &ScopeContext,
        metric: &MetricContext,
        temporality: Temporality,
        point: &PointInput<'_>,
        histogram: &ExpHistogramInput<'_>,
    ) {
        self.common.append_head(resource, metric, point);
        self.temporality.append_value(temporality.as_str());
        self.count.append_value(histogram.count);
        self.sum.append_option(histogram.sum);
        self.min.append_option(histogram.min);
        self.max.append_option(histogram.max);
        self.scale.append_value(histogram.scale);
        self.zero_count.append_value(histogram.zero_count);
        self.zero_threshold.append_value(histogram.zero_threshold);
        self.positive_offset.append_value(histogram.positive_offset);
        self.positive_bucket_counts
            .values()
            .append_slice(histogram.positive_bucket_counts);
        self.positive_bucket_counts.append(true);
        self.negative_offset.append_value(histogram.negative_offset);
        self.negative_bucket_counts
            .values()
            .append_slice(histogram.negative_bucket_counts);
        self.negative_bucket_counts.append(true);
        self.common.append_tail(resource, scope, metric, point);
    }

    pub fn finish(&mut self) -> Result<RecordBatch> {
        let own: Vec<ArrayRef> = vec![
            Arc::new(self.temporality.finish()),
            Arc::new(self.count.finish()),
            Arc::new(self.sum.finish()),
            Arc::new(self.min.finish()),
            Arc::new(self.max.finish()),
            Arc::new(self.scale.finish()),
            Arc::new(self.zero_count.finish()),
            Arc::new(self.zero_threshold.finish()),
            Arc::new(self.positive_offset.finish()),
            Arc::new(self.positive_bucket_counts.finish()),
            Arc::new(self.negative_offset.finish()),
            Arc::new(self.negative_bucket_counts.finish()),
        ];
        self.common.finish(exp_histograms_schema(), own)
    }
}

/// Builds `metric_summaries` batches.
pub struct SummaryBuilder {
    common: Common,
    count: UInt64Builder,
    sum: Float64Builder,
    quantile_values: ListBuilder<StructBuilder>,
}

impl SummaryBuilder {
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            common: Common::with_capacity(capacity, false),
            count: UInt64Builder::with_capacity(capacity),
            sum: Float64Builder::with_capacity(capacity),
            quantile_values: ListBuilder::new(StructBuilder::from_fields(quantile_fields(), 0))
                .with_field(item(DataType::Struct(quantile_fields()))),
        }
    }

    pub fn len(&self) -> usize {
        self.common.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn append(
        &mut self,
        resource: &SignalResource,
        scope: &ScopeContext,
        metric: &MetricContext,
        point: &PointInput<'_>,
        summary: &SummaryInput<'_>,
    ) {
        self.common.append_head(resource, metric, point);
        self.count.append_value(summary.count);
        self.sum.append_value(summary.sum);
        for (quantile, value) in summary.quantile_values {
            let item = self.quantile_values.values();
            field::<Float64Builder>(item, 0).append_value(*quantile);
            field::<Float64Builder>(item, 1).append_value(*value);
            item.append(true);
        }
        self.quantile_values.append(true);
        self.common.append_tail(resource, scope, metric, point);
    }

    pub fn finish(&mut self) -> Result<RecordBatch> {
        let own: Vec<ArrayRef> = vec![
            Arc::new(self.count.finish()),
            Arc::new(self.sum.finish()),
            Arc::new(self.quantile_values.finish()),
        ];
        self.common.finish(summaries_schema(), own)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{Float64Type, Int64Type, TimestampNanosecondType, UInt64Type};

    const T: i64 = 1_700_000_000_000_000_000;

    fn contexts() -> (SignalResource, ScopeContext) {
        (
            SignalResource::new(
                &[
                    ("service.name", Value::Str("cart")),
                    ("host.cores", Value::Int(2)),
                ],
                "",
            ),
            ScopeContext::new("meter", "1.0", &[], ""),
        )
    }

    fn metric(resource: &SignalResource, scope: &ScopeContext, name: &str) -> MetricContext {
        MetricContext::new(resource, scope, name, "a metric", "ms", &[])
    }

    #[test]
    fn number_points() {
        let (resource, scope) = contexts();
        let m = metric(&resource, &scope, "requests");
        let attrs = [("route", Value::Str("/a")), ("code", Value::Int(200))];
        let attrs_reordered = [("code", Value::Int(200)), ("route", Value::Str("/a"))];
        let exemplars = [ExemplarInput {
            time_ns: T,
            value: Number::Int(7),
            trace_id: Some([0xab; 16]),
            span_id: Some([0xcd; 8]),
            filtered_attributes: vec![("user", Value::Str("u1"))],
        }];
        let mut b = NumberPointBuilder::with_capacity(2);
        let kind = NumberKind::Sum {
            temporality: Temporality::Cumulative,
            monotonic: true,
        };
        let point = |attrs, exemplars| PointInput {
            start_ns: Some(T - 10),
            time_ns: T,
            attributes: attrs,
            flags: 0,
            exemplars,
        };
        b.append(
            &resource,
            &scope,
            &m,
            kind,
            &point(&attrs, &exemplars),
            Number::Int(i64::MAX),
        );
        b.append(
            &resource,
            &scope,
            &m,
            NumberKind::Gauge,
            &PointInput {
                start_ns: None,
                ..point(&attrs_reordered, &[])
            },
            Number::Double(0.5),
        );
        let batch = b.finish().expect("batch");
        assert_eq!(batch.schema(), points_schema());
        assert_eq!(batch.num_rows(), 2);
        let s = |c: &str, r: usize| {
            batch
                .column_by_name(c)
                .expect(c)
                .as_string::<i32>()
                .value(r)
                .to_owned()
        };
        assert_eq!(s(col::SERVICE_NAME, 0), "cart");
        assert_eq!(s(col::METRIC_TYPE, 0), "sum");
        assert_eq!(s(col::METRIC_TYPE, 1), "gauge");
        assert_eq!(s(col::TEMPORALITY, 0), "cumulative");
        assert_eq!(s(col::SERIES_ID, 0).len(), 16);
        assert_eq!(
            s(col::SERIES_ID, 0),
            s(col::SERIES_ID, 1),
            "attribute order does not change the series"
        );
        let ints = batch
            .column_by_name(col::VALUE_INT)
            .expect("col")
            .as_primitive::<Int64Type>();
        assert_eq!(ints.value(0), i64::MAX);
        assert!(ints.is_null(1));
        let values = batch
            .column_by_name(col::VALUE)
            .expect("col")
            .as_primitive::<Float64Type>();
        assert_eq!(values.value(1), 0.5);
        let start = batch
            .column_by_name(col::START_TIME)
            .expect("col")
            .as_primitive::<TimestampNanosecondType>();
        assert_eq!(start.value(0), T - 10);
        assert!(start.is_null(1));
        let ex = batch
            .column_by_name(col::EXEMPLARS)
            .expect("col")
            .as_list::<i32>();
        let e0 = ex.value(0);
        let e0 = e0.as_struct();
        assert_eq!(e0.column(3).as_string::<i32>().value(0), "ab".repeat(16));
        assert_eq!(e0.column(4).as_string::<i32>().value(0), "cd".repeat(8));
        assert_eq!(e0.column(5).as_string::<i32>().value(0), r#"{"user":"u1"}"#);
        assert_eq!(e0.column(2).as_primitive::<Int64Type>().value(0), 7);
        assert_eq!(ex.value(1).len(), 0);
    }

    #[test]
    fn distributions() {
        let (resource, scope) = contexts();
        let point = PointInput {
            start_ns: Some(T - 10),
            time_ns: T,
            attributes: &[],
            flags: 1,
            exemplars: &[],
        };
        let mut h = HistogramBuilder::with_capacity(1);
        h.append(
            &resource,
            &scope,
            &metric(&resource, &scope, "latency"),
            Temporality::Delta,
            &point,
            &HistogramInput {
                count: 3,
                sum: Some(12.0),
                min: None,
                max: Some(9.0),
                bucket_counts: &[1, 0, 2],
                explicit_bounds: &[1.0, 5.0],
            },
        );
        let batch = h.finish().expect("histograms");
        assert_eq!(batch.schema(), histograms_schema());
        let counts = batch
            .column_by_name(col::BUCKET_COUNTS)
            .expect("col")
            .as_list::<i32>();
        assert_eq!(
            counts.value(0).as_primitive::<UInt64Type>().values(),
            &[1, 0, 2]
        );
        assert!(batch.column_by_name(col::MIN).expect("min").is_null(0));

        let mut e = ExpHistogramBuilder::with_capacity(1);
        e.append(
            &resource,
            &scope,
            &metric(&resource, &scope, "latency.exp"),
            Temporality::Cumulative,
            &point,
            &ExpHistogramInput {
                count: 4,
                sum: Some(10.0),
                min: Some(0.0),
                max: Some(5.0),
                scale: 3,
                zero_count: 1,
                zero_threshold: 0.0,
                positive_offset: -2,
                positive_bucket_counts: &[1, 1],
                negative_offset: 0,
                negative_bucket_counts: &[1],
            },
        );
        let batch = e.finish().expect("exp histograms");
        assert_eq!(batch.schema(), exp_histograms_schema());
        assert_eq!(batch.num_rows(), 1);

        let mut s = SummaryBuilder::with_capacity(1);
        s.append(
            &resource,
            &scope,
            &metric(&resource, &scope, "rpc"),
            &point,
            &SummaryInput {
                count: 10,
                sum: 55.0,
                quantile_values: &[(0.5, 5.0), (0.99, 9.9)],
            },
        );
        let batch = s.finish().expect("summaries");
        assert_eq!(batch.schema(), summaries_schema());
        assert!(batch.column_by_name(col::EXEMPLARS).is_none());
        let q = batch
            .column_by_name(col::QUANTILE_VALUES)
            .expect("col")
            .as_list::<i32>();
        assert_eq!(q.value(0).len(), 2);
    }

    #[test]
    fn series_ids_differ_by_name_resource_and_attributes() {
        let (resource, scope) = contexts();
        let other = SignalResource::new(&[("service.name", Value::Str("web"))], "");
        let mut scratch = String::new();
        let a = [("k", Value::Str("v"))];
        let id = |r: &SignalResource, name: &str, attrs: &[(&str, Value<'_>)], s: &mut String| {
            series_id(&metric(r, &scope, name), attrs, s)
        };
        let base = id(&resource, "m", &a, &mut scratch);
        assert_ne!(base, id(&other, "m", &a, &mut scratch));
        assert_ne!(base, id(&resource, "n", &a, &mut scratch));
        assert_ne!(base, id(&resource, "m", &[], &mut scratch));
        assert_eq!(base, id(&resource, "m", &a, &mut scratch));
    }

    #[test]
    fn temporality_words_round_trip() {
        for n in 0..3 {
            let t = Temporality::from_otlp(n);
            assert_eq!(t.to_otlp(), n);
            assert_eq!(Temporality::parse(t.as_str()), Some(t));
        }
    }
}
