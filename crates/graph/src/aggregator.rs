//! The streaming aggregator: `spans` batches in, closed per-minute `span_metrics` and
//! `service_edges` rows out.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use arrow::array::TimestampNanosecondArray;
use arrow::record_batch::RecordBatch;
use meshscope_model::SpanKind;
use meshscope_model::spans::col as span_col;

use crate::cells::{EdgeCell, Measures, RedCell, edges_batch, red_batch};
use crate::columns::{IntCol, StrCol, StrMap, timestamp_ns};
use crate::error::{Error, Result};
use crate::node::{NodeType, PeerHints, UPSTREAM_CLUSTER_KEYS, virtual_target};
use crate::pending::{Caller, Child, Pending, SpanKey, Unpaired};
use crate::tables::{
    MINUTE_NS, SERVICE_EDGES, SPAN_METRICS, minute_of, service_edges_schema, span_metrics_schema,
};

/// Promoted `spans` columns the aggregator reads (see `meshscope_model::SPAN_PROMOTIONS`).
pub(crate) mod promoted {
    pub const HTTP_STATUS_CODE: &str = "http_status_code";
    pub const RPC_GRPC_STATUS_CODE: &str = "rpc_grpc_status_code";
    pub const PEER_SERVICE: &str = "peer_service";
    pub const DB_SYSTEM: &str = "db_system";
    pub const DB_NAME: &str = "db_name";
    pub const MESSAGING_SYSTEM: &str = "messaging_system";
    pub const MESSAGING_DESTINATION: &str = "messaging_destination";
    pub const SERVER_ADDRESS: &str = "server_address";
    pub const HTTP_URL: &str = "http_url";
    #[cfg(test)]
    pub const ALL: [&str; 9] = [
        HTTP_STATUS_CODE,
        RPC_GRPC_STATUS_CODE,
        PEER_SERVICE,
        DB_SYSTEM,
        DB_NAME,
        MESSAGING_SYSTEM,
        MESSAGING_DESTINATION,
        SERVER_ADDRESS,
        HTTP_URL,
    ];
}

/// Key name that series beyond [`AggregatorConfig::max_series_per_minute`] are folded into
/// (as both service and operation, or parent and child).
pub const OVERFLOW_SERIES: &str = "__overflow__";

/// Tuning of the [`Aggregator`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AggregatorConfig {
    /// How long a client / producer span waits for its server / consumer half (and a child for
    /// its parent), measured on the `now` passed to `observe` / `drain`. Default 10 s.
    pub pairing_window: Duration,
    /// How late (after the end of its minute) a span may arrive and still be counted.
    /// A minute is emitted once `now ≥ minute end + lateness + pairing_window`. Default 30 s.
    pub lateness: Duration,
    /// Most spans waiting for their other half; beyond it the oldest is resolved as unpaired
    /// and counted in [`Stats::evicted`]. Default 500,000 (about 50 MB).
    pub max_pending: usize,
    /// Most rows per minute in each table; further keys are folded into
    /// [`OVERFLOW_SERIES`] and counted in [`Stats::series_overflow`]. Default 100,000.
    pub max_series_per_minute: usize,
    /// Spans starting further than this after `now` are ignored (counted in
    /// [`Stats::future_spans`]) so that a bad clock cannot hold a minute open. Default 10 min.
    pub max_future: Duration,
}

impl Default for AggregatorConfig {
    fn default() -> Self {
        Self {
            pairing_window: Duration::from_secs(10),
            lateness: Duration::from_secs(30),
            max_pending: 500_000,
            max_series_per_minute: 100_000,
            max_future: Duration::from_secs(600),
        }
    }
}

/// The validated configuration in nanoseconds.
#[derive(Debug, Clone, Copy)]
struct Limits {
    window_ns: i64,
    close_delay_ns: i64,
    max_pending: usize,
    max_series: usize,
    max_future_ns: i64,
}

impl AggregatorConfig {
    fn validate(&self) -> Result<Limits> {
        const DAY: Duration = Duration::from_secs(86_400);
        let bad = |m: &str| Err(Error::InvalidConfig(m.to_owned()));
        if self.pairing_window > DAY || self.lateness > DAY || self.max_future > DAY {
            return bad("pairing_window, lateness and max_future must be at most one day");
        }
        if self.max_pending == 0 {
            return bad("max_pending must be at least 1");
        }
        if self.max_series_per_minute == 0 {
            return bad("max_series_per_minute must be at least 1");
        }
        // At most one day each, so these fit in i64 nanoseconds.
        let ns = |d: Duration| d.as_nanos() as i64;
        Ok(Limits {
            window_ns: ns(self.pairing_window),
            close_delay_ns: ns(self.lateness) + ns(self.pairing_window),
            max_pending: self.max_pending,
            max_series: self.max_series_per_minute,
            max_future_ns: ns(self.max_future),
        })
    }
}

