//! Trace lookup by id and trace search.
//!
//! Search is two queries on one snapshot: the newest traces with a span matching every filter
//! (`GROUP BY trace_id … ORDER BY … LIMIT`: the filters apply before the limit), then the spans
//! of those traces (a `trace_id IN (…)` lookup, bounded in time around the matching spans) to
//! summarise or return them.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, TimestampNanosecondType};
use datafusion::common::ScalarValue;
use datafusion::functions::core::expr_fn::get_field;
use datafusion::functions::regex::expr_fn::regexp_like;
use datafusion::functions_aggregate::expr_fn::{max, min};
use datafusion::logical_expr::{Expr, cast, col, lit, when};
use meshscope_model::promote::{PromotedType, RESOURCE_PROMOTIONS, SPAN_PROMOTIONS};
use meshscope_model::spans::col as c;
use meshscope_model::{SpanKind, StatusCode};

use crate::engine::{QueryCtx, QueryEngine};
use crate::error::{Error, Result};
use crate::provider::{SnapshotTable, TimeBounds};
use crate::trace::{SPAN_COLUMNS, SpanRecord, decode_spans};

/// Most traces one search returns.
pub const MAX_SEARCH_LIMIT: usize = 1000;
/// How far before its first and after its last matching span a trace's other spans are
/// looked for when search returns whole traces or summaries.
pub const TRACE_SPREAD_NS: i64 = 30 * 60 * 1_000_000_000;

/// How an attribute filter compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchOp {
    /// `key=value`: the attribute is present with this value.
    Eq,
    /// `key!=value`: the attribute is absent or has another value.
    NotEq,
    /// `key=~regex`: the attribute is present and matches (unanchored, Rust regex syntax).
    Regex,
    /// `key!~regex`: the attribute is absent or does not match.
    NotRegex,
}

/// One attribute filter: `key=value`, `key!=value`, `key=~regex` or `key!~regex`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttributeFilter {
    pub key: String,
    pub op: MatchOp,
    pub value: String,
}

impl AttributeFilter {
    pub fn new(key: impl Into<String>, op: MatchOp, value: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            op,
            value: value.into(),
        }
    }
}

impl FromStr for AttributeFilter {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        let bad = || {
            Error::InvalidRequest(format!(
                "invalid attribute filter {text:?}: use key=value, key!=value, key=~regex or key!~regex"
            ))
        };
        let bytes = text.as_bytes();
        let (at, op, width) = (0..bytes.len())
            .find_map(|i| match (bytes[i], bytes.get(i + 1)) {
                (b'!', Some(b'=')) => Some((i, MatchOp::NotEq, 2)),
                (b'!', Some(b'~')) => Some((i, MatchOp::NotRegex, 2)),
                (b'=', Some(b'~')) => Some((i, MatchOp::Regex, 2)),
                (b'=', _) => Some((i, MatchOp::Eq, 1)),
                _ => None,
            })
            .ok_or_else(bad)?;
        let key = text[..at].trim();
        if key.is_empty() {
            return Err(bad());
        }
        Ok(Self::new(key, op, &text[at + width..]))
    }
}

impl fmt::Display for AttributeFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.op {
            MatchOp::Eq => "=",
            MatchOp::NotEq => "!=",
            MatchOp::Regex => "=~",
            MatchOp::NotRegex => "!~",
        };
        write!(f, "{}{op}{}", self.key, self.value)
    }
}

/// What to search for. Every filter applies to one span; a trace matches when one of its spans
/// matches them all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    pub service: Option<String>,
    pub operation: Option<String>,
    pub kind: Option<SpanKind>,
    pub status: Option<StatusCode>,
    pub attributes: Vec<AttributeFilter>,
    pub min_duration_ns: Option<i64>,
    pub max_duration_ns: Option<i64>,
    /// Span start times, inclusive, in ns since the epoch.
    pub start_ns: Option<i64>,
    pub end_ns: Option<i64>,
    /// Traces to return (1..=[`MAX_SEARCH_LIMIT`]).
    pub limit: usize,
}

impl Default for SearchQuery {
    fn default() -> Self {
        Self {
            service: None,
            operation: None,
            kind: None,
            status: None,
            attributes: Vec::new(),
            min_duration_ns: None,
            max_duration_ns: None,
            start_ns: None,
            end_ns: None,
            limit: 20,
        }
    }
}

