//! meshscope's service graph and RED aggregates, built as spans arrive.
//!
//! # What it owns
//! The per-minute aggregate tables `span_metrics` (rate, errors, duration per service /
//! operation / span kind) and `service_edges` (calls between services and to virtual nodes:
//! databases, queues, external APIs), their schemas ([`tables`]), the streaming
//! [`Aggregator`] that produces their rows from `spans` batches, the mergeable
//! [`LatencySketch`] (1 % relative error) stored in them, and the query-side merges over them:
//! [`service_graph`], [`red_series`], [`jaeger_dependencies`].
//!
//! # Where it sits
//! ```text
//! ingest ── spans batch ──▶ Storage::append("spans")   (durable)
//!                     └───▶ Aggregator::observe          (this crate)
//! timer  ── Aggregator::drain ──▶ Storage::append("service_edges"), ("span_metrics")
//! api    ── query reads span_metrics / service_edges ──▶ service_graph, red_series, …
//! ```
//! It depends on `meshscope-model` and `arrow` only and does no I/O: no clock (callers pass
//! `now`), no files, no async. Rows go in and out as Arrow record batches.
//!
//! # Key types
//! [`Aggregator`] with [`AggregatorConfig`], [`Watermark`] and [`Stats`]; [`LatencySketch`];
//! [`TableDescriptor`] with [`span_metrics_schema`] / [`service_edges_schema`]; [`NodeType`];
//! query side: [`TimeRange`], [`Red`], [`GraphQuery`] → [`ServiceGraph`], [`RedQuery`] →
//! [`RedSeries`], [`Dependency`]; [`Error`].
//!
//! # How edges are found
//! A call is a client (or producer) span whose child is a server (or consumer) span of
//! another service; the halves may arrive in either order, in different batches, up to
//! [`AggregatorConfig::pairing_window`] apart. The edge runs from the client's service to the
//! server's, counted in the minute of the client span's start, with the client's duration,
//! and is an error when either half is.
//! - **No server half** within the window: the client span becomes an edge to a *virtual
//!   node* named from `peer.service`, else `db.system`(`/db.name`), `messaging.system`
//!   (`/destination`), `server.address` / `net.peer.name`, Envoy's `upstream_cluster`
//!   (`outbound|8080||cart.shop.svc.cluster.local` → `cart.shop`), the host of `url.full`;
//!   typed `database`, `queue` or `external`. A client span naming nothing is counted in
//!   [`Stats::unpaired_callers`]. Database client spans become their edge at once.
//! - **Gateways** (Istio / Envoy ingress emitting only client spans) pair like any client:
//!   gateway → the server's service when its span arrives, else the virtual node.
//! - **Proxy hops**: a client span whose child is a client span (an app's span above its
//!   sidecar's outbound span) yields no edge itself; the innermost client span carries the
//!   call, so a call through a sidecar pair counts once.
//! - **Server halves without a client parent** (none within the window, or the parent is a
//!   server / internal span) count in [`Stats::unpaired_callees`] and make no edge: only
//!   client→server and producer→consumer pairs are calls (as in Tempo's service graphs), so
//!   an inbound sidecar span above an app's server span adds no sidecar→app edge.
//! - Pending spans are bounded by [`AggregatorConfig::max_pending`]; beyond it the oldest
//!   resolves as unpaired, counted in [`Stats::evicted`].
//! - At query time a virtual node whose name is a service's name is that service.
//!
//! # RED
//! Every span counts in `span_metrics` in the minute of its `start_time`: one call; an error
//! when its status is `error`, or for a server span when its HTTP status is ≥ 500 or its gRPC
//! status is not 0; its `duration_ns` in sum / min / max and the sketch.
//!
//! # When minutes are emitted, and restarts
//! A minute is *closed* when `now ≥ minute end + lateness + pairing_window` (defaults: 30 s +
//! 10 s, so 40 s after its end). [`Aggregator::drain`] returns the rows of newly closed
//! minutes and advances the [`Watermark`] past them; from then on spans of those minutes are
//! not counted (they are late, [`Stats::late_spans`] / [`Stats::late_edges`]). So an emitted
//! row is final, and the open state is exactly the contribution of the spans observed
//! since — a pure function of them, except that which calls pair depends on arrival timing
//! (a call never counts twice either way: each client span contributes at most one call).
//!
//! Protocol for the caller (ingest / server), which owns the I/O:
//! 1. **Observe after the durable append**: `storage.append("spans", b)` then
//!    `aggregator.observe(&b, now)`. A crash in between loses nothing: the span is stored and
//!    step 4 replays it.
//! 2. **Drain periodically** (e.g. every 5 s): append the returned batches **in the returned
//!    order** (`service_edges` before `span_metrics`), each after the previous succeeded.
//!    If an append fails, retry the same batch or treat it as fatal and restart — never drop
//!    it while continuing.
//! 3. **Shutdown** needs nothing: open minutes are rebuilt from the spans at the next start.
//! 4. **Start**: read `max(minute)` of both tables (head and files), then
//!    `Aggregator::resume(config, Watermark::from_stored(m_metrics, m_edges))`, then replay
//!    every stored span (files and head) with `start_time >= watermark.replay_from()` —
//!    all of them when `None` — through `observe(batch, now)`, before accepting traffic.
//!    Spans of minutes before the watermark are skipped by `observe`, so replaying a bit
//!    more (e.g. whole hour partitions) is harmless.
//!
//! Why nothing is lost or counted twice: a minute's rows are stored (step 2) only after every
//! span of it that was observed in time is in them; `from_stored` puts the watermark just
//! after the last stored minute of each table (edges first makes a stored `span_metrics`
//! minute prove its edges are stored); replay re-adds exactly the spans of later minutes,
//! which no stored row holds. Minutes that closed without rows may reopen after a restart and
//! take spans that were late before the crash — counted once, never twice. A span stored
//! before a crash but never observed (step 1) is counted by the replay. Replay reads spans
//! from Parquet files too, not just the WAL, since a flush may have moved them there.

// tests may unwrap; the library itself is checked without this in the non-test build
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod aggregator;
mod cells;
mod columns;
mod error;
mod graph;
mod group;
mod node;
mod pending;
mod red;
mod rollup;
mod rows;
mod sketch;
mod tables;

#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;

pub use crate::{
    aggregator::{Aggregator, AggregatorConfig, OVERFLOW_SERIES, SPAN_COLUMNS, Stats, Watermark},
    error::{Error, Result},
    graph::{
        Dependency, GraphEdge, GraphNode, GraphQuery, ServiceGraph, jaeger_dependencies,
        service_graph,
    },
    node::NodeType,
    red::{MAX_CELLS, MAX_POINTS, RedGroupBy, RedPoint, RedQuery, RedSeries, red_series},
    rollup::{hours_to_roll_up, rollup_hour},
    rows::{Aggregates, Red, TimeRange},
    sketch::{LatencySketch, MAX_INDEX, RELATIVE_ACCURACY, SKETCH_VERSION},
    tables::{
        HOUR_NS, MINUTE_NS, SERVICE_EDGES, SERVICE_EDGES_HOURLY, SPAN_METRICS, SPAN_METRICS_HOURLY,
        TableDescriptor, col, hour_of, minute_of, service_edges_hourly_schema,
        service_edges_hourly_table, service_edges_schema, service_edges_table,
        span_metrics_hourly_schema, span_metrics_hourly_table, span_metrics_schema,
        span_metrics_table, tables,
    },
};