/// How far each table has been emitted: every minute starting before the bound is closed, its
/// rows were returned by [`Aggregator::drain`], and spans of it are no longer counted.
/// `None`: nothing emitted yet (every minute is open).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Watermark {
    /// Exclusive bound (start of a minute, Unix ns) for `span_metrics`.
    pub span_metrics: Option<i64>,
    /// Exclusive bound (start of a minute, Unix ns) for `service_edges`.
    pub service_edges: Option<i64>,
}

impl Watermark {
    /// The watermark implied by what is stored, given the largest `minute` of each table
    /// (`SELECT max(minute)`), provided the rows were appended in the order
    /// [`Aggregator::drain`] returns them (`service_edges` before `span_metrics`).
    ///
    /// That order makes a stored `span_metrics` minute prove that the edges of that minute are
    /// stored too (possibly as no rows), so the edge bound is the larger of the two. Minutes
    /// after the last stored row that were closed without rows are reopened, which is safe:
    /// they held nothing, and replay can only add spans that were never counted.
    pub fn from_stored(
        last_span_metrics_minute: Option<i64>,
        last_service_edges_minute: Option<i64>,
    ) -> Self {
        let after = |m: Option<i64>| m.map(|m| minute_of(m).saturating_add(MINUTE_NS));
        let span_metrics = after(last_span_metrics_minute);
        let service_edges = after(last_service_edges_minute).max(span_metrics);
        Self {
            span_metrics,
            service_edges,
        }
    }

    /// Raises both bounds to at least `bound_ns`: pass the end of the last hour rolled up
    /// into the hourly tables, so that its minutes stay closed after a restart.
    pub fn at_least(self, bound_ns: i64) -> Self {
        let raise = |w: Option<i64>| Some(w.map_or(bound_ns, |w| w.max(bound_ns)));
        Self {
            span_metrics: raise(self.span_metrics),
            service_edges: raise(self.service_edges),
        }
    }

    /// Replay stored spans with `start_time` at or after this (Unix ns) into a resumed
    /// aggregator; `None`: replay everything stored.
    pub fn replay_from(&self) -> Option<i64> {
        match (self.span_metrics, self.service_edges) {
            (Some(a), Some(b)) => Some(a.min(b)),
            // A table with nothing stored while the other has rows: only `service_edges` can be
            // ahead (see `from_stored`), so `span_metrics` bounds the replay.
            (Some(a), None) => Some(a),
            (None, _) => None,
        }
    }
}

/// Counters since the aggregator was created (not persisted; for `/metrics` and tests).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Rows of `spans` batches observed.
    pub spans: u64,
    /// Spans whose trace / span / parent id is not hex of the right length: counted in
    /// `span_metrics`, not used for edges.
    pub invalid_ids: u64,
    /// Spans starting more than `max_future` after `now`: ignored.
    pub future_spans: u64,
    /// Spans whose minute was already emitted: not counted in `span_metrics`.
    pub late_spans: u64,
    /// Edge calls whose minute was already emitted: not counted in `service_edges`.
    pub late_edges: u64,
    /// Calls paired from both halves (client→server, producer→consumer).
    pub edges_paired: u64,
    /// Client / producer spans with no answering half that became an edge to a virtual node
    /// (database client spans do so at once).
    pub edges_virtual: u64,
    /// Client spans whose child is a client span (an app span above its proxy): the child
    /// carries the edge.
    pub delegated_callers: u64,
    /// Client / producer spans paired with a server / consumer child of the same service.
    pub same_service_pairs: u64,
    /// Client / producer spans with neither an answering half nor attributes naming a peer.
    pub unpaired_callers: u64,
    /// Server / consumer spans with a parent but no edge: the parent never arrived within
    /// the window, or arrived and is not a client / producer span (e.g. an Istio inbound
    /// sidecar's server span above the app's server span).
    pub unpaired_callees: u64,
    /// Waiting spans resolved early because `max_pending` was reached (also counted in the
    /// `edges_virtual` / `unpaired_*` counter they resolved to).
    pub evicted: u64,
    /// Row contributions folded into [`OVERFLOW_SERIES`].
    pub series_overflow: u64,
}