/// Per service, in a trace summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSpans {
    pub service: String,
    pub span_count: u64,
    pub error_count: u64,
}

/// One search hit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceSummary {
    pub trace_id: String,
    /// Of the root span (no parent), or of the earliest span when the root is missing.
    pub root_service: String,
    pub root_operation: String,
    /// Earliest start and latest end of the trace's spans.
    pub start_ns: i64,
    pub duration_ns: i64,
    pub span_count: u64,
    pub error_count: u64,
    /// Services touched, by name.
    pub services: Vec<ServiceSpans>,
}

/// Lowercase 32-digit hex of a trace id given as 1 to 32 hex digits (left-padded, as Jaeger
/// does for 64-bit ids).
pub fn normalize_trace_id(text: &str) -> Result<String> {
    let text = text.trim();
    if text.is_empty() || text.len() > 32 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::InvalidRequest(format!(
            "invalid trace id {text:?}: expected up to 32 hex digits"
        )));
    }
    Ok(format!("{:0>32}", text.to_ascii_lowercase()))
}

fn ts(ns: i64) -> Expr {
    lit(ScalarValue::TimestampNanosecond(
        Some(ns),
        Some("UTC".into()),
    ))
}

fn null_str() -> Expr {
    lit(ScalarValue::Utf8(None))
}

/// `NULLIF(column, '')` without depending on the function registry.
fn non_empty(column: &str) -> Result<Expr> {
    Ok(when(col(column).eq(lit("")), null_str()).otherwise(col(column))?)
}

/// The text value of a tag Jaeger derives from span fields, when `key` is one.
fn virtual_tag(key: &str) -> Result<Option<Expr>> {
    Ok(Some(match key {
        "service.name" => col(c::SERVICE_NAME),
        "span.kind" => {
            when(col(c::KIND).eq(lit("unspecified")), null_str()).otherwise(col(c::KIND))?
        }
        "error" => {
            when(col(c::STATUS_CODE).eq(lit("error")), lit("true")).otherwise(lit("false"))?
        }
        "otel.status_code" => when(col(c::STATUS_CODE).eq(lit("ok")), lit("OK"))
            .when(col(c::STATUS_CODE).eq(lit("error")), lit("ERROR"))
            .otherwise(null_str())?,
        "otel.status_description" => non_empty(c::STATUS_MESSAGE)?,
        "otel.library.name" | "otel.scope.name" => non_empty(c::SCOPE_NAME)?,
        "otel.library.version" | "otel.scope.version" => non_empty(c::SCOPE_VERSION)?,
        "w3c.tracestate" => non_empty(c::TRACE_STATE)?,
        _ => return Ok(None),
    }))
}

/// The promoted column that holds attribute `key`, if any.
fn promoted(key: &str) -> Option<(&'static str, PromotedType)> {
    SPAN_PROMOTIONS
        .iter()
        .chain(RESOURCE_PROMOTIONS)
        .find(|p| p.keys.contains(&key))
        .map(|p| (p.column, p.ty))
}

fn apply(op: MatchOp, candidates: Vec<Expr>, value: &str) -> Expr {
    let matches = |candidate: Expr| match op {
        MatchOp::Eq | MatchOp::NotEq => candidate.eq(lit(value)),
        MatchOp::Regex | MatchOp::NotRegex => regexp_like(candidate, lit(value), None),
    };
    let any = candidates
        .into_iter()
        .map(matches)
        .reduce(Expr::or)
        .unwrap_or_else(|| lit(false));
    match op {
        MatchOp::Eq | MatchOp::Regex => any,
        MatchOp::NotEq | MatchOp::NotRegex => any.is_not_true(),
    }
}

/// The predicate of one attribute filter on a span row.
///
/// * Tags Jaeger derives from span fields (`error`, `span.kind`, `otel.status_code`,
///   `otel.status_description`, `otel.library.name`/`otel.scope.name` and versions,
///   `w3c.tracestate`, `service.name`) compare with those fields.
/// * Promoted attributes (either semantic-convention name) compare with their typed column.
/// * Any other key is looked up in the span's attributes and its resource's attributes, by
///   display form (numbers and booleans as text).
pub fn attribute_predicate(filter: &AttributeFilter) -> Result<Expr> {
    attribute_predicate_in(filter, &[c::ATTRIBUTES, c::RESOURCE_ATTRIBUTES])
}

