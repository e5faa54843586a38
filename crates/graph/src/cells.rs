//! Accumulated measures of one key and minute (or hour), and their record-batch form.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BinaryBuilder, Int64Builder, StringBuilder, TimestampNanosecondBuilder,
};
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use meshscope_model::SpanKind;

use crate::error::Result;
use crate::node::NodeType;
use crate::sketch::LatencySketch;

#[derive(Debug, Clone)]
pub(crate) struct Measures {
    pub(crate) calls: u64,
    pub(crate) errors: u64,
    pub(crate) sum_ns: i64,
    pub(crate) min_ns: i64,
    pub(crate) max_ns: i64,
    pub(crate) sketch: LatencySketch,
}

impl Measures {
    pub(crate) fn new() -> Self {
        Self {
            calls: 0,
            errors: 0,
            sum_ns: 0,
            min_ns: i64::MAX,
            max_ns: i64::MIN,
            sketch: LatencySketch::new(),
        }
    }

    pub(crate) fn add(&mut self, duration_ns: i64, error: bool) {
        self.calls += 1;
        self.errors += u64::from(error);
        self.sum_ns = self.sum_ns.saturating_add(duration_ns);
        self.min_ns = self.min_ns.min(duration_ns);
        self.max_ns = self.max_ns.max(duration_ns);
        self.sketch.add(duration_ns);
    }
}

#[derive(Debug, Clone)]
pub(crate) struct RedCell {
    pub(crate) service: Arc<str>,
    pub(crate) name: Box<str>,
    pub(crate) kind: SpanKind,
    pub(crate) m: Measures,
}

#[derive(Debug, Clone)]
pub(crate) struct EdgeCell {
    pub(crate) parent: Arc<str>,
    pub(crate) child: Arc<str>,
    pub(crate) child_type: NodeType,
    pub(crate) unpaired: u64,
    pub(crate) m: Measures,
}

fn saturating_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

struct MeasureBuilders {
    calls: Int64Builder,
    errors: Int64Builder,
    sum: Int64Builder,
    min: Int64Builder,
    max: Int64Builder,
    sketch: BinaryBuilder,
    buf: Vec<u8>,
}

impl MeasureBuilders {
    fn new(rows: usize) -> Self {
        Self {
            calls: Int64Builder::with_capacity(rows),
            errors: Int64Builder::with_capacity(rows),
            sum: Int64Builder::with_capacity(rows),
            min: Int64Builder::with_capacity(rows),
            max: Int64Builder::with_capacity(rows),
            sketch: BinaryBuilder::with_capacity(rows, rows * 48),
            buf: Vec::with_capacity(256),
        }
    }

    fn append(&mut self, m: &Measures) {
        self.calls.append_value(saturating_i64(m.calls));
        self.errors.append_value(saturating_i64(m.errors));
        self.sum.append_value(m.sum_ns);
        self.min
            .append_value(if m.calls == 0 { 0 } else { m.min_ns });
        self.max
            .append_value(if m.calls == 0 { 0 } else { m.max_ns });
        self.buf.clear();
        m.sketch.encode(&mut self.buf);
        self.sketch.append_value(&self.buf);
    }

    /// `calls, errors` then the four duration columns, in schema order after the key columns.
    fn finish(mut self, counts: &mut Vec<ArrayRef>, extra: Option<ArrayRef>) {
        counts.push(Arc::new(self.calls.finish()));
        counts.push(Arc::new(self.errors.finish()));
        counts.extend(extra);
        counts.push(Arc::new(self.sum.finish()));
        counts.push(Arc::new(self.min.finish()));
        counts.push(Arc::new(self.max.finish()));
        counts.push(Arc::new(self.sketch.finish()));
    }
}

fn time_builder(rows: usize) -> TimestampNanosecondBuilder {
    TimestampNanosecondBuilder::with_capacity(rows).with_timezone("UTC")
}

/// `span_metrics` (or hourly) rows, sorted by time, service, operation, kind.
pub(crate) fn red_batch<'a>(
    schema: SchemaRef,
    cells: impl Iterator<Item = (i64, &'a RedCell)>,
) -> Result<RecordBatch> {
    let mut rows: Vec<(i64, &RedCell)> = cells.collect();
    rows.sort_unstable_by(|(ma, a), (mb, b)| {
        (ma, &a.service, &a.name, a.kind.to_otlp()).cmp(&(
            mb,
            &b.service,
            &b.name,
            b.kind.to_otlp(),
        ))
    });
    let n = rows.len();
    let mut minute = time_builder(n);
    let mut service = StringBuilder::with_capacity(n, n * 16);
    let mut name = StringBuilder::with_capacity(n, n * 24);
    let mut kind = StringBuilder::with_capacity(n, n * 6);
    let mut measures = MeasureBuilders::new(n);
    for (m, cell) in &rows {
        minute.append_value(*m);
        service.append_value(&cell.service);
        name.append_value(&cell.name);
        kind.append_value(cell.kind.as_str());
        measures.append(&cell.m);
    }
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(minute.finish()),
        Arc::new(service.finish()),
        Arc::new(name.finish()),
        Arc::new(kind.finish()),
    ];
    measures.finish(&mut columns, None);
    Ok(RecordBatch::try_new(schema, columns)?)
}

/// `service_edges` (or hourly) rows, sorted by time, parent, child, child type.
pub(crate) fn edges_batch<'a>(
    schema: SchemaRef,
    cells: impl Iterator<Item = (i64, &'a EdgeCell)>,
) -> Result<RecordBatch> {
    let mut rows: Vec<(i64, &EdgeCell)> = cells.collect();
    rows.sort_unstable_by(|(ma, a), (mb, b)| {
        (ma, &a.parent, &a.child, a.child_type).cmp(&(mb, &b.parent, &b.child, b.child_type))
    });
    let n = rows.len();
    let mut minute = time_builder(n);
    let mut parent = StringBuilder::with_capacity(n, n * 16);
    let mut child = StringBuilder::with_capacity(n, n * 16);
    let mut child_type = StringBuilder::with_capacity(n, n * 8);
    let mut unpaired = Int64Builder::with_capacity(n);
    let mut measures = MeasureBuilders::new(n);
    for (m, cell) in &rows {
        minute.append_value(*m);
        parent.append_value(&cell.parent);
        child.append_value(&cell.child);
        child_type.append_value(cell.child_type.as_str());
        unpaired.append_value(saturating_i64(cell.unpaired));
        measures.append(&cell.m);
    }
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(minute.finish()),
        Arc::new(parent.finish()),
        Arc::new(child.finish()),
        Arc::new(child_type.finish()),
    ];
    let unpaired: ArrayRef = Arc::new(unpaired.finish());
    measures.finish(&mut columns, Some(unpaired));
    Ok(RecordBatch::try_new(schema, columns)?)
}