/// The cells of one open minute.
#[derive(Debug, Default)]
struct MinuteCells {
    red_index: HashMap<Box<[u8]>, usize>,
    red: Vec<RedCell>,
    edge_index: HashMap<Box<[u8]>, usize>,
    edges: Vec<EdgeCell>,
}

/// A client or producer span being observed.
struct CallerSpan {
    key: SpanKey,
    parent: Option<SpanKey>,
    kind: SpanKind,
    minute: i64,
    duration_ns: i64,
    error: bool,
    deadline: i64,
}

/// One call between two nodes, ready to be counted.
struct EdgeCall {
    minute: i64,
    parent: Arc<str>,
    child: Arc<str>,
    child_type: NodeType,
    duration_ns: i64,
    error: bool,
    unpaired: bool,
}

/// Builds per-minute RED and edge aggregates from `spans` batches; see the crate docs for the
/// protocol around it. Not thread-safe by itself: wrap it in a mutex.
#[derive(Debug)]
pub struct Aggregator {
    limits: Limits,
    config: AggregatorConfig,
    watermark: Watermark,
    /// Largest `now` seen: time never goes back inside the aggregator.
    now: i64,
    minutes: BTreeMap<i64, MinuteCells>,
    pending: Pending,
    /// Service and node names shared by cells and waiting spans; unreferenced ones are dropped
    /// at each drain.
    names: HashSet<Arc<str>>,
    /// The last name interned (spans of one service come in runs).
    last_name: Option<Arc<str>>,
    /// The last `span_metrics` cell added to: (minute, index, key).
    last_red: Option<(i64, usize)>,
    last_red_key: Vec<u8>,
    stats: Stats,
    key: Vec<u8>,
    scratch: String,
}

/// The `spans` columns [`Aggregator::observe`] reads; a batch of only these (those present)
/// counts exactly as the whole row does. A caller that reads spans back from files to replay
/// them reads no others.
pub const SPAN_COLUMNS: &[&str] = &[
    span_col::TRACE_ID,
    span_col::SPAN_ID,
    span_col::PARENT_SPAN_ID,
    span_col::SERVICE_NAME,
    span_col::NAME,
    span_col::KIND,
    span_col::START_TIME,
    span_col::END_TIME,
    span_col::DURATION_NS,
    span_col::STATUS_CODE,
    promoted::HTTP_STATUS_CODE,
    promoted::RPC_GRPC_STATUS_CODE,
    promoted::PEER_SERVICE,
    promoted::DB_SYSTEM,
    promoted::DB_NAME,
    promoted::MESSAGING_SYSTEM,
    promoted::MESSAGING_DESTINATION,
    promoted::SERVER_ADDRESS,
    promoted::HTTP_URL,
    span_col::ATTRIBUTES,
];

/// The columns of a `spans` batch the aggregator reads (see [`SPAN_COLUMNS`]).
struct SpanColumns<'a> {
    trace_id: StrCol<'a>,
    span_id: StrCol<'a>,
    parent_span_id: StrCol<'a>,
    service: StrCol<'a>,
    name: StrCol<'a>,
    kind: StrCol<'a>,
    start: &'a TimestampNanosecondArray,
    /// Read only when the duration column is absent or has nulls (Parquet files of `spans`
    /// do not store `end_time`).
    end: Option<&'a TimestampNanosecondArray>,
    duration: Option<IntCol<'a>>,
    status: StrCol<'a>,
    http_status: Option<IntCol<'a>>,
    grpc_status: Option<IntCol<'a>>,
    peer_service: Option<StrCol<'a>>,
    db_system: Option<StrCol<'a>>,
    db_name: Option<StrCol<'a>>,
    messaging_system: Option<StrCol<'a>>,
    messaging_destination: Option<StrCol<'a>>,
    server_address: Option<StrCol<'a>>,
    http_url: Option<StrCol<'a>>,
    attributes: Option<StrMap<'a>>,
}