/// [`attribute_predicate`], looking a key that is neither derived nor promoted up in the map
/// columns `maps` only (at least one).
fn attribute_predicate_in(filter: &AttributeFilter, maps: &[&str]) -> Result<Expr> {
    if let Some(expr) = virtual_tag(&filter.key)? {
        return Ok(apply(filter.op, vec![expr], &filter.value));
    }
    if let Some((column, ty)) = promoted(&filter.key) {
        match ty {
            PromotedType::Str => return Ok(apply(filter.op, vec![col(column)], &filter.value)),
            PromotedType::Int => {
                let exact = filter.value.trim().parse::<i64>();
                match (filter.op, exact) {
                    (MatchOp::Eq, Ok(v)) => return Ok(col(column).eq(lit(v))),
                    (MatchOp::NotEq, Ok(v)) => return Ok(col(column).eq(lit(v)).is_not_true()),
                    (MatchOp::Regex | MatchOp::NotRegex, _) => {
                        let text = cast(col(column), DataType::Utf8);
                        return Ok(apply(filter.op, vec![text], &filter.value));
                    }
                    // not an integer: compare the stored text below
                    (MatchOp::Eq | MatchOp::NotEq, Err(_)) => {}
                }
            }
        }
    }
    let candidates = maps
        .iter()
        .map(|map| get_field(col(*map), filter.key.as_str()))
        .collect();
    Ok(apply(filter.op, candidates, &filter.value))
}

impl SearchQuery {
    fn validate(&self) -> Result<()> {
        if self.limit == 0 || self.limit > MAX_SEARCH_LIMIT {
            return Err(Error::InvalidRequest(format!(
                "limit must be between 1 and {MAX_SEARCH_LIMIT}"
            )));
        }
        if let (Some(lo), Some(hi)) = (self.min_duration_ns, self.max_duration_ns)
            && hi < lo
        {
            return Err(Error::InvalidRequest(
                "maximum duration is below the minimum duration".into(),
            ));
        }
        if let (Some(lo), Some(hi)) = (self.start_ns, self.end_ns)
            && hi < lo
        {
            return Err(Error::InvalidRequest("end is before start".into()));
        }
        Ok(())
    }

    /// The span predicate of every filter together (`None`: match every span).
    pub fn predicate(&self) -> Result<Option<Expr>> {
        self.predicate_over(|_| vec![c::ATTRIBUTES, c::RESOURCE_ATTRIBUTES])
    }

    /// The time bounds of the search.
    fn bounds(&self) -> TimeBounds {
        TimeBounds {
            min: self.start_ns.unwrap_or(i64::MIN),
            max: self.end_ns.unwrap_or(i64::MAX),
        }
    }

    /// [`Self::predicate`], looking each attribute that is neither derived nor promoted up in
    /// the maps `maps_of(key)` names.
    fn predicate_over(&self, maps_of: impl Fn(&str) -> Vec<&'static str>) -> Result<Option<Expr>> {
        let mut parts = Vec::new();
        if let Some(start) = self.start_ns {
            parts.push(col(c::START_TIME).gt_eq(ts(start)));
        }
        if let Some(end) = self.end_ns {
            parts.push(col(c::START_TIME).lt_eq(ts(end)));
        }
        if let Some(service) = &self.service {
            parts.push(col(c::SERVICE_NAME).eq(lit(service.as_str())));
        }
        if let Some(operation) = &self.operation {
            parts.push(col(c::NAME).eq(lit(operation.as_str())));
        }
        if let Some(kind) = self.kind {
            parts.push(col(c::KIND).eq(lit(kind.as_str())));
        }
        if let Some(status) = self.status {
            parts.push(col(c::STATUS_CODE).eq(lit(status.as_str())));
        }
        if let Some(d) = self.min_duration_ns {
            parts.push(col(c::DURATION_NS).gt_eq(lit(d)));
        }
        if let Some(d) = self.max_duration_ns {
            parts.push(col(c::DURATION_NS).lt_eq(lit(d)));
        }
        for filter in &self.attributes {
            parts.push(attribute_predicate_in(filter, &maps_of(&filter.key))?);
        }
        Ok(parts.into_iter().reduce(Expr::and))
    }
}