impl<'a> SpanColumns<'a> {
    fn new(batch: &'a RecordBatch) -> Result<Self> {
        let s = |name| StrCol::get(batch, name);
        let o = |name| StrCol::optional(batch, name);
        let duration = IntCol::optional(batch, span_col::DURATION_NS)?;
        let end = match &duration {
            Some(d) if !d.has_nulls() => None,
            _ => Some(timestamp_ns(batch, span_col::END_TIME)?),
        };
        Ok(Self {
            trace_id: s(span_col::TRACE_ID)?,
            span_id: s(span_col::SPAN_ID)?,
            parent_span_id: s(span_col::PARENT_SPAN_ID)?,
            service: s(span_col::SERVICE_NAME)?,
            name: s(span_col::NAME)?,
            kind: s(span_col::KIND)?,
            start: timestamp_ns(batch, span_col::START_TIME)?,
            end,
            duration,
            status: s(span_col::STATUS_CODE)?,
            http_status: IntCol::optional(batch, promoted::HTTP_STATUS_CODE)?,
            grpc_status: IntCol::optional(batch, promoted::RPC_GRPC_STATUS_CODE)?,
            peer_service: o(promoted::PEER_SERVICE)?,
            db_system: o(promoted::DB_SYSTEM)?,
            db_name: o(promoted::DB_NAME)?,
            messaging_system: o(promoted::MESSAGING_SYSTEM)?,
            messaging_destination: o(promoted::MESSAGING_DESTINATION)?,
            server_address: o(promoted::SERVER_ADDRESS)?,
            http_url: o(promoted::HTTP_URL)?,
            attributes: StrMap::optional(batch, span_col::ATTRIBUTES),
        })
    }

    fn opt(col: &Option<StrCol<'a>>, i: usize) -> Option<&'a str> {
        col.as_ref().and_then(|c| c.non_empty(i))
    }

    fn hints(&self, i: usize) -> PeerHints<'a> {
        let mut hints = PeerHints {
            peer_service: Self::opt(&self.peer_service, i),
            db_system: Self::opt(&self.db_system, i),
            db_name: Self::opt(&self.db_name, i),
            messaging_system: Self::opt(&self.messaging_system, i),
            messaging_destination: Self::opt(&self.messaging_destination, i),
            server_address: Self::opt(&self.server_address, i),
            upstream_cluster: None,
            http_url: Self::opt(&self.http_url, i),
        };
        let named = hints.peer_service.is_some()
            || hints.db_system.is_some()
            || hints.messaging_system.is_some()
            || hints.server_address.is_some();
        if !named && let Some(attributes) = &self.attributes {
            hints.upstream_cluster = UPSTREAM_CLUSTER_KEYS
                .iter()
                .find_map(|k| attributes.lookup(i, k))
                .filter(|v| !v.is_empty());
        }
        hints
    }
}

fn parse_kind(s: &str) -> SpanKind {
    match s {
        "server" => SpanKind::Server,
        "client" => SpanKind::Client,
        "producer" => SpanKind::Producer,
        "consumer" => SpanKind::Consumer,
        "internal" => SpanKind::Internal,
        other => SpanKind::parse(other).unwrap_or(SpanKind::Unspecified),
    }
}