/// A trace found by search, with the times of its matching spans.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TraceHit {
    trace_id: String,
    first_ns: i64,
    last_ns: i64,
}

/// The rows a first round of [`find_traces`] reads at most, unless its first part alone holds
/// more; each later round may read twice as many as the one before.
const FIRST_ROUND_ROWS: u64 = 250_000;

/// A part of the snapshot a search reads in one go: a head batch or a file, with its time
/// range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Segment {
    part: Part,
    min_ns: i64,
    max_ns: i64,
    rows: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    /// The head batch at this index of the snapshot's head.
    Head(usize),
    /// The file at this index of the snapshot's files.
    File(usize),
}

/// The head batches and the files of `table` that overlap `bounds`, newest (largest time)
/// first.
fn segments(table: &SnapshotTable, bounds: &TimeBounds) -> Vec<Segment> {
    let snapshot = table.snapshot();
    let files = snapshot.files.iter().enumerate().map(|(i, f)| Segment {
        part: Part::File(i),
        min_ns: f.min_time_ns,
        max_ns: f.max_time_ns,
        rows: f.rows,
    });
    let ranges = table.head_ranges();
    let head = snapshot.head.iter().enumerate().map(|(i, batch)| {
        // a batch whose times cannot be read may hold any time
        let (min_ns, max_ns) = ranges
            .get(i)
            .copied()
            .flatten()
            .unwrap_or((i64::MIN, i64::MAX));
        Segment {
            part: Part::Head(i),
            min_ns,
            max_ns,
            rows: batch.num_rows() as u64,
        }
    });
    let mut segments: Vec<Segment> = files
        .chain(head)
        .filter(|s| s.rows > 0 && bounds.overlaps(s.min_ns, s.max_ns))
        .collect();
    segments.sort_by_key(|s| std::cmp::Reverse((s.max_ns, s.min_ns)));
    segments
}

/// Orders hits newest first: by their latest matching span, then by trace id.
fn rank(a: &TraceHit, b: &TraceHit) -> std::cmp::Ordering {
    b.last_ns
        .cmp(&a.last_ns)
        .then_with(|| a.trace_id.cmp(&b.trace_id))
}

/// The newest traces with a span matching `query`: the `limit` traces whose latest matching
/// span started last (ties by trace id), as Jaeger's stores rank them.
///
/// The snapshot is read newest part first (head batches and files by their latest time), in rounds
/// of growing size, and the search stops as soon as `limit` traces have a matching span later
/// than anything the parts not read yet can hold: a search of the last hour on a busy server
/// reads the newest minutes, not the hour. A trace's rank in one round is its rank over all
/// (its latest span is in some round, and whatever outranks it there outranks it overall),
/// so each round keeps its `limit` best only.
///
/// An attribute is looked up only in the maps (span, resource) that may hold its key in the
/// searched time range: a key that no resource carries costs no read of resource maps.
///
/// Returns the hits and how many parts (head batches, files) it read.
async fn find_traces(
    query: &QueryCtx,
    search: &SearchQuery,
    first_round_rows: u64,
) -> Result<(Vec<TraceHit>, usize)> {
    let table = query.snapshot_table();
    let bounds = search.bounds();
    let maps_of = |key: &str| {
        let maps = [c::ATTRIBUTES, c::RESOURCE_ATTRIBUTES];
        let held: Vec<&'static str> = maps
            .into_iter()
            .filter(|map| table.may_hold_map_key(map, key, &bounds))
            .collect();
        // held nowhere: the span attributes' key index rules out every row group
        if held.is_empty() {
            vec![c::ATTRIBUTES]
        } else {
            held
        }
    };
    let predicate = search.predicate_over(maps_of)?;
    let segments = segments(table, &bounds);
    let mut hits: HashMap<String, TraceHit> = HashMap::new();
    let mut next = 0;
    let mut round_rows = first_round_rows;
    while next < segments.len() {
        // the next parts, newest first, as many as fit the round (at least one): a large
        // merged file waits for a round of its own, which the search may never need
        let mut rows: u64 = 0;
        let (mut head, mut files) = (Vec::new(), Vec::new());
        while let Some(&segment) = segments.get(next) {
            if rows > 0 && rows.saturating_add(segment.rows) > round_rows {
                break;
            }
            match segment.part {
                Part::Head(batch) => head.push(batch),
                Part::File(file) => files.push(file),
            }
            rows += segment.rows;
            next += 1;
        }
        round_rows = round_rows.saturating_mul(2).max(rows.saturating_mul(2));
        let part = Arc::new(table.part(&head, &files));
        for hit in round_hits(query, part, predicate.clone(), search.limit).await? {
            hits.entry(hit.trace_id.clone())
                .and_modify(|known| {
                    known.first_ns = known.first_ns.min(hit.first_ns);
                    known.last_ns = known.last_ns.max(hit.last_ns);
                })
                .or_insert(hit);
        }
        // done when the `limit`-th best is later than any time the unread parts hold
        let unread_max = segments[next..].iter().map(|s| s.max_ns).max();
        if let Some(unread_max) = unread_max
            && hits.len() >= search.limit
        {
            let mut lasts: Vec<i64> = hits.values().map(|h| h.last_ns).collect();
            let (_, threshold, _) = lasts.select_nth_unstable_by(search.limit - 1, |a, b| b.cmp(a));
            if *threshold > unread_max {
                break;
            }
        }
    }
    let mut hits: Vec<TraceHit> = hits.into_values().collect();
    hits.sort_by(rank);
    hits.truncate(search.limit);
    Ok((hits, next))
}

/// The `limit` best hits of one round, over the parts of the snapshot in `part`.
async fn round_hits(
    query: &QueryCtx,
    part: Arc<SnapshotTable>,
    predicate: Option<Expr>,
    limit: usize,
) -> Result<Vec<TraceHit>> {
    let mut frame = query.ctx.read_table(part)?;
    if let Some(predicate) = predicate {
        frame = frame.filter(predicate)?;
    }
    let frame = frame
        .aggregate(
            vec![col(c::TRACE_ID)],
            vec![
                min(col(c::START_TIME)).alias("first"),
                max(col(c::START_TIME)).alias("last"),
            ],
        )?
        .sort(vec![
            col("last").sort(false, false),
            col(c::TRACE_ID).sort(true, false),
        ])?
        .limit(0, Some(limit))?;
    let output = query.collect(frame).await?;
    let mut hits = Vec::new();
    for batch in &output.batches {
        let ids = batch.column(0).as_string::<i32>();
        let first = batch.column(1).as_primitive::<TimestampNanosecondType>();
        let last = batch.column(2).as_primitive::<TimestampNanosecondType>();
        for row in 0..batch.num_rows() {
            hits.push(TraceHit {
                trace_id: ids.value(row).to_owned(),
                first_ns: first.value(row),
                last_ns: last.value(row),
            });
        }
    }
    Ok(hits)
}

fn spread(hits: &[TraceHit]) -> Option<(i64, i64)> {
    let lo = hits.iter().map(|h| h.first_ns).min()?;
    let hi = hits.iter().map(|h| h.last_ns).max()?;
    Some((
        lo.saturating_sub(TRACE_SPREAD_NS),
        hi.saturating_add(TRACE_SPREAD_NS),
    ))
}

/// Groups spans by trace, in the order of `ids`, each trace sorted by start time.
fn group_traces(ids: &[String], spans: Vec<SpanRecord>) -> Vec<Vec<SpanRecord>> {
    let mut by_id: HashMap<String, Vec<SpanRecord>> = HashMap::new();
    for span in spans {
        by_id.entry(span.trace_id.clone()).or_default().push(span);
    }
    ids.iter()
        .filter_map(|id| by_id.remove(id))
        .map(|mut spans| {
            sort_spans(&mut spans);
            spans
        })
        .collect()
}

fn sort_spans(spans: &mut [SpanRecord]) {
    spans.sort_by(|a, b| (a.start_ns, &a.span_id).cmp(&(b.start_ns, &b.span_id)));
}