/// Hex digit values; 0xff for bytes that are not hex digits.
static HEX: [u8; 256] = {
    let mut table = [0xffu8; 256];
    let mut i = 0;
    while i < 10 {
        table[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        table[b'a' as usize + i] = 10 + i as u8;
        table[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    table
};

/// 16 hex digits (either case) as a number.
#[inline]
fn hex_u64(s: &[u8]) -> Option<u64> {
    if s.len() != 16 {
        return None;
    }
    let mut value = 0u64;
    let mut bad = 0u8;
    for b in s {
        let digit = HEX[*b as usize];
        bad |= digit;
        value = (value << 4) | u64::from(digit & 0x0f);
    }
    (bad & 0xf0 == 0).then_some(value)
}

/// A trace id of 32 hex digits as two words.
#[inline]
fn trace_words(trace_id: &str) -> Option<[u64; 2]> {
    let t = trace_id.as_bytes();
    if t.len() != 32 {
        return None;
    }
    Some([hex_u64(&t[..16])?, hex_u64(&t[16..])?])
}

/// `[trace high, trace low, span]` from hex ids; `None` unless 32 and 16 hex digits.
#[cfg(test)]
fn span_key(trace_id: &str, span_id: &str) -> Option<SpanKey> {
    let [hi, lo] = trace_words(trace_id)?;
    Some(SpanKey([hi, lo, hex_u64(span_id.as_bytes())?]))
}

/// Appends `s` length-prefixed, so that concatenated keys cannot collide.
fn push_key_part(key: &mut Vec<u8>, s: &str) {
    key.extend_from_slice(&(s.len() as u32).to_le_bytes());
    key.extend_from_slice(s.as_bytes());
}

impl Aggregator {
    /// A fresh aggregator: nothing emitted yet, every minute open.
    pub fn new(config: AggregatorConfig) -> Result<Self> {
        Self::resume(config, Watermark::default())
    }

    /// An aggregator that continues after `watermark` (see [`Watermark::from_stored`]): spans of
    /// minutes before it are not counted again. Replay the stored spans from
    /// [`Watermark::replay_from`] into it before live traffic.
    pub fn resume(config: AggregatorConfig, watermark: Watermark) -> Result<Self> {
        let limits = config.validate()?;
        Ok(Self {
            limits,
            config,
            watermark,
            now: i64::MIN,
            minutes: BTreeMap::new(),
            pending: Pending::default(),
            names: HashSet::new(),
            last_name: None,
            last_red: None,
            last_red_key: Vec::with_capacity(128),
            stats: Stats::default(),
            key: Vec::with_capacity(128),
            scratch: String::with_capacity(64),
        })
    }

    pub fn config(&self) -> &AggregatorConfig {
        &self.config
    }

    /// What has been emitted so far.
    pub fn watermark(&self) -> Watermark {
        self.watermark
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Spans waiting for their other half.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Minutes with open cells.
    pub fn open_minutes(&self) -> usize {
        self.minutes.len()
    }

    /// Counts the spans of a `spans` batch. `now_ns` is the wall clock (Unix ns); it drives
    /// the pairing window and is taken as at least the largest `now` seen before.
    pub fn observe(&mut self, batch: &RecordBatch, now_ns: i64) -> Result<()> {
        let now = self.advance(now_ns);
        self.expire(now);
        let cols = SpanColumns::new(batch)?;
        for i in 0..batch.num_rows() {
            self.observe_row(&cols, i, now);
        }
        Ok(())
    }

    /// Closes every minute that ended at least `lateness + pairing_window` before `now_ns` and
    /// returns its rows: `service_edges` first, then `span_metrics` (each only when it has
    /// rows). Persist them in that order; see the crate docs.
    pub fn drain(&mut self, now_ns: i64) -> Result<Vec<(&'static str, RecordBatch)>> {
        let now = self.advance(now_ns);
        self.expire(now);
        let close = minute_of(now.saturating_sub(self.limits.close_delay_ns));
        let red_bound = self.watermark.span_metrics.map_or(close, |w| w.max(close));
        let edge_bound = self.watermark.service_edges.map_or(close, |w| w.max(close));
        self.watermark = Watermark {
            span_metrics: Some(red_bound),
            service_edges: Some(edge_bound),
        };

        let mut red = Vec::new();
        let mut edges = Vec::new();
        let last = red_bound.max(edge_bound);
        let closing: Vec<i64> = self.minutes.range(..last).map(|(m, _)| *m).collect();
        for minute in closing {
            let Some(cells) = self.minutes.get_mut(&minute) else {
                continue;
            };
            if minute < red_bound {
                cells.red_index.clear();
                red.extend(cells.red.drain(..).map(|c| (minute, c)));
            }
            if minute < edge_bound {
                cells.edge_index.clear();
                edges.extend(cells.edges.drain(..).map(|c| (minute, c)));
            }
            if cells.red.is_empty() && cells.edges.is_empty() {
                self.minutes.remove(&minute);
            }
        }
        let mut out = Vec::with_capacity(2);
        if !edges.is_empty() {
            out.push((
                SERVICE_EDGES,
                edges_batch(service_edges_schema(), edges.iter().map(|(m, c)| (*m, c)))?,
            ));
        }
        if !red.is_empty() {
            out.push((
                SPAN_METRICS,
                red_batch(span_metrics_schema(), red.iter().map(|(m, c)| (*m, c)))?,
            ));
        }
        drop((red, edges));
        self.last_name = None;
        self.last_red = None;
        self.names.retain(|name| Arc::strong_count(name) > 1);
        Ok(out)
    }

    /// The rows of the minutes still open, as they stand: partial counts for live views
    /// (e.g. the last minutes of a graph). Never persist them; the minutes are emitted by
    /// [`drain`](Self::drain) when closed.
    pub fn peek(&self) -> Result<Vec<(&'static str, RecordBatch)>> {
        let mut out = Vec::with_capacity(2);
        let edges = self
            .minutes
            .iter()
            .flat_map(|(m, cells)| cells.edges.iter().map(move |c| (*m, c)));
        let batch = edges_batch(service_edges_schema(), edges)?;
        if batch.num_rows() > 0 {
            out.push((SERVICE_EDGES, batch));
        }
        let red = self
            .minutes
            .iter()
            .flat_map(|(m, cells)| cells.red.iter().map(move |c| (*m, c)));
        let batch = red_batch(span_metrics_schema(), red)?;
        if batch.num_rows() > 0 {
            out.push((SPAN_METRICS, batch));
        }
        Ok(out)
    }

    fn advance(&mut self, now_ns: i64) -> i64 {
        self.now = self.now.max(now_ns);
        self.now
    }

    fn observe_row(&mut self, cols: &SpanColumns<'_>, i: usize, now: i64) {
        self.stats.spans += 1;
        let start = cols.start.value(i);
        if start > now.saturating_add(self.limits.max_future_ns) {
            self.stats.future_spans += 1;
            return;
        }
        let minute = minute_of(start);
        let service = cols.service.value(i);
        let kind = parse_kind(cols.kind.value(i));
        let duration_ns = match cols.duration.as_ref().and_then(|d| d.value(i)) {
            Some(d) => d,
            None => cols.end.map_or(0, |end| end.value(i).saturating_sub(start)),
        };
        let server_error = kind == SpanKind::Server
            && (cols
                .http_status
                .as_ref()
                .and_then(|c| c.value(i))
                .is_some_and(|s| s >= 500)
                || cols
                    .grpc_status
                    .as_ref()
                    .and_then(|c| c.value(i))
                    .is_some_and(|s| s != 0));
        let error = server_error || cols.status.value(i) == "error";

        if self.watermark.span_metrics.is_some_and(|w| minute < w) {
            self.stats.late_spans += 1;
        } else {
            self.add_red(
                minute,
                service,
                cols.name.value(i),
                kind,
                duration_ns,
                error,
            );
        }

        let caller = matches!(kind, SpanKind::Client | SpanKind::Producer);
        let callee = matches!(kind, SpanKind::Server | SpanKind::Consumer);
        if !caller && !callee && !self.pending.has_children() {
            return;
        }
        let ids = trace_words(cols.trace_id.value(i)).and_then(|[hi, lo]| {
            let key = SpanKey([hi, lo, hex_u64(cols.span_id.value(i).as_bytes())?]);
            let parent = match cols.parent_span_id.value(i) {
                "" => None,
                p => Some(SpanKey([hi, lo, hex_u64(p.as_bytes())?])),
            };
            Some((key, parent))
        });
        let Some((key, parent)) = ids else {
            self.stats.invalid_ids += 1;
            return;
        };
        let deadline = now.saturating_add(self.limits.window_ns);
        if caller {
            let call = CallerSpan {
                key,
                parent,
                kind,
                minute,
                duration_ns,
                error,
                deadline,
            };
            self.on_caller(cols, i, call);
        } else {
            // Spans waiting for this one as their parent wait in vain: it is no client.
            if let Some(children) = self.pending.take_children(&key) {
                self.resolve(Unpaired::Children(children));
            }
            if let (true, Some(parent)) = (callee, parent) {
                self.on_callee(parent, service, error, deadline);
            }
        }
        self.enforce_pending_limit();
    }

    fn on_caller(&mut self, cols: &SpanColumns<'_>, i: usize, call: CallerSpan) {
        let CallerSpan {
            key,
            parent,
            kind,
            minute,
            duration_ns,
            error,
            deadline,
        } = call;
        // Is this span the proxy hop below a client span? Then that span yields no edge.
        if let Some(parent) = parent {
            if self.pending.take_caller(&parent).is_some() {
                self.stats.delegated_callers += 1;
            } else {
                self.pending.add_child(parent, Child::Caller, deadline);
            }
        }
        let service = self.intern(cols.service.value(i));
        // Did its other half (or a proxy hop below it) arrive first?
        if let Some(children) = self.pending.take_children(&key) {
            let mut answered = false;
            for child in children.iter() {
                if let Child::Callee {
                    service: callee,
                    error: callee_error,
                } = child
                {
                    answered = true;
                    self.paired(
                        minute,
                        &service,
                        callee,
                        duration_ns,
                        error || *callee_error,
                    );
                }
            }
            if !answered {
                self.stats.delegated_callers += 1;
            }
            return;
        }
        let hints = cols.hints(i);
        let target = match virtual_target(&hints, &mut self.scratch) {
            Some(t) => {
                let name = std::mem::take(&mut self.scratch);
                let interned = self.intern(&name);
                self.scratch = name;
                Some((interned, t))
            }
            None => None,
        };
        let caller = Caller {
            service,
            minute,
            duration_ns,
            error,
            target,
        };
        // Databases are not instrumented: a database client span is its own edge, at once.
        if hints.db_system.is_some() && kind == SpanKind::Client {
            self.unanswered(caller);
        } else {
            self.pending.insert_caller(key, caller, deadline);
        }
    }

    fn on_callee(&mut self, parent: SpanKey, service: &str, error: bool, deadline: i64) {
        let service = self.intern(service);
        match self.pending.take_caller(&parent) {
            Some(caller) => self.paired(
                caller.minute,
                &caller.service,
                &service,
                caller.duration_ns,
                caller.error || error,
            ),
            None => self
                .pending
                .add_child(parent, Child::Callee { service, error }, deadline),
        }
    }

    fn paired(
        &mut self,
        minute: i64,
        parent: &Arc<str>,
        child: &Arc<str>,
        duration_ns: i64,
        error: bool,
    ) {
        if parent == child {
            self.stats.same_service_pairs += 1;
            return;
        }
        self.stats.edges_paired += 1;
        self.add_edge(EdgeCall {
            minute,
            parent: Arc::clone(parent),
            child: Arc::clone(child),
            child_type: NodeType::Service,
            duration_ns,
            error,
            unpaired: false,
        });
    }

    /// A caller no callee answered: an edge to its virtual node, if anything names one.
    fn unanswered(&mut self, caller: Caller) {
        match caller.target {
            Some((child, child_type)) => {
                self.stats.edges_virtual += 1;
                self.add_edge(EdgeCall {
                    minute: caller.minute,
                    parent: caller.service,
                    child,
                    child_type,
                    duration_ns: caller.duration_ns,
                    error: caller.error,
                    unpaired: true,
                });
            }
            None => self.stats.unpaired_callers += 1,
        }
    }

    fn resolve(&mut self, unpaired: Unpaired) {
        match unpaired {
            Unpaired::Caller(caller) => self.unanswered(caller),
            Unpaired::Children(children) => {
                let callees = children
                    .iter()
                    .filter(|c| matches!(c, Child::Callee { .. }))
                    .count();
                self.stats.unpaired_callees += callees as u64;
            }
        }
    }

    fn expire(&mut self, now: i64) {
        while let Some(unpaired) = self.pending.pop_expired(now) {
            self.resolve(unpaired);
        }
    }

    fn enforce_pending_limit(&mut self) {
        while self.pending.len() > self.limits.max_pending {
            let Some(unpaired) = self.pending.pop_oldest() else {
                break;
            };
            self.stats.evicted += 1;
            self.resolve(unpaired);
        }
    }

    fn intern(&mut self, s: &str) -> Arc<str> {
        if let Some(last) = &self.last_name
            && **last == *s
        {
            return Arc::clone(last);
        }
        let name = match self.names.get(s) {
            Some(name) => Arc::clone(name),
            None => {
                let name: Arc<str> = Arc::from(s);
                self.names.insert(Arc::clone(&name));
                name
            }
        };
        self.last_name = Some(Arc::clone(&name));
        name
    }

    fn add_red(
        &mut self,
        minute: i64,
        service: &str,
        name: &str,
        kind: SpanKind,
        duration_ns: i64,
        error: bool,
    ) {
        self.key.clear();
        push_key_part(&mut self.key, service);
        push_key_part(&mut self.key, name);
        self.key.push(kind.to_otlp() as u8);
        // Spans of one key often come in runs: skip the hash lookup.
        if let Some((m, index)) = self.last_red
            && m == minute
            && self.key == self.last_red_key
            && let Some(cell) = self
                .minutes
                .get_mut(&minute)
                .and_then(|cells| cells.red.get_mut(index))
        {
            cell.m.add(duration_ns, error);
            return;
        }
        self.last_red_key.clear();
        self.last_red_key.extend_from_slice(&self.key);
        let max_series = self.limits.max_series;
        let cells = self.minutes.entry(minute).or_default();
        let index = match cells.red_index.get(self.key.as_slice()) {
            Some(i) => *i,
            None => {
                let (service, name) = if cells.red.len() >= max_series {
                    self.stats.series_overflow += 1;
                    self.key.clear();
                    push_key_part(&mut self.key, OVERFLOW_SERIES);
                    push_key_part(&mut self.key, OVERFLOW_SERIES);
                    self.key.push(kind.to_otlp() as u8);
                    (OVERFLOW_SERIES, OVERFLOW_SERIES)
                } else {
                    (service, name)
                };
                match cells.red_index.entry(self.key.as_slice().into()) {
                    Entry::Occupied(e) => *e.get(),
                    Entry::Vacant(e) => {
                        let service = match self.names.get(service) {
                            Some(s) => Arc::clone(s),
                            None => {
                                let s: Arc<str> = Arc::from(service);
                                self.names.insert(Arc::clone(&s));
                                s
                            }
                        };
                        cells.red.push(RedCell {
                            service,
                            name: name.into(),
                            kind,
                            m: Measures::new(),
                        });
                        *e.insert(cells.red.len() - 1)
                    }
                }
            }
        };
        if let Some(cell) = cells.red.get_mut(index) {
            cell.m.add(duration_ns, error);
        }
        self.last_red = Some((minute, index));
    }

    fn add_edge(&mut self, call: EdgeCall) {
        if self
            .watermark
            .service_edges
            .is_some_and(|w| call.minute < w)
        {
            self.stats.late_edges += 1;
            return;
        }
        self.key.clear();
        push_key_part(&mut self.key, &call.parent);
        push_key_part(&mut self.key, &call.child);
        self.key.push(call.child_type as u8);
        let max_series = self.limits.max_series;
        let cells = self.minutes.entry(call.minute).or_default();
        let index = match cells.edge_index.get(self.key.as_slice()) {
            Some(i) => *i,
            None => {
                let (parent, child) = if cells.edges.len() >= max_series {
                    self.stats.series_overflow += 1;
                    self.key.clear();
                    push_key_part(&mut self.key, OVERFLOW_SERIES);
                    push_key_part(&mut self.key, OVERFLOW_SERIES);
                    self.key.push(call.child_type as u8);
                    let overflow: Arc<str> = Arc::from(OVERFLOW_SERIES);
                    (Arc::clone(&overflow), overflow)
                } else {
                    (call.parent, call.child)
                };
                match cells.edge_index.entry(self.key.as_slice().into()) {
                    Entry::Occupied(e) => *e.get(),
                    Entry::Vacant(e) => {
                        cells.edges.push(EdgeCell {
                            parent,
                            child,
                            child_type: call.child_type,
                            unpaired: 0,
                            m: Measures::new(),
                        });
                        *e.insert(cells.edges.len() - 1)
                    }
                }
            }
        };
        if let Some(cell) = cells.edges.get_mut(index) {
            cell.unpaired += u64::from(call.unpaired);
            cell.m.add(call.duration_ns, call.error);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn promoted_columns_exist_in_the_spans_schema() {
        let schema = meshscope_model::spans::schema();
        for name in promoted::ALL {
            assert!(schema.field_with_name(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn parses_ids() {
        let t = "0123456789abcdefFEDCBA9876543210";
        assert_eq!(
            span_key(t, "00000000000000ff"),
            Some(SpanKey([0x0123456789abcdef, 0xfedcba9876543210, 0xff]))
        );
        assert_eq!(span_key(t, "ff"), None);
        assert_eq!(span_key("xyz", "00000000000000ff"), None);
        assert_eq!(span_key(&t.replace('0', "g"), "00000000000000ff"), None);
    }

    #[test]
    fn config_is_validated() {
        assert!(Aggregator::new(AggregatorConfig::default()).is_ok());
        for bad in [
            AggregatorConfig {
                max_pending: 0,
                ..Default::default()
            },
            AggregatorConfig {
                lateness: Duration::from_secs(2 * 86_400),
                ..Default::default()
            },
            AggregatorConfig {
                max_series_per_minute: 0,
                ..Default::default()
            },
        ] {
            assert!(matches!(Aggregator::new(bad), Err(Error::InvalidConfig(_))));
        }
    }

    #[test]
    fn watermark_from_stored_rows() {
        let m = |k: i64| k * MINUTE_NS;
        assert_eq!(Watermark::from_stored(None, None), Watermark::default());
        assert_eq!(Watermark::from_stored(None, None).replay_from(), None);
        let w = Watermark::from_stored(Some(m(10)), Some(m(7)));
        assert_eq!(w.span_metrics, Some(m(11)));
        assert_eq!(w.service_edges, Some(m(11)));
        assert_eq!(w.replay_from(), Some(m(11)));
        // a crash between the edge and the span_metrics append of one drain
        let w = Watermark::from_stored(Some(m(10)), Some(m(12)));
        assert_eq!(w.service_edges, Some(m(13)));
        assert_eq!(w.replay_from(), Some(m(11)));
        let w = Watermark::from_stored(None, Some(m(3)));
        assert_eq!(w.replay_from(), None);
        assert_eq!(w.span_metrics, None);
    }

    #[test]
    fn drain_of_nothing_is_empty() {
        let mut a = Aggregator::new(AggregatorConfig::default()).unwrap();
        assert!(a.drain(10 * MINUTE_NS).unwrap().is_empty());
        assert!(a.peek().unwrap().is_empty());
        assert_eq!(a.watermark().span_metrics, Some(9 * MINUTE_NS));
    }
}