/// Summaries from the light columns of the hits' spans.
fn summarize(hits: &[TraceHit], batches: &[RecordBatch]) -> Result<Vec<TraceSummary>> {
    #[derive(Default)]
    struct Acc {
        start: i64,
        end: i64,
        spans: u64,
        errors: u64,
        root: Option<(i64, String, String)>,
        earliest: Option<(i64, String, String)>,
        services: BTreeMap<String, (u64, u64)>,
    }
    let wanted: HashSet<&str> = hits.iter().map(|h| h.trace_id.as_str()).collect();
    let mut accs: HashMap<&str, Acc> = HashMap::new();
    for batch in batches {
        let column = |name: &str| {
            batch
                .column_by_name(name)
                .ok_or_else(|| Error::Decode(format!("column {name} is missing")))
        };
        let ids = column(c::TRACE_ID)?.as_string::<i32>();
        let parents = column(c::PARENT_SPAN_ID)?.as_string::<i32>();
        let services = column(c::SERVICE_NAME)?.as_string::<i32>();
        let names = column(c::NAME)?.as_string::<i32>();
        let statuses = column(c::STATUS_CODE)?.as_string::<i32>();
        let starts = column(c::START_TIME)?.as_primitive::<TimestampNanosecondType>();
        let ends = column(c::END_TIME)?.as_primitive::<TimestampNanosecondType>();
        for row in 0..batch.num_rows() {
            let Some(&id) = wanted.get(ids.value(row)) else {
                continue;
            };
            let acc = accs.entry(id).or_insert_with(|| Acc {
                start: i64::MAX,
                end: i64::MIN,
                ..Acc::default()
            });
            let (start, end) = (starts.value(row), ends.value(row));
            let error = statuses.value(row) == StatusCode::Error.as_str();
            acc.start = acc.start.min(start);
            acc.end = acc.end.max(end);
            acc.spans += 1;
            acc.errors += u64::from(error);
            let service = services.value(row);
            let entry = acc.services.entry(service.to_owned()).or_default();
            entry.0 += 1;
            entry.1 += u64::from(error);
            let candidate = || (start, service.to_owned(), names.value(row).to_owned());
            if parents.value(row).is_empty() && acc.root.as_ref().is_none_or(|(s, _, _)| start < *s)
            {
                acc.root = Some(candidate());
            }
            if acc.earliest.as_ref().is_none_or(|(s, _, _)| start < *s) {
                acc.earliest = Some(candidate());
            }
        }
    }
    let mut summaries: Vec<TraceSummary> = hits
        .iter()
        .filter_map(|hit| {
            let acc = accs.remove(hit.trace_id.as_str())?;
            let (_, root_service, root_operation) = acc.root.or(acc.earliest)?;
            Some(TraceSummary {
                trace_id: hit.trace_id.clone(),
                root_service,
                root_operation,
                start_ns: acc.start,
                duration_ns: acc.end.saturating_sub(acc.start),
                span_count: acc.spans,
                error_count: acc.errors,
                services: acc
                    .services
                    .into_iter()
                    .map(|(service, (span_count, error_count))| ServiceSpans {
                        service,
                        span_count,
                        error_count,
                    })
                    .collect(),
            })
        })
        .collect();
    summaries.sort_by(|a, b| {
        b.start_ns
            .cmp(&a.start_ns)
            .then_with(|| a.trace_id.cmp(&b.trace_id))
    });
    Ok(summaries)
}

const SUMMARY_COLUMNS: &[&str] = &[
    c::TRACE_ID,
    c::PARENT_SPAN_ID,
    c::SERVICE_NAME,
    c::NAME,
    c::STATUS_CODE,
    c::START_TIME,
    c::END_TIME,
];

impl QueryEngine {
    /// Every span of one trace, by start time; empty when the trace is not stored. `bounds`
    /// (inclusive span start times) narrows the files read; without it the lookup still reads
    /// only the row groups whose statistics and bloom filters admit the id.
    pub async fn trace(
        &self,
        trace_id: &str,
        bounds: Option<(i64, i64)>,
    ) -> Result<Vec<SpanRecord>> {
        let id = normalize_trace_id(trace_id)?;
        let mut traces = self.traces(vec![id], bounds).await?;
        Ok(traces.pop().unwrap_or_default())
    }

    /// The stored traces among `ids` (in that order, absent ones left out), each by start time.
    pub async fn traces(
        &self,
        ids: Vec<String>,
        bounds: Option<(i64, i64)>,
    ) -> Result<Vec<Vec<SpanRecord>>> {
        let mut normalized = Vec::with_capacity(ids.len());
        for id in &ids {
            let id = normalize_trace_id(id)?;
            if !normalized.contains(&id) {
                normalized.push(id);
            }
        }
        self.run_reads("trace", move |read| async move {
            let batches = read.reads().rows(&normalized, bounds, SPAN_COLUMNS).await?;
            Ok(group_traces(&normalized, decode_spans(&batches)?))
        })
        .await
    }

    /// The newest traces matching `search`, summarised, newest first.
    pub async fn search(&self, search: SearchQuery) -> Result<Vec<TraceSummary>> {
        search.validate()?;
        self.run("search", move |query| async move {
            let (hits, _) = find_traces(&query, &search, FIRST_ROUND_ROWS).await?;
            let ids: Vec<String> = hits.iter().map(|h| h.trace_id.clone()).collect();
            let batches = query
                .reads()
                .rows(&ids, spread(&hits), SUMMARY_COLUMNS)
                .await?;
            summarize(&hits, &batches)
        })
        .await
    }

    /// The trace ids `search` finds, reading rounds of at least `first_round_rows` rows, and
    /// how many parts of the snapshot (head batches, files) it read.
    #[cfg(test)]
    pub(crate) async fn find_trace_ids(
        &self,
        search: SearchQuery,
        first_round_rows: u64,
    ) -> Result<(Vec<String>, usize)> {
        search.validate()?;
        self.run("search", move |query| async move {
            let (hits, parts) = find_traces(&query, &search, first_round_rows).await?;
            Ok((hits.into_iter().map(|h| h.trace_id).collect(), parts))
        })
        .await
    }

    /// The newest traces matching `search`, whole, newest first (what Jaeger's search returns).
    pub async fn search_traces(&self, search: SearchQuery) -> Result<Vec<Vec<SpanRecord>>> {
        search.validate()?;
        self.run("search", move |query| async move {
            let (hits, _) = find_traces(&query, &search, FIRST_ROUND_ROWS).await?;
            let ids: Vec<String> = hits.iter().map(|h| h.trace_id.clone()).collect();
            let batches = query
                .reads()
                .rows(&ids, spread(&hits), SPAN_COLUMNS)
                .await?;
            let mut traces = group_traces(&ids, decode_spans(&batches)?);
            traces.sort_by(|a, b| {
                let start = |t: &Vec<SpanRecord>| t.iter().map(|s| s.start_ns).min().unwrap_or(0);
                start(b).cmp(&start(a))
            });
            Ok(traces)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_filters_parse() {
        let cases = [
            ("http.route=/cart", ("http.route", MatchOp::Eq, "/cart")),
            ("k!=v", ("k", MatchOp::NotEq, "v")),
            ("k=~^GET .*", ("k", MatchOp::Regex, "^GET .*")),
            ("k!~a=b", ("k", MatchOp::NotRegex, "a=b")),
            ("url=http://x/?a=b", ("url", MatchOp::Eq, "http://x/?a=b")),
            ("empty=", ("empty", MatchOp::Eq, "")),
        ];
        for (text, (key, op, value)) in cases {
            let filter: AttributeFilter = text.parse().unwrap();
            assert_eq!(filter, AttributeFilter::new(key, op, value), "{text}");
            assert_eq!(filter.to_string(), text);
        }
        for bad in ["", "novalue", "=v", " =v"] {
            assert!(bad.parse::<AttributeFilter>().is_err(), "{bad}");
        }
    }

    #[test]
    fn trace_ids_normalize() {
        assert_eq!(
            normalize_trace_id("ABC").unwrap(),
            format!("{}abc", "0".repeat(29))
        );
        assert_eq!(normalize_trace_id(&"f".repeat(32)).unwrap(), "f".repeat(32));
        for bad in ["", "xyz", &"a".repeat(33), "12 34"] {
            assert!(normalize_trace_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn predicates_name_the_right_columns() {
        let text = |f: &str| {
            attribute_predicate(&f.parse().unwrap())
                .unwrap()
                .to_string()
        };
        assert_eq!(
            text("http.status_code=500"),
            "http_status_code = Int64(500)"
        );
        assert_eq!(
            text("http.response.status_code=500"),
            "http_status_code = Int64(500)"
        );
        assert!(text("k8s.namespace.name=shop").contains("k8s_namespace = Utf8(\"shop\")"));
        let generic = text("customer.tier=gold");
        assert!(generic.contains("attributes"), "{generic}");
        assert!(generic.contains("resource_attributes"), "{generic}");
        assert!(text("error=true").contains("status_code"));
        assert!(text("a!=b").contains("IS NOT TRUE"));
    }
}
